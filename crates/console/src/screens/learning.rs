//! The learning loop (#20): the hand-offs of the pipeline with their overdue flags, the
//! experiments with each arm's mean and 95% interval drawn as a chart, the campaigns' response
//! rates by list and list size, and the ideas (the analysts' queue, or the operator's own
//! ideas with what became of them). Each role sees the tabs it may read.

use std::cell::Cell;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use rapport_governance::handoff::StepState;
use rapport_governance::idea::IdeaState;
use rapport_governance::{Action as Request, Role, permission};
use rapport_service::learning::{
    CampaignReport, ExperimentResult, ExperimentSummary, HandoffsView, IdeaEntry,
};

use crate::fmt::{clean, date};
use crate::view::ViewCtx;

/// A tab of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// The pipeline's steps.
    Handoffs,
    /// Experiments and their results.
    Experiments,
    /// Campaign results.
    Campaigns,
    /// Ideas: the queue (analysts) or one's own.
    Ideas,
}

impl Tab {
    fn title(self, own_ideas: bool) -> &'static str {
        match self {
            Tab::Handoffs => "Hand-offs",
            Tab::Experiments => "Experiments",
            Tab::Campaigns => "Campaigns",
            Tab::Ideas if own_ideas => "My ideas",
            Tab::Ideas => "Ideas queue",
        }
    }
}

/// The tabs `role` may read, in order.
pub fn tabs(role: Role) -> Vec<Tab> {
    let may = |a| permission(role, a).allowed();
    let mut out = Vec::new();
    if may(Request::ReadHandoffs) {
        out.push(Tab::Handoffs);
    }
    if may(Request::ReadExperiments) {
        out.push(Tab::Experiments);
    }
    if may(Request::ReadCampaigns) {
        out.push(Tab::Campaigns);
    }
    out.push(Tab::Ideas);
    out
}

/// Whether `role` sees its own ideas rather than the queue.
pub fn own_ideas(role: Role) -> bool {
    !permission(role, Request::WorkIdeas).allowed()
}

/// An experiment with its results (none before anyone is assigned).
pub type ExperimentView = (ExperimentSummary, Option<ExperimentResult>);

/// What the screen loaded for a tab.
#[derive(Debug, Clone)]
pub enum Loaded {
    /// The hand-offs.
    Handoffs(HandoffsView),
    /// The experiments.
    Experiments(Vec<ExperimentView>),
    /// The campaigns.
    Campaigns(CampaignReport),
    /// The ideas.
    Ideas(Vec<IdeaEntry>),
}

/// The screen's state.
#[derive(Debug, Default)]
pub struct LearningScreen {
    /// Index into [`tabs`] of the role.
    pub tab: usize,
    /// What the current tab shows.
    pub loaded: Option<Loaded>,
    /// Why it could not be loaded.
    pub error: Option<String>,
    /// Lines scrolled down.
    pub scroll: u16,
    /// The newest request; older replies are dropped.
    pub seq: u64,
    max_scroll: Cell<u16>,
}

impl LearningScreen {
    /// The tab shown for `role`.
    pub fn current(&self, role: Role) -> Tab {
        let t = tabs(role);
        t[self.tab.min(t.len() - 1)]
    }

    /// Moves to the next (or previous) tab.
    pub fn cycle(&mut self, role: Role, forward: bool) {
        let n = tabs(role).len();
        self.tab = if forward {
            (self.tab + 1) % n
        } else {
            (self.tab + n - 1) % n
        };
        self.scroll = 0;
    }

    /// Scrolls by `delta` lines.
    pub fn scroll_by(&mut self, delta: isize) {
        let max = self.max_scroll.get() as isize;
        self.scroll = (self.scroll as isize).saturating_add(delta).clamp(0, max) as u16;
    }

    /// Draws the screen.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let th = cx.theme;
        let own = own_ideas(cx.role);
        let current = self.current(cx.role);
        let mut head = vec![Span::raw(" ")];
        for t in tabs(cx.role) {
            let style = if t == current {
                th.selected()
            } else {
                th.dim()
            };
            head.push(Span::styled(format!(" {} ", t.title(own)), style));
            head.push(Span::raw(" "));
        }
        let mut lines = vec![Line::from(head), Line::from("")];
        match (&self.loaded, &self.error) {
            (_, Some(e)) => lines.push(Line::styled(format!(" {}", clean(e)), th.error())),
            (None, None) => lines.push(Line::styled(" Loading...", th.dim())),
            (Some(Loaded::Handoffs(h)), None) => handoff_lines(h, cx, &mut lines),
            (Some(Loaded::Experiments(e)), None) => {
                let width = usize::from(area.width);
                experiment_lines(e, width, cx, &mut lines)
            }
            (Some(Loaded::Campaigns(c)), None) => campaign_lines(c, cx, &mut lines),
            (Some(Loaded::Ideas(i)), None) => idea_lines(i, own, cx, &mut lines),
        }
        let max = lines.len().saturating_sub(usize::from(area.height / 2)) as u16;
        self.max_scroll.set(max);
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((self.scroll.min(max), 0)),
            area,
        );
    }
}

