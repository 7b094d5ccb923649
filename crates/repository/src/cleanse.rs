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
    /// A value that is not a date (or date-time) in the declared format.
    #[serde(rename = "date_not_in_declared_format")]
    NotInDeclaredFormat,
    /// A phone number that cannot be read or is not a valid number.
    MalformedPhone,
    /// An e-mail address that cannot be read.
    MalformedEmail,
    /// An amount that cannot be read.
    BadAmount,
    /// A number, flag or other typed value that cannot be read as its declared type.
    WrongType,
    /// A row with more or fewer columns than the header.
    WrongColumnCount,
    /// Bytes that are not valid in the source's encoding (e.g. Latin-1 in a UTF-8 file).
    NonUtf8,
    /// The file ends in the middle of its last row.
    TruncatedLastLine,
    /// A JSON Lines row that is not a JSON object.
    InvalidJson,
    /// The party's natural key (or a required value such as the interaction time) is empty.
    MissingValue,
    /// A second compensation grant for the same customer and disruption.
    DuplicateGrant,
    /// A row longer than the reader reads (`read::MAX_ROW_BYTES`), e.g. a file with no line
    /// ends or an unterminated quote running to the end of the file.
    RowTooLong,
    /// An amount outside the range a real transaction can have (`cleanse::MAX_AMOUNT_MAJOR`).
    AmountOutOfRange,
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: [Reason; 15] = [
        Reason::AmbiguousDate,
        Reason::ImpossibleDate,
        Reason::NotInDeclaredFormat,
        Reason::MalformedPhone,
        Reason::MalformedEmail,
        Reason::BadAmount,
        Reason::WrongType,
        Reason::WrongColumnCount,
        Reason::NonUtf8,
        Reason::TruncatedLastLine,
        Reason::InvalidJson,
        Reason::MissingValue,
        Reason::DuplicateGrant,
        Reason::RowTooLong,
        Reason::AmountOutOfRange,
    ];

    /// The snake_case code used in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::AmbiguousDate => "ambiguous_date",
            Reason::ImpossibleDate => "impossible_date",
            Reason::NotInDeclaredFormat => "date_not_in_declared_format",
            Reason::MalformedPhone => "malformed_phone",
            Reason::MalformedEmail => "malformed_email",
            Reason::BadAmount => "bad_amount",
            Reason::WrongType => "wrong_type",
            Reason::WrongColumnCount => "wrong_column_count",
            Reason::NonUtf8 => "non_utf8",
            Reason::TruncatedLastLine => "truncated_last_line",
            Reason::InvalidJson => "invalid_json",
            Reason::MissingValue => "missing_value",
            Reason::DuplicateGrant => "duplicate_grant",
            Reason::RowTooLong => "row_too_long",
            Reason::AmountOutOfRange => "amount_out_of_range",
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

/// Splits a person's full name into given and family names by the mapping's format
/// (`given_family`, `family_given`, `pnr`, `auto`); titles (Mr, Ms, Mrs, Dr...) are dropped.
pub fn split_person_name(full: &str, format: &str) -> (Option<String>, Option<String>) {
    const TITLES: [&str; 12] = [
        "mr", "ms", "mrs", "miss", "mstr", "dr", "prof", "sir", "mx", "herr", "frau", "mme",
    ];
    let is_title = |w: &str| TITLES.contains(&fold(w).as_str());
    let words = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .filter(|w| !is_title(w))
            .map(str::to_string)
            .collect()
    };
    let format = match format {
        "auto" if full.contains('/') => "pnr",
        "auto" if full.contains(',') => "family_comma_given",
        "auto" => "given_family",
        f => f,
    };
    let (given, family): (Vec<String>, Vec<String>) = match format {
        "pnr" => match full.split_once('/') {
            Some((fam, giv)) => (words(giv), words(fam)),
            None => (Vec::new(), words(full)),
        },
        "family_comma_given" => match full.split_once(',') {
            Some((fam, giv)) => (words(giv), words(fam)),
            None => (Vec::new(), words(full)),
        },
        "family_given" => {
            let w = words(full);
            match w.split_first() {
                Some((f, g)) => (g.to_vec(), vec![f.clone()]),
                None => (Vec::new(), Vec::new()),
            }
        }
        _ => {
            let w = words(full);
            match w.split_last() {
                Some((f, g)) if !g.is_empty() => (g.to_vec(), vec![f.clone()]),
                Some((f, _)) => (Vec::new(), vec![f.clone()]),
                None => (Vec::new(), Vec::new()),
            }
        }
    };
    let join = |v: Vec<String>| -> Option<String> {
        let s = v
            .iter()
            .map(|w| w.trim_end_matches('.'))
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        name(&s)
    };
    (join(given), join(family))
}

