//! The console's state and its update function: keys become actions, actions change the
//! state and start background requests, replies and live events come back as events.

use std::future::Future;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use rapport_core::{Change, Clock, CustomerId, InteractionKind, Timestamp};
use rapport_governance::Role;
use rapport_service::governance_ops::{ApprovalState, GoodwillOutcome};
use rapport_service::{
    Governance, GrantOutcome, InteractionQuery, Learning, LiveEvent, Operations, Relationships,
    Service, SessionInfo, Subscription, Watch,
};

use crate::action::{Action, Context};
use crate::config::Config;
use crate::event::{Event, Reply};
use crate::fmt::clean;
use crate::keymap::Keymap;
use crate::popups::Popup;
use crate::popups::decide::{DecidePopup, Kind as DecideKind};
use crate::popups::detail::DetailPopup;
use crate::popups::filter::FilterPopup;
use crate::popups::goodwill::GoodwillPopup;
use crate::popups::grant::{GrantPopup, Policy, grant_text};
use crate::popups::help::Help;
use crate::popups::log::LogPopup;
use crate::popups::message::{Message, Tone};
use crate::popups::note::NotePopup;
use crate::popups::offer::OfferPopup;
use crate::popups::palette::{Command, Palette};
use crate::popups::preference::PreferencePopup;
use crate::popups::questionnaire::QuestionnairePopup;
use crate::popups::resolve::ResolvePopup;
use crate::screens::ScreenId;
use crate::screens::approvals::ApprovalsScreen;
use crate::screens::assessment::{AssessmentScreen, PERIOD_DAYS};
use crate::screens::equity::EquityScreen;
use crate::screens::flight::FlightScreen;
use crate::screens::learning::{LearningScreen, Loaded, Tab};
use crate::screens::overview::{LISTS, OverviewScreen};
use crate::screens::record::{KindFilter, RecordScreen};
use crate::screens::search::SearchScreen;
use crate::theme::Theme;

/// Rows of history asked for per page.
pub const PAGE: usize = 100;
/// Search hits asked for.
pub const SEARCH_LIMIT: usize = 50;
/// Rows read per page while a text filter is in force (the service's largest page).
const TEXT_FILTER_ROWS: usize = 1_000;
/// How long a status message stays in the footer.
const STATUS_MS: i64 = 8_000;

/// A message in the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The text (sanitised).
    pub text: String,
    /// Bad news.
    pub error: bool,
    /// Shown until.
    pub until: Timestamp,
}

/// A screen visited, for going back to it (with the customer it showed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Visit {
    screen: ScreenId,
    customer: Option<CustomerId>,
}

/// Screens remembered for going back.
const BACK_DEPTH: usize = 32;

#[derive(Debug, Default)]
struct Seqs {
    search: u64,
    record: u64,
    history: u64,
    entitlement: u64,
    overview: u64,
    list: u64,
}

/// The whole console state over one service.
pub struct App<S: Service> {
    svc: S,
    pub(crate) session: SessionInfo,
    pub(crate) keymap: Keymap,
    pub(crate) theme: Theme,
    pub(crate) channel: Option<String>,
    pub(crate) touchpoint: String,
    tx: UnboundedSender<Event>,
    clock: Clock,
    pub(crate) now: Timestamp,
    pub(crate) screen: ScreenId,
    back: Vec<Visit>,
    pub(crate) search: SearchScreen,
    pub(crate) record: RecordScreen,
    pub(crate) overview: OverviewScreen,
    pub(crate) assessment: AssessmentScreen,
    pub(crate) flight: FlightScreen,
    pub(crate) equity: EquityScreen,
    pub(crate) learning: LearningScreen,
    pub(crate) approvals: ApprovalsScreen,
    /// This operator's goodwill requests still waiting for a decision (id -> customer): their
    /// customers are watched, so the decision shows here as it is made.
    awaiting: std::collections::BTreeMap<String, CustomerId>,
    pub(crate) popups: Vec<Popup>,
    pub(crate) status: Option<Status>,
    pub(crate) reconnecting: Option<u32>,
    pub(crate) live: bool,
    watching: Option<watch::Sender<Watch>>,
    seq: Seqs,
    pending: usize,
    quit: bool,
    page_rows: usize,
}

impl<S: Service> App<S> {
    /// A console over `svc`; replies of background requests go to `tx` (the loop's channel).
    pub fn new(svc: S, config: &Config, tx: UnboundedSender<Event>, clock: Clock) -> App<S> {
        let session = svc.session();
        App {
            svc,
            session,
            keymap: config.keymap.clone(),
            theme: Theme {
                color: config.color,
                ascii: config.ascii,
            },
            channel: config.channel.clone(),
            touchpoint: config.touchpoint.clone(),
            tx,
            now: clock.now(),
            clock,
            screen: ScreenId::Record,
            back: Vec::new(),
            search: SearchScreen::default(),
            record: RecordScreen::default(),
            overview: OverviewScreen::default(),
            assessment: AssessmentScreen::default(),
            flight: FlightScreen::default(),
            equity: EquityScreen::default(),
            learning: LearningScreen::default(),
            approvals: ApprovalsScreen::default(),
            awaiting: std::collections::BTreeMap::new(),
            popups: Vec::new(),
            status: None,
            reconnecting: None,
            live: false,
            watching: None,
            seq: Seqs::default(),
            pending: 0,
            quit: false,
            page_rows: 10,
        }
    }

    /// Starts the live subscription. Call once, inside the runtime.
    pub fn start(&mut self) {
        let svc = self.svc.clone();
        self.spawn(
            async move { Reply::Subscribed(svc.subscribe(Watch::Customers(Vec::new())).await) },
        );
        // Requests this operator sent before (another session) whose decision is still to come.
        if self.may(rapport_governance::Action::ReadApprovals) {
            let svc = self.svc.clone();
            self.spawn(async move {
                Reply::Outcomes {
                    start: true,
                    result: svc.approvals(true).await,
                }
            });
        }
    }

    /// Whether the session's role may make this service request (the service checks anyway).
    fn may(&self, action: rapport_governance::Action) -> bool {
        rapport_governance::permission(self.session.role, action).allowed()
    }

    /// Tells the live subscription which customers to watch: the record's, the flight's
    /// passengers or the queue's customers when shown, and those of this operator's requests
    /// waiting for a decision.
    fn rewatch(&self) {
        let Some(w) = &self.watching else { return };
        let mut ids: Vec<CustomerId> = self.record.id.into_iter().collect();
        if self.screen == ScreenId::Flight
            && let Some(v) = &self.flight.view
        {
            ids.extend(v.passengers.iter().map(|p| p.entry.affected.customer));
        }
        if self.screen == ScreenId::Approvals
            && let Some(list) = &self.approvals.entries
        {
            ids.extend(list.iter().map(|q| q.approval.request.customer));
        }
        ids.extend(self.awaiting.values().copied());
        let mut seen = std::collections::BTreeSet::new();
        ids.retain(|c| seen.insert(*c));
        ids.truncate(rapport_service::limits::MAX_WATCHED);
        let _ = w.send(Watch::Customers(ids));
    }

    /// Reads the approval queue for the approvals screen.
    fn request_queue(&mut self) {
        self.approvals.seq += 1;
        let seq = self.approvals.seq;
        let svc = self.svc.clone();
        self.spawn(async move {
            Reply::Queue {
                seq,
                result: svc.approval_queue(true).await,
            }
        });
    }

