//! Add a note to the record, or pass an idea or observation on to the analysts.

use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use rapport_core::{CustomerId, InteractionKind};
use rapport_service::NewInteraction;

use crate::popups::form::{Field, Form, draw_box};
use crate::popups::log::{channel_field, chosen_channel};
use crate::view::ViewCtx;

/// A note or an idea.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotePopup {
    /// `Note` or `Idea`.
    pub kind: InteractionKind,
    /// The fields.
    pub form: Form,
}

impl NotePopup {
    /// An empty note (or idea) form.
    pub fn new(kind: InteractionKind, channel: &str, touchpoint: &str) -> NotePopup {
        NotePopup {
            kind,
            form: Form::new(vec![
                Field::text("Text", ""),
                channel_field(channel),
                Field::text("Touchpoint", touchpoint),
            ]),
        }
    }

    /// The request, or what is missing.
    pub fn request(&self, customer: CustomerId) -> Result<NewInteraction, String> {
        let text = self.form.get("Text").trim().to_string();
        if text.is_empty() {
            return Err("write something first".into());
        }
        let channel = chosen_channel(&self.form)?;
        let touchpoint =
            Some(self.form.get("Touchpoint").trim().to_string()).filter(|s| !s.is_empty());
        Ok(NewInteraction {
            customer,
            kind: self.kind.clone(),
            channel,
            touchpoint,
            phase: None,
            text: Some(text),
            attributes: BTreeMap::new(),
            amounts: Vec::new(),
        })
    }

    /// Draws the form.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>, who: &str) {
        let title = if self.kind == InteractionKind::Idea {
            format!("Idea for the analysts (about {who})")
        } else {
            format!("Note on {who}")
        };
        let mut lines = self.form.lines(cx.theme, cx.theme.ascii);
        lines.push(Line::from(""));
        lines.push(Line::styled("Enter save, Esc cancel", cx.theme.dim()));
        draw_box(f, area, cx.theme, &title, lines, cx.theme.title());
    }
}
