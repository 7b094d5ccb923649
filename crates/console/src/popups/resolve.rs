//! Resolve a complaint case: pick one of the record's open complaints, say what was done.
//! The service closes each case once; a second resolution is refused naming who closed it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use rapport_core::{ComplaintCase, CustomerId, Timestamp};
use rapport_service::NewInteraction;

use crate::fmt::{ago, clean};
use crate::popups::form::{Field, Form, draw_box};
use crate::popups::log::{channel_field, chosen_channel};
use crate::view::ViewCtx;

/// The resolve form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvePopup {
    /// The open cases offered, newest first (the `Case` field's options in this order).
    pub cases: Vec<ComplaintCase>,
    /// The fields.
    pub form: Form,
}

/// One open case as the choice field shows it.
fn label(c: &ComplaintCase, now: Timestamp) -> String {
    let about = c
        .about
        .as_deref()
        .map(|a| format!(" about {a}"))
        .unwrap_or_default();
    let text: String = c.text.as_deref().unwrap_or("").chars().take(40).collect();
    clean(&format!(
        "{} {}{about}: {text}",
        c.complaint,
        ago(now, c.opened)
    ))
}

impl ResolvePopup {
    /// A form over the open cases (newest picked), or `None` when none is open.
    pub fn new(cases: &[ComplaintCase], channel: &str, now: Timestamp) -> Option<ResolvePopup> {
        let open: Vec<ComplaintCase> = cases.iter().filter(|c| c.is_open()).cloned().collect();
        if open.is_empty() {
            return None;
        }
        let options = open.iter().map(|c| label(c, now)).collect();
        Some(ResolvePopup {
            cases: open,
            form: Form::new(vec![
                Field::choice("Case", options, 0),
                Field::text("Resolution", ""),
                channel_field(channel),
            ]),
        })
    }

    /// The request, or what is missing.
    pub fn request(&self, customer: CustomerId) -> Result<NewInteraction, String> {
        let index = match &self.form.fields[0].value {
            crate::popups::form::Value::Choice { index, .. } => *index,
            _ => 0,
        };
        let case = self.cases.get(index).ok_or("no case picked")?;
        let text = self.form.get("Resolution").trim().to_string();
        if text.is_empty() {
            return Err("say what was done (Tab to Resolution)".into());
        }
        let channel = chosen_channel(&self.form)?;
        Ok(NewInteraction::resolution(
            customer,
            case.complaint,
            text,
            channel,
        ))
    }

    /// Draws the form.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>, who: &str) {
        let mut lines = self.form.lines(cx.theme, cx.theme.ascii);
        lines.push(Line::from(""));
        lines.push(Line::styled(
            format!(
                "{} open; left/right picks the case, Tab next field, Enter save, Esc cancel",
                self.cases.len()
            ),
            cx.theme.dim(),
        ));
        draw_box(
            f,
            area,
            cx.theme,
            &format!("Resolve a complaint: {who}"),
            lines,
            cx.theme.title(),
        );
    }
}
