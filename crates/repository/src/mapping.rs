//! Source mappings and ingest manifests, loaded from TOML.
//!
//! A mapping tells ingest how to read one source: its file format and encoding, the columns
//! that describe the party (the natural key, names, contact points, identifiers, cross
//! references, relationships), the source's date formats, time zone, decimal separator,
//! currency and default phone region, and optionally the interaction each row records. The
//! format is documented for users in `docs/mappings.md`.
//!
//! Loading parses the TOML into plain structs ([`Mapping`]) and then checks them; every
//! mistake is reported with the file, the line and the field ([`Error::Config`]).
//!
//! ```
//! use rapport_repository::mapping::Mapping;
//! let m = Mapping::from_toml_str(
//!     r#"
//!     [source]
//!     name = "loyalty"
//!     format = "csv"
//!     date_formats = ["%d/%m/%Y"]
//!     phone_region = "GB"
//!     [party]
//!     key = "member_id"
//!     kind = "person"
//!     given_name = "first"
//!     family_name = "last"
//!     email = "email"
//!     "#,
//!     "loyalty.toml".as_ref(),
//! )
//! .unwrap();
//! assert_eq!(m.source.name, "loyalty");
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rapport_core::{
    AmountRole, Channel, Currency, DisruptionKind, InteractionKind, PartyKind, Phase,
    RelationshipKind,
};
use serde::Deserialize;

use crate::error::Error;

/// One column or several (e-mail and phone fields may list several columns).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Columns {
    /// One column.
    One(String),
    /// Several columns, tried in order; every non-empty value is kept.
    Many(Vec<String>),
}

impl Default for Columns {
    fn default() -> Self {
        Columns::Many(Vec::new())
    }
}

impl Columns {
    /// The column names.
    pub fn names(&self) -> &[String] {
        match self {
            Columns::One(c) => std::slice::from_ref(c),
            Columns::Many(v) => v,
        }
    }
}

/// The file format of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma (or other delimiter) separated values.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// A source mapping: how to read one source system's files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// The source and how its files are written.
    pub source: SourceSection,
    /// The party each row describes.
    pub party: PartySection,
    /// The interaction each row records, if any.
    pub interaction: Option<InteractionSection>,
    /// Compensation grants recorded by some rows, if any.
    pub compensation: Option<CompensationSection>,
    /// The file the mapping was loaded from.
    #[serde(skip)]
    pub path: PathBuf,
    /// The mapping's text, to locate fields in errors.
    #[serde(skip)]
    text: String,
}

/// `[source]`: the source system and its conventions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    /// The source's name, used in source references (`name:key`).
    pub name: String,
    /// A sentence about the source, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// `csv` or `jsonl`.
    pub format: Format,
    /// `utf-8` (default), `latin-1` (`iso-8859-1`), `windows-1252` or any WHATWG label.
    #[serde(default = "default_encoding")]
    pub encoding: String,
    /// CSV delimiter, one ASCII character (default `,`).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Whether the CSV file starts with a header row (default true).
    #[serde(default = "default_true")]
    pub header: bool,
    /// Column names when the file has no header.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Formats of date fields (strftime, e.g. `%d/%m/%Y`). A value that fits none is
    /// quarantined; one that fits several with different results is ambiguous and quarantined.
    #[serde(default)]
    pub date_formats: Vec<String>,
    /// Formats of date-time fields (e.g. `%d/%m/%Y %H:%M`, `%Y-%m-%dT%H:%M:%S%:z`). RFC 3339
    /// values are always accepted.
    #[serde(default)]
    pub datetime_formats: Vec<String>,
    /// IANA time zone of local times without an offset (default UTC).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// A column holding each row's IANA time zone (overrides `time_zone`).
    #[serde(default)]
    pub time_zone_column: Option<String>,
    /// Decimal separator of amounts: `.` (default), `,`, or `auto` (the last `.` or `,`
    /// followed by exactly the currency's number of decimals is the decimal separator; used
    /// for sources whose points of sale write both).
    #[serde(default = "default_decimal")]
    pub decimal_separator: String,
    /// Currency of amounts (ISO 4217).
    #[serde(default)]
    pub currency: Option<String>,
    /// A column holding each row's currency (overrides `currency`).
    #[serde(default)]
    pub currency_column: Option<String>,
    /// Region for phone numbers written without a country code (ISO 3166 alpha-2).
    #[serde(default)]
    pub phone_region: Option<String>,
    /// A column holding each row's region for phone numbers (e.g. the address country);
    /// overrides `phone_region` when filled.
    #[serde(default)]
    pub phone_region_column: Option<String>,
    /// Country of addresses that do not state one (ISO 3166 alpha-2).
    #[serde(default)]
    pub default_country: Option<String>,
}

