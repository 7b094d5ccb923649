//! The unified customer record: who, how valuable, what happened lately, what to do now, and
//! the whole interaction history, newest first. Fits 80x24 and shows more when larger.

use std::collections::{BTreeMap, BTreeSet};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use rapport_core::{
    Channel, ContactKind, CustomerId, CustomerRecord, Interaction, InteractionId, InteractionKind,
    Timestamp,
};

use crate::fmt::{
    ago, amounts, clean, clean_opt, date, datetime, detail, fit, percent, thousands, wrap,
};
use crate::screens::today::{Today, today};
use crate::theme::tier_badge;
use crate::view::ViewCtx;

/// How long a row changed at another terminal stays highlighted.
pub const HIGHLIGHT_MS: i64 = 5_000;

/// A group of kinds the history can be narrowed to in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Delays, cancellations, denied boardings, lost and delivered bags.
    Disruptions,
    /// Complaints.
    Complaints,
    /// Everything with money: bookings, purchases, refunds, payments, compensation.
    Money,
}

impl Group {
    /// The groups in the order the filter key cycles through them.
    pub const ALL: [Group; 3] = [Group::Disruptions, Group::Complaints, Group::Money];

    /// The kinds in the group.
    pub fn kinds(&self) -> Vec<InteractionKind> {
        use InteractionKind as K;
        match self {
            Group::Disruptions => vec![
                K::Delay,
                K::Cancellation,
                K::DeniedBoarding,
                K::BagLost,
                K::BagDelivered,
            ],
            Group::Complaints => vec![K::Complaint],
            Group::Money => vec![
                K::Booking,
                K::Purchase,
                K::Refund,
                K::Payment,
                K::CompensationGranted,
            ],
        }
    }

    /// The name in the history's title.
    pub fn name(&self) -> &'static str {
        match self {
            Group::Disruptions => "all disruptions",
            Group::Complaints => "all complaints",
            Group::Money => "all money",
        }
    }
}

/// The history's filter by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindFilter {
    /// A group of kinds.
    Group(Group),
    /// One kind.
    Kind(InteractionKind),
}

impl KindFilter {
    /// The kinds asked of the service.
    pub fn kinds(&self) -> Vec<InteractionKind> {
        match self {
            KindFilter::Group(g) => g.kinds(),
            KindFilter::Kind(k) => vec![k.clone()],
        }
    }

    /// The next filter after `current`: each group, then each kind seen, then none.
    pub fn next(
        current: &Option<KindFilter>,
        seen: &BTreeSet<InteractionKind>,
    ) -> Option<KindFilter> {
        let first_kind = || seen.iter().next().cloned().map(KindFilter::Kind);
        match current {
            None => Some(KindFilter::Group(Group::ALL[0])),
            Some(KindFilter::Group(g)) => {
                let i = Group::ALL.iter().position(|x| x == g).unwrap_or(0);
                match Group::ALL.get(i + 1) {
                    Some(n) => Some(KindFilter::Group(*n)),
                    None => first_kind(),
                }
            }
            Some(KindFilter::Kind(k)) => seen
                .range(k.clone()..)
                .nth(1)
                .cloned()
                .map(KindFilter::Kind),
        }
    }

    fn describe(&self) -> String {
        match self {
            KindFilter::Group(g) => g.name().to_string(),
            KindFilter::Kind(k) => format!("kind {k}"),
        }
    }
}

/// Whether `i` has every word of `filter` in one of its fields (any case).
pub fn matches_text(i: &Interaction, filter: &str) -> bool {
    let words: Vec<String> = filter.split_whitespace().map(str::to_lowercase).collect();
    if words.is_empty() {
        return true;
    }
    let mut hay = format!(
        "{} {} {} {} {} {} {}",
        i.kind,
        i.channel,
        i.touchpoint.as_deref().unwrap_or(""),
        i.employee.as_deref().unwrap_or(""),
        i.division.as_deref().unwrap_or(""),
        i.text.as_deref().unwrap_or(""),
        amounts(&i.amounts),
    );
    for (k, v) in &i.attributes {
        hay.push_str(&format!(" {k} {v}"));
    }
    let hay = hay.to_lowercase();
    words.iter().all(|w| hay.contains(w.as_str()))
}

