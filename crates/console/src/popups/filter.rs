//! The history's text filter: one input; the rows whose fields contain every word typed
//! (case-insensitive) stay. Empty clears the filter.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::input::TextInput;
use crate::popups::form::draw_box;
use crate::view::ViewCtx;

/// The text being typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterPopup {
    /// The input, starting with the filter in force (selected, so typing replaces it).
    pub input: TextInput,
}

impl FilterPopup {
    /// A filter input starting from `current`.
    pub fn new(current: &str) -> FilterPopup {
        let mut input = TextInput::default();
        input.set(current);
        input.select_all();
        FilterPopup { input }
    }

    /// Draws the input.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let th = cx.theme;
        let mut input = vec![Span::styled("Text ", th.label())];
        input.extend(self.input.spans(th));
        let lines = vec![
            Line::from(input),
            Line::from(""),
            Line::styled(
                "Rows whose fields contain every word stay (any case).",
                th.dim(),
            ),
            Line::styled("Enter applies, empty clears, Esc cancels.", th.dim()),
        ];
        draw_box(f, area, th, "Filter the history", lines, th.label());
    }
}
