//! Front-line ideas and observations on their way to the analysts and back: an operator adds
//! one (on a customer's record or in general); analysts see every open idea in a queue, tag
//! it, link it to a model change, an experiment or a campaign, and close it with what became
//! of it; the author sees the outcome of their own ideas.
//!
//! Pure: an [`Idea`] is a value whose transitions check who may make them and return errors;
//! the caller stores it and passes the time.
//!
//! ```
//! use rapport_core::Timestamp;
//! use rapport_governance::idea::{Idea, Link, LinkKind};
//! let t = Timestamp::parse_rfc3339("2026-11-23T09:00:00Z").unwrap();
//! let mut idea = Idea::new(1, "gate.anna", None, "families ask for seats together", t).unwrap();
//! idea.tag("seating").unwrap();
//! idea.link(Link { kind: LinkKind::Experiment, target: "SEATS-2027".into() }).unwrap();
//! idea.close("ana.lyst", "tested in SEATS-2027: kept", t).unwrap();
//! assert!(idea.is_closed());
//! ```

use rapport_core::{CustomerId, Timestamp};
use serde::{Deserialize, Serialize};

/// The longest idea text kept.
pub const MAX_TEXT: usize = 2_000;

/// What an idea is linked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LinkKind {
    /// A change to a model or the value definition.
    ModelChange,
    /// An experiment (by id).
    Experiment,
    /// A campaign (by id).
    Campaign,
}

impl LinkKind {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::ModelChange => "model-change",
            LinkKind::Experiment => "experiment",
            LinkKind::Campaign => "campaign",
        }
    }
}

impl std::str::FromStr for LinkKind {
    type Err = IdeaError;
    fn from_str(s: &str) -> Result<Self, IdeaError> {
        match s.trim() {
            "model-change" | "model" => Ok(LinkKind::ModelChange),
            "experiment" => Ok(LinkKind::Experiment),
            "campaign" => Ok(LinkKind::Campaign),
            other => Err(IdeaError::UnknownLinkKind(other.to_owned())),
        }
    }
}

/// A link from an idea to what it led to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Link {
    /// What kind of thing.
    pub kind: LinkKind,
    /// Its id (an experiment or campaign id, a model name or change note).
    pub target: String,
}

/// Where an idea stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdeaState {
    /// Waiting in the analysts' queue (tagged or linked ones too).
    Open,
    /// Closed with what became of it.
    Closed {
        /// What became of it, for the author.
        outcome: String,
        /// Who closed it.
        by: String,
        /// When.
        at: Timestamp,
    },
}

/// One idea or observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Idea {
    /// Its number.
    pub id: u64,
    /// The operator who had it.
    pub author: String,
    /// The record it was added on, if any.
    pub customer: Option<CustomerId>,
    /// What it says.
    pub text: String,
    /// When it was added.
    pub created: Timestamp,
    /// The analysts' tags, in the order added.
    pub tags: Vec<String>,
    /// What it led to.
    pub links: Vec<Link>,
    /// Open or closed.
    pub state: IdeaState,
}

/// Why a change to an idea is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdeaError {
    /// Empty text.
    #[error("an idea needs some text")]
    Empty,
    /// Text over the limit.
    #[error("the idea has {0} characters: at most {MAX_TEXT}")]
    TooLong(usize),
    /// A tag that is not 1-32 lowercase letters, digits or '-'.
    #[error("tag {0:?}: use 1 to 32 lowercase letters, digits or '-'")]
    BadTag(String),
    /// A link without a target.
    #[error("a link needs the id of what the idea led to")]
    EmptyLink,
    /// An unknown link kind.
    #[error("unknown link kind {0:?}: expected model-change, experiment or campaign")]
    UnknownLinkKind(String),
    /// A closed idea cannot change.
    #[error("idea {0} is closed")]
    Closed(u64),
    /// Closing without saying what became of it.
    #[error("say what became of the idea when closing it")]
    NoOutcome,
}

