use rapport_core::{CustomerId, Date, PartyKind, SourceRef, Timestamp};

use super::*;
use crate::fragment::Address;

fn person(key: &str, given: &str, family: &str, birth: Option<(i16, u8, u8)>) -> Fragment {
    Fragment {
        source: SourceRef::new("crm", key),
        kind: PartyKind::Person,
        observed_at: Timestamp::EPOCH,
        given_name: Some(given.to_owned()),
        family_name: Some(family.to_owned()),
        full_name: None,
        birth_date: birth.and_then(|(y, m, d)| Date::new(y, m, d)),
        emails: vec![],
        phones: vec![],
        addresses: vec![],
        loyalty_number: None,
        loyalty_status: None,
        national_id: None,
        cross_refs: vec![],
        relations: vec![],
        extra: Default::default(),
    }
}

fn at(mut f: Fragment, number: &str, street: &str, locality: &str, postcode: &str) -> Fragment {
    f.addresses.push(Address {
        street_number: Some(number.to_owned()),
        street: Some(street.to_owned()),
        locality: Some(locality.to_owned()),
        postcode: Some(postcode.to_owned()),
        ..Address::default()
    });
    f
}

fn decide(incoming: &Fragment, known: &[(u64, &Fragment)]) -> Decision {
    let candidates: Vec<(CustomerId, Vec<Fragment>)> = known
        .iter()
        .map(|(id, f)| (CustomerId(*id), vec![(*f).clone()]))
        .collect();
    Resolver::new(MatchConfig::default()).decide(incoming, &candidates)
}

fn attached_to(d: &Decision) -> Option<CustomerId> {
    match d {
        Decision::Attach { customer, .. } => Some(*customer),
        _ => None,
    }
}

#[test]
fn typo_and_nickname_with_same_birth_date_attach() {
    let known = person("1", "Robert", "Smith", Some((1980, 3, 7)));
    let incoming = person("2", "bob", "Smyth", Some((1980, 3, 7)));
    let d = decide(&incoming, &[(1, &known)]);
    assert_eq!(attached_to(&d), Some(CustomerId(1)), "{d:?}");
}

#[test]
fn a_move_is_the_same_customer() {
    let known = at(
        person("1", "Anna", "Berg", Some((1975, 11, 2))),
        "12",
        "Elm Street",
        "Springfield",
        "4000",
    );
    let moved = at(
        person("2", "Anna", "Berg", Some((1975, 11, 2))),
        "8",
        "Harbour Road",
        "Shelbyville",
        "5200",
    );
    let d = decide(&moved, &[(7, &known)]);
    assert_eq!(attached_to(&d), Some(CustomerId(7)), "{d:?}");
    if let Decision::Attach { evidence, .. } = d {
        let addr = evidence
            .fields
            .iter()
            .find(|f| f.field == Field::Address)
            .expect("address compared");
        assert!(!addr.agreed);
        assert!(evidence.agreed().any(|f| f.field == Field::BirthDate));
    }
}

#[test]
fn spouses_at_the_same_address_are_not_merged() {
    let a = at(
        person("1", "Maria", "Keller", Some((1970, 1, 5))),
        "3",
        "Lake Road",
        "Dapto",
        "2530",
    );
    let b = at(
        person("2", "Thomas", "Keller", Some((1968, 9, 21))),
        "3",
        "Lake Road",
        "Dapto",
        "2530",
    );
    assert!(attached_to(&decide(&b, &[(1, &a)])).is_none());
}

#[test]
fn different_people_stay_apart() {
    let a = person("1", "Olivia", "White", Some((1990, 6, 1)));
    let b = person("2", "George", "Hobson", Some((1955, 2, 14)));
    assert_eq!(decide(&b, &[(1, &a)]), Decision::New);
}

#[test]
fn swapped_names_and_swapped_day_month_still_match() {
    let a = at(
        person("1", "petreece", "lusted", Some((1995, 6, 10))),
        "78",
        "baseby place",
        "east branxton",
        "6214",
    );
    let b = at(
        person("2", "lusted", "petreece", Some((1995, 10, 6))),
        "78",
        "baseby place",
        "east branxton",
        "6214",
    );
    let d = decide(&b, &[(1, &a)]);
    assert_eq!(attached_to(&d), Some(CustomerId(1)), "{d:?}");
}

#[test]
fn name_only_agreement_attaches_only_when_unique_and_uncontradicted() {
    let a = person("1", "John", "Smith", None);
    let b = person("2", "John", "Smith", None);
    assert_eq!(attached_to(&decide(&b, &[(1, &a)])), Some(CustomerId(1)));
    // Two customers of that name: a person decides.
    let c = person("3", "John", "Smith", None);
    assert!(matches!(
        decide(&b, &[(1, &a), (3, &c)]),
        Decision::Review { .. }
    ));
    // A contradicting e-mail: a person decides.
    let mut d = person("4", "John", "Smith", None);
    d.emails.push("john@one.example".into());
    let mut e = person("5", "John", "Smith", None);
    e.emails.push("john@two.example".into());
    assert!(matches!(decide(&e, &[(4, &d)]), Decision::Review { .. }));
}

