//! Popups layered over the screens; keys go to the top popup first.

pub mod decide;
pub mod detail;
pub mod filter;
pub mod form;
pub mod goodwill;
pub mod grant;
pub mod help;
pub mod log;
pub mod message;
pub mod note;
pub mod offer;
pub mod palette;
pub mod preference;
pub mod questionnaire;
pub mod resolve;

/// A popup on the stack (a handful at most, so variant sizes do not matter).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    /// Every key.
    Help(help::Help),
    /// Run an action by name.
    Palette(palette::Palette),
    /// Log an interaction.
    Log(log::LogPopup),
    /// Grant compensation.
    Grant(grant::GrantPopup),
    /// Record a preference.
    Preference(preference::PreferencePopup),
    /// Answer the stage questionnaire.
    Questionnaire(questionnaire::QuestionnairePopup),
    /// A note or an idea.
    Note(note::NotePopup),
    /// Resolve a complaint case.
    Resolve(resolve::ResolvePopup),
    /// A message (error, refusal).
    Message(message::Message),
    /// A history row in full.
    Detail(detail::DetailPopup),
    /// The history's text filter.
    Filter(filter::FilterPopup),
    Offer(offer::OfferPopup),
    /// Goodwill on top of the policy (or sent for approval).
    Goodwill(goodwill::GoodwillPopup),
    /// Approve, change or refuse a request of the approval queue.
    Decide(decide::DecidePopup),
}