/// `[party]`: which columns describe the party. Every name here is a column (CSV) or a
/// field (JSON Lines, dotted paths such as `passenger.name` reach into objects).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartySection {
    /// The source's natural key of the party (required): one column, or several whose values
    /// are joined with `|` (e.g. `["booking_ref", "passenger_name"]`).
    pub key: Columns,
    /// A fixed party kind: `person`, `organisation` or `intermediary`.
    #[serde(default)]
    pub kind: Option<String>,
    /// A column giving the party kind.
    #[serde(default)]
    pub kind_column: Option<String>,
    /// Source values of `kind_column` to party kinds.
    #[serde(default)]
    pub kind_map: BTreeMap<String, String>,
    /// When this record's values were observed (date or date-time column); default: the
    /// interaction time, else the time of ingest.
    #[serde(default)]
    pub observed_at: Option<String>,
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub family_name: Option<String>,
    /// Full name (or an organisation's name) when the source does not split it.
    #[serde(default)]
    pub full_name: Option<String>,
    /// How a person's full name is written: `given_family` (default, `Ann Lee`),
    /// `family_given` (`Lee Ann`), `pnr` (`LEE/ANN MS`, titles dropped) or `auto` (`pnr` when
    /// there is a `/`, `family, given` when there is a comma, else `given_family`). The name is
    /// split into given and family names for matching.
    #[serde(default)]
    pub full_name_format: Option<String>,
    /// Date of birth, in one of `source.date_formats`.
    #[serde(default)]
    pub birth_date: Option<String>,
    /// E-mail column(s).
    #[serde(default)]
    pub email: Columns,
    /// Phone column(s).
    #[serde(default)]
    pub phone: Columns,
    /// House number.
    #[serde(default)]
    pub street_number: Option<String>,
    /// Street line(s), joined with a space.
    #[serde(default)]
    pub street: Columns,
    /// Town or city.
    #[serde(default)]
    pub locality: Option<String>,
    /// Postcode.
    #[serde(default)]
    pub postcode: Option<String>,
    /// State or region.
    #[serde(default)]
    pub region: Option<String>,
    /// Country (ISO alpha-2 or a common English name).
    #[serde(default)]
    pub country: Option<String>,
    /// From when the address is valid (date or date-time column).
    #[serde(default)]
    pub address_since: Option<String>,
    /// Loyalty programme number.
    #[serde(default)]
    pub loyalty_number: Option<String>,
    /// Loyalty status (e.g. `gold`).
    #[serde(default)]
    pub loyalty_status: Option<String>,
    /// National identifier (most sources have none; leave it out when unsure).
    #[serde(default)]
    pub national_id: Option<String>,
    /// Keys of the same party in other sources.
    #[serde(default)]
    pub cross_refs: Vec<CrossRefSpec>,
    /// Relationships to other parties.
    #[serde(default)]
    pub relations: Vec<RelationSpec>,
    /// Further profile fields: golden field name to column.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// `[[party.cross_refs]]`: a column holding the party's key in another source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossRefSpec {
    /// The other source's name.
    pub source: String,
    /// The column holding the key there.
    pub column: String,
}

/// `[[party.relations]]`: a column naming a related party.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationSpec {
    /// `household`, `employee_of`, `books_through`, `referred_by` (or any other name).
    pub kind: String,
    /// The source whose key the column holds (default: this source).
    #[serde(default)]
    pub source: Option<String>,
    /// The column holding the related party's key (or, with `group`, a group id).
    pub column: String,
    /// The column holds a group id (e.g. a household id): every party with the same id in this
    /// source is related to every other.
    #[serde(default)]
    pub group: bool,
    /// Create the related party from this row when it is not known yet, with this kind
    /// (`organisation`, `intermediary`): e.g. the corporate account on a booking.
    #[serde(default)]
    pub party_kind: Option<String>,
}

