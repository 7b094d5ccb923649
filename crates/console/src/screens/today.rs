//! The "today" panel for the gate and the phone: the customer's current trip (the flight
//! within about a day of now), seat, gate, bag tags and booking, and the disruptions of the
//! last two days, read from the record's newest history rows.

use rapport_core::{Interaction, InteractionKind, Timestamp};

use crate::fmt::{ago, clean};

const HOUR: i64 = 3_600_000;
/// A flight counts as today's when it is this close to now.
const WINDOW: i64 = 24 * HOUR;
/// Disruptions listed on the panel happened this recently.
const RECENT: i64 = 48 * HOUR;

/// What the panel shows (every text sanitised).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Today {
    /// Flight number, e.g. `RP125`.
    pub flight: String,
    /// The flight's date as the source gives it.
    pub date: Option<String>,
    /// `ARN-CPH`.
    pub route: Option<String>,
    /// Seat.
    pub seat: Option<String>,
    /// Gate (the `gate` attribute, else the touchpoint of the flight's airport rows).
    pub gate: Option<String>,
    /// Bag tags of this trip.
    pub bags: Vec<String>,
    /// Booking reference.
    pub booking: Option<String>,
    /// Recent disruptions, newest first, e.g. `delay 14 h on RP123, 20 h ago`.
    pub disruptions: Vec<String>,
}

fn text(i: &Interaction, key: &str) -> Option<String> {
    i.attr_text(key)
        .map(|s| clean(s.trim()))
        .filter(|s| !s.is_empty())
}

/// The panel for `history` (newest first) at `now`, or `None` when no flight is near.
pub fn today(history: &[Interaction], now: Timestamp) -> Option<Today> {
    let age = |i: &Interaction| (now.as_millis() - i.at.as_millis()).abs();
    let day = crate::fmt::date(now);
    // Today's flight: a row dated today wins, else the flight row nearest to now; a
    // disruption alone does not make a trip (yesterday's delay is not today's flight).
    let flight_row = history
        .iter()
        .filter(|i| !i.kind.is_disruption() && i.attr_text("flight").is_some())
        .filter(|i| age(i) <= WINDOW || i.attr_text("flight_date") == Some(day.as_str()))
        .min_by_key(|i| (i.attr_text("flight_date") != Some(day.as_str()), age(i)))?;
    let flight = text(flight_row, "flight")?;
    let booking = text(flight_row, "booking_ref");
    let same_trip = |i: &Interaction| {
        age(i) <= 2 * WINDOW
            && (i.attr_text("flight").map(str::trim) == Some(flight.as_str())
                || booking.is_some() && text(i, "booking_ref") == booking)
    };
    let mut t = Today {
        flight: flight.clone(),
        booking: booking.clone(),
        ..Today::default()
    };
    for i in history.iter().filter(|i| same_trip(i)) {
        t.date = t.date.take().or_else(|| text(i, "flight_date"));
        if t.route.is_none()
            && let (Some(o), Some(d)) = (text(i, "origin"), text(i, "destination"))
        {
            t.route = Some(format!("{o}-{d}"));
        }
        t.seat = t.seat.take().or_else(|| text(i, "seat"));
        t.gate = t.gate.take().or_else(|| text(i, "gate")).or_else(|| {
            // Airport rows carry the gate as their touchpoint.
            (i.channel.as_str() == "airport" || i.channel.as_str() == "gate")
                .then(|| i.touchpoint.as_deref().map(clean))
                .flatten()
                .filter(|g| !g.is_empty())
        });
        if let Some(tag) = text(i, "bag_tag")
            && !t.bags.contains(&tag)
            && i.kind != InteractionKind::BagLost
        {
            t.bags.push(tag);
        }
    }
    for i in history.iter().filter(|i| {
        i.kind.is_disruption() && (0..=RECENT).contains(&(now.as_millis() - i.at.as_millis()))
    }) {
        let what = match (&i.kind, i.attr_int("delay_minutes")) {
            (InteractionKind::Delay, Some(m)) if m >= 60 && m % 60 == 0 => {
                format!("delay {} h", m / 60)
            }
            (InteractionKind::Delay, Some(m)) => format!("delay {m} min"),
            (k, _) => k.as_str().replace('_', " "),
        };
        let on = text(i, "flight")
            .map(|f| format!(" on {f}"))
            .unwrap_or_default();
        t.disruptions
            .push(format!("{what}{on}, {}", ago(now, i.at)));
    }
    Some(t)
}

impl Today {
    /// The panel as label/value pairs, in reading order.
    pub fn parts(&self) -> Vec<(&'static str, String)> {
        let mut flight = self.flight.clone();
        if let Some(d) = &self.date {
            flight.push(' ');
            flight.push_str(d);
        }
        if let Some(r) = &self.route {
            flight.push(' ');
            flight.push_str(r);
        }
        let mut out = vec![("Today", flight)];
        if let Some(s) = &self.seat {
            out.push(("seat", s.clone()));
        }
        if let Some(g) = &self.gate {
            out.push(("gate", g.clone()));
        }
        if !self.bags.is_empty() {
            out.push(("bags", self.bags.join(" ")));
        }
        if let Some(b) = &self.booking {
            out.push(("booking", b.clone()));
        }
        if !self.disruptions.is_empty() {
            out.push(("disrupted", self.disruptions.join("; ")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::{AttrValue, Channel, CustomerId, InteractionId};

    fn row(hours_ago: i64, kind: InteractionKind, attrs: &[(&str, &str)]) -> Interaction {
        let now = Timestamp::parse_rfc3339("2026-11-23T10:00:00Z").unwrap();
        let mut i = Interaction::new(
            InteractionId(hours_ago as u64),
            CustomerId(1),
            now.plus_millis(-hours_ago * HOUR),
            Channel::Airport,
            kind,
        );
        for (k, v) in attrs {
            i.attributes
                .insert((*k).into(), AttrValue::Text((*v).into()));
        }
        i
    }

    #[test]
    fn todays_flight_not_yesterdays_delay() {
        let now = Timestamp::parse_rfc3339("2026-11-23T10:00:00Z").unwrap();
        let mut checkin = row(
            1,
            InteractionKind::Other("check_in".into()),
            &[
                ("flight", "RP125"),
                ("seat", "14C"),
                ("bag_tag", "RP1"),
                ("flight_date", "2026-11-23"),
            ],
        );
        checkin.touchpoint = Some("B7".into());
        let mut delay = row(20, InteractionKind::Delay, &[("flight", "RP123")]);
        delay
            .attributes
            .insert("delay_minutes".into(), AttrValue::Int(840));
        let flown = row(
            21,
            InteractionKind::FlightFlown,
            &[("flight", "RP123"), ("seat", "2A")],
        );
        let t = today(&[checkin, delay, flown], now).unwrap();
        assert_eq!(t.flight, "RP125");
        assert_eq!(t.seat.as_deref(), Some("14C"));
        assert_eq!(t.gate.as_deref(), Some("B7"));
        assert_eq!(t.bags, vec!["RP1".to_string()]);
        assert_eq!(t.disruptions.len(), 1);
        assert!(
            t.disruptions[0].starts_with("delay 14 h on RP123"),
            "{:?}",
            t.disruptions
        );
        // Nothing near: no panel.
        let old = row(24 * 30, InteractionKind::FlightFlown, &[("flight", "RP1")]);
        assert_eq!(today(&[old], now), None);
    }
}
