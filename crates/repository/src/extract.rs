//! From a row's values to what the row says: a cleansed [`Fragment`] about the party, the
//! interaction it records and the compensation grant, if any. A value that cannot be
//! cleansed makes the whole row a [`RowProblem`] (it goes to the quarantine).

use std::collections::BTreeMap;

use rapport_core::{
    Amount, AttrValue, Channel, CompensationGrant, Currency, CustomerId, Disruption, DisruptionId,
    DisruptionKind, DisruptionOrigin, Interaction, InteractionId, InteractionKind, PartyKind,
    SourceRef, Timestamp,
};

use crate::cleanse::{self, Problem, Reason};
use crate::fragment::{Address, Fragment};
use crate::mapping::{AttrType, Mapping, map_value, parse_phase, parse_relationship, parse_role};
use crate::read::{Columns, RowProblem};
use crate::survivorship::{BOOKING_REFS, NATIONAL_PHONES};

/// A mapping compiled against its columns: every column has an index into a row's values.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The mapping.
    pub mapping: Mapping,
    /// The columns the mapping uses.
    pub columns: Columns,
    tz: jiff::tz::TimeZone,
    region: Option<phonenumber::country::Id>,
    currency: Option<Currency>,
    /// `None`: decide per value (`auto`).
    decimal: Option<char>,
    c: Cols,
}

#[derive(Debug, Clone, Default)]
struct Cols {
    key: Vec<usize>,
    kind: Option<usize>,
    phone_region: Option<usize>,
    observed: Option<usize>,
    given: Option<usize>,
    family: Option<usize>,
    full: Option<usize>,
    birth: Option<usize>,
    emails: Vec<usize>,
    phones: Vec<usize>,
    street_number: Option<usize>,
    street: Vec<usize>,
    locality: Option<usize>,
    postcode: Option<usize>,
    region: Option<usize>,
    country: Option<usize>,
    since: Option<usize>,
    loyalty: Option<usize>,
    status: Option<usize>,
    national: Option<usize>,
    cross: Vec<usize>,
    relations: Vec<usize>,
    extra: Vec<(String, usize)>,
    tz: Option<usize>,
    currency: Option<usize>,
    // interaction
    i_key: Option<usize>,
    i_time: usize,
    i_kind: Option<usize>,
    i_channel: Option<usize>,
    i_touch: Option<usize>,
    i_division: Option<usize>,
    i_employee: Option<usize>,
    i_phase: Option<usize>,
    i_text: Option<usize>,
    i_booking: Option<usize>,
    i_amounts: Vec<usize>,
    i_attrs: Vec<usize>,
    // compensation
    g_disruption: usize,
    g_kind: Option<usize>,
    g_delay: Option<usize>,
    g_instrument: Option<usize>,
    g_amount: usize,
    g_rule: Option<usize>,
    g_by: Option<usize>,
    g_when: Option<usize>,
}

/// What one row says.
#[derive(Debug, Clone)]
pub struct Extracted {
    /// The row's idempotency key within its source.
    pub row_key: String,
    /// The party.
    pub fragment: Fragment,
    /// The interaction (id and customer filled in by ingest).
    pub interaction: Option<Interaction>,
    /// The compensation grant (customer and interaction filled in by ingest).
    pub grant: Option<CompensationGrant>,
    /// The disruption this row reports (a delay, cancellation, denied boarding or lost bag
    /// with its flight and date or bag tag), without its customer (filled in by ingest).
    pub disruption: Option<Disruption>,
    /// Related parties this row creates when they are not known yet (a corporate account on
    /// a booking), as bare fragments.
    pub related: Vec<Fragment>,
}

/// Values that do not depend on the row: the time shift and the time of ingest.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// Whole days added to the dates inside the data (flight dates, disruption references).
    pub shift_days: i64,
    /// Milliseconds added to every time read from the data (not to birth dates).
    pub shift_millis: i64,
    /// The time of ingest, the default observation time.
    pub now: Timestamp,
}

