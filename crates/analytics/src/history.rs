//! One customer's history condensed into yearly buckets: the plain input of value, profit,
//! lifetime value, features and lists. Built in one pass over the customer's interactions.
//!
//! Conventions: every amount keeps its own currency and is converted into the reporting
//! currency at the rate of its day ([`Converter`]); an amount without a rate adds nothing and
//! is counted in [`Activity::unconverted`] with the first such currency and day, for the
//! caller to refuse (a scoring run stops and names it): never a silent 1:1. Cost to serve,
//! compensation and refunds count by absolute value whatever their sign. An amount whose role
//! is `other` (a ledger entry) takes its role from the interaction's kind: `purchase` is
//! revenue, `refund` a refund, `compensation_granted` compensation, `cost_to_serve` (an
//! extended kind) cost to serve.
//!
//! One economic event is counted once (the reconciliation rule): when a ledger entry (a
//! purchase with an `other` amount) carries a booking's revenue (`booking_ref` attribute), it
//! is authoritative for that money, and the operational records of the same booking and
//! product (each flight segment's fare in the reservations, an add-on sold with the booking,
//! an airport record's fare) add activity but no revenue: matched on the booking reference
//! and the product (a record without a product matches any product of the booking). A record
//! billed to another party (its `billed_to` attribute names a corporate account or other
//! payer) is the traveller's activity and the payer's money: it adds the trip (transaction
//! day, product) to the traveller and no revenue, which the payer's ledger carries. A
//! transaction day is a day with a `purchase` or `booking` interaction or any positive
//! revenue; products are the `product` text attribute of those interactions; miles the
//! `miles` attribute; digital channels are web, app and e-mail. A disruption is a
//! cancellation, denied boarding, lost bag or a delay of at least three hours
//! (`delay_minutes`, or any delay without it); a complaint is unresolved when its
//! `resolved_first_contact` attribute is false.

use rapport_core::varint::{VarintError, put as put_varint, unzigzag, zigzag};
use serde::{Deserialize, Serialize};

use rapport_core::{
    Amount, AmountRole, AttrValue, Channel, Currency, Interaction, InteractionKind, Money,
    Timestamp,
};

use crate::currency::Converter;
use crate::rfm::Rfm;
use crate::value::{PeriodTotals, ValueDefinition, annual_value_with_carry_over};

/// Yearly buckets kept: the last four years (index 0 = the 365 days up to the as-of day) and
/// everything older (index 4).
pub const YEARS: usize = 5;
const NONE: i64 = i64::MIN;
const MS_PER_DAY: i64 = 86_400_000;
/// Delays shorter than this are not counted as disruptions.
pub const DISRUPTIVE_DELAY_MINUTES: i64 = 180;

/// A customer's history as of a day, in yearly buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// The day (days since 1970-01-01) the buckets count back from.
    pub as_of_day: i64,
    /// Day of the first interaction of any kind.
    pub first_day: Option<i64>,
    /// Day of the first transaction.
    pub first_purchase_day: Option<i64>,
    /// Revenue on the first transaction day (excluded from the repeat-spend average).
    pub first_purchase_revenue: f64,
    /// Money and miles per year.
    pub totals: [PeriodTotals; YEARS],
    /// Distinct transaction days per year.
    pub purchase_days: [u32; YEARS],
    /// Last transaction day in each year (`i64::MIN` for none).
    pub last_purchase_day: [i64; YEARS],
    /// Complaints per year.
    pub complaints: [u32; YEARS],
    /// Complaints not resolved on first contact, per year.
    pub unresolved_complaints: [u32; YEARS],
    /// Service disruptions suffered per year (delays, cancellations, denied boarding, bags).
    pub disruptions: [u32; YEARS],
    /// Interactions per year.
    pub interactions: [u32; YEARS],
    /// Interactions through digital channels per year.
    pub digital: [u32; YEARS],
    /// Products bought, each with the day first bought, sorted by name.
    pub products: Vec<(String, i64)>,
    /// Amounts that could not be converted into the reporting currency (no rate of their
    /// currency on or before their day); they add nothing to the totals.
    #[serde(default)]
    pub unconverted: u32,
    /// The first such amount's currency and day.
    #[serde(default)]
    pub missing_rate: Option<(Currency, i64)>,
}

/// Day number (days since 1970-01-01) of a timestamp.
pub fn day_of(t: Timestamp) -> i64 {
    t.as_millis().div_euclid(MS_PER_DAY)
}

fn year_index(as_of: i64, day: i64) -> usize {
    let k = (as_of - day).max(0) / 365;
    (k as usize).min(YEARS - 1)
}

fn is_transaction(i: &Interaction) -> bool {
    matches!(i.kind, InteractionKind::Purchase | InteractionKind::Booking)
        || i.amounts
            .iter()
            .any(|a| a.role == AmountRole::Revenue && a.money.minor > 0)
}

/// The version of [`Touch`]'s meaning: a stored [`HistoryDigest`] of another version was
/// made by a build that read interactions differently and must be rebuilt. Version 3: flat
/// digests hold pseudonyms of booking references, not the references.
pub const DIGEST_VERSION: u32 = 3;

/// What scoring reads of one interaction, and nothing else: its day, what kind of event it
/// was for value and churn, the amounts that count (roles already resolved), miles, and the
/// booking and product it concerns. [`summarize_touches`] over the touches of a history
/// gives exactly what [`summarize_history`] gives over the interactions, so a customer's
/// touches can be stored (a [`HistoryDigest`]) and read back instead of every interaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Touch {
    /// Day number (days since 1970-01-01).
    pub day: i64,
    /// `Touch::DIGITAL`, `COMPLAINT`, ...
    pub flags: u8,
    /// Revenue, refund, cost-to-serve and compensation amounts, with the role they count
    /// as (an `other` amount takes its role from the interaction's kind), in their order.
    pub amounts: Vec<Amount>,
    /// The `miles` attribute as a number.
    pub miles: Option<f64>,
    /// The `booking_ref`, kept when it matters: a ledger purchase, or any other record with
    /// revenue that a ledger entry may already carry.
    pub booking_ref: Option<String>,
    /// The trimmed `product` of a transaction.
    pub product: Option<String>,
}

impl Touch {
    /// Through a digital channel (web, app, e-mail).
    pub const DIGITAL: u8 = 1;
    /// A complaint.
    pub const COMPLAINT: u8 = 2;
    /// A complaint not resolved on first contact.
    pub const UNRESOLVED: u8 = 4;
    /// A service disruption.
    pub const DISRUPTIVE: u8 = 8;
    /// A transaction day.
    pub const TRANSACTION: u8 = 16;
    /// A purchase carrying a ledger amount (`other` role) for its booking.
    pub const LEDGER: u8 = 32;
    /// Not a purchase.
    pub const NOT_PURCHASE: u8 = 64;
    /// Billed to another party (a `billed_to` attribute): the traveller's activity, the
    /// payer's money.
    pub const BILLED_ELSEWHERE: u8 = 128;

