//! Drawing the whole console from its state: header (operator, role, connection), the
//! screen, the footer (status or key hints), and the popups on top. Drawing never changes
//! the state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use rapport_core::Timestamp;
use rapport_governance::Role;
use rapport_service::{Mode, Service};

use crate::action::{Action, Context};
use crate::app::App;
use crate::fmt::clean;
use crate::keymap::Keymap;
use crate::popups::Popup;
use crate::screens::ScreenId;
use crate::theme::Theme;

/// What every part of the view needs besides its own state.
#[derive(Debug, Clone, Copy)]
pub struct ViewCtx<'a> {
    /// Colours and symbols.
    pub theme: &'a Theme,
    /// Keys, for hints.
    pub keymap: &'a Keymap,
    /// Now, for relative times.
    pub now: Timestamp,
    /// The session's role, to offer only what it may do.
    pub role: Role,
}

impl<S: Service> App<S> {
    /// Draws the console into the frame.
    pub fn view(&self, f: &mut Frame<'_>) {
        let cx = self.view_ctx();
        let area = f.area();
        let [header, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.header(f, header, &cx);
        match self.screen {
            ScreenId::Search => self.search.render(f, body, &cx),
            ScreenId::Record => self.record.render(f, body, &cx),
            ScreenId::Overview => self.overview.render(f, body, &cx),
            ScreenId::Assessment => self.assessment.render(f, body, &cx),
            ScreenId::Flight => self.flight.render(f, body, &cx),
            ScreenId::Equity => self.equity.render(f, body, &cx),
            ScreenId::Learning => self.learning.render(f, body, &cx),
            ScreenId::Approvals => self.approvals.render(f, body, &cx),
        }
        self.footer(f, footer, &cx);
        let who = self
            .record
            .record
            .as_ref()
            .map_or_else(String::new, |r| clean(&r.customer.display_name()));
        for popup in &self.popups {
            match popup {
                Popup::Help(p) => p.render(f, body, &cx),
                Popup::Palette(p) => p.render(f, body, &cx),
                Popup::Log(p) => p.render(f, body, &cx, &who),
                Popup::Grant(p) => p.render(f, body, &cx, &who),
                Popup::Preference(p) => p.render(f, body, &cx, &who),
                Popup::Questionnaire(p) => p.render(f, body, &cx),
                Popup::Note(p) => p.render(f, body, &cx, &who),
                Popup::Resolve(p) => p.render(f, body, &cx, &who),
                Popup::Message(p) => p.render(f, body, &cx),
                Popup::Detail(p) => p.render(f, body, &cx),
                Popup::Filter(p) => p.render(f, body, &cx),
                Popup::Offer(p) => p.render(f, body, &cx, &who),
                Popup::Goodwill(p) => p.render(f, body, &cx, &who),
                Popup::Decide(p) => p.render(f, body, &cx),
            }
        }
    }

    /// Where the operator works, as forms will record it (`at desk 4 (call_center) `).
    fn workplace(&self) -> String {
        match (&self.channel, self.touchpoint.trim()) {
            (Some(c), "") => format!("at {} ", clean(c)),
            (Some(c), t) => format!("at {} ({}) ", clean(t), clean(c)),
            (None, "") => String::new(),
            (None, t) => format!("at {} ", clean(t)),
        }
    }

    fn header(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let th = cx.theme;
        let s = &self.session;
        let mode = match &s.mode {
            Mode::Embedded { .. } => "local".to_string(),
            Mode::Remote { addr } => clean(addr),
        };
        let screen = match self.screen {
            ScreenId::Search => "Search",
            ScreenId::Record => "Record",
            ScreenId::Overview => "Overview",
            ScreenId::Assessment => "Stage",
            ScreenId::Flight => "Flight",
            ScreenId::Equity => "Equity",
            ScreenId::Learning => "Learning",
            ScreenId::Approvals => "Approvals",
        };
        let left = Line::from(vec![
            Span::styled(
                " Rapport ",
                th.bar().add_modifier(ratatui::style::Modifier::BOLD),
            ),
            Span::styled(format!(" {} ({}) ", clean(&s.operator), s.role), th.bar()),
            Span::styled(self.workplace(), th.bar()),
            Span::styled(
                format!("{}{mode}{}{screen} ", th.sep().trim_start(), th.sep()),
                th.bar(),
            ),
        ]);
        let right = match self.reconnecting {
            Some(n) => Span::styled(format!(" RECONNECTING (attempt {n}) "), th.error()),
            None if self.live => Span::styled(" live ", th.bar()),
            None => Span::styled(" not live ", th.bar()),
        };
        let rw = right.width() as u16;
        let [l, r] = Layout::horizontal([Constraint::Min(1), Constraint::Length(rw)]).areas(area);
        f.render_widget(Paragraph::new(left).style(th.bar()), l);
        f.render_widget(Paragraph::new(Line::from(right)).style(th.bar()), r);
    }

    fn footer(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let th = cx.theme;
        if let Some(st) = self.status.as_ref().filter(|s| s.until > self.now) {
            let style = if st.error { th.error() } else { th.ok() };
            f.render_widget(
                Paragraph::new(Line::styled(format!(" {}", st.text), style)),
                area,
            );
            return;
        }
        let hints: &[(Context, Action, &str)] = if !self.popups.is_empty() {
            &[]
        } else {
            match self.screen {
                ScreenId::Search => &[
                    (Context::Search, Action::Open, "open"),
                    (Context::Search, Action::Down, "next"),
                    (Context::Search, Action::Back, "back"),
                    (Context::Search, Action::Help, "help"),
                    (Context::Search, Action::Quit, "quit"),
                ],
                ScreenId::Record => &[
                    (Context::Global, Action::Search, "search"),
                    (Context::Record, Action::LogInteraction, "log"),
                    (Context::Record, Action::Grant, "grant"),
                    (Context::Record, Action::Preference, "pref"),
                    (Context::Record, Action::Note, "note"),
                    (Context::Record, Action::Flight, "flight"),
                    (Context::Record, Action::Offer, "offer"),
                    (Context::Global, Action::Help, "help"),
                    (Context::Global, Action::Quit, "quit"),
                    (Context::Global, Action::Palette, "cmd"),
                    (Context::Record, Action::Goodwill, "goodwill"),
                    (Context::Record, Action::Idea, "idea"),
                    (Context::Record, Action::FilterKind, "kind"),
                    (Context::Record, Action::FilterChannel, "channel"),
                    (Context::Global, Action::Overview, "overview"),
                ],
                ScreenId::Equity => &[
                    (Context::Global, Action::Refresh, "refresh"),
                    (Context::Navigation, Action::Down, "scroll"),
                    (Context::Global, Action::Back, "back"),
                    (Context::Global, Action::Overview, "overview"),
                    (Context::Global, Action::Help, "help"),
                    (Context::Global, Action::Quit, "quit"),
                ],
                ScreenId::Assessment => &[
                    (Context::Global, Action::Refresh, "assess again"),
                    (Context::Navigation, Action::Down, "scroll"),
                    (Context::Global, Action::Back, "back"),
                    (Context::Global, Action::Overview, "overview"),
                    (Context::Global, Action::Help, "help"),
                    (Context::Global, Action::Quit, "quit"),
                ],
                ScreenId::Flight => &[
                    (Context::Flight, Action::GrantFlight, "grant all"),
                    (Context::Navigation, Action::Open, "open"),
                    (Context::Flight, Action::NextTab, "next disruption"),
                    (Context::Global, Action::Back, "back"),
                    (Context::Global, Action::Refresh, "refresh"),
                    (Context::Global, Action::Help, "help"),
                    (Context::Global, Action::Quit, "quit"),
                ],
                ScreenId::Learning => &[
                    (Context::Overview, Action::NextTab, "next tab"),
                    (Context::Navigation, Action::Down, "scroll"),
                    (Context::Global, Action::Refresh, "refresh"),
                    (Context::Global, Action::Back, "back"),
                    (Context::Global, Action::Help, "help"),
                    (Context::Global, Action::Quit, "quit"),
                ],
                ScreenId::Approvals => &[
                    (Context::Approvals, Action::Approve, "approve"),
                    (Context::Approvals, Action::ChangeAmount, "change"),
                    (Context::Approvals, Action::RefuseApproval, "refuse"),
                    (Context::Navigation, Action::Open, "record"),
                    (Context::Global, Action::Refresh, "refresh"),
                    (Context::Global, Action::Back, "back"),
                    (Context::Global, Action::Quit, "quit"),
                ],
                ScreenId::Overview => &[
                    (Context::Overview, Action::NextTab, "next tab"),
                    (Context::Navigation, Action::Open, "open"),
                    (Context::Global, Action::Search, "search"),
                    (Context::Global, Action::Back, "back"),
                    (Context::Global, Action::Palette, "cmd"),
                    (Context::Global, Action::Help, "help"),
                    (Context::Global, Action::Quit, "quit"),
                ],
            }
        };
        let mut spans = Vec::new();
        let mut used = 0usize;
        for (ctx, action, word) in hints {
            if !crate::policy::offered(cx.role, *action) {
                continue;
            }
            let key = cx.keymap.hint(*ctx, *action);
            let w = key.chars().count() + word.chars().count() + 3;
            if used + w > area.width as usize {
                break;
            }
            used += w;
            spans.push(Span::styled(format!(" {key}"), th.title()));
            spans.push(Span::styled(format!(" {word} "), th.dim()));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }
}
