//! Every action the console offers, declared once with its default keys and its doc string.
//!
//! The key map, the help overlay, the command palette and the key table in `docs/guide.md`
//! are all generated from [`BINDINGS`], so they cannot disagree.

use std::fmt;

/// Where a key binding applies. Screens with a text input (search, forms, palette, login)
/// only see their own bindings; the others fall back to navigation, then global keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Context {
    /// Every screen without a text input.
    Global,
    /// Moving through a list or table (search results, history, working lists).
    Navigation,
    /// The customer record.
    Record,
    /// The overview and working-list screens.
    Overview,
    /// The flight view (a disruption with all its passengers).
    Flight,
    /// The approval queue.
    Approvals,
    /// The search input (letters type into the query).
    Search,
    /// Forms in popups (log, grant, preference, note) and the login screen.
    Form,
    /// The command palette (letters type into the filter).
    Palette,
}

impl Context {
    /// Every context, in the order the help overlay shows them.
    pub const ALL: [Context; 9] = [
        Context::Global,
        Context::Navigation,
        Context::Record,
        Context::Overview,
        Context::Flight,
        Context::Approvals,
        Context::Search,
        Context::Form,
        Context::Palette,
    ];

    /// The name used as a section in the key configuration file.
    pub fn as_str(&self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::Navigation => "navigation",
            Context::Record => "record",
            Context::Overview => "overview",
            Context::Flight => "flight",
            Context::Approvals => "approvals",
            Context::Search => "search",
            Context::Form => "form",
            Context::Palette => "palette",
        }
    }

    /// A heading for the help overlay and the guide.
    pub fn title(&self) -> &'static str {
        match self {
            Context::Global => "Everywhere (outside text inputs)",
            Context::Navigation => "Lists and tables",
            Context::Record => "Customer record",
            Context::Overview => "Overview, working lists and learning",
            Context::Flight => "Flight view",
            Context::Approvals => "Approval queue",
            Context::Search => "Search input",
            Context::Form => "Forms and login",
            Context::Palette => "Command palette",
        }
    }

    /// Whether letters typed in this context are text rather than commands.
    pub fn takes_text(&self) -> bool {
        matches!(self, Context::Search | Context::Form | Context::Palette)
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a key press asks the console to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Leave the console.
    Quit,
    /// Close the top popup or go back one screen.
    Back,
    /// Open the search screen.
    Search,
    /// Open the command palette.
    Palette,
    /// Show the help overlay.
    Help,
    /// Show the overview screen.
    Overview,
    /// Show the working lists.
    Lists,
    /// Show the coordination-stage assessment.
    Assess,
    /// Answer the stage questionnaire (broad view) for oneself.
    Answer,
    /// Show the learning loop: hand-offs, experiments, campaigns, ideas.
    Learning,
    /// Re-read what is shown.
    Refresh,
    /// Move up one row.
    Up,
    /// Move down one row.
    Down,
    /// Move up one page.
    PageUp,
    /// Move down one page.
    PageDown,
    /// Go to the first row.
    Top,
    /// Go to the last row (loading older history as needed).
    Bottom,
    /// Open the selected item.
    Open,
    /// Log an interaction on the record.
    LogInteraction,
    /// Grant compensation by policy.
    Grant,
    /// Record a stated preference.
    Preference,
    /// Add a note to the record.
    Note,
    /// Pass an idea or observation to the analysts.
    Idea,
    /// Resolve one of the record's open complaint cases.
    Resolve,
    /// Show the flight view of the customer's disruptions (every passenger affected).
    Flight,
    /// Grant every passenger of the disruption shown what the policy entitles.
    GrantFlight,
    /// Cycle the history filter by kind.
    FilterKind,
    /// Cycle the history filter by channel.
    FilterChannel,
    /// Clear the history filters.
    ClearFilters,
    /// Next tab or list.
    NextTab,
    /// Previous tab or list.
    PrevTab,
    /// Submit a form (governance actions ask to confirm first).
    Submit,
    /// Next form field.
    NextField,
    /// Previous form field.
    PrevField,
    /// Next choice in a choice field.
    ChoiceNext,
    /// Previous choice in a choice field.
    ChoicePrev,
    /// Move the cursor one character left.
    CursorLeft,
    /// Move the cursor one character right.
    CursorRight,
    /// Move the cursor to the start of the input.
    LineStart,
    /// Move the cursor to the end of the input.
    LineEnd,
    /// Delete the character under the cursor.
    DeleteChar,
    /// Delete everything before the cursor.
    DeleteToStart,
    /// Delete the word before the cursor.
    DeleteWord,
    /// Filter the history by text.
    FilterText,
    /// Present the next best action to the customer and log the answer.
    Offer,
    /// Show customer equity by portfolio and tier.
    Equity,
    /// Show the approval queue (goodwill above its requester's limit).
    Approvals,
    /// Give goodwill on top of the policy (above your limit: send it for approval).
    Goodwill,
    /// Approve the selected request as asked.
    Approve,
    /// Approve the selected request with another amount.
    ChangeAmount,
    /// Refuse the selected request.
    RefuseApproval,
}