/// A loyalty number: letters and digits only, upper case (`ff 108 831 281` is `FF108831281`).
pub fn loyalty_number(s: &str) -> Option<String> {
    let out: String = s
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect();
    (!out.is_empty()).then_some(out)
}

/// The decimal separator of an amount written by a source that uses both: the last `.` or
/// `,` followed by exactly `decimals` digits (and nothing else) is decimal; otherwise the
/// separators group thousands and the decimal separator is the other one.
pub fn decimal_of(s: &str, decimals: u32) -> char {
    let t = s.trim();
    match t.rfind(['.', ',']) {
        Some(i) => {
            let sep = t.as_bytes()[i] as char;
            let tail = &t[i + 1..];
            let digits = tail.chars().take_while(char::is_ascii_digit).count();
            if decimals > 0 && digits == decimals as usize {
                sep
            } else if sep == '.' {
                ','
            } else {
                '.'
            }
        }
        None => '.',
    }
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

/// A phone number to E.164 (`+447911123456`).
///
/// The rules, in order (nothing is guessed):
/// 1. Only digits, spaces and `+ - ( ) . /` may appear, with 7 to 15 digits: otherwise the
///    number is malformed.
/// 2. A number with a country code (`+` or `00`) is already international: with 8 to 15
///    digits (the E.164 range) it becomes `+` and its digits.
/// 3. A number without a country code is read in the row's region (the mapping's
///    `phone_region` or `phone_region_column`): valid by the region's plan, it becomes E.164.
/// 4. Otherwise a national number of plausible length (8 to 12 digits, or 7 to 12 with a
///    trunk prefix `0...`) cannot be normalised and is left out (`Ok(None)`): not wrong, only
///    not readable without guessing the country. Any other shape (e.g. a number of the row's
///    region that is too short for its plan) is malformed.
pub fn phone(s: &str, region: Option<phonenumber::country::Id>) -> Clean<String> {
    // Reading a number with the crate compiles regular expressions: remember the answers
    // (sources repeat a customer's number on every row).
    type Seen =
        std::collections::HashMap<(String, Option<phonenumber::country::Id>), Clean<String>>;
    thread_local! {
        static SEEN: std::cell::RefCell<Seen> = std::cell::RefCell::new(Seen::new());
    }
    let key = (s.to_string(), region);
    if let Some(hit) = SEEN.with(|m| m.borrow().get(&key).cloned()) {
        return hit;
    }
    widen_phone_regex_cache();
    let out = phone_uncached(s, region);
    SEEN.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= 200_000 {
            m.clear();
        }
        m.insert(key, out.clone());
    });
    out
}

/// Loads the phone-number metadata and sizes its pattern cache (about 100 ms, once per
/// process), so that the first phone number typed into a search does not wait for it: the
/// service calls it on a thread of its own when it starts.
pub fn warm_up() {
    widen_phone_regex_cache();
    let _ = phone("07911 123456", phone_region("GB"));
}

/// The phone crate compiles the regular expressions of its metadata lazily into one cache
/// of 100, fewer than the patterns of the regions a world of customers dials from: once it
/// is full every national number recompiles a pattern (a third of the ingest time on a
/// generated world). Give it room for all of them, once.
fn widen_phone_regex_cache() {
    static WIDENED: std::sync::Once = std::sync::Once::new();
    WIDENED.call_once(|| {
        let cache = phonenumber::metadata::DATABASE.cache();
        if let Ok(mut c) = cache.lock() {
            *c = regex_cache::RegexCache::new(20_000);
        }
    });
}

