//! The demo world's apology experiment (`APOLOGY-2025`), run outside the product, declared
//! from its source contacts and analysed: the committed world is ingested, every customer's
//! `campaign_contact` / `campaign_holdout` interaction of the campaign gives its arm and the
//! time of assignment, its bookings (distinct booking references of its `booking`
//! interactions) give the outcome over the year after, and the statistics come from
//! `rapport_analytics::analyse_experiment`. The numbers are checked against the same
//! computation from the ground truth (`truth/experiment.csv`: one row per participant with
//! `bookings_365d`, the trips booked in the 365 days after the day of assignment).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rapport_analytics::{AnalysisConfig, ArmOutcomes, Direction, analyse_experiment};
use rapport_core::{CustomerId, InteractionKind, Timestamp};
use rapport_governance::campaign::{
    ContactEvent, EventKind, ListResult, by_list_size, list_results,
};
use rapport_governance::experiment::{
    Booking, DeclaredRow, DefinitionError, ExperimentDraft, ExperimentStatus, OutcomeKind, declare,
    measure,
};
use rapport_repository::ingest::{IngestOptions, ingest_manifest};
use rapport_store::Store;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo")
}

const ARMS: [&str; 4] = ["control", "letter", "letter_coupon", "letter_lounge"];

/// One participant in the ground truth.
struct Truth {
    arm: String,
    bookings: u64,
}