/// The record being shown and how the operator looks at it.
#[derive(Debug, Default)]
pub struct RecordScreen {
    /// The customer shown (or being opened).
    pub id: Option<CustomerId>,
    /// The record, once it arrived.
    pub record: Option<CustomerRecord>,
    /// A request for the record is under way.
    pub loading: bool,
    /// The last error opening the record.
    pub error: Option<String>,
    /// The history rows loaded so far (filtered), newest first.
    pub history: Vec<Interaction>,
    /// Older rows exist beyond `history`.
    pub more: bool,
    /// A page of history is being loaded.
    pub loading_history: bool,
    /// Only this group of kinds, or this kind.
    pub kind_filter: Option<KindFilter>,
    /// Only rows whose fields contain every word of this text (any case); empty: all.
    pub text_filter: String,
    /// Only this channel.
    pub channel_filter: Option<Channel>,
    /// Kinds seen in this customer's history (for cycling the filter).
    pub kinds_seen: BTreeSet<InteractionKind>,
    /// Channels seen in this customer's history.
    pub channels_seen: BTreeSet<Channel>,
    /// Selected history row.
    pub selected: usize,
    /// Rows new since the last read, highlighted until the time given.
    pub changed: BTreeMap<InteractionId, Timestamp>,
    /// Grants new since the last read (by disruption), highlighted until the time given.
    pub changed_grants: BTreeMap<String, Timestamp>,
    /// The record itself changed (profile, preferences), highlighted until then.
    pub changed_at: Option<Timestamp>,
    /// Today's trip, from the newest unfiltered history.
    pub today: Option<Today>,
    /// Every offer for the customer and the next best action, once read (an error when the
    /// company has no offers loaded or the customer no portfolio: then nothing is shown).
    pub offers: Option<Result<rapport_service::relationship::OfferView, String>>,
    /// Goodwill for this customer waiting for approval (read with the record).
    pub waiting: Vec<rapport_service::governance_ops::Approval>,
}

impl RecordScreen {
    /// Starts showing another customer.
    pub fn open(&mut self, id: CustomerId) {
        *self = RecordScreen {
            id: Some(id),
            loading: true,
            ..RecordScreen::default()
        };
    }

    /// Applies a freshly read record; when `reload`, marks what is new as changed.
    pub fn apply(&mut self, record: CustomerRecord, reload: bool, now: Timestamp) {
        let until = now.plus_millis(HIGHLIGHT_MS);
        if reload && let Some(old) = &self.record {
            let old_ids: BTreeSet<InteractionId> = self.history.iter().map(|i| i.id).collect();
            for i in &record.interactions {
                if !old_ids.contains(&i.id) {
                    self.changed.insert(i.id, until);
                }
            }
            for g in &record.grants {
                if !old.grants.iter().any(|o| o.disruption == g.disruption) {
                    self.changed_grants.insert(g.disruption.clone(), until);
                }
            }
            if old.customer != record.customer {
                self.changed_at = Some(until);
            }
        }
        for i in &record.interactions {
            self.kinds_seen.insert(i.kind.clone());
            self.channels_seen.insert(i.channel.clone());
        }
        // Today's trip is read from the whole newest history: a filtered read keeps the panel.
        if self.kind_filter.is_none() && self.channel_filter.is_none() {
            self.today = today(&record.interactions, now);
        }
        // A re-read returns the newest page; keep older rows already loaded below it.
        let mut history = record.interactions.clone();
        history.retain(|i| matches_text(i, &self.text_filter));
        let mut more = record.more_interactions;
        if reload && let Some(oldest_new) = history.last().map(|i| (i.at, i.id)) {
            let older: Vec<Interaction> = self
                .history
                .iter()
                .filter(|i| (i.at, i.id) < oldest_new)
                .cloned()
                .collect();
            if !older.is_empty() {
                more = self.more;
            }
            history.extend(older);
        }
        if reload {
            // Keep the selection on the same row when new rows arrive on top.
            let added = history.len().saturating_sub(self.history.len());
            self.selected = (self.selected + added).min(history.len().saturating_sub(1));
            if self.selected == added {
                self.selected = 0;
            }
        }
        self.history = history;
        self.more = more;
        self.record = Some(record);
        self.loading = false;
        self.error = None;
    }