fn phone_uncached(s: &str, region: Option<phonenumber::country::Id>) -> Clean<String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let bad = |why: &str| {
        Problem::new(
            Reason::MalformedPhone,
            format!("{:?} is not a phone number: {why}", clip(t)),
        )
    };
    if t.len() > 40
        || !t
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.' | '/'))
    {
        return Err(bad("unexpected characters"));
    }
    let international = t.starts_with('+') || t.starts_with("00");
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    let significant = if t.starts_with("00") {
        digits.len().saturating_sub(2)
    } else {
        digits.len()
    };
    if !(7..=15).contains(&significant) {
        return Err(bad(&format!("{significant} digits")));
    }
    let trunk = t.trim_start_matches('(').starts_with('0');
    let parse = |region: Option<phonenumber::country::Id>, text: &str| {
        std::panic::catch_unwind(|| phonenumber::parse(region, text))
            .ok()
            .and_then(Result::ok)
    };
    let e164 = |n: &phonenumber::PhoneNumber| n.format().mode(phonenumber::Mode::E164).to_string();
    if international {
        // With its country code the number is already international: E.164 is `+` and its
        // digits, without a national trunk `(0)` written after the code (`+44 (0)7911...`).
        let body = t.replacen("(0)", "", 1);
        let mut digits: String = body.chars().filter(char::is_ascii_digit).collect();
        if body.trim_start().starts_with("00") {
            digits.drain(..2);
        }
        return if (8..=15).contains(&digits.len()) && !digits.starts_with('0') {
            Ok(Some(format!("+{digits}")))
        } else {
            Err(bad("not an international number"))
        };
    }
    match region.and_then(|r| parse(Some(r), t)) {
        Some(n) if phonenumber::is_valid(&n) => Ok(Some(e164(&n))),
        // Not a number of the region's plan, or no region: it cannot be normalised. A
        // plausible national length is left out rather than guessed; anything else is wrong.
        _ if (trunk && (7..=12).contains(&significant)) || (8..=12).contains(&significant) => {
            Ok(None)
        }
        _ => Err(bad("not a national number of the source's region")),
    }
}

/// The digits of a phone number typed in some national form (`07281 25832`), without the
/// trunk `0`, when [`phone`] could not read it as a number of the source's region but its
/// length is plausible: kept for matching (see [`crate::survivorship::NATIONAL_PHONES`]).
pub fn national_digits(s: &str) -> Option<String> {
    let t = s.trim();
    if t.starts_with('+') || t.starts_with("00") {
        return None;
    }
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.strip_prefix('0').unwrap_or(&digits);
    (7..=12).contains(&digits.len()).then(|| digits.to_owned())
}

/// Parses a region code for phone numbers.
pub fn phone_region(s: &str) -> Option<phonenumber::country::Id> {
    s.trim().to_ascii_uppercase().parse().ok()
}

/// A date in one of the source's declared formats.
///
/// - Fits one declared format (or several with the same result): the date.
/// - Fits several declared formats with different results, or fits none but would fit the
///   declared format with day and month swapped: [`Reason::AmbiguousDate`] (never guessed).
/// - Has the shape of a declared format but is no real date (31/02, month 13):
///   [`Reason::ImpossibleDate`].
/// - Anything else: [`Reason::NotInDeclaredFormat`].
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
    Err(date_problem(t, formats, &[], |f, v| {
        parse_date(f, v).map(|_| ())
    }))
}

/// Why a value fits none of the formats: swapped day and month, impossible, or another format.
fn date_problem(
    t: &str,
    formats: &[String],
    extra_shapes: &[&str],
    parses: impl Fn(&str, &str) -> Result<(), ()>,
) -> Problem {
    for f in formats {
        if let Some(alt) = swapped(f)
            && parses(&alt, t).is_ok()
        {
            return Problem::new(
                Reason::AmbiguousDate,
                format!(
                    "{:?} does not fit the declared {f:?} but reads as {alt:?}: not guessed",
                    clip(t)
                ),
            );
        }
    }
    if formats
        .iter()
        .map(String::as_str)
        .chain(extra_shapes.iter().copied())
        .any(|f| fits_shape(f, t))
    {
        return Problem::new(
            Reason::ImpossibleDate,
            format!("{:?} is not a real date ({})", clip(t), list(formats)),
        );
    }
    Problem::new(
        Reason::NotInDeclaredFormat,
        format!(
            "{:?} is not in the declared format {}",
            clip(t),
            list(formats)
        ),
    )
}

