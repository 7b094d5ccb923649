//! Deciding a request of the approval queue: approve as asked, approve another amount
//! (prefilled with the amount asked), or refuse, each with a reason that goes to whoever
//! asked. Asks to confirm; the service decides each request once.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use rapport_service::governance_ops::{ApprovalDecision, QueuedApproval};

use crate::fmt::clean;
use crate::popups::form::{Field, Form, draw_box};
use crate::popups::goodwill::{parse_amount, typed_amount};
use crate::view::ViewCtx;

/// Which decision the popup makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// As asked.
    Approve,
    /// Another amount.
    Change,
    /// Nothing granted.
    Refuse,
}

/// The decision form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecidePopup {
    /// The request decided.
    pub queued: QueuedApproval,
    /// Approve, change or refuse.
    pub kind: Kind,
    /// Amount (for a change) and reason.
    pub form: Form,
    /// Waiting for the second Enter.
    pub confirming: bool,
    /// The decision is under way.
    pub busy: bool,
    /// What is wrong (or the service's refusal).
    pub problem: Option<String>,
}

impl DecidePopup {
    /// A form for `kind` on `queued`, the reason empty (a change starts on the amount asked).
    pub fn new(queued: QueuedApproval, kind: Kind) -> DecidePopup {
        let mut fields = Vec::new();
        if kind == Kind::Change {
            fields.push(Field::text(
                "Amount",
                typed_amount(queued.approval.request.amount),
            ));
        }
        fields.push(Field::text("Reason", ""));
        let mut form = Form::new(fields);
        // The reason is what is always to type.
        form.focus = form.fields.len() - 1;
        DecidePopup {
            queued,
            kind,
            form,
            confirming: false,
            busy: false,
            problem: None,
        }
    }

    /// The request's id, the decision and the reason, or what is missing.
    pub fn decision(&self) -> Result<(String, ApprovalDecision, String), String> {
        let a = &self.queued.approval;
        let decision = match self.kind {
            Kind::Approve => ApprovalDecision::Approve,
            Kind::Refuse => ApprovalDecision::Refuse,
            Kind::Change => ApprovalDecision::Change(
                parse_amount(self.form.get("Amount"), a.request.amount.currency)?.minor,
            ),
        };
        let reason = self.form.get("Reason").trim().to_string();
        if reason.is_empty() {
            return Err("say why (the reason goes to whoever asked)".into());
        }
        Ok((a.id.clone(), decision, reason))
    }

    fn verb(&self) -> String {
        let a = &self.queued.approval;
        match self.kind {
            Kind::Approve => format!("Approve {} {}", a.request.amount, a.request.instrument),
            Kind::Change => {
                match parse_amount(self.form.get("Amount"), a.request.amount.currency) {
                    Ok(m) => format!(
                        "Approve {m} {} instead of {}",
                        a.request.instrument, a.request.amount
                    ),
                    Err(_) => "Approve another amount".to_string(),
                }
            }
            Kind::Refuse => format!("Refuse {} {}", a.request.amount, a.request.instrument),
        }
    }

    /// Draws the request, the form and the confirmation prompt.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let th = cx.theme;
        let q = &self.queued;
        let a = &q.approval;
        let mut lines = vec![
            Line::from(clean(&format!(
                "{} {} {} for {} ({})",
                a.id, a.request.amount, a.request.instrument, q.customer_name, a.disruption
            ))),
            Line::from(clean(&format!(
                "Asked by {} ({}): {}",
                a.requested_by, a.requested_role, a.request.reason
            ))),
            Line::from(""),
        ];
        lines.extend(self.form.lines(th, th.ascii));
        lines.push(Line::from(""));
        if let Some(p) = &self.problem {
            lines.push(Line::styled(clean(p), th.error()));
        }
        if self.busy {
            lines.push(Line::styled("Deciding...", th.dim()));
        } else if self.confirming {
            lines.push(Line::styled(
                clean(&format!(
                    "{} for {}? Enter again to confirm, Esc cancels.",
                    self.verb(),
                    q.customer_name
                )),
                th.ok(),
            ));
        } else {
            lines.push(Line::styled(
                "Type the reason, Enter decide (asks to confirm), Esc cancel",
                th.dim(),
            ));
        }
        let title = match self.kind {
            Kind::Approve => "Approve goodwill",
            Kind::Change => "Approve another amount",
            Kind::Refuse => "Refuse goodwill",
        };
        draw_box(f, area, th, title, lines, th.title());
    }
}