/// `[interaction]`: the interaction a row records.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionSection {
    /// The row's natural key (for idempotency); default: a hash of the row's bytes.
    #[serde(default)]
    pub key: Option<String>,
    /// When it happened: a date-time column in `source.datetime_formats` (or a date).
    pub time: String,
    /// A fixed kind (`booking`, `flight_flown`, `delay`, `complaint`...).
    #[serde(default)]
    pub kind: Option<String>,
    /// A column giving the kind.
    #[serde(default)]
    pub kind_column: Option<String>,
    /// Source values of `kind_column` to kinds (unmapped values are used as they are).
    #[serde(default)]
    pub kind_map: BTreeMap<String, String>,
    /// A fixed channel (`web`, `call_center`, `gate`...).
    #[serde(default)]
    pub channel: Option<String>,
    /// A column giving the channel.
    #[serde(default)]
    pub channel_column: Option<String>,
    /// Source values of `channel_column` to channels.
    #[serde(default)]
    pub channel_map: BTreeMap<String, String>,
    /// Column: where (gate, airport, page, queue).
    #[serde(default)]
    pub touchpoint: Option<String>,
    /// A fixed division (`airline`, `hotel`...).
    #[serde(default)]
    pub division: Option<String>,
    /// A column giving the division.
    #[serde(default)]
    pub division_column: Option<String>,
    /// Column: the employee involved.
    #[serde(default)]
    pub employee: Option<String>,
    /// A fixed activity-cycle phase: `pre`, `during` or `post`.
    #[serde(default)]
    pub phase: Option<String>,
    /// A column giving the phase.
    #[serde(default)]
    pub phase_column: Option<String>,
    /// Source values of `phase_column` to phases.
    #[serde(default)]
    pub phase_map: BTreeMap<String, String>,
    /// Column: free text.
    #[serde(default)]
    pub text: Option<String>,
    /// Column: a booking reference (searchable; also kept as the `booking_ref` attribute).
    #[serde(default)]
    pub booking_ref: Option<String>,
    /// Amounts with their roles.
    #[serde(default)]
    pub amounts: Vec<AmountSpec>,
    /// Typed granular attributes.
    #[serde(default)]
    pub attributes: Vec<AttributeSpec>,
}

/// `[[interaction.amounts]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountSpec {
    /// `revenue`, `cost_to_serve`, `compensation`, `refund`, `payment` or `other`.
    pub role: String,
    /// The column.
    pub column: String,
    /// Whether the column holds minor units (cents) rather than major units.
    #[serde(default)]
    pub minor_units: bool,
}

/// `[[interaction.attributes]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeSpec {
    /// The attribute name.
    pub name: String,
    /// The column.
    pub column: String,
    /// `text` (default), `int`, `float`, `bool`, `money`, `time` or `date`.
    #[serde(default = "default_attr_type", rename = "type")]
    pub kind: String,
}

/// `[compensation]`: rows that record a compensation grant (a voucher at the gate).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompensationSection {
    /// Rows whose interaction kind is this record a grant (default `compensation_granted`).
    #[serde(default = "default_grant_kind")]
    pub when_kind: String,
    /// Instead of `when_kind`: rows where this column is filled record a grant (e.g. the
    /// compensation instrument on a call-center contact).
    #[serde(default)]
    pub when_column: Option<String>,
    /// Column: the disruption reference, e.g. `RP123/2026-11-23`.
    pub disruption: String,
    /// A fixed disruption kind: `delay`, `cancellation`, `denied-boarding`, `lost-bag`.
    #[serde(default)]
    pub disruption_kind: Option<String>,
    /// A column giving the disruption kind.
    #[serde(default)]
    pub disruption_kind_column: Option<String>,
    /// Source values of `disruption_kind_column` to kinds.
    #[serde(default)]
    pub disruption_kind_map: BTreeMap<String, String>,
    /// Column: delay in minutes.
    #[serde(default)]
    pub delay_minutes: Option<String>,
    /// A fixed instrument (`voucher`, `miles`, `cash`).
    #[serde(default)]
    pub instrument: Option<String>,
    /// A column giving the instrument.
    #[serde(default)]
    pub instrument_column: Option<String>,
    /// Column: the amount granted.
    pub amount: String,
    /// Whether `amount` holds minor units.
    #[serde(default)]
    pub minor_units: bool,
    /// A fixed policy rule name.
    #[serde(default)]
    pub policy_rule: Option<String>,
    /// A column giving the policy rule.
    #[serde(default)]
    pub policy_rule_column: Option<String>,
    /// Column: who granted it (default: the interaction's employee).
    #[serde(default)]
    pub granted_by: Option<String>,
    /// Only these instruments are compensation grants (at most one per customer and
    /// disruption); others (meals, hotel nights: care, not compensation) are recorded as
    /// interactions only. Empty: every instrument.
    #[serde(default)]
    pub instruments: Vec<String>,
}

