//! Cleansing: turning what a source wrote into the one form the repository keeps.
//!
//! Each normaliser returns `Ok(None)` for an empty value, `Ok(Some(clean))` for a value it
//! can read, and `Err(Problem)` for a value it cannot read or that is ambiguous. Nothing is
//! guessed: the caller quarantines the row with the problem's [`Reason`].
//!
//! ```
//! use rapport_repository::cleanse;
//! assert_eq!(cleanse::email(" Ann.Lee@Example.COM ").unwrap().as_deref(), Some("ann.lee@example.com"));
//! let fmts = ["%d/%m/%Y".to_string(), "%m/%d/%Y".to_string()];
//! assert!(cleanse::date("03/04/1980", &fmts).is_err()); // ambiguous: never guessed
//! assert_eq!(cleanse::date("25/12/1980", &fmts).unwrap().unwrap().to_string(), "1980-12-25");
//! ```

use std::fmt;

use rapport_core::{Currency, Date, Money, Timestamp};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Why a row was quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A date that fits two declared formats with different results, or that does not fit
    /// the declared format but would fit another common one (e.g. month/day for day/month).
    AmbiguousDate,
    /// A date-shaped value that is no real date (31/02, month 13).
    ImpossibleDate,
    /// A value that is not a date (or date-time) in any declared format.
    BadDate,
    /// A phone number that cannot be read or is not a valid number.
    MalformedPhone,
    /// An e-mail address that cannot be read.
    MalformedEmail,
    /// An amount that cannot be read.
    BadAmount,
    /// A number, flag or other typed value that cannot be read.
    BadValue,
    /// A row with more or fewer columns than the header.
    WrongColumnCount,
    /// A value that is not valid UTF-8 in a UTF-8 source.
    InvalidUtf8,
    /// The file ends in the middle of a row.
    Truncated,
    /// A JSON Lines row that is not a JSON object.
    BadJson,
    /// The party's natural key (or a required value such as the interaction time) is empty.
    MissingValue,
    /// A second compensation grant for the same customer and disruption.
    DuplicateGrant,
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: [Reason; 13] = [
        Reason::AmbiguousDate,
        Reason::ImpossibleDate,
        Reason::BadDate,
        Reason::MalformedPhone,
        Reason::MalformedEmail,
        Reason::BadAmount,
        Reason::BadValue,
        Reason::WrongColumnCount,
        Reason::InvalidUtf8,
        Reason::Truncated,
        Reason::BadJson,
        Reason::MissingValue,
        Reason::DuplicateGrant,
    ];

    /// The snake_case code used in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::AmbiguousDate => "ambiguous_date",
            Reason::ImpossibleDate => "impossible_date",
            Reason::BadDate => "bad_date",
            Reason::MalformedPhone => "malformed_phone",
            Reason::MalformedEmail => "malformed_email",
            Reason::BadAmount => "bad_amount",
            Reason::BadValue => "bad_value",
            Reason::WrongColumnCount => "wrong_column_count",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::Truncated => "truncated",
            Reason::BadJson => "bad_json",
            Reason::MissingValue => "missing_value",
            Reason::DuplicateGrant => "duplicate_grant",
        }
    }

    /// Parses a code as printed by [`Reason::as_str`].
    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that could not be cleansed: the reason and a sentence for the steward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Why.
    pub reason: Reason,
    /// Details, e.g. `"31/02/1980" is not a real date`.
    pub detail: String,
}

impl Problem {
    /// A problem with a reason and details.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Problem {
        Problem {
            reason,
            detail: detail.into(),
        }
    }
}

/// Result of a normaliser: `None` for an empty value.
pub type Clean<T> = Result<Option<T>, Problem>;

