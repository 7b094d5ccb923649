//! The unified customer record and search: what the console and the CLI show.
//!
//! [`Repository::customer_record`] reads a customer's golden profile, contacts, identifiers,
//! relationships, scores, grants and a page of interactions, and computes recognition cues
//! relative to a given `now` (recent disruptions, a bag lost on the last trip, compensation
//! already granted, open complaints). [`Repository::search`] finds customers by name (with
//! typos), phone in any shape, e-mail, loyalty number, booking reference, source key or id.

use std::collections::{BTreeMap, HashMap};

use rapport_core::{
    Channel, CompensationGrant, Cue, CueLevel, Customer, CustomerId, CustomerRecord,
    CustomerSummary, Interaction, InteractionId, InteractionKind, Timestamp,
};
use rapport_store::{IndexKey, IndexKind, Store};

use crate::cleanse;
use crate::error::Error;
use crate::ingest::{META, search_code, search_pair, search_pair_code};

/// Related customers whose names a record carries at most (`CustomerRecord::related_names`);
/// the others are shown by id.
pub const RELATED_NAMES: usize = 32;

/// Which interactions a record shows: one page, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionFilter {
    /// Page size.
    pub limit: usize,
    /// Continue after this (time, id) of the previous page's last interaction.
    pub before: Option<(Timestamp, InteractionId)>,
    /// Only these kinds (empty = all).
    pub kinds: Vec<InteractionKind>,
    /// Only these channels (empty = all).
    pub channels: Vec<Channel>,
    /// Only interactions at or after this time.
    pub since: Option<Timestamp>,
    /// The time recognition cues are computed against ("yesterday", "2 min ago").
    pub now: Timestamp,
}

impl Default for InteractionFilter {
    fn default() -> Self {
        InteractionFilter::at(Timestamp::now())
    }
}

impl InteractionFilter {
    /// The newest 100 interactions, cues relative to `now`.
    pub fn at(now: Timestamp) -> InteractionFilter {
        InteractionFilter {
            limit: 100,
            before: None,
            kinds: Vec::new(),
            channels: Vec::new(),
            since: None,
            now,
        }
    }

    fn is_plain(&self) -> bool {
        self.kinds.is_empty() && self.channels.is_empty() && self.since.is_none()
    }

    fn accepts(&self, i: &Interaction) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&i.kind))
            && (self.channels.is_empty() || self.channels.contains(&i.channel))
            && self.since.is_none_or(|s| i.at >= s)
    }
}

/// The repository's read side: records and search. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Repository {
    store: Store,
}

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

