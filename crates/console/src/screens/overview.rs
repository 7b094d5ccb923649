//! The overview: tier distribution, value skew as a Lorenz curve, data-quality counts; and
//! the working lists, one tab each.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Cell, Chart, Dataset, GraphType, Paragraph, Row, Table, TableState, Tabs,
};

use rapport_core::Tier;
use rapport_service::{ListEntry, Overview};

use crate::fmt::{ago, clean, clean_opt, datetime, fit, percent, thousands};
use crate::theme::tier_badge;
use crate::view::ViewCtx;

/// The working lists the service knows, named as the scoring run stores them
/// (`rapport_analytics::ListName::as_str`; the service refuses any other name).
pub const LISTS: &[(&str, &str)] = &[
    (
        "complainers",
        "valuable customers who complained more than once this year",
    ),
    (
        "halved",
        "last year's large customers who ordered half or less this year",
    ),
    (
        "single-product",
        "customers who buy only one or two products",
    ),
    (
        "lost-valuable",
        "valuable customers lost in the last two years (win back)",
    ),
    ("at-risk", "valuable customers likely to leave"),
];

/// Figures and lists, loaded on demand.
#[derive(Debug, Default)]
pub struct OverviewScreen {
    /// 0 is the overview; 1.. are the working lists.
    pub tab: usize,
    /// The overview figures.
    pub overview: Option<Overview>,
    /// Overview error.
    pub error: Option<String>,
    /// Loading something.
    pub loading: bool,
    /// The entries of the list on the current tab.
    pub entries: Vec<ListEntry>,
    /// The list the entries belong to.
    pub list_name: Option<String>,
    /// List error.
    pub list_error: Option<String>,
    /// Selected list row.
    pub selected: usize,
}