/// Text as kept: Unicode NFC, control and invisible characters removed, whitespace runs
/// collapsed to one space, trimmed. `None` when nothing is left.
pub fn text(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    let simple = s.is_ascii();
    let mut push = |c: char, out: &mut String| {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else if !rapport_core::text::is_unsafe_char(c) {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    };
    if simple {
        for c in s.chars() {
            push(c, &mut out);
        }
    } else {
        for c in s.nfc() {
            push(c, &mut out);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A personal or organisation name: [`text`], and words written all in capitals or all in
/// lower case put in title case (`SMITH` and `smith` become `Smith`; `McDonald` and
/// `van der Berg` stay as written).
pub fn name(s: &str) -> Option<String> {
    let t = text(s)?;
    let has_upper = t.chars().any(char::is_uppercase);
    let has_lower = t.chars().any(char::is_lowercase);
    if has_upper && has_lower {
        return Some(t);
    }
    let mut out = String::with_capacity(t.len());
    let mut start = true;
    for c in t.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start = matches!(c, ' ' | '-' | '\'' | '.');
    }
    Some(out)
}

/// Folds a name for search and comparison: lower case, accents removed, only letters and
/// digits kept, split into words.
pub fn name_tokens(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || matches!(c, ',' | '-' | '/' | '.' | '&'))
        .map(fold)
        .filter(|w| !w.is_empty())
        .collect()
}

/// Folds one word: Unicode NFKD with combining marks dropped, lower case, letters and digits.
pub fn fold(s: &str) -> String {
    if s.is_ascii() {
        return s
            .bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| b.to_ascii_lowercase() as char)
            .collect();
    }
    s.nfkd()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// An e-mail address: trimmed, lower-cased, checked for one `@`, a local part, and a domain
/// with a dot and no spaces.
pub fn email(s: &str) -> Clean<String> {
    let t = s.trim().trim_start_matches("mailto:");
    if t.is_empty() {
        return Ok(None);
    }
    let lower = t.to_lowercase();
    let ok = match lower.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
                && lower
                    .chars()
                    .all(|c| !c.is_whitespace() && !c.is_control() && c != ',' && c != ';')
                && domain
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        }
        None => false,
    };
    if ok {
        Ok(Some(lower))
    } else {
        Err(Problem::new(
            Reason::MalformedEmail,
            format!("{:?} is not an e-mail address", clip(t)),
        ))
    }
}

/// A phone number to E.164 (`+447911123456`), read with the source's default region for
/// numbers written without a country code. Invalid numbers are problems, never guessed.
pub fn phone(s: &str, region: Option<phonenumber::country::Id>) -> Clean<String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Problem::new(
            Reason::MalformedPhone,
            format!("{:?} is not a valid phone number", clip(t)),
        )
    };
    // Only characters people write in phone numbers; the crate accepts letters (vanity
    // numbers), which in customer data are typos.
    if t.len() > 40
        || !t
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.' | '/'))
        || t.chars().filter(char::is_ascii_digit).count() < 6
    {
        return Err(bad());
    }
    let t = t.strip_prefix("00").map(|r| format!("+{r}"));
    let t = t.as_deref().unwrap_or(s.trim());
    if region.is_none() && !t.starts_with('+') {
        return Err(Problem::new(
            Reason::MalformedPhone,
            format!(
                "{:?} has no country code and the mapping gives no phone_region",
                clip(t)
            ),
        ));
    }
    let parsed = std::panic::catch_unwind(|| phonenumber::parse(region, t)).map_err(|_| bad())?;
    match parsed {
        Ok(n) if phonenumber::is_valid(&n) => {
            Ok(Some(n.format().mode(phonenumber::Mode::E164).to_string()))
        }
        _ => Err(bad()),
    }
}

/// Parses a region code for phone numbers.
pub fn phone_region(s: &str) -> Option<phonenumber::country::Id> {
    s.trim().to_ascii_uppercase().parse().ok()
}

/// Formats other sources commonly use: a value that fails the declared formats but fits one
/// of these is reported as ambiguous (the source is not what its mapping says), not guessed.
const OTHER_DATE_FORMATS: [&str; 6] = [
    "%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d", "%d.%m.%Y", "%Y%m%d", "%d-%m-%Y",
];

