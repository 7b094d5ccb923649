//! Name normalisation for matching: folded to lower-case ASCII letters where possible, spaces
//! and punctuation removed (sources split and join words at random), nicknames mapped to a
//! canonical given name, and phonetic codes for blocking.

use std::sync::OnceLock;

use rphonetic::{DoubleMetaphone, Encoder};
use unicode_normalization::UnicodeNormalization;

/// Folds a name or address word for comparison: Unicode NFKD with combining marks dropped,
/// lower case, only letters and digits kept (spaces, hyphens and apostrophes removed).
pub fn fold(s: &str) -> String {
    s.nfkd()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Folds text into its words (for tokens of a full name or an address line).
pub fn fold_words(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || c == ',' || c == '-' || c == '/')
        .map(fold)
        .filter(|w| !w.is_empty())
        .collect()
}

/// The canonical form of a given name: the full name a nickname stands for, or the folded
/// name itself. `bob` and `rob` become `robert`; `robert` stays `robert`.
pub fn canonical_given(folded: &str) -> &str {
    nickname_table()
        .binary_search_by(|(nick, _)| (*nick).cmp(folded))
        .map(|i| nickname_table()[i].1)
        .unwrap_or(folded)
}

/// The primary double-metaphone code of a folded name (at most 4 characters), or the folded
/// name itself when it has no letters the algorithm knows (e.g. digits only).
pub fn phonetic(folded: &str) -> String {
    // Names repeat on every record of a customer and across customers: remember the codes
    // (double metaphone is a tenth of the ingest time otherwise).
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashMap<String, String>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    if let Some(hit) = SEEN.with(|m| m.borrow().get(folded).cloned()) {
        return hit;
    }
    static DM: OnceLock<DoubleMetaphone> = OnceLock::new();
    let code = DM.get_or_init(DoubleMetaphone::default).encode(folded);
    let code = if code.is_empty() {
        folded.to_owned()
    } else {
        code
    };
    SEEN.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= 500_000 {
            m.clear();
        }
        m.insert(folded.to_owned(), code.clone());
    });
    code
}

/// Common English nicknames and short forms, sorted by nickname for binary search.
///
/// Kept small on purpose: it covers the forms that appear in customer data (Bob, Liz, Bill,
/// Kate...). A nickname shared by two full names (e.g. `chris`) maps to the more common one;
/// the Jaro-Winkler comparison still credits the other.
fn nickname_table() -> &'static [(&'static str, &'static str)] {
    static TABLE: OnceLock<Vec<(&'static str, &'static str)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: Vec<(&str, &str)> = NICKNAMES.to_vec();
        t.sort_unstable();
        t.dedup_by(|a, b| a.0 == b.0);
        t
    })
}

const NICKNAMES: &[(&str, &str)] = &[
    ("abby", "abigail"),
    ("al", "albert"),
    ("alex", "alexander"),
    ("andy", "andrew"),
    ("annie", "anne"),
    ("ben", "benjamin"),
    ("beth", "elizabeth"),
    ("betty", "elizabeth"),
    ("bill", "william"),
    ("billy", "william"),
    ("bob", "robert"),
    ("bobby", "robert"),
    ("cathy", "catherine"),
    ("charlie", "charles"),
    ("chris", "christopher"),
    ("chuck", "charles"),
    ("dan", "daniel"),
    ("danny", "daniel"),
    ("dave", "david"),
    ("dick", "richard"),
    ("don", "donald"),
    ("ed", "edward"),
    ("eddie", "edward"),
    ("ellie", "eleanor"),
    ("fred", "frederick"),
    ("greg", "gregory"),
    ("hank", "henry"),
    ("harry", "henry"),
    ("jack", "john"),
    ("jake", "jacob"),
    ("jeff", "jeffrey"),
    ("jen", "jennifer"),
    ("jenny", "jennifer"),
    ("jim", "james"),
    ("jimmy", "james"),
    ("joe", "joseph"),
    ("johnny", "john"),
    ("jon", "jonathan"),
    ("josh", "joshua"),
    ("kate", "katherine"),
    ("kathy", "katherine"),
    ("katie", "katherine"),
    ("ken", "kenneth"),
    ("larry", "lawrence"),
    ("liz", "elizabeth"),
    ("lizzie", "elizabeth"),
    ("maggie", "margaret"),
    ("matt", "matthew"),
    ("meg", "margaret"),
    ("mike", "michael"),
    ("mick", "michael"),
    ("nate", "nathan"),
    ("nick", "nicholas"),
    ("pat", "patricia"),
    ("patty", "patricia"),
    ("peggy", "margaret"),
    ("pete", "peter"),
    ("rich", "richard"),
    ("rick", "richard"),
    ("rob", "robert"),
    ("ron", "ronald"),
    ("sam", "samuel"),
    ("sandy", "sandra"),
    ("steve", "stephen"),
    ("steven", "stephen"),
    ("sue", "susan"),
    ("susie", "susan"),
    ("ted", "edward"),
    ("tom", "thomas"),
    ("tommy", "thomas"),
    ("tony", "anthony"),
    ("vicky", "victoria"),
    ("will", "william"),
    ("zach", "zachary"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_spaces_and_case() {
        assert_eq!(fold("Zoë O'Brien"), "zoeobrien");
        assert_eq!(fold("jac ob"), "jacob");
        assert_eq!(
            fold_words("Max Henry-Crescent"),
            ["max", "henry", "crescent"]
        );
    }

    #[test]
    fn nicknames_map_to_the_full_name() {
        assert_eq!(canonical_given("bob"), "robert");
        assert_eq!(canonical_given("liz"), "elizabeth");
        assert_eq!(canonical_given("robert"), "robert");
        assert_eq!(canonical_given("zebedee"), "zebedee");
    }

    #[test]
    fn phonetic_codes_agree_on_sound_alike_names() {
        assert_eq!(phonetic("smith"), phonetic("smyth"));
        assert_ne!(phonetic("smith"), phonetic("jones"));
        assert_eq!(phonetic("1234"), "1234");
    }
}
