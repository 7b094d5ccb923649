//! The login screen shown when connecting to a server: driven by key events through the real
//! login loop into a `TestBackend`; a wrong password is refused and the password cleared.

mod support;

use std::sync::{Arc, Mutex};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

use rapport_console::keymap::KeyBinding;
use rapport_console::{Event, Keymap, LoginScreen, Theme, login_loop};
use rapport_governance::Role;
use rapport_service::OperatorAdmin;
use support::World;

fn key(k: &str) -> Event {
    Event::Key(k.parse::<KeyBinding>().unwrap().to_event())
}

#[tokio::test]
async fn login_refuses_a_wrong_password_then_signs_in() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let mut screen = LoginScreen::new("127.0.0.1:7070", None);
    let theme = Theme {
        color: true,
        ascii: false,
    };
    let keymap = Keymap::default();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    for c in "jsmith".chars() {
        tx.send(key(&c.to_string())).unwrap();
    }
    tx.send(key("tab")).unwrap();
    for c in "wrong".chars() {
        tx.send(key(&c.to_string())).unwrap();
    }
    tx.send(key("enter")).unwrap();
    // The real engine checks the password (argon2) and gives the operator's role.
    let world = World::new();
    world
        .console("admin", Role::Admin)
        .add_operator("jsmith", Role::FrontLine, "secret-enough-42")
        .await
        .unwrap();
    let seen = attempts.clone();
    let connect = move |user: String, password: String| {
        let seen = seen.clone();
        let world = world.clone();
        async move {
            seen.lock().unwrap().push((user.clone(), password.clone()));
            let engine = world.engine.clone();
            let (u, p) = (user.clone(), password.clone());
            let session = tokio::task::spawn_blocking(move || engine.login(&u, &p, "test"))
                .await
                .unwrap()?;
            Ok(world.console(&user, session.role))
        }
    };
    // The first attempt fails; the loop goes on waiting for keys. Type the right password.
    for c in "secret-enough-42".chars() {
        tx.send(key(&c.to_string())).unwrap();
    }
    tx.send(key("enter")).unwrap();
    let svc = login_loop(&mut term, &mut rx, &mut screen, &keymap, &theme, connect)
        .await
        .unwrap();
    assert!(svc.is_some(), "signed in");
    assert_eq!(
        *attempts.lock().unwrap(),
        vec![
            ("jsmith".to_string(), "wrong".to_string()),
            ("jsmith".to_string(), "secret-enough-42".to_string())
        ]
    );
}

#[tokio::test]
async fn login_screen_snapshot_shows_the_refusal_and_hides_the_password() {
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let mut screen = LoginScreen::new("127.0.0.1:7070", Some("jsmith"));
    let theme = Theme {
        color: true,
        ascii: false,
    };
    let keymap = Keymap::default();
    for c in "hunter2".chars() {
        let Event::Key(k) = key(&c.to_string()) else {
            unreachable!()
        };
        screen.key(&keymap, &k);
    }
    term.draw(|f| screen.render(f, &theme)).unwrap();
    let s = support::buffer_text(term.backend().buffer());
    assert!(s.contains("*******") && !s.contains("hunter2"), "{s}");
    screen.failed("not authenticated: wrong operator name or password".into());
    term.draw(|f| screen.render(f, &theme)).unwrap();
    let s = support::buffer_text(term.backend().buffer());
    assert!(s.contains("wrong operator name or password"), "{s}");
    insta::assert_snapshot!("login_80x24_refused", s);
    // Esc gives up.
    let Event::Key(esc) = key("esc") else {
        unreachable!()
    };
    assert_eq!(screen.key(&keymap, &esc), rapport_console::LoginStep::Quit);
}
