//! Which console actions the session's role is offered, from the governance permission matrix.
//!
//! Hiding an action is a courtesy to the operator, not security: the service checks the same
//! matrix on the side that owns the store and refuses anyway.

use rapport_governance::{Action as Request, Role, permission};

use crate::action::Action;

/// The service request an action needs, if it needs one a role may lack.
fn request(action: Action) -> Option<Request> {
    Some(match action {
        Action::LogInteraction | Action::Note | Action::Idea | Action::Resolve => {
            Request::LogInteraction
        }
        Action::Grant | Action::GrantFlight => Request::GrantCompensation,
        Action::Flight => Request::ReadDisruptions,
        Action::Preference => Request::RecordPreference,
        Action::Lists => Request::ReadList,
        Action::Overview => Request::ReadOverview,
        Action::Assess => Request::Assess,
        Action::Answer => Request::AnswerQuestionnaire,
        Action::Learning => Request::ShareIdea,
        Action::Search => Request::Search,
        Action::Offer => Request::RecordOfferAnswer,
        Action::Equity => Request::ReadEquity,
        Action::Goodwill => Request::GrantGoodwill,
        Action::Approve | Action::ChangeAmount | Action::RefuseApproval => Request::DecideApproval,
        // The approval queue is not hidden: a role without the right opens it and reads the
        // service's refusal there.
        _ => return None,
    })
}

/// Whether `role` is offered `action`.
pub fn offered(role: Role, action: Action) -> bool {
    request(action).is_none_or(|r| permission(role, r).allowed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_see_only_what_they_may_do() {
        assert!(offered(Role::FrontLine, Action::Grant));
        assert!(!offered(Role::Analyst, Action::Grant));
        assert!(!offered(Role::Executive, Action::LogInteraction));
        assert!(offered(Role::Admin, Action::Lists));
        assert!(offered(Role::Analyst, Action::Up));
        assert!(offered(Role::FrontLine, Action::Goodwill));
        assert!(!offered(Role::FrontLine, Action::Approve));
        assert!(offered(Role::CustomerManager, Action::RefuseApproval));
        assert!(!offered(Role::Analyst, Action::Goodwill));
    }
}