/// A date in one of the source's declared formats. A value that fits several declared
/// formats with different results, or none of them but another common one, is
/// [`Reason::AmbiguousDate`]; one shaped like a date that is no real date is
/// [`Reason::ImpossibleDate`]; anything else unreadable is [`Reason::BadDate`].
pub fn date(s: &str, formats: &[String]) -> Clean<Date> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let mut found: Option<(jiff::civil::Date, &str)> = None;
    for f in formats {
        if let Ok(d) = parse_date(f, t) {
            match found {
                Some((prev, pf)) if prev != d => {
                    return Err(Problem::new(
                        Reason::AmbiguousDate,
                        format!(
                            "{:?} reads as {prev} with {pf:?} and as {d} with {f:?}: not guessed",
                            clip(t)
                        ),
                    ));
                }
                Some(_) => {}
                None => found = Some((d, f)),
            }
        }
    }
    if let Some((d, _)) = found {
        return Ok(Some(to_date(d)));
    }
    for f in OTHER_DATE_FORMATS {
        if formats.iter().any(|g| g == f) {
            continue;
        }
        if let Ok(d) = parse_date(f, t) {
            return Err(Problem::new(
                Reason::AmbiguousDate,
                format!(
                    "{:?} does not fit the declared {} but reads as {d} with {f:?}: not guessed",
                    clip(t),
                    list(formats)
                ),
            ));
        }
    }
    if looks_like_date(t) {
        return Err(Problem::new(
            Reason::ImpossibleDate,
            format!("{:?} is not a real date in {}", clip(t), list(formats)),
        ));
    }
    Err(Problem::new(
        Reason::BadDate,
        format!("{:?} is not a date in {}", clip(t), list(formats)),
    ))
}

fn parse_date(format: &str, s: &str) -> Result<jiff::civil::Date, ()> {
    let tm = jiff::fmt::strtime::parse(format, s).map_err(|_| ())?;
    let d = tm.to_date().map_err(|_| ())?;
    // Two-digit years and reasonable ranges only; `%Y` accepts `0001`.
    if !(1850..=2200).contains(&d.year()) {
        return Err(());
    }
    Ok(d)
}

fn to_date(d: jiff::civil::Date) -> Date {
    Date {
        year: d.year(),
        month: d.month() as u8,
        day: d.day() as u8,
    }
}

/// Digits in date-like groups: `31/02/1980`, `1980-13-01`, `19801301`.
fn looks_like_date(s: &str) -> bool {
    let groups: Vec<&str> = s
        .split(|c: char| matches!(c, '/' | '-' | '.' | ' ' | 'T' | ':'))
        .filter(|g| !g.is_empty())
        .collect();
    let all_digits = groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()));
    all_digits && (groups.len() >= 3 || (groups.len() == 1 && groups[0].len() == 8))
}

/// A date-time in one of the source's formats (RFC 3339 always accepted), in the given time
/// zone when the value carries no offset. A bare date in a date format means midnight local.
pub fn datetime(
    s: &str,
    datetime_formats: &[String],
    date_formats: &[String],
    tz: &jiff::tz::TimeZone,
) -> Clean<Timestamp> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Ok(Some(Timestamp::from_jiff(ts)));
    }
    let mut found: Option<(jiff::Timestamp, &str)> = None;
    for f in datetime_formats {
        let Ok(tm) = jiff::fmt::strtime::parse(f, t) else {
            continue;
        };
        let ts = if tm.offset().is_some() {
            tm.to_timestamp().ok()
        } else {
            tm.to_datetime()
                .ok()
                .and_then(|dt| dt.to_zoned(tz.clone()).ok())
                .map(|z| z.timestamp())
        };
        if let Some(ts) = ts {
            match found {
                Some((prev, pf)) if prev != ts => {
                    return Err(Problem::new(
                        Reason::AmbiguousDate,
                        format!(
                            "{:?} reads as {prev} with {pf:?} and as {ts} with {f:?}: not guessed",
                            clip(t)
                        ),
                    ));
                }
                Some(_) => {}
                None => found = Some((ts, f)),
            }
        }
    }
    if let Some((ts, _)) = found {
        return Ok(Some(Timestamp::from_jiff(ts)));
    }
    if !date_formats.is_empty() || datetime_formats.is_empty() {
        let fallback: Vec<String>;
        let fmts = if date_formats.is_empty() {
            fallback = vec!["%Y-%m-%d".to_string()];
            &fallback[..]
        } else {
            date_formats
        };
        match date(t, fmts) {
            Ok(Some(d)) => {
                let j = jiff::civil::Date::new(d.year, d.month as i8, d.day as i8)
                    .map_err(|_| Problem::new(Reason::ImpossibleDate, clip(t).to_string()))?;
                let z = j
                    .to_zoned(tz.clone())
                    .map_err(|e| Problem::new(Reason::BadDate, format!("{:?}: {e}", clip(t))))?;
                return Ok(Some(Timestamp::from_jiff(z.timestamp())));
            }
            Ok(None) => return Ok(None),
            Err(p) if p.reason != Reason::BadDate => return Err(p),
            Err(_) => {}
        }
    }
    let reason = if looks_like_date(t) {
        Reason::ImpossibleDate
    } else {
        Reason::BadDate
    };
    Err(Problem::new(
        reason,
        format!(
            "{:?} is not a date-time in {}",
            clip(t),
            list(datetime_formats)
        ),
    ))
}

