//! The login screen, shown when the console connects to a server: operator name and
//! password, checked by the server.

use std::future::Future;

use ratatui::layout::{Constraint, Layout};
use ratatui::text::Line;
use ratatui::{Frame, Terminal, backend::Backend};
use tokio::sync::mpsc::UnboundedReceiver;

use rapport_service::ServiceResult;

use crate::action::{Action, Context};
use crate::error::ConsoleError;
use crate::event::Event;
use crate::fmt::clean;
use crate::keymap::Keymap;
use crate::popups::form::{Field, Form, Value, draw_box};
use crate::theme::Theme;

/// The login form and the last failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginScreen {
    /// The server's address, shown to the operator.
    pub addr: String,
    /// Operator and password.
    pub form: Form,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// Connecting.
    pub busy: bool,
}

/// What a key did on the login screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    /// Keep going.
    Continue,
    /// Try these credentials.
    Submit(String, String),
    /// Give up.
    Quit,
}

impl LoginScreen {
    /// A login form for `addr`, with the operator name filled in when known.
    pub fn new(addr: &str, user: Option<&str>) -> LoginScreen {
        let mut password = Field::text("Password", "");
        password.secret = true;
        let mut form = Form::new(vec![Field::text("Operator", user.unwrap_or("")), password]);
        if user.is_some_and(|u| !u.is_empty()) {
            form.focus = 1;
        }
        LoginScreen {
            addr: addr.to_string(),
            form,
            error: None,
            busy: false,
        }
    }

    /// Applies a key.
    pub fn key(&mut self, keymap: &Keymap, key: &crossterm::event::KeyEvent) -> LoginStep {
        if self.busy {
            return LoginStep::Continue;
        }
        match keymap.lookup(&[Context::Form], key) {
            Some(Action::Quit | Action::Back) => LoginStep::Quit,
            Some(Action::Submit) => {
                let user = self.form.get("Operator").trim().to_string();
                if user.is_empty() {
                    self.error = Some("Type your operator name.".into());
                    self.form.focus = 0;
                    return LoginStep::Continue;
                }
                if self.form.focus == 0 {
                    self.form.focus = 1;
                    return LoginStep::Continue;
                }
                LoginStep::Submit(user, self.form.get("Password").to_string())
            }
            Some(a) => {
                self.form.apply(a);
                LoginStep::Continue
            }
            None => {
                self.form.type_key(key);
                LoginStep::Continue
            }
        }
    }

    /// Marks a failed attempt: the password is cleared.
    pub fn failed(&mut self, why: String) {
        self.busy = false;
        self.error = Some(why);
        if let Some(f) = self.form.fields.get_mut(1) {
            f.value = Value::Text(String::new());
        }
        self.form.focus = 1;
    }

    /// Draws the login box.
    pub fn render(&self, f: &mut Frame<'_>, theme: &Theme) {
        let [_, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(f.area());
        f.render_widget(
            ratatui::widgets::Paragraph::new(Line::styled(" Rapport ", theme.bar()))
                .style(theme.bar()),
            f.area(),
        );
        let mut lines = vec![
            Line::from(format!("Server {}", clean(&self.addr))),
            Line::from(""),
        ];
        lines.extend(self.form.lines(theme, theme.ascii));
        lines.push(Line::from(""));
        if self.busy {
            lines.push(Line::styled("Signing in...", theme.dim()));
        } else if let Some(e) = &self.error {
            lines.push(Line::styled(clean(e), theme.error()));
        } else {
            lines.push(Line::styled(
                "Enter sign in, Tab next field, Esc quit",
                theme.dim(),
            ));
        }
        draw_box(f, body, theme, "Sign in", lines, theme.title());
    }
}

/// Runs the login screen until the server accepts the operator (returns the service) or the
/// operator gives up (returns `None`).
pub async fn login_loop<B, S, F, Fut>(
    terminal: &mut Terminal<B>,
    events: &mut UnboundedReceiver<Event>,
    screen: &mut LoginScreen,
    keymap: &Keymap,
    theme: &Theme,
    mut connect: F,
) -> Result<Option<S>, ConsoleError>
where
    B: Backend,
    F: FnMut(String, String) -> Fut,
    Fut: Future<Output = ServiceResult<S>>,
{
    loop {
        terminal
            .draw(|f| screen.render(f, theme))
            .map_err(|e| ConsoleError::Terminal(e.to_string()))?;
        let Some(ev) = events.recv().await else {
            return Ok(None);
        };
        match ev {
            Event::Key(k) if k.kind == crossterm::event::KeyEventKind::Press => {
                match screen.key(keymap, &k) {
                    LoginStep::Continue => {}
                    LoginStep::Quit => return Ok(None),
                    LoginStep::Submit(user, password) => {
                        screen.busy = true;
                        terminal
                            .draw(|f| screen.render(f, theme))
                            .map_err(|e| ConsoleError::Terminal(e.to_string()))?;
                        match connect(user, password).await {
                            Ok(svc) => return Ok(Some(svc)),
                            Err(e) => screen.failed(e.to_string()),
                        }
                    }
                }
            }
            Event::Shutdown => return Ok(None),
            _ => {}
        }
    }
}
