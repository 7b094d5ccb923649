//! Record a preference the customer states (the newest per topic wins).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use rapport_core::Channel;

use crate::popups::form::{Field, Form, draw_box};
use crate::popups::log::{channel_field, chosen_channel};
use crate::view::ViewCtx;

/// Topics offered first; any other topic can be chosen with `other` and typed.
pub const TOPICS: &[&str] = &[
    "seat",
    "meal",
    "drink",
    "contact_channel",
    "contact_frequency",
    "room",
    "language",
    "other",
];

/// The preference form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferencePopup {
    /// The fields.
    pub form: Form,
}

impl PreferencePopup {
    /// An empty preference form.
    pub fn new(channel: &str) -> PreferencePopup {
        PreferencePopup {
            form: Form::new(vec![
                Field::choice("Topic", TOPICS.iter().map(|s| s.to_string()).collect(), 0),
                Field::text("Other topic", ""),
                Field::text("Value", ""),
                channel_field(channel),
            ]),
        }
    }

    /// Topic, value and channel, or what is missing.
    pub fn request(&self) -> Result<(String, String, Channel), String> {
        let topic = match self.form.get("Topic") {
            "other" => self.form.get("Other topic").trim().to_string(),
            t => t.to_string(),
        };
        if topic.is_empty() {
            return Err("name the topic".into());
        }
        let value = self.form.get("Value").trim().to_string();
        if value.is_empty() {
            return Err("what does the customer prefer?".into());
        }
        let channel = chosen_channel(&self.form)?;
        Ok((topic, value, channel))
    }

    /// Draws the form.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>, who: &str) {
        let mut lines = self.form.lines(cx.theme, cx.theme.ascii);
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "Tab next field, left/right choose, Enter save, Esc cancel",
            cx.theme.dim(),
        ));
        draw_box(
            f,
            area,
            cx.theme,
            &format!("Preference of {who}"),
            lines,
            cx.theme.title(),
        );
    }
}
