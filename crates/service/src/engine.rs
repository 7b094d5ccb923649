//! The side that owns the store: every operation, authorised by role, as blocking calls.
//!
//! [`crate::Embedded`] calls the engine in-process (as local admin) and `rapport serve`
//! calls it for each authenticated connection, so both behave the same. Every method blocks
//! (sled, argon2): async callers run it with `spawn_blocking`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use rapport_core::{
    Amount, AmountRole, AttrValue, Channel, Clock, CompensationGrant, Customer, CustomerId,
    CustomerRecord, CustomerSummary, Interaction, InteractionId, InteractionKind, Preference,
    Timestamp,
};
use rapport_governance::{
    Action, ApprovalLimits, CompensationPolicy, LoginLimiter, OperatorAccount, OperatorInfo,
    Permission, PolicyError, Role, Session, SessionToken, masking, permission,
};
use rapport_repository::Repository;
use rapport_store::{Batch, Durability, Store};
use tokio::sync::{mpsc, watch};

use crate::api::{CareItem, Declaration, DisruptionEntry, FlightGrant, FlightView, Passenger};
use crate::api::{
    CompensationRequest, Entitlement, GrantOutcome, InteractionQuery, ListEntry, LiveEvent,
    NewInteraction, Overview, ServiceError, ServiceResult, Watch,
};
use crate::governance_ops::PolicyVersion;
use crate::live::LiveHub;
use crate::protocol::{Reply, Request};
use crate::records;
use rapport_core::case;
use rapport_core::{Affected, Disruption, DisruptionId, DisruptionKind, DisruptionOrigin};
use rapport_repository::disruption;

/// Collection of operator accounts (key: operator name).
pub const OPERATORS: &str = "operators";
/// Collection of governance settings (keys `compensation_policy`, `approval_limits`).
pub const GOVERNANCE: &str = "governance";

/// Default session lifetime: 8 hours.
pub const SESSION_TTL_MS: i64 = 8 * 3_600_000;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Operator name.
    pub operator: String,
    /// Role.
    pub role: Role,
}

/// The store-owning core shared by the embedded service and the server.
pub struct Engine {
    store: Store,
    repo: Repository,
    /// The policy version in force (compensation table and goodwill limits), replaced whole
    /// by `policy set`.
    in_force: RwLock<Arc<PolicyVersion>>,
    hub: LiveHub,
    sessions: Mutex<HashMap<SessionToken, Session>>,
    limiter: Mutex<LoginLimiter>,
    /// Serialises read-modify-write of customer documents and operator accounts (this process
    /// is the only writer of the database).
    write_lock: Mutex<()>,
    /// Serialises the long jobs that rewrite many customers (ingest, merges, quarantine
    /// retries, rates loads, scoring runs): one at a time.
    jobs: Mutex<()>,
    /// Whether a scoring run is under way; interactive writes hold it shared across their
    /// write and note their customers in `touched` while it is true (see [`Engine::noting`]).
    scoring: RwLock<bool>,
    /// Customers whose interactions were written during the current scoring run.
    touched: Mutex<Vec<CustomerId>>,
    /// The audit chain's head, held while an entry is chained and its batch applied
    /// (`governance_ops`).
    audit: Mutex<rapport_governance::audit::AuditHead>,
    session_ttl_ms: i64,
    /// Where "now" comes from: the system clock in the product, a fixed or manual one in tests.
    clock: Clock,
    /// The reporting currency the scores are in (the stored rates', else EUR, as the scoring
    /// run converts), read at start: records carry it so every value shows its currency.
    pub(crate) reporting: rapport_core::Currency,
    /// The parsed relationship-governance files, while the stored ones are unchanged.
    relationship: crate::relationship::ConfigCache,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("policy_version", &self.policy().version)
            .finish_non_exhaustive()
    }
}

