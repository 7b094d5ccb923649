//! The permission matrix, exhaustively: every request type sent by every role to a real server
//! over a socket, allowed (with or without masking) or refused exactly as
//! `rapport_governance::MATRIX` (and `docs/security.md`) says.

mod common;

use rapport_core::{Channel, DisruptionKind, InteractionKind};
use rapport_governance::questionnaire::Answers;
use rapport_governance::{Action, Permission, Role, permission};
use rapport_service::{
    Assessments, CompensationRequest, Declaration, Embedded, InteractionQuery, NewInteraction,
    OperatorAdmin, Remote, Service, ServiceError, Watch,
};

use common::{PASSWORD, TestServer, engine};

/// What a request did: refused as forbidden, or allowed (and whether data came back masked).
#[derive(Debug, PartialEq)]
enum Outcome {
    Forbidden,
    Allowed { masked: Option<bool> },
}

fn outcome<T>(r: Result<T, ServiceError>, masked: impl FnOnce(&T) -> Option<bool>) -> Outcome {
    match r {
        Ok(v) => Outcome::Allowed { masked: masked(&v) },
        Err(ServiceError::Forbidden { .. }) => Outcome::Forbidden,
        Err(e) => panic!("unexpected error {e}"),
    }
}

async fn attempt(c: &Remote, me: &str, role: Role, action: Action, ctx: &Ctx) -> Outcome {
    let jane = ctx.customer;
    match action {
        Action::Search => outcome(c.search("jane", 5).await, none),
        Action::OpenRecord => outcome(c.open(jane, InteractionQuery::default()).await, |r| {
            Some(r.masked)
        }),
        Action::ReadInteractions => outcome(
            c.interactions(jane, InteractionQuery::default()).await,
            none,
        ),
        Action::LogInteraction => outcome(
            c.log_interaction(NewInteraction {
                customer: jane,
                kind: InteractionKind::Note,
                channel: Channel::CallCenter,
                touchpoint: None,
                phase: None,
                text: Some(format!("note by {role}")),
                attributes: Default::default(),
                amounts: vec![],
            })
            .await,
            none,
        ),
        Action::RecordPreference => outcome(
            c.record_preference(jane, "meal".into(), "vegetarian".into(), Channel::Web)
                .await,
            none,
        ),
        Action::ReadEntitlement => outcome(c.entitlement(ctx.request(role)).await, none),
        Action::GrantCompensation => outcome(c.grant_compensation(ctx.request(role)).await, none),
        Action::ReadOverview => outcome(c.overview().await, none),
        Action::ReadList => outcome(c.list("complainers", 5).await, none),
        Action::Subscribe => outcome(c.subscribe(Watch::All).await, none),
        Action::ListOperators => outcome(c.operators().await, none),
        Action::AddOperator => outcome(
            c.add_operator(&format!("new.{}", role.as_str()), Role::FrontLine, PASSWORD)
                .await,
            none,
        ),
        Action::ChangeOwnPassword => outcome(c.set_password(me, PASSWORD).await, none),
        Action::SetPassword => outcome(c.set_password("victim", PASSWORD).await, none),
        Action::DisableOperator => outcome(
            c.disable_operator(&format!("victim.{}", role.as_str()))
                .await,
            none,
        ),
        Action::Assess => outcome(c.assess(30).await, none),
        Action::AnswerQuestionnaire => {
            let csv = format!("respondent,constituency,item,answer\n{me},front-line,B1,3\n");
            let answers = Answers::parse("mine.csv", &csv).unwrap();
            outcome(c.submit_answers(answers).await, none)
        }
        Action::Backup => {
            let path = std::env::temp_dir().join(format!(
                "rapport-permissions-{}-{}.jsonl",
                std::process::id(),
                role.as_str()
            ));
            let got = outcome(c.backup(path.to_str().unwrap(), false).await, none);
            if got != Outcome::Forbidden {
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::remove_file(&path).unwrap();
                assert!(text.contains("\"trailer\""), "a whole backup");
                assert!(!text.contains("$argon2"), "no password hash in a backup");
            } else {
                assert!(!path.exists(), "a refused backup writes nothing");
            }
            got
        }
        // Names and tiers only: nothing to mask.
        Action::ReadDisruptions => outcome(
            c.flight(&format!("rp{} 23.11.2026", role_number(role)))
                .await,
            none,
        ),
        Action::DeclareDisruption => outcome(
            c.declare_disruption(Declaration {
                disruption: format!("RP{}/2026-11-24", 100 + role_number(role)),
                kind: DisruptionKind::Cancellation,
                delay_minutes: None,
                cause: Some("weather".into()),
                reason: "ops room phoned: cancelled".into(),
                customers: vec![jane],
            })
            .await,
            none,
        ),
    }
}

/// One cancelled flight per role, so each role's grant is its own.
fn role_number(role: Role) -> usize {
    Role::ALL.iter().position(|r| *r == role).unwrap_or(0) + 1
}

fn none<T>(_: &T) -> Option<bool> {
    None
}

struct Ctx {
    customer: rapport_core::CustomerId,
}

impl Ctx {
    fn request(&self, role: Role) -> CompensationRequest {
        CompensationRequest {
            customer: self.customer,
            disruption: format!("RP{}/2026-11-23", role_number(role)),
            kind: DisruptionKind::Cancellation,
            delay_minutes: None,
            touchpoint: "gate A1".into(),
            channel: None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_matrix_over_a_socket() {
    let (engine, ids) = engine().await;
    let local = Embedded::from_engine(engine.clone(), "test".into());
    local
        .add_operator("victim", Role::FrontLine, PASSWORD)
        .await
        .unwrap();
    for role in Role::ALL {
        local
            .add_operator(&format!("op.{}", role.as_str()), role, PASSWORD)
            .await
            .unwrap();
        local
            .add_operator(
                &format!("victim.{}", role.as_str()),
                Role::FrontLine,
                PASSWORD,
            )
            .await
            .unwrap();
    }
    for role in Role::ALL {
        common::disrupt(
            engine.store(),
            ids[0],
            &format!("RP{}/2026-11-23", role_number(role)),
            InteractionKind::Cancellation,
            None,
        );
    }
    let server = TestServer::start(engine).await;
    let ctx = Ctx { customer: ids[0] };
    let mut checked = 0;
    for role in Role::ALL {
        let me = format!("op.{}", role.as_str());
        let client = Remote::connect(&server.addr, &me, PASSWORD).await.unwrap();
        assert_eq!(client.session().role, role);
        for action in Action::ALL {
            let got = attempt(&client, &me, role, action, &ctx).await;
            let expected = permission(role, action);
            match (expected, &got) {
                (Permission::Deny, Outcome::Forbidden) => {}
                (Permission::Allow, Outcome::Allowed { masked }) => {
                    assert_ne!(*masked, Some(true), "{role} {action}: masked but allowed");
                }
                (Permission::Masked, Outcome::Allowed { masked }) => {
                    assert_ne!(*masked, Some(false), "{role} {action}: not masked");
                }
                _ => panic!("{role} {action}: expected {expected}, got {got:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, Role::ALL.len() * Action::ALL.len());
    server.stop().await;
}
