//! The search screen: type-ahead over name, phone, e-mail, loyalty number and booking
//! reference; results with enough to tell people apart.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use rapport_core::CustomerSummary;

use crate::fmt::{ago, clean, clean_opt, fit};
use crate::input::TextInput;
use crate::theme::tier_badge;
use crate::view::ViewCtx;

/// The query, the newest results and the selection.
#[derive(Debug, Default)]
pub struct SearchScreen {
    /// What the operator typed, with its cursor.
    pub input: TextInput,
    /// Results for `shown_query`.
    pub results: Vec<CustomerSummary>,
    /// The query the results belong to.
    pub shown_query: String,
    /// Selected row.
    pub selected: usize,
    /// A request for `query` is under way.
    pub searching: bool,
    /// The last error.
    pub error: Option<String>,
    /// How long the service took for the shown results.
    pub elapsed: Option<Duration>,
}

impl SearchScreen {
    /// The selected customer.
    pub fn selected(&self) -> Option<&CustomerSummary> {
        self.results.get(self.selected)
    }

    /// Moves the selection by `delta` rows, within the results.
    pub fn move_by(&mut self, delta: isize) {
        if self.results.is_empty() {
            self.selected = 0;
            return;
        }
        let last = self.results.len() as isize - 1;
        self.selected = (self.selected as isize + delta).clamp(0, last) as usize;
    }

    /// Draws the input line and the results table.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let [input, status, table] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(1),
        ])
        .areas(area);
        f.render_widget(
            Paragraph::new(Line::from(
                std::iter::once(Span::styled(" Search: ", cx.theme.title()))
                    .chain(self.input.spans(cx.theme))
                    .collect::<Vec<_>>(),
            )),
            input,
        );
        let status_line = if let Some(e) = &self.error {
            Line::styled(format!(" {}", clean(e)), cx.theme.error())
        } else if self.input.text().trim().is_empty() {
            Line::styled(
                " Type a name (typos are fine), phone, e-mail, loyalty number or booking reference.",
                cx.theme.dim(),
            )
        } else {
            let time = self
                .elapsed
                .map(|d| format!(" in {} ms", d.as_millis()))
                .unwrap_or_default();
            let busy = if self.searching {
                " (searching...)"
            } else {
                ""
            };
            Line::styled(
                format!(" {} found{time}{busy}", self.results.len()),
                cx.theme.dim(),
            )
        };
        f.render_widget(Paragraph::new(status_line), status);

        let wide = area.width >= 110;
        let header = if wide {
            vec![
                "Name",
                "Tier",
                "Kind",
                "City",
                "Last contact",
                "Matched",
                "Id",
            ]
        } else {
            vec!["Name", "Tier", "City", "Last contact", "Matched"]
        };
        let rows = self.results.iter().map(|c| {
            let name = fit(&clean(&c.name), 40);
            let tier = Span::styled(tier_badge(c.tier), cx.theme.tier(c.tier));
            let city = clean_opt(c.city.as_deref(), "-");
            let last = c.last_contact.map_or("-".to_string(), |t| ago(cx.now, t));
            let matched = clean(&c.matched);
            let mut cells = vec![Cell::from(name), Cell::from(tier)];
            if wide {
                cells.push(Cell::from(c.kind.as_str()));
            }
            cells.extend([Cell::from(city), Cell::from(last), Cell::from(matched)]);
            if wide {
                cells.push(Cell::from(c.id.to_string()));
            }
            Row::new(cells)
        });
        let widths: Vec<Constraint> = if wide {
            vec![
                Constraint::Fill(3),
                Constraint::Length(4),
                Constraint::Length(12),
                Constraint::Fill(2),
                Constraint::Length(12),
                Constraint::Length(10),
                Constraint::Length(10),
            ]
        } else {
            vec![
                Constraint::Fill(3),
                Constraint::Length(4),
                Constraint::Fill(2),
                Constraint::Length(12),
                Constraint::Length(9),
            ]
        };
        let table_widget = Table::new(rows, widths)
            .header(Row::new(header).style(cx.theme.label()))
            .row_highlight_style(cx.theme.selected())
            .highlight_symbol(if cx.theme.ascii { "> " } else { "▶ " });
        let mut state = TableState::default().with_selected(if self.results.is_empty() {
            None
        } else {
            Some(self.selected)
        });
        f.render_stateful_widget(table_widget, table, &mut state);
    }
}