/// `truth/experiment.csv` by entity.
fn truth() -> BTreeMap<String, Truth> {
    let mut r = csv::Reader::from_path(demo().join("truth/experiment.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    let (entity, arm, bookings) = (col("entity_id"), col("arm"), col("bookings_365d"));
    r.records()
        .map(|x| {
            let x = x.unwrap();
            let t = Truth {
                arm: x[arm].to_owned(),
                bookings: x[bookings].parse().unwrap(),
            };
            (x[entity].to_owned(), t)
        })
        .collect()
}

/// The truth's entity of every marketing contact id (`truth/identities.csv`).
fn marketing_entities() -> BTreeMap<String, String> {
    let mut ids = csv::Reader::from_path(demo().join("truth/identities.csv")).unwrap();
    ids.records()
        .map(|x| x.unwrap())
        .filter(|x| &x[0] == "marketing")
        .map(|x| (x[2].to_owned(), x[3].to_owned()))
        .collect()
}

/// Ingests the committed demo world into a fresh store.
fn ingest(dir: &Path) -> Store {
    let store = Store::open(&dir.join("db")).unwrap();
    let report = ingest_manifest(
        &store,
        &demo().join("ingest.toml"),
        &IngestOptions {
            now: Timestamp::parse_rfc3339("2026-11-23T22:00:00Z"),
            ..IngestOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        report.rows_read,
        report.rows_stored + report.rows_quarantined + report.rows_known
    );
    store
}

#[test]
fn the_apology_experiment_declared_from_its_contacts_recommends_the_letter_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = ingest(dir.path());

    // Declared from the source contacts: one row per contact or hold-out of the campaign.
    let mut rows = Vec::new();
    let mut source_rows = Vec::new();
    let mut bookings: BTreeMap<CustomerId, BTreeMap<String, Timestamp>> = BTreeMap::new();
    for i in store.all_interactions() {
        let i = i.unwrap();
        match i.kind {
            // A hold-out row is an interaction of kind `campaign_holdout` (no built-in kind).
            InteractionKind::CampaignContact | InteractionKind::Other(_)
                if matches!(i.kind.as_str(), "campaign_contact" | "campaign_holdout")
                    && i.attr_text("campaign") == Some("APOLOGY-2025") =>
            {
                rows.push(DeclaredRow {
                    line: rows.len() + 1,
                    customer: i.customer,
                    arm: i.attr_text("list").unwrap().to_owned(),
                    at: i.at,
                });
                // An interaction's source reference is the source's customer key.
                source_rows.push(i.source.clone().unwrap().key);
            }
            InteractionKind::Booking => {
                if let Some(b) = i.attr_text("booking_ref") {
                    let t = bookings
                        .entry(i.customer)
                        .or_default()
                        .entry(b.to_owned())
                        .or_insert(i.at);
                    *t = (*t).min(i.at);
                }
            }
            _ => {}
        }
    }
    let def = ExperimentDraft {
        id: "APOLOGY-2025".into(),
        hypothesis: "an apology after an inconvenience brings passengers back".into(),
        population: "every passenger inconvenienced (delay of 30 minutes or more, cancellation, \
                     denied boarding, lost bag) in the window, assigned by customer relations"
            .into(),
        arms: vec![
            ("letter".into(), 2.0, None),
            ("letter_coupon".into(), 52.0, None),
            ("letter_lounge".into(), 37.0, None),
        ],
        control_share: 0.25,
        outcome: "rebooked".into(),
        window_days: 365,
        starts: rows.iter().map(|r| r.at).min().unwrap(),
        seed: 2025,
        // A customer who books again is worth a year's margin on an average trip (about a
        // third of a 450 EUR fare).
        value_per_unit: Some(150.0),
        minimum_effect: Some(0.25),
        ..ExperimentDraft::default()
    }
    .validate_declared()
    .unwrap();
    assert_eq!(def.outcome, OutcomeKind::Rebooked);
    let declaration = declare(&def, &rows).unwrap();
    let as_of = Timestamp::parse_rfc3339("2026-11-23T22:00:00Z").unwrap();
    assert!(matches!(
        def.status(&declaration.assignments, as_of),
        ExperimentStatus::Closed { .. }
    ));

    // Every declared row's participant in the truth, through its marketing contact id.
    let entity_of_row = marketing_entities();
    let truth = truth();
    let mut entities: BTreeMap<CustomerId, BTreeSet<&str>> = BTreeMap::new();
    for (r, key) in rows.iter().zip(&source_rows) {
        let e = entity_of_row
            .get(key)
            .unwrap_or_else(|| panic!("contact {key:?} not in the truth"))
            .as_str();
        assert_eq!(truth[e].arm, r.arm, "contact {key}: the arm of {e}");
        entities.entry(r.customer).or_default().insert(e);
    }
    // Every participant of the truth was declared.
    let declared: BTreeSet<&str> = entities.values().flatten().copied().collect();
    assert_eq!(declared.len(), truth.len());
    // Identity resolution merged two participants of different arms into one customer: the
    // declaration leaves that customer out and says so. Nothing else conflicts.
    let excluded: BTreeSet<&str> = declaration
        .conflicts
        .iter()
        .flat_map(|c| match c {
            DefinitionError::TwoArms { customer, .. } => entities[customer].iter().copied(),
            other => panic!("unexpected conflict {other}"),
        })
        .collect();
    assert!(
        declaration.conflicts.len() <= 2,
        "{:?}",
        declaration.conflicts
    );

    // Outcomes from the record, participant by participant against the truth.
    let mut values: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut count_def = def.clone();
    count_def.outcome = OutcomeKind::Bookings;
    let mut booking_mismatches = Vec::new();
    for a in &declaration.assignments {
        let arm = *ARMS.iter().find(|x| **x == a.arm).unwrap();
        let mine: Vec<Booking> = bookings
            .get(&a.customer)
            .map(|m| {
                m.values()
                    .map(|t| Booking {
                        at: *t,
                        revenue: 0.0,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let back = measure(&def, a.assigned_at, &mine);
        let count = measure(&count_def, a.assigned_at, &mine) as u64;
        let es = &entities[&a.customer];
        assert_eq!(es.len(), 1, "{}: one participant per customer", a.customer);
        let t = &truth[*es.first().unwrap()];
        assert_eq!(
            back,
            f64::from(u8::from(t.bookings > 0)),
            "{}: booked again",
            a.customer
        );
        if count != t.bookings {
            booking_mismatches.push((a.customer, count, t.bookings));
        }
        values.entry(arm).or_default().push(back);
    }
    // Bookings counted from the record agree with the truth but for a few customers whose
    // records hold another person's booking (a shared booking reference, a merge).
    assert!(booking_mismatches.len() <= 3, "{booking_mismatches:?}");

    let arms: Vec<ArmOutcomes> = def
        .arms
        .iter()
        .map(|a| {
            ArmOutcomes::new(
                &a.name,
                a.cost_per_customer,
                values[a.name.as_str()].clone(),
            )
        })
        .collect();
    let mut config = AnalysisConfig::new(0, Direction::HigherIsBetter);
    config.value_per_unit = def.value_per_unit;
    config.minimum_effect = def.minimum_effect;
    config.seed = def.seed;
    config.window_closed = true;
    let r = analyse_experiment(&arms, &config).unwrap();

    // The truth's numbers over the same participants (all but the excluded): per arm the
    // count and the share with bookings_365d > 0; the uplift and Welch's test computed here
    // by hand from those counts (a share's sample variance is p(1-p) n/(n-1)).
    let mut per_arm: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (e, t) in &truth {
        if !excluded.contains(e.as_str()) {
            let x = per_arm
                .entry(ARMS.iter().find(|a| **a == t.arm).unwrap())
                .or_default();
            x.0 += 1.0;
            x.1 += f64::from(u8::from(t.bookings > 0));
        }
    }
    let share = |arm: &str| per_arm[arm].1 / per_arm[arm].0;
    let var = |arm: &str| {
        let (n, p) = (per_arm[arm].0, share(arm));
        p * (1.0 - p) * n / (n - 1.0) / n
    };
    for (s, arm) in r.arms.iter().zip(ARMS) {
        assert_eq!(s.n as f64, per_arm[arm].0, "{arm}: participants");
        assert!((s.mean - share(arm)).abs() < 1e-12, "{arm}: share");
        let i = s.interval.unwrap();
        assert!(i.low < s.mean && s.mean < i.high);
    }
    for c in &r.comparisons {
        let uplift = share(&c.arm) - share("control");
        let t = uplift / (var(&c.arm) + var("control")).sqrt();
        assert!((c.uplift - uplift).abs() < 1e-12, "{}: uplift", c.arm);
        let w = c.welch.unwrap();
        assert!((w.t - t).abs() < 1e-9, "{}: t {} against {t}", c.arm, w.t);
        // Every arm above control, by Welch's test and by the bootstrap.
        assert!(
            c.better_than_control && w.p_value < 0.05,
            "{}: {w:?}",
            c.arm
        );
        let b = c.bootstrap.unwrap();
        assert!(b.interval.low > 0.0 && b.p_value < 0.05, "{}: {b:?}", c.arm);
    }
    // At 150 EUR a customer brought back, the letter pays for itself many times; the coupon
    // and the lounge pass cost more than they bring back more.
    let profit: Vec<f64> = r
        .comparisons
        .iter()
        .map(|c| c.incremental_profit_per_customer.unwrap())
        .collect();
    assert!(
        profit[0] > 20.0 && profit[0] > profit[1] && profit[0] > profit[2],
        "{profit:?}"
    );
    let rec = r.recommendation.as_ref().unwrap();
    assert_eq!(rec.arm, "letter", "{}", rec.reason);
    assert!(!r.preliminary);
}

#[test]
fn on_the_demo_world_short_scored_lists_beat_long_lists_on_response_rate() {
    let dir = tempfile::tempdir().unwrap();
    let store = ingest(dir.path());
    // The recorded contacts and responses of the marketing campaigns (not the experiment).
    let mut events = Vec::new();
    for i in store.all_interactions() {
        let i = i.unwrap();
        let kind = match i.kind {
            InteractionKind::CampaignContact => EventKind::Contact,
            InteractionKind::CampaignResponse => EventKind::Response,
            _ => continue,
        };
        let (Some(campaign), Some(list)) = (i.attr_text("campaign"), i.attr_text("list")) else {
            continue;
        };
        if campaign == "APOLOGY-2025" {
            continue;
        }
        events.push(ContactEvent {
            campaign: campaign.to_owned(),
            list: list.to_owned(),
            customer: i.customer,
            kind,
            revenue: 0.0,
        });
    }
    let results = list_results(&events, 1.0);
    let (short, long): (Vec<&ListResult>, Vec<&ListResult>) = results
        .iter()
        .partition(|r| r.list.starts_with("targeted-"));
    assert!(short.len() >= 4 && long.len() >= 4, "{results:?}");
    let rate = |lists: &[&ListResult]| {
        let c: usize = lists.iter().map(|r| r.contacted).sum();
        let k: usize = lists.iter().map(|r| r.responders).sum();
        k as f64 / c as f64
    };
    let max_short = short.iter().map(|r| r.contacted).max().unwrap();
    let min_long = long.iter().map(|r| r.contacted).min().unwrap();
    assert!(
        max_short * 5 < min_long,
        "short lists {max_short}, long {min_long}"
    );
    let (rs, rl) = (rate(&short), rate(&long));
    assert!(rs > 5.0 * rl, "short lists respond {rs:.3}, long {rl:.3}");
    // By list size: the smallest band responds best.
    let bands = by_list_size(&results);
    let first = bands.first().unwrap();
    let last = bands.last().unwrap();
    assert_eq!(first.band, "1-20");
    assert!(
        first.response_rate().unwrap() > 5.0 * last.response_rate().unwrap(),
        "{bands:?}"
    );
}
