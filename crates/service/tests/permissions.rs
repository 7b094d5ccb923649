//! The permission matrix, exhaustively: every request type sent by every role to a real server
//! over a socket, allowed (with or without masking) or refused exactly as
//! `rapport_governance::MATRIX` (and `docs/security.md`) says.

mod common;

use rapport_core::{Channel, DisruptionKind, InteractionKind};
use rapport_governance::Answer;
use rapport_governance::questionnaire::Answers;
use rapport_governance::{Action, Permission, Role, permission};
use rapport_service::data::{IngestRequest, ScoreRequest};
use rapport_service::governance_ops::{ApprovalDecision, GoodwillRequest};
use rapport_service::learning::{CampaignSpec, ExperimentSpec};
use rapport_service::{
    Assessments, CompensationRequest, Declaration, Embedded, Governance, InteractionQuery,
    Learning, NewInteraction, Operations, OperatorAdmin, Relationships, Remote, Service,
    ServiceError, Watch,
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

/// [`outcome`] for a request whose target may not exist in this small world (a review item,
/// a merge, scoring results): authorised, then refused as not found or invalid, counts as
/// allowed, since authorisation comes first.
fn authorised<T>(r: Result<T, ServiceError>) -> Outcome {
    match r {
        Err(ServiceError::NotFound(_) | ServiceError::Invalid(_)) => {
            Outcome::Allowed { masked: None }
        }
        other => outcome(other, none),
    }
}

/// The family name of the customer a role's ingest brings.
fn family(role: Role) -> &'static str {
    [
        "Alvarez",
        "Brennan",
        "Castellano",
        "Dubois",
        "Eriksen",
        "Fontaine",
        "Galloway",
        "Hartmann",
    ][role_number(role) - 1]
}