fn handoff_lines(h: &HandoffsView, cx: &ViewCtx<'_>, lines: &mut Vec<Line<'static>>) {
    let th = cx.theme;
    lines.push(Line::styled(
        format!(
            " Pipeline led by {}: {} of {} steps on time ({})",
            clean(&h.status.leader),
            h.status.on_time.0,
            h.status.on_time.1,
            date(h.as_of)
        ),
        th.title(),
    ));
    for s in &h.status.steps {
        let last = s.last_done.map_or_else(|| "never".to_string(), date);
        let (state, style) = match s.state {
            StepState::OnTime { due } => (format!("on time, next due {}", date(due)), th.ok()),
            StepState::Overdue { days, .. } => (format!("OVERDUE by {days} days"), th.error()),
            StepState::Skipped { by, .. } => (
                format!("SKIPPED: {} went ahead", h.status.steps[by].name),
                th.error(),
            ),
            StepState::NeverDone => ("NEVER DONE".to_string(), th.error()),
        };
        lines.push(Line::from(vec![
            Span::raw(format!(
                " {}. {:<18} {:<10} last {:<11}",
                s.index + 1,
                clean(&s.name),
                clean(&s.owner),
                last
            )),
            Span::styled(state, style),
        ]));
    }
    if !h.flags.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::styled(" Flags", th.title()));
        for (to, msg) in &h.flags {
            lines.push(Line::styled(
                format!(" ! to {}: {}", clean(to), clean(msg)),
                th.error(),
            ));
        }
    }
}

/// One arm's interval as a chart on a shared scale: `─` over the interval, `●` at the mean,
/// `┆` at the control's mean.
fn interval_chart(
    low: f64,
    mean: f64,
    high: f64,
    control: f64,
    scale: (f64, f64),
    width: usize,
    ascii: bool,
) -> String {
    let pos = |x: f64| {
        let span = (scale.1 - scale.0).max(f64::EPSILON);
        (((x - scale.0) / span).clamp(0.0, 1.0) * (width - 1) as f64).round() as usize
    };
    let (l, m, h, c) = (pos(low), pos(mean), pos(high), pos(control));
    (0..width)
        .map(|i| {
            if i == m {
                if ascii { "o" } else { "●" }
            } else if i >= l && i <= h {
                if ascii { "-" } else { "─" }
            } else if i == c {
                if ascii { ":" } else { "┆" }
            } else {
                " "
            }
        })
        .collect()
}

fn experiment_lines(
    list: &[ExperimentView],
    width: usize,
    cx: &ViewCtx<'_>,
    lines: &mut Vec<Line<'static>>,
) {
    let th = cx.theme;
    if list.is_empty() {
        lines.push(Line::styled(
            " No experiment yet: `rapport experiment create` or `declare`.",
            th.dim(),
        ));
        return;
    }
    // Name, n, mean and interval take 50 columns; the chart gets the rest (10 to 40).
    let chart = width.saturating_sub(52).clamp(10, 40);
    for (s, result) in list {
        let d = &s.definition;
        lines.push(Line::from(vec![
            Span::styled(format!(" {}", clean(&d.id)), th.title()),
            Span::styled(
                format!(
                    "  {} over {} days, {} customers  {}",
                    d.outcome,
                    d.window_days,
                    s.assigned,
                    clean(&d.hypothesis)
                ),
                th.dim(),
            ),
        ]));
        let Some(r) = result else {
            lines.push(Line::styled("   defined: nobody assigned yet", th.dim()));
            lines.push(Line::from(""));
            continue;
        };
        let rep = &r.report;
        // The warnings first (preliminary: the outcome window is still open).
        for w in &rep.warnings {
            lines.push(Line::styled(
                format!("   ! {}", clean(&w.to_string())),
                th.error(),
            ));
        }
        let intervals: Vec<(f64, f64)> = rep
            .arms
            .iter()
            .filter_map(|a| a.interval.map(|i| (i.low, i.high)))
            .collect();
        let lo = intervals.iter().map(|i| i.0).fold(f64::INFINITY, f64::min);
        let hi = intervals
            .iter()
            .map(|i| i.1)
            .fold(f64::NEG_INFINITY, f64::max);
        let control = rep.arms.first().map_or(0.0, |a| a.mean);
        for a in &rep.arms {
            let (text, bar) = match a.interval {
                Some(i) if lo.is_finite() && hi.is_finite() => (
                    format!("[{:.3}, {:.3}]", i.low, i.high),
                    interval_chart(i.low, a.mean, i.high, control, (lo, hi), chart, th.ascii),
                ),
                _ => ("-".to_string(), String::new()),
            };
            lines.push(Line::from(vec![
                Span::raw(format!(
                    "   {:<16}{:>6} {:>8.3} {:>17}  ",
                    clean(&a.name),
                    a.n,
                    a.mean,
                    text
                )),
                Span::styled(bar, th.label()),
            ]));
        }
        for c in &rep.comparisons {
            let p = c.welch.map_or("-".into(), |w| format!("{:.4}", w.p_value));
            let profit = c
                .incremental_profit_per_customer
                .map_or(String::new(), |p| format!("  profit/customer {p:.2}"));
            lines.push(Line::styled(
                format!(
                    "   {} vs control: {:+.3}  p {}{}{}",
                    clean(&c.arm),
                    c.uplift,
                    p,
                    profit,
                    if c.better_than_control {
                        "  better"
                    } else {
                        ""
                    }
                ),
                if c.better_than_control {
                    th.ok()
                } else {
                    th.dim()
                },
            ));
        }
        if let Some(rec) = &rep.recommendation {
            lines.push(Line::styled(
                format!(
                    "   Recommendation: {}{} ({})",
                    clean(&rec.arm),
                    if rec.provisional { ", provisional" } else { "" },
                    clean(&rec.reason)
                ),
                th.title(),
            ));
        }
        lines.push(Line::from(""));
    }
}

