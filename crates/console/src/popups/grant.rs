//! Grant compensation by policy: the form offers the customer's disruptions on record to pick
//! from (newest first, each with what the policy entitles, the care items and any grant
//! already made), shows what the policy entitles for the one picked or typed (asked in the
//! background) and any grant that already exists, and asks to confirm before granting.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use rapport_core::{
    CompensationGrant, CustomerId, DisruptionKind, Interaction, InteractionKind, Timestamp,
};
use rapport_service::{CompensationRequest, DisruptionEntry, Entitlement};

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
    /// The customer's disruptions on record, newest first (the `Pick` field chooses one).
    pub choices: Vec<DisruptionEntry>,
}

/// The label of the field that picks a disruption on record.
pub const PICK: &str = "Pick";
/// The last option of [`PICK`]: the operator types the reference.
const TYPED: &str = "other: type it below";
/// Disruptions listed under the form (the rest counted).
const LISTED: usize = 6;

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
pub(crate) fn disruption_ref(i: &Interaction) -> Option<String> {
    if let Some(r) = i
        .attr_text("disruption")
        .or_else(|| i.attr_text("disruption_ref"))
    {
        return Some(r.to_string());
    }
    let flight = i
        .attr_text("flight")
        .or_else(|| i.attr_text("flight_number"))?;
    // The flight's own date (scheduled, local at the origin) names it, not the event's time.
    match i.attr_text("flight_date") {
        Some(d) => Some(format!("{flight}/{d}")),
        None => Some(format!("{flight}/{}", crate::fmt::date(i.at))),
    }
}

/// One disruption on record as the list shows it: reference, what happened, when, what the
/// policy entitles with the care items.
pub fn entry_text(e: &DisruptionEntry, now: Timestamp) -> String {
    let d = &e.disruption;
    let mut s = format!("{} {}", d.id, e.affected.kind);
    if let Some(m) = e.affected.delay_minutes {
        s.push_str(&format!(" {} h {:02}", m / 60, m % 60));
    }
    if let Some(r) = &d.route {
        s.push_str(&format!(" {r}"));
    }
    s.push_str(&format!(", {}", ago(now, e.affected.at)));
    match (&e.entitlement, &e.not_entitled) {
        (Some(x), _) => s.push_str(&format!(": {} {}", x.instrument, x.amount)),
        (None, Some(_)) => s.push_str(": no compensation by policy"),
        _ => {}
    }
    for c in &e.care {
        s.push_str(&format!(" + {} {}", c.item, c.amount));
    }
    clean(&s)
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
            choices: Vec::new(),
        }
    }

    /// Offers the customer's disruptions on record: a `Pick` field first, on the newest,
    /// with the form filled from it.
    pub fn offer(&mut self, list: Vec<DisruptionEntry>) {
        self.form.fields.retain(|f| f.label != PICK);
        self.choices = list;
        if self.choices.is_empty() {
            return;
        }
        let mut options: Vec<String> = self
            .choices
            .iter()
            .map(|e| e.disruption.id.to_string())
            .collect();
        options.push(TYPED.into());
        self.form.fields.insert(0, Field::choice(PICK, options, 0));
        self.form.focus = 0;
        self.follow_pick();
    }

    /// The entry the `Pick` field is on, if any (not "other").
    pub fn picked(&self) -> Option<&DisruptionEntry> {
        let f = self.form.fields.iter().find(|f| f.label == PICK)?;
        match &f.value {
            crate::popups::form::Value::Choice { index, .. } => self.choices.get(*index),
            _ => None,
        }
    }

    /// Fills the reference, kind and delay from the picked disruption (after a change of the
    /// `Pick` field; typing in the other fields leaves them as typed).
    pub fn follow_pick(&mut self) {
        let on_pick = self
            .form
            .fields
            .get(self.form.focus)
            .is_some_and(|f| f.label == PICK);
        if !on_pick {
            return;
        }
        let Some(e) = self.picked().cloned() else {
            return;
        };
        let kind_index = KINDS
            .iter()
            .position(|k| *k == e.affected.kind)
            .unwrap_or(0);
        for f in &mut self.form.fields {
            match (f.label, &mut f.value) {
                ("Disruption", crate::popups::form::Value::Text(t)) => {
                    *t = e.disruption.id.to_string();
                }
                ("Kind", crate::popups::form::Value::Choice { index, .. }) => *index = kind_index,
                ("Delay minutes", crate::popups::form::Value::Text(t)) => {
                    *t = e
                        .affected
                        .delay_minutes
                        .map_or(String::new(), |m| m.to_string());
                }
                _ => {}
            }
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
            channel: None,
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
        if !self.choices.is_empty() {
            lines.push(Line::from(""));
            lines.push(Line::styled(
                "Disruptions on record (left/right on Pick):",
                th.dim(),
            ));
            let picked = self.picked().map(|e| e.disruption.id.clone());
            for e in self.choices.iter().take(LISTED) {
                let mark = if picked.as_ref() == Some(&e.disruption.id) {
                    "> "
                } else {
                    "  "
                };
                lines.push(Line::from(format!("{mark}{}", entry_text(e, cx.now))));
                if let Some(g) = &e.existing {
                    lines.push(Line::styled(
                        format!("    GRANTED {}", grant_text(g, cx.now)),
                        th.error(),
                    ));
                }
            }
            if self.choices.len() > LISTED {
                lines.push(Line::styled(
                    format!(
                        "  +{} more (pick them on the Pick line)",
                        self.choices.len() - LISTED
                    ),
                    th.dim(),
                ));
            }
        }
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
