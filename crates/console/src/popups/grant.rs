//! Grant compensation by policy: the form shows what the policy entitles the customer to
//! (asked in the background as the operator types) and any grant that already exists, and
//! asks to confirm before granting.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use rapport_core::{
    CompensationGrant, CustomerId, DisruptionKind, Interaction, InteractionKind, Timestamp,
};
use rapport_service::{CompensationRequest, Entitlement};

use crate::fmt::{ago, clean, datetime};
use crate::popups::form::{Field, Form, draw_box};
use crate::view::ViewCtx;

const KINDS: [DisruptionKind; 4] = [
    DisruptionKind::Delay,
    DisruptionKind::Cancellation,
    DisruptionKind::DeniedBoarding,
    DisruptionKind::LostBag,
];

/// What the policy says for the request in the form.
#[allow(clippy::large_enum_variant)] // one per open form
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// Nothing asked yet (the form is incomplete).
    Unknown,
    /// Asking.
    Asking,
    /// The answer.
    Known(Entitlement),
    /// The service could not say.
    Failed(String),
}

/// The grant form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantPopup {
    /// The fields.
    pub form: Form,
    /// What the policy entitles.
    pub policy: Policy,
    /// Waiting for the second Enter.
    pub confirming: bool,
    /// The grant request is under way.
    pub busy: bool,
    /// What is wrong with the form.
    pub problem: Option<String>,
}

/// One line describing an existing grant: what, for which disruption, who, where, when.
pub fn grant_text(g: &CompensationGrant, now: Timestamp) -> String {
    format!(
        "{} {} for {} by {} at {}, {} ({} UTC)",
        clean(&g.instrument),
        g.amount,
        clean(&g.disruption),
        clean(&g.granted_by),
        clean(&g.touchpoint),
        ago(now, g.at),
        datetime(g.at)
    )
}

/// The disruption reference an interaction stands for: its `disruption` attribute, else its
/// flight and date.
fn disruption_ref(i: &Interaction) -> Option<String> {
    if let Some(r) = i
        .attr_text("disruption")
        .or_else(|| i.attr_text("disruption_ref"))
    {
        return Some(r.to_string());
    }
    let flight = i
        .attr_text("flight")
        .or_else(|| i.attr_text("flight_number"))?;
    Some(format!("{flight}/{}", crate::fmt::date(i.at)))
}

impl GrantPopup {
    /// A form prefilled from the customer's most recent disruption, if any.
    pub fn new(history: &[Interaction], touchpoint: &str) -> GrantPopup {
        let last = history.iter().find(|i| i.kind.is_disruption());
        let kind = last.map_or(DisruptionKind::Delay, |i| match i.kind {
            InteractionKind::Cancellation => DisruptionKind::Cancellation,
            InteractionKind::DeniedBoarding => DisruptionKind::DeniedBoarding,
            InteractionKind::BagLost => DisruptionKind::LostBag,
            _ => DisruptionKind::Delay,
        });
        let reference = last.and_then(disruption_ref).unwrap_or_default();
        let delay = last
            .and_then(|i| i.attr_int("delay_minutes"))
            .map_or(String::new(), |m| m.to_string());
        let kind_index = KINDS.iter().position(|k| *k == kind).unwrap_or(0);
        let mut form = Form::new(vec![
            Field::text("Disruption", clean(&reference)),
            Field::choice(
                "Kind",
                KINDS.iter().map(|k| k.as_str().to_string()).collect(),
                kind_index,
            ),
            Field::text("Delay minutes", delay),
            Field::text("Touchpoint", touchpoint),
        ]);
        // Start where the operator has something to type (the delay only for delays).
        form.focus = form
            .fields
            .iter()
            .position(|f| {
                f.get().is_empty() && (f.label != "Delay minutes" || kind == DisruptionKind::Delay)
            })
            .unwrap_or(0);
        GrantPopup {
            form,
            policy: Policy::Unknown,
            confirming: false,
            busy: false,
            problem: None,
        }
    }

    /// The request, or what is missing.
    pub fn request(&self, customer: CustomerId) -> Result<CompensationRequest, String> {
        let disruption = self.form.get("Disruption").trim().to_string();
        if disruption.is_empty() {
            return Err("which disruption? e.g. RP123/2026-11-23".into());
        }
        let kind: DisruptionKind = self.form.get("Kind").parse().map_err(|e| format!("{e}"))?;
        let delay_text = self.form.get("Delay minutes").trim();
        let delay_minutes =
            if delay_text.is_empty() {
                None
            } else {
                Some(delay_text.parse::<u32>().map_err(|_| {
                    format!("delay minutes: {:?} is not a number", clean(delay_text))
                })?)
            };
        if kind == DisruptionKind::Delay && delay_minutes.is_none() {
            return Err("a delay needs its length in minutes".into());
        }
        let touchpoint = self.form.get("Touchpoint").trim().to_string();
        if touchpoint.is_empty() {
            return Err("where are you? e.g. gate C12".into());
        }
        Ok(CompensationRequest {
            customer,
            disruption,
            kind,
            delay_minutes,
            touchpoint,
        })
    }

    /// The request to ask the policy with: the touchpoint does not change what the policy
    /// entitles, so it may still be empty.
    pub fn policy_request(&self, customer: CustomerId) -> Result<CompensationRequest, String> {
        let mut probe = self.clone();
        if probe.form.get("Touchpoint").trim().is_empty()
            && let Some(f) = probe
                .form
                .fields
                .iter_mut()
                .find(|f| f.label == "Touchpoint")
        {
            f.value = crate::popups::form::Value::Text("console".into());
        }
        probe.request(customer)
    }

    /// Draws the form with the policy's answer and the confirmation prompt.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>, who: &str) {
        let th = cx.theme;
        let mut lines = self.form.lines(th, th.ascii);
        lines.push(Line::from(""));
        match &self.policy {
            Policy::Unknown => lines.push(Line::styled(
                self.problem
                    .clone()
                    .unwrap_or_else(|| "Fill in the disruption".into()),
                th.dim(),
            )),
            Policy::Asking => lines.push(Line::styled("Asking the policy...", th.dim())),
            Policy::Failed(e) => lines.push(Line::styled(clean(e), th.error())),
            Policy::Known(e) => {
                lines.push(Line::from(format!(
                    "Policy entitles: {} {} (rule {})",
                    clean(&e.instrument),
                    e.amount,
                    clean(&e.rule)
                )));
                if let Some(g) = &e.existing {
                    lines.push(Line::styled(
                        format!("ALREADY GRANTED: {}", grant_text(g, cx.now)),
                        th.error(),
                    ));
                }
            }
        }
        if let Some(p) = self
            .problem
            .as_ref()
            .filter(|_| self.policy != Policy::Unknown)
        {
            lines.push(Line::styled(clean(p), th.error()));
        }
        lines.push(Line::from(""));
        if self.busy {
            lines.push(Line::styled("Granting...", th.dim()));
        } else if self.confirming {
            let what = match &self.policy {
                Policy::Known(e) => format!("{} {}", clean(&e.instrument), e.amount),
                _ => "compensation".into(),
            };
            lines.push(Line::styled(
                format!("Grant {what} to {who}? Enter again to confirm, Esc to cancel."),
                th.ok(),
            ));
        } else {
            lines.push(Line::styled(
                "Tab next field, left/right choose, Enter grant (asks to confirm), Esc cancel",
                th.dim(),
            ));
        }
        draw_box(f, area, th, &format!("Compensate {who}"), lines, th.title());
    }
}
