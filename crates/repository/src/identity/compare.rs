//! Field comparisons: a fragment is prepared once (folded names, nickname forms, phonetic
//! codes, normalised addresses), then each pair of prepared fragments is compared field by
//! field into an agreement level. Levels are what the Fellegi-Sunter weights attach to.

use rapport_core::{Date, PartyKind, SourceRef};
use serde::{Deserialize, Serialize};

use super::names::{canonical_given, fold, fold_words, phonetic};
use crate::fragment::Fragment;
use crate::survivorship::NATIONAL_PHONES;

/// A field the resolver compares. Each has a fixed list of agreement levels, best first,
/// ending with the disagreement level (see [`Field::levels`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// Given name (persons), nicknames mapped to the full name.
    GivenName,
    /// Family name (persons).
    FamilyName,
    /// An organisation's or intermediary's name.
    OrganisationName,
    /// Date of birth.
    BirthDate,
    /// Postal address: street number, street, postcode and locality taken together, so that
    /// one shared address counts once, not four times.
    Address,
    /// E-mail addresses (any shared).
    Email,
    /// Phone numbers (any shared).
    Phone,
    /// Loyalty programme number.
    LoyaltyNumber,
    /// National identifier (only when a mapping includes one).
    NationalId,
}

impl Field {
    /// Every field, in the order evidence lists them.
    pub const ALL: [Field; 9] = [
        Field::GivenName,
        Field::FamilyName,
        Field::OrganisationName,
        Field::BirthDate,
        Field::Address,
        Field::Email,
        Field::Phone,
        Field::LoyaltyNumber,
        Field::NationalId,
    ];

    /// The names of the agreement levels, best first; the last one is disagreement.
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Field::GivenName | Field::FamilyName => {
                &["exact", "close", "similar", "initial", "different"]
            }
            Field::OrganisationName => &["exact", "close", "similar", "different"],
            Field::BirthDate => &[
                "exact",
                "day and month swapped",
                "one digit differs",
                "different",
            ],
            Field::Address => &["same address", "same street", "same area", "different"],
            Field::Email | Field::Phone | Field::LoyaltyNumber => &["shared", "different"],
            Field::NationalId => &["exact", "one typo", "different"],
        }
    }

    /// Whether the field is a name (given, family, organisation): agreement on names alone
    /// weighs less than on anything else.
    pub fn is_name(self) -> bool {
        matches!(
            self,
            Field::GivenName | Field::FamilyName | Field::OrganisationName
        )
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::OrganisationName => "organisation_name",
            Field::BirthDate => "birth_date",
            Field::Address => "address",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::LoyaltyNumber => "loyalty_number",
            Field::NationalId => "national_id",
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of comparing one field of two fragments.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Which field.
    pub field: Field,
    /// Index into [`Field::levels`]; `None` when either side lacks the value.
    pub level: Option<usize>,
    /// How the level was reached (e.g. `jaro-winkler 0.94`, `names swapped`).
    pub detail: String,
    /// This fragment's value, as compared.
    pub ours: Option<String>,
    /// The other fragment's value, as compared.
    pub theirs: Option<String>,
}

/// A fragment folded for comparison.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub source: SourceRef,
    /// The other sources' records this one names as the same party.
    pub cross_refs: Vec<SourceRef>,
    /// A hash of everything compared (all fields but `source`): two records of a customer
    /// with the same content score the same against any record, so one is compared.
    pub content: u64,
    pub kind: PartyKind,
    pub given: Option<String>,
    pub given_canon: Option<String>,
    pub family: Option<String>,
    pub org_name: Option<String>,
    pub birth: Option<Date>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub loyalty: Option<String>,
    pub national: Option<String>,
    pub addresses: Vec<PreparedAddress>,
    /// How many customers already hold each of `emails`, in the same order (empty when not
    /// known): an address many customers share tells them apart less (see
    /// [`crate::identity::Resolver`]'s term-frequency adjustment).
    pub email_holders: Vec<u32>,
    /// How many customers already hold each of `phones`, as `email_holders`.
    pub phone_holders: Vec<u32>,
    /// How many customers already bear this given and family name (0 when not known).
    pub namesakes: u32,
}

/// An address folded for comparison.
#[derive(Debug, Clone, Default, Hash)]
pub struct PreparedAddress {
    pub number: Option<String>,
    /// Street and further lines, folded, spaces removed.
    pub street: Option<String>,
    pub locality: Option<String>,
    pub postcode: Option<String>,
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Normalises an identifier (loyalty number, national id): letters and digits, upper case.
pub fn ident(s: &str) -> Option<String> {
    non_empty(
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_uppercase)
            .collect(),
    )
}