fn default_encoding() -> String {
    "utf-8".into()
}
fn default_delimiter() -> String {
    ",".into()
}
fn default_decimal() -> String {
    ".".into()
}
fn default_true() -> bool {
    true
}
fn default_attr_type() -> String {
    "text".into()
}
fn default_grant_kind() -> String {
    "compensation_granted".into()
}

/// The type of a mapped attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// Text as it is (cleansed of surrounding spaces).
    Text,
    /// An integer.
    Int,
    /// A real number (with the source's decimal separator).
    Float,
    /// `true/false`, `yes/no`, `y/n`, `1/0`.
    Bool,
    /// An amount in the row's currency.
    Money,
    /// A date-time.
    Time,
    /// A date (stored as text `YYYY-MM-DD`).
    Date,
}

impl AttrType {
    fn parse(s: &str) -> Option<AttrType> {
        Some(match s {
            "text" => AttrType::Text,
            "int" | "integer" => AttrType::Int,
            "float" | "number" => AttrType::Float,
            "bool" | "boolean" => AttrType::Bool,
            "money" => AttrType::Money,
            "time" | "datetime" => AttrType::Time,
            "date" => AttrType::Date,
            _ => return None,
        })
    }
}

impl AttributeSpec {
    /// The attribute's type (checked at load).
    pub fn attr_type(&self) -> AttrType {
        AttrType::parse(&self.kind).unwrap_or(AttrType::Text)
    }
}

/// Looks a source value up in a value map: an exact key, else the longest key ending in `*`
/// whose prefix the value starts with (`"CORP-*" = "organisation"`).
pub fn map_value<'a>(map: &'a BTreeMap<String, String>, raw: &'a str) -> &'a str {
    if let Some(v) = map.get(raw) {
        return v;
    }
    map.iter()
        .filter_map(|(k, v)| {
            k.strip_suffix('*')
                .filter(|p| raw.starts_with(p))
                .map(|p| (p.len(), v))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, v)| v.as_str())
        .unwrap_or(raw)
}

/// Parses an amount role name.
pub fn parse_role(s: &str) -> Option<AmountRole> {
    Some(
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "revenue" => AmountRole::Revenue,
            "cost_to_serve" | "cost" => AmountRole::CostToServe,
            "compensation" => AmountRole::Compensation,
            "refund" => AmountRole::Refund,
            "payment" => AmountRole::Payment,
            "other" => AmountRole::Other,
            _ => return None,
        },
    )
}

/// Parses a phase name.
pub fn parse_phase(s: &str) -> Option<Phase> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "pre" => Phase::Pre,
        "during" => Phase::During,
        "post" => Phase::Post,
        _ => return None,
    })
}

/// Parses a relationship kind name (`household`, `employee_of`, `books_through`,
/// `referred_by`, their inverses, or any other name).
pub fn parse_relationship(s: &str) -> RelationshipKind {
    match s
        .trim()
        .to_ascii_lowercase()
        .replace(['-', ' '], "_")
        .as_str()
    {
        "household" => RelationshipKind::Household,
        "employee_of" => RelationshipKind::EmployeeOf,
        "employs" => RelationshipKind::Employs,
        "books_through" => RelationshipKind::BooksThrough,
        "books_for" => RelationshipKind::BooksFor,
        "referred_by" => RelationshipKind::ReferredBy,
        "referred" => RelationshipKind::Referred,
        other => RelationshipKind::Other(other.to_string()),
    }
}

