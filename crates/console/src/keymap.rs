//! Keys: their notation (`ctrl-c`, `G`, `pagedown`), the default map built from the action
//! table, and partial overrides from the configuration file.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::action::{Action, BINDINGS, Context};

/// One key with its modifiers, as written in the configuration file: a character (`q`, `G`,
/// `/`), a named key (`enter`, `esc`, `tab`, `backtab`, `space`, `up`, `down`, `left`,
/// `right`, `pageup`, `pagedown`, `home`, `end`, `delete`, `f1`-`f12`), optionally prefixed with
/// `ctrl-` or `alt-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyBinding {
    code: Code,
    ctrl: bool,
    alt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Code {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Delete,
    F(u8),
}

const NAMED: &[(&str, Code)] = &[
    ("enter", Code::Enter),
    ("esc", Code::Esc),
    ("tab", Code::Tab),
    ("backtab", Code::BackTab),
    ("backspace", Code::Backspace),
    ("space", Code::Char(' ')),
    ("up", Code::Up),
    ("down", Code::Down),
    ("left", Code::Left),
    ("right", Code::Right),
    ("pageup", Code::PageUp),
    ("pagedown", Code::PageDown),
    ("home", Code::Home),
    ("end", Code::End),
    ("delete", Code::Delete),
];

/// A key notation that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key {0:?} (use e.g. `q`, `G`, `ctrl-r`, `enter`, `pagedown`, `f2`)")]
pub struct BadKey(pub String);

impl FromStr for KeyBinding {
    type Err = BadKey;
    fn from_str(s: &str) -> Result<Self, BadKey> {
        let bad = || BadKey(s.chars().take(40).collect());
        let mut rest = s;
        let (mut ctrl, mut alt) = (false, false);
        loop {
            if rest.chars().count() > 1 {
                if let Some(r) = rest.strip_prefix("ctrl-") {
                    ctrl = true;
                    rest = r;
                    continue;
                }
                if let Some(r) = rest.strip_prefix("alt-") {
                    alt = true;
                    rest = r;
                    continue;
                }
            }
            break;
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => Code::Char(c),
            _ => {
                let lower = rest.to_ascii_lowercase();
                if let Some((_, code)) = NAMED.iter().find(|(n, _)| *n == lower) {
                    *code
                } else if let Some(n) = lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok())
                    && (1..=12).contains(&n)
                {
                    Code::F(n)
                } else {
                    return Err(bad());
                }
            }
        };
        Ok(KeyBinding { code, ctrl, alt })
    }
}

impl fmt::Display for KeyBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            Code::Char(' ') => f.write_str("space"),
            Code::Char(c) => write!(f, "{c}"),
            Code::F(n) => write!(f, "f{n}"),
            other => {
                let name = NAMED
                    .iter()
                    .find(|(_, c)| *c == other)
                    .map_or("?", |(n, _)| n);
                f.write_str(name)
            }
        }
    }
}

impl KeyBinding {
    /// The binding a terminal key event stands for, if it is one we can name.
    pub fn from_event(key: &KeyEvent) -> Option<KeyBinding> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let code = match key.code {
            // Shift is part of the character itself (`G`), so it is not a modifier here.
            KeyCode::Char(c) => Code::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
            KeyCode::Enter => Code::Enter,
            KeyCode::Esc => Code::Esc,
            KeyCode::Tab if key.modifiers.contains(KeyModifiers::SHIFT) => Code::BackTab,
            KeyCode::Tab => Code::Tab,
            KeyCode::BackTab => Code::BackTab,
            KeyCode::Backspace => Code::Backspace,
            KeyCode::Up => Code::Up,
            KeyCode::Down => Code::Down,
            KeyCode::Left => Code::Left,
            KeyCode::Right => Code::Right,
            KeyCode::PageUp => Code::PageUp,
            KeyCode::PageDown => Code::PageDown,
            KeyCode::Home => Code::Home,
            KeyCode::End => Code::End,
            KeyCode::Delete => Code::Delete,
            KeyCode::F(n) => Code::F(n),
            _ => return None,
        };
        Some(KeyBinding { code, ctrl, alt })
    }

    /// The key event this binding describes (for tests and the palette).
    pub fn to_event(self) -> KeyEvent {
        let mut mods = KeyModifiers::NONE;
        if self.ctrl {
            mods |= KeyModifiers::CONTROL;
        }
        if self.alt {
            mods |= KeyModifiers::ALT;
        }
        let code = match self.code {
            Code::Char(c) => KeyCode::Char(c),
            Code::Enter => KeyCode::Enter,
            Code::Esc => KeyCode::Esc,
            Code::Tab => KeyCode::Tab,
            Code::BackTab => KeyCode::BackTab,
            Code::Backspace => KeyCode::Backspace,
            Code::Up => KeyCode::Up,
            Code::Down => KeyCode::Down,
            Code::Left => KeyCode::Left,
            Code::Right => KeyCode::Right,
            Code::Delete => KeyCode::Delete,
            Code::PageUp => KeyCode::PageUp,
            Code::PageDown => KeyCode::PageDown,
            Code::Home => KeyCode::Home,
            Code::End => KeyCode::End,
            Code::F(n) => KeyCode::F(n),
        };
        KeyEvent::new(code, mods)
    }
}