impl Repository {
    /// A repository over a store.
    pub fn new(store: Store) -> Repository {
        Repository { store }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The unified record of a customer (following a merge to the surviving customer), or
    /// `None` when there is no such customer.
    pub fn customer_record(
        &self,
        id: CustomerId,
        filter: &InteractionFilter,
    ) -> Result<Option<CustomerRecord>, Error> {
        let Some(customer) = self.customer_following_merges(id)? else {
            return Ok(None);
        };
        let id = customer.id;
        // The names of the first related customers (a corporate account or a travel agent
        // relates to thousands: reading them all made such records the slowest to open).
        let mut related_names = BTreeMap::new();
        for r in &customer.relationships {
            if related_names.len() >= RELATED_NAMES {
                break;
            }
            if related_names.contains_key(&r.other) {
                continue;
            }
            if let Some(o) = self.store.customer(r.other)? {
                related_names.insert(r.other, o.display_name());
            }
        }
        let scores = self.store.scores(id)?;
        let mut grants = self.store.grants_of(id)?;
        grants.sort_by(|a, b| b.at.cmp(&a.at).then(b.interaction.cmp(&a.interaction)));

        let limit = filter.limit.max(1);
        let (interactions, more_interactions) = if filter.is_plain() {
            let mut page = self
                .store
                .interactions_newest(id, limit + 1, filter.before)?;
            let more = page.len() > limit;
            page.truncate(limit);
            (page, more)
        } else {
            self.filtered_page(id, filter, limit)?
        };
        // Cues look at the recent past whatever the page shows: the newest page serves when
        // it is long enough or holds the whole history (most customers), else it is read.
        let newest = filter.is_plain() && filter.before.is_none();
        let recent = if newest && (!more_interactions || interactions.len() >= 50) {
            interactions.clone()
        } else {
            self.store.interactions_newest(id, 200, None)?
        };
        // The cases are read from the recent history once, for the record and its cues.
        let cases = rapport_core::case::cases(&recent);
        let mut cues = cues_with_cases(&recent, &grants, &cases, filter.now);
        let portfolio = crate::portfolio::portfolio_ref(&self.store, id)?;
        let experiments = crate::learning::arms_of(&self.store, id)?;
        cues.extend(experiment_cues(&experiments, filter.now));
        cues.sort_by_key(|c| c.level);
        Ok(Some(CustomerRecord {
            customer,
            related_names,
            scores,
            // The tier history is the scoring run's to keep (`rapport_scoring::results`);
            // the service adds it.
            tier_history: Vec::new(),
            portfolio,
            cues,
            grants,
            cases,
            interactions,
            more_interactions,
            masked: false,
            // The reporting currency is the service's to say (it reads the rates once).
            value_currency: None,
            experiments,
        }))
    }

    fn customer_following_merges(&self, id: CustomerId) -> Result<Option<Customer>, Error> {
        let mut id = id;
        for _ in 0..16 {
            if let Some(c) = self.store.customer(id)? {
                return Ok(Some(c));
            }
            match self.store.merged_into(id)? {
                Some(next) => id = next,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    fn filtered_page(
        &self,
        id: CustomerId,
        filter: &InteractionFilter,
        limit: usize,
    ) -> Result<(Vec<Interaction>, bool), Error> {
        let mut out = Vec::with_capacity(limit + 1);
        let mut before = filter.before;
        loop {
            let page = self.store.interactions_newest(id, 512, before)?;
            let done = page.len() < 512;
            for i in page {
                if filter.since.is_some_and(|s| i.at < s) {
                    let more = out.len() > limit;
                    out.truncate(limit);
                    return Ok((out, more));
                }
                before = Some((i.at, i.id));
                if filter.accepts(&i) {
                    out.push(i);
                    if out.len() > limit {
                        out.truncate(limit);
                        return Ok((out, true));
                    }
                }
            }
            if done {
                return Ok((out, false));
            }
        }
    }

    /// Finds customers: by id (`C00000042`), e-mail, phone in any shape, loyalty number,
    /// booking reference, source key (`source:key` or just the key), or name with typos
    /// (name-token prefixes and phonetic codes, ranked by Jaro-Winkler similarity). Best first.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<CustomerSummary>, Error> {
        let q = query.trim();
        if q.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let mut hits: HashMap<CustomerId, (f64, String)> = HashMap::new();
        let exact = std::cell::Cell::new(false);
        let mut add = |id: CustomerId, score: f64, what: &str| {
            if score >= 0.97 {
                exact.set(true);
            }
            let e = hits.entry(id).or_insert((0.0, String::new()));
            if score > e.0 {
                *e = (score, what.to_string());
            }
        };
        let lookup = |kind: IndexKind, value: &str| -> Result<Vec<CustomerId>, Error> {
            Ok(self.store.index_lookup(&IndexKey::new(kind, value))?)
        };

        if let Ok(id) = q.parse::<CustomerId>()
            && (q.starts_with('C') || q.starts_with('c'))
            && self.store.customer(id)?.is_some()
        {
            add(id, 1.0, "id");
        }
        if q.contains('@') {
            let e = q.to_lowercase();
            for id in lookup(IndexKind::Email, &e)? {
                add(id, 1.0, "email");
            }
            for (_, id) in self.store.index_prefix(IndexKind::Email, &e, limit)? {
                add(id, 0.9, "email~");
            }
        }
        if q.contains(':') {
            for id in lookup(IndexKind::SourceRef, q)? {
                add(id, 1.0, "source key");
            }
        }
        let digits = q.chars().filter(char::is_ascii_digit).count();
        if digits >= 6
            && q.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.' | '/'))
        {
            for p in self.phone_forms(q)? {
                for id in lookup(IndexKind::Phone, &p)? {
                    add(id, 1.0, "phone");
                }
            }
        }
        let compact: String = q.chars().filter(|c| c.is_alphanumeric()).collect();
        if !compact.is_empty() && !q.contains(' ') {
            let upper = compact.to_uppercase();
            for id in lookup(IndexKind::LoyaltyNumber, &upper)? {
                add(id, 1.0, "loyalty number");
            }
            for id in lookup(IndexKind::BookingRef, &q.to_uppercase())? {
                add(id, 0.98, "booking reference");
            }
            for source in self.sources()? {
                for id in lookup(IndexKind::SourceRef, &format!("{source}:{q}"))? {
                    add(id, 0.97, "source key");
                }
            }
        }

        // Names: every token must match (as a prefix or by sound); ranked by similarity.
        // Identifiers found: the query was an identifier, not a name.
        let exact = exact.get();
        let tokens = cleanse::name_tokens(q);
        if !exact && !tokens.is_empty() && tokens.iter().all(|t| t.chars().all(char::is_alphabetic))
        {
            let mut per_customer: HashMap<CustomerId, usize> = HashMap::new();
            for t in &tokens {
                let mut ids: Vec<CustomerId> = Vec::new();
                if t.chars().count() >= 2 {
                    for (_, id) in self.store.index_prefix(IndexKind::NameToken, t, 200)? {
                        ids.push(id);
                    }
                } else {
                    ids.extend(lookup(IndexKind::NameToken, t)?);
                }
                if t.chars().count() >= 3 {
                    // Sounds-like, bounded: a common code is not worth thousands of loads.
                    let code = search_code(t);
                    for (v, id) in self
                        .store
                        .index_prefix(IndexKind::NamePhonetic, &code, 200)?
                    {
                        if v == code {
                            ids.push(id);
                        }
                    }
                }
                ids.sort();
                ids.dedup();
                for id in ids {
                    *per_customer.entry(id).or_insert(0) += 1;
                }
            }
            let need = tokens.len();
            // Customers found by two names together, with how close the indexed pair is to
            // the query's (to read the closest first).
            let mut paired: HashMap<CustomerId, f64> = HashMap::new();
            if need >= 2 {
                // Each name alone may be shared by more customers than are read above: the
                // first two together are read directly, as typed, and with the start of one
                // of them (a typo further on), and by sound.
                let (a, b) = (&tokens[0], &tokens[1]);
                let typed = search_pair(a, b);
                let start = |t: &str| -> String { t.chars().take(2).collect() };
                let mut prefixes = vec![typed.clone()];
                if b.chars().count() > 2 {
                    prefixes.push(search_pair(a, &start(b)));
                }
                if a.chars().count() > 2 {
                    prefixes.push(search_pair(b, &start(a)));
                }
                let mut both: Vec<(CustomerId, f64)> = Vec::new();
                for p in &prefixes {
                    for (v, id) in self.store.index_prefix(IndexKind::NameToken, p, 200)? {
                        both.push((id, strsim::jaro_winkler(&v, &typed)));
                    }
                }
                if a.chars().count() >= 3 && b.chars().count() >= 3 {
                    for id in self.store.index_lookup_at_most(
                        &IndexKey::new(IndexKind::NamePhonetic, search_pair_code(a, b)),
                        200,
                    )? {
                        both.push((id, 0.85));
                    }
                }
                for (id, sim) in both {
                    let n = per_customer.entry(id).or_insert(0);
                    *n = (*n).max(need);
                    let e = paired.entry(id).or_insert(0.0);
                    *e = e.max(sim);
                }
            }
            let mut cands: Vec<CustomerId> = per_customer
                .iter()
                .filter(|(_, n)| **n >= need)
                .map(|(id, _)| *id)
                .collect();
            if cands.is_empty() && need > 1 {
                // Fall back to customers matching most tokens.
                let best = per_customer.values().copied().max().unwrap_or(0);
                cands = per_customer
                    .iter()
                    .filter(|(_, n)| **n == best)
                    .map(|(id, _)| *id)
                    .collect();
            }
            // Customers found by both names first, the closest first.
            cands.sort_by(|x, y| {
                let (px, py) = (paired.get(x), paired.get(y));
                py.is_some()
                    .cmp(&px.is_some())
                    .then(py.unwrap_or(&0.0).total_cmp(px.unwrap_or(&0.0)))
                    .then(x.cmp(y))
            });
            cands.truncate(100);
            let folded_q = tokens.join(" ");
            for id in cands {
                if let Some(c) = self.store.customer(id)? {
                    let name = cleanse::name_tokens(&c.display_name()).join(" ");
                    let sim = name_similarity(&folded_q, &name);
                    add(id, 0.5 + 0.45 * sim, "name~");
                }
            }
        }

        let mut ranked: Vec<(CustomerId, f64, String)> =
            hits.into_iter().map(|(id, (s, w))| (id, s, w)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(limit);
        let mut out = Vec::with_capacity(ranked.len());
        for (id, score, matched) in ranked {
            if let Some(c) = self.store.customer(id)? {
                out.push(self.summary(&c, matched, score)?);
            }
        }
        Ok(out)
    }

    /// A search hit for a customer.
    pub fn summary(
        &self,
        c: &Customer,
        matched: String,
        score: f64,
    ) -> Result<CustomerSummary, Error> {
        let tier = self.store.scores(c.id)?.map(|s| s.tier);
        let last_contact = self
            .store
            .interactions_newest(c.id, 1, None)?
            .first()
            .map(|i| i.at);
        Ok(CustomerSummary {
            id: c.id,
            kind: c.kind,
            name: c.display_name(),
            tier,
            city: c.profile.city.as_ref().map(|s| s.value.clone()),
            last_contact,
            matched,
            score,
        })
    }

    fn sources(&self) -> Result<Vec<String>, Error> {
        Ok(self
            .store
            .doc::<Vec<String>>(META, "sources")?
            .unwrap_or_default())
    }

    /// E.164 forms of a phone query: as written with a `+`, or with each phone region the
    /// ingested mappings use.
    fn phone_forms(&self, q: &str) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        if let Ok(Some(p)) = cleanse::phone(q, None) {
            out.push(p);
        }
        let regions = self
            .store
            .doc::<Vec<String>>(META, "phone_regions")?
            .unwrap_or_default();
        for r in regions {
            if let Ok(Some(p)) = cleanse::phone(q, cleanse::phone_region(&r))
                && !out.contains(&p)
            {
                out.push(p);
            }
        }
        let digits: String = q.chars().filter(char::is_ascii_digit).collect();
        let plus = format!("+{digits}");
        if !out.contains(&plus) {
            out.push(plus);
        }
        // The subscriber digits alone: the number as the customer says it at home (`07281
        // 25832`) finds them under their country code (`+33 7281 25832`).
        let national = cleanse::national_digits(q).unwrap_or(digits);
        out.extend(crate::identity::compare::phone_tail_key(&national));
        Ok(out)
    }
}

/// Similarity of two folded names: Jaro-Winkler of the whole, or of the tokens in the best
/// order (so "smith john" finds "John Smith").
fn name_similarity(q: &str, name: &str) -> f64 {
    let whole = strsim::jaro_winkler(q, name);
    let qt: Vec<&str> = q.split(' ').collect();
    let nt: Vec<&str> = name.split(' ').collect();
    let mut total = 0.0;
    for t in &qt {
        let best = nt
            .iter()
            .map(|n| {
                if n == t {
                    1.0
                } else if n.starts_with(t) {
                    // A name still being typed: close, but the whole name typed ranks first
                    // ("anna martin" is Anna Martin before Anna Martinez).
                    0.97 + 0.03 * t.len() as f64 / n.len() as f64
                } else {
                    strsim::jaro_winkler(t, n)
                }
            })
            .fold(0.0, f64::max);
        total += best;
    }
    let tokens = total / qt.len().max(1) as f64;
    whole.max(tokens)
}

/// "2 min ago", "3 h ago", "yesterday", "4 days ago", "on 2026-11-02".
pub fn ago(at: Timestamp, now: Timestamp) -> String {
    let d = now.as_millis() - at.as_millis();
    if d < 0 {
        return format!("at {at}");
    }
    let mins = d / 60_000;
    if mins < 1 {
        return "just now".into();
    }
    if mins < 60 {
        return format!("{mins} min ago");
    }
    let now_day = now.as_millis().div_euclid(DAY);
    let at_day = at.as_millis().div_euclid(DAY);
    if d < 12 * HOUR || now_day == at_day {
        return format!("{} h ago", d / HOUR);
    }
    match now_day - at_day {
        1 => "yesterday".into(),
        n if n < 14 => format!("{n} days ago"),
        _ => format!("on {}", &at.to_string()[..10]),
    }
}

/// When a disruption was, as the front line says it: by the flight's date when the row names
/// it ("yesterday" is yesterday's flight, whatever hour its delay was recorded at), else by
/// the time it was recorded. A flight of today reads "3 h ago".
fn flight_day(i: &Interaction, now: Timestamp) -> String {
    let flight_date = i
        .attr_text("flight_date")
        .and_then(|d| d.parse::<jiff::civil::Date>().ok());
    let today = now.to_jiff().to_zoned(jiff::tz::TimeZone::UTC).date();
    match flight_date.map(|d| (today - d).get_days()) {
        Some(1) => "yesterday".into(),
        Some(n) if (2..14).contains(&n) => format!("{n} days ago"),
        _ => ago(i.at, now),
    }
}

fn hours_text(minutes: i64) -> String {
    if minutes >= 60 {
        let h = minutes as f64 / 60.0;
        if (h - h.round()).abs() < 0.05 {
            format!("{} h", h.round() as i64)
        } else {
            format!("{h:.1} h")
        }
    } else {
        format!("{minutes} min")
    }
}

/// Recognition cues from the recent interactions (newest first) and grants, relative to
/// `now`, most urgent first.
pub fn cues(recent: &[Interaction], grants: &[CompensationGrant], now: Timestamp) -> Vec<Cue> {
    cues_with_cases(recent, grants, &rapport_core::case::cases(recent), now)
}

/// [`cues`] with the complaint cases of `recent` already read.
fn cues_with_cases(
    recent: &[Interaction],
    grants: &[CompensationGrant],
    cases: &[rapport_core::ComplaintCase],
    now: Timestamp,
) -> Vec<Cue> {
    let mut out = Vec::new();
    let age = |t: Timestamp| now.as_millis() - t.as_millis();

    // Compensation already granted: do not grant again.
    for g in grants.iter().filter(|g| (0..7 * DAY).contains(&age(g.at))) {
        let level = if age(g.at) < DAY {
            CueLevel::Alert
        } else {
            CueLevel::Info
        };
        let mut text = format!("{} granted {}", g.instrument, ago(g.at, now));
        if !g.touchpoint.is_empty() {
            text.push_str(&format!(" at {}", g.touchpoint));
        }
        if !g.granted_by.is_empty() {
            text.push_str(&format!(" by {}", g.granted_by));
        }
        text.push_str(&format!(" for {} ({})", g.disruption, g.amount));
        out.push(Cue {
            level,
            text,
            at: g.at,
        });
    }

    // Disruptions in the last 48 hours: apologise.
    for i in recent
        .iter()
        .filter(|i| i.kind.is_disruption() && i.kind != InteractionKind::BagLost)
        .filter(|i| (0..48 * HOUR).contains(&age(i.at)))
    {
        let what = match &i.kind {
            InteractionKind::Delay => match i.attr_int("delay_minutes") {
                Some(m) => format!("delayed {}", hours_text(m)),
                None => "delayed".into(),
            },
            InteractionKind::Cancellation => "flight cancelled".into(),
            InteractionKind::DeniedBoarding => "denied boarding".into(),
            other => other.to_string(),
        };
        let flight = i
            .attr_text("flight")
            .map(|f| format!(" on {f}"))
            .unwrap_or_default();
        out.push(Cue {
            level: CueLevel::Recognise,
            text: format!("{what}{flight} {}: apologise", flight_day(i, now)),
            at: i.at,
        });
    }

    // A bag lost on the last trip. A trip is a booking: the return leg of the booking the bag
    // was lost on is the same trip; a flight on another booking since then is a later trip.
    // Without booking references, flights more than a day after the loss count as later.
    if let Some(bag) = recent
        .iter()
        .find(|i| i.kind == InteractionKind::BagLost && (0..365 * DAY).contains(&age(i.at)))
    {
        let trip = bag.attr_text("booking_ref");
        let flights_since = recent
            .iter()
            .filter(|i| i.kind == InteractionKind::FlightFlown && i.at > bag.at && i.at <= now)
            .filter(|i| match (trip, i.attr_text("booking_ref")) {
                (Some(lost_on), Some(flown_on)) => lost_on != flown_on,
                _ => i.at > bag.at.plus_millis(DAY),
            })
            .count();
        if flights_since == 0 {
            let delivered = recent
                .iter()
                .any(|i| i.kind == InteractionKind::BagDelivered && i.at >= bag.at);
            let tail = if delivered { " (delivered later)" } else { "" };
            out.push(Cue {
                level: CueLevel::Recognise,
                text: format!(
                    "bag lost on last trip ({}){tail}: confirm today's bag is loaded",
                    ago(bag.at, now)
                ),
                at: bag.at,
            });
        }
    }

    // Open complaint cases of the last 90 days (a resolution closes one).
    for c in cases
        .iter()
        .filter(|c| c.is_open() && (0..90 * DAY).contains(&age(c.opened)))
    {
        let topic = c
            .about
            .as_deref()
            .map(|a| format!(" about {}", cleanse::clip(a)))
            .unwrap_or_default();
        let about = c
            .text
            .as_deref()
            // Clipped for the cue line, marked so (the full text is in the history row).
            .map(|t| {
                let clipped = cleanse::clip(t);
                let more = if clipped.len() < t.len() { "..." } else { "" };
                format!(": {clipped}{more}")
            })
            .unwrap_or_default();
        out.push(Cue {
            level: CueLevel::Recognise,
            // "since 2 h ago", "since 2026-10-24" (not "since on 2026-10-24").
            text: format!(
                "complaint open since {}{topic}{about}",
                ago(c.opened, now).trim_start_matches("on ")
            ),
            at: c.opened,
        });
    }
    out.sort_by(|a, b| a.level.cmp(&b.level).then(b.at.cmp(&a.at)));
    out
}

/// The cues of a customer's running experiments: the control group must not be spoiled (no
/// goodwill beyond policy until its window closes); a treatment arm is good to know.
fn experiment_cues(arms: &[rapport_core::ExperimentArm], now: Timestamp) -> Vec<Cue> {
    arms.iter()
        .filter(|a| a.running(now))
        .map(|a| {
            if a.control {
                Cue {
                    level: CueLevel::Alert,
                    text: format!(
                        "control group of experiment {}: no goodwill beyond policy until {}",
                        a.experiment,
                        crate::learning::day(a.closes)
                    ),
                    at: a.assigned_at,
                }
            } else {
                Cue {
                    level: CueLevel::Info,
                    text: format!("in arm {} of experiment {}", a.arm, a.experiment),
                    at: a.assigned_at,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::{AttrValue, Currency, DisruptionKind, Money};

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn it(kind: InteractionKind, at: &str) -> Interaction {
        Interaction::new(
            InteractionId(1),
            CustomerId(1),
            t(at),
            Channel::Airport,
            kind,
        )
    }

    #[test]
    fn cues_read_like_the_front_line_speaks() {
        let now = t("2026-11-23T10:00:00Z");
        let mut delay = it(InteractionKind::Delay, "2026-11-22T08:00:00Z");
        delay
            .attributes
            .insert("delay_minutes".into(), AttrValue::Int(14 * 60));
        let bag = it(InteractionKind::BagLost, "2026-10-01T08:00:00Z");
        let old_flight = it(InteractionKind::FlightFlown, "2026-09-01T08:00:00Z");
        let grant = CompensationGrant {
            customer: CustomerId(1),
            disruption: "RP123/2026-11-23".into(),
            kind: DisruptionKind::DeniedBoarding,
            delay_minutes: None,
            instrument: "voucher".into(),
            amount: Money::new(25_000, Currency::EUR),
            policy_rule: "denied boarding v1".into(),
            granted_by: "J. Smith".into(),
            touchpoint: "gate C12".into(),
            at: t("2026-11-23T09:58:00Z"),
            interaction: InteractionId(9),
        };
        let cues = cues(&[delay, bag, old_flight], &[grant], now);
        let texts: Vec<&str> = cues.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(cues[0].level, CueLevel::Alert);
        assert!(
            texts[0].starts_with("voucher granted 2 min ago at gate C12 by J. Smith"),
            "{texts:?}"
        );
        assert!(
            texts.contains(&"delayed 14 h yesterday: apologise"),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|t| t.starts_with("bag lost on last trip")),
            "{texts:?}"
        );
    }

    #[test]
    fn a_delay_reads_by_its_flights_date_not_the_hour_it_was_recorded() {
        // At 01:30 a delay recorded 31 hours ago is two calendar days back, but it was on
        // yesterday's flight: the rep says "yesterday".
        let now = t("2026-11-24T01:30:00Z");
        let mut delay = it(InteractionKind::Delay, "2026-11-22T18:30:00Z");
        delay
            .attributes
            .insert("delay_minutes".into(), AttrValue::Int(14 * 60));
        delay
            .attributes
            .insert("flight".into(), AttrValue::Text("RP667".into()));
        let texts = |d: &Interaction| -> Vec<String> {
            cues(std::slice::from_ref(d), &[], now)
                .into_iter()
                .map(|c| c.text)
                .collect()
        };
        // Without the flight's date, the calendar of the record time speaks.
        assert_eq!(
            texts(&delay),
            ["delayed 14 h on RP667 2 days ago: apologise"]
        );
        delay
            .attributes
            .insert("flight_date".into(), AttrValue::Text("2026-11-23".into()));
        assert_eq!(
            texts(&delay),
            ["delayed 14 h on RP667 yesterday: apologise"]
        );
        // A flight of today reads by the hour.
        let mut today = delay.clone();
        today.at = t("2026-11-23T23:30:00Z");
        today
            .attributes
            .insert("flight_date".into(), AttrValue::Text("2026-11-24".into()));
        assert_eq!(texts(&today), ["delayed 14 h on RP667 2 h ago: apologise"]);
    }

    #[test]
    fn a_bag_lost_before_later_flights_is_not_the_last_trip() {
        let now = t("2026-11-23T10:00:00Z");
        let bag = it(InteractionKind::BagLost, "2026-09-01T08:00:00Z");
        let later = it(InteractionKind::FlightFlown, "2026-10-01T08:00:00Z");
        assert!(cues(&[later, bag], &[], now).is_empty());
    }

    #[test]
    fn the_return_leg_of_the_same_booking_is_the_same_trip() {
        let now = t("2026-11-23T10:00:00Z");
        let on = |kind, at: &str, booking: &str| {
            let mut i = it(kind, at);
            i.attributes
                .insert("booking_ref".into(), AttrValue::Text(booking.into()));
            i
        };
        let bag = on(InteractionKind::BagLost, "2026-11-02T00:00:00Z", "GAXX9W");
        let back = on(
            InteractionKind::FlightFlown,
            "2026-11-06T00:00:00Z",
            "GAXX9W",
        );
        let texts: Vec<String> = cues(&[back.clone(), bag.clone()], &[], now)
            .into_iter()
            .map(|c| c.text)
            .collect();
        assert!(
            texts.iter().any(|t| t.starts_with("bag lost on last trip")),
            "{texts:?}"
        );
        let next_trip = on(
            InteractionKind::FlightFlown,
            "2026-11-15T00:00:00Z",
            "K7Q2ZZ",
        );
        assert!(cues(&[next_trip, back, bag], &[], now).is_empty());
    }

    #[test]
    fn similarity_forgives_typos_and_order() {
        assert!(name_similarity("jonh smith", "john smith") > 0.9);
        assert!(name_similarity("smith john", "john smith") > 0.95);
        assert!(name_similarity("jo", "john smith") > 0.9);
        assert!(name_similarity("zed", "john smith") < 0.6);
        assert!(
            name_similarity("anna martin", "anna martin")
                > name_similarity("anna martin", "anna martinez")
        );
    }
}