impl Plan {
    /// Compiles a mapping.
    pub fn new(mapping: Mapping) -> Plan {
        let mut cols = Columns::default();
        let s = &mapping.source;
        let p = &mapping.party;
        let mut one = |o: &Option<String>| o.as_ref().map(|n| cols.add(n));
        let mut c = Cols {
            kind: one(&p.kind_column),
            observed: one(&p.observed_at),
            given: one(&p.given_name),
            family: one(&p.family_name),
            full: one(&p.full_name),
            birth: one(&p.birth_date),
            street_number: one(&p.street_number),
            locality: one(&p.locality),
            postcode: one(&p.postcode),
            region: one(&p.region),
            country: one(&p.country),
            since: one(&p.address_since),
            loyalty: one(&p.loyalty_number),
            status: one(&p.loyalty_status),
            national: one(&p.national_id),
            tz: one(&s.time_zone_column),
            currency: one(&s.currency_column),
            ..Cols::default()
        };
        c.key = p.key.names().iter().map(|n| cols.add(n)).collect();
        c.phone_region = s.phone_region_column.as_ref().map(|n| cols.add(n));
        c.emails = p.email.names().iter().map(|n| cols.add(n)).collect();
        c.phones = p.phone.names().iter().map(|n| cols.add(n)).collect();
        c.street = p.street.names().iter().map(|n| cols.add(n)).collect();
        c.cross = p.cross_refs.iter().map(|x| cols.add(&x.column)).collect();
        c.relations = p.relations.iter().map(|x| cols.add(&x.column)).collect();
        c.extra = p
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), cols.add(v)))
            .collect();
        if let Some(i) = &mapping.interaction {
            let mut one = |o: &Option<String>| o.as_ref().map(|n| cols.add(n));
            c.i_key = one(&i.key);
            c.i_kind = one(&i.kind_column);
            c.i_channel = one(&i.channel_column);
            c.i_touch = one(&i.touchpoint);
            c.i_division = one(&i.division_column);
            c.i_employee = one(&i.employee);
            c.i_phase = one(&i.phase_column);
            c.i_text = one(&i.text);
            c.i_booking = one(&i.booking_ref);
            c.i_time = cols.add(&i.time);
            c.i_amounts = i.amounts.iter().map(|a| cols.add(&a.column)).collect();
            c.i_attrs = i.attributes.iter().map(|a| cols.add(&a.column)).collect();
        }
        if let Some(g) = &mapping.compensation {
            let mut one = |o: &Option<String>| o.as_ref().map(|n| cols.add(n));
            c.g_kind = one(&g.disruption_kind_column);
            c.g_delay = one(&g.delay_minutes);
            c.g_instrument = one(&g.instrument_column);
            c.g_rule = one(&g.policy_rule_column);
            c.g_by = one(&g.granted_by);
            c.g_when = one(&g.when_column);
            c.g_disruption = cols.add(&g.disruption);
            c.g_amount = cols.add(&g.amount);
        }
        let tz = s
            .time_zone
            .as_deref()
            .and_then(|z| jiff::tz::TimeZone::get(z).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        let region = s.phone_region.as_deref().and_then(cleanse::phone_region);
        let currency = s.currency.as_deref().and_then(|c| c.parse().ok());
        let decimal = match s.decimal_separator.as_str() {
            "," => Some(','),
            "auto" => None,
            _ => Some('.'),
        };
        Plan {
            columns: cols,
            tz,
            region,
            currency,
            decimal,
            c,
            mapping,
        }
    }

    /// The source name.
    pub fn source(&self) -> &str {
        &self.mapping.source.name
    }

    /// Reads one row's values (in [`Plan::columns`] order) into what the row says.
    pub fn extract(&self, v: &[String], ctx: Context) -> Result<Extracted, RowProblem> {
        let m = &self.mapping;
        let c = &self.c;
        let names = self.columns.names();
        let col = |i: usize| -> &str { v.get(i).map(String::as_str).unwrap_or("") };
        let opt = |i: Option<usize>| -> &str { i.map(col).unwrap_or("") };
        let fail = |i: usize, p: Problem| RowProblem {
            field: names.get(i).cloned().unwrap_or_default(),
            problem: p,
        };
        let missing = |i: usize, what: &str| RowProblem {
            field: names.get(i).cloned().unwrap_or_default(),
            problem: Problem::new(Reason::MissingValue, format!("the {what} is empty")),
        };
        let shift = ctx.shift_millis;
        let shift_days = ctx.shift_days;
        let tz = match c.tz.map(col).map(str::trim).filter(|s| !s.is_empty()) {
            Some(z) => jiff::tz::TimeZone::get(z).map_err(|_| {
                fail(
                    c.tz.unwrap_or(0),
                    Problem::new(
                        Reason::WrongType,
                        format!("unknown time zone {:?}", cleanse::clip(z)),
                    ),
                )
            })?,
            None => self.tz.clone(),
        };
        let time = |i: usize| -> Result<Option<Timestamp>, RowProblem> {
            cleanse::datetime(
                col(i),
                &m.source.datetime_formats,
                &m.source.date_formats,
                &tz,
            )
            .map(|t| t.map(|t| t.plus_millis(shift)))
            .map_err(|p| fail(i, p))
        };
        let currency = match c.currency.map(col).map(str::trim).filter(|s| !s.is_empty()) {
            Some(code) => Some(code.parse::<Currency>().map_err(|_| {
                fail(
                    c.currency.unwrap_or(0),
                    Problem::new(
                        Reason::BadAmount,
                        format!("{:?} is not a currency code", cleanse::clip(code)),
                    ),
                )
            })?),
            None => self.currency,
        };

        // The party.
        let mut parts = Vec::with_capacity(c.key.len());
        for &i in &c.key {
            parts.push(cleanse::text(col(i)).ok_or_else(|| missing(i, "party key"))?);
        }
        let key = parts.join("|");
        let region = match c.phone_region.map(col).and_then(cleanse::phone_region) {
            Some(r) => Some(r),
            None => self.region,
        };
        let dec = |v: &str, cur: Option<Currency>| -> char {
            match self.decimal {
                Some(d) => d,
                None => cleanse::decimal_of(v, cur.map(|c| c.minor_digits()).unwrap_or(2)),
            }
        };
        let kind = match c.kind {
            Some(i) => {
                let raw = col(i).trim();
                let mapped = map_value(&m.party.kind_map, raw);
                mapped.parse::<PartyKind>().map_err(|_| {
                    fail(
                        i,
                        Problem::new(
                            Reason::WrongType,
                            format!("{:?} is not a party kind", cleanse::clip(raw)),
                        ),
                    )
                })?
            }
            None => m
                .party
                .kind
                .as_deref()
                .and_then(|k| k.parse().ok())
                .unwrap_or(PartyKind::Person),
        };
        let mut emails = Vec::new();
        for &i in &c.emails {
            if let Some(e) = cleanse::email(col(i)).map_err(|p| fail(i, p))?
                && !emails.contains(&e)
            {
                emails.push(e);
            }
        }
        let mut phones = Vec::new();
        let mut national: Vec<String> = Vec::new();
        for &i in &c.phones {
            match cleanse::phone(col(i), region).map_err(|p| fail(i, p))? {
                Some(p) => {
                    if !phones.contains(&p) {
                        phones.push(p);
                    }
                }
                None => {
                    if let Some(n) = cleanse::national_digits(col(i))
                        && !national.contains(&n)
                    {
                        national.push(n);
                    }
                }
            }
        }
        let birth_date = match c.birth {
            Some(i) => cleanse::date(col(i), &m.source.date_formats).map_err(|p| fail(i, p))?,
            None => None,
        };
        let street = {
            let parts: Vec<String> = c
                .street
                .iter()
                .filter_map(|&i| cleanse::address_part(col(i)))
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        };
        let address = Address {
            street_number: cleanse::address_part(opt(c.street_number)),
            street,
            locality: cleanse::address_part(opt(c.locality)),
            postcode: cleanse::postcode(opt(c.postcode)),
            region: cleanse::address_part(opt(c.region)),
            country: cleanse::country(opt(c.country)).or_else(|| {
                m.source
                    .default_country
                    .as_deref()
                    .and_then(cleanse::country)
            }),
            valid_from: match c.since {
                Some(i) => time(i)?,
                None => None,
            },
        };
        let has_address = address.street.is_some()
            || address.postcode.is_some()
            || address.locality.is_some()
            || address.street_number.is_some();
        let mut cross_refs = Vec::new();
        for (spec, &i) in m.party.cross_refs.iter().zip(&c.cross) {
            if let Some(k) = cleanse::text(col(i)) {
                cross_refs.push(SourceRef::new(spec.source.clone(), k));
            }
        }
        let mut relations = Vec::new();
        let mut related = Vec::new();
        for (spec, &i) in m.party.relations.iter().zip(&c.relations) {
            if let Some(k) = cleanse::text(col(i)) {
                let src = spec.source.clone().unwrap_or_else(|| m.source.name.clone());
                let target = if spec.group {
                    SourceRef::new(GROUP_SOURCE, format!("{src}/{}/{k}", spec.kind))
                } else {
                    SourceRef::new(src, k)
                };
                if let Some(kind) = spec.party_kind.as_deref().and_then(|k| k.parse().ok()) {
                    related.push(bare_fragment(target.clone(), kind, ctx.now));
                }
                relations.push((parse_relationship(&spec.kind), target));
            }
        }
        let mut extra = BTreeMap::new();
        for (name, i) in &c.extra {
            if let Some(t) = cleanse::text(col(*i)) {
                extra.insert(name.clone(), t);
            }
        }
        if !national.is_empty() {
            extra.insert(NATIONAL_PHONES.into(), national.join(" "));
        }

        // The interaction.
        let mut interaction = None;
        let mut row_key = None;
        if let Some(spec) = &m.interaction {
            let at = time(c.i_time)?.ok_or_else(|| missing(c.i_time, "interaction time"))?;
            let ikind = match c.i_kind {
                Some(i) => {
                    let raw = col(i).trim();
                    let mapped = map_value(&spec.kind_map, raw);
                    mapped.parse::<InteractionKind>().map_err(|_| {
                        fail(
                            i,
                            Problem::new(
                                Reason::WrongType,
                                format!("{:?} is not an interaction kind", cleanse::clip(raw)),
                            ),
                        )
                    })?
                }
                None => spec
                    .kind
                    .as_deref()
                    .and_then(|k| k.parse().ok())
                    .unwrap_or(InteractionKind::Other("unknown".into())),
            };
            let channel = match c.i_channel {
                Some(i) => {
                    let raw = col(i).trim();
                    let mapped = map_value(&spec.channel_map, raw);
                    mapped.parse::<Channel>().map_err(|_| {
                        fail(
                            i,
                            Problem::new(
                                Reason::WrongType,
                                format!("{:?} is not a channel", cleanse::clip(raw)),
                            ),
                        )
                    })?
                }
                None => spec
                    .channel
                    .as_deref()
                    .and_then(|k| k.parse().ok())
                    .unwrap_or(Channel::BackOffice),
            };
            let mut it = Interaction::new(InteractionId(0), CustomerId(0), at, channel, ikind);
            it.touchpoint = cleanse::text(opt(c.i_touch));
            it.division = match c.i_division {
                Some(i) => cleanse::text(col(i)),
                None => spec.division.clone(),
            };
            it.employee = cleanse::text(opt(c.i_employee));
            it.text = cleanse::text(opt(c.i_text));
            it.phase = match c.i_phase {
                Some(i) => {
                    let raw = col(i).trim();
                    if raw.is_empty() {
                        None
                    } else {
                        let mapped = map_value(&spec.phase_map, raw);
                        Some(parse_phase(mapped).ok_or_else(|| {
                            fail(
                                i,
                                Problem::new(
                                    Reason::WrongType,
                                    format!("{:?} is not a phase", cleanse::clip(raw)),
                                ),
                            )
                        })?)
                    }
                }
                None => spec.phase.as_deref().and_then(parse_phase),
            };
            it.source = Some(SourceRef::new(m.source.name.clone(), key.clone()));
            if let Some(b) = cleanse::text(opt(c.i_booking)) {
                it.attributes
                    .insert("booking_ref".into(), AttrValue::Text(b.clone()));
                extra.insert(BOOKING_REFS.into(), b);
            }
            for (a, &i) in spec.amounts.iter().zip(&c.i_amounts) {
                let cur = currency.ok_or_else(|| {
                    fail(
                        i,
                        Problem::new(Reason::BadAmount, "no currency for the amount"),
                    )
                })?;
                if let Some(money) =
                    cleanse::amount(col(i), dec(col(i), Some(cur)), cur, a.minor_units)
                        .map_err(|p| fail(i, p))?
                {
                    it.amounts.push(Amount {
                        role: parse_role(&a.role).unwrap_or(rapport_core::AmountRole::Other),
                        money,
                    });
                }
            }
            for (a, &i) in spec.attributes.iter().zip(&c.i_attrs) {
                let raw = col(i);
                let value = match a.attr_type() {
                    AttrType::Text => cleanse::text(raw).map(AttrValue::Text),
                    AttrType::Int => cleanse::int(raw, dec(raw, None))
                        .map_err(|p| fail(i, p))?
                        .map(AttrValue::Int),
                    AttrType::Float => cleanse::float(raw, dec(raw, None))
                        .map_err(|p| fail(i, p))?
                        .map(AttrValue::Float),
                    AttrType::Bool => cleanse::boolean(raw)
                        .map_err(|p| fail(i, p))?
                        .map(AttrValue::Bool),
                    AttrType::Money => match currency {
                        Some(cur) => cleanse::amount(raw, dec(raw, Some(cur)), cur, false)
                            .map_err(|p| fail(i, p))?
                            .map(AttrValue::Money),
                        None => None,
                    },
                    AttrType::Time => time(i)?.map(AttrValue::Time),
                    // Dates move with the times by the whole days of the shift (a flight's
                    // date stays the date of its events).
                    AttrType::Date => cleanse::date(raw, &m.source.date_formats)
                        .map_err(|p| fail(i, p))?
                        .map(|d| AttrValue::Text(shift_date(d, shift_days).to_string())),
                };
                // A disruption reference is stored in its canonical form, moved with the
                // dates; one that names no flight and date nor bag is kept as typed.
                let value = match value {
                    Some(AttrValue::Text(t)) if a.name == DISRUPTION_ATTR => {
                        Some(AttrValue::Text(match t.parse::<DisruptionId>() {
                            Ok(id) => id.shifted(shift_days).to_string(),
                            Err(_) => t,
                        }))
                    }
                    other => other,
                };
                if let Some(v) = value {
                    it.attributes.insert(a.name.clone(), v);
                }
            }
            row_key = Some(match c.i_key {
                Some(i) => format!(
                    "i:{}",
                    cleanse::text(col(i)).ok_or_else(|| missing(i, "row key"))?
                ),
                None => String::new(), // filled by ingest from the row's bytes
            });
            interaction = Some(it);
        }

        // The grant.
        let mut grant = None;
        let instrument_ok = |g: &crate::mapping::CompensationSection| {
            g.instruments.is_empty() || {
                let inst = match c.g_instrument {
                    Some(i) => col(i).trim().to_string(),
                    None => g.instrument.clone().unwrap_or_default(),
                };
                g.instruments.iter().any(|x| x.eq_ignore_ascii_case(&inst))
            }
        };
        if let (Some(g), Some(it)) = (&m.compensation, &interaction)
            && match c.g_when {
                Some(i) => !col(i).trim().is_empty(),
                None => g.when_kind.parse::<InteractionKind>().ok().as_ref() == Some(&it.kind),
            }
            && instrument_ok(g)
        {
            let typed = cleanse::text(col(c.g_disruption))
                .ok_or_else(|| missing(c.g_disruption, "disruption reference"))?;
            // Grants are kept once per customer and canonical disruption.
            let disruption = typed
                .parse::<DisruptionId>()
                .map_err(|e| {
                    fail(
                        c.g_disruption,
                        Problem::new(Reason::WrongType, e.to_string()),
                    )
                })?
                .shifted(shift_days)
                .to_string();
            let dkind = match c.g_kind {
                Some(i) => {
                    let raw = col(i).trim();
                    let mapped = map_value(&g.disruption_kind_map, raw);
                    mapped.parse::<DisruptionKind>().map_err(|_| {
                        fail(
                            i,
                            Problem::new(
                                Reason::WrongType,
                                format!("{:?} is not a disruption kind", cleanse::clip(raw)),
                            ),
                        )
                    })?
                }
                None => g
                    .disruption_kind
                    .as_deref()
                    .and_then(|k| k.parse().ok())
                    .unwrap_or(DisruptionKind::Delay),
            };
            let delay_minutes = match c.g_delay {
                Some(i) => cleanse::int(col(i), dec(col(i), None))
                    .map_err(|p| fail(i, p))?
                    .and_then(|v| u32::try_from(v).ok()),
                None => None,
            };
            let cur = currency.ok_or_else(|| {
                fail(
                    c.g_amount,
                    Problem::new(Reason::BadAmount, "no currency for the amount"),
                )
            })?;
            let amount = cleanse::amount(
                col(c.g_amount),
                dec(col(c.g_amount), Some(cur)),
                cur,
                g.minor_units,
            )
            .map_err(|p| fail(c.g_amount, p))?
            .ok_or_else(|| missing(c.g_amount, "compensation amount"))?;
            let instrument = match c.g_instrument {
                Some(i) => cleanse::text(col(i)).unwrap_or_else(|| "voucher".into()),
                None => g.instrument.clone().unwrap_or_else(|| "voucher".into()),
            };
            let policy_rule = match c.g_rule {
                Some(i) => cleanse::text(col(i)).unwrap_or_default(),
                None => g.policy_rule.clone().unwrap_or_default(),
            };
            let granted_by = match c.g_by {
                Some(i) => cleanse::text(col(i)),
                None => it.employee.clone(),
            }
            .unwrap_or_default();
            grant = Some(CompensationGrant {
                customer: CustomerId(0),
                disruption,
                kind: dkind,
                delay_minutes,
                instrument,
                amount,
                policy_rule,
                granted_by,
                touchpoint: it.touchpoint.clone().unwrap_or_default(),
                at: it.at,
                interaction: InteractionId(0),
            });
        }

        let disruption = interaction
            .as_ref()
            .and_then(|it| disruption_of(it, &m.source.name));

        let observed_at = match c.observed {
            Some(i) => time(i)?,
            None => None,
        }
        .or(interaction.as_ref().map(|i| i.at))
        .unwrap_or(ctx.now);

        let mut given_name = cleanse::name(opt(c.given));
        let mut family_name = cleanse::name(opt(c.family));
        let full_name = cleanse::name(opt(c.full));
        if kind == PartyKind::Person
            && given_name.is_none()
            && family_name.is_none()
            && let Some(full) = &full_name
        {
            let (g, f) = cleanse::split_person_name(
                full,
                m.party
                    .full_name_format
                    .as_deref()
                    .unwrap_or("given_family"),
            );
            given_name = g;
            family_name = f;
        }
        let fragment = Fragment {
            source: SourceRef::new(m.source.name.clone(), key.clone()),
            kind,
            observed_at,
            given_name,
            family_name,
            full_name,
            birth_date,
            emails,
            phones,
            addresses: if has_address { vec![address] } else { vec![] },
            loyalty_number: cleanse::loyalty_number(opt(c.loyalty)),
            loyalty_status: cleanse::text(opt(c.status)).map(|s| s.to_lowercase()),
            national_id: cleanse::text(opt(c.national)).map(|s| {
                s.chars()
                    .filter(|c| c.is_alphanumeric())
                    .flat_map(char::to_uppercase)
                    .collect()
            }),
            cross_refs,
            relations,
            extra,
        };
        Ok(Extracted {
            row_key: row_key.unwrap_or_else(|| format!("p:{key}")),
            fragment,
            interaction,
            grant,
            disruption,
            related,
        })
    }
}

