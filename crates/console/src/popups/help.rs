//! The help overlay: every key of every context, generated from the action table with the
//! operator's own key map. Actions the role may not take are marked, not hidden, so the
//! operator knows they exist.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::action::{BINDINGS, Context};
use crate::popups::form::centered;
use crate::view::ViewCtx;

/// The help overlay and its scroll position.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Help {
    /// First line shown.
    pub scroll: u16,
}

impl Help {
    /// All lines of the help text.
    pub fn lines(cx: &ViewCtx<'_>) -> Vec<Line<'static>> {
        let mut out = Vec::new();
        for ctx in Context::ALL {
            if !out.is_empty() {
                out.push(Line::from(""));
            }
            out.push(Line::styled(ctx.title().to_string(), cx.theme.title()));
            for b in BINDINGS.iter().filter(|b| b.context == ctx) {
                let keys = cx
                    .keymap
                    .keys_for(ctx, b.action)
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(" ");
                let offered = crate::policy::offered(cx.role, b.action);
                let mut spans = vec![
                    Span::styled(format!("  {keys:<22}"), cx.theme.title()),
                    Span::raw(b.doc.to_string()),
                ];
                if !offered {
                    spans.push(Span::styled(" (not for your role)", cx.theme.dim()));
                }
                out.push(Line::from(spans));
            }
        }
        out
    }

    /// Draws the overlay over most of the screen.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let rect = centered(area, 76, area.height.saturating_sub(2));
        f.render_widget(Clear, rect);
        let lines = Self::lines(cx);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_set(cx.theme.border())
            .title(Span::styled(
                " Keys (j/k scroll, Esc close) ",
                cx.theme.title(),
            ));
        f.render_widget(
            Paragraph::new(lines).block(block).scroll((self.scroll, 0)),
            rect,
        );
    }
}
