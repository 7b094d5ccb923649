use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, parse_err};
use crate::{Channel, CustomerId, SourceRef, Timestamp};

/// What kind of party a customer is. The customer, not the account or booking, is the unit
/// of analysis, and a customer can be a person, a company or an intermediary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    /// A consumer or traveller.
    Person,
    /// A corporate account.
    Organisation,
    /// An intermediary that acts for others, such as a travel agent.
    Intermediary,
}

impl PartyKind {
    /// The snake_case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            PartyKind::Person => "person",
            PartyKind::Organisation => "organisation",
            PartyKind::Intermediary => "intermediary",
        }
    }
}

impl fmt::Display for PartyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PartyKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "person" | "consumer" | "individual" => Ok(PartyKind::Person),
            "organisation" | "organization" | "company" | "corporate" => {
                Ok(PartyKind::Organisation)
            }
            "intermediary" | "agent" | "travel_agent" => Ok(PartyKind::Intermediary),
            _ => Err(parse_err("party kind", s)),
        }
    }
}

/// A calendar date without time zone (a birth date, a membership start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Date {
    /// Year, e.g. 1984.
    pub year: i16,
    /// Month 1-12.
    pub month: u8,
    /// Day 1-31.
    pub day: u8,
}

impl Date {
    /// A valid calendar date, or `None`.
    pub fn new(year: i16, month: u8, day: u8) -> Option<Date> {
        jiff::civil::Date::new(year, month as i8, day as i8)
            .ok()
            .map(|_| Date { year, month, day })
    }

    /// As a jiff civil date.
    pub fn to_jiff(self) -> Option<jiff::civil::Date> {
        jiff::civil::Date::new(self.year, self.month as i8, self.day as i8).ok()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = Error;
    /// ISO 8601 `YYYY-MM-DD` only; source-specific formats are the repository's business.
    fn from_str(s: &str) -> Result<Self, Error> {
        let d: jiff::civil::Date = s.trim().parse().map_err(|_| parse_err("date", s))?;
        Ok(Date {
            year: d.year(),
            month: d.month() as u8,
            day: d.day() as u8,
        })
    }
}

/// A value with its provenance: which source said it, and when we learned it.
/// Survivorship rules in the repository pick one `Sourced` value per golden field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Which source record supplied it; `None` when entered at a console.
    pub source: Option<SourceRef>,
    /// When the source observed or we received it.
    pub at: Timestamp,
}

impl<T> Sourced<T> {
    /// A value from `source` at `at`.
    pub fn new(value: T, source: Option<SourceRef>, at: Timestamp) -> Self {
        Sourced { value, source, at }
    }
}

/// The golden profile: one chosen value per field, each with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Profile {
    /// The name to display (person: given + family; organisation: legal name).
    pub display_name: Option<Sourced<String>>,
    /// Given name (persons).
    pub given_name: Option<Sourced<String>>,
    /// Family name (persons).
    pub family_name: Option<Sourced<String>>,
    /// Date of birth (persons).
    pub birth_date: Option<Sourced<Date>>,
    /// Loyalty programme member number.
    pub loyalty_number: Option<Sourced<String>>,
    /// Loyalty programme status as the loyalty system states it (e.g. `gold`).
    pub loyalty_status: Option<Sourced<String>>,
    /// Home city, from the current postal address.
    pub city: Option<Sourced<String>>,
    /// Country (ISO 3166 alpha-2 where known).
    pub country: Option<Sourced<String>>,
    /// Any further golden fields a mapping defines, by name.
    pub extra: BTreeMap<String, Sourced<String>>,
}

/// The kind of a contact point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    /// E-mail address (normalised to lower case).
    Email,
    /// Phone number in E.164.
    Phone,
    /// Postal address (normalised single line).
    Address,
}

impl fmt::Display for ContactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContactKind::Email => "email",
            ContactKind::Phone => "phone",
            ContactKind::Address => "address",
        })
    }
}

/// A way to reach the customer, valid over a period. A move closes the old address
/// (`valid_to`) and opens a new one: contact history, not a new customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactPoint {
    /// E-mail, phone or address.
    pub kind: ContactKind,
    /// The normalised value (E.164 phone, lower-case e-mail, normalised address line).
    pub value: String,
    /// From when it was valid, if known.
    pub valid_from: Option<Timestamp>,
    /// Until when it was valid; `None` while current.
    pub valid_to: Option<Timestamp>,
    /// Which source record supplied it.
    pub source: Option<SourceRef>,
    /// When it was last confirmed by a source or the customer.
    pub last_seen: Timestamp,
}

impl ContactPoint {
    /// Whether the contact point is valid at `t`.
    pub fn is_current_at(&self, t: Timestamp) -> bool {
        self.valid_from.is_none_or(|f| f <= t) && self.valid_to.is_none_or(|to| t < to)
    }
}