impl Mapping {
    /// Loads and checks a mapping file.
    pub fn load(path: &Path) -> Result<Mapping, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Mapping::from_toml_str(&text, path)
    }

    /// Parses and checks a mapping from its text; `path` names it in errors.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Mapping, Error> {
        let mut m: Mapping = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        m.path = path.to_path_buf();
        m.text = text.to_string();
        m.check()?;
        Ok(m)
    }

    /// An error about `field` (dotted path) of this mapping, located in its text.
    pub fn field_error(&self, field: &str, reason: impl Into<String>) -> Error {
        Error::Config {
            file: self.path.clone(),
            line: locate(&self.text, field),
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    /// The source name.
    pub fn name(&self) -> &str {
        &self.source.name
    }

    fn check(&self) -> Result<(), Error> {
        let s = &self.source;
        if s.name.trim().is_empty()
            || !s
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(self.field_error(
                "source.name",
                "must be a non-empty name of letters, digits, `_` and `-`",
            ));
        }
        if encoding(&s.encoding).is_none() {
            return Err(self.field_error(
                "source.encoding",
                format!(
                    "unknown encoding {:?} (use utf-8, latin-1, windows-1252...)",
                    s.encoding
                ),
            ));
        }
        if s.delimiter.len() != 1 || !s.delimiter.is_ascii() {
            return Err(self.field_error("source.delimiter", "must be exactly one ASCII character"));
        }
        if s.format == Format::Csv && !s.header && s.columns.is_empty() {
            return Err(self.field_error(
                "source.columns",
                "a CSV file without a header needs the list of column names",
            ));
        }
        for (i, f) in s.date_formats.iter().enumerate() {
            check_format(f, true).map_err(|r| {
                self.field_error(
                    "source.date_formats",
                    format!("format {} {f:?}: {r}", i + 1),
                )
            })?;
        }
        for (i, f) in s.datetime_formats.iter().enumerate() {
            if f == crate::cleanse::EPOCH_MS || f == crate::cleanse::EPOCH_S {
                continue;
            }
            check_format(f, false).map_err(|r| {
                self.field_error(
                    "source.datetime_formats",
                    format!("format {} {f:?}: {r}", i + 1),
                )
            })?;
        }
        if let Some(tz) = &s.time_zone
            && jiff::tz::TimeZone::get(tz).is_err()
        {
            return Err(
                self.field_error("source.time_zone", format!("unknown IANA time zone {tz:?}"))
            );
        }
        if !matches!(s.decimal_separator.as_str(), "." | "," | "auto") {
            return Err(self.field_error("source.decimal_separator", "must be `.`, `,` or `auto`"));
        }
        if let Some(c) = &s.currency
            && c.parse::<Currency>().is_err()
        {
            return Err(self.field_error(
                "source.currency",
                format!("{c:?} is not a three-letter ISO 4217 code"),
            ));
        }
        if let Some(r) = &s.phone_region
            && r.parse::<phonenumber::country::Id>().is_err()
        {
            return Err(self.field_error(
                "source.phone_region",
                format!("{r:?} is not a known ISO 3166 region for phone numbers"),
            ));
        }
        self.check_party()?;
        if let Some(i) = &self.interaction {
            self.check_interaction(i)?;
        }
        if let Some(c) = &self.compensation {
            if self.interaction.is_none() {
                return Err(self.field_error(
                    "compensation",
                    "a [compensation] section needs an [interaction] section",
                ));
            }
            self.check_compensation(c)?;
        }
        Ok(())
    }

    fn check_party(&self) -> Result<(), Error> {
        let p = &self.party;
        if p.key.names().is_empty() || p.key.names().iter().any(|k| k.trim().is_empty()) {
            return Err(self.field_error("party.key", "the party's natural key column is required"));
        }
        match (&p.kind, &p.kind_column) {
            (Some(_), Some(_)) => {
                return Err(self.field_error(
                    "party.kind_column",
                    "give `kind` or `kind_column`, not both",
                ));
            }
            (None, None) => {
                return Err(self.field_error(
                    "party.kind",
                    "give a fixed `kind` (person, organisation, intermediary) or a `kind_column`",
                ));
            }
            (Some(k), None) => {
                k.parse::<PartyKind>().map_err(|_| {
                    self.field_error(
                        "party.kind",
                        format!("unknown party kind {k:?} (person, organisation, intermediary)"),
                    )
                })?;
            }
            (None, Some(_)) => {}
        }
        for (from, to) in &p.kind_map {
            to.parse::<PartyKind>().map_err(|_| {
                self.field_error(
                    "party.kind_map",
                    format!("{from:?} maps to unknown party kind {to:?}"),
                )
            })?;
        }
        if p.birth_date.is_some() && self.source.date_formats.is_empty() {
            return Err(self.field_error(
                "party.birth_date",
                "a date field needs `source.date_formats`",
            ));
        }
        for r in &p.relations {
            if let RelationshipKind::Other(o) = parse_relationship(&r.kind)
                && (o.is_empty() || !o.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            {
                return Err(self.field_error(
                    "party.relations",
                    format!("bad relationship kind {:?}", r.kind),
                ));
            }
        }
        if let Some(f) = &p.full_name_format
            && !matches!(f.as_str(), "given_family" | "family_given" | "pnr" | "auto")
        {
            return Err(self.field_error(
                "party.full_name_format",
                format!("unknown name format {f:?} (given_family, family_given, pnr, auto)"),
            ));
        }
        for r in &p.relations {
            if let Some(k) = &r.party_kind {
                k.parse::<PartyKind>().map_err(|_| {
                    self.field_error("party.relations", format!("unknown party kind {k:?}"))
                })?;
            }
        }
        for c in &p.cross_refs {
            if c.source.trim().is_empty() {
                return Err(self.field_error(
                    "party.cross_refs",
                    "a cross reference needs the other source's name",
                ));
            }
        }
        Ok(())
    }

    fn check_interaction(&self, i: &InteractionSection) -> Result<(), Error> {
        match (&i.kind, &i.kind_column) {
            (Some(_), Some(_)) => {
                return Err(self.field_error(
                    "interaction.kind_column",
                    "give `kind` or `kind_column`, not both",
                ));
            }
            (None, None) => {
                return Err(
                    self.field_error("interaction.kind", "give a fixed `kind` or a `kind_column`")
                );
            }
            (Some(k), None) => {
                k.parse::<InteractionKind>().map_err(|_| {
                    self.field_error("interaction.kind", format!("bad interaction kind {k:?}"))
                })?;
            }
            (None, Some(_)) => {}
        }
        for (from, to) in &i.kind_map {
            to.parse::<InteractionKind>().map_err(|_| {
                self.field_error(
                    "interaction.kind_map",
                    format!("{from:?} maps to a bad kind {to:?}"),
                )
            })?;
        }
        match (&i.channel, &i.channel_column) {
            (Some(_), Some(_)) => {
                return Err(self.field_error(
                    "interaction.channel_column",
                    "give `channel` or `channel_column`, not both",
                ));
            }
            (None, None) => {
                return Err(self.field_error(
                    "interaction.channel",
                    "give a fixed `channel` or a `channel_column`",
                ));
            }
            (Some(c), None) => {
                c.parse::<Channel>().map_err(|_| {
                    self.field_error("interaction.channel", format!("bad channel {c:?}"))
                })?;
            }
            (None, Some(_)) => {}
        }
        for (from, to) in &i.channel_map {
            to.parse::<Channel>().map_err(|_| {
                self.field_error(
                    "interaction.channel_map",
                    format!("{from:?} maps to a bad channel {to:?}"),
                )
            })?;
        }
        if let Some(p) = &i.phase
            && parse_phase(p).is_none()
        {
            return Err(self.field_error(
                "interaction.phase",
                format!("bad phase {p:?} (pre, during, post)"),
            ));
        }
        for (from, to) in &i.phase_map {
            if parse_phase(to).is_none() {
                return Err(self.field_error(
                    "interaction.phase_map",
                    format!("{from:?} maps to a bad phase {to:?}"),
                ));
            }
        }
        let needs_currency = !i.amounts.is_empty()
            || i.attributes
                .iter()
                .any(|a| a.attr_type() == AttrType::Money);
        if needs_currency && self.source.currency.is_none() && self.source.currency_column.is_none()
        {
            return Err(self.field_error(
                "interaction.amounts",
                "amounts need `source.currency` or `source.currency_column`",
            ));
        }
        for a in &i.amounts {
            if parse_role(&a.role).is_none() {
                return Err(self.field_error("interaction.amounts", format!("bad amount role {:?} (revenue, cost_to_serve, compensation, refund, payment, other)", a.role)));
            }
        }
        for a in &i.attributes {
            if AttrType::parse(&a.kind).is_none() {
                return Err(self.field_error(
                    "interaction.attributes",
                    format!(
                        "attribute {:?}: bad type {:?} (text, int, float, bool, money, time, date)",
                        a.name, a.kind
                    ),
                ));
            }
            if a.attr_type() == AttrType::Date && self.source.date_formats.is_empty() {
                return Err(self.field_error(
                    "interaction.attributes",
                    format!("attribute {:?}: a date needs `source.date_formats`", a.name),
                ));
            }
        }
        Ok(())
    }

    fn check_compensation(&self, c: &CompensationSection) -> Result<(), Error> {
        c.when_kind.parse::<InteractionKind>().map_err(|_| {
            self.field_error(
                "compensation.when_kind",
                format!("bad interaction kind {:?}", c.when_kind),
            )
        })?;
        match (&c.disruption_kind, &c.disruption_kind_column) {
            (None, None) => {
                return Err(self.field_error(
                    "compensation.disruption_kind",
                    "give a fixed `disruption_kind` or a `disruption_kind_column`",
                ));
            }
            (Some(k), None) => {
                k.parse::<DisruptionKind>().map_err(|_| {
                    self.field_error("compensation.disruption_kind", format!("bad disruption kind {k:?} (delay, cancellation, denied-boarding, lost-bag)"))
                })?;
            }
            _ => {}
        }
        for (from, to) in &c.disruption_kind_map {
            to.parse::<DisruptionKind>().map_err(|_| {
                self.field_error(
                    "compensation.disruption_kind_map",
                    format!("{from:?} maps to a bad disruption kind {to:?}"),
                )
            })?;
        }
        if c.instrument.is_none() && c.instrument_column.is_none() {
            return Err(self.field_error(
                "compensation.instrument",
                "give a fixed `instrument` or an `instrument_column`",
            ));
        }
        Ok(())
    }
}

/// The encoding a mapping names: WHATWG labels, plus `latin-1` and `utf8` spellings.
pub fn encoding(label: &str) -> Option<&'static encoding_rs::Encoding> {
    let l = label.trim().to_ascii_lowercase();
    let l = match l.as_str() {
        "latin-1" | "latin_1" => "latin1",
        "utf8" => "utf-8",
        other => other,
    };
    encoding_rs::Encoding::for_label(l.as_bytes())
}