    /// Applies a page of history; `append` adds older rows below.
    pub fn apply_history(&mut self, mut rows: Vec<Interaction>, append: bool, limit: usize) {
        self.more = rows.len() >= limit;
        for i in &rows {
            self.kinds_seen.insert(i.kind.clone());
            self.channels_seen.insert(i.channel.clone());
        }
        rows.retain(|i| matches_text(i, &self.text_filter));
        if append {
            self.history.extend(rows);
        } else {
            self.history = rows;
            self.selected = 0;
        }
        self.loading_history = false;
    }

    /// Drops highlights whose moment has passed; true when something changed.
    pub fn expire(&mut self, now: Timestamp) -> bool {
        let before = self.changed.len() + self.changed_grants.len();
        self.changed.retain(|_, until| *until > now);
        self.changed_grants.retain(|_, until| *until > now);
        let expired_header = self.changed_at.is_some_and(|t| t <= now);
        if expired_header {
            self.changed_at = None;
        }
        expired_header || before != self.changed.len() + self.changed_grants.len()
    }

    /// The next value of a filter cycling `None -> each seen value -> None`.
    pub fn next_filter<T: Ord + Clone>(current: &Option<T>, seen: &BTreeSet<T>) -> Option<T> {
        match current {
            None => seen.iter().next().cloned(),
            Some(c) => seen.range(c.clone()..).nth(1).cloned(),
        }
    }

    /// Moves the selection; returns true when older history should be loaded.
    pub fn move_by(&mut self, delta: isize) -> bool {
        if self.history.is_empty() {
            self.selected = 0;
        } else {
            let last = self.history.len() as isize - 1;
            self.selected = (self.selected as isize + delta).clamp(0, last) as usize;
        }
        self.wants_more()
    }

    /// Whether the selection is near the end of what is loaded and more exists.
    pub fn wants_more(&self) -> bool {
        self.more && !self.loading_history && self.selected + 20 >= self.history.len()
    }

