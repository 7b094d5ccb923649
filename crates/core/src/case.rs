//! Complaints as cases: a complaint is opened by a `complaint` interaction (optionally about a
//! disruption or a booking, in its `about` attribute) and closed by a `complaint_resolved`
//! interaction naming it in its `case` attribute, with the resolution as its text and who
//! resolved it as its employee. The case's state is read from the history, so every terminal
//! and every export sees the same cases, and nothing is overwritten.
//!
//! A complaint a source reports as already closed (`status` = closed/resolved/done, or
//! `resolved` = true) counts as resolved by that source.

use serde::{Deserialize, Serialize};

use crate::{AttrValue, Channel, Interaction, InteractionId, InteractionKind, Timestamp};

/// The kind of the interaction that resolves a complaint.
pub const COMPLAINT_RESOLVED: &str = "complaint_resolved";
/// The attribute of a resolution naming the complaint it closes (`I0000000042`).
pub const CASE_ATTR: &str = "case";
/// The attribute of a complaint naming the disruption or booking it is about.
pub const ABOUT_ATTR: &str = "about";

/// The interaction kind of a resolution.
pub fn resolution_kind() -> InteractionKind {
    InteractionKind::Other(COMPLAINT_RESOLVED.to_string())
}

/// Whether `i` resolves a complaint.
pub fn is_resolution(i: &Interaction) -> bool {
    i.kind.as_str() == COMPLAINT_RESOLVED
}

/// How a case was closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// When.
    pub at: Timestamp,
    /// Who closed it (the operator), when known.
    pub by: Option<String>,
    /// What was done.
    pub text: Option<String>,
    /// The resolving interaction; `None` when the source reported the complaint closed.
    pub interaction: Option<InteractionId>,
}

/// One complaint and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintCase {
    /// The complaint interaction (the case's id).
    pub complaint: InteractionId,
    /// When it was made.
    pub opened: Timestamp,
    /// Through which channel.
    pub channel: Channel,
    /// Who took it, when known.
    pub taken_by: Option<String>,
    /// The disruption or booking it is about, when known.
    pub about: Option<String>,
    /// What the customer said.
    pub text: Option<String>,
    /// How it was closed; `None` while open.
    pub resolution: Option<Resolution>,
}

impl ComplaintCase {
    /// Whether the case is still open.
    pub fn is_open(&self) -> bool {
        self.resolution.is_none()
    }
}

/// What a complaint is about: its `about` attribute, else the disruption or booking its
/// source names.
pub fn about(i: &Interaction) -> Option<String> {
    [ABOUT_ATTR, "disruption", "disruption_ref", "booking_ref"]
        .iter()
        .find_map(|k| i.attr_text(k))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn closed_by_source(i: &Interaction) -> bool {
    let status = i
        .attr_text("status")
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    matches!(i.attributes.get("resolved"), Some(AttrValue::Bool(true)))
        || matches!(status.trim(), "closed" | "resolved" | "done")
}

/// The complaint cases in `history` (any order), newest first. A resolution counts for the
/// complaint it names when that complaint is in `history`; the first resolution wins.
pub fn cases(history: &[Interaction]) -> Vec<ComplaintCase> {
    let mut out: Vec<ComplaintCase> = history
        .iter()
        .filter(|i| i.kind == InteractionKind::Complaint)
        .map(|c| ComplaintCase {
            complaint: c.id,
            opened: c.at,
            channel: c.channel.clone(),
            taken_by: c.employee.clone(),
            about: about(c),
            text: c.text.clone(),
            resolution: closed_by_source(c).then(|| Resolution {
                at: c.at,
                by: None,
                text: c.attr_text("status").map(str::to_string),
                interaction: None,
            }),
        })
        .collect();
    let mut resolutions: Vec<&Interaction> = history.iter().filter(|i| is_resolution(i)).collect();
    resolutions.sort_by_key(|r| (r.at, r.id));
    for r in resolutions {
        let Some(case) = r.attr_text(CASE_ATTR).and_then(|s| s.trim().parse().ok()) else {
            continue;
        };
        if let Some(c) = out
            .iter_mut()
            .find(|c| c.complaint == case && c.resolution.is_none())
        {
            c.resolution = Some(Resolution {
                at: r.at,
                by: r.employee.clone(),
                text: r.text.clone(),
                interaction: Some(r.id),
            });
        }
    }
    out.sort_by(|a, b| b.opened.cmp(&a.opened).then(b.complaint.cmp(&a.complaint)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CustomerId;

    fn at(h: i64) -> Timestamp {
        Timestamp::from_secs(1_800_000_000 + h * 3_600)
    }

    fn complaint(id: u64, h: i64, about: Option<&str>) -> Interaction {
        let mut i = Interaction::new(
            InteractionId(id),
            CustomerId(1),
            at(h),
            Channel::CallCenter,
            InteractionKind::Complaint,
        );
        i.text = Some("missed the connection".into());
        i.employee = Some("mrossi".into());
        if let Some(a) = about {
            i.attributes
                .insert(ABOUT_ATTR.into(), AttrValue::Text(a.into()));
        }
        i
    }

    fn resolve(id: u64, h: i64, case: u64, by: &str) -> Interaction {
        let mut i = Interaction::new(
            InteractionId(id),
            CustomerId(1),
            at(h),
            Channel::CallCenter,
            resolution_kind(),
        );
        i.text = Some("refunded the receipts".into());
        i.employee = Some(by.into());
        i.attributes.insert(
            CASE_ATTR.into(),
            AttrValue::Text(InteractionId(case).to_string()),
        );
        i
    }

    #[test]
    fn a_resolution_closes_the_complaint_it_names_and_the_first_one_wins() {
        let history = vec![
            complaint(1, 0, Some("RP121/2026-11-23")),
            complaint(2, 5, None),
            resolve(3, 7, 1, "jsmith"),
            resolve(4, 8, 1, "mrossi"),
        ];
        let cs = cases(&history);
        assert_eq!(cs.len(), 2);
        // Newest first: complaint 2 is open, complaint 1 was closed by J. Smith's resolution.
        assert_eq!(cs[0].complaint, InteractionId(2));
        assert!(cs[0].is_open());
        assert_eq!(cs[1].about.as_deref(), Some("RP121/2026-11-23"));
        let r = cs[1].resolution.as_ref().unwrap();
        assert_eq!(r.by.as_deref(), Some("jsmith"));
        assert_eq!(r.interaction, Some(InteractionId(3)));
        assert_eq!(r.text.as_deref(), Some("refunded the receipts"));
    }

    #[test]
    fn a_source_closed_complaint_is_resolved_and_a_stray_resolution_is_ignored() {
        let mut closed = complaint(1, 0, None);
        closed
            .attributes
            .insert("status".into(), AttrValue::Text("Closed".into()));
        let mut booked = complaint(2, 1, None);
        booked
            .attributes
            .insert("booking_ref".into(), AttrValue::Text("K7Q2LM".into()));
        let cs = cases(&[closed, booked, resolve(3, 2, 99, "x")]);
        assert!(
            cs.iter()
                .find(|c| c.complaint == InteractionId(1))
                .unwrap()
                .resolution
                .is_some()
        );
        let open = cs.iter().find(|c| c.complaint == InteractionId(2)).unwrap();
        assert!(open.is_open());
        assert_eq!(open.about.as_deref(), Some("K7Q2LM"));
    }
}
