//! Rules for free text that people read later (emails, pages, logs).

/// Characters that have no place in free text a person reads later: control
/// characters (tab and line breaks excepted) and the bidirectional controls
/// that make text display differently from what it is.
pub fn is_forbidden_char(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}
