//! Present the next best action: the offer as the rules let it be made (title, price, terms,
//! the words to say), why it is the one, and the customer's answer (accepted, declined, not
//! now), logged through the service into the record's history and the offer report.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use rapport_core::Channel;
use rapport_governance::{Answer, NextBestAction, OfferDecision};

use crate::fmt::{clean, wrap};
use crate::popups::form::{Field, Form, draw_box};
use crate::popups::log::{channel_field, chosen_channel};
use crate::view::ViewCtx;

/// The offer being presented and the answer form.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferPopup {
    /// The offer as presented.
    pub decision: OfferDecision,
    /// Why this offer (the next best action's reason).
    pub why: String,
    /// Recovery before selling.
    pub recovery: bool,
    /// Answer, channel, touchpoint.
    pub form: Form,
}

/// The words of an answer in the form, in [`Answer::ALL`] order.
fn answers() -> Vec<String> {
    Answer::ALL.iter().map(|a| a.as_str().to_string()).collect()
}

/// What the record shows as the next best action, in one line.
pub fn summary(n: &NextBestAction) -> String {
    match n {
        NextBestAction::Recover {
            action,
            offer: Some(o),
            ..
        } => format!("recover: {action} ({}); {}", o.price, o.reason),
        NextBestAction::Recover { action, reason, .. } => format!("recover: {action} ({reason})"),
        NextBestAction::Offer {
            decision, reason, ..
        } => format!(
            "offer `{}` {} ({}); {reason}",
            decision.title,
            decision.price,
            decision.outcome.as_str()
        ),
        NextBestAction::Nothing { reason } => format!("nothing to offer: {reason}"),
    }
}

impl OfferPopup {
    /// The popup for a next best action that has an offer to present, else why not.
    pub fn new(
        next: &NextBestAction,
        channel: &str,
        touchpoint: &str,
    ) -> Result<OfferPopup, String> {
        let (decision, why, recovery) = match next {
            NextBestAction::Offer {
                decision, reason, ..
            } => (decision.clone(), reason.clone(), false),
            NextBestAction::Recover {
                offer: Some(o),
                reason,
                ..
            } => (o.clone(), reason.clone(), true),
            NextBestAction::Recover { action, reason, .. } => {
                return Err(format!("{action} ({reason})"));
            }
            NextBestAction::Nothing { reason } => return Err(reason.clone()),
        };
        // Preselect the operator's channel, else the first channel the offer may use.
        let preferred = if channel.is_empty() {
            decision
                .channels
                .first()
                .map(Channel::as_str)
                .unwrap_or("")
                .to_string()
        } else {
            channel.to_string()
        };
        Ok(OfferPopup {
            decision,
            why,
            recovery,
            form: Form::new(vec![
                Field::choice("Answer", answers(), 0),
                channel_field(&preferred),
                Field::text("Touchpoint", touchpoint),
            ]),
        })
    }

    /// The offer id, the answer, the channel and the touchpoint, or what is missing.
    pub fn request(&self) -> Result<(String, Answer, Channel, Option<String>), String> {
        let answer: Answer = self.form.get("Answer").parse()?;
        let channel = chosen_channel(&self.form)?;
        let touchpoint =
            Some(self.form.get("Touchpoint").trim().to_string()).filter(|s| !s.is_empty());
        Ok((self.decision.offer.clone(), answer, channel, touchpoint))
    }

    /// Draws the offer and the form.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>, who: &str) {
        let th = cx.theme;
        let d = &self.decision;
        let width = (area.width as usize).clamp(30, 76) - 4;
        let mut lines = vec![Line::from(vec![
            Span::styled(clean(&d.title), th.title()),
            Span::raw(format!("  {}  ({})", d.price, d.outcome.as_str())),
        ])];
        let mut para = |label: &str, text: &str| {
            for (i, l) in wrap(&clean(text), width - 8).into_iter().enumerate() {
                let head = if i == 0 { label } else { "" };
                lines.push(Line::from(vec![
                    Span::styled(format!("{head:<8}"), th.label()),
                    Span::raw(l),
                ]));
            }
        };
        if !d.wording.is_empty() {
            para("Say", &d.wording);
        }
        para("Terms", &d.terms);
        if let Some(t) = &d.timing {
            para("When", t);
        }
        para("Why", &self.why);
        lines.push(Line::from(""));
        lines.extend(self.form.lines(th, th.ascii));
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "left/right choose the answer, Enter log it, Esc cancel",
            th.dim(),
        ));
        let title = if self.recovery {
            format!("Service recovery for {who}")
        } else {
            format!("Next best action for {who}")
        };
        draw_box(f, area, th, &title, lines, th.title());
    }
}