/// Checks that a strftime format parses dates (or date-times) by trying it on a sample.
fn check_format(f: &str, date_only: bool) -> Result<(), String> {
    let has = |s: &str| f.contains(s);
    let year = has("%Y") || has("%y");
    let month = has("%m") || has("%b") || has("%B") || has("%h");
    let day = has("%d") || has("%e") || has("%j");
    if !(year && (month || has("%j")) && day) {
        return Err("needs a year, a month and a day".into());
    }
    if f.contains("%s") && date_only {
        return Err("`%s` is not a date format".into());
    }
    let sample = jiff::civil::date(2024, 3, 9)
        .at(7, 5, 3, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|e| e.to_string())?;
    let formatted = jiff::fmt::strtime::format(f, &sample).map_err(|e| e.to_string())?;
    jiff::fmt::strtime::parse(f, &formatted).map_err(|e| e.to_string())?;
    Ok(())
}

/// Turns a TOML syntax or shape error into a located config error.
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> Error {
    let (line, field) = match e.span() {
        Some(span) => {
            let start = span.start.min(text.len());
            let line = text[..start].bytes().filter(|&b| b == b'\n').count() + 1;
            let line_text = text.lines().nth(line - 1).unwrap_or("");
            let section = section_at(text, line);
            let key = line_text
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_string())
                .unwrap_or_default();
            let field = match (section.is_empty(), key.is_empty()) {
                (_, true) => section,
                (true, false) => key,
                (false, false) => format!("{section}.{key}"),
            };
            (line, field)
        }
        None => (0, String::new()),
    };
    Error::Config {
        file: path.to_path_buf(),
        line,
        field: if field.is_empty() {
            "(document)".into()
        } else {
            field
        },
        reason: e.message().trim().to_string(),
    }
}