/// An amount in minor units of `currency`: the source's decimal separator (`,` means
/// `1.234,50`), an optional sign, thousands separators, a currency symbol or code around it.
/// More decimals than the currency has is a problem, not a rounding.
pub fn amount(s: &str, decimal: char, currency: Currency, minor_units: bool) -> Clean<Money> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let bad = |why: &str| {
        Problem::new(
            Reason::BadAmount,
            format!("{:?} is not an amount: {why}", clip(t)),
        )
    };
    let stripped: String = t
        .trim_start_matches(currency.as_str())
        .trim_end_matches(currency.as_str())
        .chars()
        .filter(|c| !matches!(c, '€' | '$' | '£' | '¥' | ' ' | '\u{a0}' | '\''))
        .collect();
    let (negative, body) = match stripped.strip_prefix('-') {
        Some(r) => (true, r),
        None => match stripped.strip_suffix('-') {
            Some(r) => (true, r),
            None => (false, stripped.strip_prefix('+').unwrap_or(&stripped)),
        },
    };
    let thousands = if decimal == ',' { '.' } else { ',' };
    let (int_part, frac_part) = match body.rsplit_once(decimal) {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(bad("no digits"));
    }
    if !frac_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("unexpected characters"));
    }
    let groups: Vec<&str> = int_part.split(thousands).collect();
    if groups.len() > 1 && groups.iter().skip(1).any(|g| g.len() != 3) {
        return Err(bad("misplaced thousands separator"));
    }
    let digits: String = groups.concat();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || (digits.is_empty() && frac_part.is_empty()) {
        return Err(bad("unexpected characters"));
    }
    let scale = if minor_units {
        0
    } else {
        currency.minor_digits()
    };
    if frac_part.len() > scale as usize {
        return Err(bad(&format!(
            "more than {scale} decimals for {currency}{}",
            if minor_units { " in minor units" } else { "" }
        )));
    }
    let mut frac = frac_part.to_string();
    while frac.len() < scale as usize {
        frac.push('0');
    }
    let all = format!("{digits}{frac}");
    let minor: i64 = if all.is_empty() {
        0
    } else {
        all.parse().map_err(|_| bad("too large"))?
    };
    Ok(Some(Money::new(
        if negative { -minor } else { minor },
        currency,
    )))
}

/// A whole number, allowing the thousands separator that is not the decimal one.
pub fn int(s: &str, decimal: char) -> Clean<i64> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let thousands = if decimal == ',' { '.' } else { ',' };
    let cleaned: String = t.chars().filter(|&c| c != thousands && c != ' ').collect();
    cleaned.parse().map(Some).map_err(|_| {
        Problem::new(
            Reason::BadValue,
            format!("{:?} is not a whole number", clip(t)),
        )
    })
}

/// A real number with the source's decimal separator.
pub fn float(s: &str, decimal: char) -> Clean<f64> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let thousands = if decimal == ',' { '.' } else { ',' };
    let cleaned: String = t
        .chars()
        .filter(|&c| c != thousands)
        .map(|c| if c == decimal { '.' } else { c })
        .collect();
    match cleaned.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(Problem::new(
            Reason::BadValue,
            format!("{:?} is not a number", clip(t)),
        )),
    }
}

