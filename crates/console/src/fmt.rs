//! Turning data into view text: sanitising, times, money and numbers.

use rapport_core::text::sanitize;
use rapport_core::{Amount, AmountRole, Interaction, Timestamp};

/// Text from the data, made safe to show: every string from the service passes through here
/// (or [`clean_opt`]) where it becomes view text.
pub fn clean(s: &str) -> String {
    sanitize(s).into_owned()
}

/// [`clean`] for an optional value, with a stand-in when absent.
pub fn clean_opt(s: Option<&str>, absent: &str) -> String {
    s.map_or_else(|| absent.to_string(), clean)
}

/// How long ago `t` was, in words an operator reads at a glance: `just now`, `4 min ago`,
/// `14 h ago`, `3 d ago`, `5 mo ago`, `2 y ago`; `today` later the same UTC day, `in 3 d`
/// further in the future.
pub fn ago(now: Timestamp, t: Timestamp) -> String {
    let secs = (now.as_millis() - t.as_millis()) / 1000;
    let (future, secs) = if secs < 0 {
        (true, -secs)
    } else {
        (false, secs)
    };
    // Later today (a scheduled check-in, or a demo world rebased by whole days) reads better
    // as "today" than as a countdown.
    if future && date(now) == date(t) {
        return "today".to_string();
    }
    let text = if secs < 60 {
        return "just now".to_string();
    } else if secs < 3_600 {
        format!("{} min", secs / 60)
    } else if secs < 48 * 3_600 {
        format!("{} h", secs / 3_600)
    } else if secs < 60 * 86_400 {
        format!("{} d", secs / 86_400)
    } else if secs < 730 * 86_400 {
        format!("{} mo", secs / (30 * 86_400))
    } else {
        format!("{} y", secs / (365 * 86_400))
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A date and time in UTC, `2026-11-23 10:02`.
pub fn datetime(t: Timestamp) -> String {
    t.to_jiff().strftime("%Y-%m-%d %H:%M").to_string()
}

/// A date in UTC, `2026-11-23`.
pub fn date(t: Timestamp) -> String {
    t.to_jiff().strftime("%Y-%m-%d").to_string()
}

pub use rapport_core::text::thousands;

/// A share 0-1 as a percentage, `42%`.
pub fn percent(v: f64) -> String {
    if v.is_finite() {
        format!("{:.0}%", v * 100.0)
    } else {
        "-".to_string()
    }
}

/// The money of an interaction in one short text: revenue as is, compensation and refunds
/// with a sign word, e.g. `250.00 EUR comp`.
pub fn amounts(amounts: &[Amount]) -> String {
    amounts
        .iter()
        .map(|a| {
            let role = match a.role {
                AmountRole::Revenue => "",
                AmountRole::CostToServe => " cost",
                AmountRole::Compensation => " comp",
                AmountRole::Refund => " refund",
                AmountRole::Payment => " paid",
                AmountRole::Other => "",
            };
            format!("{}{role}", a.money)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The detail of an interaction worth a column: its text, else its attributes.
pub fn detail(i: &Interaction) -> String {
    if let Some(t) = &i.text {
        return clean(t);
    }
    i.attributes
        .iter()
        .map(|(k, v)| format!("{}={}", clean(k), clean(&v.to_string())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Cuts `s` to at most `width` characters, marking the cut with `~`.
pub fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('~');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_times_read_well() {
        assert_eq!(thousands(12_340.4), "12,340");
        assert_eq!(thousands(-1_000_000.0), "-1,000,000");
        assert_eq!(thousands(999.0), "999");
        let now = Timestamp::from_secs(1_000_000);
        assert_eq!(ago(now, Timestamp::from_secs(1_000_000 - 120)), "2 min ago");
        assert_eq!(
            ago(now, Timestamp::from_secs(1_000_000 - 14 * 3600)),
            "14 h ago"
        );
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now, Timestamp::from_secs(1_000_000 + 600)), "today");
        assert_eq!(
            ago(now, Timestamp::from_secs(1_000_000 + 3 * 86_400)),
            "in 3 d"
        );
        assert_eq!(fit("abcdef", 4), "abc~");
        assert_eq!(clean("a\u{1b}[31mb"), "a?[31mb");
    }
}

/// `text` broken into lines of at most `width` characters at spaces (a word longer than a
/// line is cut into pieces), nothing dropped.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        loop {
            let used = line.chars().count();
            let need = word.chars().count() + usize::from(used > 0);
            if used + need <= width {
                if used > 0 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A word longer than a whole line.
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(head);
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod wrap_tests {
    use super::wrap;

    #[test]
    fn wrap_keeps_every_word() {
        let text =
            "voucher granted 3 h ago at gate C12 by J. Smith for RP121/2026-11-23 (400.00 EUR)";
        let lines = wrap(text, 30);
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:?}");
        assert_eq!(lines.join(" "), text);
        assert_eq!(wrap("abcdefgh", 3), vec!["abc", "def", "gh"]);
        assert_eq!(wrap("", 5), vec![""]);
    }
}