impl Prepared {
    /// Folds a fragment. A person with only a full name is split into given (first word) and
    /// family (last word) names.
    pub fn new(f: &Fragment) -> Prepared {
        let (mut given, mut family) = person_names(f);
        let mut org_name = None;
        if let Some(full) = &f.full_name {
            if f.kind == PartyKind::Person {
                let words = fold_words(full);
                if given.is_none() && family.is_none() && !words.is_empty() {
                    if words.len() == 1 {
                        given = Some(words[0].clone());
                    } else {
                        given = words.first().cloned();
                        family = words.last().cloned();
                    }
                }
            } else {
                org_name = non_empty(fold_words(full).join(" "));
            }
        }
        if f.kind != PartyKind::Person && org_name.is_none() {
            let joined: Vec<&str> = [f.given_name.as_deref(), f.family_name.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            org_name = non_empty(fold_words(&joined.join(" ")).join(" "));
        }
        let given_canon = given.as_deref().map(|g| canonical_given(g).to_owned());
        let addresses = f
            .addresses
            .iter()
            .map(|a| {
                let street = a.street.as_deref().map(fold).and_then(non_empty);
                let number = a.street_number.as_deref().map(fold).and_then(non_empty);
                // A street line with the house number in it (`3 High Street`,
                // `Hauptstrasse 12`): the number is compared as the number.
                let (number, street) = match (number, street) {
                    (None, Some(st)) if st.chars().any(|c| c.is_ascii_digit()) => {
                        let digits: String = st
                            .chars()
                            .skip_while(|c| !c.is_ascii_digit())
                            .take_while(char::is_ascii_digit)
                            .collect();
                        let letters: String = st.chars().filter(|c| !c.is_ascii_digit()).collect();
                        (non_empty(digits), non_empty(letters).or(Some(st)))
                    }
                    other => other,
                };
                (a, number, street)
            })
            .map(|(a, number, street)| PreparedAddress {
                number,
                street,
                locality: a.locality.as_deref().map(fold).and_then(non_empty),
                postcode: a.postcode.as_deref().and_then(ident),
            })
            .filter(|a| {
                a.number.is_some()
                    || a.street.is_some()
                    || a.locality.is_some()
                    || a.postcode.is_some()
            })
            .collect();
        let mut p = Prepared {
            source: f.source.clone(),
            cross_refs: f.cross_refs.clone(),
            content: 0,
            kind: f.kind,
            given,
            given_canon,
            family,
            org_name,
            birth: f.birth_date,
            emails: f.emails.iter().map(|e| e.trim().to_lowercase()).collect(),
            phones: phones_of(f),
            loyalty: f.loyalty_number.as_deref().and_then(ident),
            national: f.national_id.as_deref().and_then(ident),
            addresses,
            email_holders: Vec::new(),
            phone_holders: Vec::new(),
            namesakes: 0,
        };
        p.content = p.content_hash();
        p
    }

    fn content_hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.cross_refs.hash(&mut h);
        self.kind.hash(&mut h);
        self.given.hash(&mut h);
        self.given_canon.hash(&mut h);
        self.family.hash(&mut h);
        self.org_name.hash(&mut h);
        self.birth.hash(&mut h);
        self.emails.hash(&mut h);
        self.phones.hash(&mut h);
        self.loyalty.hash(&mut h);
        self.national.hash(&mut h);
        self.addresses.hash(&mut h);
        h.finish()
    }
}

/// Family-name particles a source may have left at the end of the given name when it split a
/// full name on the last space (`S. van den` + `Berg`).
const PARTICLES: [&str; 18] = [
    "van", "von", "den", "der", "de", "del", "della", "da", "di", "du", "dos", "das", "le", "la",
    "ten", "ter", "st", "bin",
];

