//! Goodwill on top of the policy, for a disruption on record: the operator picks the
//! disruption, types the amount and says why. Within the role's limit of the policy in force
//! it is granted at once; above it, the form offers to send it for approval instead, with the
//! same amount and reason, and the service files it in the approval queue. The form shows
//! the limit before anything is typed, and asks to confirm either way.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use rapport_core::{Currency, CustomerId, Interaction, Money};
use rapport_governance::Role;
use rapport_service::DisruptionEntry;
use rapport_service::governance_ops::{GoodwillRequest, PolicyVersion};

use crate::fmt::clean;
use crate::popups::form::{Field, Form, Value, draw_box};
use crate::popups::grant::{PICK, disruption_ref, entry_text};
use crate::view::ViewCtx;

/// The last option of the `Pick` field: the operator types the reference.
const TYPED: &str = "other: type it below";

/// The goodwill form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodwillPopup {
    /// The fields.
    pub form: Form,
    /// The policy in force (its limits), once read.
    pub policy: Option<Result<PolicyVersion, String>>,
    /// The customer's disruptions on record, newest first.
    pub choices: Vec<DisruptionEntry>,
    /// Waiting for the second Enter.
    pub confirming: bool,
    /// The request is under way.
    pub busy: bool,
    /// The service said the amount is above the operator's limit: the next Enter sends it
    /// for approval.
    pub above_limit: bool,
    /// What is wrong.
    pub problem: Option<String>,
}

impl GoodwillPopup {
    /// A form on the customer's most recent disruption in the history shown, if any, at the
    /// operator's touchpoint (else channel, else `console`).
    pub fn new(history: &[Interaction], touchpoint: &str) -> GoodwillPopup {
        let reference = history
            .iter()
            .find(|i| i.kind.is_disruption())
            .and_then(disruption_ref)
            .unwrap_or_default();
        let mut form = Form::new(vec![
            Field::text("Disruption", clean(&reference)),
            Field::text("Amount", ""),
            Field::choice(
                "Instrument",
                rapport_governance::INSTRUMENTS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                0,
            ),
            Field::text("Reason", ""),
            Field::text("Touchpoint", touchpoint),
        ]);
        form.focus = if reference.is_empty() { 0 } else { 1 };
        GoodwillPopup {
            form,
            policy: None,
            choices: Vec::new(),
            confirming: false,
            busy: false,
            above_limit: false,
            problem: None,
        }
    }

    /// Offers the customer's disruptions on record on a `Pick` line (the newest first).
    pub fn offer(&mut self, list: Vec<DisruptionEntry>) {
        self.form.fields.retain(|f| f.label != PICK);
        self.choices = list;
        if self.choices.is_empty() {
            return;
        }
        let typed = self.form.get("Disruption").to_string();
        let mut options: Vec<String> = self
            .choices
            .iter()
            .map(|e| e.disruption.id.to_string())
            .collect();
        options.push(TYPED.into());
        // On the disruption already in the form: the one on record, else "other".
        let index = if typed.is_empty() {
            0
        } else {
            self.choices
                .iter()
                .position(|e| e.disruption.id.to_string() == typed)
                .unwrap_or(options.len() - 1)
        };
        self.form
            .fields
            .insert(0, Field::choice(PICK, options, index));
        if typed.is_empty()
            && let Some(f) = self
                .form
                .fields
                .iter_mut()
                .find(|f| f.label == "Disruption")
        {
            f.value = Value::Text(self.choices[0].disruption.id.to_string());
        }
        self.form.focus = self
            .form
            .fields
            .iter()
            .position(|f| f.label == "Amount")
            .unwrap_or(0);
    }

    /// Fills the reference from the `Pick` line after it changed.
    pub fn follow_pick(&mut self) {
        let on_pick = self
            .form
            .fields
            .get(self.form.focus)
            .is_some_and(|f| f.label == PICK);
        if !on_pick {
            return;
        }
        let index = match self.form.fields.iter().find(|f| f.label == PICK) {
            Some(Field {
                value: Value::Choice { index, .. },
                ..
            }) => *index,
            _ => return,
        };
        let Some(e) = self.choices.get(index) else {
            return;
        };
        let id = e.disruption.id.to_string();
        if let Some(f) = self
            .form
            .fields
            .iter_mut()
            .find(|f| f.label == "Disruption")
        {
            f.value = Value::Text(id);
        }
    }

    /// The currency amounts are typed in: the policy's limits' currency (EUR until read).
    pub fn currency(&self) -> Currency {
        match &self.policy {
            Some(Ok(p)) => p.limits.currency,
            _ => Currency::EUR,
        }
    }

    /// The request as typed (`send_for_approval` as the form stands), or what is missing.
    pub fn request(&self, customer: CustomerId) -> Result<GoodwillRequest, String> {
        let disruption = self.form.get("Disruption").trim().to_string();
        if disruption.is_empty() {
            return Err("which disruption? pick one on record, e.g. RP123/2026-11-22".into());
        }
        let amount = parse_amount(self.form.get("Amount"), self.currency())?;
        let reason = self.form.get("Reason").trim().to_string();
        if reason.is_empty() {
            return Err(
                "say why (the reason goes with the goodwill, and to whoever approves)".into(),
            );
        }
        let touchpoint = self.form.get("Touchpoint").trim().to_string();
        if touchpoint.is_empty() {
            return Err("where are you? e.g. call center".into());
        }
        Ok(GoodwillRequest {
            customer,
            disruption,
            amount,
            instrument: self.form.get("Instrument").to_string(),
            reason,
            touchpoint,
            send_for_approval: self.above_limit,
        })
    }