/// The interaction attribute that names the disruption a row is about (a complaint, a
/// grant); stored canonical.
pub const DISRUPTION_ATTR: &str = "disruption_ref";

fn shift_date(d: rapport_core::Date, days: i64) -> rapport_core::Date {
    if days == 0 {
        return d;
    }
    d.to_jiff()
        .and_then(|j| j.checked_add(jiff::Span::new().days(days)).ok())
        .and_then(|j| rapport_core::Date::new(j.year(), j.month() as u8, j.day() as u8))
        .unwrap_or(d)
}

/// The disruption a disruption interaction reports, from its attributes: `flight` and
/// `flight_date` name the flight (the scheduled local departure date), `bag_tag` the bag of a
/// lost-bag event, `delay_minutes` the delay, `cause`, `origin` and `destination` the rest.
/// A row without them reports no disruption record (it stays an interaction).
pub fn disruption_of(it: &Interaction, source: &str) -> Option<Disruption> {
    let kind = match it.kind {
        InteractionKind::Delay => DisruptionKind::Delay,
        InteractionKind::Cancellation => DisruptionKind::Cancellation,
        InteractionKind::DeniedBoarding => DisruptionKind::DeniedBoarding,
        InteractionKind::BagLost => DisruptionKind::LostBag,
        _ => return None,
    };
    let flight = it
        .attr_text("flight")
        .zip(it.attr_text("flight_date").and_then(|d| d.parse().ok()))
        .and_then(|(f, d)| DisruptionId::flight(f, d).ok());
    let id = match kind {
        DisruptionKind::LostBag => DisruptionId::Bag {
            tag: it
                .attr_text("bag_tag")
                .filter(|t| t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty())?
                .to_string(),
        },
        _ => flight.clone()?,
    };
    let delay_minutes = it
        .attr_int("delay_minutes")
        .and_then(|m| u32::try_from(m).ok());
    let route = it
        .attr_text("origin")
        .zip(it.attr_text("destination"))
        .map(|(o, d)| format!("{o}-{d}"));
    Some(Disruption {
        id,
        kind,
        delay_minutes,
        cause: it.attr_text("cause").map(str::to_string),
        route,
        flight: match kind {
            DisruptionKind::LostBag => flight.map(|f| f.to_string()),
            _ => None,
        },
        at: it.at,
        affected: Vec::new(),
        origin: DisruptionOrigin::Source {
            source: source.to_string(),
        },
    })
}