/// Given and family names, folded. A name split from a one-word full name (`Margaret` as
/// a display name) is a given name; particles at the end of the given name belong to the
/// family name.
fn person_names(f: &Fragment) -> (Option<String>, Option<String>) {
    let one_word_full = f
        .full_name
        .as_deref()
        .is_some_and(|n| fold_words(n).len() == 1);
    if one_word_full && f.given_name.is_none() {
        let only = f.family_name.as_deref().or(f.full_name.as_deref());
        return (only.map(fold).and_then(non_empty), None);
    }
    let mut given_words: Vec<String> = f.given_name.as_deref().map(fold_words).unwrap_or_default();
    let mut moved: Vec<String> = Vec::new();
    while given_words.len() > 1
        && given_words
            .last()
            .is_some_and(|w| PARTICLES.contains(&w.as_str()))
    {
        if let Some(w) = given_words.pop() {
            moved.insert(0, w);
        }
    }
    let family = f.family_name.as_deref().map(fold).unwrap_or_default();
    let family = if moved.is_empty() {
        family
    } else {
        moved.concat() + &family
    };
    (non_empty(given_words.concat()), non_empty(family))
}

/// Compares two prepared fragments field by field, with the values compared and how each
/// level was reached (for evidence that is kept and shown).
pub fn compare(a: &Prepared, b: &Prepared) -> Vec<Observation> {
    compare_with(a, b, Explain::Full)
}

/// [`compare`]'s levels alone: the same fields and levels, without `detail`, `ours` and
/// `theirs` (empty and `None`). For scoring many candidates, of which one is explained.
pub fn compare_levels(a: &Prepared, b: &Prepared) -> Vec<Observation> {
    compare_with(a, b, Explain::Levels)
}

/// Whether a comparison writes out its explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Explain {
    Full,
    Levels,
}

impl Explain {
    /// The text when explaining, nothing otherwise.
    fn text(self, f: impl FnOnce() -> String) -> String {
        match self {
            Explain::Full => f(),
            Explain::Levels => String::new(),
        }
    }

    /// The value when explaining, nothing otherwise.
    fn value(self, f: impl FnOnce() -> Option<String>) -> Option<String> {
        match self {
            Explain::Full => f(),
            Explain::Levels => None,
        }
    }
}

fn compare_with(a: &Prepared, b: &Prepared, x: Explain) -> Vec<Observation> {
    let mut out = Vec::with_capacity(8);
    if a.kind == PartyKind::Person && b.kind == PartyKind::Person {
        compare_person_names(a, b, &mut out, x);
        out.push(compare_birth(a.birth, b.birth, x));
    } else {
        out.push(compare_org(a.org_name.as_deref(), b.org_name.as_deref(), x));
    }
    out.push(compare_addresses(&a.addresses, &b.addresses, x));
    out.push(compare_sets(Field::Email, &a.emails, &b.emails, x));
    out.push(compare_phones(&a.phones, &b.phones, x));
    out.push(compare_exact(
        Field::LoyaltyNumber,
        &a.loyalty,
        &b.loyalty,
        x,
    ));
    out.push(compare_national(&a.national, &b.national, x));
    out
}

/// Level of one name against another: 0 exact, 1 close, 2 similar, 3 initial, 4 different.
fn name_level(a: &str, a_canon: &str, b: &str, b_canon: &str) -> (usize, f64) {
    if a == b || a_canon == b_canon {
        return (0, 1.0);
    }
    let jw = strsim::jaro_winkler(a, b).max(strsim::jaro_winkler(a_canon, b_canon));
    if jw >= 0.92 {
        return (1, jw);
    }
    if jw >= 0.80 || phonetic(a) == phonetic(b) {
        return (2, jw);
    }
    let a1 = a.chars().next();
    if (a.chars().count() == 1 || b.chars().count() == 1) && a1 == b.chars().next() {
        return (3, jw);
    }
    (4, jw)
}

fn name_detail(level: usize, jw: f64) -> String {
    match level {
        0 => "same name".to_owned(),
        3 => "initial matches".to_owned(),
        _ => format!("jaro-winkler {jw:.2}"),
    }
}

/// A name comparison's level and Jaro-Winkler similarity; `None` when a side is missing.
type NameLevel = Option<(usize, f64)>;