    /// What scoring reads of `i`.
    pub fn of(i: &Interaction) -> Touch {
        let mut flags = 0;
        if matches!(i.channel, Channel::Web | Channel::App | Channel::Email) {
            flags |= Touch::DIGITAL;
        }
        if i.kind == InteractionKind::Complaint {
            flags |= Touch::COMPLAINT;
            if matches!(
                i.attributes.get("resolved_first_contact"),
                Some(AttrValue::Bool(false))
            ) {
                flags |= Touch::UNRESOLVED;
            }
        }
        let disruptive = match i.kind {
            InteractionKind::Delay => i
                .attr_int("delay_minutes")
                .is_none_or(|m| m >= DISRUPTIVE_DELAY_MINUTES),
            ref kind => kind.is_disruption(),
        };
        if disruptive {
            flags |= Touch::DISRUPTIVE;
        }
        let purchase = i.kind == InteractionKind::Purchase;
        if !purchase {
            flags |= Touch::NOT_PURCHASE;
        }
        if purchase && i.amounts.iter().any(|a| a.role == AmountRole::Other) {
            flags |= Touch::LEDGER;
        }
        let transaction = is_transaction(i);
        if transaction {
            flags |= Touch::TRANSACTION;
        }
        if i.attr_text("billed_to")
            .is_some_and(|p| !p.trim().is_empty())
        {
            flags |= Touch::BILLED_ELSEWHERE;
        }
        let amounts: Vec<Amount> = i
            .amounts
            .iter()
            .filter_map(|amount| {
                let role = match amount.role {
                    AmountRole::Other => match &i.kind {
                        InteractionKind::Purchase => AmountRole::Revenue,
                        InteractionKind::Refund => AmountRole::Refund,
                        InteractionKind::CompensationGranted => AmountRole::Compensation,
                        InteractionKind::Other(k) if k == "cost_to_serve" => {
                            AmountRole::CostToServe
                        }
                        _ => AmountRole::Other,
                    },
                    role => role,
                };
                matches!(
                    role,
                    AmountRole::Revenue
                        | AmountRole::Refund
                        | AmountRole::CostToServe
                        | AmountRole::Compensation
                )
                .then_some(Amount {
                    role,
                    money: amount.money,
                })
            })
            .collect();
        let has_revenue = amounts.iter().any(|a| a.role == AmountRole::Revenue);
        let booking_ref = if flags & Touch::LEDGER != 0 || has_revenue {
            i.attr_text("booking_ref").map(str::to_string)
        } else {
            None
        };
        let miles = match i.attributes.get("miles") {
            Some(AttrValue::Int(m)) => Some(*m as f64),
            Some(AttrValue::Float(m)) if m.is_finite() => Some(*m),
            _ => None,
        };
        let product = if transaction {
            i.attr_text("product")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
        } else {
            None
        };
        Touch {
            day: day_of(i.at),
            flags,
            amounts,
            miles,
            booking_ref,
            product,
        }
    }
}

/// A customer's touches, in the order of the interactions (time, then id): what a scoring
/// run stores per customer so that the next run need not read every interaction again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryDigest {
    /// [`DIGEST_VERSION`] when made.
    pub version: u32,
    /// One per interaction.
    pub touches: Vec<Touch>,
}

impl HistoryDigest {
    /// The digest of a customer's interactions.
    pub fn of(interactions: &[Interaction]) -> HistoryDigest {
        HistoryDigest {
            version: DIGEST_VERSION,
            touches: interactions.iter().map(Touch::of).collect(),
        }
    }

    /// Whether this build reads it (made with the same [`DIGEST_VERSION`]).
    pub fn is_current(&self) -> bool {
        self.version == DIGEST_VERSION
    }
}

/// Condenses a customer's interactions (any order) as of `now`, amounts converted by
/// `rates`.
pub fn summarize_history(
    interactions: &[Interaction],
    now: Timestamp,
    rates: &Converter,
) -> Activity {
    let touches: Vec<Touch> = interactions.iter().map(Touch::of).collect();
    summarize_touches(&touches, now, rates)
}

/// Condenses a customer's touches (any order) as of `now`: the same as
/// [`summarize_history`] on the interactions they were made of.
pub fn summarize_touches(touches: &[Touch], now: Timestamp, rates: &Converter) -> Activity {
    let ledger = LedgerKeys::of(touches.iter().map(Touch::view));
    summarize_views(touches.iter().map(Touch::view), &ledger, now, rates)
}

/// The bookings and products whose revenue a ledger entry of the customer carries, sorted
/// (`""` for a ledger entry without a product).
struct LedgerKeys<'a>(Vec<(&'a str, &'a str)>);

impl<'a> LedgerKeys<'a> {
    fn of(touches: impl Iterator<Item = TouchView<'a>>) -> LedgerKeys<'a> {
        let mut keys: Vec<(&str, &str)> = touches
            .filter(|t| t.has(Touch::LEDGER))
            .filter_map(|t| t.booking_ref.map(|b| (b, t.product.unwrap_or(""))))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        LedgerKeys(keys)
    }

    /// Whether a ledger entry carries the money of an operational record of `booking` and
    /// `product` (either without a product: any product of the booking).
    fn carries(&self, booking: &str, product: Option<&str>) -> bool {
        let from = self.0.partition_point(|(b, _)| *b < booking);
        self.0[from..]
            .iter()
            .take_while(|(b, _)| *b == booking)
            .any(|(_, p)| p.is_empty() || product.is_none_or(|q| q == *p))
    }
}

/// How one amount of a customer's history counts (see the module doc's reconciliation rule):
/// what `rapport value explain` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoneyLine {
    /// Index of the interaction in the history given.
    pub interaction: usize,
    /// Day number.
    pub day: i64,
    /// The amount as it came, with the role it counts as.
    pub amount: Amount,
    /// In the reporting currency at its day's rate (`None`: no rate).
    pub reporting: Option<f64>,
    /// Whether it adds to this customer's money.
    pub counted: bool,
    /// Why, in words.
    pub why: String,
    /// The booking it belongs to, if any.
    pub booking: Option<String>,
    /// The payer named by `billed_to`, when another party pays.
    pub billed_to: Option<String>,
}