    /// Draws the record.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let Some(rec) = &self.record else {
            let text = match (&self.error, self.id) {
                (Some(e), _) => Line::styled(format!(" {}", clean(e)), cx.theme.error()),
                (None, Some(id)) => Line::styled(format!(" Opening {id}..."), cx.theme.dim()),
                (None, None) => {
                    Line::styled(" No customer open: press / to search.", cx.theme.dim())
                }
            };
            f.render_widget(Paragraph::new(text), area);
            return;
        };
        let wide = area.width >= 120 && area.height >= 32;
        let top_max = if wide {
            area.height * 2 / 5
        } else {
            area.height.saturating_sub(9).max(4)
        };
        let (left, right) = if wide {
            (
                self.summary_lines(rec, cx, area.width / 2, false, top_max.into()),
                self.detail_lines(rec, cx, (area.width - area.width / 2) as usize),
            )
        } else {
            (
                self.summary_lines(rec, cx, area.width, true, top_max.into()),
                Vec::new(),
            )
        };
        let top_h = (left.len().max(right.len()) as u16).min(top_max);
        let [top, hist] =
            Layout::vertical([Constraint::Length(top_h), Constraint::Min(3)]).areas(area);
        if wide {
            let [l, r] =
                Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(top);
            f.render_widget(Paragraph::new(left), l);
            f.render_widget(
                Paragraph::new(right).block(
                    Block::default()
                        .borders(Borders::LEFT)
                        .border_set(cx.theme.border())
                        .border_style(cx.theme.dim()),
                ),
                r,
            );
        } else {
            f.render_widget(Paragraph::new(left), top);
        }
        self.render_history(f, hist, cx, wide);
    }

    /// Who, value, cues, and (narrow) a compact digest of contacts, relations, preferences
    /// and grants.
    fn summary_lines(
        &self,
        rec: &CustomerRecord,
        cx: &ViewCtx<'_>,
        width: u16,
        compact: bool,
        room: usize,
    ) -> Vec<Line<'static>> {
        let th = cx.theme;
        let c = &rec.customer;
        let sep = th.sep();
        let mut lines = Vec::new();
        let tier = rec.scores.as_ref().map(|s| s.tier);
        let name_style = if self.changed_at.is_some() {
            th.changed()
        } else {
            th.title()
        };
        let mut title = vec![
            Span::styled(tier_badge(tier), th.tier(tier)),
            Span::raw(" "),
            Span::styled(clean(&c.display_name()), name_style),
            Span::styled(format!("  {} {}", c.kind, c.id), th.dim()),
        ];
        if let Some(status) = &c.profile.loyalty_status {
            title.push(Span::styled(
                format!("  {}", clean(&status.value)),
                th.label(),
            ));
        }
        if rec.masked {
            title.push(Span::styled("  (masked)", th.dim()));
        }
        let portfolio = match &rec.portfolio {
            Some(p) => format!("{} (mgr {})", clean(&p.name), clean(&p.manager)),
            None => "no portfolio".to_string(),
        };
        if compact {
            title.push(Span::styled(format!("{sep}{portfolio}"), th.label()));
        }
        lines.push(Line::from(title));

        match &rec.scores {
            Some(s) => {
                // Values are in the deployment's one currency, shown with every figure.
                let cur = rec
                    .value_currency
                    .map_or(String::new(), |c| format!(" {c}"));
                let mut money = vec![format!("CLV {}{cur}", thousands(s.clv))];
                let mut risk = vec![format!("P(alive) {}", percent(s.p_alive))];
                if let Some(churn) = s.churn {
                    risk.push(format!("churn {}", percent(churn)));
                }
                if s.top {
                    risk.push("top 5%".into());
                } else if s.bottom {
                    risk.push("bottom 20%".into());
                }
                // The tier's last move, from the scoring runs' history.
                if let Some(last) = rec.tier_history.last()
                    && let Some(from) = last.from
                {
                    risk.push(format!("{} since {} (was {from})", last.to, date(last.at)));
                }
                if compact {
                    money.extend(risk);
                    lines.push(Line::from(money.join(sep)));
                } else {
                    // Two lines on the wide layout's half-width column.
                    money.push(format!("value {}{cur}", thousands(s.value)));
                    money.push(format!("annual {}{cur}", thousands(s.annual_value)));
                    lines.push(Line::from(money.join(sep)));
                    risk.push(format!("segment {}", clean(&s.segment)));
                    lines.push(Line::from(risk.join(sep)));
                }
            }
            None => lines.push(Line::styled("not scored yet", th.dim())),
        }
        if !compact {
            lines.push(Line::from(vec![
                Span::styled("Portfolio ", th.label()),
                Span::raw(portfolio),
            ]));
            // The arms of running experiments (the control group's cue says what not to do).
            let arms: Vec<String> = rec
                .experiments
                .iter()
                .filter(|a| a.running(cx.now))
                .map(|a| {
                    if a.control {
                        format!("{} control group", clean(&a.experiment))
                    } else {
                        format!("{} arm {}", clean(&a.experiment), clean(&a.arm))
                    }
                })
                .collect();
            if !arms.is_empty() {
                lines.push(Line::from(vec![
                    Span::styled("Experiment ", th.label()),
                    Span::raw(arms.join(sep)),
                ]));
            }
        }
        // The next best action, after the portfolio's rules: recovery first, else the best
        // allowed offer with its reason (`O` presents it).
        if let Some(Ok(o)) = &self.offers {
            let text = crate::popups::offer::summary(&o.next);
            let style = match &o.next {
                rapport_governance::NextBestAction::Recover { .. } => th.error(),
                _ => th.ok(),
            };
            let wn = (width as usize).max(20);
            // One line: the today panel and the cues keep their room (`O` shows it whole).
            lines.push(Line::from(vec![
                Span::styled("Next ", th.label()),
                Span::styled(fit(&clean(&text), wn.saturating_sub(5)), style),
            ]));
        }

        let w = (width as usize).max(10);
        let mut today_rows: Vec<Line<'static>> = Vec::new();
        if let Some(t) = &self.today {
            let mut spans: Vec<Span<'static>> = Vec::new();
            let mut text_len = 0;
            let mut rows: Vec<Line<'static>> = Vec::new();
            for (label, value) in t.parts() {
                let piece = format!("{label} {value}  ");
                if text_len + piece.chars().count() > w && !spans.is_empty() {
                    rows.push(Line::from(std::mem::take(&mut spans)));
                    text_len = 0;
                }
                text_len += piece.chars().count();
                spans.push(Span::styled(format!("{label} "), th.label()));
                spans.push(Span::raw(fit(&format!("{value}  "), w)));
            }
            if !spans.is_empty() {
                rows.push(Line::from(spans));
            }
            today_rows = rows;
        }
        // Cues wrap (never cut); past the room for them, a count says how many are not shown.
        // They never push the today panel out of the room the screen gives the summary.
        let max_cue_lines = (if compact { 5 } else { 9 })
            .min(room.saturating_sub(lines.len() + today_rows.len()))
            .max(2);
        let mut used = 0;
        for (n, cue) in rec.cues.iter().enumerate() {
            let mark = match cue.level {
                rapport_core::CueLevel::Alert => "! ",
                rapport_core::CueLevel::Recognise => "* ",
                rapport_core::CueLevel::Info => "i ",
            };
            let wrapped = wrap(&clean(&cue.text), w - 2);
            let left = rec.cues.len() - n;
            let free = max_cue_lines - used;
            // The last free line goes to the count when cues remain after this one.
            let fits = wrapped.len() <= free && (left == 1 || wrapped.len() < free);
            if !fits {
                lines.push(Line::styled(
                    format!("  +{left} more cue{}", if left == 1 { "" } else { "s" }),
                    th.cue(cue.level),
                ));
                break;
            }
            used += wrapped.len();
            for (k, part) in wrapped.into_iter().enumerate() {
                let lead = if k == 0 { mark } else { "  " };
                lines.push(Line::styled(format!("{lead}{part}"), th.cue(cue.level)));
            }
        }
        lines.extend(today_rows);

        if compact {
            let now = cx.now;
            let mut contact: Vec<String> = Vec::new();
            for kind in [ContactKind::Phone, ContactKind::Email] {
                if let Some(cp) = c.current_contacts(kind, now).next() {
                    contact.push(clean(&cp.value));
                }
            }
            if let Some(city) = &c.profile.city {
                contact.push(clean(&city.value));
            }
            if let Some(l) = &c.profile.loyalty_number {
                contact.push(format!("#{}", clean(&l.value)));
            }
            if !contact.is_empty() {
                lines.push(Line::from(fit(&contact.join(sep), width as usize)));
            }
            let rel = relations(rec, sep);
            if !rel.is_empty() {
                lines.push(Line::from(vec![
                    Span::styled("Rel ", th.label()),
                    Span::raw(fit(&rel, width as usize - 4)),
                ]));
            }
            let prefs = preferences(rec, sep);
            if !prefs.is_empty() {
                lines.push(Line::from(vec![
                    Span::styled("Pref ", th.label()),
                    Span::raw(fit(&prefs, width as usize - 5)),
                ]));
            }
            for a in &self.waiting {
                lines.push(waiting_line(a, cx, width as usize));
            }
            for g in rec.grants.iter().take(2) {
                lines.push(self.grant_line(g, cx, width as usize));
            }
        } else {
            for a in &self.waiting {
                lines.push(waiting_line(a, cx, width as usize));
            }
            for g in rec.grants.iter().take(4) {
                lines.push(self.grant_line(g, cx, width as usize));
            }
        }
        lines
    }

    fn grant_line(
        &self,
        g: &rapport_core::CompensationGrant,
        cx: &ViewCtx<'_>,
        width: usize,
    ) -> Line<'static> {
        let text = format!(
            "Granted {} {} for {} by {} at {}, {}",
            clean(&g.instrument),
            g.amount,
            clean(&g.disruption),
            clean(&g.granted_by),
            clean(&g.touchpoint),
            ago(cx.now, g.at)
        );
        let style = if self.changed_grants.contains_key(&g.disruption) {
            cx.theme.changed()
        } else {
            cx.theme.label()
        };
        Line::styled(fit(&text, width), style)
    }

    /// The right column on wide screens: contacts, relationships, preferences, identifiers.
    fn detail_lines(
        &self,
        rec: &CustomerRecord,
        cx: &ViewCtx<'_>,
        width: usize,
    ) -> Vec<Line<'static>> {
        let th = cx.theme;
        let c = &rec.customer;
        let w = width.saturating_sub(3);
        let mut lines = vec![Line::styled("Contact", th.title())];
        let mut any = false;
        for cp in c.contacts.iter().filter(|cp| cp.is_current_at(cx.now)) {
            any = true;
            lines.push(Line::from(fit(
                &format!("{:<8}{}", cp.kind.to_string(), clean(&cp.value)),
                w,
            )));
        }
        if !any {
            lines.push(Line::styled("no current contact", th.dim()));
        }
        let mut facts = Vec::new();
        if let Some(city) = &c.profile.city {
            facts.push(clean(&city.value));
        }
        if let Some(country) = &c.profile.country {
            facts.push(clean(&country.value));
        }
        if let Some(l) = &c.profile.loyalty_number {
            facts.push(format!("loyalty {}", clean(&l.value)));
        }
        if let Some(b) = &c.profile.birth_date {
            facts.push(format!("born {}", b.value));
        }
        if !facts.is_empty() {
            lines.push(Line::from(fit(&facts.join(th.sep()), w)));
        }
        if !c.relationships.is_empty() {
            lines.push(Line::styled("Relationships", th.title()));
            for r in c.relationships.iter().take(RELATIONSHIP_LINES) {
                let name = rec
                    .related_names
                    .get(&r.other)
                    .map_or_else(|| r.other.to_string(), |n| clean(n));
                lines.push(Line::from(fit(
                    &format!("{}: {} ({})", clean(&r.kind.to_string()), name, r.other),
                    w,
                )));
            }
            if let Some(more) = more_relationships(c.relationships.len(), RELATIONSHIP_LINES) {
                lines.push(Line::styled(fit(&more, w), th.dim()));
            }
        }
        let prefs = c.current_preferences();
        if !prefs.is_empty() {
            lines.push(Line::styled("Preferences", th.title()));
            for p in prefs.values() {
                lines.push(Line::from(fit(
                    &format!(
                        "{}: {} ({}, {})",
                        clean(&p.topic),
                        clean(&p.value),
                        clean(&p.recorded_by),
                        date(p.at)
                    ),
                    w,
                )));
            }
        }
        lines.push(Line::from(vec![
            Span::styled("Sources ", th.label()),
            Span::raw(fit(
                &c.identifiers
                    .iter()
                    .map(|s| clean(&s.to_string()))
                    .collect::<Vec<_>>()
                    .join(", "),
                w.saturating_sub(8),
            )),
        ]));
        lines
    }

    fn render_history(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>, wide: bool) {
        let th = cx.theme;
        let mut filter = format!(
            "{}, {}",
            self.kind_filter
                .as_ref()
                .map_or("all kinds".to_string(), KindFilter::describe),
            self.channel_filter
                .as_ref()
                .map_or("all channels".to_string(), |c| format!("channel {c}")),
        );
        if !self.text_filter.is_empty() {
            filter.push_str(&format!(", text \"{}\"", clean(&self.text_filter)));
        }
        let count = if self.history.is_empty() {
            "none".to_string()
        } else {
            format!(
                "{} of {}{}",
                self.selected + 1,
                self.history.len(),
                if self.more { "+" } else { "" }
            )
        };
        let loading = if self.loading_history {
            " loading..."
        } else {
            ""
        };
        let title = format!(" History ({filter}) {count}{loading} ");
        let block = Block::default()
            .borders(Borders::TOP)
            .border_set(th.border())
            .border_style(th.dim())
            .title(Span::styled(title, th.title()));
        // The phase column only where the detail column keeps room (Enter shows both anyway).
        let with_phase = wide && area.width >= 150;
        let header: Vec<&str> = if wide {
            let mut h = vec!["When", "Channel", "Kind"];
            if with_phase {
                h.push("Phase");
            }
            h.extend(["Touchpoint", "Who", "Amounts", "Detail"]);
            h
        } else {
            vec!["When", "Channel", "Kind", "Touchpoint", "Who", "Amounts"]
        };
        let rows = self.history.iter().map(|i| {
            let when = if wide { datetime(i.at) } else { date(i.at) };
            let phase = i.phase.map_or("", |p| match p {
                rapport_core::Phase::Pre => "pre",
                rapport_core::Phase::During => "during",
                rapport_core::Phase::Post => "post",
            });
            let mut cells = vec![
                Cell::from(when),
                Cell::from(clean(i.channel.as_str())),
                Cell::from(clean(i.kind.as_str())),
            ];
            if with_phase {
                cells.push(Cell::from(phase));
            }
            cells.push(Cell::from(clean_opt(i.touchpoint.as_deref(), "")));
            cells.push(Cell::from(clean_opt(i.employee.as_deref(), "")));
            cells.push(Cell::from(amounts(&i.amounts)));
            if wide {
                cells.push(Cell::from(detail(i)));
            }
            let style = if self.changed.contains_key(&i.id) {
                th.changed()
            } else if i.kind.is_disruption() || i.kind == InteractionKind::Complaint {
                th.cue(rapport_core::CueLevel::Recognise)
            } else {
                Style::new()
            };
            Row::new(cells).style(style)
        });
        let widths: Vec<Constraint> = if wide {
            let mut w = vec![
                Constraint::Length(16),
                Constraint::Length(11),
                Constraint::Length(20),
            ];
            if with_phase {
                w.push(Constraint::Length(6));
            }
            w.extend([
                Constraint::Length(14),
                Constraint::Length(14),
                Constraint::Length(16),
                Constraint::Fill(1),
            ]);
            w
        } else {
            vec![
                Constraint::Length(10),
                Constraint::Length(11),
                Constraint::Length(20),
                Constraint::Fill(1),
                Constraint::Fill(1),
                Constraint::Length(15),
            ]
        };
        let table = Table::new(rows, widths)
            .header(Row::new(header).style(th.label()))
            .block(block)
            .column_spacing(1)
            .row_highlight_style(th.selected());
        let mut state = TableState::default().with_selected(if self.history.is_empty() {
            None
        } else {
            Some(self.selected)
        });
        f.render_stateful_widget(table, area, &mut state);
    }
}

