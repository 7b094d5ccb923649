//! A message popup: an error, a refusal with the first grant's details, or a confirmation.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use crate::popups::form::draw_box;
use crate::view::ViewCtx;

/// How the message is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Refused or failed.
    Error,
}

/// A titled message that any key closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The title.
    pub title: String,
    /// The lines (already sanitised).
    pub lines: Vec<String>,
    /// Good or bad news.
    pub tone: Tone,
}

impl Message {
    /// Draws the message centred.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let style = match self.tone {
            Tone::Error => cx.theme.error(),
        };
        let mut lines: Vec<Line<'static>> =
            self.lines.iter().map(|l| Line::from(l.clone())).collect();
        lines.push(Line::from(""));
        lines.push(Line::styled("Press Esc or Enter to close.", cx.theme.dim()));
        draw_box(f, area, cx.theme, &self.title, lines, style);
    }
}