/// The format with day and month swapped, for formats that write the year last
/// (`%d/%m/%Y` and `%m/%d/%Y`), where the swap is a common mistake.
fn swapped(f: &str) -> Option<String> {
    let (d, m, y) = (
        f.find("%d")?,
        f.find("%m")?,
        f.find("%Y").or_else(|| f.find("%y"))?,
    );
    if y < d || y < m {
        return None;
    }
    Some(
        f.replace("%d", "\u{0}")
            .replace("%m", "%d")
            .replace('\u{0}', "%m"),
    )
}

/// Whether a value has the shape of a strftime format: the same literals, with digit groups
/// where the format has numeric fields (`%Y` four digits, `%m` `%d` `%H` `%M` `%S` `%y` one
/// or two, `%z` an offset), so that a value can be told impossible rather than foreign.
pub fn fits_shape(format: &str, value: &str) -> bool {
    let v: Vec<char> = value.chars().collect();
    let f: Vec<char> = format.chars().collect();
    let (mut i, mut j) = (0, 0);
    let digits = |i: &mut usize, min: usize, max: usize| -> bool {
        let start = *i;
        while *i < v.len() && *i - start < max && v[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start >= min
    };
    while j < f.len() {
        if f[j] == '%' && j + 1 < f.len() {
            let mut spec = f[j + 1];
            j += 2;
            if spec == ':' && j < f.len() {
                spec = f[j];
                j += 1;
            }
            let ok = match spec {
                'Y' => digits(&mut i, 4, 4),
                'y' | 'm' | 'd' | 'H' | 'M' | 'S' | 'e' => digits(&mut i, 1, 2),
                'j' => digits(&mut i, 1, 3),
                'f' => digits(&mut i, 1, 9),
                'z' => {
                    if i < v.len() && (v[i] == 'Z' || v[i] == 'z') {
                        i += 1;
                        true
                    } else if i < v.len() && (v[i] == '+' || v[i] == '-') {
                        i += 1;
                        let ok = digits(&mut i, 2, 2);
                        if i < v.len() && v[i] == ':' {
                            i += 1;
                        }
                        ok && digits(&mut i, 2, 2)
                    } else {
                        false
                    }
                }
                'b' | 'B' | 'h' | 'a' | 'A' | 'p' | 'P' => {
                    let start = i;
                    while i < v.len() && v[i].is_alphabetic() {
                        i += 1;
                    }
                    i > start
                }
                '%' => {
                    let ok = i < v.len() && v[i] == '%';
                    i += 1;
                    ok
                }
                _ => return false,
            };
            if !ok {
                return false;
            }
        } else {
            if i >= v.len() || v[i] != f[j] {
                return false;
            }
            i += 1;
            j += 1;
        }
    }
    i == v.len()
}

fn parse_date(format: &str, s: &str) -> Result<jiff::civil::Date, ()> {
    let tm = jiff::fmt::strtime::parse(format, s).map_err(|_| ())?;
    let d = tm.to_date().map_err(|_| ())?;
    // `%Y` accepts `26` and `0001`: only plausible years are dates.
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

/// The special date-time formats for epoch numbers.
pub const EPOCH_MS: &str = "epoch_ms";
/// Seconds since the Unix epoch.
pub const EPOCH_S: &str = "epoch_s";

fn parse_datetime(f: &str, t: &str, tz: &jiff::tz::TimeZone) -> Result<jiff::Timestamp, ()> {
    if f == EPOCH_MS || f == EPOCH_S {
        let n: i64 = t.parse().map_err(|_| ())?;
        let ms = if f == EPOCH_S {
            n.checked_mul(1000).ok_or(())?
        } else {
            n
        };
        let ts = jiff::Timestamp::from_millisecond(ms).map_err(|_| ())?;
        let y = ts.to_zoned(jiff::tz::TimeZone::UTC).year();
        return if (1850..=2200).contains(&y) {
            Ok(ts)
        } else {
            Err(())
        };
    }
    let tm = jiff::fmt::strtime::parse(f, t).map_err(|_| ())?;
    let ts = if tm.offset().is_some() {
        tm.to_timestamp().map_err(|_| ())?
    } else {
        tm.to_datetime()
            .map_err(|_| ())?
            .to_zoned(tz.clone())
            .map_err(|_| ())?
            .timestamp()
    };
    let y = ts.to_zoned(jiff::tz::TimeZone::UTC).year();
    if !(1850..=2200).contains(&y) {
        return Err(());
    }
    Ok(ts)
}

/// A date-time in one of the source's formats (RFC 3339 is always accepted; `epoch_ms` and
/// `epoch_s` read epoch numbers), in the given time zone when the value carries no offset. A
/// bare date in one of `date_formats` means midnight local time. Problems as for [`date`].
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
    let epoch_only = !datetime_formats.is_empty()
        && datetime_formats
            .iter()
            .all(|f| f == EPOCH_MS || f == EPOCH_S);
    if !epoch_only && let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Ok(Some(Timestamp::from_jiff(ts)));
    }
    let mut found: Option<(jiff::Timestamp, &str)> = None;
    for f in datetime_formats {
        if let Ok(ts) = parse_datetime(f, t, tz) {
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
    if let Ok(Some(d)) = date(t, date_formats)
        && let Ok(j) = jiff::civil::Date::new(d.year, d.month as i8, d.day as i8)
        && let Ok(z) = j.to_zoned(tz.clone())
    {
        return Ok(Some(Timestamp::from_jiff(z.timestamp())));
    }
    if epoch_only {
        let numeric = t.strip_prefix('-').unwrap_or(t);
        let reason = if !numeric.is_empty() && numeric.bytes().all(|b| b.is_ascii_digit()) {
            Reason::ImpossibleDate
        } else {
            Reason::NotInDeclaredFormat
        };
        return Err(Problem::new(
            reason,
            format!("{:?} is not a time in {}", clip(t), list(datetime_formats)),
        ));
    }
    let all: Vec<String> = datetime_formats
        .iter()
        .filter(|f| *f != EPOCH_MS && *f != EPOCH_S)
        .chain(date_formats)
        .cloned()
        .collect();
    Err(date_problem(
        t,
        &all,
        &[
            "%Y-%m-%dT%H:%M:%S%:z",
            "%Y-%m-%dT%H:%M:%S%.fZ",
            "%Y-%m-%dT%H:%M:%SZ",
        ],
        |f, v| {
            parse_datetime(f, v, tz)
                .map(|_| ())
                .or_else(|_| parse_date(f, v).map(|_| ()))
        },
    ))
}

/// The largest amount, in major units of its currency, a source row may carry (a billion):
/// anything larger is a typing or unit mistake (minor units read as major), and sums of such
/// values would overflow the 64-bit minor units every total is kept in. Larger amounts are
/// quarantined as `amount_out_of_range`.
pub const MAX_AMOUNT_MAJOR: i64 = 1_000_000_000;

fn out_of_range(t: &str, currency: Currency) -> Problem {
    Problem::new(
        Reason::AmountOutOfRange,
        format!(
            "{:?} is outside the range of a real amount (at most {MAX_AMOUNT_MAJOR} {currency} either way)",
            clip(t)
        ),
    )
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
        all.parse().map_err(|_| out_of_range(t, currency))?
    };
    let limit = MAX_AMOUNT_MAJOR.saturating_mul(10i64.pow(currency.minor_digits()));
    if minor > limit {
        return Err(out_of_range(t, currency));
    }
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
            Reason::WrongType,
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
            Reason::WrongType,
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
            Reason::WrongType,
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
    fn names_split_by_format() {
        let s = |f: &str, fmt: &str| split_person_name(f, fmt);
        assert_eq!(
            s("OKAFOR/MARGARET MS", "pnr"),
            (Some("Margaret".into()), Some("Okafor".into()))
        );
        assert_eq!(
            s("MOREAU, Maximilian", "auto"),
            (Some("Maximilian".into()), Some("Moreau".into()))
        );
        assert_eq!(
            s("H. Lindqvist", "auto"),
            (Some("H".into()), Some("Lindqvist".into()))
        );
        assert_eq!(
            s("Mary Ann van Dijk", "given_family"),
            (Some("Mary Ann van".into()), Some("Dijk".into()))
        );
        assert_eq!(
            s("Lee Ann", "family_given"),
            (Some("Ann".into()), Some("Lee".into()))
        );
        assert_eq!(
            loyalty_number("ff 108 831 281").as_deref(),
            Some("FF108831281")
        );
        assert_eq!(decimal_of("1106,37", 2), ',');
        assert_eq!(decimal_of("1.234,50", 2), ',');
        assert_eq!(decimal_of("1,234", 2), '.');
        assert_eq!(decimal_of("279.65", 2), '.');
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
        // A national number with no region to read it in: left out, not wrong.
        assert_eq!(phone("07911 123456", None).unwrap(), None);
        assert_eq!(
            phone("7911123", None).unwrap_err().reason,
            Reason::MalformedPhone
        );
        assert_eq!(phone("(06750) 48946", gb).unwrap(), None);
        // ... and kept as its digits for matching, without the trunk 0.
        assert_eq!(
            national_digits("(06750) 48946").as_deref(),
            Some("675048946")
        );
        assert_eq!(national_digits("07281 25832").as_deref(), Some("728125832"));
        assert_eq!(national_digits("+33 7281 25832"), None);
        assert_eq!(national_digits("0044 7911 123456"), None);
        assert_eq!(national_digits("012345"), None);
        // Random but plausible numbers with a country code are kept.
        assert_eq!(
            phone("+46 7821 55355", None).unwrap(),
            Some("+46782155355".into())
        );
        assert_eq!(
            phone("call back after 6pm", gb).unwrap_err().reason,
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
            Reason::NotInDeclaredFormat
        );
        assert_eq!(
            date("2025-13-05", &f(&["%Y-%m-%d"])).unwrap_err().reason,
            Reason::ImpossibleDate
        );
        assert_eq!(
            date("yesterday", &dmy).unwrap_err().reason,
            Reason::NotInDeclaredFormat
        );
        assert_eq!(
            date("2026-02-03", &f(&["%Y%m%d"])).unwrap_err().reason,
            Reason::NotInDeclaredFormat
        );
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
        let ms = f(&["epoch_ms"]);
        assert_eq!(
            datetime("1746176990586", &ms, &[], &tz)
                .unwrap()
                .unwrap()
                .to_string(),
            "2025-05-02T09:09:50.586Z"
        );
        assert_eq!(
            datetime("-62135596800001", &ms, &[], &tz)
                .unwrap_err()
                .reason,
            Reason::ImpossibleDate
        );
        assert_eq!(
            datetime("2026-05-03 10:00:00", &ms, &[], &tz)
                .unwrap_err()
                .reason,
            Reason::NotInDeclaredFormat
        );
        assert_eq!(
            datetime("23/11/26 14:05", &fmts, &[], &tz)
                .unwrap_err()
                .reason,
            Reason::NotInDeclaredFormat
        );
        assert_eq!(
            datetime("25/03/2025 10:13:00", &f(&["%m/%d/%Y %H:%M:%S"]), &[], &tz)
                .unwrap_err()
                .reason,
            Reason::AmbiguousDate
        );
        assert_eq!(
            datetime("2025-04-31T09:13:00+01:00", &[], &[], &tz)
                .unwrap_err()
                .reason,
            Reason::ImpossibleDate
        );
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
    fn amounts_beyond_a_billion_are_out_of_range() {
        let eur = Currency::EUR;
        assert_eq!(
            amount("1000000000.00", '.', eur, false)
                .unwrap()
                .unwrap()
                .minor,
            100_000_000_000
        );
        for bad in [
            "92233720368547758.07",
            "-1000000000.01",
            "99999999999999999999",
        ] {
            assert_eq!(
                amount(bad, '.', eur, false).unwrap_err().reason,
                Reason::AmountOutOfRange,
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