impl Action {
    /// The kebab-case name used in the configuration file and the command palette.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Back => "back",
            Action::Search => "search",
            Action::Palette => "palette",
            Action::Help => "help",
            Action::Overview => "overview",
            Action::Lists => "lists",
            Action::Assess => "assess",
            Action::Answer => "answer",
            Action::Learning => "learning",
            Action::Refresh => "refresh",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page-up",
            Action::PageDown => "page-down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Open => "open",
            Action::LogInteraction => "log",
            Action::Grant => "grant",
            Action::Preference => "preference",
            Action::Note => "note",
            Action::Idea => "idea",
            Action::Flight => "flight",
            Action::Resolve => "resolve",
            Action::GrantFlight => "grant-flight",
            Action::FilterKind => "filter-kind",
            Action::FilterChannel => "filter-channel",
            Action::ClearFilters => "clear-filters",
            Action::NextTab => "next-tab",
            Action::PrevTab => "prev-tab",
            Action::Submit => "submit",
            Action::NextField => "next-field",
            Action::PrevField => "prev-field",
            Action::ChoiceNext => "choice-next",
            Action::ChoicePrev => "choice-prev",
            Action::CursorLeft => "cursor-left",
            Action::CursorRight => "cursor-right",
            Action::LineStart => "line-start",
            Action::LineEnd => "line-end",
            Action::DeleteChar => "delete-char",
            Action::DeleteToStart => "delete-to-start",
            Action::DeleteWord => "delete-word",
            Action::FilterText => "filter-text",
            Action::Offer => "offer",
            Action::Equity => "equity",
            Action::Approvals => "approvals",
            Action::Goodwill => "goodwill",
            Action::Approve => "approve",
            Action::ChangeAmount => "change",
            Action::RefuseApproval => "refuse",
        }
    }

    /// Whether the command palette offers this action (it runs it as if its key was pressed).
    pub fn in_palette(&self) -> bool {
        matches!(
            self,
            Action::Quit
                | Action::Search
                | Action::Help
                | Action::Overview
                | Action::Lists
                | Action::Assess
                | Action::Answer
                | Action::Learning
                | Action::Refresh
                | Action::LogInteraction
                | Action::Grant
                | Action::Preference
                | Action::Note
                | Action::Idea
                | Action::Flight
                | Action::Resolve
                | Action::FilterKind
                | Action::FilterChannel
                | Action::FilterText
                | Action::ClearFilters
                | Action::Offer
                | Action::Equity
                | Action::Approvals
                | Action::Goodwill
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One binding: in `context`, `keys` trigger `action`, described by `doc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// Where it applies.
    pub context: Context,
    /// What it does.
    pub action: Action,
    /// The default keys, in the notation of [`crate::keymap::KeyBinding`].
    pub keys: &'static [&'static str],
    /// One line for the help overlay and the guide.
    pub doc: &'static str,
}

const fn b(
    context: Context,
    action: Action,
    keys: &'static [&'static str],
    doc: &'static str,
) -> Binding {
    Binding {
        context,
        action,
        keys,
        doc,
    }
}

/// The one action table.
pub const BINDINGS: &[Binding] = &[
    b(
        Context::Global,
        Action::Quit,
        &["q", "ctrl-c"],
        "Quit the console",
    ),
    b(
        Context::Global,
        Action::Back,
        &["esc"],
        "Go back one screen",
    ),
    b(Context::Global, Action::Search, &["/"], "Search customers"),
    b(
        Context::Global,
        Action::Palette,
        &[":"],
        "Command palette: run any action by name",
    ),
    b(
        Context::Global,
        Action::Help,
        &["?", "f1"],
        "This help: every key",
    ),
    b(
        Context::Global,
        Action::Overview,
        &["o"],
        "Overview: tiers, value skew, data quality",
    ),
    b(
        Context::Global,
        Action::Lists,
        &["w"],
        "Working lists (complainers, at risk, ...)",
    ),
    b(
        Context::Global,
        Action::Assess,
        &["s"],
        "Stage assessment of customer focus",
    ),
    b(
        Context::Global,
        Action::Answer,
        &["A"],
        "Answer the stage questionnaire",
    ),
    b(
        Context::Global,
        Action::Equity,
        &["E"],
        "Customer equity by portfolio and tier",
    ),
    b(
        Context::Global,
        Action::Learning,
        &["L"],
        "Learning loop: hand-offs, experiments, campaigns, ideas",
    ),
    b(
        Context::Global,
        Action::Approvals,
        &["a"],
        "Approval queue: goodwill waiting for a decision",
    ),
    b(
        Context::Global,
        Action::Refresh,
        &["r", "ctrl-r"],
        "Re-read what is shown",
    ),
    b(Context::Navigation, Action::Up, &["up", "k"], "Move up"),
    b(
        Context::Navigation,
        Action::Down,
        &["down", "j"],
        "Move down",
    ),
    b(
        Context::Navigation,
        Action::PageUp,
        &["pageup", "ctrl-b"],
        "Page up",
    ),
    b(
        Context::Navigation,
        Action::PageDown,
        &["pagedown", "ctrl-f", "space"],
        "Page down",
    ),
    b(
        Context::Navigation,
        Action::Top,
        &["g", "home"],
        "First row",
    ),
    b(
        Context::Navigation,
        Action::Bottom,
        &["G", "end"],
        "Last row (loads older history)",
    ),
    b(
        Context::Navigation,
        Action::Open,
        &["enter"],
        "Open the selected customer or history row",
    ),
    b(
        Context::Record,
        Action::LogInteraction,
        &["i"],
        "Log an interaction (with its phase)",
    ),
    b(
        Context::Record,
        Action::Grant,
        &["c"],
        "Grant compensation by policy (confirm twice)",
    ),
    b(
        Context::Record,
        Action::Preference,
        &["p"],
        "Record a stated preference",
    ),
    b(Context::Record, Action::Note, &["n"], "Add a note"),
    b(
        Context::Record,
        Action::Idea,
        &["d"],
        "Pass an idea to the analysts",
    ),
    b(
        Context::Record,
        Action::Resolve,
        &["R"],
        "Resolve a complaint case (what was done)",
    ),
    b(
        Context::Record,
        Action::Flight,
        &["v"],
        "Flight view: every passenger of this disruption",
    ),
    b(
        Context::Record,
        Action::FilterKind,
        &["f"],
        "History: next kind filter (groups, then kinds)",
    ),
    b(
        Context::Record,
        Action::FilterText,
        &["F"],
        "History: filter by text (empty clears)",
    ),
    b(
        Context::Record,
        Action::FilterChannel,
        &["h"],
        "History: next channel filter",
    ),
    b(
        Context::Record,
        Action::ClearFilters,
        &["x"],
        "History: clear filters",
    ),
    b(
        Context::Record,
        Action::Offer,
        &["O"],
        "Present the next best action; log the answer",
    ),
    b(
        Context::Record,
        Action::Goodwill,
        &["+"],
        "Goodwill on top of the policy (above your limit: send for approval)",
    ),
    b(
        Context::Overview,
        Action::NextTab,
        &["tab", "right", "l"],
        "Next screen or list",
    ),
    b(
        Context::Overview,
        Action::PrevTab,
        &["backtab", "left"],
        "Previous screen or list",
    ),
    b(
        Context::Flight,
        Action::GrantFlight,
        &["C"],
        "Grant the whole flight by policy (press twice)",
    ),
    b(
        Context::Flight,
        Action::NextTab,
        &["tab", "right", "l"],
        "The customer's next disruption",
    ),
    b(
        Context::Flight,
        Action::PrevTab,
        &["backtab", "left"],
        "The customer's previous disruption",
    ),
    b(
        Context::Approvals,
        Action::Approve,
        &["a"],
        "Approve the selected request as asked (with a reason)",
    ),
    b(
        Context::Approvals,
        Action::ChangeAmount,
        &["c"],
        "Approve another amount (prefilled with the one asked)",
    ),
    b(
        Context::Approvals,
        Action::RefuseApproval,
        &["x"],
        "Refuse the selected request (with a reason)",
    ),
    b(
        Context::Search,
        Action::Up,
        &["up", "ctrl-p"],
        "Previous result",
    ),
    b(
        Context::Search,
        Action::Down,
        &["down", "ctrl-n"],
        "Next result",
    ),
    b(Context::Search, Action::PageUp, &["pageup"], "Page up"),
    b(
        Context::Search,
        Action::PageDown,
        &["pagedown"],
        "Page down",
    ),
    b(
        Context::Search,
        Action::Open,
        &["enter"],
        "Open the selected customer",
    ),
    b(
        Context::Search,
        Action::CursorLeft,
        &["left", "ctrl-b"],
        "Cursor left",
    ),
    b(
        Context::Search,
        Action::CursorRight,
        &["right", "ctrl-f"],
        "Cursor right",
    ),
    b(
        Context::Search,
        Action::LineStart,
        &["home", "ctrl-a"],
        "Cursor to the start",
    ),
    b(
        Context::Search,
        Action::LineEnd,
        &["end", "ctrl-e"],
        "Cursor to the end",
    ),
    b(
        Context::Search,
        Action::DeleteChar,
        &["delete", "ctrl-d"],
        "Delete the character under the cursor",
    ),
    b(
        Context::Search,
        Action::DeleteToStart,
        &["ctrl-u"],
        "Delete everything before the cursor",
    ),
    b(
        Context::Search,
        Action::DeleteWord,
        &["ctrl-w"],
        "Delete the word before the cursor",
    ),
    b(
        Context::Search,
        Action::Back,
        &["esc"],
        "Go back one screen",
    ),
    b(
        Context::Search,
        Action::Help,
        &["f1"],
        "This help: every key",
    ),
    b(
        Context::Search,
        Action::Quit,
        &["ctrl-c"],
        "Quit the console",
    ),
    b(
        Context::Form,
        Action::Submit,
        &["enter"],
        "Submit (governance actions: confirm)",
    ),
    b(Context::Form, Action::Back, &["esc"], "Cancel"),
    b(
        Context::Form,
        Action::NextField,
        &["tab", "down"],
        "Next field",
    ),
    b(
        Context::Form,
        Action::PrevField,
        &["backtab", "up"],
        "Previous field",
    ),
    b(Context::Form, Action::ChoiceNext, &["right"], "Next choice"),
    b(
        Context::Form,
        Action::ChoicePrev,
        &["left"],
        "Previous choice",
    ),
    b(Context::Form, Action::Quit, &["ctrl-c"], "Quit the console"),
    b(
        Context::Palette,
        Action::Up,
        &["up", "ctrl-p"],
        "Previous command",
    ),
    b(
        Context::Palette,
        Action::Down,
        &["down", "ctrl-n"],
        "Next command",
    ),
    b(
        Context::Palette,
        Action::Open,
        &["enter"],
        "Run the selected command",
    ),
    b(
        Context::Palette,
        Action::Back,
        &["esc"],
        "Close the palette",
    ),
    b(
        Context::Palette,
        Action::Quit,
        &["ctrl-c"],
        "Quit the console",
    ),
];

/// The action table as a Markdown table per context, for `docs/guide.md` (with the keys of
/// `keymap`, so a user can print their own remapped reference).
pub fn key_table_markdown(keymap: &crate::keymap::Keymap) -> String {
    let mut out = String::new();
    for ctx in Context::ALL {
        out.push_str(&format!(
            "\n**{}** (`[keys.{}]`)\n\n| keys | action | what it does |\n|---|---|---|\n",
            ctx.title(),
            ctx.as_str()
        ));
        for binding in BINDINGS.iter().filter(|b| b.context == ctx) {
            let keys = keymap
                .keys_for(ctx, binding.action)
                .iter()
                .map(|k| format!("`{}`", k.to_string().replace('|', "\\|")))
                .collect::<Vec<_>>()
                .join(" ");
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                keys,
                binding.action.name(),
                binding.doc
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_is_bound_once_per_context() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for other in &BINDINGS[i + 1..] {
                assert!(
                    !(a.context == other.context && a.action == other.action),
                    "{} twice in {}",
                    a.action,
                    a.context
                );
            }
            assert!(!a.keys.is_empty(), "{} has no default key", a.action);
        }
    }
}
