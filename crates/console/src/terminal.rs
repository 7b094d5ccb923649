//! The real terminal: raw mode and the alternate screen, restored on every exit path (normal
//! return, error, panic, SIGTERM/SIGHUP/SIGINT); the input thread, the ticker and the
//! signal handlers that feed the event loop.

use std::future::Future;
use std::time::Duration;

use ratatui::backend::Backend;
use ratatui::{DefaultTerminal, Terminal};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use rapport_service::{Service, ServiceResult};

use crate::app::App;
use crate::config::Config;
use crate::error::ConsoleError;
use crate::event::Event;
use crate::login::{LoginScreen, login_loop};
use crate::theme::Theme;
use rapport_core::Clock;

/// Runs the event loop until the app quits: draw, wait for an event, handle it and every
/// event already queued, draw again. Generic over the backend and fed by any sender, so tests
/// drive it with key events into a `TestBackend`.
pub async fn run_loop<B: Backend, S: Service>(
    terminal: &mut Terminal<B>,
    app: &mut App<S>,
    events: &mut UnboundedReceiver<Event>,
) -> Result<(), ConsoleError> {
    let size = terminal
        .size()
        .map_err(|e| ConsoleError::Terminal(e.to_string()))?;
    app.resize(size.width, size.height);
    draw(terminal, app)?;
    while let Some(ev) = events.recv().await {
        app.handle(ev);
        while !app.should_quit()
            && let Ok(ev) = events.try_recv()
        {
            app.handle(ev);
        }
        if app.should_quit() {
            break;
        }
        draw(terminal, app)?;
    }
    Ok(())
}

fn draw<B: Backend, S: Service>(
    terminal: &mut Terminal<B>,
    app: &App<S>,
) -> Result<(), ConsoleError> {
    terminal
        .draw(|f| app.view(f))
        .map(|_| ())
        .map_err(|e| ConsoleError::Terminal(e.to_string()))
}

/// The terminal, owned while the console runs; dropping it restores the terminal.
pub struct Tui {
    terminal: DefaultTerminal,
    tx: UnboundedSender<Event>,
    rx: UnboundedReceiver<Event>,
}

impl Tui {
    /// Takes over the terminal (raw mode, alternate screen, a panic hook that restores it)
    /// and starts the input thread, the ticker and the signal handlers. Call inside a tokio
    /// runtime.
    pub fn start() -> Result<Tui, ConsoleError> {
        // Installs a panic hook that restores the terminal, chained before the old one.
        let terminal = ratatui::try_init()?;
        let (tx, rx) = mpsc::unbounded_channel();
        spawn_input(tx.clone());
        spawn_ticks(tx.clone());
        spawn_signals(tx.clone());
        Ok(Tui { terminal, tx, rx })
    }

    /// Shows the login screen until the server accepts an operator; `None` when the operator
    /// gives up.
    pub async fn login<S, F, Fut>(
        &mut self,
        addr: &str,
        user: Option<&str>,
        config: &Config,
        connect: F,
    ) -> Result<Option<S>, ConsoleError>
    where
        F: FnMut(String, String) -> Fut,
        Fut: Future<Output = ServiceResult<S>>,
    {
        let theme = Theme {
            color: config.color,
            ascii: config.ascii,
        };
        let mut screen = LoginScreen::new(addr, user);
        login_loop(
            &mut self.terminal,
            &mut self.rx,
            &mut screen,
            &config.keymap,
            &theme,
            connect,
        )
        .await
    }

    /// Shows one line of text (e.g. "Opening the database...") while the caller prepares the
    /// service, so the operator sees the console at once even when opening takes seconds.
    pub fn splash(&mut self, text: &str, config: &Config) -> Result<(), ConsoleError> {
        let theme = Theme {
            color: config.color,
            ascii: config.ascii,
        };
        let text = crate::fmt::clean(text);
        self.terminal
            .draw(|f| {
                use ratatui::text::Line;
                use ratatui::widgets::Paragraph;
                let area = f.area();
                f.render_widget(
                    Paragraph::new(vec![
                        Line::styled(" Rapport ", theme.bar()),
                        Line::from(""),
                        Line::styled(format!(" {text}"), theme.dim()),
                    ]),
                    area,
                );
            })
            .map(|_| ())
            .map_err(|e| ConsoleError::Terminal(e.to_string()))
    }

    /// Runs the console over `svc` until the operator quits or a signal arrives.
    pub async fn run<S: Service>(&mut self, svc: S, config: &Config) -> Result<(), ConsoleError> {
        let mut app = App::new(svc, config, self.tx.clone(), Clock::System);
        app.start();
        run_loop(&mut self.terminal, &mut app, &mut self.rx).await
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        // Never panic while restoring: a failure here can only be ignored.
        let _ = ratatui::try_restore();
    }
}

fn spawn_input(tx: UnboundedSender<Event>) {
    use crossterm::event::{self, Event as Term, KeyEventKind};
    std::thread::spawn(move || {
        while !tx.is_closed() {
            match event::poll(Duration::from_millis(200)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => break,
            }
            let ev = match event::read() {
                Ok(Term::Key(k)) if k.kind == KeyEventKind::Press => Event::Key(k),
                Ok(Term::Resize(w, h)) => Event::Resize(w, h),
                Ok(_) => continue,
                Err(_) => break,
            };
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
}

fn spawn_ticks(tx: UnboundedSender<Event>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(500));
        loop {
            every.tick().await;
            if tx.send(Event::Tick).is_err() {
                break;
            }
        }
    });
}

#[cfg(unix)]
fn spawn_signals(tx: UnboundedSender<Event>) {
    use tokio::signal::unix::{SignalKind, signal};
    for kind in [
        SignalKind::terminate(),
        SignalKind::hangup(),
        SignalKind::interrupt(),
    ] {
        let tx = tx.clone();
        match signal(kind) {
            Ok(mut s) => {
                tokio::spawn(async move {
                    if s.recv().await.is_some() {
                        let _ = tx.send(Event::Shutdown);
                    }
                });
            }
            Err(e) => tracing::warn!("cannot watch signal {kind:?}: {e}"),
        }
    }
}

#[cfg(not(unix))]
fn spawn_signals(tx: UnboundedSender<Event>) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = tx.send(Event::Shutdown);
        }
    });
}
