//! Identity resolution: which customer a fragment belongs to. (Being built: see issue 4.)
//!
//! Contract with ingest (do not change the shape without updating both sides):
//!
//! ```text
//! pub struct Resolver { .. }                       // Clone + Send + Sync
//! impl Resolver {
//!     pub fn new(config: MatchConfig) -> Resolver;
//!     /// Index keys under which the fragment must be findable: deterministic identifiers
//!     /// (e-mail, phone, loyalty number, source reference, cross references) and blocking
//!     /// keys (phonetic name codes, birth date, postcode...).
//!     pub fn keys(&self, f: &Fragment) -> Vec<rapport_store::IndexKey>;
//!     /// Where the fragment belongs, given candidate customers and their fragments.
//!     pub fn decide(&self, f: &Fragment, candidates: &[(CustomerId, Vec<Fragment>)]) -> Decision;
//! }
//! pub enum Decision {
//!     Attach { customer: CustomerId, evidence: Evidence },     // merge into this customer
//!     Review { customers: Vec<CustomerId>, evidence: Evidence }, // new customer + review item
//!     New,                                                       // keep apart
//! }
//! ```