/// Every amount of `interactions` that scoring reads, with how it counts for this customer.
pub fn explain_money(interactions: &[Interaction], rates: &Converter) -> Vec<MoneyLine> {
    let touches: Vec<Touch> = interactions.iter().map(Touch::of).collect();
    let ledger = LedgerKeys::of(touches.iter().map(Touch::view));
    let mut out = Vec::new();
    for (k, (i, t)) in interactions.iter().zip(&touches).enumerate() {
        let v = t.view();
        let billed_to = i
            .attr_text("billed_to")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        let carried =
            !v.has(Touch::LEDGER) && v.booking_ref.is_some_and(|b| ledger.carries(b, v.product));
        for amount in &t.amounts {
            let reporting = rates.to_reporting(amount.money, t.day);
            let revenue = amount.role == AmountRole::Revenue;
            let (counted, why) = if reporting.is_none() {
                (
                    false,
                    format!(
                        "no {} rate for {} on this day",
                        rates.reporting(),
                        amount.money.currency
                    ),
                )
            } else if revenue && v.has(Touch::LEDGER) {
                (
                    true,
                    "ledger entry: the money of its booking and product".to_string(),
                )
            } else if revenue && v.has(Touch::BILLED_ELSEWHERE) {
                (
                    false,
                    format!(
                        "billed to {}: the payer's money (its ledger), this customer's trip",
                        billed_to.as_deref().unwrap_or("another party")
                    ),
                )
            } else if revenue && carried {
                (
                    false,
                    "the ledger entry of the same booking and product carries this money"
                        .to_string(),
                )
            } else {
                (true, "counted".to_string())
            };
            out.push(MoneyLine {
                interaction: k,
                day: t.day,
                amount: *amount,
                reporting,
                counted,
                why,
                booking: t
                    .booking_ref
                    .clone()
                    .or_else(|| i.attr_text("booking_ref").map(str::to_string)),
                billed_to: billed_to.clone(),
            });
        }
    }
    out
}

/// One touch as [`summarize_views`] reads it, borrowed from a [`Touch`] or from a flat
/// digest's bytes.
#[derive(Clone, Copy)]
struct TouchView<'a> {
    day: i64,
    flags: u8,
    amounts: Amounts<'a>,
    miles: Option<f64>,
    booking_ref: Option<&'a str>,
    product: Option<&'a str>,
}

impl TouchView<'_> {
    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// A touch's amounts: a slice of a [`Touch`], or the encoded amounts of a flat digest
/// (already validated by [`FlatDigest::parse`]).
#[derive(Clone, Copy)]
enum Amounts<'a> {
    Slice(&'a [Amount]),
    Flat {
        bytes: &'a [u8],
        n: usize,
        currencies: &'a [Currency],
    },
}

impl<'a> Amounts<'a> {
    fn iter(self) -> impl Iterator<Item = Amount> + 'a {
        let mut slice = match self {
            Amounts::Slice(s) => s.iter(),
            Amounts::Flat { .. } => [].iter(),
        };
        let (mut bytes, mut left, currencies) = match self {
            Amounts::Flat {
                bytes,
                n,
                currencies,
            } => (bytes, n, currencies),
            Amounts::Slice(_) => (&[][..], 0, &[][..]),
        };
        std::iter::from_fn(move || {
            if let Some(a) = slice.next() {
                return Some(*a);
            }
            if left == 0 {
                return None;
            }
            left -= 1;
            // Validated when the digest was parsed: an error here ends the amounts.
            read_amount(&mut bytes, currencies).ok()
        })
    }
}

impl Touch {
    fn view(&self) -> TouchView<'_> {
        TouchView {
            day: self.day,
            flags: self.flags,
            amounts: Amounts::Slice(&self.amounts),
            miles: self.miles,
            booking_ref: self.booking_ref.as_deref(),
            product: self.product.as_deref(),
        }
    }
}

/// The body of [`summarize_touches`], over borrowed touches.
fn summarize_views<'a>(
    touches: impl Iterator<Item = TouchView<'a>>,
    ledger: &LedgerKeys<'_>,
    now: Timestamp,
    rates: &Converter,
) -> Activity {
    let as_of = day_of(now);
    let mut a = Activity::empty(as_of);
    let mut purchase_days: Vec<(i64, f64)> = Vec::new();
    for i in touches {
        let day = i.day;
        if day > as_of {
            continue;
        }
        let k = year_index(as_of, day);
        a.first_day = Some(a.first_day.map_or(day, |f| f.min(day)));
        a.interactions[k] += 1;
        if i.has(Touch::DIGITAL) {
            a.digital[k] += 1;
        }
        if i.has(Touch::COMPLAINT) {
            a.complaints[k] += 1;
            if i.has(Touch::UNRESOLVED) {
                a.unresolved_complaints[k] += 1;
            }
        }
        if i.has(Touch::DISRUPTIVE) {
            a.disruptions[k] += 1;
        }
        // The reconciliation rule (module doc): an operational record whose money a ledger
        // entry carries, or that another party pays, adds no revenue.
        let counted_elsewhere = !i.has(Touch::LEDGER)
            && (i.has(Touch::BILLED_ELSEWHERE)
                || i.booking_ref.is_some_and(|b| ledger.carries(b, i.product)));
        let t = &mut a.totals[k];
        let mut revenue = 0.0;
        for amount in i.amounts.iter() {
            if counted_elsewhere && amount.role == AmountRole::Revenue {
                continue;
            }
            let Some(v) = rates.to_reporting(amount.money, day) else {
                a.unconverted += 1;
                a.missing_rate.get_or_insert((amount.money.currency, day));
                continue;
            };
            match amount.role {
                AmountRole::Revenue => revenue += v,
                AmountRole::Refund => t.refunds += v.abs(),
                AmountRole::CostToServe => t.cost_to_serve += v.abs(),
                AmountRole::Compensation => t.compensation += v.abs(),
                _ => {}
            }
        }
        t.revenue += revenue;
        if let Some(m) = i.miles {
            t.miles += m;
        }
        if i.has(Touch::TRANSACTION) {
            purchase_days.push((day, revenue));
            if let Some(p) = i.product {
                match a.products.binary_search_by(|(n, _)| n.as_str().cmp(p)) {
                    Ok(pos) => a.products[pos].1 = a.products[pos].1.min(day),
                    Err(pos) => a.products.insert(pos, (p.to_string(), day)),
                }
            }
        }
    }
    purchase_days.sort_by_key(|d| d.0);
    let mut previous = NONE;
    for &(day, revenue) in &purchase_days {
        if a.first_purchase_day.is_none() {
            a.first_purchase_day = Some(day);
        }
        if Some(day) == a.first_purchase_day {
            a.first_purchase_revenue += revenue;
        }
        if day != previous {
            let k = year_index(as_of, day);
            a.purchase_days[k] += 1;
            a.last_purchase_day[k] = a.last_purchase_day[k].max(day);
            previous = day;
        }
    }
    a
}