#[test]
fn particles_and_one_word_display_names_are_read_as_people_write_them() {
    let mut a = person("1", "S. van den", "Berg", None);
    a.phones.push("+447151206360".into());
    let mut b = person("2", "Sarah", "van den Berg", Some((1980, 2, 3)));
    b.phones.push("+447151206360".into());
    assert_eq!(attached_to(&decide(&a, &[(1, &b)])), Some(CustomerId(1)));
    let mut web = person("3", "", "", None);
    web.given_name = None;
    web.family_name = Some("William".into());
    web.full_name = Some("William".into());
    web.emails.push("w.g@example.com".into());
    let mut known = person("4", "William", "Gonzalez", None);
    known.emails.push("w.g@example.com".into());
    assert_eq!(
        attached_to(&decide(&web, &[(4, &known)])),
        Some(CustomerId(4))
    );
}

#[test]
fn loyalty_number_and_cross_reference_are_deterministic() {
    let mut a = person("1", "Jo", "Park", None);
    a.loyalty_number = Some("M 123-456".into());
    let mut b = person("2", "Joanne", "Park-Lee", None);
    b.loyalty_number = Some("m123456".into());
    let d = decide(&b, &[(3, &a)]);
    assert_eq!(attached_to(&d), Some(CustomerId(3)));
    let mut c = person("3", "J", "P", None);
    c.cross_refs.push(SourceRef::new("crm", "1"));
    let d = decide(&c, &[(3, &a)]);
    assert_eq!(attached_to(&d), Some(CustomerId(3)));
}

#[test]
fn kept_apart_records_are_never_attached() {
    let a = person("1", "Ann", "Lee", Some((1980, 1, 1)));
    let b = person("2", "Ann", "Lee", Some((1980, 1, 1)));
    let mut config = MatchConfig::default();
    config.keep_apart(b.source.clone(), a.source.clone());
    let d = Resolver::new(config).decide(&b, &[(CustomerId(1), vec![a])]);
    assert_eq!(d, Decision::New);
}

