//! Exchange rates by day: read from a published rates file and kept in the store, so that
//! every amount, kept in its own currency, is reported in one currency at the rate of its day.
//!
//! The file is in the layout of the ECB's euro foreign exchange reference rates
//! (`eurofxref-hist.csv`): a `Date` column (`YYYY-MM-DD`) and one column per currency holding
//! the units of that currency per unit of the reporting currency (EUR for the ECB), one row per
//! published day, newest first or oldest first; `N/A` or an empty cell is a day without a
//! rate, and an empty trailing column is ignored. A value that is not a positive number is an
//! error naming the line and column: a rate is never guessed.
//!
//! Loading adds the file's days to the rates stored (a day loaded again is replaced), so a
//! monthly file can be loaded on top of the history. Stored in the `rates` collection.

use std::path::{Path, PathBuf};

use rapport_core::{Currency, ExchangeRates, RateSeries};
use rapport_store::{Batch, Durability, Store};
use serde::Serialize;

use crate::Error;

/// Document collection of the exchange rates.
pub const COLLECTION: &str = "rates";
/// Key of the rates in force.
pub const KEY: &str = "current";

/// How to read a rates file.
#[derive(Debug, Clone)]
pub struct RatesOptions {
    /// The currency the rates are quoted against (units per one of it).
    pub reporting: Currency,
    /// Where the rates come from, said with every report (default: the file's name).
    pub source: Option<String>,
    /// Days to move every rate by (the demo's time shift, so rates follow the amounts).
    pub shift_days: i64,
}

impl Default for RatesOptions {
    fn default() -> Self {
        RatesOptions {
            reporting: Currency::EUR,
            source: None,
            shift_days: 0,
        }
    }
}

/// What a load did.
#[derive(Debug, Clone, Serialize)]
pub struct RatesReport {
    /// The file read.
    pub file: PathBuf,
    /// The source named.
    pub source: String,
    /// The reporting currency.
    pub reporting: Currency,
    /// Published days in the file.
    pub days: u64,
    /// Currencies in the file.
    pub currencies: Vec<Currency>,
    /// First and last published day in the file (`YYYY-MM-DD`).
    pub first: Option<String>,
    pub last: Option<String>,
    /// Currencies stored after the load and their first and last days.
    pub stored: Vec<(Currency, String, String)>,
}

/// Reads a rates file (layout in the module doc).
pub fn read_file(path: &Path, opts: &RatesOptions) -> Result<ExchangeRates, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let source = opts.source.clone().unwrap_or_else(|| {
        path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        )
    });
    parse(&text, path, opts, source)
}

fn bad(path: &Path, line: usize, field: &str, reason: String) -> Error {
    Error::File {
        file: path.to_path_buf(),
        line,
        field: field.to_string(),
        reason,
    }
}

fn parse(
    text: &str,
    path: &Path,
    opts: &RatesOptions,
    source: String,
) -> Result<ExchangeRates, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| bad(path, 1, "header", e.to_string()))?
        .clone();
    let date_col = headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case("date"))
        .ok_or_else(|| bad(path, 1, "header", "no `Date` column".into()))?;
    let mut columns: Vec<(usize, Currency)> = Vec::new();
    for (k, h) in headers.iter().enumerate() {
        if k == date_col || h.is_empty() {
            continue;
        }
        let c: Currency = h.parse().map_err(|_| {
            bad(
                path,
                1,
                h,
                format!("`{h}` is not a currency code (three letters, e.g. USD)"),
            )
        })?;
        if c == opts.reporting {
            return Err(bad(
                path,
                1,
                h,
                format!("a rate of {c} against itself: the file's rates are per {c}"),
            ));
        }
        if columns.iter().any(|(_, x)| *x == c) {
            return Err(bad(path, 1, h, format!("{c} appears twice")));
        }
        columns.push((k, c));
    }
    if columns.is_empty() {
        return Err(bad(path, 1, "header", "no currency columns".into()));
    }
    let mut series: Vec<Vec<(i64, f64)>> = vec![Vec::new(); columns.len()];
    for rec in reader.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            bad(path, line, "row", e.to_string())
        })?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let date = rec.get(date_col).unwrap_or("");
        if date.is_empty() && rec.iter().all(str::is_empty) {
            continue;
        }
        let day = parse_date(date).ok_or_else(|| {
            bad(
                path,
                line,
                "Date",
                format!("`{date}` is not a date (YYYY-MM-DD)"),
            )
        })? + opts.shift_days;
        for ((k, c), s) in columns.iter().zip(&mut series) {
            let cell = rec.get(*k).unwrap_or("");
            if cell.is_empty() || cell.eq_ignore_ascii_case("N/A") {
                continue;
            }
            let v: f64 = cell
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .ok_or_else(|| {
                    bad(
                        path,
                        line,
                        c.as_str(),
                        format!("`{cell}` is not a positive rate"),
                    )
                })?;
            s.push((day, v));
        }
    }
    let mut out = Vec::new();
    for ((_, currency), mut rates) in columns.into_iter().zip(series) {
        rates.sort_by_key(|r| r.0);
        if let Some(w) = rates.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(bad(
                path,
                0,
                currency.as_str(),
                format!("two rates for {}", format_day(w[0].0)),
            ));
        }
        if !rates.is_empty() {
            out.push(RateSeries { currency, rates });
        }
    }
    out.sort_by_key(|s| s.currency);
    Ok(ExchangeRates {
        reporting: opts.reporting,
        source,
        series: out,
    })
}

