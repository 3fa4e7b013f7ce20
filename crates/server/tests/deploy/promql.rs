//! Just enough of Prometheus's text format and of PromQL to list the metric
//! families a service exports and the metrics (with label matchers) a query
//! reads.

use std::collections::{BTreeMap, BTreeSet};

/// Families in Prometheus text: name → (type, label names seen).
pub type Families = BTreeMap<String, (String, BTreeSet<String>)>;

/// Label names of a `{…}` block (the text after `{`), and where it ends.
/// Values are quoted strings with backslash escapes.
fn label_block(s: &str) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] == b',' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        if i >= b.len() || b[i] == b'}' {
            return (names, i + 1);
        }
        let start = i;
        while i < b.len() && !matches!(b[i], b'=' | b'!' | b'~') {
            i += 1;
        }
        names.push(s[start..i].trim().to_string());
        while i < b.len() && !matches!(b[i], b'"' | b'\'' | b'`') {
            i += 1;
        }
        i = skip_string(b, i);
    }
}

/// The index after the quoted string starting at `i`.
fn skip_string(b: &[u8], i: usize) -> usize {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() && b[j] != quote {
        j += if b[j] == b'\\' { 2 } else { 1 };
    }
    j + 1
}

pub fn parse_exposition(text: &str) -> Families {
    let mut families = Families::new();
    for line in text.lines() {
        if let Some((name, kind)) = line.strip_prefix("# TYPE ").and_then(|r| r.split_once(' ')) {
            families.insert(name.to_string(), (kind.to_string(), BTreeSet::new()));
        }
    }
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let Some(family) = family_of(&line[..end], &families) else { continue };
        let labels = if line[end..].starts_with('{') { label_block(&line[end + 1..]).0 } else { Vec::new() };
        if let Some((_, seen)) = families.get_mut(&family) {
            seen.extend(labels);
        }
    }
    families
}

/// The family a series name belongs to (histograms add three suffixes).
pub fn family_of(name: &str, families: &Families) -> Option<String> {
    if families.contains_key(name) {
        return Some(name.to_string());
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .filter(|base| families.get(*base).is_some_and(|(kind, _)| kind == "histogram"))
        .map(str::to_string)
}

/// Metric names in a PromQL expression, each with the label names its
/// selector matches on. Functions, aggregations, keywords, label lists
/// (`by (…)`), numbers, strings and ranges are skipped.
pub fn selectors(expr: &str) -> Vec<(String, Vec<String>)> {
    const KEYWORDS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "atan2",
    ];
    const LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];
    let b = expr.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let next_non_space = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        j
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if matches!(c, b'"' | b'\'' | b'`') {
            i = skip_string(b, i);
        } else if c == b'[' {
            i += expr[i..].find(']').map_or(b.len(), |j| j + 1);
        } else if c == b'{' {
            panic!("a selector without a metric name in {expr}");
        } else if c.is_ascii_digit() || c == b'.' || c == b'$' {
            i += 1;
            while i < b.len() && (ident(b[i]) || b[i] == b'.') {
                i += 1;
            }
        } else if ident(c) {
            let start = i;
            while i < b.len() && ident(b[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            let after = next_non_space(i);
            let called = b.get(after) == Some(&b'(');
            if LABEL_LISTS.contains(&word) {
                if called {
                    i = after + expr[after..].find(')').map_or(b.len() - after, |j| j + 1);
                }
            } else if !called && !KEYWORDS.contains(&word) {
                let mut labels = Vec::new();
                if b.get(after) == Some(&b'{') {
                    let (names, len) = label_block(&expr[after + 1..]);
                    labels = names;
                    i = after + 1 + len;
                }
                found.push((word.to_string(), labels));
            }
        } else {
            i += 1;
        }
    }
    found
}

#[test]
fn the_query_reader_finds_metric_names_and_their_label_matchers() {
    let expr = r#"histogram_quantile(0.99, sum by (le, route) (rate(a_seconds_bucket{route=~"/api/{id}", method!="GET"}[$__rate_interval])))
        / on (route) group_left max(b_total offset 5m) > bool 0.5 and up{job="x"}"#;
    assert_eq!(
        selectors(expr),
        vec![
            ("a_seconds_bucket".to_string(), vec!["route".to_string(), "method".to_string()]),
            ("b_total".to_string(), vec![]),
            ("up".to_string(), vec!["job".to_string()]),
        ]
    );
}
