//! Tables for people (borders, wrapped to the terminal) and for pipes
//! (plain aligned columns a script can split on whitespace).

use comfy_table::{presets, ContentArrangement, Table};

pub fn print(headers: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let mut table = Table::new();
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        table.load_style(presets::UTF8_HORIZONTAL_ONLY).set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        table.load_style(presets::NOTHING);
    }
    table.set_header(headers.iter().copied());
    for row in rows {
        table.add_row(row);
    }
    // Column padding and the empty border leave trailing spaces.
    for line in table.lines() {
        println!("{}", line.trim());
    }
}
