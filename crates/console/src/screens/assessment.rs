//! The stage assessment: where the organisation stands on the four stages of customer focus,
//! each stage's measures as bars against their thresholds, the constituencies' answers side
//! by side, and the warnings and next steps.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use rapport_governance::assessment::{Direction, Measure, format_value};
use rapport_service::AssessmentEntry;

use crate::fmt::{ago, clean};
use crate::view::ViewCtx;

/// The days of evidence the screen asks for.
pub const PERIOD_DAYS: u32 = 90;

/// The latest assessment, loaded when the screen opens (each load is kept in the history).
#[derive(Debug, Default)]
pub struct AssessmentScreen {
    /// The assessment shown.
    pub entry: Option<AssessmentEntry>,
    /// Why it could not be made.
    pub error: Option<String>,
    /// Lines scrolled down.
    pub scroll: u16,
    /// How far the last drawing could scroll (its lines less half the screen).
    max_scroll: std::cell::Cell<u16>,
}

impl AssessmentScreen {
    /// Scrolls by `delta` lines.
    pub fn scroll_by(&mut self, delta: isize) {
        let max = self.max_scroll.get() as isize;
        self.scroll = (self.scroll as isize).saturating_add(delta).clamp(0, max) as u16;
    }

    /// Draws the screen.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let th = cx.theme;
        let Some(e) = &self.entry else {
            let line = match &self.error {
                Some(err) => Line::styled(format!(" {}", clean(err)), th.error()),
                None => Line::styled(" Assessing the evidence...", th.dim()),
            };
            f.render_widget(Paragraph::new(line), area);
            return;
        };
        let r = &e.report;
        let answers_width = if r.answers.is_some() && area.width >= 100 {
            36
        } else {
            0
        };
        let [left, right] =
            Layout::horizontal([Constraint::Min(40), Constraint::Length(answers_width)])
                .areas(area);
        let mut lines = vec![Line::from(vec![
            Span::styled(
                format!(" Stage {} of 4: {}", r.stage, r.stage_name),
                th.title(),
            ),
            Span::styled(
                format!(
                    "  evidence of the last {} days, assessed {}",
                    e.period_days,
                    ago(cx.now, e.at)
                ),
                th.dim(),
            ),
        ])];
        // Mark, label, value and goal take 62 columns; the bar gets the rest (none when
        // fewer than 6 columns are left).
        let bar = usize::from(left.width.saturating_sub(62)).min(30);
        let bar = if bar < 6 { 0 } else { bar };
        for s in &r.stages {
            lines.push(Line::from(""));
            lines.push(Line::from(vec![
                Span::styled(
                    format!(" {} {:<10}", s.stage.number(), s.stage.as_str()),
                    th.title(),
                ),
                Span::raw(format!(" {} of {} met  ", s.met, s.of)),
                if s.holds {
                    Span::styled("holds", th.ok())
                } else {
                    Span::styled("does not hold", th.error())
                },
            ]));
            for m in &s.measures {
                lines.push(measure_line(m, bar, cx));
            }
        }
        if let Some(a) = &r.answers
            && answers_width == 0
        {
            lines.push(Line::from(""));
            lines.push(Line::styled(
                format!(
                    " Answers: {} respondents, maturity {} of 5",
                    a.respondents,
                    a.maturity.map_or("-".into(), |m| format!("{m:.1}"))
                ),
                th.title(),
            ));
        }
        if !r.warnings.is_empty() {
            lines.push(Line::from(""));
            lines.push(Line::styled(" Warnings", th.title()));
            for w in &r.warnings {
                lines.push(Line::styled(format!(" ! {}", clean(w)), th.error()));
            }
        }
        if !r.next_steps.is_empty() {
            lines.push(Line::from(""));
            lines.push(Line::styled(" Next steps", th.title()));
            for s in &r.next_steps {
                lines.push(Line::from(format!(" - {}", clean(s))));
            }
        }
        let max = lines.len().saturating_sub(usize::from(left.height / 2)) as u16;
        self.max_scroll.set(max);
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((self.scroll.min(max), 0)),
            left,
        );
        if answers_width > 0
            && let Some(a) = &r.answers
        {
            let mut lines = vec![Line::styled(
                format!(
                    "Answers ({} respondents, {:.1}/5)",
                    a.respondents,
                    a.maturity.unwrap_or_default()
                ),
                th.title(),
            )];
            lines.push(Line::styled("maturity 1-5 by constituency", th.dim()));
            for (c, s) in &a.by_constituency {
                let m = s.maturity.unwrap_or(0.0);
                let len = ((m / 5.0) * 14.0).round() as usize;
                lines.push(Line::from(vec![
                    Span::raw(format!("{:<11}", c.as_str())),
                    Span::styled(th.bar_char().repeat(len), th.label()),
                    Span::raw(format!(" {m:.1} ({})", s.respondents)),
                ]));
            }
            f.render_widget(Paragraph::new(lines), right);
        }
    }
}

/// `[x] duplicate-rate     7.1%  goal <= 5.0%  ████|░░` with the bar filled to the value and
/// a mark at the threshold.
fn measure_line(m: &Measure, bar: usize, cx: &ViewCtx<'_>) -> Line<'static> {
    let th = cx.theme;
    let value = m
        .value
        .map_or_else(|| "not measured".to_string(), |v| format_value(&m.unit, v));
    let goal = format!(
        "{} {}",
        match m.direction {
            Direction::AtLeast => ">=",
            Direction::AtMost => "<=",
        },
        format_value(&m.unit, m.threshold)
    );
    // The scale runs to twice the threshold (or 1 for shares), so the mark sits mid-bar.
    let scale = if m.unit == "share" {
        1.0
    } else {
        (m.threshold * 2.0).max(1.0)
    };
    let filled = m.value.map_or(0, |v| {
        ((v / scale).clamp(0.0, 1.0) * bar as f64).round() as usize
    });
    let mark = ((m.threshold / scale).clamp(0.0, 1.0) * bar as f64).round() as usize;
    let mut chart = String::new();
    for i in 0..bar {
        chart.push_str(if i == mark.min(bar - 1) {
            "|"
        } else if i < filled {
            th.bar_char()
        } else if th.ascii {
            "."
        } else {
            "░"
        });
    }
    Line::from(vec![
        Span::styled(
            format!("   [{}] ", if m.met { "x" } else { " " }),
            if m.met { th.ok() } else { th.dim() },
        ),
        Span::raw(format!("{:<24}{:>13}  {:<12} ", m.id, value, goal)),
        Span::styled(chart, if m.met { th.ok() } else { th.error() }),
    ])
}