    /// Reads the requests waiting for the customer shown (for the record's line).
    fn request_waiting(&mut self) {
        let Some(customer) = self.record.id else {
            return;
        };
        if !self.may(rapport_governance::Action::ReadApprovals) {
            return;
        }
        let svc = self.svc.clone();
        self.spawn(async move {
            let result = svc.approvals_of(customer).await.map(|list| {
                list.into_iter()
                    .filter(|a| a.state == ApprovalState::Pending)
                    .collect()
            });
            Reply::Waiting { customer, result }
        });
    }

    /// Reads the requests of `customers` again to see whether any of this operator's were
    /// decided (each customer's requests are one read; nothing scans every request filed).
    fn request_outcomes(&mut self, customers: Vec<CustomerId>) {
        let svc = self.svc.clone();
        self.spawn(async move {
            let mut all = Vec::new();
            let mut result = Ok(());
            for c in customers {
                match svc.approvals_of(c).await {
                    Ok(list) => all.extend(list),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            Reply::Outcomes {
                start: false,
                result: result.map(|()| all),
            }
        });
    }

    /// Opens the approval queue.
    fn open_approvals(&mut self) {
        self.navigate(ScreenId::Approvals);
        self.approvals.outcome = None;
        self.request_queue();
    }

    /// Opens the decision popup for the selected request, if the operator may make it.
    fn decide(&mut self, action: Action) {
        if !self.offered(action) {
            return;
        }
        let Some(q) = self.approvals.selected().cloned() else {
            self.set_status("Nothing selected: the queue is empty.", true);
            return;
        };
        let kind = match action {
            Action::Approve => DecideKind::Approve,
            Action::ChangeAmount => DecideKind::Change,
            _ => DecideKind::Refuse,
        };
        let allowed = match kind {
            DecideKind::Refuse => q.may_refuse,
            _ => q.may_approve,
        };
        if !allowed {
            let why = q.why.clone();
            self.set_status(format!("{}: {why}", q.approval.id), true);
            return;
        }
        self.popups.push(Popup::Decide(DecidePopup::new(q, kind)));
    }

    /// Opens the goodwill form on the record shown, with the policy's limit and the
    /// customer's disruptions on record.
    fn open_goodwill(&mut self) {
        let touchpoint = match (self.touchpoint.trim(), &self.channel) {
            ("", Some(c)) => c.clone(),
            ("", None) => "console".to_string(),
            (t, _) => t.to_string(),
        };
        self.popups.push(Popup::Goodwill(GoodwillPopup::new(
            &self.record.history,
            &touchpoint,
        )));
        let svc = self.svc.clone();
        self.spawn(async move { Reply::GoodwillPolicy(svc.policy().await) });
        if let Some(customer) = self.record.id {
            let svc = self.svc.clone();
            self.spawn(async move {
                Reply::Disruptions {
                    customer,
                    result: svc.disruptions(customer).await,
                }
            });
        }
    }

    /// Whether the operator asked to leave (or a signal did).
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// Background requests not yet answered.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// The session's role.
    pub fn role(&self) -> Role {
        self.session.role
    }

    /// The screen shown.
    pub fn screen(&self) -> ScreenId {
        self.screen
    }

    /// The customer shown on the record screen, once loaded.
    pub fn record_shown(&self) -> Option<&rapport_core::CustomerRecord> {
        self.record.record.as_ref()
    }

    /// Tells the app the terminal's size (rows per page).
    pub fn resize(&mut self, _width: u16, height: u16) {
        // Header, footer, record summary and table header take about half at 24 rows.
        self.page_rows = (height as usize).saturating_sub(14).max(5);
    }

    /// Handles one event.
    pub fn handle(&mut self, event: Event) {
        match event {
            Event::Key(key) if key.kind == KeyEventKind::Press => self.on_key(key),
            Event::Key(_) => {}
            Event::Resize(w, h) => self.resize(w, h),
            Event::Tick => {
                self.now = self.clock.now();
                self.record.expire(self.now);
                if self.status.as_ref().is_some_and(|s| s.until <= self.now) {
                    self.status = None;
                }
            }
            Event::Reply(reply) => {
                self.pending = self.pending.saturating_sub(1);
                self.on_reply(reply);
            }
            Event::Live(ev) => self.on_live(ev),
            Event::Shutdown => self.quit = true,
        }
    }

    fn spawn<F>(&mut self, fut: F)
    where
        F: Future<Output = Reply> + Send + 'static,
    {
        self.pending += 1;
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let reply = fut.await;
            // The loop is gone when the console is closing; the reply no longer matters.
            let _ = tx.send(Event::Reply(reply));
        });
    }