/// Reads a rates file and adds it to the rates stored (durably).
pub fn load_file(store: &Store, path: &Path, opts: &RatesOptions) -> Result<RatesReport, Error> {
    let read = read_file(path, opts)?;
    let days: std::collections::BTreeSet<i64> = read
        .series
        .iter()
        .flat_map(|s| s.rates.iter().map(|r| r.0))
        .collect();
    let currencies: Vec<Currency> = read.series.iter().map(|s| s.currency).collect();
    let source = read.source.clone();
    let merged = match stored(store)? {
        Some(mut old) if old.reporting == read.reporting => {
            old.merge(read);
            old
        }
        Some(old) => {
            return Err(Error::Invalid(format!(
                "the stored rates are per {}, this file's per {}: one reporting currency per \
                 database",
                old.reporting, read.reporting
            )));
        }
        None => read,
    };
    let mut b = Batch::default();
    b.put_doc(COLLECTION, KEY, &merged)?;
    store.write(b, Durability::Durable)?;
    Ok(RatesReport {
        file: path.to_path_buf(),
        source,
        reporting: merged.reporting,
        days: days.len() as u64,
        currencies,
        first: days.first().map(|d| format_day(*d)),
        last: days.last().map(|d| format_day(*d)),
        stored: summary(&merged),
    })
}

/// Loads the `[rates]` entry of a manifest (`manifest` names the file for errors).
pub fn load_manifest_rates(
    store: &Store,
    manifest: &Path,
    entry: &crate::mapping::ManifestRates,
    shift_days: i64,
) -> Result<RatesReport, Error> {
    let reporting = match &entry.reporting {
        None => Currency::EUR,
        Some(code) => code.parse().map_err(|_| Error::Config {
            file: manifest.to_path_buf(),
            line: 0,
            field: "rates.reporting".into(),
            reason: format!("`{code}` is not a currency code"),
        })?,
    };
    let opts = RatesOptions {
        reporting,
        source: entry.source.clone(),
        shift_days,
    };
    load_file(store, &entry.file, &opts)
}

/// Currencies of `rates` with their first and last published day.
pub fn summary(rates: &ExchangeRates) -> Vec<(Currency, String, String)> {
    rates
        .series
        .iter()
        .filter_map(|s| {
            Some((
                s.currency,
                format_day(s.rates.first()?.0),
                format_day(s.rates.last()?.0),
            ))
        })
        .collect()
}

/// The rates stored, if any were loaded.
pub fn stored(store: &Store) -> Result<Option<ExchangeRates>, Error> {
    Ok(store.doc(COLLECTION, KEY)?)
}

fn parse_date(s: &str) -> Option<i64> {
    let d: jiff::civil::Date = s.trim().parse().ok()?;
    let epoch = jiff::civil::date(1970, 1, 1);
    Some(i64::from((d - epoch).get_days()))
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i64) -> String {
    let epoch = jiff::civil::date(1970, 1, 1);
    jiff::Span::new()
        .try_days(day)
        .ok()
        .and_then(|span| epoch.checked_add(span).ok())
        .map_or_else(|| format!("day {day}"), |d| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<ExchangeRates, Error> {
        parse(
            text,
            Path::new("rates.csv"),
            &RatesOptions::default(),
            "test".into(),
        )
    }

    #[test]
    fn reads_the_ecb_layout_newest_first_with_gaps_and_a_trailing_comma() {
        let r = read(
            "Date,USD,JPY,SEK,\n2024-01-03,1.0919,155.62,N/A,\n2024-01-02,1.0956,155.01,11.1,\n",
        )
        .unwrap();
        assert_eq!(r.reporting, Currency::EUR);
        let sek: Currency = "SEK".parse().unwrap();
        let day = parse_date("2024-01-02").unwrap();
        assert_eq!(format_day(day), "2024-01-02");
        assert_eq!(
            r.units_per_reporting(sek, day + 1),
            Some(11.1),
            "N/A: the day before"
        );
        assert_eq!(r.units_per_reporting(Currency::USD, day + 1), Some(1.0919));
        assert_eq!(r.units_per_reporting(Currency::USD, day - 1), None);
    }

    #[test]
    fn bad_rates_name_the_line_and_column() {
        let e = read("Date,USD\n2024-01-02,1.09\n2024-01-03,-1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "rates.csv:3: USD: `-1` is not a positive rate"
        );
        let e = read("Date,USD\n2024-13-02,1.09\n").unwrap_err();
        assert!(e.to_string().starts_with("rates.csv:2: Date:"), "{e}");
        let e = read("Day,USD\n").unwrap_err();
        assert!(e.to_string().contains("no `Date` column"), "{e}");
        let e = read("Date,EUR\n2024-01-02,1\n").unwrap_err();
        assert!(e.to_string().contains("against itself"), "{e}");
        let e = read("Date,USD\n2024-01-02,1.09\n2024-01-02,1.1\n").unwrap_err();
        assert!(e.to_string().contains("two rates for 2024-01-02"), "{e}");
    }
}
