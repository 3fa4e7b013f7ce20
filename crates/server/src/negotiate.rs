//! Choosing between JSON and one other representation by `Accept`.

/// True when `Accept` names `media` (`text/csv`, `text/html`) or its
/// `text/*`, and ranks it no lower than JSON. Each type takes the `q` of the
/// most specific range that matches it (RFC 9110, 12.5.1), so
/// `text/csv;q=0` refuses CSV and `*/*` alone stays JSON; a range whose `q`
/// is not a number from 0 to 1 is ignored. Written here because two
/// candidates with three ranges each are all this needs; a negotiation crate
/// would bring a general media-type model for that.
pub(crate) fn prefers(accept: &str, media: &str) -> bool {
    let family = media.split('/').next().unwrap_or(media);
    // The q of the exact type, of its `family/*`, and of `*/*`.
    let mut other = [None::<f32>; 3];
    let mut json = [None::<f32>; 3];
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = match parts.find_map(|p| {
            let p = p.trim();
            p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="))
        }) {
            None => 1.0,
            Some(v) => match v.trim().parse::<f32>() {
                Ok(q) if (0.0..=1.0).contains(&q) => q,
                _ => continue,
            },
        };
        let raise = |best: &mut Option<f32>| *best = Some(best.map_or(q, |b| b.max(q)));
        match name.as_str() {
            n if n == media => raise(&mut other[0]),
            n if n.strip_suffix("/*") == Some(family) => raise(&mut other[1]),
            "application/json" => raise(&mut json[0]),
            "application/*" => raise(&mut json[1]),
            "*/*" => {
                raise(&mut other[2]);
                raise(&mut json[2]);
            }
            _ => {}
        }
    }
    let named = other[0].is_some() || other[1].is_some();
    let most_specific = |t: [Option<f32>; 3]| t.into_iter().flatten().next();
    let other_q = most_specific(other).unwrap_or(0.0);
    let json_q = most_specific(json).unwrap_or(0.0);
    named && other_q > 0.0 && other_q >= json_q
}

#[cfg(test)]
mod tests {
    use super::prefers;

    #[test]
    fn accept_chooses_csv_only_when_it_names_csv_and_ranks_it_no_lower_than_json() {
        let csv = [
            "text/csv",
            "text/csv; charset=utf-8",
            "TEXT/CSV",
            "text/*",
            "application/json;q=0.5, text/csv",
            "text/csv, */*",
        ];
        for a in csv {
            assert!(prefers(a, "text/csv"), "{a}");
        }
        let json = [
            "",
            "*/*",
            "application/json",
            "text/csv;q=0",
            "text/csv; q=0.0",
            "text/csv;q=0.4, application/json",
            "text/csv;q=0.2, */*;q=0.9",
            "text/*;q=0.5, text/csv;q=0",
            "image/png",
            "text/html",
            "text/csv;q=abc, application/json;q=1",
            "text/csv;q=2",
            "text/csv;q=NaN",
            ",,;;,",
        ];
        for a in json {
            assert!(!prefers(a, "text/csv"), "{a}");
        }
    }

    #[test]
    fn a_browser_accept_line_gets_html_and_an_api_client_gets_json() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
        assert!(prefers(browser, "text/html"));
        assert!(!prefers("application/json, text/html;q=0.1", "text/html"));
        assert!(!prefers("text/html;q=0", "text/html"));
        assert!(!prefers("text/csv", "text/html"));
    }
}
