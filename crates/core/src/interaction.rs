use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, parse_err};
use crate::{CustomerId, InteractionId, Money, SourceRef, Timestamp};

/// One thing that happened between the company and a customer, captured at a granular level
/// (each flight, each bag, each call) so that later questions can still be answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// Unique id, handed out by the store.
    pub id: InteractionId,
    /// The resolved customer it belongs to.
    pub customer: CustomerId,
    /// When it happened, in UTC.
    pub at: Timestamp,
    /// The channel it happened through.
    pub channel: Channel,
    /// Where: a gate, an airport, a branch, a web page, a call-center queue.
    pub touchpoint: Option<String>,
    /// The source record it was ingested from; `None` when entered at a console.
    pub source: Option<SourceRef>,
    /// What happened.
    pub kind: InteractionKind,
    /// The division or business unit (airline, hotel, bank...).
    pub division: Option<String>,
    /// The employee or operator involved.
    pub employee: Option<String>,
    /// Money involved, each with its role (revenue, cost, compensation...).
    pub amounts: Vec<Amount>,
    /// Granular detail: seat, booking method, flight, delay minutes, bag status...
    pub attributes: BTreeMap<String, AttrValue>,
    /// Where in the customer activity cycle it happened.
    pub phase: Option<Phase>,
    /// Free text (a note, a complaint's words). Sanitise before display.
    pub text: Option<String>,
}

impl Interaction {
    /// A bare interaction; fill in the rest with struct update syntax or the setters.
    pub fn new(
        id: InteractionId,
        customer: CustomerId,
        at: Timestamp,
        channel: Channel,
        kind: InteractionKind,
    ) -> Interaction {
        Interaction {
            id,
            customer,
            at,
            channel,
            touchpoint: None,
            source: None,
            kind,
            division: None,
            employee: None,
            amounts: Vec::new(),
            attributes: BTreeMap::new(),
            phase: None,
            text: None,
        }
    }

    /// The first amount with the given role.
    pub fn amount(&self, role: AmountRole) -> Option<Money> {
        self.amounts
            .iter()
            .find(|a| a.role == role)
            .map(|a| a.money)
    }

    /// An attribute as an integer, when present and integral.
    pub fn attr_int(&self, name: &str) -> Option<i64> {
        match self.attributes.get(name)? {
            AttrValue::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// An attribute as text, when present and textual.
    pub fn attr_text(&self, name: &str) -> Option<&str> {
        match self.attributes.get(name)? {
            AttrValue::Text(v) => Some(v),
            _ => None,
        }
    }
}

/// An amount with the role it plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    /// What the money is.
    pub role: AmountRole,
    /// How much.
    pub money: Money,
}

/// The role of an amount in an interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmountRole {
    /// Money the customer paid us (ticket price, purchase).
    Revenue,
    /// Our cost to serve the customer.
    CostToServe,
    /// Compensation we gave (vouchers, refunds for disruptions).
    Compensation,
    /// Money returned to the customer.
    Refund,
    /// A payment received against an account.
    Payment,
    /// Anything else.
    Other,
}

/// A typed value of a granular attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttrValue {
    /// Text, e.g. a seat `14C` or a booking method `web`.
    Text(String),
    /// An integer, e.g. delay minutes or miles.
    Int(i64),
    /// A real number.
    Float(f64),
    /// A flag.
    Bool(bool),
    /// Money.
    Money(Money),
    /// An instant.
    Time(Timestamp),
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Text(s) => f.write_str(s),
            AttrValue::Int(v) => write!(f, "{v}"),
            AttrValue::Float(v) => write!(f, "{v}"),
            AttrValue::Bool(v) => write!(f, "{v}"),
            AttrValue::Money(m) => write!(f, "{m}"),
            AttrValue::Time(t) => write!(f, "{t}"),
        }
    }
}

/// Where in the customer activity cycle an interaction happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before the purchase (searching, comparing, asking).
    Pre,
    /// During (booking, paying, travelling).
    During,
    /// After (complaints, refunds, loyalty, feedback).
    Post,
}

macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A name not in the built-in list (lower-case, snake_case by convention).
            Other(String),
        }

        impl $name {
            /// Every built-in value, in declaration order.
            pub const BUILT_IN: &'static [$name] = &[ $( $name::$variant, )* ];

            /// The snake_case name used in mappings, filters and JSON.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )*
                    $name::Other(s) => s,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            /// Built-in names parse to their variant; any other non-empty name made of
            /// letters, digits, `_` and `-` becomes `Other`.
            fn from_str(s: &str) -> Result<Self, Error> {
                let t = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
                $( if t == $text { return Ok($name::$variant); } )*
                if !t.is_empty() && t.len() <= 40 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    Ok($name::Other(t))
                } else {
                    Err(parse_err($what, s))
                }
            }
        }
    };
}

named_enum! {
    /// What kind of thing happened. Extensible through `Other(name)`.
    pub enum InteractionKind ("interaction kind") {
        /// A booking or reservation made.
        Booking => "booking",
        /// A purchase of a product or service.
        Purchase => "purchase",
        /// A flight flown (one segment).
        FlightFlown => "flight_flown",
        /// A delay suffered (minutes in the `delay_minutes` attribute).
        Delay => "delay",
        /// A cancelled flight or service.
        Cancellation => "cancellation",
        /// Denied boarding (bumped from an overbooked flight).
        DeniedBoarding => "denied_boarding",
        /// A bag lost or delayed.
        BagLost => "bag_lost",
        /// A lost bag delivered to the customer.
        BagDelivered => "bag_delivered",
        /// A complaint.
        Complaint => "complaint",
        /// A question or request for information.
        Inquiry => "inquiry",
        /// Compensation granted (voucher, miles, money).
        CompensationGranted => "compensation_granted",
        /// A marketing contact (mail, e-mail, call) as part of a campaign.
        CampaignContact => "campaign_contact",
        /// A response to a campaign.
        CampaignResponse => "campaign_response",
        /// A return or refund.
        Refund => "refund",
        /// A payment.
        Payment => "payment",
        /// An answer to a survey question.
        SurveyAnswer => "survey_answer",
        /// A preference stated by the customer.
        PreferenceStated => "preference_stated",
        /// A note by an employee.
        Note => "note",
        /// An idea or observation from the front line for the analysts.
        Idea => "idea",
        /// A web or app session.
        WebSession => "web_session",
        /// Loyalty miles earned or redeemed.
        LoyaltyActivity => "loyalty_activity",
    }
}

named_enum! {
    /// The channel an interaction happened through. Extensible through `Other(name)`.
    pub enum Channel ("channel") {
        /// Web site.
        Web => "web",
        /// Mobile app.
        App => "app",
        /// Call center / phone.
        CallCenter => "call_center",
        /// E-mail.
        Email => "email",
        /// Letter or other mail.
        Mail => "mail",
        /// Airport counter or check-in.
        Airport => "airport",
        /// Boarding gate.
        Gate => "gate",
        /// On board a flight.
        Onboard => "onboard",
        /// A branch, desk or shop in person.
        Branch => "branch",
        /// A travel agent or other intermediary.
        Agent => "agent",
        /// Back office systems (finance, operations).
        BackOffice => "back_office",
        /// A partner company (hotel, car rental).
        Partner => "partner",
    }
}

impl InteractionKind {
    /// Whether this kind is a service disruption suffered by the customer.
    pub fn is_disruption(&self) -> bool {
        matches!(
            self,
            InteractionKind::Delay
                | InteractionKind::Cancellation
                | InteractionKind::DeniedBoarding
                | InteractionKind::BagLost
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_extend() {
        assert_eq!(
            "Bag-Lost".parse::<InteractionKind>().unwrap(),
            InteractionKind::BagLost
        );
        assert_eq!(
            "upgrade".parse::<InteractionKind>().unwrap(),
            InteractionKind::Other("upgrade".into())
        );
        assert!("\u{1b}[31m".parse::<InteractionKind>().is_err());
        for k in InteractionKind::BUILT_IN {
            assert_eq!(&k.as_str().parse::<InteractionKind>().unwrap(), k);
        }
        assert_eq!(
            "call center".parse::<Channel>().unwrap(),
            Channel::CallCenter
        );
    }
}