fn compare_person_names(a: &Prepared, b: &Prepared, out: &mut Vec<Observation>, x: Explain) {
    fn given(x: &Prepared) -> Option<(&str, &str)> {
        x.given
            .as_deref()
            .map(|g| (g, x.given_canon.as_deref().unwrap_or(g)))
    }
    fn family(x: &Prepared) -> Option<(&str, &str)> {
        x.family.as_deref().map(|f| (f, f))
    }
    let lvl = |x: Option<(&str, &str)>, y: Option<(&str, &str)>| match (x, y) {
        (Some((x, xc)), Some((y, yc))) => Some(name_level(x, xc, y, yc)),
        _ => None,
    };
    let direct = (lvl(given(a), given(b)), lvl(family(a), family(b)));
    let swapped = (lvl(given(a), family(b)), lvl(family(a), given(b)));
    // A lower level sum is better; missing counts as neutral (2).
    let cost = |p: &(NameLevel, NameLevel)| p.0.map_or(2, |l| l.0) + p.1.map_or(2, |l| l.0);
    let use_swapped =
        swapped.0.is_some() && swapped.1.is_some() && cost(&swapped) + 1 < cost(&direct);
    let (g, f, note) = if use_swapped {
        (swapped.0, swapped.1, ", given and family names swapped")
    } else {
        (direct.0, direct.1, "")
    };
    out.push(Observation {
        field: Field::GivenName,
        level: g.map(|l| l.0),
        detail: x.text(|| g.map_or_else(|| "missing".to_owned(), |l| name_detail(l.0, l.1) + note)),
        ours: x.value(|| a.given.clone()),
        theirs: x.value(|| {
            if use_swapped {
                b.family.clone()
            } else {
                b.given.clone()
            }
        }),
    });
    out.push(Observation {
        field: Field::FamilyName,
        level: f.map(|l| l.0),
        detail: x.text(|| f.map_or_else(|| "missing".to_owned(), |l| name_detail(l.0, l.1) + note)),
        ours: x.value(|| a.family.clone()),
        theirs: x.value(|| {
            if use_swapped {
                b.given.clone()
            } else {
                b.family.clone()
            }
        }),
    });
}

fn compare_org(a: Option<&str>, b: Option<&str>, ex: Explain) -> Observation {
    let (level, detail) = match (a, b) {
        (Some(x), Some(y)) => {
            let sim = dice(&x.replace(' ', ""), &y.replace(' ', ""));
            let level = if x == y {
                0
            } else if sim >= 0.9 {
                1
            } else if sim >= 0.75 {
                2
            } else {
                3
            };
            (
                Some(level),
                ex.text(|| format!("bigram similarity {sim:.2}")),
            )
        }
        _ => (None, ex.text(|| "missing".to_owned())),
    };
    Observation {
        field: Field::OrganisationName,
        level,
        detail,
        ours: ex.value(|| a.map(str::to_owned)),
        theirs: ex.value(|| b.map(str::to_owned)),
    }
}

fn date_digits(d: Date) -> [u8; 8] {
    let s = format!("{:04}{:02}{:02}", d.year, d.month, d.day);
    let mut out = [0u8; 8];
    for (o, c) in out.iter_mut().zip(s.bytes()) {
        *o = c;
    }
    out
}

fn compare_birth(a: Option<Date>, b: Option<Date>, ex: Explain) -> Observation {
    let (level, detail) = match (a, b) {
        (Some(x), Some(y)) => {
            if x == y {
                (Some(0), ex.text(|| "same date".to_owned()))
            } else if x.year == y.year && x.month == y.day && x.day == y.month {
                (Some(1), ex.text(|| "day and month swapped".to_owned()))
            } else {
                let (dx, dy) = (date_digits(x), date_digits(y));
                let digit_diffs = dx.iter().zip(dy.iter()).filter(|(p, q)| p != q).count();
                let transposed_digits = digit_diffs == 2
                    && (0..7).any(|i| dx[i] != dy[i] && dx[i] == dy[i + 1] && dx[i + 1] == dy[i]);
                if digit_diffs == 1 || transposed_digits {
                    (Some(2), ex.text(|| format!("{digit_diffs} digits differ")))
                } else {
                    (Some(3), ex.text(|| "different dates".to_owned()))
                }
            }
        }
        _ => (None, ex.text(|| "missing".to_owned())),
    };
    Observation {
        field: Field::BirthDate,
        level,
        detail,
        ours: ex.value(|| a.map(|d| d.to_string())),
        theirs: ex.value(|| b.map(|d| d.to_string())),
    }
}

