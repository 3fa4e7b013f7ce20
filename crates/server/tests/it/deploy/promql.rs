//! The metric families a service exports (from Prometheus' text format,
//! which is line-based and needs no parser) and the metrics, with their
//! label matchers, that a PromQL query reads (from promql-parser's tree).

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
/// selector matches on, read from the expression's syntax tree
/// (promql-parser). Grafana's `$__…` interval variables become a fixed range
/// first; anything else that does not parse fails the test.
pub fn selectors(expr: &str) -> Vec<(String, Vec<String>)> {
    use promql_parser::parser::{parse, Expr, VectorSelector};
    fn selector(vs: &VectorSelector, out: &mut Vec<(String, Vec<String>)>) {
        let name = vs.name.clone().unwrap_or_else(|| panic!("a selector without a metric name: {vs}"));
        let all = vs.matchers.matchers.iter().chain(vs.matchers.or_matchers.iter().flatten());
        let labels = all.map(|m| m.name.clone()).filter(|n| n != "__name__").collect();
        out.push((name, labels));
    }
    fn walk(e: &Expr, out: &mut Vec<(String, Vec<String>)>) {
        match e {
            Expr::VectorSelector(vs) => selector(vs, out),
            Expr::MatrixSelector(ms) => selector(&ms.vs, out),
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    walk(p, out);
                }
                walk(&a.expr, out);
            }
            Expr::Binary(b) => {
                walk(&b.lhs, out);
                walk(&b.rhs, out);
            }
            Expr::Unary(u) => walk(&u.expr, out),
            Expr::Paren(p) => walk(&p.expr, out),
            Expr::Subquery(s) => walk(&s.expr, out),
            Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, out)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
    let promql = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$__range", "1h");
    let tree = parse(&promql).unwrap_or_else(|e| panic!("not PromQL: {e}\n{expr}"));
    let mut found = Vec::new();
    walk(&tree, &mut found);
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