/// Relationships listed on the record at most (a corporate account relates to thousands of
/// employees; the rest are counted).
const RELATIONSHIP_LINES: usize = 8;

/// The line after the listed relationships, when some are not listed.
/// One request waiting for approval: what, who asked, when, its id, for which disruption.
fn waiting_line(
    a: &rapport_service::governance_ops::Approval,
    cx: &ViewCtx<'_>,
    width: usize,
) -> Line<'static> {
    let text = format!(
        "Awaiting approval: {} {} by {}, {}, {} for {}",
        a.request.amount,
        clean(&a.request.instrument),
        clean(&a.requested_by),
        ago(cx.now, a.requested_at),
        a.id,
        clean(&a.disruption),
    );
    Line::styled(fit(&text, width), cx.theme.error())
}

fn more_relationships(total: usize, listed: usize) -> Option<String> {
    (total > listed).then(|| format!("and {} more", total - listed))
}

fn relations(rec: &CustomerRecord, sep: &str) -> String {
    let all = &rec.customer.relationships;
    let mut parts: Vec<String> = all
        .iter()
        .take(RELATIONSHIP_LINES)
        .map(|r| {
            let name = rec
                .related_names
                .get(&r.other)
                .map_or_else(|| r.other.to_string(), |n| clean(n));
            format!("{}: {}", clean(&r.kind.to_string()), name)
        })
        .collect();
    parts.extend(more_relationships(all.len(), RELATIONSHIP_LINES));
    parts.join(sep)
}

fn preferences(rec: &CustomerRecord, sep: &str) -> String {
    rec.customer
        .current_preferences()
        .values()
        .map(|p| format!("{} {}", clean(&p.topic), clean(&p.value)))
        .collect::<Vec<_>>()
        .join(sep)
}