/// A flag: `true/false`, `yes/no`, `y/n`, `1/0`, `t/f`.
pub fn boolean(s: &str) -> Clean<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "yes" | "y" | "1" | "t" | "ja" | "oui" => Ok(Some(true)),
        "false" | "no" | "n" | "0" | "f" | "nee" | "non" => Ok(Some(false)),
        _ => Err(Problem::new(
            Reason::BadValue,
            format!("{:?} is not yes or no", clip(s.trim())),
        )),
    }
}

/// An address part for comparison and display: [`text`] in upper case.
pub fn address_part(s: &str) -> Option<String> {
    text(s).map(|t| t.to_uppercase())
}

/// A postcode: upper case, inner spaces collapsed.
pub fn postcode(s: &str) -> Option<String> {
    text(s).map(|t| t.to_uppercase())
}

/// A country as ISO 3166 alpha-2 where it is recognised (codes and common English names);
/// other values are kept upper-cased.
pub fn country(s: &str) -> Option<String> {
    let t = text(s)?;
    let u = t.to_uppercase();
    let code = match u.as_str() {
        "UK" | "GB" | "UNITED KINGDOM" | "GREAT BRITAIN" | "ENGLAND" | "SCOTLAND" | "WALES" => "GB",
        "US" | "USA" | "UNITED STATES" | "UNITED STATES OF AMERICA" => "US",
        "NL" | "NETHERLANDS" | "THE NETHERLANDS" | "HOLLAND" | "NEDERLAND" => "NL",
        "DE" | "GERMANY" | "DEUTSCHLAND" => "DE",
        "FR" | "FRANCE" => "FR",
        "BE" | "BELGIUM" | "BELGIË" | "BELGIQUE" => "BE",
        "ES" | "SPAIN" | "ESPAÑA" => "ES",
        "IT" | "ITALY" | "ITALIA" => "IT",
        "IE" | "IRELAND" => "IE",
        "AU" | "AUSTRALIA" => "AU",
        "CA" | "CANADA" => "CA",
        "CH" | "SWITZERLAND" => "CH",
        "AT" | "AUSTRIA" => "AT",
        "DK" | "DENMARK" => "DK",
        "SE" | "SWEDEN" => "SE",
        "NO" | "NORWAY" => "NO",
        "PT" | "PORTUGAL" => "PT",
        "PL" | "POLAND" => "PL",
        "JP" | "JAPAN" => "JP",
        _ => return Some(u),
    };
    Some(code.to_string())
}