fn address_text(a: &PreparedAddress) -> String {
    let parts: Vec<&str> = [
        a.number.as_deref(),
        a.street.as_deref(),
        a.locality.as_deref(),
        a.postcode.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    parts.join(" ")
}

/// Level of two addresses: 0 same address, 1 same street, 2 same area, 3 different.
fn address_level(a: &PreparedAddress, b: &PreparedAddress, ex: Explain) -> (usize, String) {
    // Postcodes: 2 same, 1 one typo apart (a digit wrong or two swapped), 0 different.
    let postcode = match (&a.postcode, &b.postcode) {
        (Some(x), Some(y)) if x == y => Some(2u8),
        (Some(x), Some(y)) if strsim::osa_distance(x, y) <= 1 => Some(1),
        (Some(_), Some(_)) => Some(0),
        _ => None,
    };
    let locality = match (&a.locality, &b.locality) {
        (Some(x), Some(y)) => Some(x == y || strsim::jaro_winkler(x, y) >= 0.9),
        _ => None,
    };
    let street = match (&a.street, &b.street) {
        (Some(x), Some(y)) => Some(street_similarity(x, y)),
        _ => None,
    };
    let number = match (&a.number, &b.number) {
        (Some(x), Some(y)) => Some(x == y),
        _ => None,
    };
    let area = postcode == Some(2) || locality == Some(true);
    let area_conflict = (postcode.is_some_and(|p| p < 2) && locality == Some(false))
        || (postcode == Some(0) && locality.is_none());
    let street_same = street.is_some_and(|s| s >= 0.7);
    let detail = ex.text(|| {
        format!(
            "street {}, number {}, postcode {}, locality {}",
            street.map_or_else(|| "missing".to_owned(), |s| format!("{s:.2}")),
            yes_no(number),
            match postcode {
                Some(2) => "same",
                Some(1) => "one typo",
                Some(_) => "differs",
                None => "missing",
            },
            yes_no(locality),
        )
    });
    let level = if street_same
        && !area_conflict
        && number != Some(false)
        && (area || postcode == Some(1) || number == Some(true))
    {
        0
    } else if street_same && (!area_conflict || number == Some(true)) {
        1
    } else if area || (street_same && !area_conflict) {
        2
    } else {
        3
    };
    (level, detail)
}

fn yes_no(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "same",
        Some(false) => "differs",
        None => "missing",
    }
}

fn compare_addresses(a: &[PreparedAddress], b: &[PreparedAddress], ex: Explain) -> Observation {
    let mut best: Option<(usize, String, &PreparedAddress, &PreparedAddress)> = None;
    for x in a {
        for y in b {
            let (level, detail) = address_level(x, y, ex);
            if best.as_ref().is_none_or(|b| level < b.0) {
                best = Some((level, detail, x, y));
            }
        }
    }
    match best {
        Some((level, detail, ours, theirs)) => Observation {
            field: Field::Address,
            level: Some(level),
            detail,
            ours: ex.value(|| Some(address_text(ours))),
            theirs: ex.value(|| Some(address_text(theirs))),
        },
        None => Observation {
            field: Field::Address,
            level: None,
            detail: ex.text(|| "missing".to_owned()),
            ours: ex.value(|| a.first().map(address_text)),
            theirs: ex.value(|| b.first().map(address_text)),
        },
    }
}

fn compare_sets(field: Field, a: &[String], b: &[String], ex: Explain) -> Observation {
    if a.is_empty() || b.is_empty() {
        return Observation {
            field,
            level: None,
            detail: ex.text(|| "missing".to_owned()),
            ours: ex.value(|| a.first().cloned()),
            theirs: ex.value(|| b.first().cloned()),
        };
    }
    match a.iter().find(|x| b.contains(x)) {
        Some(shared) => Observation {
            field,
            level: Some(0),
            detail: ex.text(|| "shared".to_owned()),
            ours: ex.value(|| Some(shared.clone())),
            theirs: ex.value(|| Some(shared.clone())),
        },
        None => Observation {
            field,
            level: Some(1),
            detail: ex.text(|| "none shared".to_owned()),
            ours: ex.value(|| a.first().cloned()),
            theirs: ex.value(|| b.first().cloned()),
        },
    }
}

/// A record's phone numbers for comparison: its E.164 numbers, then the numbers it carried in
/// a national form no region could read, as `t:` and their digits (they agree with a number
/// that ends in the same nine digits, see [`compare_phones`]).
fn phones_of(f: &Fragment) -> Vec<String> {
    let mut out = f.phones.clone();
    if let Some(national) = f.extra.get(NATIONAL_PHONES) {
        out.extend(
            national
                .split(' ')
                .filter(|n| !n.is_empty())
                .map(|n| format!("{NATIONAL_PHONE_PREFIX}{n}")),
        );
    }
    out
}

/// How a national-form number is written among [`Prepared::phones`] and as an index key.
pub const NATIONAL_PHONE_PREFIX: &str = "t:";

