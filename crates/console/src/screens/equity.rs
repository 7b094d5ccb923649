//! Customer equity for the executive and the chief customer officer: the sum of the
//! customers' lifetime values as of the latest scoring run, by portfolio and by tier, each as a
//! bar with its change since the run before, and the segment lifetime values.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use rapport_service::relationship::EquityView;

use crate::fmt::{ago, clean, fit, thousands};
use crate::view::ViewCtx;

/// The equity view, loaded when the screen opens.
#[derive(Debug, Default)]
pub struct EquityScreen {
    /// What the service returned.
    pub view: Option<EquityView>,
    /// Why it could not be read.
    pub error: Option<String>,
    /// Lines scrolled down.
    pub scroll: u16,
}

/// A bar of `width` cells for `value` of `max` (at least one cell for a positive value).
fn bar(value: f64, max: f64, width: usize, ch: &str) -> String {
    if max <= 0.0 || value <= 0.0 || width == 0 {
        return String::new();
    }
    let n = ((value / max) * width as f64).round() as usize;
    ch.repeat(n.clamp(1, width))
}

fn signed(x: f64) -> String {
    if x >= 0.0 {
        format!("+{}", thousands(x))
    } else {
        format!("-{}", thousands(-x))
    }
}

impl EquityScreen {
    /// Scrolls by `delta` lines.
    pub fn scroll_by(&mut self, delta: isize) {
        self.scroll = (self.scroll as isize).saturating_add(delta).clamp(0, 500) as u16;
    }

    /// Draws the screen.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let th = cx.theme;
        let Some(v) = &self.view else {
            let line = match &self.error {
                Some(e) => Line::styled(format!(" {}", clean(e)), th.error()),
                None => Line::styled(" Reading customer equity...", th.dim()),
            };
            f.render_widget(Paragraph::new(line), area);
            return;
        };
        let l = &v.latest;
        let w = area.width as usize;
        let mut lines = vec![Line::from(vec![
            Span::styled(
                format!(
                    " Customer equity {}{}",
                    thousands(l.total),
                    v.currency.map_or(String::new(), |c| format!(" {c}"))
                ),
                th.title(),
            ),
            Span::styled(
                fit(
                    &format!(
                        "  sum of {} customers' lifetime values, scoring run {} ({})",
                        l.customers,
                        ago(cx.now, l.scored_at),
                        clean(&l.model_version)
                    ),
                    w.saturating_sub(30),
                ),
                th.dim(),
            ),
        ])];
        let prev = v.previous.as_ref();
        lines.push(match prev {
            Some(p) => Line::from(vec![
                Span::styled(" Change since the run before ", th.label()),
                Span::raw(format!(
                    "{} (from {}, {})",
                    signed(l.total - p.total),
                    thousands(p.total),
                    ago(cx.now, p.scored_at)
                )),
            ]),
            None => Line::styled(
                " No earlier scoring run kept: the change shows after the next run.",
                th.dim(),
            ),
        });
        if let (Some(m), Some(s)) = (v.market, v.share) {
            lines.push(Line::from(format!(
                " Equity share {:.1}% of a market of {}",
                100.0 * s,
                thousands(m)
            )));
        }
        // Label 26, amount 12, change 12: the bar gets the rest, up to 40 cells.
        let bar_w = w.saturating_sub(56).min(40);
        let ch = th.bar_char();
        lines.push(Line::from(""));
        lines.push(Line::styled(" By portfolio (manager)", th.title()));
        let by_p = l.by_portfolio();
        let prev_p = prev.map(|p| p.by_portfolio());
        let max = by_p.values().copied().fold(0.0, f64::max);
        let mut rows: Vec<(&str, f64)> = by_p.iter().map(|(k, v)| (*k, *v)).collect();
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (p, e) in rows {
            let label = match v.portfolios.iter().find(|r| r.id == p) {
                Some(r) => format!("{} ({})", clean(&r.id), clean(&r.manager)),
                None => clean(p),
            };
            let change = prev_p
                .as_ref()
                .map(|pp| signed(e - pp.get(p).copied().unwrap_or(0.0)))
                .unwrap_or_default();
            lines.push(Line::from(vec![
                Span::raw(format!(" {:<25}", fit(&label, 25))),
                Span::raw(format!("{:>12} {:>11} ", thousands(e), change)),
                Span::styled(bar(e, max, bar_w, ch), th.ok()),
            ]));
        }
        lines.push(Line::from(""));
        lines.push(Line::styled(" By tier", th.title()));
        let by_t = l.by_tier();
        let prev_t = prev.map(|p| p.by_tier());
        let max = by_t.values().copied().fold(0.0, f64::max);
        for (t, e) in &by_t {
            let change = prev_t
                .as_ref()
                .map(|pp| signed(e - pp.get(t).copied().unwrap_or(0.0)))
                .unwrap_or_default();
            lines.push(Line::from(vec![
                Span::styled(format!(" {:<25}", format!("tier {t}")), th.tier(Some(*t))),
                Span::raw(format!("{:>12} {:>11} ", thousands(*e), change)),
                Span::styled(bar(*e, max, bar_w, ch), th.ok()),
            ]));
        }
        lines.push(Line::from(""));
        lines.push(Line::styled(
            " Segment lifetime value (average CLV x customers)",
            th.title(),
        ));
        for s in &v.segments {
            lines.push(Line::from(format!(
                " {:<12} {:>7} x {:>10} = {:>12}  {:>5.1}%",
                fit(&clean(&s.segment), 12),
                s.customers,
                thousands(s.average_clv),
                thousands(s.lifetime_value),
                100.0 * s.share
            )));
        }
        f.render_widget(Paragraph::new(lines).scroll((self.scroll, 0)), area);
    }
}
