//! What a client may write: the maximum of every string field of every request, checked by
//! the service before it does anything (embedded or at the server), and the clipping of
//! oversized values in what it shows, so a record whose history holds something large (stored
//! before these limits, or by an ingest) still opens.
//!
//! The limits, in characters (mirrored in `docs/security.md`):
//!
//! | field | at most |
//! |---|---|
//! | search query | 200 |
//! | interaction kind, channel (outside the known ones) | 40, letters, digits, `_`, `-`, `.`, space |
//! | touchpoint | 200 |
//! | interaction text, text attribute | 4,000 |
//! | attribute name, preference topic, list name | 60 |
//! | attributes, amounts per interaction | 100, 20 |
//! | preference value | 400 |
//! | disruption reference | 100 |
//! | operator name | 40 (checked with its character set by governance) |
//! | password | 256 |
//! | backup path | 4,096 bytes |
//! | amount | a billion in its currency, either way |
//! | customers watched by one subscription | 10,000 |
//! | respondents per questionnaire submission, respondent name | 10,000, 60 |
//! | ingest, rates and mapping paths | 4,096 bytes each, 1 to 1,000 files per ingest |
//! | quarantine source, reason, id; page cursor | 60 |
//! | review, merge and unmerge ids | 200 |
//! | quarantine ids removed at once | 10,000 |
//! | reporting currency | 3 |

use rapport_core::{Channel, CustomerRecord, Interaction, InteractionKind};

use crate::api::{ServiceError, ServiceResult, Watch};
use crate::protocol::Request;

/// Longest search query.
pub const MAX_QUERY: usize = 200;
/// Longest kind or channel outside the known set.
pub const MAX_NAME: usize = 40;
/// Longest touchpoint.
pub const MAX_TOUCHPOINT: usize = 200;
/// Longest free text or text attribute.
pub const MAX_TEXT: usize = 4_000;
/// Longest attribute name, preference topic or list name.
pub const MAX_KEY: usize = 60;
/// Longest preference value.
pub const MAX_VALUE: usize = 400;
/// Longest disruption reference.
pub const MAX_DISRUPTION: usize = 100;
/// Longest password (characters).
pub const MAX_PASSWORD: usize = 256;
/// Largest amount, in major units of its currency.
pub const MAX_AMOUNT_MAJOR: i64 = 1_000_000_000;
/// Most respondents in one questionnaire submission.
pub const MAX_RESPONDENTS: usize = 10_000;
/// Most customers one subscription watches.
pub const MAX_WATCHED: usize = 10_000;

fn too_long(field: &str, max: usize) -> ServiceError {
    ServiceError::Invalid(format!("{field} is longer than {max} characters"))
}

pub(crate) fn text(field: &str, s: &str, max: usize) -> ServiceResult<()> {
    // Bytes first: a 3 MB string is refused without counting its characters.
    if s.len() > max * 4 || s.chars().count() > max {
        return Err(too_long(field, max));
    }
    Ok(())
}

/// A name from outside a known set (an `Other` kind or channel): short, and plain.
fn name(field: &str, s: &str) -> ServiceResult<()> {
    text(field, s, MAX_NAME)?;
    if s.trim().is_empty()
        || !s
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
    {
        return Err(ServiceError::Invalid(format!(
            "{field} {:?} must be letters, digits, '_', '-', '.' or spaces",
            rapport_core::text::sanitize(&s.chars().take(MAX_NAME).collect::<String>())
        )));
    }
    Ok(())
}

fn kind(k: &InteractionKind) -> ServiceResult<()> {
    match k {
        InteractionKind::Other(s) => name("interaction kind", s),
        _ => Ok(()),
    }
}

fn channel(c: &Channel) -> ServiceResult<()> {
    match c {
        Channel::Other(s) => name("channel", s),
        _ => Ok(()),
    }
}