fn rate(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.1}%", x * 100.0))
}

fn campaign_lines(r: &CampaignReport, cx: &ViewCtx<'_>, lines: &mut Vec<Line<'static>>) {
    let th = cx.theme;
    if r.lists.is_empty() {
        lines.push(Line::styled(" No campaign contact on record.", th.dim()));
        return;
    }
    lines.push(Line::styled(
        format!(" Response rate by list size ({})", r.currency),
        th.title(),
    ));
    let best = r
        .by_size
        .iter()
        .filter_map(|b| b.response_rate())
        .fold(0.0f64, f64::max)
        .max(f64::EPSILON);
    for b in &r.by_size {
        let len = (b.response_rate().unwrap_or(0.0) / best * 24.0).round() as usize;
        lines.push(Line::from(vec![
            Span::raw(format!(
                "   {:<9}{:>4} lists {:>6} contacted ",
                b.band, b.lists, b.contacted
            )),
            Span::styled(th.bar_char().repeat(len), th.label()),
            Span::raw(format!(" {}", rate(b.response_rate()))),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        format!(
            " {:<16} {:<22} {:>9} {:>7} {:>8} {:>8} {:>10}",
            "campaign", "list", "contacted", "rate", "held out", "rate", "revenue"
        ),
        th.title(),
    ));
    for l in &r.lists {
        lines.push(Line::from(format!(
            " {:<16} {:<22} {:>9} {:>7} {:>8} {:>8} {:>10.0}",
            clean(&l.campaign),
            clean(&l.list),
            l.contacted,
            rate(l.response_rate()),
            l.held_out,
            rate(l.holdout_rate()),
            l.revenue
        )));
    }
}

fn idea_lines(list: &[IdeaEntry], own: bool, cx: &ViewCtx<'_>, lines: &mut Vec<Line<'static>>) {
    let th = cx.theme;
    if list.is_empty() {
        lines.push(Line::styled(
            if own {
                " You have passed on no idea yet (d on a record)."
            } else {
                " The queue is empty."
            },
            th.dim(),
        ));
        return;
    }
    for e in list {
        let i = &e.idea;
        let about = match (i.customer, &e.customer_name) {
            (Some(c), Some(n)) => format!(
                " on {c} {}{}",
                clean(n),
                e.tier.map(|t| format!(" (tier {t})")).unwrap_or_default()
            ),
            (Some(c), None) => format!(" on {c}"),
            _ => String::new(),
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" #{}", i.id), th.title()),
            Span::styled(
                format!(" {} by {}{}", date(i.created), clean(&i.author), about),
                th.dim(),
            ),
        ]));
        lines.push(Line::from(format!("   {}", clean(&i.text))));
        let mut meta = Vec::new();
        if !i.tags.is_empty() {
            meta.push(format!("tags {}", clean(&i.tags.join(", "))));
        }
        for l in &i.links {
            meta.push(format!("{} {}", l.kind.as_str(), clean(&l.target)));
        }
        if !meta.is_empty() {
            lines.push(Line::styled(format!("   {}", meta.join("; ")), th.dim()));
        }
        match &i.state {
            IdeaState::Open => lines.push(Line::styled("   open", th.dim())),
            IdeaState::Closed { outcome, by, at } => lines.push(Line::styled(
                format!(
                    "   closed {} by {}: {}",
                    date(*at),
                    clean(by),
                    clean(outcome)
                ),
                th.ok(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_puts_the_mean_inside_its_interval_on_a_shared_scale() {
        let c = interval_chart(0.4, 0.5, 0.6, 0.2, (0.0, 1.0), 11, true);
        assert_eq!(c, "  : -o-    ");
        // Tabs by role: the front line sees its own ideas only.
        assert_eq!(tabs(Role::FrontLine), vec![Tab::Ideas]);
        assert!(own_ideas(Role::FrontLine) && !own_ideas(Role::Analyst));
        assert_eq!(tabs(Role::Analyst).len(), 4);
    }
}
