//! The command palette: type part of an action's name or description, Enter runs it.
//! `open C00000042` opens a customer by id.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState};

use rapport_core::CustomerId;

use crate::action::{Action, BINDINGS};
use crate::fmt::clean;
use crate::popups::form::centered;
use crate::view::ViewCtx;

/// What a palette entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Run an action as if its key was pressed.
    Run(Action),
    /// Open a customer by id.
    Open(CustomerId),
}

/// The palette's filter text and selection.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Palette {
    /// What was typed.
    pub input: String,
    /// Selected entry.
    pub selected: usize,
}

impl Palette {
    /// The entries matching the input, for this role.
    pub fn entries(&self, cx: &ViewCtx<'_>) -> Vec<(Command, String)> {
        let needle = self.input.trim().to_lowercase();
        let mut out = Vec::new();
        let id_text = needle
            .strip_prefix("open")
            .map_or(needle.as_str(), str::trim);
        if let Ok(id) = id_text.parse::<CustomerId>() {
            out.push((Command::Open(id), format!("open {id}")));
        }
        let mut seen = Vec::new();
        for b in BINDINGS {
            if !b.action.in_palette()
                || seen.contains(&b.action)
                || !crate::policy::offered(cx.role, b.action)
                || b.context.takes_text()
            {
                continue;
            }
            seen.push(b.action);
            let text = format!(
                "{:<15} {} [{}]",
                b.action.name(),
                b.doc,
                cx.keymap.hint(b.context, b.action)
            );
            if needle.is_empty() || text.to_lowercase().contains(&needle) {
                out.push((Command::Run(b.action), text));
            }
        }
        out
    }

    /// The command under the selection.
    pub fn chosen(&self, cx: &ViewCtx<'_>) -> Option<Command> {
        self.entries(cx).get(self.selected).map(|(c, _)| *c)
    }

    /// Draws the palette near the top.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let entries = self.entries(cx);
        let h = (entries.len() as u16 + 3).clamp(4, area.height.saturating_sub(2).max(4));
        let mut rect = centered(area, 72, h);
        rect.y = area.y + 1;
        f.render_widget(Clear, rect);
        let items: Vec<ListItem<'_>> = entries
            .iter()
            .map(|(_, t)| ListItem::new(Line::from(t.clone())))
            .collect();
        let title = Line::from(vec![
            Span::styled(" :", cx.theme.title()),
            Span::raw(clean(&self.input)),
            Span::styled("_ ", cx.theme.selected()),
        ]);
        let list = List::new(items)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_set(cx.theme.border())
                    .title(title),
            )
            .highlight_style(cx.theme.selected());
        let mut state = ListState::default().with_selected(Some(self.selected));
        f.render_stateful_widget(list, rect, &mut state);
    }
}