/// The `[section]` or `[[section]]` in force at a 1-based line.
fn section_at(text: &str, line: usize) -> String {
    let mut current = String::new();
    for l in text.lines().take(line) {
        let t = l.trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
    }
    current
}

/// The 1-based line where a dotted field path is set (0 when it is not written out).
fn locate(text: &str, field: &str) -> usize {
    let (section, key) = match field.rsplit_once('.') {
        Some((s, k)) => (s, k),
        None => ("", field),
    };
    let mut current = String::new();
    let mut section_line = 0;
    for (n, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            if current == field || (current == section && section_line == 0) {
                section_line = n + 1;
            }
            if current == field {
                return n + 1;
            }
            continue;
        }
        if current == section
            && let Some((k, _)) = t.split_once('=')
            && k.trim().trim_matches('"') == key
        {
            return n + 1;
        }
        // Inline tables and dotted keys inside the parent section.
        if current.is_empty()
            && let Some((k, _)) = t.split_once('=')
            && k.trim() == field
        {
            return n + 1;
        }
    }
    section_line
}

/// An ingest manifest: the sources to ingest together and the trust order for survivorship.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Source names, most trusted first: survivorship takes a golden field from the most
    /// trusted source that has it. Sources not listed come after, by name.
    #[serde(default)]
    pub trust: Vec<String>,
    /// The sources, ingested in this order.
    #[serde(rename = "source")]
    pub sources: Vec<ManifestSource>,
    /// Exchange rates to load before the sources (`[rates]`), if any.
    #[serde(default)]
    pub rates: Option<ManifestRates>,
    /// The manifest's path.
    #[serde(skip)]
    pub path: PathBuf,
}

