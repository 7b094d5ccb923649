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

/// JSON text with every character [`sanitize`] removes written as a `\uXXXX` escape, so JSON
/// output cannot reorder or hide what a terminal shows either (serde_json escapes only C0
/// controls). Valid on any JSON text: outside strings JSON holds only ASCII structure.
/// Borrows when nothing changes.
pub fn escape_json_invisible(json: &str) -> Cow<'_, str> {
    // Line ends and tabs outside strings are JSON's own white space (inside strings serde_json
    // has escaped them already).
    let unsafe_here = |c: char| is_unsafe_char(c) && !matches!(c, '\n' | '\r' | '\t');
    if !json.chars().any(unsafe_here) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_here(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A whole number with thousands separators, `12,340` (`-` for a value that is not finite).
pub fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "-".to_string();
    }
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_output_escapes_bidi_and_invisible_characters() {
        let v = serde_json::json!({ "name": "Eve\u{202E}gnp.exe\u{200B}\u{85}" });
        let text = serde_json::to_string(&v).unwrap();
        let safe = escape_json_invisible(&text);
        assert_eq!(safe, r#"{"name":"Eve\u202egnp.exe\u200b\u0085"}"#);
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
        assert!(matches!(
            escape_json_invisible("{\"a\":\"Zoë\"}"),
            Cow::Borrowed(_)
        ));
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        let safe = escape_json_invisible(&pretty);
        assert!(safe.contains("\n  \"name\""), "{safe}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), v);
    }

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
