//! `docs/guide.md`'s key table is generated from the action table; this test fails when the
//! guide is stale. Regenerate with `UPDATE_GUIDE=1 cargo test -p rapport-console --test guide`.

use std::path::PathBuf;

use rapport_console::Keymap;
use rapport_console::action::{BINDINGS, key_table_markdown};

const START: &str = "<!-- keys:start -->";
const END: &str = "<!-- keys:end -->";

#[test]
fn guide_key_table_is_generated_from_the_action_table() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/guide.md");
    let text = std::fs::read_to_string(&path).expect("docs/guide.md");
    let (Some(a), Some(b)) = (text.find(START), text.find(END)) else {
        panic!("docs/guide.md lacks the {START} ... {END} markers");
    };
    let generated = key_table_markdown(&Keymap::default());
    let current = &text[a + START.len()..b];
    let wanted = format!("{generated}\n");
    if current != wanted {
        if std::env::var_os("UPDATE_GUIDE").is_some() {
            let updated = format!("{}{START}{wanted}{}", &text[..a], &text[b..]);
            std::fs::write(&path, updated).expect("write docs/guide.md");
            return;
        }
        panic!(
            "docs/guide.md's key table is stale: run \
             `UPDATE_GUIDE=1 cargo test -p rapport-console --test guide`"
        );
    }
    // Every action of the table is in the guide, with its doc string.
    for b in BINDINGS {
        assert!(
            current.contains(b.doc),
            "{} missing from the guide",
            b.action
        );
    }
}
