//! A small form in a popup: text fields and choice fields, one focused at a time.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::action::Action;
use crate::theme::Theme;

/// A field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Free text typed by the operator.
    Text(String),
    /// One of a fixed list.
    Choice {
        /// The options.
        options: Vec<String>,
        /// The chosen one.
        index: usize,
    },
}

/// One labelled field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Shown before the value.
    pub label: &'static str,
    /// The value.
    pub value: Value,
    /// Shown as `*` (passwords).
    pub secret: bool,
}

impl Field {
    /// A text field.
    pub fn text(label: &'static str, initial: impl Into<String>) -> Field {
        Field {
            label,
            value: Value::Text(initial.into()),
            secret: false,
        }
    }

    /// A choice field starting at `index`.
    pub fn choice(label: &'static str, options: Vec<String>, index: usize) -> Field {
        let index = index.min(options.len().saturating_sub(1));
        Field {
            label,
            value: Value::Choice { options, index },
            secret: false,
        }
    }

    /// The text or the chosen option.
    pub fn get(&self) -> &str {
        match &self.value {
            Value::Text(s) => s,
            Value::Choice { options, index } => options.get(*index).map_or("", |s| s.as_str()),
        }
    }
}

/// Fields and focus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// The fields, top to bottom.
    pub fields: Vec<Field>,
    /// The focused field.
    pub focus: usize,
}

impl Form {
    /// A form with these fields, the first focused.
    pub fn new(fields: Vec<Field>) -> Form {
        Form { fields, focus: 0 }
    }

    /// The value of the field with this label.
    pub fn get(&self, label: &str) -> &str {
        self.fields
            .iter()
            .find(|f| f.label == label)
            .map_or("", |f| f.get())
    }

    /// Applies a navigation action; true when something changed.
    pub fn apply(&mut self, action: Action) -> bool {
        let n = self.fields.len().max(1);
        match action {
            Action::NextField => self.focus = (self.focus + 1) % n,
            Action::PrevField => self.focus = (self.focus + n - 1) % n,
            Action::ChoiceNext | Action::ChoicePrev => {
                let forward = action == Action::ChoiceNext;
                match self.fields.get_mut(self.focus).map(|f| &mut f.value) {
                    Some(Value::Choice { options, index }) if !options.is_empty() => {
                        let len = options.len();
                        *index = if forward {
                            (*index + 1) % len
                        } else {
                            (*index + len - 1) % len
                        };
                    }
                    _ => return false,
                }
            }
            _ => return false,
        }
        true
    }

    /// Types a key into the focused field; true when the key was text input. A space on a
    /// choice field moves to the next choice.
    pub fn type_key(&mut self, key: &KeyEvent) -> bool {
        if key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return false;
        }
        let Some(field) = self.fields.get_mut(self.focus) else {
            return false;
        };
        match (&mut field.value, key.code) {
            (Value::Text(s), KeyCode::Char(c)) if !c.is_control() => {
                if s.chars().count() < 200 {
                    s.push(c);
                }
                true
            }
            (Value::Text(s), KeyCode::Backspace) => {
                s.pop();
                true
            }
            (Value::Choice { options, index }, KeyCode::Char(' ')) if !options.is_empty() => {
                *index = (*index + 1) % options.len();
                true
            }
            _ => false,
        }
    }

    /// Renders the fields as lines, the focused one marked.
    pub fn lines(&self, theme: &Theme, ascii: bool) -> Vec<Line<'static>> {
        let width = self
            .fields
            .iter()
            .map(|f| f.label.chars().count())
            .max()
            .unwrap_or(0);
        self.fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let focused = i == self.focus;
                let marker = if focused { "> " } else { "  " };
                let value = match &f.value {
                    Value::Text(s) if f.secret => "*".repeat(s.chars().count()),
                    // Typed by the operator, but sanitised like any text that reaches the screen.
                    Value::Text(s) => crate::fmt::clean(s),
                    Value::Choice { options, index } => {
                        let (l, r) = if ascii { ("<", ">") } else { ("◀", "▶") };
                        format!("{l} {} {r}", options.get(*index).map_or("", |s| s.as_str()))
                    }
                };
                let cursor = if focused && matches!(f.value, Value::Text(_)) {
                    "_"
                } else {
                    ""
                };
                let style = if focused {
                    theme.selected()
                } else {
                    Style::new()
                };
                Line::from(vec![
                    Span::raw(marker),
                    Span::styled(format!("{:<width$} ", f.label), theme.label()),
                    Span::styled(format!("{value}{cursor}"), style),
                ])
            })
            .collect()
    }
}

/// A centred rectangle of at most `w` x `h` inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Draws a popup box with a title and lines over whatever is below.
pub fn draw_box(
    f: &mut Frame<'_>,
    area: Rect,
    theme: &Theme,
    title: &str,
    lines: Vec<Line<'static>>,
    style: Style,
) {
    let longest = lines.iter().map(|l| l.width()).max().unwrap_or(0) as u16;
    let w = (longest + 4)
        .max(title.chars().count() as u16 + 6)
        .clamp(30, 100)
        .min(area.width);
    // Long lines wrap: count the rows they take inside the borders.
    let inner = usize::from(w.saturating_sub(2)).max(1);
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let h = (rows as u16).saturating_add(2).min(area.height);
    let rect = centered(area, w, h);
    f.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_set(theme.border())
        .border_style(style)
        .title(Span::styled(format!(" {title} "), theme.title()));
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        rect,
    );
}