    /// Whether `amount` is above what `role` may give alone under the policy read (false
    /// until it is read: the service then says so).
    pub fn over_limit(&self, role: Role, amount: Money) -> bool {
        match &self.policy {
            Some(Ok(p)) => !p.limits.within(role, amount),
            _ => false,
        }
    }

    /// The role's limit in words, from the policy read.
    fn limit_text(&self, role: Role) -> Option<String> {
        let p = match &self.policy {
            Some(Ok(p)) => p,
            _ => return None,
        };
        Some(match p.limits.limits.iter().find(|(r, _)| *r == role) {
            Some((_, None)) => format!("No limit for your role (policy v{}).", p.version),
            Some((_, Some(minor))) => format!(
                "Your limit: {} without approval (policy v{}); above it, it goes for approval.",
                Money::new(*minor, p.limits.currency),
                p.version
            ),
            None => format!(
                "Your role gives no goodwill alone (policy v{}): it goes for approval.",
                p.version
            ),
        })
    }

    /// Draws the form, the limit and the confirmation prompt.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>, who: &str) {
        let th = cx.theme;
        let mut lines = self.form.lines(th, th.ascii);
        // The disruption picked, with what the policy already entitles for it.
        let typed = self.form.get("Disruption").trim();
        if let Some(e) = self
            .choices
            .iter()
            .find(|e| e.disruption.id.to_string() == typed)
        {
            lines.push(Line::styled(
                format!("  {}", entry_text(e, cx.now)),
                th.dim(),
            ));
        }
        lines.push(Line::from(""));
        match &self.policy {
            None => lines.push(Line::styled("Reading the policy...", th.dim())),
            Some(Err(e)) => lines.push(Line::styled(clean(e), th.error())),
            Some(Ok(_)) => {
                if let Some(t) = self.limit_text(cx.role) {
                    lines.push(Line::styled(t, th.label()));
                }
            }
        }
        if let Some(p) = &self.problem {
            lines.push(Line::styled(clean(p), th.error()));
        }
        let amount = parse_amount(self.form.get("Amount"), self.currency()).ok();
        let what = format!(
            "{} {}",
            amount.map_or_else(|| "?".to_string(), |a| a.to_string()),
            clean(self.form.get("Instrument"))
        );
        if self.busy {
            lines.push(Line::styled("Sending...", th.dim()));
        } else if self.confirming && self.above_limit {
            lines.push(Line::styled(
                format!(
                    "{what} is above your limit: Enter again sends it for approval \
                     (amount and reason go with it), Esc cancels."
                ),
                th.ok(),
            ));
        } else if self.confirming {
            lines.push(Line::styled(
                format!("Give {what} to {who} as goodwill? Enter again to confirm, Esc cancels."),
                th.ok(),
            ));
        } else {
            lines.push(Line::styled(
                "Tab next field, left/right choose, Enter give (asks to confirm), Esc cancel",
                th.dim(),
            ));
        }
        draw_box(
            f,
            area,
            th,
            &format!("Goodwill for {who}"),
            lines,
            th.title(),
        );
    }
}

/// An amount typed by an operator (`150`, `150.5`, `150.50`, `150.50 EUR`) in `currency`
/// (a typed code must be that currency).
pub fn parse_amount(text: &str, currency: Currency) -> Result<Money, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("how much? e.g. 150.00 ({currency})"));
    }
    let (number, code) = match text.rsplit_once(' ') {
        Some((n, c)) => (n.trim(), Some(c.trim())),
        None => (text, None),
    };
    if let Some(c) = code
        && !c.eq_ignore_ascii_case(&currency.to_string())
    {
        return Err(format!(
            "amounts here are in {currency}, not {}",
            clean(&c.chars().take(8).collect::<String>())
        ));
    }
    let digits = currency.minor_digits() as usize;
    let bad = || {
        format!(
            "amount {:?}: a number with at most {digits} decimals, e.g. 150.00",
            clean(&number.chars().take(20).collect::<String>())
        )
    };
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty()
        || whole.len() > 9
        || frac.len() > digits
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let mut minor: i64 = whole.parse().map_err(|_| bad())?;
    for k in 0..digits {
        let d = frac.as_bytes().get(k).map_or(0, |b| i64::from(b - b'0'));
        minor = minor * 10 + d;
    }
    if minor <= 0 {
        return Err("goodwill must be more than 0".into());
    }
    Ok(Money::new(minor, currency))
}

/// An amount as an operator types it (`800.00`), for prefilled fields.
pub fn typed_amount(m: Money) -> String {
    let text = m.to_string();
    text.rsplit_once(' ')
        .map_or(text.clone(), |(n, _)| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_as_typed() {
        let eur = Currency::EUR;
        assert_eq!(parse_amount("150", eur), Ok(Money::new(15_000, eur)));
        assert_eq!(parse_amount(" 150.5 ", eur), Ok(Money::new(15_050, eur)));
        assert_eq!(parse_amount("150.50 eur", eur), Ok(Money::new(15_050, eur)));
        assert!(parse_amount("150.505", eur).is_err());
        assert!(parse_amount("-3", eur).is_err());
        assert!(parse_amount("0", eur).is_err());
        assert!(parse_amount("12 USD", eur).unwrap_err().contains("EUR"));
        assert!(parse_amount("", eur).is_err());
        assert_eq!(typed_amount(Money::new(80_000, eur)), "800.00");
        let back = parse_amount(&typed_amount(Money::new(12_345, eur)), eur);
        assert_eq!(back, Ok(Money::new(12_345, eur)));
    }
}
