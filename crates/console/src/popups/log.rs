//! Log an interaction: kind, channel, touchpoint, activity-cycle phase and free text; a
//! complaint also says what it is about (a disruption or booking, prefilled with the newest
//! disruption on the record), which makes it a case.

use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use rapport_core::{Channel, CustomerId, InteractionKind, Phase};
use rapport_service::NewInteraction;

use crate::popups::form::{Field, Form, draw_box};
use crate::view::ViewCtx;

/// The kinds an operator logs by hand (grants and preferences have their own actions).
fn kinds() -> Vec<String> {
    InteractionKind::BUILT_IN
        .iter()
        .filter(|k| {
            !matches!(
                k,
                InteractionKind::CompensationGranted | InteractionKind::PreferenceStated
            )
        })
        .map(|k| k.as_str().to_string())
        .collect()
}

/// Every built-in channel's name.
pub fn channels() -> Vec<String> {
    Channel::BUILT_IN
        .iter()
        .map(|c| c.as_str().to_string())
        .collect()
}

/// The channel field's first option when the operator's channel is not configured: a form
/// is not saved until a channel is chosen (no channel is assumed for everyone).
pub const CHOOSE: &str = "(choose)";

/// The channel field: the operator's configured channel selected, or [`CHOOSE`] first.
pub fn channel_field(configured: &str) -> Field {
    let mut options = channels();
    match options.iter().position(|o| o == configured) {
        Some(i) => Field::choice("Channel", options, i),
        None => {
            options.insert(0, CHOOSE.to_string());
            Field::choice("Channel", options, 0)
        }
    }
}

/// The channel chosen in `form`, or what to do.
pub fn chosen_channel(form: &Form) -> Result<Channel, String> {
    match form.get("Channel") {
        CHOOSE => Err(
            "choose the channel you work at (Tab to Channel, then Left/Right); \
             `channel` in console.toml or --channel sets it for every form"
                .into(),
        ),
        c => c.parse().map_err(|e| format!("{e}")),
    }
}

/// The index of `name` in `options`, or 0.
pub fn index_of(options: &[String], name: &str) -> usize {
    options.iter().position(|o| o == name).unwrap_or(0)
}

/// The log form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPopup {
    /// The fields.
    pub form: Form,
}

impl LogPopup {
    /// A form with the operator's usual channel and touchpoint; `about` prefills what a
    /// complaint is about.
    pub fn new(channel: &str, touchpoint: &str, about: &str) -> LogPopup {
        let kinds = kinds();
        let inquiry = index_of(&kinds, "inquiry");
        let phases = ["post", "during", "pre", "none"].map(String::from).to_vec();
        LogPopup {
            form: Form::new(vec![
                Field::choice("Kind", kinds, inquiry),
                channel_field(channel),
                Field::text("Touchpoint", touchpoint),
                Field::choice("Phase", phases, 0),
                Field::text("Text", ""),
                Field::text("About", about),
            ]),
        }
    }

    /// The request, or what is missing.
    pub fn request(&self, customer: CustomerId) -> Result<NewInteraction, String> {
        let kind: InteractionKind = self.form.get("Kind").parse().map_err(|e| format!("{e}"))?;
        let channel = chosen_channel(&self.form)?;
        let phase = match self.form.get("Phase") {
            "pre" => Some(Phase::Pre),
            "during" => Some(Phase::During),
            "post" => Some(Phase::Post),
            _ => None,
        };
        let touchpoint =
            Some(self.form.get("Touchpoint").trim().to_string()).filter(|s| !s.is_empty());
        let text = Some(self.form.get("Text").trim().to_string()).filter(|s| !s.is_empty());
        let mut attributes = BTreeMap::new();
        let about = self.form.get("About").trim();
        if kind == InteractionKind::Complaint && !about.is_empty() {
            attributes.insert(
                rapport_core::case::ABOUT_ATTR.to_string(),
                rapport_core::AttrValue::Text(about.to_string()),
            );
        }
        Ok(NewInteraction {
            customer,
            kind,
            channel,
            touchpoint,
            phase,
            text,
            attributes,
            amounts: Vec::new(),
        })
    }

    /// Draws the form.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>, who: &str) {
        let mut lines = self.form.lines(cx.theme, cx.theme.ascii);
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "About: the disruption or booking a complaint is about (kept for complaints only)",
            cx.theme.dim(),
        ));
        lines.push(Line::styled(
            "Tab next field, left/right or space choose, Enter save, Esc cancel",
            cx.theme.dim(),
        ));
        draw_box(
            f,
            area,
            cx.theme,
            &format!("Log an interaction: {who}"),
            lines,
            cx.theme.title(),
        );
    }
}