/// At most 60 characters of a value, for messages.
pub fn clip(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn list(formats: &[String]) -> String {
    if formats.is_empty() {
        return "the declared formats (none)".into();
    }
    formats
        .iter()
        .map(|f| format!("{f:?}"))
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(name("  SMITH\t"), Some("Smith".into()));
        assert_eq!(name("mary-jane o'neil"), Some("Mary-Jane O'Neil".into()));
        assert_eq!(name("McDonald"), Some("McDonald".into()));
        assert_eq!(name("Zoe\u{301}  Ørsted"), Some("Zoé Ørsted".into()));
        assert_eq!(name(" \u{200B} "), None);
        assert_eq!(
            name_tokens("Zoë van der Berg-Ørsted"),
            ["zoe", "van", "der", "berg", "ørsted"]
        );
    }

    #[test]
    fn emails() {
        assert_eq!(email("").unwrap(), None);
        assert_eq!(email("A@B.nl").unwrap(), Some("a@b.nl".into()));
        for bad in [
            "ann",
            "ann@",
            "@x.com",
            "a@b",
            "a b@c.com",
            "a@@b.com",
            "a@b..com",
        ] {
            assert_eq!(
                email(bad).unwrap_err().reason,
                Reason::MalformedEmail,
                "{bad}"
            );
        }
    }

    #[test]
    fn phones_become_e164() {
        let gb = phone_region("GB");
        assert_eq!(
            phone("07911 123456", gb).unwrap(),
            Some("+447911123456".into())
        );
        assert_eq!(
            phone("+44 (0)7911-123456", None).unwrap(),
            Some("+447911123456".into())
        );
        assert_eq!(
            phone("0044 7911 123456", None).unwrap(),
            Some("+447911123456".into())
        );
        let us = phone_region("US");
        assert_eq!(
            phone("(201) 555-0123", us).unwrap(),
            Some("+12015550123".into())
        );
        for bad in [
            "12",
            "07911 I23456",
            "+44 1",
            "not a phone",
            "0770090012345678901",
        ] {
            assert_eq!(
                phone(bad, gb).unwrap_err().reason,
                Reason::MalformedPhone,
                "{bad}"
            );
        }
        assert_eq!(
            phone("07911 123456", None).unwrap_err().reason,
            Reason::MalformedPhone
        );
    }

    #[test]
    fn dates_are_never_guessed() {
        let dmy = f(&["%d/%m/%Y"]);
        assert_eq!(
            date("25/12/1980", &dmy).unwrap().unwrap().to_string(),
            "1980-12-25"
        );
        assert_eq!(
            date("03/04/1980", &dmy).unwrap().unwrap().to_string(),
            "1980-04-03"
        );
        // Month/day in a day/month source: ambiguous, not silently swapped.
        assert_eq!(
            date("12/25/1980", &dmy).unwrap_err().reason,
            Reason::AmbiguousDate
        );
        // Both formats declared and both fit: ambiguous.
        let both = f(&["%d/%m/%Y", "%m/%d/%Y"]);
        assert_eq!(
            date("03/04/1980", &both).unwrap_err().reason,
            Reason::AmbiguousDate
        );
        assert_eq!(
            date("04/04/1980", &both).unwrap().unwrap().to_string(),
            "1980-04-04"
        );
        assert_eq!(
            date("31/02/1980", &dmy).unwrap_err().reason,
            Reason::ImpossibleDate
        );
        assert_eq!(
            date("1980-13-40", &dmy).unwrap_err().reason,
            Reason::ImpossibleDate
        );
        assert_eq!(date("yesterday", &dmy).unwrap_err().reason, Reason::BadDate);
        assert_eq!(
            date("19801225", &f(&["%Y%m%d"]))
                .unwrap()
                .unwrap()
                .to_string(),
            "1980-12-25"
        );
    }

    #[test]
    fn datetimes_use_the_time_zone() {
        let tz = jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap();
        let fmts = f(&["%d/%m/%Y %H:%M"]);
        let t = datetime("23/11/2026 14:05", &fmts, &[], &tz)
            .unwrap()
            .unwrap();
        assert_eq!(t.to_string(), "2026-11-23T13:05:00Z");
        let t = datetime("2026-11-23T14:05:00Z", &fmts, &[], &tz)
            .unwrap()
            .unwrap();
        assert_eq!(t.to_string(), "2026-11-23T14:05:00Z");
        assert_eq!(
            datetime("31/11/2026 14:05", &fmts, &[], &tz)
                .unwrap_err()
                .reason,
            Reason::ImpossibleDate
        );
        let t = datetime("23/11/2026", &fmts, &f(&["%d/%m/%Y"]), &tz)
            .unwrap()
            .unwrap();
        assert_eq!(t.to_string(), "2026-11-22T23:00:00Z");
    }

    #[test]
    fn amounts_in_minor_units() {
        let eur = Currency::EUR;
        assert_eq!(
            amount("1.234,50", ',', eur, false).unwrap().unwrap().minor,
            123_450
        );
        assert_eq!(
            amount("1,234.5", '.', eur, false).unwrap().unwrap().minor,
            123_450
        );
        assert_eq!(
            amount("€ -12", '.', eur, false).unwrap().unwrap().minor,
            -1200
        );
        assert_eq!(
            amount("12950", '.', eur, true).unwrap().unwrap().minor,
            12_950
        );
        assert_eq!(
            amount("EUR 7,5", ',', eur, false).unwrap().unwrap().minor,
            750
        );
        for bad in ["1,2,3", "12.345", "abc", "1.2.3", "-", "12..5"] {
            assert_eq!(
                amount(bad, '.', eur, false).unwrap_err().reason,
                Reason::BadAmount,
                "{bad}"
            );
        }
    }

    #[test]
    fn reasons_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
    }
}
