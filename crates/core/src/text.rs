//! Making text from the data safe to show an operator.
//!
//! Names, notes and free text come from outside. Before any of it reaches a terminal
//! (the console, a human-readable CLI report, a log line) it goes through [`sanitize`], which
//! removes what could move the cursor, change colours, set the window title, or reorder or hide
//! characters: C0 and C1 controls (so ESC-based ANSI/OSC sequences lose their ESC and become
//! inert text), DEL, bidirectional overrides and isolates, and zero-width characters.

use std::borrow::Cow;

/// Whether a character must never reach an operator's terminal.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}' // zero-width no-break space / BOM
            | '\u{061C}' // Arabic letter mark
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotations
        )
}

/// Text safe to show in a terminal: unsafe characters are replaced by `U+FFFD`-free visible
/// stand-ins (`\t`, `\n` become a space; other controls become `?`), so the operator sees that
/// something was there without the terminal acting on it. Borrows when nothing changes.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_char) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .filter_map(|c| match c {
                '\t' | '\n' | '\r' => Some(' '),
                c if c.is_control() => Some('?'),
                c if is_unsafe_char(c) => None,
                c => Some(c),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_become_inert() {
        let hostile = "Eve\u{1b}[2J\u{1b}]0;pwned\u{7}\u{202E}gnp.exe\u{200B}";
        let safe = sanitize(hostile);
        assert!(!safe.chars().any(is_unsafe_char));
        assert_eq!(safe, "Eve?[2J?]0;pwned?gnp.exe");
        assert!(matches!(sanitize("Zoë Ørsted"), Cow::Borrowed(_)));
        assert_eq!(sanitize("a\u{9b}31m"), "a?31m");
    }
}