pub(crate) fn store_err(e: rapport_store::Error) -> ServiceError {
    match e {
        rapport_store::Error::Locked { .. } => ServiceError::Unavailable(e.to_string()),
        other => ServiceError::Internal(other.to_string()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Longest free text accepted in a logged interaction or a preference.
const MAX_TEXT: usize = 4_000;

pub(crate) fn repo_err(e: rapport_repository::Error) -> ServiceError {
    match e {
        rapport_repository::Error::Store(s) => store_err(s),
        other => ServiceError::Internal(other.to_string()),
    }
}

/// A disruption reference in any shape, as its canonical id; a clear refusal otherwise.
fn canonical(reference: &str) -> ServiceResult<DisruptionId> {
    reference.parse::<DisruptionId>().map_err(|e| {
        ServiceError::Invalid(rapport_core::text::sanitize(&e.to_string()).into_owned())
    })
}

fn check_text(field: &str, s: &str, max: usize) -> ServiceResult<()> {
    if s.chars().count() > max {
        return Err(ServiceError::Invalid(format!(
            "{field} is longer than {max} characters"
        )));
    }
    Ok(())
}

impl Engine {
    /// Opens the database at `path` and starts the live-update fan-out.
    pub fn open(path: &Path) -> ServiceResult<Engine> {
        Ok(Engine::new(Store::open(path).map_err(store_err)?))
    }

    /// An engine over an open store. The compensation policy and approval limits are read
    /// from the `governance` collection when stored there, else the standard ones apply.
    pub fn new(store: Store) -> Engine {
        // The first phone-shaped search would otherwise load the phone metadata (~100 ms).
        let _ = std::thread::Builder::new()
            .name("rapport-warm-up".into())
            .spawn(rapport_repository::cleanse::warm_up);
        Engine::for_command(store)
    }

    /// [`Engine::new`] for one command that exits next (`rapport score`, `rapport ingest`):
    /// no warm-up thread competing with its work (a search loads what it needs itself).
    pub fn for_command(store: Store) -> Engine {
        if let Err(e) = crate::governance_ops::index_approvals(&store) {
            tracing::error!(error = %e, "approval requests could not be indexed; the queue and records may miss older requests");
        }
        let in_force = RwLock::new(Arc::new(policy_at_start(&store)));
        let hub = LiveHub::start(&store);
        let audit = Mutex::new(crate::governance_ops::stored_head(&store));
        let reporting = match rapport_repository::rates::stored(&store) {
            Ok(r) => r.map_or(rapport_core::Currency::EUR, |r| r.reporting),
            Err(e) => {
                tracing::error!(error = %e, "stored exchange rates unreadable; values shown in EUR");
                rapport_core::Currency::EUR
            }
        };
        Engine {
            reporting,
            repo: Repository::new(store.clone()),
            store,
            in_force,
            hub,
            sessions: Mutex::default(),
            limiter: Mutex::new(LoginLimiter::standard()),
            write_lock: Mutex::new(()),
            jobs: Mutex::new(()),
            scoring: RwLock::new(false),
            touched: Mutex::default(),
            audit,
            session_ttl_ms: SESSION_TTL_MS,
            clock: Clock::System,
            relationship: Default::default(),
        }
    }

    /// Sets the session lifetime (tests use short ones).
    pub fn with_session_ttl_ms(mut self, ttl: i64) -> Engine {
        self.session_ttl_ms = ttl;
        self
    }

    /// Sets the clock every "now" of the engine is read from (tests run at a fixed time).
    pub fn with_clock(mut self, clock: Clock) -> Engine {
        self.clock = clock;
        self
    }

    /// Now, by the engine's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Sets the failed-login limiter.
    pub fn with_login_limiter(self, limiter: LoginLimiter) -> Engine {
        *lock(&self.limiter) = limiter;
        self
    }

    /// Reads what type-ahead search needs (the store's vocabulary) on a thread of its own,
    /// so the first keystroke of a server's or console's first search does not wait for it.
    /// Commands that never search (scoring, exports) do not call it and do not pay for it.
    pub fn warm_search(&self) {
        let store = self.store.clone();
        let spawned = std::thread::Builder::new()
            .name("warm-search".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                match store.warm_vocabulary() {
                    Ok(()) => tracing::debug!(
                        ms = started.elapsed().as_millis() as u64,
                        "search vocabulary read"
                    ),
                    Err(e) => tracing::warn!(error = %e, "reading the search vocabulary"),
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "starting the search vocabulary's reader");
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The repository over the store.
    pub(crate) fn repo(&self) -> &Repository {
        &self.repo
    }

    /// The parsed relationship-governance files' cache.
    pub(crate) fn relationship_cache(&self) -> &crate::relationship::ConfigCache {
        &self.relationship
    }

    /// Holds the long-job lock (one ingest, merge or scoring run at a time).
    pub(crate) fn job(&self) -> MutexGuard<'_, ()> {
        lock(&self.jobs)
    }

    /// Holds the audit chain's head (see `governance_ops`).
    pub(crate) fn audit_head(&self) -> MutexGuard<'_, rapport_governance::audit::AuditHead> {
        lock(&self.audit)
    }

    /// Holds the customer-document write lock (an ingest or a merge rewrites customers).
    pub(crate) fn write_guard(&self) -> MutexGuard<'_, ()> {
        lock(&self.write_lock)
    }

    /// Runs a scoring run: while it runs, the customers whose interactions other requests
    /// write are noted, and their history digests removed after it (the run may have stored
    /// digests made before those writes).
    pub(crate) fn scoring_run<R>(
        &self,
        run: impl FnOnce() -> ServiceResult<R>,
    ) -> ServiceResult<R> {
        *self.scoring.write().unwrap_or_else(PoisonError::into_inner) = true;
        let result = run();
        let touched = {
            let mut active = self.scoring.write().unwrap_or_else(PoisonError::into_inner);
            *active = false;
            std::mem::take(&mut *lock(&self.touched))
        };
        if !touched.is_empty() {
            let mut touched = touched;
            touched.sort();
            touched.dedup();
            tracing::info!(
                customers = touched.len(),
                "interactions written during the scoring run: their digests are rebuilt next run"
            );
            rapport_scoring::forget_digests(&self.store, &touched)
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
        }
        result
    }

    /// The customers noted during the current scoring run (for tests).
    #[cfg(test)]
    pub(crate) fn touched_now(&self) -> Vec<CustomerId> {
        lock(&self.touched).clone()
    }

    /// Runs an interactive write of `customers`' interactions; during a scoring run it notes
    /// them (after the write, holding the run's flag shared so the run cannot end between
    /// the write and the note).
    pub(crate) fn noting<R>(
        &self,
        customers: &[CustomerId],
        write: impl FnOnce() -> ServiceResult<R>,
    ) -> ServiceResult<R> {
        let active = self.scoring.read().unwrap_or_else(PoisonError::into_inner);
        let r = write();
        if *active {
            lock(&self.touched).extend_from_slice(customers);
        }
        r
    }

    /// The policy version in force: the compensation table and the goodwill limits.
    pub fn policy(&self) -> Arc<PolicyVersion> {
        self.in_force
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The policy version in force, as a value.
    pub(crate) fn policy_in_force(&self) -> PolicyVersion {
        (*self.policy()).clone()
    }

    /// Puts a policy version in force (after it is stored).
    pub(crate) fn put_in_force(&self, v: &PolicyVersion) {
        *self
            .in_force
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(v.clone());
    }

    /// Flushes the store.
    pub fn flush(&self) -> ServiceResult<()> {
        self.store.flush().map_err(store_err)
    }

    /// Checks a login; on success returns a new session. Failures are rate limited per
    /// operator name and per peer, and logged.
    pub fn login(&self, user: &str, password: &str, peer: &str) -> ServiceResult<Session> {
        let now = self.clock.now();
        // Per operator name from one address (not per connection: the port changes with
        // every connection), so a stranger elsewhere cannot lock the admin out; and per
        // remote address, whatever the names it tries. Local clients (loopback, Unix socket)
        // all look alike, so for them only the name from that kind of address counts.
        let host = peer.rsplit_once(':').map_or(peer, |(h, _)| h);
        let local = peer == "unix"
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let mut keys = vec![format!("user:{user}@{host}")];
        if !local {
            keys.push(format!("peer:{host}"));
        }
        {
            let mut l = lock(&self.limiter);
            if let Some((key, retry)) = keys
                .iter()
                .find_map(|k| l.check(k, now).err().map(|r| (k.clone(), r)))
            {
                // One line per burst: the first refusal of a lock and every thousandth.
                let refused = l.refused(&key);
                if refused == 1 || refused.is_multiple_of(1000) {
                    tracing::warn!(operator = %rapport_core::text::sanitize(user), peer, refused, "login refused: too many failed attempts (further refusals are counted, not logged)");
                }
                return Err(ServiceError::Unauthenticated(format!(
                    "too many failed logins; try again in {} s",
                    (retry + 999) / 1000
                )));
            }
        }
        let account = self
            .store
            .doc::<OperatorAccount>(OPERATORS, user)
            .map_err(store_err)?;
        let ok = match &account {
            Some(a) => a.verify(password),
            None => {
                // Spend the same time as a real check so that names cannot be probed by timing.
                let _ = rapport_governance::hash_password("timing-equaliser");
                false
            }
        };
        let account = match (ok, account) {
            (true, Some(a)) => a,
            _ => {
                let mut l = lock(&self.limiter);
                let locked = keys.iter().fold(false, |acc, k| l.failure(k, now) | acc);
                // One line at the first failure of a burst and one when it locks.
                if locked || l.failures(&keys[0]) == 1 {
                    tracing::warn!(operator = %rapport_core::text::sanitize(user), peer, failures = l.failures(&keys[0]), locked, "failed login");
                }
                return Err(ServiceError::Unauthenticated(
                    "wrong operator name or password, or the operator is disabled".into(),
                ));
            }
        };
        {
            let mut l = lock(&self.limiter);
            keys.iter().for_each(|k| l.success(k));
        }
        let session = Session::new(
            SessionToken::from_random(rand::random()),
            &account.name,
            account.role,
            now,
            self.session_ttl_ms,
        );
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, s| !s.expired(now));
        sessions.insert(session.token.clone(), session.clone());
        tracing::info!(operator = %account.name, role = %account.role, peer, "login");
        Ok(session)
    }

    /// The caller behind a session token: refused when unknown, expired, or the operator was
    /// disabled or removed since. The role is the operator's current role.
    pub fn caller(&self, token: &SessionToken) -> ServiceResult<Caller> {
        let now = self.clock.now();
        let session = {
            let sessions = lock(&self.sessions);
            sessions.get(token).cloned()
        };
        let Some(session) = session else {
            return Err(ServiceError::Unauthenticated(
                "unknown session: log in again".into(),
            ));
        };
        if session.expired(now) {
            lock(&self.sessions).remove(token);
            return Err(ServiceError::Unauthenticated(
                "session expired: log in again".into(),
            ));
        }
        match self
            .store
            .doc::<OperatorAccount>(OPERATORS, &session.operator)
            .map_err(store_err)?
        {
            Some(a) if !a.disabled => Ok(Caller {
                operator: a.name,
                role: a.role,
            }),
            _ => {
                lock(&self.sessions).remove(token);
                Err(ServiceError::Unauthenticated(
                    "the operator was disabled".into(),
                ))
            }
        }
    }

    /// The session behind a token, for resuming after a reconnect.
    pub fn resume(&self, token: &SessionToken) -> ServiceResult<Session> {
        self.caller(token)?;
        lock(&self.sessions)
            .get(token)
            .cloned()
            .ok_or_else(|| ServiceError::Unauthenticated("unknown session".into()))
    }

    /// Checks the permission matrix; `Ok(masked)` when allowed.
    pub fn authorize(&self, caller: &Caller, action: Action) -> ServiceResult<bool> {
        match permission(caller.role, action) {
            Permission::Allow => Ok(false),
            Permission::Masked => Ok(true),
            Permission::Deny => {
                tracing::info!(operator = %caller.operator, role = %caller.role, %action, "refused");
                Err(ServiceError::Forbidden {
                    role: caller.role,
                    action: action.to_string(),
                })
            }
        }
    }

    /// A live-event queue for what `watch` says (the caller checked [`Action::Subscribe`]).
    pub fn live(&self, watch: watch::Receiver<Watch>) -> mpsc::Receiver<LiveEvent> {
        self.hub.register(watch)
    }

    /// Live subscriptions registered.
    pub fn live_subscriptions(&self) -> usize {
        self.hub.len()
    }

    /// Handles one request for `caller` in this process (subscriptions are the transport's
    /// business); the audit trail names its origin `embedded`.
    pub fn handle(&self, caller: &Caller, req: Request) -> ServiceResult<Reply> {
        self.handle_from(caller, crate::governance_ops::EMBEDDED, req)
    }

    /// Handles one request for `caller` made from `origin` (a peer's address, a command), as
    /// the audit trail records it: record opens and writes are audited.
    pub fn handle_from(&self, caller: &Caller, origin: &str, req: Request) -> ServiceResult<Reply> {
        let action = req.action(&caller.operator);
        let masked = self.authorize(caller, action)?;
        crate::limits::check(&req)?;
        // A customer manager reaches only the customers of their portfolios (see
        // `relationship.rs`): the customers a request names are checked, lists are cut.
        let mut scope = crate::relationship::Scope::of(self, caller)?;
        let mut req = req;
        scope.prepare(self, caller, &mut req)?;
        let after = crate::governance_ops::AfterAudit::of(&req, action);
        let reply = self.answer(caller, origin, masked, req);
        if let (Ok(_), Some(after)) = (&reply, after) {
            self.audit_after(caller, origin, after);
        }
        scope.cut(self, reply?)
    }

    /// [`Engine::handle_from`] once authorised, checked and scoped.
    fn answer(
        &self,
        caller: &Caller,
        origin: &str,
        masked: bool,
        req: Request,
    ) -> ServiceResult<Reply> {
        match req {
            Request::Search { query, limit } => {
                // A masked role searches by name: a full e-mail, phone, loyalty or booking
                // number would tell it who is a customer.
                if masked && masking::is_identifier_query(&query) {
                    return Err(ServiceError::Forbidden {
                        role: caller.role,
                        action: "search by a personal identifier (search by name)".into(),
                    });
                }
                self.search(&query, limit).map(Reply::Summaries)
            }
            Request::Open { customer, query } => {
                let record = self.open_record(customer, &query, masked)?;
                self.audit_read(caller, origin, Action::OpenRecord, customer)?;
                Ok(Reply::Record(Box::new(record)))
            }
            Request::Interactions { customer, query } => {
                let mut page = self.interactions(customer, &query)?;
                self.audit_read(caller, origin, Action::ReadInteractions, customer)?;
                if masked {
                    page.iter_mut().for_each(masking::mask_interaction);
                }
                Ok(Reply::Interactions(page))
            }
            Request::LogInteraction(new) => self
                .log_interaction(caller, origin, new)
                .map(|i| Reply::Interaction(Box::new(i))),
            Request::RecordPreference {
                customer,
                topic,
                value,
                channel,
            } => self
                .record_preference(caller, origin, customer, topic, value, channel)
                .map(Reply::Preference),
            Request::Entitlement(r) => self
                .entitlement(&r)
                .map(|e| Reply::Entitlement(Box::new(e))),
            Request::Grant(r) => self
                .grant(caller, origin, &r)
                .map(|g| Reply::Grant(Box::new(g))),
            Request::Overview => self.overview().map(|o| Reply::Overview(Box::new(o))),
            Request::List { name, limit } => self.list(&name, limit).map(Reply::List),
            Request::Subscribe { .. } | Request::SetWatch { .. } | Request::Unsubscribe { .. } => {
                Ok(Reply::Done)
            }
            Request::ListOperators => self.operators().map(Reply::Operators),
            Request::AddOperator {
                name,
                role,
                password,
            } => self
                .add_operator(caller, &name, role, &password)
                .map(|_| Reply::Done),
            Request::SetPassword { name, password } => self
                .set_password(caller, &name, &password)
                .map(|_| Reply::Done),
            Request::DisableOperator { name } => {
                self.disable_operator(caller, &name).map(|_| Reply::Done)
            }
            Request::Assess { period_days } => {
                crate::assess::run(&self.store, &caller.operator, self.clock.now(), period_days)
                    .map(|a| Reply::Assessment(Box::new(a)))
            }
            Request::SubmitAnswers(answers) => {
                crate::assess::submit(&self.store, answers, caller).map(Reply::Count)
            }
            Request::AssessmentHistory => crate::assess::all(&self.store).map(Reply::Assessments),
            Request::Backup {
                path,
                password_hashes,
            } => {
                crate::backup::write(&self.store, caller, &path, password_hashes).map(Reply::Backup)
            }
            Request::Disruptions { customer } => self.disruptions(customer).map(Reply::Disruptions),
            Request::Flight { disruption } => {
                self.flight(&disruption).map(|f| Reply::Flight(Box::new(f)))
            }
            Request::GrantFlight {
                disruption,
                touchpoint,
            } => self
                .grant_flight(caller, origin, &disruption, &touchpoint)
                .map(Reply::FlightGrants),
            Request::DeclareDisruption(d) => self
                .declare(caller, origin, d)
                .map(|d| Reply::Disruption(Box::new(d))),
            Request::Data(d) => self.handle_data(caller, d).map(Reply::Data),
            Request::Relationship(r) => {
                self.handle_relationship(caller, r).map(Reply::Relationship)
            }
            Request::Learning(l) => self.handle_learning(caller, l).map(Reply::Learning),
            Request::Governance(g) => self
                .handle_governance(caller, origin, g)
                .map(Reply::Governance),
        }
    }

    /// Records that `caller` read `customer`'s record or history. A batched write: it costs the
    /// open no flush (see `governance_ops`); if it cannot be written, nothing is shown.
    fn audit_read(
        &self,
        caller: &Caller,
        origin: &str,
        action: Action,
        customer: CustomerId,
    ) -> ServiceResult<()> {
        let event = self.audit_event(caller, origin, action, Some(customer), String::new());
        self.audit_alone(event, Durability::Batched)
    }

    fn search(&self, query: &str, limit: usize) -> ServiceResult<Vec<CustomerSummary>> {
        check_text("query", query, 200)?;
        records::search(&self.repo, query, limit.clamp(1, 200))
    }

    fn open_record(
        &self,
        id: CustomerId,
        query: &InteractionQuery,
        masked: bool,
    ) -> ServiceResult<CustomerRecord> {
        let mut record = records::record(&self.repo, id, query, self.clock.now())?
            .ok_or_else(|| ServiceError::NotFound(format!("customer {id}")))?;
        crate::limits::clip_record(&mut record);
        record.value_currency = Some(self.reporting);
        if masked {
            masking::mask_record(&mut record);
        }
        Ok(record)
    }

    fn interactions(
        &self,
        id: CustomerId,
        query: &InteractionQuery,
    ) -> ServiceResult<Vec<Interaction>> {
        if self.store.customer(id).map_err(store_err)?.is_none() {
            return Err(ServiceError::NotFound(format!("customer {id}")));
        }
        let mut page = records::interactions(&self.store, id, query)?.0;
        page.iter_mut().for_each(crate::limits::clip_interaction);
        Ok(page)
    }

    pub(crate) fn require_customer(&self, id: CustomerId) -> ServiceResult<Customer> {
        self.store
            .customer(id)
            .map_err(store_err)?
            .ok_or_else(|| ServiceError::NotFound(format!("customer {id}")))
    }

    pub(crate) fn next_interaction_id(&self) -> ServiceResult<InteractionId> {
        let r = self.store.next_interaction_ids(1).map_err(store_err)?;
        Ok(InteractionId(r.start))
    }

    fn log_interaction(
        &self,
        caller: &Caller,
        origin: &str,
        new: NewInteraction,
    ) -> ServiceResult<Interaction> {
        self.require_customer(new.customer)?;
        if let Some(t) = &new.text {
            check_text("text", t, MAX_TEXT)?;
        }
        if let Some(t) = &new.touchpoint {
            check_text("touchpoint", t, 200)?;
        }
        if new.attributes.len() > 100 || new.amounts.len() > 20 {
            return Err(ServiceError::Invalid(
                "at most 100 attributes and 20 amounts".into(),
            ));
        }
        for (name, value) in &new.attributes {
            check_text("attribute name", name, 60)?;
            if let AttrValue::Text(t) = value {
                check_text(&format!("attribute {name}"), t, MAX_TEXT)?;
            }
        }
        let mut new = new;
        // Complaints are cases: one names what it is about (checked against the record), a
        // resolution names the open complaint it closes, once.
        let _guard = if new.kind == InteractionKind::Complaint {
            self.check_about(&mut new)?;
            None
        } else if new.kind.as_str() == case::COMPLAINT_RESOLVED {
            let guard = lock(&self.write_lock);
            self.check_resolution(&new)?;
            Some(guard)
        } else {
            None
        };
        let mut i = Interaction::new(
            self.next_interaction_id()?,
            new.customer,
            self.clock.now(),
            new.channel,
            new.kind,
        );
        i.touchpoint = new.touchpoint;
        i.phase = new.phase;
        i.text = new.text;
        i.attributes = new.attributes;
        i.amounts = new.amounts;
        i.employee = Some(caller.operator.clone());
        let mut batch = Batch::default();
        batch.put_interaction(&i);
        Engine::idea_of_interaction(&mut batch, &i)?;
        let event = self.audit_event(
            caller,
            origin,
            Action::LogInteraction,
            Some(i.customer),
            i.id.to_string(),
        );
        self.noting(&[i.customer], || {
            self.write_audited(batch, vec![event], Durability::Durable)
                .map_err(store_err)
        })?;
        Ok(i)
    }

    /// A complaint's `about` (optional) must name a disruption on record that affected the
    /// customer, or one of the customer's bookings; it is stored in canonical form.
    fn check_about(&self, new: &mut NewInteraction) -> ServiceResult<()> {
        let Some(about) = new.attributes.get(case::ABOUT_ATTR).map(|v| match v {
            AttrValue::Text(t) => t.trim().to_string(),
            other => other.to_string(),
        }) else {
            return Ok(());
        };
        if about.is_empty() {
            new.attributes.remove(case::ABOUT_ATTR);
            return Ok(());
        }
        if let Ok(id) = about.parse::<DisruptionId>()
            && let Some(d) = disruption::get(&self.store, &id).map_err(repo_err)?
            && d.affected(new.customer).is_some()
        {
            new.attributes
                .insert(case::ABOUT_ATTR.into(), AttrValue::Text(id.to_string()));
            return Ok(());
        }
        let booking = about.to_ascii_uppercase();
        for i in self.store.interactions_of(new.customer) {
            let i = i.map_err(store_err)?;
            if i.attr_text("booking_ref")
                .is_some_and(|b| b.trim().eq_ignore_ascii_case(&booking))
            {
                new.attributes
                    .insert(case::ABOUT_ATTR.into(), AttrValue::Text(booking));
                return Ok(());
            }
        }
        Err(ServiceError::Invalid(format!(
            "{} is neither a disruption on record for this customer nor one of their bookings",
            rapport_core::text::sanitize(&about)
        )))
    }

    /// A resolution names an open complaint of the customer and says what was done. Called
    /// with the write lock held, so two resolutions of one case cannot both pass.
    fn check_resolution(&self, new: &NewInteraction) -> ServiceResult<()> {
        if new.text.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return Err(ServiceError::Invalid(
                "say how the complaint was resolved (the resolution is the text)".into(),
            ));
        }
        let case_id: InteractionId = new
            .attributes
            .get(case::CASE_ATTR)
            .and_then(|v| match v {
                AttrValue::Text(t) => t.trim().parse().ok(),
                AttrValue::Int(n) => u64::try_from(*n).ok().map(InteractionId),
                _ => None,
            })
            .ok_or_else(|| {
                ServiceError::Invalid(
                    "name the complaint to resolve in the `case` attribute (e.g. I0000000042)"
                        .into(),
                )
            })?;
        let history = self
            .store
            .interactions_of(new.customer)
            .collect::<Result<Vec<_>, _>>()
            .map_err(store_err)?;
        let cases = case::cases(&history);
        let c = cases
            .iter()
            .find(|c| c.complaint == case_id)
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "complaint {case_id} on the record of {}",
                    new.customer
                ))
            })?;
        if let Some(r) = &c.resolution {
            return Err(ServiceError::Invalid(
                rapport_core::text::sanitize(&format!(
                    "complaint {case_id} was already resolved{} on {}: {}",
                    r.by.as_deref()
                        .map(|b| format!(" by {b}"))
                        .unwrap_or_default(),
                    r.at,
                    r.text.as_deref().unwrap_or("closed")
                ))
                .into_owned(),
            ));
        }
        Ok(())
    }

    fn record_preference(
        &self,
        caller: &Caller,
        origin: &str,
        id: CustomerId,
        topic: String,
        value: String,
        channel: Channel,
    ) -> ServiceResult<Preference> {
        let topic = topic.trim().to_string();
        if topic.is_empty() {
            return Err(ServiceError::Invalid("preference topic is empty".into()));
        }
        check_text("topic", &topic, 60)?;
        check_text("value", &value, 400)?;
        let _guard = lock(&self.write_lock);
        let mut customer = self.require_customer(id)?;
        let now = self.clock.now();
        let pref = Preference {
            topic: topic.clone(),
            value: value.clone(),
            recorded_by: caller.operator.clone(),
            channel: channel.clone(),
            at: now,
        };
        customer.preferences.push(pref.clone());
        customer.updated = now;
        let keys = self.store.index_keys_of(id).map_err(store_err)?;
        let mut i = Interaction::new(
            self.next_interaction_id()?,
            id,
            now,
            channel,
            InteractionKind::PreferenceStated,
        );
        i.employee = Some(caller.operator.clone());
        i.attributes.insert("topic".into(), AttrValue::Text(topic));
        i.attributes.insert("value".into(), AttrValue::Text(value));
        let mut batch = Batch::default();
        batch.put_customer(&customer, keys);
        batch.put_interaction(&i);
        let event = self.audit_event(
            caller,
            origin,
            Action::RecordPreference,
            Some(id),
            i.id.to_string(),
        );
        self.noting(&[id], || {
            self.write_audited(batch, vec![event], Durability::Durable)
                .map_err(store_err)
        })?;
        Ok(pref)
    }

    /// The facts of the request's disruption for its customer: the canonical id, and what
    /// happened to the customer by the record (never by what was typed). A reference that
    /// names no disruption on record, or one that did not affect the customer, is refused.
    pub(crate) fn facts(&self, r: &CompensationRequest) -> ServiceResult<(DisruptionId, Affected)> {
        check_text("touchpoint", &r.touchpoint, 200)?;
        let id = canonical(&r.disruption)?;
        if let Some((_, a)) =
            disruption::affected(&self.store, r.customer, &id).map_err(repo_err)?
        {
            return Ok((id, a));
        }
        let name = self.require_customer(r.customer)?.display_name();
        let name = rapport_core::text::sanitize(&name).into_owned();
        Err(ServiceError::Invalid(
            match disruption::get(&self.store, &id).map_err(repo_err)? {
                Some(d) => format!(
                    "{id} did not affect {name} ({}): not among its {} affected customers",
                    r.customer,
                    d.affected.len()
                ),
                None => format!(
                    "{id} is not a disruption on record: check the flight and date with the \
                     customer (a supervisor or steward can declare a disruption the sources \
                     do not report yet)"
                ),
            },
        ))
    }

    /// The grant already made for this customer and disruption: under its canonical key, or
    /// under a reference stored before references were canonical (read normalised).
    fn existing_grant(
        &self,
        customer: CustomerId,
        id: &DisruptionId,
    ) -> ServiceResult<Option<CompensationGrant>> {
        if let Some(g) = self
            .store
            .grant(customer, &id.to_string())
            .map_err(store_err)?
        {
            return Ok(Some(g));
        }
        Ok(self
            .store
            .grants_of(customer)
            .map_err(store_err)?
            .into_iter()
            .find(|g| g.disruption.parse::<DisruptionId>().ok().as_ref() == Some(id)))
    }

    fn decide_for(&self, a: &Affected) -> ServiceResult<rapport_governance::Decision> {
        self.policy()
            .policy
            .decide(a.kind, a.delay_minutes)
            .map_err(|e: PolicyError| ServiceError::Invalid(e.to_string()))
    }

    fn entitlement(&self, r: &CompensationRequest) -> ServiceResult<Entitlement> {
        self.require_customer(r.customer)?;
        let (id, a) = self.facts(r)?;
        let d = self.decide_for(&a)?;
        Ok(Entitlement {
            instrument: d.instrument,
            amount: d.amount,
            rule: d.rule,
            existing: self.existing_grant(r.customer, &id)?,
        })
    }

    fn entry(
        &self,
        customer: CustomerId,
        mut d: Disruption,
        a: Affected,
    ) -> ServiceResult<DisruptionEntry> {
        d.affected = vec![a.clone()];
        let existing = self.existing_grant(customer, &d.id)?;
        let in_force = self.policy();
        let (entitlement, not_entitled) = match in_force.policy.decide(a.kind, a.delay_minutes) {
            Ok(x) => (
                Some(Entitlement {
                    instrument: x.instrument,
                    amount: x.amount,
                    rule: x.rule,
                    existing: existing.clone(),
                }),
                None,
            ),
            Err(e) => (None, Some(e.to_string())),
        };
        let care = in_force
            .policy
            .care(a.kind, a.delay_minutes)
            .into_iter()
            .map(|c| CareItem {
                item: c.item.clone(),
                amount: c.amount,
            })
            .collect();
        Ok(DisruptionEntry {
            disruption: d,
            affected: a,
            entitlement,
            not_entitled,
            care,
            existing,
        })
    }

    fn disruptions(&self, customer: CustomerId) -> ServiceResult<Vec<DisruptionEntry>> {
        self.require_customer(customer)?;
        let mut out = Vec::new();
        for (d, a) in disruption::of_customer(&self.store, customer).map_err(repo_err)? {
            out.push(self.entry(customer, d, a)?);
        }
        out.sort_by_key(|e| std::cmp::Reverse(e.affected.at));
        Ok(out)
    }

    fn flight(&self, reference: &str) -> ServiceResult<FlightView> {
        let id = canonical(reference)?;
        let d = disruption::get(&self.store, &id)
            .map_err(repo_err)?
            .ok_or_else(|| ServiceError::NotFound(format!("disruption {id}")))?;
        let mut passengers = Vec::with_capacity(d.affected.len());
        for a in &d.affected {
            let Some(c) = self.store.customer(a.customer).map_err(store_err)? else {
                continue;
            };
            let tier = self
                .store
                .scores(a.customer)
                .map_err(store_err)?
                .map(|s| s.tier);
            passengers.push(Passenger {
                name: c.display_name(),
                tier,
                entry: self.entry(a.customer, d.clone(), a.clone())?,
            });
        }
        Ok(FlightView {
            disruption: d,
            passengers,
        })
    }

    fn grant_flight(
        &self,
        caller: &Caller,
        origin: &str,
        reference: &str,
        touchpoint: &str,
    ) -> ServiceResult<Vec<FlightGrant>> {
        let id = canonical(reference)?;
        let d = disruption::get(&self.store, &id)
            .map_err(repo_err)?
            .ok_or_else(|| ServiceError::NotFound(format!("disruption {id}")))?;
        let mut out = Vec::with_capacity(d.affected.len());
        for a in &d.affected {
            let r = CompensationRequest {
                customer: a.customer,
                disruption: id.to_string(),
                kind: a.kind,
                delay_minutes: a.delay_minutes,
                touchpoint: touchpoint.to_string(),
                channel: None,
            };
            let (outcome, problem) = match self.grant(caller, origin, &r) {
                Ok(o) => (Some(o), None),
                Err(ServiceError::Invalid(m)) => (None, Some(m)),
                Err(e @ ServiceError::Forbidden { .. }) => (None, Some(e.to_string())),
                Err(e) => return Err(e),
            };
            out.push(FlightGrant {
                customer: a.customer,
                outcome,
                problem,
            });
        }
        Ok(out)
    }

    fn declare(
        &self,
        caller: &Caller,
        origin: &str,
        decl: Declaration,
    ) -> ServiceResult<Disruption> {
        let id = canonical(&decl.disruption)?;
        let reason = decl.reason.trim().to_string();
        if reason.is_empty() {
            return Err(ServiceError::Invalid(
                "say why the disruption is declared (what you know that the sources do not)".into(),
            ));
        }
        check_text("reason", &reason, 400)?;
        if let Some(c) = &decl.cause {
            check_text("cause", c, 200)?;
        }
        if decl.customers.is_empty() || decl.customers.len() > 1_000 {
            return Err(ServiceError::Invalid(
                "name the customers it affected (1 to 1,000)".into(),
            ));
        }
        if decl.kind == DisruptionKind::Delay && decl.delay_minutes.is_none() {
            return Err(ServiceError::Invalid(
                "a delay needs its length in minutes".into(),
            ));
        }
        if (decl.kind == DisruptionKind::LostBag) != matches!(id, DisruptionId::Bag { .. }) {
            return Err(ServiceError::Invalid(
                "a lost bag is declared by its tag (BAG/0582417549), other disruptions by \
                 flight and date"
                    .into(),
            ));
        }
        let _guard = lock(&self.write_lock);
        for c in &decl.customers {
            self.require_customer(*c)?;
        }
        let now = self.clock.now();
        let mut d = disruption::get(&self.store, &id)
            .map_err(repo_err)?
            .unwrap_or_else(|| Disruption {
                id: id.clone(),
                kind: decl.kind,
                delay_minutes: None,
                cause: decl.cause.clone(),
                route: None,
                flight: None,
                at: now,
                affected: Vec::new(),
                origin: DisruptionOrigin::Declared {
                    by: caller.operator.clone(),
                    reason: reason.clone(),
                    at: now,
                },
            });
        let mut batch = Batch::default();
        let mut events = Vec::with_capacity(decl.customers.len());
        let ids = self
            .store
            .next_interaction_ids(decl.customers.len() as u64)
            .map_err(store_err)?;
        for (c, iid) in decl.customers.iter().zip(ids) {
            events.push(self.audit_event(
                caller,
                origin,
                Action::DeclareDisruption,
                Some(*c),
                InteractionId(iid).to_string(),
            ));
            d.note(Affected {
                customer: *c,
                kind: decl.kind,
                delay_minutes: decl.delay_minutes,
                at: now,
            });
            // The customer's record shows it (and reads it back) like a reported one.
            let kind = match decl.kind {
                DisruptionKind::Delay => InteractionKind::Delay,
                DisruptionKind::Cancellation => InteractionKind::Cancellation,
                DisruptionKind::DeniedBoarding => InteractionKind::DeniedBoarding,
                DisruptionKind::LostBag => InteractionKind::BagLost,
            };
            let mut i = Interaction::new(
                InteractionId(iid),
                *c,
                now,
                Channel::Other("service".into()),
                kind,
            );
            i.employee = Some(caller.operator.clone());
            i.text = Some(format!("declared by {}: {reason}", caller.operator));
            match &id {
                DisruptionId::Flight {
                    carrier,
                    number,
                    date,
                } => {
                    i.attributes.insert(
                        "flight".into(),
                        AttrValue::Text(format!("{carrier}{number}")),
                    );
                    i.attributes
                        .insert("flight_date".into(), AttrValue::Text(date.to_string()));
                }
                DisruptionId::Bag { tag } => {
                    i.attributes
                        .insert("bag_tag".into(), AttrValue::Text(tag.clone()));
                }
            }
            if let Some(m) = decl.delay_minutes {
                i.attributes
                    .insert("delay_minutes".into(), AttrValue::Int(i64::from(m)));
            }
            if let Some(c) = &decl.cause {
                i.attributes
                    .insert("cause".into(), AttrValue::Text(c.clone()));
            }
            i.attributes.insert(
                "declared_by".into(),
                AttrValue::Text(caller.operator.clone()),
            );
            batch.put_interaction(&i);
        }
        disruption::put(&mut batch, &d).map_err(repo_err)?;
        self.noting(&decl.customers, || {
            self.write_audited(batch, events, Durability::Durable)
                .map_err(store_err)
        })?;
        tracing::info!(operator = %caller.operator, disruption = %id, customers = decl.customers.len(), "disruption declared");
        disruption::get(&self.store, &id)
            .map_err(repo_err)?
            .ok_or_else(|| ServiceError::Internal(format!("disruption {id} not stored")))
    }

    fn grant(
        &self,
        caller: &Caller,
        origin: &str,
        r: &CompensationRequest,
    ) -> ServiceResult<GrantOutcome> {
        self.require_customer(r.customer)?;
        crate::relationship::Scope::of(self, caller)?.acts_on(self, caller, r.customer)?;
        let (id, facts) = self.facts(r)?;
        if let Some(existing) = self.existing_grant(r.customer, &id)? {
            return Ok(GrantOutcome::Refused(existing));
        }
        // One version prices the grant, checks the limit and is recorded.
        let in_force = self.policy();
        let d = in_force
            .policy
            .decide(facts.kind, facts.delay_minutes)
            .map_err(|e: PolicyError| ServiceError::Invalid(e.to_string()))?;
        let disruption = id.to_string();
        if !in_force.limits.within(caller.role, d.amount) {
            return Err(ServiceError::Forbidden {
                role: caller.role,
                action: format!(
                    "grant {} without a supervisor's approval (above the role's limit)",
                    d.amount
                ),
            });
        }
        let now = self.clock.now();
        let iid = self.next_interaction_id()?;
        let touchpoint = if r.touchpoint.trim().is_empty() {
            "unspecified".to_string()
        } else {
            r.touchpoint.trim().to_string()
        };
        let grant = CompensationGrant {
            customer: r.customer,
            disruption: disruption.clone(),
            kind: facts.kind,
            delay_minutes: facts.delay_minutes,
            instrument: d.instrument.clone(),
            amount: d.amount,
            policy_rule: d.rule.clone(),
            granted_by: caller.operator.clone(),
            touchpoint: touchpoint.clone(),
            at: now,
            interaction: iid,
        };
        let mut i = Interaction::new(
            iid,
            r.customer,
            now,
            r.channel
                .clone()
                .unwrap_or_else(|| Channel::Other("service".into())),
            InteractionKind::CompensationGranted,
        );
        i.touchpoint = Some(touchpoint);
        i.employee = Some(caller.operator.clone());
        i.amounts.push(Amount {
            role: AmountRole::Compensation,
            money: d.amount,
        });
        let mut attrs = BTreeMap::new();
        attrs.insert("disruption".into(), AttrValue::Text(disruption));
        attrs.insert(
            "disruption_kind".into(),
            AttrValue::Text(facts.kind.to_string()),
        );
        attrs.insert("instrument".into(), AttrValue::Text(d.instrument));
        attrs.insert("policy_rule".into(), AttrValue::Text(d.rule));
        // The version that priced it (also in the rule's name, `delay 9h+ v2`).
        attrs.insert(
            "policy_version".into(),
            AttrValue::Int(i64::from(in_force.policy.version)),
        );
        if let Some(m) = facts.delay_minutes {
            attrs.insert("delay_minutes".into(), AttrValue::Int(i64::from(m)));
        }
        i.attributes = attrs;
        let mut batch = Batch::default();
        batch.insert_grant(&grant);
        batch.put_interaction(&i);
        let event = self.audit_event(
            caller,
            origin,
            Action::GrantCompensation,
            Some(r.customer),
            iid.to_string(),
        );
        let written = self.noting(&[r.customer], || {
            Ok(self.write_audited(batch, vec![event], Durability::Durable))
        })?;
        match written {
            Ok(()) => {
                tracing::info!(operator = %caller.operator, customer = %grant.customer, disruption = %rapport_core::text::sanitize(&grant.disruption), amount = %grant.amount, "compensation granted");
                Ok(GrantOutcome::Granted(grant))
            }
            Err(rapport_store::Error::Conflict(existing)) => Ok(GrantOutcome::Refused(*existing)),
            Err(e) => Err(store_err(e)),
        }
    }

    fn overview(&self) -> ServiceResult<Overview> {
        records::overview(&self.store)
    }

    fn list(&self, name: &str, limit: usize) -> ServiceResult<Vec<ListEntry>> {
        check_text("list name", name, 60)?;
        records::list(&self.store, name, limit)
    }

    /// Every operator (without hashes), by name.
    pub fn operators(&self) -> ServiceResult<Vec<OperatorInfo>> {
        self.store
            .docs::<OperatorAccount>(OPERATORS, "")
            .map(|r| r.map(|(_, a)| a.info()).map_err(store_err))
            .collect()
    }

    fn add_operator(
        &self,
        caller: &Caller,
        name: &str,
        role: Role,
        password: &str,
    ) -> ServiceResult<()> {
        let account = OperatorAccount::new(name, role, password, self.clock.now())
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let _guard = lock(&self.write_lock);
        if self
            .store
            .doc::<OperatorAccount>(OPERATORS, name)
            .map_err(store_err)?
            .is_some()
        {
            return Err(ServiceError::Invalid(format!(
                "operator {name} already exists"
            )));
        }
        self.put_operator(&account)?;
        tracing::info!(by = %caller.operator, operator = name, %role, "operator added");
        Ok(())
    }

    fn put_operator(&self, account: &OperatorAccount) -> ServiceResult<()> {
        let mut batch = Batch::default();
        batch
            .put_doc(OPERATORS, &account.name, account)
            .map_err(store_err)?;
        self.store
            .write(batch, Durability::Durable)
            .map_err(store_err)
    }

    fn existing_operator(&self, name: &str) -> ServiceResult<OperatorAccount> {
        self.store
            .doc::<OperatorAccount>(OPERATORS, name)
            .map_err(store_err)?
            .ok_or_else(|| ServiceError::NotFound(format!("operator {name}")))
    }

    fn set_password(&self, caller: &Caller, name: &str, password: &str) -> ServiceResult<()> {
        let hash = rapport_governance::hash_password(password)
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let _guard = lock(&self.write_lock);
        let mut account = self.existing_operator(name)?;
        account.password_hash = hash;
        account.updated = self.clock.now();
        self.put_operator(&account)?;
        tracing::info!(by = %caller.operator, operator = name, "password changed");
        Ok(())
    }

    fn disable_operator(&self, caller: &Caller, name: &str) -> ServiceResult<()> {
        let _guard = lock(&self.write_lock);
        let mut account = self.existing_operator(name)?;
        account.disabled = true;
        account.updated = self.clock.now();
        self.put_operator(&account)?;
        lock(&self.sessions).retain(|_, s| s.operator != name);
        tracing::info!(by = %caller.operator, operator = name, "operator disabled");
        Ok(())
    }
}

/// The policy in force when the engine starts: the newest stored version; else a policy stored
/// by an older build (`governance/compensation_policy`, `approval_limits`); else the standard.
fn policy_at_start(store: &Store) -> PolicyVersion {
    match crate::governance_ops::policy_versions(store) {
        Ok(mut all) if !all.is_empty() => {
            if let Some(v) = all.pop() {
                return v;
            }
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "stored policy versions unreadable; using the older stored or the standard policy");
        }
    }
    let (policy, set_by) = match store.doc::<CompensationPolicy>(GOVERNANCE, "compensation_policy")
    {
        Ok(Some(p)) => (p, "stored"),
        Ok(None) => (CompensationPolicy::standard(), "standard"),
        Err(e) => {
            tracing::error!(error = %e, "stored compensation policy unreadable; using the standard policy");
            (CompensationPolicy::standard(), "standard")
        }
    };
    let limits = match store.doc::<ApprovalLimits>(GOVERNANCE, "approval_limits") {
        Ok(Some(l)) => l,
        _ => ApprovalLimits::standard(),
    };
    PolicyVersion {
        version: policy.version,
        set_by: set_by.to_string(),
        set_at: None,
        file: String::new(),
        policy,
        limits,
    }
}
