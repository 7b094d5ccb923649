//! One history row in full: every field, every attribute and the whole text, wrapped. Opened
//! with Enter on a history row; scrolls when it is longer than the screen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use rapport_core::{Interaction, Phase};

use crate::fmt::{ago, amounts, clean, datetime};
use crate::popups::form::centered;
use crate::view::ViewCtx;

/// The row shown and how far it is scrolled.
#[derive(Debug, Clone, PartialEq)]
pub struct DetailPopup {
    /// The interaction.
    pub row: Interaction,
    /// Lines scrolled past.
    pub scroll: u16,
}

impl DetailPopup {
    /// The detail of `row`.
    pub fn new(row: Interaction) -> DetailPopup {
        DetailPopup { row, scroll: 0 }
    }

    /// The label/value lines (sanitised), in a fixed order, then the attributes by name and
    /// the text.
    pub fn lines(&self, cx: &ViewCtx<'_>) -> Vec<Line<'static>> {
        let th = cx.theme;
        let i = &self.row;
        let mut rows: Vec<(String, String)> = vec![
            (
                "When".into(),
                format!("{} UTC ({})", datetime(i.at), ago(cx.now, i.at)),
            ),
            ("Kind".into(), clean(i.kind.as_str())),
            ("Channel".into(), clean(i.channel.as_str())),
        ];
        let mut opt = |label: &str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                rows.push((label.to_string(), clean(&v)));
            }
        };
        opt("Touchpoint", i.touchpoint.clone());
        opt("Employee", i.employee.clone());
        opt("Division", i.division.clone());
        opt(
            "Phase",
            i.phase.map(|p| {
                match p {
                    Phase::Pre => "pre (before the purchase)",
                    Phase::During => "during",
                    Phase::Post => "post (after the purchase)",
                }
                .to_string()
            }),
        );
        opt("Amounts", Some(amounts(&i.amounts)));
        opt("Source", i.source.as_ref().map(|s| s.to_string()));
        rows.push(("Id".into(), format!("{} of {}", i.id, i.customer)));
        for (k, v) in &i.attributes {
            rows.push((clean(k), clean(&v.to_string())));
        }
        let width = rows
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0)
            .min(24);
        let mut lines: Vec<Line<'static>> = rows
            .into_iter()
            .map(|(l, v)| {
                Line::from(vec![
                    Span::styled(format!("{l:<width$}  "), th.label()),
                    Span::raw(v),
                ])
            })
            .collect();
        if let Some(text) = &i.text {
            lines.push(Line::from(""));
            lines.push(Line::styled("Text", th.label()));
            for para in text.lines() {
                lines.push(Line::from(clean(para)));
            }
        }
        lines
    }

    /// Draws the detail, wrapped to the box, from the scroll position.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let th = cx.theme;
        let mut lines = self.lines(cx);
        lines.push(Line::from(""));
        lines.push(Line::styled(
            format!(
                "{} scroll, {} close",
                cx.keymap.hint(
                    crate::action::Context::Navigation,
                    crate::action::Action::Down
                ),
                cx.keymap
                    .hint(crate::action::Context::Global, crate::action::Action::Back)
            ),
            th.dim(),
        ));
        let w = area.width.saturating_sub(4).clamp(20, 100);
        let inner = usize::from(w.saturating_sub(2)).max(1);
        let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
        let h = (rows as u16).saturating_add(2).min(area.height);
        let rect = centered(area, w, h);
        f.render_widget(Clear, rect);
        let title = format!(
            " {} {} ",
            clean(self.row.kind.as_str()),
            datetime(self.row.at)
        );
        let block = Block::default()
            .borders(Borders::ALL)
            .border_set(th.border())
            .border_style(th.label())
            .title(Span::styled(title, th.title()));
        f.render_widget(
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false })
                .scroll((self.scroll, 0)),
            rect,
        );
    }
}
