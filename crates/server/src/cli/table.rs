//! Tables for people (borders, wrapped to the terminal) and for pipes
//! (plain aligned columns a script can split on whitespace).

use comfy_table::{presets, ContentArrangement, Table};

/// Control and bidirectional-override characters shown escaped (`\u{1b}`),
/// so a stored name cannot move the cursor, retitle the terminal or split a
/// row; very long cells are cut.
fn printable(cell: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = cell
        .chars()
        .take(MAX)
        .map(|c| {
            if crate::input::is_forbidden_char(c) || c == '\n' || c == '\r' || c == '\t' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    if cell.chars().count() > MAX {
        out.push('…');
    }
    out
}

pub(crate) fn print(headers: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let mut table = Table::new();
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        table.load_style(presets::UTF8_HORIZONTAL_ONLY).set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        table.load_style(presets::NOTHING);
    }
    table.set_header(headers.iter().copied());
    for row in rows {
        table.add_row(row.iter().map(|c| printable(c)).collect::<Vec<_>>());
    }
    // Column padding and the empty border leave trailing spaces. A reader
    // that went away (`| head`) ends the listing, without a panic.
    let mut out = std::io::stdout().lock();
    for line in table.lines() {
        if std::io::Write::write_all(&mut out, format!("{}\n", line.trim()).as_bytes()).is_err() {
            return;
        }
    }
}