/// Source name of group pseudo-references (`group:source/kind/id`): parties whose rows carry
/// the same group id (a household) are related to each other.
pub const GROUP_SOURCE: &str = "group";

/// A fragment that says only that a party exists (a related party created from a row).
pub fn bare_fragment(source: SourceRef, kind: PartyKind, at: Timestamp) -> Fragment {
    Fragment {
        source,
        kind,
        observed_at: at,
        given_name: None,
        family_name: None,
        full_name: None,
        birth_date: None,
        emails: Vec::new(),
        phones: Vec::new(),
        addresses: Vec::new(),
        loyalty_number: None,
        loyalty_status: None,
        national_id: None,
        cross_refs: Vec::new(),
        relations: Vec::new(),
        extra: BTreeMap::new(),
    }
}

/// Whether [`merge_fragment`] of `new` into `old` leaves everything that says who the party
/// is as it was (names, kind, birth date, identifiers, addresses, cross references,
/// relations, booking references and national phones): then the record's index keys and
/// folded form stand, and the ingest spares copying the record to compare it before and
/// after (most rows of a known record repeat it). `false` when the merge may change it.
pub fn merge_keeps_identity(old: &Fragment, new: &Fragment) -> bool {
    let newer = new.observed_at >= old.observed_at;
    fn kept<T: PartialEq>(dst: &Option<T>, src: &Option<T>, newer: bool) -> bool {
        match src {
            None => true,
            Some(s) => (!newer && dst.is_some()) || dst.as_ref() == Some(s),
        }
    }
    let listed = |key: &str| match new.extra.get(key) {
        None => true,
        Some(v) => old.extra.get(key).is_some_and(|have| {
            v.split(' ')
                .filter(|x| !x.is_empty())
                .all(|x| have.split(' ').any(|b| b == x))
        }),
    };
    (!newer || new.kind == old.kind)
        && kept(&old.given_name, &new.given_name, newer)
        && kept(&old.family_name, &new.family_name, newer)
        && kept(&old.full_name, &new.full_name, newer)
        && kept(&old.birth_date, &new.birth_date, newer)
        && kept(&old.loyalty_number, &new.loyalty_number, newer)
        && kept(&old.national_id, &new.national_id, newer)
        && new.emails.iter().all(|e| old.emails.contains(e))
        && new.phones.iter().all(|p| old.phones.contains(p))
        && new.cross_refs.iter().all(|x| old.cross_refs.contains(x))
        && new.relations.iter().all(|r| old.relations.contains(r))
        && new.addresses.iter().all(|a| {
            old.addresses.iter().any(|b| {
                b.street == a.street
                    && b.street_number == a.street_number
                    && b.postcode == a.postcode
                    && b.locality == a.locality
            })
        })
        && listed(BOOKING_REFS)
        && listed(NATIONAL_PHONES)
}

