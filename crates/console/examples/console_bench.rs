//! Console benchmarks (figures in `docs/benchmarks.md`):
//!
//! - `render`: the record screen drawn into a 200x60 `TestBackend`, many frames, over the
//!   test world on the real embedded engine (drawing only: the record is read once);
//! - `search DB [QUERIES...]`: keystroke-to-screen latency of the type-ahead search on a real
//!   database opened embedded: each character is a key event, timed until the newest
//!   request's reply is applied and the frame is drawn.
//!
//! ```text
//! cargo run --release -p rapport-console --example console_bench -- render
//! cargo run --release -p rapport-console --example console_bench -- search ~/.local/share/rapport/demo
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

use rapport_console::{App, Clock, Config, Event};
use rapport_governance::Role;

fn stats(name: &str, mut d: Vec<Duration>) {
    d.sort();
    let n = d.len().max(1);
    let total: Duration = d.iter().sum();
    let pct = |p: f64| d[((n as f64 * p) as usize).min(n - 1)];
    println!(
        "{name}: n={} mean={:.3} ms p50={:.3} ms p95={:.3} ms p99={:.3} ms max={:.3} ms",
        d.len(),
        total.as_secs_f64() * 1000.0 / n as f64,
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.95).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        d.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
}

async fn render() {
    let svc = support::World::new().console("J. Smith", Role::FrontLine);
    let mut h = support::Harness::new(svc, 200, 60).await;
    h.type_text("anna").await;
    h.press("enter").await;
    assert!(h.screen().contains("Anna Berg"));
    let mut times = Vec::new();
    for _ in 0..2_000 {
        let t = Instant::now();
        let app = &h.app;
        h.term.draw(|f| app.view(f)).unwrap();
        times.push(t.elapsed());
        // A full redraw each time: clear the previous buffer so nothing is skipped by diffing.
        h.term.clear().unwrap();
    }
    stats(
        "record screen render 200x60 (view + TestBackend flush)",
        times,
    );
}

async fn search(db: &str, queries: &[String]) {
    let t = Instant::now();
    let svc = rapport_service::Embedded::open(std::path::Path::new(db)).expect("open the database");
    println!(
        "opened {db} in {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut app = App::new(svc, &Config::default(), tx, Clock::System);
    app.resize(120, 40);
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    // RAPPORT_BENCH_THINK_MS: how long the operator looks at the search screen before the
    // first key (default 0: typing starts the moment the database is open).
    let think: u64 = std::env::var("RAPPORT_BENCH_THINK_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if think > 0 {
        println!("waiting {think} ms before the first key");
        tokio::time::sleep(std::time::Duration::from_millis(think)).await;
    }
    // The operator presses `/` (the console opens on the record screen, where letters are
    // commands, not a query).
    app.handle(Event::Key(crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char('/'),
        crossterm::event::KeyModifiers::NONE,
    )));
    assert_eq!(
        app.screen(),
        rapport_console::ScreenId::Search,
        "`/` opens search"
    );
    let mut times = Vec::new();
    for q in queries {
        for c in q.chars() {
            let t = Instant::now();
            app.handle(Event::Key(crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::Char(c),
                crossterm::event::KeyModifiers::NONE,
            )));
            while app.pending() > 0 {
                let ev = rx.recv().await.expect("reply");
                app.handle(ev);
            }
            term.draw(|f| app.view(f)).unwrap();
            times.push(t.elapsed());
        }
        // What the operator sees after the last key: the hit count line and the first hit.
        let buf = term.backend().buffer();
        let row = |y: u16| -> String {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        };
        println!("{q:?}: {} | {}", row(2).trim(), row(4).trim());
        // Clear the query for the next one.
        for _ in 0..q.chars().count() {
            app.handle(Event::Key(crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::Backspace,
                crossterm::event::KeyModifiers::NONE,
            )));
        }
        while app.pending() > 0 {
            let ev = rx.recv().await.expect("reply");
            app.handle(ev);
        }
    }
    stats("search keystroke-to-screen", times);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("render") => render().await,
        Some("search") => {
            let db = args.get(1).expect("search DB [QUERIES...]");
            let mut queries: Vec<String> = args[2..].to_vec();
            if queries.is_empty() {
                queries = [
                    "Margaret Okafor",
                    "Lucia Fernandes",
                    "henrik lindqvist",
                    "+44 7747 855789",
                    "okafor.margaret88@example.com",
                    "FF736555692",
                    "5JML76",
                ]
                .map(String::from)
                .to_vec();
            }
            search(db, &queries).await;
        }
        _ => eprintln!("usage: console_bench render | console_bench search DB [QUERIES...]"),
    }
}