// ---- flat digests ----
//
// A history digest as stored: bytes read in place, without decoding each touch into owned
// values (a million customers' digests are read on every scoring run). Layout:
//
// - `u8` [`DIGEST_VERSION`];
// - varint touch count;
// - `u8` currency count (at most [`MAX_CURRENCIES`]), 3 ASCII letters each;
// - varint string count, then varint byte length + UTF-8 each (booking reference
//   pseudonyms and products, each distinct string once);
// - per touch, in the order of the interactions: zigzag varint day minus the previous
//   touch's day (the first: minus 0); `u8` flags ([`Touch::DIGITAL`], ...); `u8` shape
//   (bits 0-3 amount count, 15 = a varint count follows; bit 4 miles; bit 5 miles as a
//   zigzag varint integer, else `f64` little-endian; bit 6 booking reference; bit 7
//   product); then each amount (`u8`: role in bits 0-1 (revenue, refund, cost to serve,
//   compensation), currency index in bits 2-7; zigzag varint minor units); the miles; the
//   booking reference's and the product's string index (varint).
//
// Varints are LEB128, at most 10 bytes. Parsing checks every length and index and that the
// bytes end with the last touch.
//
// A booking reference is personal data (it finds the passenger at an airline's desk), and
// digests are stored unsealed, where sled keeps old values in its file: so a flat digest
// never holds one. Scoring only asks whether two touches of the same customer share a
// booking, so each distinct reference is written as its pseudonym, `#` and its rank of first
// appearance in the digest (`#0`, `#1`, ...): the same comparisons, nothing to find.

/// Currencies one flat digest can name (a history with more is not digested).
pub const MAX_CURRENCIES: usize = 64;
const SHAPE_COUNT: u8 = 0x0f;
const SHAPE_MILES: u8 = 0x10;
const SHAPE_MILES_INT: u8 = 0x20;
const SHAPE_BOOKING: u8 = 0x40;
const SHAPE_PRODUCT: u8 = 0x80;

fn cut() -> String {
    "history digest cut short".to_string()
}

fn get_u8(b: &mut &[u8]) -> Result<u8, String> {
    let (&first, rest) = b.split_first().ok_or_else(cut)?;
    *b = rest;
    Ok(first)
}

fn get_varint(b: &mut &[u8]) -> Result<u64, String> {
    rapport_core::varint::take(b).map_err(|e| match e {
        VarintError::CutShort => cut(),
        VarintError::TooLong => "varint overflows 64 bits".to_string(),
    })
}

fn get_len(b: &mut &[u8], what: &str) -> Result<usize, String> {
    let n = get_varint(b)?;
    // Every counted item takes at least one byte, so a count beyond the bytes left is false.
    usize::try_from(n)
        .ok()
        .filter(|n| *n <= b.len())
        .ok_or_else(|| format!("{what} count {n} exceeds the digest"))
}

fn get_bytes<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if b.len() < n {
        return Err(cut());
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Ok(head)
}

const ROLES: [AmountRole; 4] = [
    AmountRole::Revenue,
    AmountRole::Refund,
    AmountRole::CostToServe,
    AmountRole::Compensation,
];

fn read_amount(b: &mut &[u8], currencies: &[Currency]) -> Result<Amount, String> {
    let tag = get_u8(b)?;
    let role = ROLES[usize::from(tag & 3)];
    let currency = *currencies
        .get(usize::from(tag >> 2))
        .ok_or_else(|| format!("currency {} of {}", tag >> 2, currencies.len()))?;
    let minor = unzigzag(get_varint(b)?);
    Ok(Amount {
        role,
        money: Money { minor, currency },
    })
}

/// Whether flat digest bytes were made with this build's [`DIGEST_VERSION`] (reads one byte).
pub fn flat_digest_is_current(bytes: &[u8]) -> bool {
    bytes
        .first()
        .is_some_and(|v| u32::from(*v) == DIGEST_VERSION)
}

/// A flat digest, parsed and checked: its header, and touches that read without error.
#[derive(Debug)]
pub struct FlatDigest<'a> {
    touches: usize,
    currencies: [Currency; MAX_CURRENCIES],
    currency_count: usize,
    strings: Vec<&'a str>,
    body: &'a [u8],
}

impl<'a> FlatDigest<'a> {
    /// Parses and checks flat digest bytes of this build's [`DIGEST_VERSION`].
    pub fn parse(bytes: &'a [u8]) -> Result<FlatDigest<'a>, String> {
        let mut b = bytes;
        let version = get_u8(&mut b)?;
        if u32::from(version) != DIGEST_VERSION {
            return Err(format!(
                "history digest version {version}, this build reads {DIGEST_VERSION}"
            ));
        }
        let touches = get_len(&mut b, "touch")?;
        let currency_count = usize::from(get_u8(&mut b)?);
        if currency_count > MAX_CURRENCIES {
            return Err(format!("{currency_count} currencies in a history digest"));
        }
        let mut currencies = [Currency::EUR; MAX_CURRENCIES];
        for c in currencies.iter_mut().take(currency_count) {
            let code = std::str::from_utf8(get_bytes(&mut b, 3)?)
                .ok()
                .and_then(|s| s.parse::<Currency>().ok())
                .filter(|c| c.as_str().len() == 3)
                .ok_or_else(|| "a currency code in a history digest is not valid".to_string())?;
            *c = code;
        }
        let string_count = get_len(&mut b, "string")?;
        let mut strings = Vec::with_capacity(string_count);
        for _ in 0..string_count {
            let len = get_len(&mut b, "byte")?;
            let raw = get_bytes(&mut b, len)?;
            strings.push(
                std::str::from_utf8(raw)
                    .map_err(|_| "a string in a history digest is not UTF-8".to_string())?,
            );
        }
        let digest = FlatDigest {
            touches,
            currencies,
            currency_count,
            strings,
            body: b,
        };
        // Check every touch once, so that reading them again cannot fail.
        let mut rest = digest.body;
        let mut day = 0i64;
        for _ in 0..touches {
            digest.next_touch(&mut rest, &mut day)?;
        }
        if !rest.is_empty() {
            return Err(format!(
                "{} bytes after the last touch of a history digest",
                rest.len()
            ));
        }
        Ok(digest)
    }

    /// Touches (interactions) in the digest.
    pub fn len(&self) -> usize {
        self.touches
    }

    /// Whether it has no touches (a customer without interactions).
    pub fn is_empty(&self) -> bool {
        self.touches == 0
    }

    fn string(&self, b: &mut &[u8]) -> Result<&'a str, String> {
        let i = get_varint(b)?;
        usize::try_from(i)
            .ok()
            .and_then(|i| self.strings.get(i))
            .copied()
            .ok_or_else(|| format!("string {i} of {}", self.strings.len()))
    }

    fn next_touch<'s>(&'s self, b: &mut &'a [u8], day: &mut i64) -> Result<TouchView<'s>, String> {
        *day = day.wrapping_add(unzigzag(get_varint(b)?));
        let flags = get_u8(b)?;
        let shape = get_u8(b)?;
        let n = match shape & SHAPE_COUNT {
            SHAPE_COUNT => get_len(b, "amount")?,
            n => usize::from(n),
        };
        let currencies = &self.currencies[..self.currency_count];
        let start = *b;
        for _ in 0..n {
            read_amount(b, currencies)?;
        }
        let amounts = Amounts::Flat {
            bytes: &start[..start.len() - b.len()],
            n,
            currencies,
        };
        let miles = if shape & SHAPE_MILES == 0 {
            None
        } else if shape & SHAPE_MILES_INT != 0 {
            Some(unzigzag(get_varint(b)?) as f64)
        } else {
            let raw: [u8; 8] = get_bytes(b, 8)?.try_into().map_err(|_| cut())?;
            Some(f64::from_le_bytes(raw))
        };
        let booking_ref = if shape & SHAPE_BOOKING != 0 {
            Some(self.string(b)?)
        } else {
            None
        };
        let product = if shape & SHAPE_PRODUCT != 0 {
            Some(self.string(b)?)
        } else {
            None
        };
        Ok(TouchView {
            day: *day,
            flags,
            amounts,
            miles,
            booking_ref,
            product,
        })
    }