/// A one-row source (a mapping and a CSV file) in `dir`, for the roles' ingests.
fn source(dir: &std::path::Path, role: Role) -> (String, String) {
    let mapping = dir.join(format!("shop-{}.toml", role.as_str()));
    std::fs::write(
        &mapping,
        include_str!("../../../fixtures/test/shop.toml").replace(
            "name = \"shop\"",
            &format!("name = \"shop{}\"", role_number(role)),
        ),
    )
    .unwrap();
    let csv = dir.join(format!("shop-{}.csv", role.as_str()));
    std::fs::write(
        &csv,
        format!(
            "customer,first,last,dob,email,order,at,amount\n\
             R{n},Role,{family},1970-01-0{n},role{n}@example.com,o{n},2026-01-05T10:00:00Z,10.00\n",
            n = role_number(role),
            family = family(role),
        ),
    )
    .unwrap();
    (
        mapping.to_str().unwrap().to_string(),
        csv.to_str().unwrap().to_string(),
    )
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
        Action::ReadList => {
            // The console's list and the command line's (header and names) agree.
            let short = outcome(c.list("complainers", 5).await, none);
            let sizes = outcome(c.working_lists().await, none);
            assert_eq!(short, sizes, "{role}: list and working_lists");
            let long = authorised(c.working_list("complainers", 5).await);
            assert_eq!(short, long, "{role}: list and working_list");
            short
        }
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
        Action::Ingest => {
            let (mapping, csv) = source(&ctx.files, role);
            let got = outcome(
                c.ingest(IngestRequest {
                    paths: vec![csv],
                    mapping: Some(mapping),
                    time_shift_days: 0,
                    merge_ties: false,
                    progress: false,
                })
                .await,
                none,
            );
            if got != Outcome::Forbidden {
                let found = c.search(&format!("role {}", family(role)), 5).await;
                assert_eq!(found.unwrap().len(), 1, "{role}: the ingested customer");
            }
            got
        }
        Action::ReadQuarantine => {
            let page = outcome(c.quarantine(None, None, None, 10).await, none);
            assert_eq!(page, authorised(c.quarantined("Q0000000000000000").await));
            page
        }
        Action::WorkQuarantine => {
            let removed = outcome(c.remove_quarantined(Vec::new()).await, none);
            let (mapping, _) = source(&ctx.files, role);
            assert_eq!(removed, authorised(c.retry_quarantine(&mapping).await));
            removed
        }
        Action::ReadReviews => outcome(c.reviews(None, 10).await, none),
        Action::DecideReview => {
            let accept = authorised(c.decide_review("nosuch:1", true).await);
            assert_eq!(accept, authorised(c.decide_review("nosuch:1", false).await));
            accept
        }
        Action::ExplainMerge => authorised(c.explain_merge(&jane.to_string()).await),
        Action::Unmerge => authorised(c.unmerge("M-none").await),
        // A customer that does not exist: an allowed role is told so, the others refused;
        // the erasure itself is tested in the repository and end to end.
        Action::EraseCustomer => authorised(
            c.erase_customer(rapport_core::CustomerId(999_999_999), "permission test")
                .await,
        ),
        Action::ReadQuality => outcome(c.quality().await, none),
        Action::ReadStats => outcome(c.stats().await, none),
        Action::ExportIdentities => {
            let path = ctx.files.join(format!("identities-{}.csv", role.as_str()));
            let written = c.export_identities(path.to_str().unwrap(), true).await;
            if let Ok(n) = &written {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    text.starts_with("source,source_key,customer_id\n"),
                    "{role}: {text}"
                );
                assert_eq!(
                    text.lines().count() as u64,
                    n + 1,
                    "{role}: a line a record"
                );
            } else {
                assert!(!path.exists(), "a refused export writes nothing");
            }
            outcome(written, none)
        }
        Action::LoadRates => {
            let path = ctx.files.join(format!("rates-{}.csv", role.as_str()));
            std::fs::write(&path, "Date,GBP\n2026-11-23,0.86\n").unwrap();
            outcome(
                c.load_rates(path.to_str().unwrap(), Some("test".into()), "EUR")
                    .await,
                none,
            )
        }
        Action::ReadRates => outcome(c.rates().await, none),
        Action::ExplainValue => outcome(c.explain_value(jane).await, none),
        Action::Score => authorised(
            c.score(ScoreRequest {
                incremental: false,
                as_of: None,
                value_definition: None,
                threads: 1,
            })
            .await,
        ),
        Action::ReadValueReport => {
            let tiers = authorised(c.tiers().await);
            assert_eq!(tiers, authorised(c.skew().await));
            tiers
        }
        // Relationship governance: the customer manager manages Jane's portfolio (`mine`), so
        // every cell of that column is the matrix's, not the scope's.
        Action::ReadPortfolios => {
            let list = outcome(c.portfolios().await, none);
            assert_eq!(list, outcome(c.portfolio("mine", 10).await, none));
            assert_eq!(list, outcome(c.portfolio_rules().await, none));
            assert_eq!(list, outcome(c.moves(jane).await, none));
            list
        }
        Action::AssignPortfolios => outcome(c.assign(false).await, none),
        Action::MoveCustomer => outcome(
            c.move_customer(jane, "mine", "checking the matrix", None)
                .await,
            none,
        ),
        Action::DefinePortfolios => outcome(
            c.load_relationship(Some(ctx.config.0.clone()), None, None)
                .await,
            none,
        ),
        Action::DefineOffers => outcome(
            c.load_relationship(None, Some(ctx.config.1.clone()), None)
                .await,
            none,
        ),
        Action::DefineOfferRules => outcome(
            c.load_relationship(None, None, Some(ctx.config.2.clone()))
                .await,
            none,
        ),
        Action::ExplainOffers => outcome(c.explain_offers(jane).await, none),
        Action::RecordOfferAnswer => outcome(
            c.answer_offer(
                jane,
                "lounge-pass",
                Answer::NotNow,
                Channel::CallCenter,
                None,
            )
            .await,
            none,
        ),
        Action::ReadOfferReport => outcome(c.offer_report(None).await, none),
        Action::ReadEquity => authorised(c.equity(None).await),
        Action::ReadHandoffs => outcome(c.handoffs().await, none),
        Action::ReadExperiments => authorised(c.experiment_status("NOPE").await),
        Action::DesignExperiment => outcome(
            c.create_experiment(ExperimentSpec {
                id: format!("EXP-{}", role_number(role)),
                hypothesis: "letters help".into(),
                population: "all".into(),
                arms: vec![("letter".into(), 2.0, None)],
                control_share: 0.5,
                outcome: "rebooked".into(),
                window_days: 30,
                stratify_by_tier: false,
                seed: 1,
                value_per_unit: None,
                minimum_effect: None,
            })
            .await,
            none,
        ),
        Action::ReadCampaigns => outcome(c.campaigns().await, none),
        // Nobody is scored in this world: authorised, then refused as invalid.
        Action::RunCampaign => authorised(
            c.create_campaign(CampaignSpec {
                id: format!("CMP-{}", role_number(role)),
                offer: String::new(),
                rule: String::new(),
                score: "clv".into(),
                min_score: None,
                cap_per_owner: Some(20),
                cap_total: None,
                holdout: false,
                seed: 1,
                cost_per_contact: 1.0,
            })
            .await,
        ),
        Action::ShareIdea => outcome(c.my_ideas().await, none),
        Action::WorkIdeas => outcome(c.ideas(false).await, none),
        Action::ReadAudit => outcome(c.verify_audit().await, none),
        Action::ReadPolicy => outcome(c.policy_history().await, none),
        Action::GrantGoodwill => {
            let r = GoodwillRequest {
                customer: jane,
                disruption: ctx.request(role).disruption,
                amount: rapport_core::Money::new(2_000, rapport_core::Currency::EUR),
                instrument: "voucher".into(),
                reason: "sorry for the wait".into(),
                touchpoint: "call center".into(),
                send_for_approval: false,
            };
            outcome(c.goodwill(r).await, none)
        }
        Action::ReadApprovals => outcome(c.approvals(true).await, none),
        Action::ReadPolicyReport => outcome(c.policy_report(None).await, none),
        Action::DecideApproval => authorised(
            c.decide_approval("A0000000001", ApprovalDecision::Approve, "fine")
                .await,
        ),
        Action::SetPolicy => {
            let standard = rapport_governance::PolicyFile {
                policy: rapport_governance::CompensationPolicy::standard(),
                limits: rapport_governance::ApprovalLimits::standard(),
            };
            outcome(c.set_policy("policy.toml", &standard.to_toml()).await, none)
        }
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
    /// Where the roles' source and rates files are written.
    files: std::path::PathBuf,
    /// The relationship-governance files (portfolios, offers, rules) loaded at the start.
    config: (String, String, String),
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
    let files = tempfile::tempdir().unwrap();
    let config = common::relationship_files(files.path(), "op.customer-manager", None);
    local
        .load_relationship(
            Some(config.0.clone()),
            Some(config.1.clone()),
            Some(config.2.clone()),
        )
        .await
        .unwrap();
    local.assign(false).await.unwrap();
    let ctx = Ctx {
        customer: ids[0],
        files: files.path().to_path_buf(),
        config,
    };
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
