//! The approval queue: goodwill asked above its requester's limit, waiting for a supervisor
//! (a role whose limit covers it) or the customer's manager. Each row says who the customer
//! is, who asked, how much, why and how long ago; under the table, the selected request in
//! full with what this operator may do with it (the service works that out by the rules it
//! applies when the decision comes). Approve, change and refuse each ask for a reason in a
//! popup and go through the service, which decides each request once.
//!
//! A role that may not read the queue sees the service's refusal here, not an empty list.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};

use rapport_service::governance_ops::{ApprovalState, QueuedApproval};

use crate::action::{Action, Context};
use crate::fmt::{ago, clean, datetime, fit, wrap};
use crate::view::ViewCtx;

/// The approvals screen's state.
#[derive(Debug, Default)]
pub struct ApprovalsScreen {
    /// The requests waiting, oldest first (`None` until read).
    pub entries: Option<Vec<QueuedApproval>>,
    /// Why the queue cannot be shown (the service's refusal, or a failure).
    pub error: Option<String>,
    /// The selected row.
    pub selected: usize,
    /// Request number of the newest read (older answers are dropped).
    pub seq: u64,
    /// What the last decision made here did, as one line.
    pub outcome: Option<String>,
}

impl ApprovalsScreen {
    /// The selected request, if any.
    pub fn selected(&self) -> Option<&QueuedApproval> {
        self.entries.as_ref()?.get(self.selected)
    }

    /// Moves the selection.
    pub fn move_by(&mut self, delta: isize) {
        let n = self.entries.as_ref().map_or(0, Vec::len);
        if n == 0 {
            self.selected = 0;
            return;
        }
        self.selected = (self.selected as isize + delta).clamp(0, n as isize - 1) as usize;
    }

    /// Takes a fresh read of the queue, keeping the selection on the same request if it is
    /// still there.
    pub fn apply(&mut self, list: Vec<QueuedApproval>) {
        let keep = self.selected().map(|q| q.approval.id.clone());
        self.selected = keep
            .and_then(|id| list.iter().position(|q| q.approval.id == id))
            .unwrap_or(self.selected)
            .min(list.len().saturating_sub(1));
        self.entries = Some(list);
        self.error = None;
    }

    /// Draws the queue, the selected request in full and what the operator may do.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let th = cx.theme;
        if let Some(e) = &self.error {
            f.render_widget(
                Paragraph::new(Line::styled(format!(" {}", clean(e)), th.error()))
                    .wrap(Wrap { trim: false }),
                area,
            );
            return;
        }
        let Some(entries) = &self.entries else {
            f.render_widget(
                Paragraph::new(Line::styled(" Reading the approval queue...", th.dim())),
                area,
            );
            return;
        };
        let mut head = vec![Line::from(vec![
            Span::styled(" Goodwill waiting for approval: ", th.title()),
            Span::raw(format!(
                "{} request{}",
                entries.len(),
                if entries.len() == 1 { "" } else { "s" }
            )),
        ])];
        if let Some(o) = &self.outcome {
            head.push(Line::styled(format!(" {}", clean(o)), th.ok()));
        }
        if entries.is_empty() {
            head.push(Line::styled(
                " Nothing is waiting. Requests sent for approval from a record appear here.",
                th.dim(),
            ));
            f.render_widget(Paragraph::new(head), area);
            return;
        }
        let detail = self.detail(cx, area.width as usize);
        let [top, table_area, bottom] = Layout::vertical([
            Constraint::Length(head.len() as u16),
            Constraint::Min(3),
            Constraint::Length(detail.len() as u16),
        ])
        .areas(area);
        f.render_widget(Paragraph::new(head), top);
        let wide = area.width >= 100;
        let mut widths = vec![
            Constraint::Fill(3),
            Constraint::Fill(2),
            Constraint::Length(20),
            Constraint::Length(10),
        ];
        let mut header = vec!["Customer", "Asked by", "Amount", "Age"];
        if wide {
            widths.push(Constraint::Fill(4));
            header.push("Reason");
        }
        let rows = entries.iter().map(|q| {
            let a = &q.approval;
            let mut cells = vec![
                Cell::from(clean(&q.customer_name)),
                Cell::from(clean(&a.requested_by)),
                Cell::from(clean(&format!(
                    "{} {}",
                    a.request.amount, a.request.instrument
                ))),
                Cell::from(ago(cx.now, a.requested_at)),
            ];
            if wide {
                cells.push(Cell::from(clean(&a.request.reason)));
            }
            let style = if q.may_approve {
                ratatui::style::Style::new()
            } else {
                th.dim()
            };
            Row::new(cells).style(style)
        });
        let table = Table::new(rows, widths)
            .header(Row::new(header).style(th.label()))
            .row_highlight_style(th.selected())
            .highlight_symbol(if th.ascii { "> " } else { "▶ " });
        let mut state = TableState::default().with_selected(Some(self.selected));
        f.render_stateful_widget(table, table_area, &mut state);
        f.render_widget(Paragraph::new(detail), bottom);
    }

    /// The selected request in full: id, disruption, reason, policy version and what the
    /// operator may do, with the keys.
    fn detail(&self, cx: &ViewCtx<'_>, width: usize) -> Vec<Line<'static>> {
        let th = cx.theme;
        let Some(q) = self.selected() else {
            return Vec::new();
        };
        let a = &q.approval;
        let mut lines: Vec<Line<'static>> = Vec::new();
        let text = [
            format!(
                "{} {} {} for {} ({}), asked by {} ({}) {} ({} UTC), policy v{}",
                a.id,
                a.request.amount,
                a.request.instrument,
                q.customer_name,
                a.disruption,
                a.requested_by,
                a.requested_role,
                ago(cx.now, a.requested_at),
                datetime(a.requested_at),
                a.policy_version
            ),
            format!("Reason: {}", a.request.reason),
        ];
        for t in text {
            // Whole, over as many lines as it takes (the reason is what the decision rests on).
            for part in wrap(&clean(&t), width.saturating_sub(2).max(10))
                .into_iter()
                .take(4)
            {
                lines.push(Line::from(format!(" {part}")));
            }
        }
        let keys = |action| cx.keymap.hint(Context::Approvals, action);
        let what = match (&a.state, q.may_approve, q.may_refuse) {
            (ApprovalState::Pending, true, _) => Line::styled(
                fit(
                    &clean(&format!(
                        " {}: {} approve, {} change the amount, {} refuse",
                        q.why,
                        keys(Action::Approve),
                        keys(Action::ChangeAmount),
                        keys(Action::RefuseApproval)
                    )),
                    width,
                ),
                th.ok(),
            ),
            (ApprovalState::Pending, false, true) => Line::styled(
                fit(
                    &clean(&format!(" {} ({})", q.why, keys(Action::RefuseApproval))),
                    width,
                ),
                th.error(),
            ),
            _ => Line::styled(fit(&clean(&format!(" {}", q.why)), width), th.error()),
        };
        lines.push(what);
        lines
    }
}
