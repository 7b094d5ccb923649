//! Styles and symbols: 16 named colours at most, none at all with `NO_COLOR`, and an ASCII
//! fallback for borders and charts. Meaning never rests on colour alone: tier badges carry
//! their letter, alerts a `!`, highlights are also bold or reversed.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;

use rapport_core::{CueLevel, Tier};

/// How to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Colours on (16 named colours only).
    pub color: bool,
    /// ASCII only: `+-|` borders, `#` bars, `*` chart points.
    pub ascii: bool,
}

impl Theme {
    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// The header and footer bars.
    pub fn bar(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Cyan)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    /// Titles and names.
    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// Labels in front of values.
    pub fn label(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    /// Secondary text.
    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    /// The selected row.
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// A row that just changed at another terminal.
    pub fn changed(&self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        }
    }

    /// Errors and refusals.
    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Good news (granted, saved).
    pub fn ok(&self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::BOLD)
    }

    /// The style of a tier badge: A stands out most.
    pub fn tier(&self, tier: Option<Tier>) -> Style {
        let base = Style::new().add_modifier(Modifier::BOLD);
        if !self.color {
            return match tier {
                Some(Tier::A) => base.add_modifier(Modifier::REVERSED),
                _ => base,
            };
        }
        match tier {
            Some(Tier::A) => base.fg(Color::Black).bg(Color::Yellow),
            Some(Tier::B) => base.fg(Color::Black).bg(Color::Cyan),
            Some(Tier::C) => base.fg(Color::White).bg(Color::Blue),
            Some(Tier::D) => base.fg(Color::White).bg(Color::DarkGray),
            None => Style::new().fg(Color::DarkGray),
        }
    }

    /// A recognition cue.
    pub fn cue(&self, level: CueLevel) -> Style {
        match level {
            CueLevel::Alert => self.error(),
            CueLevel::Recognise => self.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            CueLevel::Info => self.fg(Color::Cyan),
        }
    }

    /// Border symbols.
    pub fn border(&self) -> border::Set<'static> {
        if self.ascii {
            border::Set {
                top_left: "+",
                top_right: "+",
                bottom_left: "+",
                bottom_right: "+",
                vertical_left: "|",
                vertical_right: "|",
                horizontal_top: "-",
                horizontal_bottom: "-",
            }
        } else {
            border::PLAIN
        }
    }

    /// The separator between items on one line.
    pub fn sep(&self) -> &'static str {
        if self.ascii { " | " } else { " · " }
    }

    /// A full block for bars.
    pub fn bar_char(&self) -> &'static str {
        if self.ascii { "#" } else { "█" }
    }
}

/// The text of a tier badge, e.g. `[A]`, or `[-]` when unscored.
pub fn tier_badge(tier: Option<Tier>) -> String {
    match tier {
        Some(t) => format!("[{t}]"),
        None => "[-]".to_string(),
    }
}