/// The phone index value of a number's last nine digits (`t:728125832`), under which it is
/// found whatever country code it came out under, or `None` for a shorter number.
pub fn phone_tail_key(p: &str) -> Option<String> {
    phone_tail(p).map(|tail| format!("{NATIONAL_PHONE_PREFIX}{tail}"))
}

/// The last nine digits of a phone number (its subscriber part whatever country code it came
/// out under), or `None` for a shorter number.
pub fn phone_tail(p: &str) -> Option<String> {
    let digits: Vec<char> = p.chars().filter(char::is_ascii_digit).collect();
    (digits.len() >= 9).then(|| digits[digits.len() - 9..].iter().collect())
}

/// Phones agree when their E.164 forms are equal, or when their last nine digits are: a
/// number typed without its country code is read in the source's default region, so the same
/// subscriber number can come out under two country codes (`+44 914...` and `+1 914...`).
fn compare_phones(a: &[String], b: &[String], ex: Explain) -> Observation {
    let mut o = compare_sets(Field::Phone, a, b, ex);
    if o.level == Some(1) {
        let found = a.iter().find_map(|x| {
            let tx = phone_tail(x)?;
            b.iter()
                .find(|y| phone_tail(y).as_deref() == Some(tx.as_str()))
                .map(|y| (x, y))
        });
        if let Some((x, y)) = found {
            // A number kept in its national form shows as its digits, not as the key.
            let shown = |p: &String| match p.strip_prefix(NATIONAL_PHONE_PREFIX) {
                Some(digits) => format!("{digits} (national form)"),
                None => p.clone(),
            };
            o.level = Some(0);
            o.detail = ex.text(|| "same number under another country code".to_owned());
            o.ours = ex.value(|| Some(shown(x)));
            o.theirs = ex.value(|| Some(shown(y)));
        }
    }
    o
}

fn compare_exact(field: Field, a: &Option<String>, b: &Option<String>, ex: Explain) -> Observation {
    let level = match (a, b) {
        (Some(x), Some(y)) => Some(if x == y { 0 } else { 1 }),
        _ => None,
    };
    Observation {
        field,
        level,
        detail: ex.text(|| {
            match level {
                Some(0) => "same",
                Some(_) => "different",
                None => "missing",
            }
            .to_owned()
        }),
        ours: ex.value(|| a.clone()),
        theirs: ex.value(|| b.clone()),
    }
}

fn compare_national(a: &Option<String>, b: &Option<String>, ex: Explain) -> Observation {
    let level = match (a, b) {
        (Some(x), Some(y)) if x == y => Some(0),
        (Some(x), Some(y)) => Some(if strsim::osa_distance(x, y) <= 1 {
            1
        } else {
            2
        }),
        _ => None,
    };
    Observation {
        field: Field::NationalId,
        level,
        detail: ex.text(|| {
            match level {
                Some(0) => "same",
                Some(1) => "one typo",
                Some(_) => "different",
                None => "missing",
            }
            .to_owned()
        }),
        ours: ex.value(|| a.clone()),
        theirs: ex.value(|| b.clone()),
    }
}

/// Similarity of two folded street strings: bigram Dice, or, when one side lacks a line the
/// other has (`auroraclose` against `auroraclosebaybreeze`), the share of the shorter side's
/// bigrams found in the longer one, discounted a little.
fn street_similarity(a: &str, b: &str) -> f64 {
    let d = dice(a, b);
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.chars().count() < 7 {
        return d;
    }
    d.max(0.95 * overlap(short, long))
}

fn sorted_bigrams(s: &str) -> Vec<(char, char)> {
    let cs: Vec<char> = s.chars().collect();
    let mut v: Vec<(char, char)> = cs.windows(2).map(|w| (w[0], w[1])).collect();
    v.sort_unstable();
    v
}

fn common_bigrams(x: &[(char, char)], y: &[(char, char)]) -> usize {
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common
}

/// Share of the bigrams of `short` that occur in `long`.
fn overlap(short: &str, long: &str) -> f64 {
    let (x, y) = (sorted_bigrams(short), sorted_bigrams(long));
    if x.is_empty() {
        return 0.0;
    }
    common_bigrams(&x, &y) as f64 / x.len() as f64
}

/// Sørensen-Dice similarity of character bigrams: robust to words split, joined or swapped
/// between address lines, and to single typos.
pub fn dice(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    let (x, y) = (sorted_bigrams(a), sorted_bigrams(b));
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    2.0 * common_bigrams(&x, &y) as f64 / (x.len() + y.len()) as f64
}