impl OverviewScreen {
    /// The working list on the current tab, if any.
    pub fn list(&self) -> Option<&'static str> {
        self.tab
            .checked_sub(1)
            .and_then(|i| LISTS.get(i))
            .map(|(n, _)| *n)
    }

    /// Moves the list selection.
    pub fn move_by(&mut self, delta: isize) {
        if self.entries.is_empty() {
            self.selected = 0;
        } else {
            let last = self.entries.len() as isize - 1;
            self.selected = (self.selected as isize + delta).clamp(0, last) as usize;
        }
    }

    /// Draws the tabs and the current tab.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let [tabs_area, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        let titles: Vec<String> = std::iter::once("Overview")
            .chain(LISTS.iter().map(|(n, _)| *n))
            // Tabs pad each title with a space: six titles fit in 80 columns.
            .map(str::to_string)
            .collect();
        f.render_widget(
            Tabs::new(titles)
                .select(self.tab)
                .highlight_style(cx.theme.selected())
                .divider(if cx.theme.ascii { "|" } else { "│" }),
            tabs_area,
        );
        if self.tab == 0 {
            self.render_overview(f, body, cx);
        } else {
            self.render_list(f, body, cx);
        }
    }

    fn render_overview(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let th = cx.theme;
        let Some(ov) = &self.overview else {
            let line = match &self.error {
                Some(e) => Line::styled(format!(" {}", clean(e)), th.error()),
                None => Line::styled(" Loading the overview...", th.dim()),
            };
            f.render_widget(Paragraph::new(line), area);
            return;
        };
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Min(5)]).areas(area);
        let [tiers_area, chart_area] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(top);

        // Tier distribution as text bars: readable in ASCII and without colour.
        let scored: u64 = ov.tiers.values().sum();
        let bar_room = tiers_area.width.saturating_sub(24) as f64;
        let mut lines = vec![Line::styled(
            format!("Tiers: {} customers scored", thousands(scored as f64)),
            th.title(),
        )];
        for tier in [Tier::A, Tier::B, Tier::C, Tier::D] {
            let n = ov.tiers.get(&tier).copied().unwrap_or(0);
            let share = if scored > 0 {
                n as f64 / scored as f64
            } else {
                0.0
            };
            let len = (share * bar_room).round() as usize;
            lines.push(Line::from(vec![
                Span::styled(tier_badge(Some(tier)), th.tier(Some(tier))),
                Span::raw(" "),
                Span::styled(
                    th.bar_char().repeat(len),
                    th.tier(Some(tier))
                        .remove_modifier(ratatui::style::Modifier::REVERSED),
                ),
                Span::raw(format!(" {} ({})", thousands(n as f64), percent(share))),
            ]));
        }
        lines.push(Line::from(""));
        lines.push(Line::from(format!(
            "Customers {}{}interactions {}",
            thousands(ov.customers as f64),
            th.sep(),
            thousands(ov.interactions as f64)
        )));
        lines.push(Line::from(match ov.scored_at {
            Some(t) => format!("Scored {} ({})", datetime(t), ago(cx.now, t)),
            None => "Not scored yet: run `rapport score`".to_string(),
        }));
        f.render_widget(Paragraph::new(lines), tiers_area);

        let gini = ov.gini.map_or("-".to_string(), |g| format!("{g:.2}"));
        let block = Block::default()
            .borders(Borders::ALL)
            .border_set(th.border())
            .title(Span::styled(
                format!(" Value skew (Lorenz), Gini {gini} "),
                th.title(),
            ));
        let equality = [(0.0, 0.0), (1.0, 1.0)];
        let marker = if th.ascii {
            Marker::Dot
        } else {
            Marker::Braille
        };
        let curve: Vec<(f64, f64)> = ov
            .lorenz
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        if th.ascii {
            // Chart markers are not ASCII; plot the curve with `*` and the diagonal with `.`.
            let inner = block.inner(chart_area);
            f.render_widget(block, chart_area);
            f.render_widget(
                Paragraph::new(ascii_plot(&curve, inner.width, inner.height)),
                inner,
            );
        } else {
            let datasets = vec![
                Dataset::default()
                    .name("equality")
                    .marker(marker)
                    .graph_type(GraphType::Line)
                    .style(th.dim())
                    .data(&equality),
                Dataset::default()
                    .name("customers")
                    .marker(marker)
                    .graph_type(GraphType::Line)
                    .style(
                        th.tier(Some(Tier::A))
                            .remove_modifier(ratatui::style::Modifier::REVERSED),
                    )
                    .data(&curve),
            ];
            let chart = Chart::new(datasets)
                .block(block)
                .legend_position(None)
                .x_axis(
                    Axis::default()
                        .title("customers")
                        .bounds([0.0, 1.0])
                        .labels(["0", "50%", "100%"]),
                )
                .y_axis(
                    Axis::default()
                        .title("value")
                        .bounds([0.0, 1.0])
                        .labels(["0", "50%", "100%"]),
                );
            f.render_widget(chart, chart_area);
        }

        let [skew_area, quality_area] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(bottom);
        let mut skew = vec![Line::styled("Share of value from the top", th.title())];
        for (top_share, value_share) in &ov.top_shares {
            skew.push(Line::from(format!(
                "top {:>4}  {}",
                percent(*top_share),
                percent(*value_share)
            )));
        }
        f.render_widget(Paragraph::new(skew), skew_area);
        let mut quality = vec![Line::styled("Data quality", th.title())];
        let quarantined: u64 = ov.quarantine.values().sum();
        quality.push(Line::from(format!(
            "Quarantined rows {}",
            thousands(quarantined as f64)
        )));
        quality.push(Line::from(format!(
            "Merge reviews waiting {}",
            ov.reviews_pending
        )));
        for (reason, n) in ov
            .quarantine
            .iter()
            .take(quality_area.height.saturating_sub(3) as usize)
        {
            quality.push(Line::from(fit(
                &format!("  {:>6}  {}", thousands(*n as f64), clean(reason)),
                quality_area.width as usize,
            )));
        }
        f.render_widget(Paragraph::new(quality), quality_area);
    }

    fn render_list(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let th = cx.theme;
        let (name, about) = LISTS
            .get(self.tab.saturating_sub(1))
            .copied()
            .unwrap_or(("", ""));
        let [head, table_area] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        let shown = self.list_name.as_deref() == Some(name);
        let status = if let Some(e) = self.list_error.as_ref().filter(|_| shown) {
            Line::styled(format!(" {}", clean(e)), th.error())
        } else if !shown || self.loading {
            Line::styled(format!(" {about}: loading..."), th.dim())
        } else {
            Line::from(vec![
                Span::styled(format!(" {about}: "), th.label()),
                Span::raw(format!("{} on the list", self.entries.len())),
            ])
        };
        f.render_widget(Paragraph::new(status), head);
        if !shown {
            return;
        }
        let rows = self.entries.iter().map(|e| {
            let c = &e.customer;
            Row::new(vec![
                Cell::from(fit(&clean(&c.name), 40)),
                Cell::from(Span::styled(tier_badge(c.tier), th.tier(c.tier))),
                Cell::from(clean_opt(c.city.as_deref(), "-")),
                Cell::from(c.last_contact.map_or("-".to_string(), |t| ago(cx.now, t))),
                Cell::from(clean(&e.reason)),
            ])
        });
        let table = Table::new(
            rows,
            [
                Constraint::Fill(2),
                Constraint::Length(4),
                Constraint::Fill(1),
                Constraint::Length(12),
                Constraint::Fill(3),
            ],
        )
        .header(Row::new(["Name", "Tier", "City", "Last contact", "Why"]).style(th.label()))
        .row_highlight_style(th.selected())
        .highlight_symbol(if th.ascii { "> " } else { "▶ " });
        let mut state = TableState::default().with_selected(if self.entries.is_empty() {
            None
        } else {
            Some(self.selected)
        });
        f.render_stateful_widget(table, table_area, &mut state);
    }
}

/// A Lorenz curve in ASCII: `*` for the curve, `.` for the line of equality.
fn ascii_plot(points: &[(f64, f64)], w: u16, h: u16) -> Vec<Line<'static>> {
    let (w, h) = (w as usize, h as usize);
    if w < 2 || h < 2 {
        return Vec::new();
    }
    let mut grid = vec![vec![' '; w]; h];
    let cell = |x: f64, y: f64| {
        let cx = ((x.clamp(0.0, 1.0)) * (w - 1) as f64).round() as usize;
        let cy = h - 1 - ((y.clamp(0.0, 1.0)) * (h - 1) as f64).round() as usize;
        (cx, cy)
    };
    for i in 0..w {
        let x = i as f64 / (w - 1) as f64;
        let (cx, cy) = cell(x, x);
        grid[cy][cx] = '.';
    }
    for pair in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        for s in 0..=8 {
            let t = s as f64 / 8.0;
            let (cx, cy) = cell(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            grid[cy][cx] = '*';
        }
    }
    grid.into_iter()
        .map(|row| Line::styled(row.into_iter().collect::<String>(), Style::new()))
        .collect()
}