#[test]
fn best_candidate_wins_and_others_are_listed() {
    let a = person("1", "Ann", "Lee", Some((1980, 1, 1)));
    let b = person("2", "Anne", "Lee", Some((1980, 1, 1)));
    let c = person("3", "Ann", "Lee", Some((1980, 1, 1)));
    let d = decide(&c, &[(1, &b), (2, &a)]);
    match d {
        Decision::Attach { customer, evidence } => {
            assert_eq!(customer, CustomerId(2));
            assert_eq!(evidence.others.len(), 1);
            assert_eq!(evidence.others[0].0, CustomerId(1));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn keys_block_swapped_names_together() {
    let r = Resolver::new(MatchConfig::default());
    let a = at(
        person("1", "Sarah", "Bruhn", Some((1930, 2, 13))),
        "44",
        "forbes street",
        "kellerberrin",
        "4510",
    );
    let b = person("2", "Bruhn", "Sarah", None);
    let ka = r.keys(&a);
    let kb = r.keys(&b);
    let shared: Vec<_> = ka.iter().filter(|k| kb.contains(k)).collect();
    assert!(shared.iter().any(|k| k.kind == IndexKind::NamePhonetic));
    assert!(
        ka.iter()
            .any(|k| k.kind == IndexKind::BirthDate && k.value == "1930-02-13")
    );
    assert!(
        ka.iter()
            .any(|k| k.kind == IndexKind::Postcode && k.value == "4510|#44")
    );
    assert!(
        ka.iter()
            .any(|k| k.kind == IndexKind::SourceRef && k.value == "crm:1")
    );
}

#[test]
fn evidence_round_trips_through_json() {
    let r = Resolver::new(MatchConfig::default());
    let a = person("1", "Ann", "Lee", Some((1980, 1, 1)));
    let b = person("2", "Anne", "Lee", Some((1980, 1, 1)));
    let e = r.evidence(&a, &b);
    let json = serde_json::to_string(&e).expect("serialise");
    let back: Evidence = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, e);
    assert!(e.to_string().contains("birth_date"));
}

#[test]
fn em_learns_higher_m_for_agreement_than_disagreement() {
    let mut frags = Vec::new();
    for i in 0..40u8 {
        let given = ["ann", "bob", "cara", "dan", "eve"][usize::from(i % 5)];
        let fam = format!("fam{i}");
        frags.push(person(
            &format!("a{i}"),
            given,
            &fam,
            Some((1950 + i16::from(i), 1, 2)),
        ));
        frags.push(person(
            &format!("b{i}"),
            given,
            &fam,
            Some((1950 + i16::from(i), 1, 2)),
        ));
    }
    let r = Resolver::new(MatchConfig::default());
    let patterns = em::candidate_patterns(&r, &frags);
    assert!(!patterns.is_empty());
    let est = em::estimate(&MatchConfig::default(), &patterns, 50);
    let birth = est
        .config
        .fields
        .iter()
        .find(|m| m.field == Field::BirthDate)
        .expect("birth model");
    assert!(birth.levels[0].m > birth.levels[3].m);
    assert!(est.match_share > 0.0 && est.match_share < 1.0);
}

fn decide_prepared(me: &Prepared, known: &[(u64, &Fragment)]) -> Decision {
    let candidates: Vec<(CustomerId, Vec<std::sync::Arc<Prepared>>)> = known
        .iter()
        .map(|(id, f)| (CustomerId(*id), vec![std::sync::Arc::new(Prepared::new(f))]))
        .collect();
    Resolver::new(MatchConfig::default()).decide_prepared(me, &candidates)
}

#[test]
fn an_address_many_customers_share_weighs_less() {
    let mut known = at(
        person("1", "Mary", "Garcia", None),
        "21",
        "Storgatan",
        "Stockholm",
        "18584",
    );
    known.emails.push("mgarcia@example.org".into());
    let mut incoming = at(
        person("2", "Mary", "Garcia", None),
        "109",
        "Paseo del Prado",
        "Madrid",
        "28075",
    );
    incoming.emails.push("mgarcia@example.org".into());
    // Held by the candidate alone: the shared address attaches despite the other street.
    let alone = Prepared::new(&incoming);
    assert_eq!(
        attached_to(&decide_prepared(&alone, &[(1, &known)])),
        Some(CustomerId(1))
    );
    // Held by 200 customers (a generic or agency address), of a name 40 customers bear: the
    // same pair is not attached.
    let mut crowded = Prepared::new(&incoming);
    crowded.email_holders = vec![200];
    crowded.namesakes = 40;
    let d = decide_prepared(&crowded, &[(1, &known)]);
    assert_eq!(attached_to(&d), None, "{d:?}");
    let r = Resolver::new(MatchConfig::default());
    let full = r.score(&alone, &Prepared::new(&known));
    let ev = r.score(&crowded, &Prepared::new(&known));
    let email = |e: &Evidence| {
        e.fields
            .iter()
            .find(|f| f.field == Field::Email)
            .unwrap()
            .weight
    };
    assert!(
        (email(&full) - email(&ev) - 200f64.log2()).abs() < 1e-9,
        "{ev}"
    );
    assert!(ev.to_string().contains("200 customers share it"), "{ev}");
}

#[test]
fn names_alone_do_not_attach_when_another_customer_bears_the_name() {
    let a = person("1", "John", "Smith", None);
    let b = person("2", "John", "Smith", None);
    let mut me = Prepared::new(&b);
    me.namesakes = 1;
    assert_eq!(
        attached_to(&decide_prepared(&me, &[(1, &a)])),
        Some(CustomerId(1))
    );
    // A second John Smith exists, though not among the candidates (another town's block).
    me.namesakes = 2;
    assert!(matches!(
        decide_prepared(&me, &[(1, &a)]),
        Decision::Review { .. }
    ));
    // Many namesakes: the names weigh 6 bits less.
    let c = at(
        person("3", "John", "Smith", None),
        "1",
        "High Street",
        "London",
        "SW8 3PF",
    );
    let d = at(
        person("4", "John", "Smith", None),
        "9",
        "Mill Lane",
        "London",
        "SW8 1AA",
    );
    let r = Resolver::new(MatchConfig::default());
    let plain = r.score(&Prepared::new(&d), &Prepared::new(&c));
    let mut common = Prepared::new(&d);
    common.namesakes = 64;
    let adjusted = r.score(&common, &Prepared::new(&c));
    assert!(
        (plain.score - adjusted.score - 6.0).abs() < 1e-9,
        "{plain} vs {adjusted}"
    );
    assert!(
        adjusted.to_string().contains("64 customers share it"),
        "{adjusted}"
    );
}

#[test]
fn term_frequency_adjustment_keeps_an_agreement_an_agreement() {
    assert_eq!(tf_adjusted(15.6, 1), 15.6);
    assert!((tf_adjusted(15.6, 4) - 13.6).abs() < 1e-12);
    assert_eq!(tf_adjusted(3.0, 1 << 20), 0.5);
    assert_eq!(tf_adjusted(-2.0, 100), -2.0);
}