impl Idea {
    /// A new open idea.
    pub fn new(
        id: u64,
        author: &str,
        customer: Option<CustomerId>,
        text: &str,
        at: Timestamp,
    ) -> Result<Idea, IdeaError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(IdeaError::Empty);
        }
        let n = text.chars().count();
        if n > MAX_TEXT {
            return Err(IdeaError::TooLong(n));
        }
        Ok(Idea {
            id,
            author: author.to_owned(),
            customer,
            text: text.to_owned(),
            created: at,
            tags: Vec::new(),
            links: Vec::new(),
            state: IdeaState::Open,
        })
    }

    /// Whether it is closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, IdeaState::Closed { .. })
    }

    fn open(&self) -> Result<(), IdeaError> {
        if self.is_closed() {
            Err(IdeaError::Closed(self.id))
        } else {
            Ok(())
        }
    }

    /// Adds a tag (once).
    pub fn tag(&mut self, tag: &str) -> Result<(), IdeaError> {
        self.open()?;
        let t = tag.trim();
        if t.is_empty()
            || t.len() > 32
            || !t
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(IdeaError::BadTag(tag.to_owned()));
        }
        if !self.tags.iter().any(|x| x == t) {
            self.tags.push(t.to_owned());
        }
        Ok(())
    }

    /// Links it to what it led to (once).
    pub fn link(&mut self, link: Link) -> Result<(), IdeaError> {
        self.open()?;
        if link.target.trim().is_empty() {
            return Err(IdeaError::EmptyLink);
        }
        let link = Link {
            kind: link.kind,
            target: link.target.trim().to_owned(),
        };
        if !self.links.contains(&link) {
            self.links.push(link);
        }
        Ok(())
    }

    /// Closes it with what became of it.
    pub fn close(&mut self, by: &str, outcome: &str, at: Timestamp) -> Result<(), IdeaError> {
        self.open()?;
        if outcome.trim().is_empty() {
            return Err(IdeaError::NoOutcome);
        }
        self.state = IdeaState::Closed {
            outcome: outcome.trim().to_owned(),
            by: by.to_owned(),
            at,
        };
        Ok(())
    }
}

/// The analysts' queue: open ideas, oldest first.
pub fn queue(ideas: &[Idea]) -> Vec<&Idea> {
    let mut q: Vec<&Idea> = ideas.iter().filter(|i| !i.is_closed()).collect();
    q.sort_by_key(|i| (i.created, i.id));
    q
}

/// An author's own ideas, newest first, closed ones with their outcome.
pub fn by_author<'a>(ideas: &'a [Idea], author: &str) -> Vec<&'a Idea> {
    let mut q: Vec<&Idea> = ideas.iter().filter(|i| i.author == author).collect();
    q.sort_by_key(|i| std::cmp::Reverse((i.created, i.id)));
    q
}

/// Ideas logged and ideas linked to a change: the assessment's evidence.
pub fn linked_share(ideas: &[Idea]) -> (u32, u32) {
    (
        ideas.len() as u32,
        ideas.iter().filter(|i| !i.links.is_empty()).count() as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn an_idea_goes_through_the_queue_and_back_to_its_author() {
        let mut a = Idea::new(
            1,
            "gate.anna",
            Some(CustomerId(42)),
            " delayed families rebook if we call them ",
            t("2026-11-20T10:00:00Z"),
        )
        .unwrap();
        assert_eq!(a.text, "delayed families rebook if we call them");
        let b = Idea::new(
            2,
            "rep.bo",
            None,
            "lounge passes go unused",
            t("2026-11-21T10:00:00Z"),
        )
        .unwrap();
        let ideas = vec![b.clone(), a.clone()];
        let q: Vec<u64> = queue(&ideas).iter().map(|i| i.id).collect();
        assert_eq!(q, vec![1, 2], "oldest first");
        a.tag("disruption").unwrap();
        a.tag("disruption").unwrap();
        assert_eq!(a.tags, vec!["disruption"]);
        assert_eq!(
            a.tag("Bad Tag").unwrap_err(),
            IdeaError::BadTag("Bad Tag".into())
        );
        a.link(Link {
            kind: "experiment".parse().unwrap(),
            target: "APOLOGY-2025".into(),
        })
        .unwrap();
        assert!(a.close("ana", " ", t("2026-11-22T10:00:00Z")).is_err());
        a.close(
            "ana",
            "tested in APOLOGY-2025: the letter alone works",
            t("2026-11-22T10:00:00Z"),
        )
        .unwrap();
        assert_eq!(a.tag("late"), Err(IdeaError::Closed(1)));
        let ideas = vec![a.clone(), b];
        assert_eq!(queue(&ideas).len(), 1);
        let mine = by_author(&ideas, "gate.anna");
        assert!(
            matches!(&mine[0].state, IdeaState::Closed { outcome, .. } if outcome.contains("letter alone"))
        );
        assert_eq!(linked_share(&ideas), (2, 1));
        assert_eq!(
            Idea::new(3, "x", None, "  ", t("2026-11-22T10:00:00Z")),
            Err(IdeaError::Empty)
        );
        assert!("prophecy".parse::<LinkKind>().is_err());
    }
}