/// Keys per context and action: the defaults of the action table with the configuration's
/// overrides applied (an override replaces the keys of the actions it names, nothing else).
#[derive(Debug, Clone)]
pub struct Keymap {
    keys: BTreeMap<(Context, Action), Vec<KeyBinding>>,
}

impl Default for Keymap {
    fn default() -> Self {
        let mut keys = BTreeMap::new();
        for b in BINDINGS {
            let parsed = b
                .keys
                .iter()
                .filter_map(|k| k.parse::<KeyBinding>().ok())
                .collect();
            keys.insert((b.context, b.action), parsed);
        }
        Keymap { keys }
    }
}

impl Keymap {
    /// Replaces the keys of one action in one context. The action must be in the table for
    /// that context (the configuration loader checks this and reports the line).
    pub fn set(&mut self, context: Context, action: Action, keys: Vec<KeyBinding>) -> bool {
        match self.keys.get_mut(&(context, action)) {
            Some(slot) => {
                *slot = keys;
                true
            }
            None => false,
        }
    }

    /// The keys bound to an action in a context.
    pub fn keys_for(&self, context: Context, action: Action) -> &[KeyBinding] {
        self.keys
            .get(&(context, action))
            .map_or(&[], |v| v.as_slice())
    }

    /// The first key of an action, for hints (`?` when unbound).
    pub fn hint(&self, context: Context, action: Action) -> String {
        self.keys_for(context, action)
            .first()
            .map_or_else(|| "-".to_string(), |k| k.to_string())
    }

    /// The action a key triggers, looking in `contexts` in order.
    pub fn lookup(&self, contexts: &[Context], key: &KeyEvent) -> Option<Action> {
        let kb = KeyBinding::from_event(key)?;
        contexts.iter().find_map(|ctx| {
            self.keys
                .iter()
                .find(|((c, _), keys)| c == ctx && keys.contains(&kb))
                .map(|((_, a), _)| *a)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(notation: &str, event: KeyEvent) {
        let kb: KeyBinding = notation.parse().unwrap();
        assert_eq!(KeyBinding::from_event(&event), Some(kb), "{notation}");
        assert_eq!(kb.to_string(), notation);
    }

    #[test]
    fn notation_round_trips() {
        check("q", KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE));
        check("G", KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT));
        check(
            "ctrl-c",
            KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
        );
        check(
            "pagedown",
            KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE),
        );
        check("f2", KeyEvent::new(KeyCode::F(2), KeyModifiers::NONE));
        check("-", KeyEvent::new(KeyCode::Char('-'), KeyModifiers::NONE));
        check(
            "ctrl--",
            KeyEvent::new(KeyCode::Char('-'), KeyModifiers::CONTROL),
        );
        assert!("ctrl-".parse::<KeyBinding>().is_err());
        assert!("hyper-x".parse::<KeyBinding>().is_err());
        assert!("f13".parse::<KeyBinding>().is_err());
    }

    #[test]
    fn lookup_falls_back_through_contexts() {
        let km = Keymap::default();
        let j = KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE);
        let ctx = [Context::Record, Context::Navigation, Context::Global];
        assert_eq!(km.lookup(&ctx, &j), Some(Action::Down));
        assert_eq!(km.lookup(&[Context::Search], &j), None);
    }
}
