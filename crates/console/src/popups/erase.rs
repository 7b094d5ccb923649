//! Erase a customer's personal data: asks twice, naming the customer each time.

use rapport_core::CustomerId;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use crate::popups::form::draw_box;
use crate::view::ViewCtx;

/// The two-step confirmation of an erasure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasePopup {
    /// The customer to erase.
    pub customer: CustomerId,
    /// Its name as the record shows it (sanitised).
    pub name: String,
    /// The first Enter was pressed: the next one erases.
    pub confirming: bool,
    /// The request is on its way.
    pub busy: bool,
}

impl ErasePopup {
    /// The confirmation for `customer`, shown as `name`.
    pub fn new(customer: CustomerId, name: &str) -> ErasePopup {
        ErasePopup {
            customer,
            name: name.to_string(),
            confirming: false,
            busy: false,
        }
    }

    /// Draws the question of the current step.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let who = format!("{} ({})", self.name, self.customer);
        let mut lines = vec![
            Line::from(format!("Erase the personal data of {who}?")),
            Line::from("Names, contacts, notes and identifiers are destroyed for good;"),
            Line::from("interactions, amounts and dates stay under a pseudonym."),
            Line::from(""),
        ];
        if self.busy {
            lines.push(Line::styled("Erasing...", cx.theme.dim()));
        } else if self.confirming {
            lines.push(Line::styled(
                format!("Enter again to erase {who}. This cannot be undone. Esc to cancel."),
                cx.theme.error(),
            ));
        } else {
            lines.push(Line::styled(
                "Enter to continue (asks again), Esc to cancel.",
                cx.theme.dim(),
            ));
        }
        draw_box(
            f,
            area,
            cx.theme,
            "Erase personal data",
            lines,
            cx.theme.error(),
        );
    }
}