fn money(m: &rapport_core::Money) -> ServiceResult<()> {
    let limit = MAX_AMOUNT_MAJOR.saturating_mul(10i64.pow(m.currency.minor_digits()));
    if m.minor.unsigned_abs() > limit.unsigned_abs() {
        return Err(ServiceError::Invalid(format!(
            "an amount of {m} is outside the range of a real amount (at most {MAX_AMOUNT_MAJOR} {} either way)",
            m.currency
        )));
    }
    Ok(())
}

/// Checks every field of a request against the limits above.
pub fn check(req: &Request) -> ServiceResult<()> {
    match req {
        Request::Search { query, .. } => text("query", query, MAX_QUERY),
        Request::Open { .. } | Request::Interactions { .. } | Request::Overview => Ok(()),
        Request::LogInteraction(new) => {
            kind(&new.kind)?;
            channel(&new.channel)?;
            if let Some(t) = &new.touchpoint {
                text("touchpoint", t, MAX_TOUCHPOINT)?;
            }
            if let Some(t) = &new.text {
                text("text", t, MAX_TEXT)?;
            }
            if new.attributes.len() > 100 || new.amounts.len() > 20 {
                return Err(ServiceError::Invalid(
                    "at most 100 attributes and 20 amounts".into(),
                ));
            }
            for (n, v) in &new.attributes {
                text("attribute name", n, MAX_KEY)?;
                match v {
                    rapport_core::AttrValue::Text(t) => {
                        text(&format!("attribute {n}"), t, MAX_TEXT)?
                    }
                    rapport_core::AttrValue::Money(m) => money(m)?,
                    _ => {}
                }
            }
            new.amounts.iter().try_for_each(|a| money(&a.money))
        }
        Request::RecordPreference {
            topic,
            value,
            channel: c,
            ..
        } => {
            text("topic", topic, MAX_KEY)?;
            text("value", value, MAX_VALUE)?;
            channel(c)
        }
        Request::Entitlement(r) | Request::Grant(r) => {
            text("disruption", &r.disruption, MAX_DISRUPTION)?;
            text("touchpoint", &r.touchpoint, MAX_TOUCHPOINT)
        }
        Request::List { name, .. } => text("list name", name, MAX_KEY),
        Request::Subscribe { watch, .. } | Request::SetWatch { watch, .. } => match watch {
            Watch::Customers(ids) if ids.len() > MAX_WATCHED => Err(ServiceError::Invalid(
                format!("a subscription watches at most {MAX_WATCHED} customers"),
            )),
            _ => Ok(()),
        },
        Request::Unsubscribe { .. } | Request::ListOperators => Ok(()),
        Request::AddOperator { name, password, .. } => {
            text("operator name", name, 40)?;
            text("password", password, MAX_PASSWORD)
        }
        Request::SetPassword { name, password } => {
            text("operator name", name, 40)?;
            text("password", password, MAX_PASSWORD)
        }
        Request::DisableOperator { name } => text("operator name", name, 40),
        Request::Assess { .. } | Request::AssessmentHistory => Ok(()),
        Request::Disruptions { .. } => Ok(()),
        Request::Flight { disruption } => text("disruption", disruption, MAX_DISRUPTION),
        Request::GrantFlight {
            disruption,
            touchpoint,
        } => {
            text("disruption", disruption, MAX_DISRUPTION)?;
            text("touchpoint", touchpoint, MAX_TOUCHPOINT)
        }
        Request::DeclareDisruption(d) => {
            text("disruption", &d.disruption, MAX_DISRUPTION)?;
            if let Some(c) = &d.cause {
                text("cause", c, MAX_VALUE)?;
            }
            text("reason", &d.reason, MAX_TEXT)?;
            if d.customers.len() > MAX_WATCHED {
                return Err(ServiceError::Invalid(format!(
                    "a declared disruption names at most {MAX_WATCHED} customers"
                )));
            }
            Ok(())
        }
        Request::SubmitAnswers(answers) => {
            if answers.respondents.len() > MAX_RESPONDENTS {
                return Err(ServiceError::Invalid(format!(
                    "at most {MAX_RESPONDENTS} respondents in one submission"
                )));
            }
            for (n, r) in &answers.respondents {
                text("respondent name", n, MAX_KEY)?;
                text("respondent name", &r.name, MAX_KEY)?;
                if r.answers.len() > 1_000 {
                    return Err(ServiceError::Invalid(
                        "at most 1000 answers per respondent".into(),
                    ));
                }
                r.answers
                    .keys()
                    .try_for_each(|q| text("question id", q, MAX_KEY))?;
            }
            Ok(())
        }
        Request::Data(d) => crate::data::check(d),
        Request::Relationship(r) => crate::relationship::check(r),
        Request::Learning(l) => crate::learning::check(l),
        Request::Governance(g) => crate::governance_ops::check(g),
        Request::Backup { path, .. } => {
            if path.len() > crate::backup::MAX_PATH {
                return Err(ServiceError::Invalid(format!(
                    "the backup path is longer than {} bytes",
                    crate::backup::MAX_PATH
                )));
            }
            Ok(())
        }
    }
}