    fn views(&self) -> impl Iterator<Item = TouchView<'_>> + '_ {
        let mut rest = self.body;
        let mut day = 0i64;
        let mut left = self.touches;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            // Checked by `parse`: an error here ends the touches.
            self.next_touch(&mut rest, &mut day).ok()
        })
    }

    /// The digest's history as of `now`: exactly [`summarize_touches`] on its touches.
    pub fn summarize(&self, now: Timestamp, rates: &Converter) -> Activity {
        // Decoded once for both passes (the ledger's keys, then the sums): a million digests
        // a run.
        let touches: Vec<TouchView<'_>> = self.views().collect();
        let ledger = LedgerKeys::of(touches.iter().copied());
        summarize_views(touches.iter().copied(), &ledger, now, rates)
    }

    /// The touches, owned (for tests and tools; scoring reads them in place).
    pub fn touches(&self) -> Vec<Touch> {
        self.views()
            .map(|t| Touch {
                day: t.day,
                flags: t.flags,
                amounts: t.amounts.iter().collect(),
                miles: t.miles,
                booking_ref: t.booking_ref.map(str::to_string),
                product: t.product.map(str::to_string),
            })
            .collect()
    }
}

impl HistoryDigest {
    /// The flat bytes of this digest (see [`FlatDigest`]), or `None` when it cannot be
    /// represented: not of this build's [`DIGEST_VERSION`], more than [`MAX_CURRENCIES`]
    /// currencies, or an amount of a role scoring does not count.
    pub fn to_flat(&self) -> Option<Vec<u8>> {
        if self.version != DIGEST_VERSION {
            return None;
        }
        let version = u8::try_from(DIGEST_VERSION).ok()?;
        let mut currencies: Vec<Currency> = Vec::new();
        // The booking references' pseudonyms, in order of first appearance.
        let bookings = pseudonyms(self.touches.iter().filter_map(|t| t.booking_ref.as_deref()));
        let pseudonym = |t: &Touch| {
            t.booking_ref
                .as_deref()
                .and_then(|b| bookings.get(b))
                .map(String::as_str)
        };
        let mut strings: Vec<&str> = Vec::new();
        let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for t in &self.touches {
            for a in &t.amounts {
                if !currencies.contains(&a.money.currency) {
                    currencies.push(a.money.currency);
                }
            }
            for s in [pseudonym(t), t.product.as_deref()].into_iter().flatten() {
                index.entry(s).or_insert_with(|| {
                    strings.push(s);
                    strings.len() - 1
                });
            }
        }
        if currencies.len() > MAX_CURRENCIES {
            return None;
        }
        let mut out = Vec::with_capacity(16 + self.touches.len() * 8);
        out.push(version);
        put_varint(&mut out, self.touches.len() as u64);
        out.push(currencies.len() as u8);
        for c in &currencies {
            out.extend_from_slice(c.as_str().as_bytes());
        }
        put_varint(&mut out, strings.len() as u64);
        for s in &strings {
            put_varint(&mut out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        let mut previous = 0i64;
        for t in &self.touches {
            put_varint(&mut out, zigzag(t.day.wrapping_sub(previous)));
            previous = t.day;
            out.push(t.flags);
            let mut shape = if t.amounts.len() >= usize::from(SHAPE_COUNT) {
                SHAPE_COUNT
            } else {
                t.amounts.len() as u8
            };
            let miles_int = t.miles.and_then(|m| {
                let i = m as i64;
                ((i as f64).to_bits() == m.to_bits() && i.unsigned_abs() < 1 << 53).then_some(i)
            });
            if t.miles.is_some() {
                shape |= SHAPE_MILES;
                if miles_int.is_some() {
                    shape |= SHAPE_MILES_INT;
                }
            }
            if t.booking_ref.is_some() {
                shape |= SHAPE_BOOKING;
            }
            if t.product.is_some() {
                shape |= SHAPE_PRODUCT;
            }
            out.push(shape);
            if shape & SHAPE_COUNT == SHAPE_COUNT {
                put_varint(&mut out, t.amounts.len() as u64);
            }
            for a in &t.amounts {
                let role = ROLES.iter().position(|r| *r == a.role)? as u8;
                let currency = currencies.iter().position(|c| *c == a.money.currency)? as u8;
                out.push(role | (currency << 2));
                put_varint(&mut out, zigzag(a.money.minor));
            }
            match (t.miles, miles_int) {
                (_, Some(i)) => put_varint(&mut out, zigzag(i)),
                (Some(m), None) => out.extend_from_slice(&m.to_le_bytes()),
                (None, None) => {}
            }
            for s in [pseudonym(t), t.product.as_deref()].into_iter().flatten() {
                put_varint(&mut out, *index.get(s)? as u64);
            }
        }
        Some(out)
    }
}

/// Each distinct string of `refs` with its pseudonym: `#` and its rank of first appearance.
fn pseudonyms<'a>(
    refs: impl Iterator<Item = &'a str>,
) -> std::collections::HashMap<&'a str, String> {
    let mut out = std::collections::HashMap::new();
    for r in refs {
        let next = out.len();
        out.entry(r).or_insert_with(|| format!("#{next}"));
    }
    out
}

impl Activity {
    /// No history as of `as_of_day`.
    pub fn empty(as_of_day: i64) -> Activity {
        Activity {
            as_of_day,
            first_day: None,
            first_purchase_day: None,
            first_purchase_revenue: 0.0,
            totals: [PeriodTotals::default(); YEARS],
            purchase_days: [0; YEARS],
            last_purchase_day: [NONE; YEARS],
            complaints: [0; YEARS],
            unresolved_complaints: [0; YEARS],
            disruptions: [0; YEARS],
            interactions: [0; YEARS],
            digital: [0; YEARS],
            products: Vec::new(),
            unconverted: 0,
            missing_rate: None,
        }
    }

