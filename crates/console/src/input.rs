//! A one-line text input with a cursor, the editing keys people expect from a shell (Ctrl-U,
//! Ctrl-W, Left/Right, Home/End, Delete) and a "selected" state: text left from the previous
//! caller is shown selected and the first letter typed replaces it.

use ratatui::text::Span;

use crate::action::Action;
use crate::fmt::clean;
use crate::theme::Theme;

/// Longest input kept, in characters (a name, a phone, a booking reference).
pub const MAX_CHARS: usize = 100;

/// The text, the cursor (in characters) and whether the whole text is selected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextInput {
    text: String,
    cursor: usize,
    selected: bool,
}

impl TextInput {
    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The cursor, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Whether the whole text is selected (the next letter replaces it).
    pub fn is_selected(&self) -> bool {
        self.selected
    }

    /// Selects the whole text, so a new caller's name replaces the previous one.
    pub fn select_all(&mut self) {
        self.selected = !self.text.is_empty();
        self.cursor = self.len();
    }

    /// Replaces the text, cursor at the end.
    pub fn set(&mut self, text: &str) {
        self.text = text.chars().take(MAX_CHARS).collect();
        self.cursor = self.len();
        self.selected = false;
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    fn byte(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map_or(self.text.len(), |(b, _)| b)
    }

    /// Types one character at the cursor (replacing a selection).
    pub fn insert(&mut self, c: char) -> bool {
        if c.is_control() {
            return false;
        }
        if self.selected {
            self.text.clear();
            self.cursor = 0;
            self.selected = false;
        }
        if self.len() >= MAX_CHARS {
            return false;
        }
        let at = self.byte(self.cursor);
        self.text.insert(at, c);
        self.cursor += 1;
        true
    }

    /// Deletes the character before the cursor (or the selection).
    pub fn backspace(&mut self) -> bool {
        if self.selected {
            return self.clear();
        }
        if self.cursor == 0 {
            return false;
        }
        let (a, b) = (self.byte(self.cursor - 1), self.byte(self.cursor));
        self.text.replace_range(a..b, "");
        self.cursor -= 1;
        true
    }

    /// Applies an editing action; true when the text changed (the cursor moving is no change).
    pub fn apply(&mut self, action: Action) -> bool {
        let len = self.len();
        match action {
            Action::CursorLeft => {
                self.selected = false;
                self.cursor = self.cursor.saturating_sub(1);
                false
            }
            Action::CursorRight => {
                self.selected = false;
                self.cursor = (self.cursor + 1).min(len);
                false
            }
            Action::LineStart => {
                self.selected = false;
                self.cursor = 0;
                false
            }
            Action::LineEnd => {
                self.selected = false;
                self.cursor = len;
                false
            }
            Action::DeleteChar => {
                if self.selected {
                    return self.clear();
                }
                if self.cursor >= len {
                    return false;
                }
                let (a, b) = (self.byte(self.cursor), self.byte(self.cursor + 1));
                self.text.replace_range(a..b, "");
                true
            }
            Action::DeleteToStart => {
                if self.selected {
                    return self.clear();
                }
                let at = self.byte(self.cursor);
                let changed = at > 0;
                self.text.replace_range(..at, "");
                self.cursor = 0;
                changed
            }
            Action::DeleteWord => {
                if self.selected {
                    return self.clear();
                }
                // Like a shell: spaces before the cursor, then the word before them.
                let chars: Vec<char> = self.text.chars().collect();
                let mut start = self.cursor;
                while start > 0 && chars[start - 1].is_whitespace() {
                    start -= 1;
                }
                while start > 0 && !chars[start - 1].is_whitespace() {
                    start -= 1;
                }
                if start == self.cursor {
                    return false;
                }
                let (a, b) = (self.byte(start), self.byte(self.cursor));
                self.text.replace_range(a..b, "");
                self.cursor = start;
                true
            }
            _ => false,
        }
    }

    fn clear(&mut self) -> bool {
        let changed = !self.text.is_empty();
        self.text.clear();
        self.cursor = 0;
        self.selected = false;
        changed
    }

    /// The input as spans: the text (sanitised), the cursor as a highlighted cell, a
    /// selection in reverse video.
    pub fn spans(&self, theme: &Theme) -> Vec<Span<'static>> {
        if self.selected {
            return vec![
                Span::styled(clean(&self.text), theme.selected()),
                Span::styled(" ", theme.dim()),
            ];
        }
        let before: String = self.text.chars().take(self.cursor).collect();
        let at: String = self.text.chars().skip(self.cursor).take(1).collect();
        let after: String = self.text.chars().skip(self.cursor + 1).collect();
        let cursor = if at.is_empty() { "_".to_string() } else { at };
        vec![
            Span::raw(clean(&before)),
            Span::styled(clean(&cursor), theme.selected()),
            Span::raw(clean(&after)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> TextInput {
        let mut t = TextInput::default();
        for c in s.chars() {
            t.insert(c);
        }
        t
    }

    #[test]
    fn editing_keys_work_like_a_shell() {
        let mut t = typed("anna berg");
        assert!(t.apply(Action::DeleteWord));
        assert_eq!((t.text(), t.cursor()), ("anna ", 5));
        assert!(t.apply(Action::DeleteWord));
        assert_eq!(t.text(), "");
        let mut t = typed("okafor");
        t.apply(Action::LineStart);
        t.insert('m');
        t.insert(' ');
        assert_eq!(t.text(), "m okafor");
        t.apply(Action::LineEnd);
        t.apply(Action::CursorLeft);
        t.apply(Action::CursorLeft);
        assert!(t.apply(Action::DeleteToStart));
        assert_eq!((t.text(), t.cursor()), ("or", 0));
        assert!(t.apply(Action::DeleteChar));
        assert_eq!(t.text(), "r");
        t.apply(Action::CursorRight);
        assert!(t.backspace());
        assert_eq!(t.text(), "");
        assert!(!t.backspace());
    }

    #[test]
    fn multibyte_letters_edit_as_one() {
        let mut t = typed("bergström");
        t.apply(Action::CursorLeft);
        assert!(t.backspace());
        assert_eq!(t.text(), "bergstrm");
    }

    #[test]
    fn a_selection_is_replaced_by_the_first_letter() {
        let mut t = typed("margaret okafor");
        t.select_all();
        assert!(t.is_selected());
        t.insert('l');
        assert_eq!(t.text(), "l");
        let mut t = typed("lucia");
        t.select_all();
        t.apply(Action::CursorLeft);
        assert!(
            !t.is_selected(),
            "moving the cursor keeps the text to edit it"
        );
        assert_eq!(t.text(), "lucia");
    }
}