/// The mark that ends a value clipped for display.
pub const CLIPPED: &str = "… [clipped]";

/// `s` cut to `max` characters with [`CLIPPED`] when longer.
fn clip(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    if let Some((at, _)) = s.char_indices().nth(max) {
        s.truncate(at);
        s.push_str(CLIPPED);
    }
}

/// Clips the oversized values of an interaction for display (kind and channel names to
/// [`MAX_NAME`], text to [`MAX_TEXT`], touchpoint, division and employee to
/// [`MAX_TOUCHPOINT`]), each ending with [`CLIPPED`].
pub fn clip_interaction(i: &mut Interaction) {
    if let InteractionKind::Other(s) = &mut i.kind {
        clip(s, MAX_NAME);
    }
    if let Channel::Other(s) = &mut i.channel {
        clip(s, MAX_NAME);
    }
    for s in [&mut i.touchpoint, &mut i.division, &mut i.employee]
        .into_iter()
        .flatten()
    {
        clip(s, MAX_TOUCHPOINT);
    }
    if let Some(t) = &mut i.text {
        clip(t, MAX_TEXT);
    }
    for v in i.attributes.values_mut() {
        if let rapport_core::AttrValue::Text(t) = v {
            clip(t, MAX_TEXT);
        }
    }
}

/// Clips the interactions of a record (see [`clip_interaction`]).
pub fn clip_record(r: &mut CustomerRecord) {
    r.interactions.iter_mut().for_each(clip_interaction);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::{CustomerId, InteractionId, Timestamp};

    #[test]
    fn oversized_values_are_clipped_with_a_mark() {
        let mut i = Interaction::new(
            InteractionId(1),
            CustomerId(1),
            Timestamp::from_secs(0),
            Channel::Other("c".repeat(3_000_000)),
            InteractionKind::Other("k".repeat(3_000_000)),
        );
        i.text = Some("é".repeat(10_000));
        clip_interaction(&mut i);
        assert_eq!(
            i.kind.to_string(),
            format!("{}{CLIPPED}", "k".repeat(MAX_NAME))
        );
        assert!(i.channel.to_string().ends_with(CLIPPED));
        let t = i.text.unwrap();
        assert_eq!(t.chars().count(), MAX_TEXT + CLIPPED.chars().count());
    }

    #[test]
    fn a_3_mb_kind_is_refused_naming_the_field() {
        let new = crate::api::NewInteraction {
            customer: CustomerId(1),
            kind: InteractionKind::Other("k".repeat(3_000_000)),
            channel: Channel::Web,
            touchpoint: None,
            phase: None,
            text: None,
            attributes: Default::default(),
            amounts: vec![],
        };
        let e = check(&Request::LogInteraction(new.clone())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid request: interaction kind is longer than 40 characters"
        );
        let mut odd = new;
        odd.kind = InteractionKind::Other("\u{202e}evil".into());
        assert!(check(&Request::LogInteraction(odd)).is_err());
    }
}