    /// The same history as it stood `years` years (of 365 days) earlier. Exact for years 0
    /// and 1, totals, recency and products when `years <= 2`; older buckets are merged into the
    /// oldest.
    pub fn years_ago(&self, years: usize) -> Activity {
        if years == 0 {
            return self.clone();
        }
        let as_of = self.as_of_day - 365 * years as i64;
        let mut a = Activity::empty(as_of);
        a.first_day = self.first_day.filter(|d| *d <= as_of);
        a.first_purchase_day = self.first_purchase_day.filter(|d| *d <= as_of);
        if a.first_purchase_day.is_some() {
            a.first_purchase_revenue = self.first_purchase_revenue;
        }
        for old in years..YEARS {
            let new = if old == YEARS - 1 {
                YEARS - 1
            } else {
                old - years
            };
            let (o, n) = (&self.totals[old], &mut a.totals[new]);
            n.revenue += o.revenue;
            n.refunds += o.refunds;
            n.cost_to_serve += o.cost_to_serve;
            n.compensation += o.compensation;
            n.miles += o.miles;
            a.purchase_days[new] += self.purchase_days[old];
            a.last_purchase_day[new] = a.last_purchase_day[new].max(self.last_purchase_day[old]);
            a.complaints[new] += self.complaints[old];
            a.unresolved_complaints[new] += self.unresolved_complaints[old];
            a.disruptions[new] += self.disruptions[old];
            a.interactions[new] += self.interactions[old];
            a.digital[new] += self.digital[old];
        }
        a.products = self
            .products
            .iter()
            .filter(|(_, d)| *d <= as_of)
            .cloned()
            .collect();
        a
    }

    /// Whether the customer had any transaction by the as-of day.
    pub fn acquired(&self) -> bool {
        self.first_purchase_day.is_some()
    }

    /// The last transaction day, if any.
    pub fn last_purchase(&self) -> Option<i64> {
        self.last_purchase_day
            .iter()
            .copied()
            .max()
            .filter(|d| *d != NONE)
    }

    /// Days since the last transaction (None without any).
    pub fn recency_days(&self) -> Option<i64> {
        self.last_purchase().map(|d| self.as_of_day - d)
    }

    /// Years since the first interaction.
    pub fn tenure_years(&self) -> f64 {
        self.first_day
            .map_or(0.0, |f| (self.as_of_day - f) as f64 / 365.25)
    }

    /// The value of year `k` (0 = the last 365 days) by the value definition.
    pub fn value_in_year(&self, def: &ValueDefinition, k: usize) -> f64 {
        def.value(&self.totals[k.min(YEARS - 1)], self.tenure_years())
    }

    /// Current-period value (the last 365 days).
    pub fn value(&self, def: &ValueDefinition) -> f64 {
        self.value_in_year(def, 0)
    }

    /// Profitability over the last 365 days: revenue minus refunds, cost to serve and
    /// compensation.
    pub fn profit(&self) -> f64 {
        self.totals[0].profit()
    }

    /// Annual value with carry-over over the last four years.
    pub fn annual_value(&self, def: &ValueDefinition) -> f64 {
        let mut values = [0.0; YEARS - 1];
        for (k, v) in values.iter_mut().enumerate() {
            *v = self.value_in_year(def, k);
        }
        annual_value_with_carry_over(&values, def.carry_over)
    }

    /// The BG/NBD / Gamma-Gamma summary in weeks, or `None` before the first transaction.
    pub fn rfm(&self) -> Option<Rfm> {
        let first = self.first_purchase_day?;
        let days: u32 = self.purchase_days.iter().sum();
        let frequency = days.saturating_sub(1);
        let last = self.last_purchase().unwrap_or(first);
        let revenue: f64 = self.totals.iter().map(|t| t.revenue).sum();
        let monetary = if frequency > 0 {
            ((revenue - self.first_purchase_revenue) / frequency as f64).max(0.0)
        } else {
            0.0
        };
        let age = ((self.as_of_day - first) as f64 / 7.0).max(1.0 / 7.0);
        let recency = if frequency > 0 {
            ((last - first) as f64 / 7.0).max(1.0 / 7.0).min(age)
        } else {
            0.0
        };
        Some(Rfm {
            frequency,
            recency,
            age,
            monetary,
        })
    }