/// How two customers are related.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationshipKind {
    /// Same household.
    Household,
    /// This person is an employee of the other (a corporate account).
    EmployeeOf,
    /// This organisation employs the other.
    Employs,
    /// This customer books through the other (a travel agent).
    BooksThrough,
    /// This intermediary books for the other.
    BooksFor,
    /// This customer was referred by the other.
    ReferredBy,
    /// This customer referred the other.
    Referred,
    /// Any other named relationship.
    Other(String),
}

impl fmt::Display for RelationshipKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RelationshipKind::Household => "household",
            RelationshipKind::EmployeeOf => "employee of",
            RelationshipKind::Employs => "employs",
            RelationshipKind::BooksThrough => "books through",
            RelationshipKind::BooksFor => "books for",
            RelationshipKind::ReferredBy => "referred by",
            RelationshipKind::Referred => "referred",
            RelationshipKind::Other(s) => s,
        })
    }
}

/// A relationship from this customer to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relationship {
    /// How they are related.
    pub kind: RelationshipKind,
    /// The other customer.
    pub other: CustomerId,
    /// Since when, if known.
    pub since: Option<Timestamp>,
    /// Which source said so.
    pub source: Option<SourceRef>,
}

/// A preference the customer stated (seat, meal, drink, contact channel and frequency).
/// The customer may change it freely: the newest statement for a topic wins, older ones
/// stay as history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preference {
    /// What it is about, e.g. `seat`, `meal`, `drink`, `contact_channel`, `contact_frequency`.
    pub topic: String,
    /// The stated value, e.g. `aisle`.
    pub value: String,
    /// Who recorded it (operator name or source).
    pub recorded_by: String,
    /// Through which channel.
    pub channel: Channel,
    /// When.
    pub at: Timestamp,
}

/// A data-quality observation about a customer record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityFlag {
    /// No current way to contact the customer.
    NoCurrentContact,
    /// Contact data not confirmed by any source for a long time.
    StaleContact {
        /// Which contact point.
        value: String,
        /// Last seen.
        last_seen: Timestamp,
    },
    /// Sources disagree on a golden field.
    ConflictingValues {
        /// The field name.
        field: String,
    },
    /// A possible duplicate waits in the review queue.
    PendingReview,
    /// Free-form flag.
    Other(String),
}

/// A resolved customer as stored: the golden profile, contacts, identifiers in each source,
/// relationships and preferences. Interactions are stored separately, keyed by customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// The customer's id.
    pub id: CustomerId,
    /// Person, organisation or intermediary.
    pub kind: PartyKind,
    /// Golden fields with provenance.
    pub profile: Profile,
    /// Contact points, current and past.
    pub contacts: Vec<ContactPoint>,
    /// Every source record resolved to this customer.
    pub identifiers: Vec<SourceRef>,
    /// Relationships to other customers.
    pub relationships: Vec<Relationship>,
    /// Stated preferences, newest last.
    pub preferences: Vec<Preference>,
    /// Data-quality flags.
    pub quality: Vec<QualityFlag>,
    /// When the customer was first created.
    pub created: Timestamp,
    /// When anything about the customer last changed.
    pub updated: Timestamp,
}

impl Customer {
    /// A new, empty customer of the given kind.
    pub fn new(id: CustomerId, kind: PartyKind, now: Timestamp) -> Customer {
        Customer {
            id,
            kind,
            profile: Profile::default(),
            contacts: Vec::new(),
            identifiers: Vec::new(),
            relationships: Vec::new(),
            preferences: Vec::new(),
            quality: Vec::new(),
            created: now,
            updated: now,
        }
    }

    /// The name to show, or the id when the customer has no name.
    pub fn display_name(&self) -> String {
        match &self.profile.display_name {
            Some(n) => n.value.clone(),
            None => self.id.to_string(),
        }
    }

    /// Current contact points of a kind at `t`.
    pub fn current_contacts(
        &self,
        kind: ContactKind,
        t: Timestamp,
    ) -> impl Iterator<Item = &ContactPoint> {
        self.contacts
            .iter()
            .filter(move |c| c.kind == kind && c.is_current_at(t))
    }

    /// The newest stated preference per topic.
    pub fn current_preferences(&self) -> BTreeMap<&str, &Preference> {
        let mut out = BTreeMap::new();
        for p in &self.preferences {
            match out.get(p.topic.as_str()) {
                Some(old) if Preference::at_of(old) > p.at => {}
                _ => {
                    out.insert(p.topic.as_str(), p);
                }
            }
        }
        out
    }
}

impl Preference {
    fn at_of(p: &&Preference) -> Timestamp {
        p.at
    }
}