/// `[[source]]` of a manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSource {
    /// The mapping file, relative to the manifest.
    pub mapping: PathBuf,
    /// The data files, relative to the manifest.
    pub files: Vec<PathBuf>,
}

/// `[rates]` of a manifest: a rates file in the ECB layout (see [`crate::rates`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestRates {
    /// The rates file, relative to the manifest.
    pub file: PathBuf,
    /// Where the rates come from (default: the file's name).
    #[serde(default)]
    pub source: Option<String>,
    /// The currency the rates are quoted against (default EUR).
    #[serde(default)]
    pub reporting: Option<String>,
}

impl Manifest {
    /// Loads a manifest; relative paths are resolved against its directory.
    pub fn load(path: &Path) -> Result<Manifest, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut m: Manifest = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        if let Some(r) = &mut m.rates {
            r.file = dir.join(&r.file);
        }
        for s in &mut m.sources {
            s.mapping = dir.join(&s.mapping);
            for f in &mut s.files {
                *f = dir.join(&*f);
            }
        }
        if m.sources.is_empty() {
            return Err(Error::Config {
                file: path.to_path_buf(),
                line: 0,
                field: "source".into(),
                reason: "the manifest lists no [[source]]".into(),
            });
        }
        m.path = path.to_path_buf();
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Mapping, Error> {
        Mapping::from_toml_str(text, Path::new("m.toml"))
    }

    const GOOD: &str = r#"
[source]
name = "res"
format = "csv"
date_formats = ["%d/%m/%Y"]
datetime_formats = ["%d/%m/%Y %H:%M"]
time_zone = "Europe/Amsterdam"
currency = "EUR"
phone_region = "NL"

[party]
key = "pax_id"
kind = "person"
given_name = "first"
email = ["email", "email2"]

[interaction]
key = "booking"
time = "booked"
kind = "booking"
channel_column = "via"
channel_map = { W = "web", A = "agent" }

[[interaction.amounts]]
role = "revenue"
column = "fare"
"#;

    #[test]
    fn good_mapping_loads() {
        let m = load(GOOD).unwrap();
        assert_eq!(m.party.email.names(), ["email", "email2"]);
        assert_eq!(m.interaction.unwrap().channel_map["W"], "web");
    }

    fn check(text: &str, line: usize, field: &str, reason_part: &str) {
        match load(text) {
            Err(Error::Config {
                line: l,
                field: f,
                reason,
                ..
            }) => {
                assert_eq!((l, f.as_str()), (line, field), "reason: {reason}");
                assert!(reason.contains(reason_part), "{reason}");
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_line_and_field() {
        check(
            &GOOD.replace(
                "time_zone = \"Europe/Amsterdam\"",
                "time_zone = \"Mars/Base\"",
            ),
            7,
            "source.time_zone",
            "unknown IANA",
        );
        check(
            &GOOD.replace("given_name = \"first\"", "given_nam = \"first\""),
            14,
            "party.given_nam",
            "unknown field",
        );
        check(
            &GOOD.replace("role = \"revenue\"", "role = \"profit\""),
            24,
            "interaction.amounts",
            "bad amount role",
        );
        check(
            &GOOD.replace("%d/%m/%Y\"]\ndatetime", "%d/%q\"]\ndatetime"),
            5,
            "source.date_formats",
            "format 1",
        );
        check(
            &GOOD.replace("W = \"web\"", "W = \"w!b\""),
            22,
            "interaction.channel_map",
            "bad channel",
        );
        check(
            &GOOD.replace("format = \"csv\"", "format = \"xml\""),
            4,
            "source.format",
            "unknown variant",
        );
    }
}