    /// Whether product `p` was bought by the as-of day.
    pub fn holds(&self, p: &str) -> bool {
        self.products
            .binary_search_by(|(n, _)| n.as_str().cmp(p))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::{Amount, Currency, CustomerId, InteractionId, Money};

    pub(crate) fn at_day(day: i64) -> Timestamp {
        Timestamp::from_millis(day * MS_PER_DAY + 3_600_000)
    }

    pub(crate) fn eur() -> Converter {
        Converter::reporting_only(Currency::EUR)
    }

    pub(crate) fn purchase(id: u64, day: i64, euros: i64, product: &str) -> Interaction {
        let mut i = Interaction::new(
            InteractionId(id),
            CustomerId(1),
            at_day(day),
            Channel::Web,
            InteractionKind::Purchase,
        );
        i.amounts.push(Amount {
            role: AmountRole::Revenue,
            money: Money::new(euros * 100, Currency::EUR),
        });
        i.attributes
            .insert("product".into(), AttrValue::Text(product.into()));
        i.attributes.insert("miles".into(), AttrValue::Int(1000));
        i
    }

    fn event(id: u64, day: i64, kind: InteractionKind) -> Interaction {
        Interaction::new(
            InteractionId(id),
            CustomerId(1),
            at_day(day),
            Channel::CallCenter,
            kind,
        )
    }

    #[test]
    fn ledger_revenue_is_not_counted_twice_and_short_delays_are_no_disruption() {
        let booking_ref = |mut i: Interaction, r: &str| {
            i.attributes
                .insert("booking_ref".into(), AttrValue::Text(r.into()));
            i
        };
        let mut segment = event(1, 10, InteractionKind::Booking);
        segment.amounts.push(Amount {
            role: AmountRole::Revenue,
            money: Money::new(27_965, Currency::EUR),
        });
        let mut ledger = event(2, 10, InteractionKind::Purchase);
        ledger.amounts.push(Amount {
            role: AmountRole::Other,
            money: Money::new(55_930, Currency::EUR),
        });
        let mut cost = event(3, 10, InteractionKind::Other("cost_to_serve".into()));
        cost.amounts.push(Amount {
            role: AmountRole::Other,
            money: Money::new(-20_048, Currency::EUR),
        });
        let mut short = event(4, 12, InteractionKind::Delay);
        short
            .attributes
            .insert("delay_minutes".into(), AttrValue::Int(40));
        let mut long = event(5, 13, InteractionKind::Delay);
        long.attributes
            .insert("delay_minutes".into(), AttrValue::Int(240));
        let mut unresolved = event(6, 14, InteractionKind::Complaint);
        unresolved
            .attributes
            .insert("resolved_first_contact".into(), AttrValue::Bool(false));
        let h = vec![
            booking_ref(segment, "F7LBTX"),
            booking_ref(ledger, "F7LBTX"),
            booking_ref(cost, "F7LBTX"),
            short,
            long,
            unresolved,
        ];
        let a = summarize_history(&h, at_day(20), &eur());
        assert_eq!(a.totals[0].revenue, 559.30);
        assert_eq!(a.totals[0].cost_to_serve, 200.48);
        assert_eq!(a.purchase_days[0], 1);
        assert_eq!(a.disruptions[0], 1);
        assert_eq!((a.complaints[0], a.unresolved_complaints[0]), (1, 1));
    }

    fn with(
        mut i: Interaction,
        attrs: &[(&str, &str)],
        minor: i64,
        role: AmountRole,
    ) -> Interaction {
        for (k, v) in attrs {
            i.attributes
                .insert((*k).into(), AttrValue::Text((*v).into()));
        }
        i.amounts.push(Amount {
            role,
            money: Money::new(minor, Currency::EUR),
        });
        i
    }

    #[test]
    fn an_add_on_in_the_reservations_and_the_ledger_is_one_event_counted_from_the_ledger() {
        let hotel = [("booking_ref", "B1"), ("product", "hotel")];
        let h = vec![
            // The reservation's flight coupon and hotel add-on (purchase kind)...
            with(
                event(1, 10, InteractionKind::Booking),
                &[("booking_ref", "B1"), ("product", "flight")],
                30_000,
                AmountRole::Revenue,
            ),
            with(
                event(2, 10, InteractionKind::Purchase),
                &hotel,
                24_000,
                AmountRole::Revenue,
            ),
            // ... and the ledger's entries for the same booking and products.
            with(
                event(3, 10, InteractionKind::Purchase),
                &[("booking_ref", "B1"), ("product", "flight")],
                60_000,
                AmountRole::Other,
            ),
            with(
                event(4, 10, InteractionKind::Purchase),
                &hotel,
                24_100,
                AmountRole::Other,
            ),
            // A car on the same booking that finance never posted still counts.
            with(
                event(5, 10, InteractionKind::Purchase),
                &[("booking_ref", "B1"), ("product", "car")],
                9_000,
                AmountRole::Revenue,
            ),
        ];
        let a = summarize_history(&h, at_day(20), &eur());
        assert_eq!(a.totals[0].revenue, 600.0 + 241.0 + 90.0);
        assert_eq!(a.products.len(), 3);
    }

    #[test]
    fn the_money_explanation_names_the_rule_for_each_amount() {
        let h = vec![
            with(
                event(1, 10, InteractionKind::Booking),
                &[("booking_ref", "B1"), ("product", "flight")],
                30_000,
                AmountRole::Revenue,
            ),
            with(
                event(2, 10, InteractionKind::Purchase),
                &[("booking_ref", "B1"), ("product", "flight")],
                30_000,
                AmountRole::Other,
            ),
            with(
                event(3, 11, InteractionKind::Booking),
                &[
                    ("booking_ref", "B2"),
                    ("product", "flight"),
                    ("billed_to", "CORP-7"),
                ],
                50_000,
                AmountRole::Revenue,
            ),
        ];
        let lines = explain_money(&h, &eur());
        let counted: Vec<bool> = lines.iter().map(|l| l.counted).collect();
        assert_eq!(counted, [false, true, false]);
        assert!(
            lines[0].why.contains("ledger entry of the same booking"),
            "{:?}",
            lines[0]
        );
        assert!(lines[2].why.contains("billed to CORP-7"), "{:?}", lines[2]);
        let a = summarize_history(&h, at_day(20), &eur());
        let total: f64 = lines
            .iter()
            .filter(|l| l.counted)
            .filter_map(|l| l.reporting)
            .sum();
        assert_eq!(
            a.totals[0].revenue, total,
            "the explanation adds up to the summary"
        );
    }

    #[test]
    fn a_trip_billed_to_the_company_is_the_travellers_activity_and_not_his_revenue() {
        let h = vec![with(
            event(1, 10, InteractionKind::Booking),
            &[
                ("booking_ref", "B9"),
                ("product", "flight"),
                ("billed_to", "CORP-7"),
            ],
            80_000,
            AmountRole::Revenue,
        )];
        let a = summarize_history(&h, at_day(20), &eur());
        assert_eq!(a.totals[0].revenue, 0.0);
        assert_eq!(a.purchase_days[0], 1, "the trip is his activity");
        assert!(a.holds("flight"));
    }

    #[test]
    fn amounts_convert_at_their_days_rate_and_a_missing_rate_is_reported() {
        use rapport_core::{ExchangeRates, RateSeries};
        let sek: Currency = "SEK".parse().unwrap();
        let rates = Converter::new(&ExchangeRates {
            reporting: Currency::EUR,
            source: "test".into(),
            series: vec![RateSeries {
                currency: sek,
                rates: vec![(5, 10.0), (12, 12.5)],
            }],
        });
        let kr = |id, day, minor| {
            let mut i = event(id, day, InteractionKind::Purchase);
            i.amounts.push(Amount {
                role: AmountRole::Revenue,
                money: Money::new(minor, sek),
            });
            i
        };
        let h = vec![
            kr(1, 10, 100_000),
            kr(2, 13, 100_000),
            purchase(3, 14, 5, "car"),
        ];
        let a = summarize_history(&h, at_day(20), &rates);
        assert_eq!(a.totals[0].revenue, 100.0 + 80.0 + 5.0);
        assert_eq!((a.unconverted, a.missing_rate), (0, None));
        let early = summarize_history(&[kr(1, 3, 100_000), kr(2, 4, 1)], at_day(20), &rates);
        assert_eq!(early.totals[0].revenue, 0.0, "never taken 1:1");
        assert_eq!((early.unconverted, early.missing_rate), (2, Some((sek, 3))));
    }

    #[test]
    fn buckets_values_and_rfm() {
        let now = at_day(1000);
        let mut comp = event(9, 990, InteractionKind::CompensationGranted);
        comp.amounts.push(Amount {
            role: AmountRole::Compensation,
            money: Money::new(-5000, Currency::EUR),
        });
        let h = vec![
            purchase(1, 100, 200, "flight"),
            purchase(2, 100, 100, "hotel"),
            purchase(3, 500, 300, "flight"),
            purchase(4, 900, 400, "car"),
            event(5, 950, InteractionKind::Complaint),
            event(6, 960, InteractionKind::Delay),
            event(7, 970, InteractionKind::Complaint),
            comp,
        ];
        let a = summarize_history(&h, now, &eur());
        assert_eq!(a.purchase_days, [1, 1, 1, 0, 0]);
        assert_eq!(a.complaints[0], 2);
        assert_eq!(a.disruptions[0], 1);
        assert_eq!(a.totals[0].revenue, 400.0);
        assert_eq!(a.totals[0].compensation, 50.0);
        assert_eq!(a.profit(), 350.0);
        let def = ValueDefinition::default();
        assert_eq!(a.value(&def), 400.0 + 50.0 - 50.0);
        assert_eq!(a.recency_days(), Some(100));
        assert_eq!(a.products.len(), 3);
        let rfm = a.rfm().unwrap();
        assert_eq!(rfm.frequency, 2);
        assert!((rfm.recency - 800.0 / 7.0).abs() < 1e-9);
        assert!((rfm.age - 900.0 / 7.0).abs() < 1e-9);
        assert_eq!(rfm.monetary, 350.0);

        let before = a.years_ago(1);
        assert_eq!(before.as_of_day, 635);
        assert_eq!(before.purchase_days[0], 1);
        assert_eq!(before.recency_days(), Some(135));
        assert!(before.holds("hotel") && !before.holds("car"));
        assert_eq!(before.complaints[0], 0);
        assert_eq!(before.rfm().unwrap().frequency, 1);
        let long_ago = a.years_ago(3);
        assert!(!long_ago.acquired());
        assert!(long_ago.rfm().is_none());
    }

    mod flat {
        use proptest::prelude::*;

        use super::super::*;
        use rapport_core::{Amount, Currency, Money};

        fn touch() -> impl Strategy<Value = Touch> {
            let currency = prop_oneof![
                Just(Currency::EUR),
                Just(Currency::USD),
                Just("JPY".parse::<Currency>().unwrap()),
            ];
            let amount = (
                0usize..4,
                currency,
                -1_000_000_000_000_000i64..1_000_000_000_000_000,
            )
                .prop_map(|(r, currency, minor)| Amount {
                    role: ROLES[r],
                    money: Money { minor, currency },
                });
            let miles = prop_oneof![
                Just(None),
                (-1_000_000i64..1_000_000).prop_map(|m| Some(m as f64)),
                (-1e9f64..1e9).prop_map(Some),
                Just(Some(-0.0)),
                Just(Some(9.1e15)),
            ];
            let name = prop_oneof![
                Just(None),
                Just(Some("F7LBTX".to_string())),
                Just(Some("flight".to_string())),
                "[a-zé]{0,12}".prop_map(Some),
            ];
            (
                -100_000i64..100_000,
                any::<u8>(),
                proptest::collection::vec(amount, 0..20),
                miles,
                name.clone(),
                name,
            )
                .prop_map(|(day, flags, amounts, miles, booking_ref, product)| Touch {
                    day,
                    flags,
                    amounts,
                    miles,
                    booking_ref,
                    product,
                })
        }

        proptest! {
            #[test]
            fn flat_digests_read_back_and_summarize_as_the_touches(
                touches in proptest::collection::vec(touch(), 0..40),
                as_of in -1_000i64..120_000,
            ) {
                let digest = HistoryDigest { version: DIGEST_VERSION, touches };
                let bytes = digest.to_flat().unwrap();
                prop_assert!(flat_digest_is_current(&bytes));
                let flat = FlatDigest::parse(&bytes).unwrap();
                prop_assert_eq!(flat.len(), digest.touches.len());
                // The touches come back with each booking reference as its pseudonym.
                let mut seen: Vec<&str> = Vec::new();
                let expected: Vec<Touch> = digest
                    .touches
                    .iter()
                    .map(|t| Touch {
                        booking_ref: t.booking_ref.as_deref().map(|b| {
                            let rank = seen.iter().position(|s| *s == b).unwrap_or_else(|| {
                                seen.push(b);
                                seen.len() - 1
                            });
                            format!("#{rank}")
                        }),
                        ..t.clone()
                    })
                    .collect();
                prop_assert_eq!(&flat.touches(), &expected);
                let now = Timestamp::from_millis(as_of * MS_PER_DAY + 1);
                let rates = Converter::new(&rapport_core::ExchangeRates {
                    reporting: Currency::EUR,
                    source: "test".into(),
                    series: vec![rapport_core::RateSeries {
                        currency: Currency::USD,
                        rates: vec![(-50_000, 1.1), (0, 1.08)],
                    }],
                });
                prop_assert_eq!(
                    flat.summarize(now, &rates),
                    summarize_touches(&digest.touches, now, &rates)
                );
            }

            #[test]
            fn arbitrary_bytes_are_an_error_or_a_digest_never_a_panic(
                raw in proptest::collection::vec(any::<u8>(), 0..120)
            ) {
                let mut raw = raw;
                if let Some(first) = raw.first_mut() {
                    *first = DIGEST_VERSION as u8;
                }
                if let Ok(flat) = FlatDigest::parse(&raw) {
                    let _ = flat.summarize(
                        Timestamp::from_millis(0),
                        &Converter::reporting_only(Currency::EUR),
                    );
                    let _ = flat.touches();
                }
            }
        }

        #[test]
        fn a_flat_digest_holds_no_booking_reference_and_counts_the_same() {
            let booking_ref = |mut i: Interaction, r: &str| {
                i.attributes
                    .insert("booking_ref".into(), AttrValue::Text(r.into()));
                i
            };
            let history = [
                booking_ref(super::purchase(1, 100, 200, "flight"), "F7LBTX"),
                booking_ref(super::purchase(2, 101, 300, "hotel"), "QZ9KLM"),
                booking_ref(super::purchase(3, 102, 300, "hotel"), "F7LBTX"),
            ];
            let digest = HistoryDigest::of(&history);
            assert!(digest.touches.iter().all(|t| t.booking_ref.is_some()));
            let bytes = digest.to_flat().unwrap();
            for secret in ["F7LBTX", "QZ9KLM"] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{secret} in the digest"
                );
            }
            let flat = FlatDigest::parse(&bytes).unwrap();
            let refs: Vec<_> = flat
                .touches()
                .into_iter()
                .map(|t| t.booking_ref.unwrap())
                .collect();
            assert_eq!(refs, ["#0", "#1", "#0"]);
            let now = Timestamp::from_millis(200 * MS_PER_DAY);
            let rates = Converter::reporting_only(Currency::EUR);
            assert_eq!(
                flat.summarize(now, &rates),
                summarize_history(&history, now, &rates)
            );
        }

        #[test]
        fn short_long_and_foreign_digests_are_errors() {
            let digest = HistoryDigest::of(&[
                super::purchase(1, 100, 200, "flight"),
                super::purchase(2, 101, 300, "hotel"),
            ]);
            let bytes = digest.to_flat().unwrap();
            assert!(FlatDigest::parse(&bytes).is_ok());
            for n in 0..bytes.len() {
                assert!(FlatDigest::parse(&bytes[..n]).is_err(), "cut at {n}");
            }
            let mut long = bytes.clone();
            long.push(0);
            assert!(
                FlatDigest::parse(&long)
                    .unwrap_err()
                    .contains("after the last touch")
            );
            let mut other = bytes.clone();
            other[0] = DIGEST_VERSION as u8 + 1;
            assert!(!flat_digest_is_current(&other));
            assert!(FlatDigest::parse(&other).is_err());
            // A count far beyond the bytes is refused before anything is reserved.
            assert!(
                FlatDigest::parse(&[DIGEST_VERSION as u8, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err()
            );
            let old = HistoryDigest {
                version: DIGEST_VERSION + 1,
                touches: vec![],
            };
            assert_eq!(old.to_flat(), None);
        }
    }
}
