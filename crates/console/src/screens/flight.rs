//! The flight view: a disruption with every passenger it affected, each with their tier,
//! what the policy entitles them to (care items included) and what they have received, so
//! "same delay, same compensation" can be seen and applied to the whole flight at once
//! (each grant still exactly once per customer).
//!
//! It opens from a customer's record on that customer's newest disruption; the other
//! disruptions on their record are a tab away.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};

use rapport_core::CustomerId;
use rapport_service::{DisruptionEntry, FlightGrant, FlightView, GrantOutcome, Passenger};

use crate::fmt::{ago, clean, datetime, wrap};
use crate::theme::tier_badge;
use crate::view::ViewCtx;

/// The flight screen's state.
#[derive(Debug, Default)]
pub struct FlightScreen {
    /// The customer whose record it was opened from.
    pub from: Option<CustomerId>,
    /// That customer's disruptions, newest first (the tabs).
    pub disruptions: Vec<DisruptionEntry>,
    /// Which of them is shown.
    pub index: usize,
    /// The disruption shown, with its passengers.
    pub view: Option<FlightView>,
    /// Why nothing can be shown.
    pub error: Option<String>,
    /// Selected passenger.
    pub selected: usize,
    /// The grant key was pressed once: the next press grants to the whole flight.
    pub confirming: bool,
    /// A whole-flight grant is under way.
    pub granting: bool,
    /// What the last whole-flight grant did, as one line.
    pub outcome: Option<String>,
}

impl FlightScreen {
    /// Starts over for the record of `customer` (its disruptions are requested next).
    pub fn open(&mut self, customer: CustomerId) {
        *self = FlightScreen {
            from: Some(customer),
            ..FlightScreen::default()
        };
    }

    /// The reference of the disruption to show, if the customer has any.
    pub fn current(&self) -> Option<String> {
        self.disruptions
            .get(self.index)
            .map(|e| e.disruption.id.to_string())
    }

    /// Moves to the next (or previous) of the customer's disruptions; whether it changed.
    pub fn cycle(&mut self, forward: bool) -> bool {
        let n = self.disruptions.len();
        if n < 2 {
            return false;
        }
        self.index = if forward {
            (self.index + 1) % n
        } else {
            (self.index + n - 1) % n
        };
        self.view = None;
        self.selected = 0;
        self.confirming = false;
        self.outcome = None;
        true
    }

    /// Moves the selection by `delta` rows.
    pub fn move_by(&mut self, delta: isize) {
        let n = self.view.as_ref().map_or(0, |v| v.passengers.len());
        if n == 0 {
            return;
        }
        self.selected = (self.selected as isize)
            .saturating_add(delta)
            .clamp(0, n as isize - 1) as usize;
    }

    /// The selected passenger's customer id.
    pub fn selected_customer(&self) -> Option<CustomerId> {
        self.view
            .as_ref()
            .and_then(|v| v.passengers.get(self.selected))
            .map(|p| p.entry.affected.customer)
    }

    /// Puts what a whole-flight grant made or found on the passengers' rows at once.
    pub fn apply(&mut self, done: &[FlightGrant]) {
        let Some(v) = self.view.as_mut() else {
            return;
        };
        for g in done {
            let grant = match &g.outcome {
                Some(GrantOutcome::Granted(x) | GrantOutcome::Refused(x)) => x,
                None => continue,
            };
            for p in v
                .passengers
                .iter_mut()
                .filter(|p| p.entry.affected.customer == g.customer)
            {
                p.entry.existing = Some(grant.clone());
                if let Some(e) = p.entry.entitlement.as_mut() {
                    e.existing = Some(grant.clone());
                }
            }
        }
    }

    /// Counts what a whole-flight grant did, for the screen and the status line.
    pub fn summarise(done: &[FlightGrant]) -> String {
        let (mut granted, mut refused, mut nothing) = (0, 0, 0);
        for g in done {
            match (&g.outcome, &g.problem) {
                (Some(GrantOutcome::Granted(_)), _) => granted += 1,
                (Some(GrantOutcome::Refused(_)), _) => refused += 1,
                _ => nothing += 1,
            }
        }
        format!(
            "Whole flight: {granted} granted now, {refused} already compensated (refused), \
             {nothing} not granted"
        )
    }