    fn set_status(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: clean(&text.into()),
            error,
            until: self.now.plus_millis(STATUS_MS),
        });
    }

    fn contexts(&self) -> &'static [Context] {
        match self.screen {
            ScreenId::Search => &[Context::Search],
            ScreenId::Record => &[Context::Record, Context::Navigation, Context::Global],
            ScreenId::Overview => &[Context::Overview, Context::Navigation, Context::Global],
            ScreenId::Assessment | ScreenId::Equity => &[Context::Navigation, Context::Global],
            ScreenId::Flight => &[Context::Flight, Context::Navigation, Context::Global],
            ScreenId::Learning => &[Context::Overview, Context::Navigation, Context::Global],
            ScreenId::Approvals => &[Context::Approvals, Context::Navigation, Context::Global],
        }
    }

    fn on_key(&mut self, key: KeyEvent) {
        if !self.popups.is_empty() {
            self.popup_key(key);
            return;
        }
        let action = self.keymap.lookup(self.contexts(), &key);
        if self.flight.confirming && action != Some(Action::GrantFlight) {
            self.flight.confirming = false;
            if action != Some(Action::Quit) {
                return;
            }
        }
        match action {
            Some(a) => self.update(a),
            None if self.screen == ScreenId::Search => self.search_typed(&key),
            None => {}
        }
    }

    fn search_typed(&mut self, key: &KeyEvent) {
        if key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return;
        }
        let changed = match key.code {
            KeyCode::Char(c) => self.search.input.insert(c),
            KeyCode::Backspace => self.search.input.backspace(),
            _ => false,
        };
        if changed {
            self.request_search();
        }
    }

    fn request_search(&mut self) {
        self.seq.search += 1;
        let seq = self.seq.search;
        let query = self.search.input.text().trim().to_string();
        if query.is_empty() {
            self.search.results.clear();
            self.search.shown_query.clear();
            self.search.searching = false;
            self.search.error = None;
            return;
        }
        self.search.searching = true;
        let svc = self.svc.clone();
        self.spawn(async move {
            let started = Instant::now();
            let result = svc.search(&query, SEARCH_LIMIT).await;
            Reply::Search {
                seq,
                query,
                result,
                elapsed: started.elapsed(),
            }
        });
    }

    /// Where the operator is now, as a place to come back to.
    fn here(&self) -> Visit {
        Visit {
            screen: self.screen,
            customer: self.record.id,
        }
    }

    fn remember(&mut self, visit: Visit) {
        if self.back.last() != Some(&visit) {
            self.back.push(visit);
            if self.back.len() > BACK_DEPTH {
                self.back.remove(0);
            }
        }
    }

    fn navigate(&mut self, to: ScreenId) {
        if self.screen != to {
            self.remember(self.here());
            self.screen = to;
            self.rewatch();
        }
    }

    /// Goes back to the screen visited before (reopening the customer it showed).
    fn go_back(&mut self) {
        match self.back.pop() {
            Some(visit) => {
                if let Some(id) = visit.customer
                    && visit.screen == ScreenId::Record
                    && self.record.id != Some(id)
                {
                    self.show(id);
                }
                self.screen = visit.screen;
                if visit.screen == ScreenId::Overview {
                    self.request_overview_tab();
                }
                if visit.screen == ScreenId::Assessment {
                    self.request_assessment();
                }
                if visit.screen == ScreenId::Flight {
                    self.request_flight();
                }
                if visit.screen == ScreenId::Equity {
                    self.request_equity();
                }
                if visit.screen == ScreenId::Learning {
                    self.request_learning();
                }
                if visit.screen == ScreenId::Approvals {
                    self.request_queue();
                }
                self.rewatch();
            }
            // Leaving the first search lands on the record screen, where every key works.
            None if self.screen == ScreenId::Search => self.screen = ScreenId::Record,
            None => {}
        }
    }

    /// Opens a customer's record (the screen before it is remembered for going back).
    pub fn open(&mut self, id: CustomerId) {
        if self.screen == ScreenId::Record && self.record.id.is_some_and(|c| c != id) {
            self.remember(self.here());
        }
        self.show(id);
        self.navigate(ScreenId::Record);
    }

    /// Loads a customer into the record screen and watches it.
    fn show(&mut self, id: CustomerId) {
        let text = std::mem::take(&mut self.record.text_filter);
        self.record.open(id);
        // The text filter is the operator's, not the customer's: kept.
        self.record.text_filter = text;
        self.rewatch();
        self.request_record(false);
    }

    fn query(&self, limit: usize, append: bool) -> InteractionQuery {
        // A text filter is applied here, to the rows read: read the most the service gives.
        let limit = if self.record.text_filter.is_empty() {
            limit
        } else {
            TEXT_FILTER_ROWS
        };
        InteractionQuery {
            limit,
            before: if append {
                self.record.history.last().map(|i| (i.at, i.id))
            } else {
                None
            },
            kinds: self
                .record
                .kind_filter
                .as_ref()
                .map(KindFilter::kinds)
                .unwrap_or_default(),
            channels: self.record.channel_filter.iter().cloned().collect(),
            since: None,
        }
    }

    fn request_record(&mut self, reload: bool) {
        let Some(id) = self.record.id else { return };
        self.seq.record += 1;
        let seq = self.seq.record;
        let limit = if reload {
            self.record.history.len().clamp(PAGE, 10 * PAGE)
        } else {
            PAGE
        };
        let query = self.query(limit, false);
        let svc = self.svc.clone();
        self.spawn(async move {
            Reply::Record {
                seq,
                id,
                result: svc.open(id, query).await,
                reload,
            }
        });
    }

    fn request_history(&mut self, append: bool) {
        let Some(id) = self.record.id else { return };
        self.seq.history += 1;
        let seq = self.seq.history;
        self.record.loading_history = true;
        let query = self.query(PAGE, append);
        let limit = query.limit;
        let svc = self.svc.clone();
        self.spawn(async move {
            Reply::History {
                seq,
                append,
                result: svc.interactions(id, query).await,
                limit,
            }
        });
    }

    /// Assesses again (each assessment is kept in the history, as `rapport assess` does).
    fn request_assessment(&mut self) {
        let svc = self.svc.clone();
        self.assessment.entry = None;
        self.assessment.error = None;
        self.spawn(async move { Reply::Assessment(svc.assess(PERIOD_DAYS).await) });
    }

    /// Reads customer equity for the equity screen.
    fn request_equity(&mut self) {
        let svc = self.svc.clone();
        self.equity.error = None;
        self.spawn(async move { Reply::Equity(svc.equity(None).await) });
    }

    /// Reads the offers and the next best action of the customer shown (when the role may).
    fn request_offers(&mut self) {
        let Some(id) = self.record.id else { return };
        if !rapport_governance::permission(
            self.session.role,
            rapport_governance::Action::ExplainOffers,
        )
        .allowed()
        {
            return;
        }
        let svc = self.svc.clone();
        self.spawn(async move {
            Reply::Offers {
                id,
                result: svc.explain_offers(id).await,
            }
        });
    }

    /// Presents the next best action: the popup with the offer and the answer form.
    fn open_offer(&mut self) {
        if self.record.record.is_none() {
            self.set_status("Open a customer first (/ to search).", true);
            return;
        }
        if !self.offered(Action::Offer) {
            return;
        }
        let channel = self.channel.clone().unwrap_or_default();
        match &self.record.offers {
            None => self.set_status("Reading the offers...", false),
            Some(Err(e)) => {
                let e = e.clone();
                self.set_status(format!("No offers: {e}"), true)
            }
            Some(Ok(o)) => match OfferPopup::new(&o.next, &channel, &self.touchpoint) {
                Ok(p) => self.popups.push(Popup::Offer(p)),
                Err(why) => self.set_status(format!("Nothing to present: {why}"), false),
            },
        }
    }

    /// Loads the learning screen's current tab (the newest request wins).
    fn request_learning(&mut self) {
        let svc = self.svc.clone();
        let tab = self.learning.current(self.session.role);
        let own = crate::screens::learning::own_ideas(self.session.role);
        self.learning.seq += 1;
        self.learning.loaded = None;
        self.learning.error = None;
        let seq = self.learning.seq;
        self.spawn(async move {
            let result = match tab {
                Tab::Handoffs => svc.handoffs().await.map(Loaded::Handoffs),
                Tab::Campaigns => svc.campaign_report(None).await.map(Loaded::Campaigns),
                Tab::Ideas if own => svc.my_ideas().await.map(Loaded::Ideas),
                Tab::Ideas => svc.ideas(false).await.map(Loaded::Ideas),
                Tab::Experiments => match svc.experiments().await {
                    Ok(list) => {
                        let mut out = Vec::new();
                        // The newest few experiments with their results.
                        for s in list.into_iter().rev().take(6) {
                            let r = if s.assigned > 0 {
                                svc.experiment_report(&s.definition.id).await.ok()
                            } else {
                                None
                            };
                            out.push((s, r));
                        }
                        Ok(Loaded::Experiments(out))
                    }
                    Err(e) => Err(e),
                },
            };
            Reply::Learning { seq, result }
        });
    }

    /// Opens the flight view on the newest disruption of the customer shown.
    fn open_flight(&mut self) {
        let Some(customer) = self.record.id.filter(|_| self.record.record.is_some()) else {
            self.set_status(
                "Open a customer first: the flight view starts from a record.",
                true,
            );
            return;
        };
        self.flight.open(customer);
        self.navigate(ScreenId::Flight);
        let svc = self.svc.clone();
        self.spawn(async move {
            Reply::FlightDisruptions {
                customer,
                result: svc.disruptions(customer).await,
            }
        });
    }

    /// Reads the disruption the flight view shows, with its passengers.
    fn request_flight(&mut self) {
        let Some(disruption) = self.flight.current() else {
            return;
        };
        let svc = self.svc.clone();
        self.spawn(async move {
            let result = svc.flight(&disruption).await;
            Reply::Flight { disruption, result }
        });
    }

    /// Grants the whole flight shown (each passenger at most once, by the service).
    fn grant_flight(&mut self) {
        let Some(disruption) = self.flight.current() else {
            return;
        };
        self.flight.confirming = false;
        self.flight.granting = true;
        // Where the operator works: the configured touchpoint, else the channel.
        let touchpoint = match self.touchpoint.trim() {
            "" => self.channel.clone().unwrap_or_default(),
            t => t.to_string(),
        };
        let svc = self.svc.clone();
        self.spawn(async move {
            let result = svc.grant_flight(&disruption, &touchpoint).await;
            Reply::FlightGranted { disruption, result }
        });
    }

    fn request_overview_tab(&mut self) {
        let svc = self.svc.clone();
        self.overview.loading = true;
        match self.overview.list() {
            None => {
                self.seq.overview += 1;
                let seq = self.seq.overview;
                self.spawn(async move {
                    Reply::Overview {
                        seq,
                        result: svc.overview().await,
                    }
                });
            }
            Some(name) => {
                self.seq.list += 1;
                let seq = self.seq.list;
                self.spawn(async move {
                    Reply::List {
                        seq,
                        name: name.to_string(),
                        result: svc.list(name, 200).await,
                    }
                });
            }
        }
    }

    fn offered(&mut self, action: Action) -> bool {
        if crate::policy::offered(self.session.role, action) {
            return true;
        }
        let role = self.session.role;
        self.set_status(
            format!("Your role ({role}) may not use {}.", action.name()),
            true,
        );
        false
    }

    /// Applies an action to the screen shown.
    pub fn update(&mut self, action: Action) {
        match action {
            Action::Quit => self.quit = true,
            Action::Back => self.go_back(),
            Action::Search if self.offered(action) => {
                // A new search: the previous caller's text is selected, so typing replaces it.
                self.search.input.select_all();
                self.navigate(ScreenId::Search);
            }
            Action::CursorLeft
            | Action::CursorRight
            | Action::LineStart
            | Action::LineEnd
            | Action::DeleteChar
            | Action::DeleteToStart
            | Action::DeleteWord
                if self.screen == ScreenId::Search && self.search.input.apply(action) =>
            {
                self.request_search();
            }
            Action::Palette => self.popups.push(Popup::Palette(Palette::default())),
            Action::Answer if self.offered(action) => {
                self.popups
                    .push(Popup::Questionnaire(QuestionnairePopup::new(
                        self.session.role,
                    )))
            }
            Action::Help => self.popups.push(Popup::Help(Help::default())),
            Action::Overview | Action::Lists if self.offered(action) => {
                self.navigate(ScreenId::Overview);
                self.overview.tab = if action == Action::Overview { 0 } else { 1 };
                self.request_overview_tab();
            }
            Action::Assess if self.offered(action) => {
                self.navigate(ScreenId::Assessment);
                self.request_assessment();
            }
            Action::Approvals => self.open_approvals(),
            Action::Approve | Action::ChangeAmount | Action::RefuseApproval
                if self.screen == ScreenId::Approvals =>
            {
                self.decide(action)
            }
            Action::Equity if self.offered(action) => {
                self.navigate(ScreenId::Equity);
                self.request_equity();
            }
            Action::Offer if self.screen == ScreenId::Record => self.open_offer(),
            Action::Learning if self.offered(action) => {
                self.navigate(ScreenId::Learning);
                self.request_learning();
            }
            Action::NextTab | Action::PrevTab if self.screen == ScreenId::Learning => {
                self.learning
                    .cycle(self.session.role, action == Action::NextTab);
                self.request_learning();
            }
            Action::Flight if self.screen == ScreenId::Record && self.offered(action) => {
                self.open_flight();
            }
            Action::GrantFlight
                if self.screen == ScreenId::Flight
                    && self.flight.view.is_some()
                    && !self.flight.granting
                    && self.offered(action) =>
            {
                if self.flight.confirming {
                    self.grant_flight();
                } else {
                    self.flight.confirming = true;
                    self.flight.outcome = None;
                }
            }
            Action::NextTab | Action::PrevTab
                if self.screen == ScreenId::Flight
                    && self.flight.cycle(action == Action::NextTab) =>
            {
                self.request_flight();
            }
            Action::Refresh => match self.screen {
                ScreenId::Search => self.request_search(),
                ScreenId::Record => self.request_record(true),
                ScreenId::Overview => self.request_overview_tab(),
                ScreenId::Assessment => self.request_assessment(),
                ScreenId::Flight => self.request_flight(),
                ScreenId::Equity => self.request_equity(),
                ScreenId::Learning => self.request_learning(),
                ScreenId::Approvals => self.request_queue(),
            },
            Action::NextTab | Action::PrevTab if self.screen == ScreenId::Overview => {
                let n = LISTS.len() + 1;
                let mut tab = self.overview.tab;
                loop {
                    tab = if action == Action::NextTab {
                        (tab + 1) % n
                    } else {
                        (tab + n - 1) % n
                    };
                    // Working lists are skipped for roles that may not read them.
                    if tab == 0 || crate::policy::offered(self.session.role, Action::Lists) {
                        break;
                    }
                }
                self.overview.tab = tab;
                self.overview.selected = 0;
                self.request_overview_tab();
            }
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => self.move_selection(action),
            Action::Open => match self.screen {
                ScreenId::Search => {
                    if let Some(id) = self.search.selected().map(|c| c.id) {
                        self.open(id);
                    }
                }
                ScreenId::Overview => {
                    if let Some(id) = self
                        .overview
                        .entries
                        .get(self.overview.selected)
                        .map(|e| e.customer.id)
                    {
                        self.open(id);
                    }
                }
                ScreenId::Assessment | ScreenId::Equity | ScreenId::Learning => {}
                ScreenId::Approvals => {
                    if let Some(id) = self
                        .approvals
                        .selected()
                        .map(|q| q.approval.request.customer)
                    {
                        self.open(id);
                    }
                }
                ScreenId::Flight => {
                    if let Some(id) = self.flight.selected_customer() {
                        self.open(id);
                    }
                }
                ScreenId::Record => {
                    if let Some(row) = self.record.history.get(self.record.selected) {
                        self.popups
                            .push(Popup::Detail(DetailPopup::new(row.clone())));
                    }
                }
            },
            Action::FilterText
                if self.screen == ScreenId::Record && self.record.record.is_some() =>
            {
                self.popups
                    .push(Popup::Filter(FilterPopup::new(&self.record.text_filter)));
            }
            Action::LogInteraction
            | Action::Grant
            | Action::Preference
            | Action::Note
            | Action::Idea
            | Action::Resolve
            | Action::Goodwill => self.open_form(action),
            Action::Erase => self.open_erase(),
            Action::FilterKind | Action::FilterChannel | Action::ClearFilters
                if self.screen == ScreenId::Record && self.record.record.is_some() =>
            {
                let r = &mut self.record;
                match action {
                    Action::FilterKind => {
                        r.kind_filter = KindFilter::next(&r.kind_filter, &r.kinds_seen)
                    }
                    Action::FilterChannel => {
                        r.channel_filter =
                            RecordScreen::next_filter(&r.channel_filter, &r.channels_seen)
                    }
                    _ => {
                        r.kind_filter = None;
                        r.channel_filter = None;
                        r.text_filter.clear();
                    }
                }
                self.request_history(false);
            }
            _ => {}
        }
    }

    fn move_selection(&mut self, action: Action) {
        let page = self.page_rows as isize;
        let delta = match action {
            Action::Up => -1,
            Action::Down => 1,
            Action::PageUp => -page,
            Action::PageDown => page,
            Action::Top => isize::MIN / 2,
            _ => isize::MAX / 2,
        };
        match self.screen {
            ScreenId::Search => self.search.move_by(delta),
            ScreenId::Overview => self.overview.move_by(delta),
            ScreenId::Assessment => self.assessment.scroll_by(delta.clamp(-500, 500)),
            ScreenId::Equity => self.equity.scroll_by(delta.clamp(-500, 500)),
            ScreenId::Learning => self.learning.scroll_by(delta.clamp(-500, 500)),
            ScreenId::Flight => self.flight.move_by(delta.clamp(-10_000, 10_000)),
            ScreenId::Approvals => self.approvals.move_by(delta.clamp(-10_000, 10_000)),
            ScreenId::Record => {
                if self.record.move_by(delta) {
                    self.request_history(true);
                }
            }
        }
    }

    /// The erasure confirmation for the record shown.
    fn open_erase(&mut self) {
        let shown = self
            .record
            .record
            .as_ref()
            .filter(|_| self.screen == ScreenId::Record)
            .map(|r| (r.customer.id, clean(&r.customer.display_name())));
        let Some((id, name)) = shown else {
            self.set_status("Open a customer first (/ to search).", true);
            return;
        };
        if !self.offered(Action::Erase) {
            return;
        }
        self.popups
            .push(Popup::Erase(crate::popups::erase::ErasePopup::new(
                id, &name,
            )));
    }

    fn open_form(&mut self, action: Action) {
        if self.screen != ScreenId::Record || self.record.record.is_none() {
            self.set_status("Open a customer first (/ to search).", true);
            return;
        }
        if !self.offered(action) {
            return;
        }
        let channel = self.channel.as_deref().unwrap_or("");
        let popup = match action {
            Action::LogInteraction => {
                let about = self
                    .record
                    .history
                    .iter()
                    .find(|i| i.kind.is_disruption())
                    .and_then(crate::popups::grant::disruption_ref)
                    .unwrap_or_default();
                Popup::Log(LogPopup::new(channel, &self.touchpoint, &about))
            }
            Action::Preference => Popup::Preference(PreferencePopup::new(channel)),
            Action::Goodwill => {
                self.open_goodwill();
                return;
            }
            Action::Note => Popup::Note(NotePopup::new(
                InteractionKind::Note,
                channel,
                &self.touchpoint,
            )),
            Action::Idea => Popup::Note(NotePopup::new(
                InteractionKind::Idea,
                channel,
                &self.touchpoint,
            )),
            Action::Resolve => {
                let cases = self
                    .record
                    .record
                    .as_ref()
                    .map(|r| r.cases.as_slice())
                    .unwrap_or_default();
                match ResolvePopup::new(cases, channel, self.now) {
                    Some(p) => Popup::Resolve(p),
                    None => {
                        self.set_status("No open complaint on this record.", false);
                        return;
                    }
                }
            }
            _ => {
                self.popups.push(Popup::Grant(GrantPopup::new(
                    &self.record.history,
                    &self.touchpoint,
                )));
                self.request_entitlement();
                if let Some(customer) = self.record.id {
                    let svc = self.svc.clone();
                    self.spawn(async move {
                        Reply::Disruptions {
                            customer,
                            result: svc.disruptions(customer).await,
                        }
                    });
                }
                return;
            }
        };
        self.popups.push(popup);
    }

    fn request_entitlement(&mut self) {
        let Some(id) = self.record.id else { return };
        let Some(Popup::Grant(g)) = self.popups.last_mut() else {
            return;
        };
        match g.policy_request(id) {
            Ok(req) => {
                g.policy = Policy::Asking;
                g.problem = None;
                self.seq.entitlement += 1;
                let seq = self.seq.entitlement;
                let svc = self.svc.clone();
                self.spawn(async move {
                    Reply::Entitlement {
                        seq,
                        result: svc.entitlement(req).await,
                    }
                });
            }
            Err(problem) => {
                g.policy = Policy::Unknown;
                g.problem = Some(problem);
            }
        }
    }

    fn popup_key(&mut self, key: KeyEvent) {
        let Some(top) = self.popups.last_mut() else {
            return;
        };
        match top {
            Popup::Help(help) => {
                match self
                    .keymap
                    .lookup(&[Context::Navigation, Context::Global], &key)
                {
                    Some(Action::Down) => help.scroll = help.scroll.saturating_add(1),
                    Some(Action::Up) => help.scroll = help.scroll.saturating_sub(1),
                    Some(Action::PageDown) => help.scroll = help.scroll.saturating_add(10),
                    Some(Action::PageUp) => help.scroll = help.scroll.saturating_sub(10),
                    Some(Action::Top) => help.scroll = 0,
                    Some(Action::Quit) => self.quit = true,
                    Some(Action::Back | Action::Help | Action::Open) => {
                        self.popups.pop();
                    }
                    _ => {}
                }
            }
            Popup::Palette(p) => match self.keymap.lookup(&[Context::Palette], &key) {
                Some(Action::Up) => p.selected = p.selected.saturating_sub(1),
                Some(Action::Down) => p.selected += 1,
                Some(Action::Back) => {
                    self.popups.pop();
                }
                Some(Action::Quit) => self.quit = true,
                Some(Action::Open) => {
                    let cx = crate::view::ViewCtx {
                        theme: &self.theme,
                        keymap: &self.keymap,
                        now: self.now,
                        role: self.session.role,
                    };
                    let chosen = p.chosen(&cx);
                    self.popups.pop();
                    match chosen {
                        Some(Command::Run(a)) => self.update(a),
                        Some(Command::Open(id)) => self.open(id),
                        None => {}
                    }
                }
                _ => {
                    if !key
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                    {
                        match key.code {
                            KeyCode::Char(c) if !c.is_control() => p.input.push(c),
                            KeyCode::Backspace => {
                                p.input.pop();
                            }
                            _ => {}
                        }
                        p.selected = 0;
                    }
                }
            },
            Popup::Message(_) => match self.keymap.lookup(&[Context::Form], &key) {
                Some(Action::Quit) => self.quit = true,
                Some(Action::Back | Action::Submit) => {
                    self.popups.pop();
                }
                _ => {}
            },
            Popup::Detail(d) => match self
                .keymap
                .lookup(&[Context::Navigation, Context::Global], &key)
            {
                Some(Action::Down) => d.scroll = d.scroll.saturating_add(1),
                Some(Action::Up) => d.scroll = d.scroll.saturating_sub(1),
                Some(Action::PageDown) => d.scroll = d.scroll.saturating_add(10),
                Some(Action::PageUp) => d.scroll = d.scroll.saturating_sub(10),
                Some(Action::Top) => d.scroll = 0,
                Some(Action::Quit) => self.quit = true,
                Some(Action::Back | Action::Open) => {
                    self.popups.pop();
                }
                _ => {}
            },
            Popup::Filter(p) => match self.keymap.lookup(&[Context::Search], &key) {
                Some(Action::Back) => {
                    self.popups.pop();
                }
                Some(Action::Quit) => self.quit = true,
                Some(Action::Open) => {
                    let text = p.input.text().trim().to_string();
                    self.popups.pop();
                    self.record.text_filter = text;
                    self.request_history(false);
                }
                Some(a) => {
                    p.input.apply(a);
                }
                None => {
                    if !key
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                    {
                        match key.code {
                            KeyCode::Char(c) => {
                                p.input.insert(c);
                            }
                            KeyCode::Backspace => {
                                p.input.backspace();
                            }
                            _ => {}
                        }
                    }
                }
            },
            Popup::Log(_)
            | Popup::Grant(_)
            | Popup::Preference(_)
            | Popup::Note(_)
            | Popup::Resolve(_)
            | Popup::Offer(_)
            | Popup::Erase(_)
            | Popup::Goodwill(_)
            | Popup::Decide(_)
            | Popup::Questionnaire(_) => self.form_key(key),
        }
    }

    fn form_key(&mut self, key: KeyEvent) {
        let action = self.keymap.lookup(&[Context::Form], &key);
        match action {
            Some(Action::Quit) => {
                self.quit = true;
                return;
            }
            Some(Action::Back) => {
                self.popups.pop();
                return;
            }
            Some(Action::Submit) => {
                self.submit_form();
                return;
            }
            _ => {}
        }
        let Some(top) = self.popups.last_mut() else {
            return;
        };
        let form = match top {
            Popup::Log(p) => &mut p.form,
            Popup::Grant(p) => &mut p.form,
            Popup::Preference(p) => &mut p.form,
            Popup::Note(p) => &mut p.form,
            Popup::Resolve(p) => &mut p.form,
            Popup::Questionnaire(p) => &mut p.form,
            Popup::Offer(p) => &mut p.form,
            Popup::Goodwill(p) => &mut p.form,
            Popup::Decide(p) => &mut p.form,
            _ => return,
        };
        let changed = match action {
            Some(a) => form.apply(a),
            None => form.type_key(&key),
        };
        if changed && let Some(Popup::Goodwill(g)) = self.popups.last_mut() {
            // What was confirmed (or found above the limit) is no longer what is typed.
            g.confirming = false;
            g.above_limit = false;
            g.problem = None;
            g.follow_pick();
        }
        if changed && let Some(Popup::Decide(d)) = self.popups.last_mut() {
            d.confirming = false;
            d.problem = None;
        }
        if changed && let Some(Popup::Grant(g)) = self.popups.last_mut() {
            g.confirming = false;
            g.follow_pick();
            // Moving between fields changes nothing the policy depends on.
            if !matches!(action, Some(Action::NextField | Action::PrevField)) {
                self.request_entitlement();
            }
        }
    }

    fn submit_form(&mut self) {
        if let Some(Popup::Questionnaire(p)) = self.popups.last() {
            match p.answers(&self.session.operator) {
                Ok(answers) => {
                    self.popups.pop();
                    self.set_status("Saving your answers...", false);
                    let svc = self.svc.clone();
                    self.spawn(async move { Reply::Answered(svc.submit_answers(answers).await) });
                }
                Err(e) => self.error_popup("Cannot save these answers", e),
            }
            return;
        }
        if let Some(Popup::Decide(d)) = self.popups.last_mut() {
            if d.busy {
                return;
            }
            match d.decision() {
                Err(problem) => d.problem = Some(problem),
                Ok(_) if !d.confirming => d.confirming = true,
                Ok((id, decision, reason)) => {
                    d.busy = true;
                    let svc = self.svc.clone();
                    self.spawn(async move {
                        Reply::Decided(svc.decide_approval(&id, decision, &reason).await)
                    });
                }
            }
            return;
        }
        let Some(id) = self.record.id else { return };
        let svc = self.svc.clone();
        let role = self.session.role;
        match self.popups.last_mut() {
            Some(Popup::Erase(p)) => {
                if p.busy {
                    return;
                }
                if !p.confirming {
                    p.confirming = true;
                    return;
                }
                p.busy = true;
                let customer = p.customer;
                self.spawn(async move {
                    Reply::Erased(svc.erase_customer(customer, "console request").await)
                });
            }
            Some(Popup::Goodwill(g)) => {
                if g.busy {
                    return;
                }
                match g.request(id) {
                    Err(problem) => g.problem = Some(problem),
                    Ok(req) if !g.confirming => {
                        g.above_limit = g.above_limit || g.over_limit(role, req.amount);
                        g.confirming = true;
                    }
                    Ok(req) => {
                        g.busy = true;
                        g.problem = None;
                        self.spawn(async move {
                            Reply::Goodwill {
                                customer: id,
                                result: svc.goodwill(req).await,
                            }
                        });
                    }
                }
            }
            Some(Popup::Grant(g)) => {
                if g.busy {
                    return;
                }
                match g.request(id) {
                    Err(problem) => g.problem = Some(problem),
                    Ok(_) if !g.confirming => g.confirming = true,
                    Ok(mut req) => {
                        g.busy = true;
                        // Recorded at the operator's channel (the call center's goodwill is
                        // the call center's).
                        req.channel = self.channel.as_deref().and_then(|c| c.parse().ok());
                        self.spawn(async move { Reply::Grant(svc.grant_compensation(req).await) });
                    }
                }
            }
            Some(Popup::Log(p)) => match p.request(id) {
                Ok(new) => {
                    self.popups.pop();
                    self.set_status("Saving...", false);
                    self.spawn(async move { Reply::Logged(svc.log_interaction(new).await) });
                }
                Err(e) => self.error_popup("Cannot log this", e),
            },
            Some(Popup::Note(p)) => match p.request(id) {
                Ok(new) => {
                    self.popups.pop();
                    self.set_status("Saving...", false);
                    self.spawn(async move { Reply::Logged(svc.log_interaction(new).await) });
                }
                Err(e) => self.error_popup("Cannot save this", e),
            },
            Some(Popup::Resolve(p)) => match p.request(id) {
                Ok(new) => {
                    self.popups.pop();
                    self.set_status("Saving...", false);
                    self.spawn(async move { Reply::Logged(svc.log_interaction(new).await) });
                }
                Err(e) => self.error_popup("Cannot resolve this", e),
            },
            Some(Popup::Offer(p)) => match p.request() {
                Ok((offer, answer, channel, touchpoint)) => {
                    self.popups.pop();
                    self.set_status("Saving the answer...", false);
                    self.spawn(async move {
                        Reply::OfferAnswered(
                            svc.answer_offer(id, &offer, answer, channel, touchpoint)
                                .await,
                        )
                    });
                }
                Err(e) => self.error_popup("Cannot log this answer", e),
            },
            Some(Popup::Preference(p)) => match p.request() {
                Ok((topic, value, channel)) => {
                    self.popups.pop();
                    self.set_status("Saving...", false);
                    self.spawn(async move {
                        Reply::Preference(svc.record_preference(id, topic, value, channel).await)
                    });
                }
                Err(e) => self.error_popup("Cannot record this preference", e),
            },
            _ => {}
        }
    }

    fn error_popup(&mut self, title: &str, text: String) {
        self.popups.push(Popup::Message(Message {
            title: title.to_string(),
            lines: vec![clean(&text)],
            tone: Tone::Error,
        }));
    }

    fn on_reply(&mut self, reply: Reply) {
        match reply {
            Reply::Subscribed(Ok(sub)) => self.attach(sub),
            Reply::Subscribed(Err(e)) => {
                self.live = false;
                self.set_status(format!("No live updates: {e}"), true);
            }
            Reply::Search {
                seq,
                query,
                result,
                elapsed,
            } => {
                if seq != self.seq.search {
                    return;
                }
                self.search.searching = false;
                match result {
                    Ok(hits) => {
                        self.search.results = hits;
                        self.search.shown_query = query;
                        self.search.selected = 0;
                        self.search.error = None;
                        self.search.elapsed = Some(elapsed);
                    }
                    Err(e) => self.search.error = Some(e.to_string()),
                }
            }
            Reply::Record {
                seq,
                id,
                result,
                reload,
            } => {
                if seq != self.seq.record || self.record.id != Some(id) {
                    return;
                }
                match result {
                    Ok(rec) => {
                        self.record.apply(rec, reload, self.now);
                        self.request_offers();
                        self.request_waiting();
                    }
                    Err(e) if reload => {
                        self.set_status(format!("Could not re-read the record: {e}"), true)
                    }
                    Err(e) => {
                        self.record.loading = false;
                        self.record.error = Some(e.to_string());
                    }
                }
            }
            Reply::History {
                seq,
                append,
                result,
                limit,
            } => {
                if seq != self.seq.history {
                    return;
                }
                match result {
                    Ok(rows) => self.record.apply_history(rows, append, limit),
                    Err(e) => {
                        self.record.loading_history = false;
                        self.set_status(format!("Could not read the history: {e}"), true);
                    }
                }
            }
            Reply::Entitlement { seq, result } => {
                if seq != self.seq.entitlement {
                    return;
                }
                if let Some(Popup::Grant(g)) = self.popups.last_mut() {
                    g.policy = match result {
                        Ok(e) => Policy::Known(e),
                        Err(e) => Policy::Failed(e.to_string()),
                    };
                }
            }
            Reply::Disruptions { customer, result } => {
                if self.record.id == Some(customer)
                    && let Some(Popup::Goodwill(g)) = self.popups.last_mut()
                {
                    match result {
                        Ok(list) => g.offer(list),
                        Err(e) => g.problem = Some(format!("Could not list the disruptions: {e}")),
                    }
                    return;
                }
                if self.record.id == Some(customer)
                    && let Some(Popup::Grant(g)) = self.popups.last_mut()
                {
                    match result {
                        Ok(list) => g.offer(list),
                        Err(e) => g.problem = Some(format!("Could not list the disruptions: {e}")),
                    }
                    self.request_entitlement();
                }
            }
            Reply::FlightDisruptions { customer, result } => {
                if self.flight.from != Some(customer) {
                    return;
                }
                match result {
                    Ok(list) if list.is_empty() => {
                        self.flight.error =
                            Some("No disruption on record for this customer.".into())
                    }
                    Ok(list) => {
                        self.flight.disruptions = list;
                        self.request_flight();
                    }
                    Err(e) => {
                        self.flight.error = Some(format!("Could not list the disruptions: {e}"))
                    }
                }
            }
            Reply::Flight { disruption, result } => {
                if self.flight.current().as_deref() != Some(disruption.as_str()) {
                    return;
                }
                match result {
                    Ok(v) => {
                        let n = v.passengers.len();
                        self.flight.view = Some(v);
                        // Watch every passenger, so grants made elsewhere show at once.
                        self.rewatch();
                        self.flight.selected = self.flight.selected.min(n.saturating_sub(1));
                        self.flight.error = None;
                    }
                    Err(e) => self.flight.error = Some(e.to_string()),
                }
            }
            Reply::FlightGranted { disruption, result } => {
                self.flight.granting = false;
                match result {
                    Ok(done) => {
                        let line = FlightScreen::summarise(&done);
                        self.set_status(line.clone(), false);
                        if self.flight.current().as_deref() == Some(disruption.as_str()) {
                            // The rows say what the summary says in the same frame; the
                            // reread that follows brings the rest (and other terminals' grants).
                            self.flight.apply(&done);
                            self.flight.outcome = Some(line);
                            self.request_flight();
                        }
                    }
                    Err(e) => self.error_popup("Whole-flight grant failed", e.to_string()),
                }
            }
            Reply::Grant(result) => {
                let top_is_grant = matches!(self.popups.last(), Some(Popup::Grant(_)));
                match result {
                    Ok(GrantOutcome::Granted(g)) => {
                        if top_is_grant {
                            self.popups.pop();
                        }
                        self.set_status(format!("Granted {}", grant_text(&g, self.now)), false);
                        self.request_record(true);
                    }
                    Ok(GrantOutcome::Refused(g)) => {
                        if top_is_grant {
                            self.popups.pop();
                        }
                        self.popups.push(Popup::Message(Message {
                            title: "Refused: already granted".into(),
                            lines: vec![
                                "This customer was already compensated for this disruption:".into(),
                                grant_text(&g, self.now),
                            ],
                            tone: Tone::Error,
                        }));
                        self.request_record(true);
                    }
                    Err(e) => {
                        if let Some(Popup::Grant(g)) = self.popups.last_mut() {
                            g.busy = false;
                            g.confirming = false;
                            g.problem = Some(e.to_string());
                        } else {
                            self.set_status(format!("Grant failed: {e}"), true);
                        }
                    }
                }
            }
            Reply::Erased(result) => {
                if matches!(self.popups.last(), Some(Popup::Erase(_))) {
                    self.popups.pop();
                }
                match result {
                    Ok(r) => {
                        self.set_status(
                            format!(
                                "Erased: the record now shows \"{}\" ({} interactions kept)",
                                clean(&r.pseudonym),
                                r.interactions
                            ),
                            false,
                        );
                        self.request_record(true);
                    }
                    Err(e) => self.error_popup("Not erased", e.to_string()),
                }
            }
            Reply::Logged(result) => match result {
                Ok(i) => {
                    self.set_status(format!("Saved {} {}", i.kind, i.id), false);
                    self.request_record(true);
                }
                Err(e) => self.error_popup("Not saved", e.to_string()),
            },
            Reply::Preference(result) => match result {
                Ok(p) => {
                    self.set_status(format!("Saved preference {}: {}", p.topic, p.value), false);
                    self.request_record(true);
                }
                Err(e) => self.error_popup("Not saved", e.to_string()),
            },
            Reply::Answered(result) => match result {
                Ok(_) => {
                    self.set_status("Saved your answers", false);
                    if self.screen == ScreenId::Assessment {
                        self.request_assessment();
                    }
                }
                Err(e) => self.error_popup("Answers not saved", e.to_string()),
            },
            Reply::Assessment(result) => match result {
                Ok(e) => self.assessment.entry = Some(e),
                Err(e) => self.assessment.error = Some(e.to_string()),
            },
            Reply::Learning { seq, result } => {
                if seq != self.learning.seq {
                    return;
                }
                match result {
                    Ok(l) => self.learning.loaded = Some(l),
                    Err(e) => self.learning.error = Some(e.to_string()),
                }
            }
            Reply::Overview { seq, result } => {
                if seq != self.seq.overview {
                    return;
                }
                self.overview.loading = false;
                match result {
                    Ok(o) => {
                        self.overview.overview = Some(o);
                        self.overview.error = None;
                    }
                    Err(e) => self.overview.error = Some(e.to_string()),
                }
            }
            Reply::Offers { id, result } => {
                if self.record.id == Some(id) {
                    self.record.offers = Some(result.map_err(|e| e.to_string()));
                }
            }
            Reply::OfferAnswered(result) => match result {
                Ok(a) => {
                    self.set_status(
                        format!(
                            "Saved: {} `{}` ({})",
                            a.answer.answer, a.answer.offer, a.interaction.id
                        ),
                        false,
                    );
                    self.request_record(true);
                }
                Err(e) => self.error_popup("Answer not saved", e.to_string()),
            },
            Reply::Equity(result) => match result {
                Ok(v) => {
                    self.equity.view = Some(v);
                    self.equity.error = None;
                }
                Err(e) => self.equity.error = Some(e.to_string()),
            },
            Reply::Queue { seq, result } => {
                if seq != self.approvals.seq {
                    return;
                }
                match result {
                    Ok(list) => self.approvals.apply(list),
                    Err(e) => {
                        self.approvals.entries = None;
                        self.approvals.error = Some(e.to_string());
                    }
                }
                self.rewatch();
            }
            Reply::Decided(result) => {
                match result {
                    Ok((a, grant)) => {
                        // The name as the request was decided: a live refresh of the queue
                        // may already have dropped the decided request.
                        let mut who = None;
                        if let Some(Popup::Decide(d)) = self.popups.last() {
                            if d.queued.approval.id == a.id {
                                who = Some(d.queued.customer_name.clone());
                            }
                            self.popups.pop();
                        }
                        let who = who
                            .or_else(|| {
                                self.approvals
                                    .entries
                                    .iter()
                                    .flatten()
                                    .find(|q| q.approval.id == a.id)
                                    .map(|q| q.customer_name.clone())
                            })
                            .unwrap_or_else(|| format!("customer {}", a.request.customer));
                        let line = match (&a.state, grant) {
                            (ApprovalState::Approved { changed: true, .. }, Some(g)) => format!(
                                "{} changed to {} {} for {who} (asked {}); {} sees it",
                                a.id, g.amount, g.instrument, a.request.amount, a.requested_by
                            ),
                            (_, Some(g)) => format!(
                                "{} approved: {} {} granted to {who}; {} sees it",
                                a.id, g.amount, g.instrument, a.requested_by
                            ),
                            (ApprovalState::Refused { .. }, None) => format!(
                                "{} refused: nothing granted; {} sees it on the record",
                                a.id, a.requested_by
                            ),
                            _ => format!("{} decided", a.id),
                        };
                        self.approvals.outcome = Some(clean(&line));
                        self.set_status(line, false);
                    }
                    Err(e) => {
                        if let Some(Popup::Decide(d)) = self.popups.last_mut() {
                            d.busy = false;
                            d.confirming = false;
                            d.problem = Some(e.to_string());
                        } else {
                            self.set_status(format!("Not decided: {e}"), true);
                        }
                    }
                }
                if self.screen == ScreenId::Approvals {
                    self.request_queue();
                }
            }
            Reply::GoodwillPolicy(result) => {
                if let Some(Popup::Goodwill(g)) = self.popups.last_mut() {
                    g.policy = Some(result.map_err(|e| e.to_string()));
                }
            }
            Reply::Goodwill { customer, result } => {
                let top_is_goodwill = matches!(self.popups.last(), Some(Popup::Goodwill(_)));
                match result {
                    Ok(GoodwillOutcome::Granted(g)) => {
                        if top_is_goodwill {
                            self.popups.pop();
                        }
                        self.set_status(
                            format!("Granted goodwill {}", grant_text(&g, self.now)),
                            false,
                        );
                    }
                    Ok(GoodwillOutcome::Queued(a)) => {
                        if top_is_goodwill {
                            self.popups.pop();
                        }
                        self.set_status(
                            format!(
                                "Sent for approval: {} {} {}; the decision will show here",
                                a.id, a.request.amount, a.request.instrument
                            ),
                            false,
                        );
                        self.awaiting.insert(a.id, customer);
                        self.rewatch();
                    }
                    Ok(GoodwillOutcome::Refused(g)) => {
                        if top_is_goodwill {
                            self.popups.pop();
                        }
                        self.popups.push(Popup::Message(Message {
                            title: "Refused: goodwill already given".into(),
                            lines: vec![
                                "Goodwill for this disruption was already given:".into(),
                                grant_text(&g, self.now),
                            ],
                            tone: Tone::Error,
                        }));
                    }
                    Err(e) => {
                        let above = matches!(&e, rapport_service::ServiceError::Forbidden { action, .. }
                            if action.contains("send it for approval"));
                        if let Some(Popup::Goodwill(g)) = self.popups.last_mut() {
                            g.busy = false;
                            g.problem = Some(e.to_string());
                            // Above the limit: offer to send the same request for approval.
                            g.above_limit = above;
                            g.confirming = above;
                        } else {
                            self.set_status(format!("Goodwill not given: {e}"), true);
                        }
                    }
                }
                if self.record.id == Some(customer) {
                    self.request_record(true);
                }
            }
            Reply::Waiting { customer, result } => {
                if self.record.id == Some(customer) {
                    // A failure leaves the line out; the history still shows the request.
                    self.record.waiting = result.unwrap_or_default();
                }
            }
            Reply::Outcomes { start, result } => {
                let Ok(list) = result else { return };
                if start {
                    let me = &self.session.operator;
                    for a in list.iter().filter(|a| &a.requested_by == me) {
                        self.awaiting.insert(a.id.clone(), a.request.customer);
                    }
                    self.rewatch();
                    return;
                }
                let mut told = Vec::new();
                for a in &list {
                    if !self.awaiting.contains_key(&a.id) || a.state == ApprovalState::Pending {
                        continue;
                    }
                    self.awaiting.remove(&a.id);
                    let who = match &self.record.record {
                        Some(r) if r.customer.id == a.request.customer => r.customer.display_name(),
                        _ => format!("customer {}", a.request.customer),
                    };
                    told.push(match &a.state {
                        ApprovalState::Approved {
                            by,
                            reason,
                            amount,
                            changed: false,
                            ..
                        } => format!(
                            "Goodwill approved by {by}: {amount} {} for {who}. {reason} ({})",
                            a.request.instrument, a.id
                        ),
                        ApprovalState::Approved {
                            by, reason, amount, ..
                        } => format!(
                            "Goodwill changed by {by}: {amount} {} (asked {}) for {who}. {reason} ({})",
                            a.request.instrument, a.request.amount, a.id
                        ),
                        ApprovalState::Refused { by, reason, .. } => format!(
                            "Goodwill refused by {by} for {who}: {reason} ({})",
                            a.id
                        ),
                        ApprovalState::Pending => continue,
                    });
                }
                if !told.is_empty() {
                    self.set_status(told.join(" | "), false);
                    self.rewatch();
                }
            }
            Reply::List { seq, name, result } => {
                if seq != self.seq.list {
                    return;
                }
                self.overview.loading = false;
                self.overview.list_name = Some(name);
                match result {
                    Ok(entries) => {
                        self.overview.entries = entries;
                        self.overview.list_error = None;
                    }
                    Err(e) => {
                        self.overview.entries.clear();
                        self.overview.list_error = Some(e.to_string());
                    }
                }
                self.overview.selected = 0;
            }
        }
    }

    fn attach(&mut self, sub: Subscription) {
        let Subscription {
            mut events,
            watching,
        } = sub;
        self.watching = Some(watching);
        self.rewatch();
        self.live = true;
        let tx = self.tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if tx.send(Event::Live(ev)).is_err() {
                    break;
                }
            }
        });
    }

    fn on_live(&mut self, ev: LiveEvent) {
        match ev {
            LiveEvent::Change(change) => {
                let shown = self.record.id;
                match change.change {
                    Change::CustomerRemoved {
                        customer,
                        merged_into: Some(into),
                    } if Some(customer) == shown => {
                        self.set_status(format!("{customer} was merged into {into}"), false);
                        self.open(into);
                    }
                    Change::Lagged => self.refresh_all(),
                    c => {
                        let Some(customer) = c.customer() else { return };
                        if Some(customer) == shown {
                            self.request_record(true);
                        }
                        // A request of this operator's may have been decided.
                        if self.awaiting.values().any(|c| *c == customer) {
                            self.request_outcomes(vec![customer]);
                        }
                        if self.screen == ScreenId::Approvals
                            && self.approvals.entries.as_ref().is_some_and(|l| {
                                l.iter().any(|q| q.approval.request.customer == customer)
                            })
                        {
                            self.request_queue();
                        }
                        // A passenger of the flight shown was compensated elsewhere.
                        if self.screen == ScreenId::Flight
                            && self.flight.view.as_ref().is_some_and(|v| {
                                v.passengers
                                    .iter()
                                    .any(|p| p.entry.affected.customer == customer)
                            })
                        {
                            self.request_flight();
                        }
                    }
                }
            }
            LiveEvent::Reconnecting { attempt } => {
                self.reconnecting = Some(attempt);
                self.live = false;
            }
            LiveEvent::Reconnected => {
                self.reconnecting = None;
                self.live = true;
                self.set_status("Reconnected: re-read what is shown", false);
                self.refresh_all();
            }
        }
    }

    fn refresh_all(&mut self) {
        if self.record.id.is_some() {
            self.request_record(true);
        }
        if self.screen == ScreenId::Overview {
            self.request_overview_tab();
        }
        if self.screen == ScreenId::Flight {
            self.request_flight();
        }
        if self.screen == ScreenId::Approvals {
            self.request_queue();
        }
        if !self.awaiting.is_empty() {
            let customers: std::collections::BTreeSet<CustomerId> =
                self.awaiting.values().copied().collect();
            self.request_outcomes(customers.into_iter().collect());
        }
    }

    pub(crate) fn view_ctx(&self) -> crate::view::ViewCtx<'_> {
        crate::view::ViewCtx {
            theme: &self.theme,
            keymap: &self.keymap,
            now: self.now,
            role: self.session.role,
        }
    }
}