/// Combines what a source record says over several rows: newer non-empty values win,
/// lists are united.
pub fn merge_fragment(old: &mut Fragment, new: Fragment) {
    let newer = new.observed_at >= old.observed_at;
    // Addresses without their own date date from when their row was observed.
    for a in &mut old.addresses {
        if a.valid_from.is_none() {
            a.valid_from = Some(old.observed_at);
        }
    }
    fn take<T>(dst: &mut Option<T>, src: Option<T>, newer: bool) {
        if src.is_some() && (newer || dst.is_none()) {
            *dst = src;
        }
    }
    take(&mut old.given_name, new.given_name, newer);
    take(&mut old.family_name, new.family_name, newer);
    take(&mut old.full_name, new.full_name, newer);
    take(&mut old.birth_date, new.birth_date, newer);
    take(&mut old.loyalty_number, new.loyalty_number, newer);
    take(&mut old.loyalty_status, new.loyalty_status, newer);
    take(&mut old.national_id, new.national_id, newer);
    if newer {
        old.kind = new.kind;
    }
    for e in new.emails {
        if !old.emails.contains(&e) {
            old.emails.push(e);
        }
    }
    for p in new.phones {
        if !old.phones.contains(&p) {
            old.phones.push(p);
        }
    }
    for mut a in new.addresses {
        if a.valid_from.is_none() {
            a.valid_from = Some(new.observed_at);
        }
        let same = |b: &Address| {
            b.street == a.street
                && b.street_number == a.street_number
                && b.postcode == a.postcode
                && b.locality == a.locality
        };
        if !old.addresses.iter().any(same) {
            old.addresses.push(a);
        }
    }
    for x in new.cross_refs {
        if !old.cross_refs.contains(&x) {
            old.cross_refs.push(x);
        }
    }
    for r in new.relations {
        if !old.relations.contains(&r) {
            old.relations.push(r);
        }
    }
    for (k, v) in new.extra {
        // Lists accumulate: every booking and every number the record was seen with.
        if k == BOOKING_REFS || k == NATIONAL_PHONES {
            let entry = old.extra.entry(k).or_default();
            for item in v.split(' ').filter(|x| !x.is_empty()) {
                if !entry.split(' ').any(|b| b == item) {
                    if !entry.is_empty() {
                        entry.push(' ');
                    }
                    entry.push_str(item);
                }
            }
        } else if newer || !old.extra.contains_key(&k) {
            old.extra.insert(k, v);
        }
    }
    if newer {
        old.observed_at = new.observed_at;
    }
}