    /// Draws the screen.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let th = cx.theme;
        let Some(v) = &self.view else {
            let line = match &self.error {
                Some(e) => Line::styled(format!(" {}", clean(e)), th.error()),
                None => Line::styled(" Reading the disruption...", th.dim()),
            };
            f.render_widget(Paragraph::new(line), area);
            return;
        };
        let d = &v.disruption;
        let mut head = vec![Line::from(vec![
            Span::styled(format!(" {} {}", d.id, d.kind), th.title()),
            Span::raw(
                [
                    d.delay_minutes
                        .map(|m| format!(" {} h {:02}", m / 60, m % 60)),
                    d.route.as_ref().map(|r| format!(" {}", clean(r))),
                    d.cause.as_ref().map(|c| format!(", {}", clean(c))),
                ]
                .into_iter()
                .flatten()
                .collect::<String>(),
            ),
            Span::styled(format!("  {}", ago(cx.now, d.at)), th.dim()),
        ])];
        let compensated = v
            .passengers
            .iter()
            .filter(|p| received(p).is_some())
            .count();
        let mut summary = vec![Span::raw(format!(
            " {} passenger{}, {} compensated, {} not yet",
            v.passengers.len(),
            if v.passengers.len() == 1 { "" } else { "s" },
            compensated,
            v.passengers.len() - compensated
        ))];
        if self.disruptions.len() > 1 {
            summary.push(Span::styled(
                format!(
                    "  (disruption {} of {}; tab: next)",
                    self.index + 1,
                    self.disruptions.len()
                ),
                th.dim(),
            ));
        }
        head.push(Line::from(summary));
        let notice = if self.granting {
            Some(Line::styled(" Granting to the whole flight...", th.dim()))
        } else if self.confirming {
            let key = cx.keymap.hint(
                crate::action::Context::Flight,
                crate::action::Action::GrantFlight,
            );
            Some(Line::styled(
                format!(
                    " Grant every passenger not yet compensated what the policy entitles? \
                     {key} again to confirm, any other key cancels."
                ),
                th.error(),
            ))
        } else {
            self.outcome
                .as_ref()
                .map(|o| Line::styled(format!(" {}", clean(o)), th.ok()))
        };
        let notice_rows = match &notice {
            Some(n) => (n.width() as u16).div_ceil(area.width.max(1)),
            None => 0,
        };
        let [top, note, table_area] = Layout::vertical([
            Constraint::Length(head.len() as u16),
            Constraint::Length(notice_rows),
            Constraint::Min(1),
        ])
        .areas(area);
        f.render_widget(Paragraph::new(head), top);
        if let Some(n) = notice {
            f.render_widget(Paragraph::new(n).wrap(Wrap { trim: false }), note);
        }
        let wide = area.width >= 100;
        let (widths, header) = columns(wide);
        // The entitlement wraps within its column (care items whole), never cut.
        let selection = 2;
        let inner = Rect {
            width: table_area.width.saturating_sub(selection),
            ..table_area
        };
        let entitled_width = Layout::horizontal(widths.clone()).spacing(1).split(inner)[2].width;
        let rows = v.passengers.iter().map(|p| {
            let lines = entitled(p, usize::from(entitled_width));
            let height = lines.len().max(1) as u16;
            let mut cells = vec![
                Cell::from(clean(&p.name)),
                Cell::from(Span::styled(tier_badge(p.tier), th.tier(p.tier))),
                Cell::from(lines.into_iter().map(Line::from).collect::<Vec<_>>()),
            ];
            let got = match received(p) {
                Some(text) => Span::styled(text, th.ok()),
                None => Span::styled("nothing yet", th.dim()),
            };
            cells.push(Cell::from(got));
            if wide {
                cells.push(Cell::from(
                    p.entry
                        .existing
                        .as_ref()
                        .map(|g| {
                            clean(&format!(
                                "{} at {}, {} ({})",
                                g.granted_by,
                                g.touchpoint,
                                ago(cx.now, g.at),
                                datetime(g.at)
                            ))
                        })
                        .unwrap_or_default(),
                ));
            }
            Row::new(cells).height(height)
        });
        let table = Table::new(rows, widths)
            .header(Row::new(header).style(th.label()))
            .row_highlight_style(th.selected())
            .highlight_symbol(if th.ascii { "> " } else { "▶ " });
        let mut state = TableState::default().with_selected(if v.passengers.is_empty() {
            None
        } else {
            Some(self.selected)
        });
        f.render_stateful_widget(table, table_area, &mut state);
    }
}

/// The table's columns: name, tier, entitlement, what was received and, when wide, who
/// granted it where and when.
fn columns(wide: bool) -> (Vec<Constraint>, Vec<&'static str>) {
    let mut widths = vec![
        Constraint::Fill(2),
        Constraint::Length(4),
        Constraint::Fill(3),
        Constraint::Fill(2),
    ];
    let mut header = vec!["Passenger", "Tier", "Entitled", "Received"];
    if wide {
        widths.push(Constraint::Fill(3));
        header.push("By, where, when");
    }
    (widths, header)
}

/// What the policy entitles a passenger to, care items included, in lines of at most
/// `width` characters (each item kept whole where it fits a line).
fn entitled(p: &Passenger, width: usize) -> Vec<String> {
    let e = &p.entry;
    let mut items = vec![match (&e.entitlement, &e.not_entitled) {
        (Some(x), _) => format!("{} {}", x.instrument, x.amount),
        (None, Some(why)) => format!("nothing: {why}"),
        (None, None) => "nothing by policy".to_string(),
    }];
    items.extend(e.care.iter().map(|c| format!("+ {} {}", c.item, c.amount)));
    let mut lines: Vec<String> = Vec::new();
    for item in items.iter().map(|i| clean(i)) {
        match lines.last_mut() {
            Some(last) if last.chars().count() + 1 + item.chars().count() <= width => {
                last.push(' ');
                last.push_str(&item);
            }
            _ => lines.extend(wrap(&item, width)),
        }
    }
    lines
}

/// What a passenger has received for this disruption, if anything.
fn received(p: &Passenger) -> Option<String> {
    let g = p.entry.existing.as_ref().or_else(|| {
        p.entry
            .entitlement
            .as_ref()
            .and_then(|e| e.existing.as_ref())
    })?;
    Some(clean(&format!("{} {}", g.instrument, g.amount)))
}
