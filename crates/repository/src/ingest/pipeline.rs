//! Reading and cleansing on a thread of their own: a source file's rows are read, parsed and
//! extracted ([`Plan::extract`]: cleansing, phone numbers, dates, amounts) on a reader thread
//! and handed to the resolving thread in file order through a bounded channel, so that on
//! two cores the next rows are cleansed while the last ones are resolved (#23: reading and
//! extracting were a fifth of a first load's CPU, all on the resolving thread).
//!
//! Nothing changes but the thread: the rows arrive in the order of the file, each with what
//! [`Plan::extract`] made of it, so every decision (and every id handed out) is the one the
//! resolving thread would have made reading the file itself. A file that cannot be read is
//! the same error, after the rows read before it.

use std::path::Path;
use std::sync::mpsc;

use crate::error::Error;
use crate::extract::{Context, Extracted, Plan};
use crate::read::{self, RawRow, RowProblem};

/// Rows handed over at a time (a message: a few hundred KiB).
const ROWS_PER_MESSAGE: usize = 1024;

/// Messages waiting at most: bounds the rows in flight (about 8,000, a few MB).
const IN_FLIGHT: usize = 8;

/// Some rows of a file, read and extracted.
pub(super) struct Part {
    /// The file's header line (CSV with a header), for the quarantine.
    pub header: Option<std::sync::Arc<Vec<u8>>>,
    /// The rows in file order, each with what the mapping made of it (its values are
    /// dropped: the row's bytes stay, for the quarantine).
    pub rows: Vec<(RawRow, Result<Extracted, RowProblem>)>,
    /// Bytes of the file read so far (for progress).
    pub done: u64,
}

/// What the mapping makes of a row: its extraction, or why it cannot be read.
pub(super) fn extract(plan: &Plan, row: &RawRow, ctx: Context) -> Result<Extracted, RowProblem> {
    match &row.values {
        Ok(v) => plan.extract(v, ctx),
        Err(p) => Err(p.clone()),
    }
}

/// Reads `path` with `plan` on a reader thread, handing its rows to `each` in file order
/// (see the module documentation). `each` runs on the calling thread.
pub(super) fn read_extracted(
    path: &Path,
    plan: &Plan,
    ctx: Context,
    part_bytes: usize,
    mut each: impl FnMut(Part) -> Result<(), Error>,
) -> Result<(), Error> {
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Part>(IN_FLIGHT);
        let reader = std::thread::Builder::new()
            .name("rapport-ingest-reader".into())
            .spawn_scoped(scope, move || {
                read::read_file_parts(
                    path,
                    &plan.mapping,
                    &plan.columns,
                    part_bytes,
                    |parsed, done| {
                        let header = parsed.header.map(std::sync::Arc::new);
                        let mut rows = parsed.rows.into_iter().peekable();
                        while rows.peek().is_some() {
                            let part: Vec<_> = rows
                                .by_ref()
                                .take(ROWS_PER_MESSAGE)
                                .map(|mut row| {
                                    let ex = extract(plan, &row, ctx);
                                    row.values = Ok(Vec::new());
                                    (row, ex)
                                })
                                .collect();
                            let last = rows.peek().is_none();
                            let part = Part {
                                header: header.clone(),
                                rows: part,
                                // Progress moves to the part's end with its last rows.
                                done: if last { done } else { 0 },
                            };
                            // The resolving thread stopped (its error is the one reported).
                            if tx.send(part).is_err() {
                                return Err(Error::Invalid("ingest stopped".into()));
                            }
                        }
                        Ok(())
                    },
                )
            })
            .map_err(|e| Error::Invalid(format!("cannot start the ingest reader: {e}")))?;
        let mut result = Ok(());
        for part in rx.iter() {
            if let Err(e) = each(part) {
                result = Err(e);
                break;
            }
        }
        // Unblocks the reader if it is waiting to hand over more.
        drop(rx);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(Error::Invalid("the ingest reader panicked".into())));
        result.and(read)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::Mapping;
    use rapport_core::Timestamp;

    const MAPPING: &str = r#"
[source]
name = "p"
format = "csv"

[party]
key = ["id"]
kind = "person"
full_name = "name"
email = "email"
"#;

    fn setup(rows: usize) -> (tempfile::TempDir, std::path::PathBuf, Plan) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        let mut text = String::from("id,name,email\n");
        for n in 0..rows {
            // Every 97th e-mail is malformed (a row problem), one name spans two lines.
            let email = if n % 97 == 0 {
                "no-at-sign".to_string()
            } else {
                format!("p{n}@example.com")
            };
            let name = if n == 1500 {
                "\"Two\nLines\"".to_string()
            } else {
                format!("Person {n}")
            };
            text.push_str(&format!("{n},{name},{email}\n"));
        }
        std::fs::write(&path, text).unwrap();
        let plan = Plan::new(Mapping::from_toml_str(MAPPING, Path::new("p.toml")).unwrap());
        (dir, path, plan)
    }

    fn ctx() -> Context {
        Context {
            shift_days: 0,
            shift_millis: 0,
            now: Timestamp(1_700_000_000_000),
        }
    }

    /// The rows come in file order, each extracted as the resolving thread would have, over
    /// many messages and several parts of the file, with the last part's end as progress.
    #[test]
    fn rows_arrive_in_file_order_as_one_thread_reads_them() {
        let (_dir, path, plan) = setup(5_000);
        let mut expected = Vec::new();
        read::read_file_parts(
            &path,
            &plan.mapping,
            &plan.columns,
            16 << 10,
            |parsed, _| {
                for row in parsed.rows {
                    let ex = extract(&plan, &row, ctx());
                    expected.push((
                        row.line,
                        row.raw,
                        ex.map(|e| e.fragment).map_err(|p| p.field),
                    ));
                }
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(expected.len(), 5_000);
        let mut got = Vec::new();
        let mut last_done = 0;
        read_extracted(&path, &plan, ctx(), 16 << 10, |part| {
            assert!(part.header.is_some());
            if part.done > 0 {
                last_done = part.done;
            }
            for (row, ex) in part.rows {
                got.push((
                    row.line,
                    row.raw,
                    ex.map(|e| e.fragment).map_err(|p| p.field),
                ));
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(got, expected);
        assert_eq!(last_done, std::fs::metadata(&path).unwrap().len());
        assert!(got.iter().filter(|r| r.2.is_err()).count() >= 50);
    }

    /// An error of the resolving thread stops the reader and is the one returned.
    #[test]
    fn an_error_of_the_consumer_stops_the_reader() {
        let (_dir, path, plan) = setup(20_000);
        let mut parts = 0;
        let err = read_extracted(&path, &plan, ctx(), 16 << 10, |_| {
            parts += 1;
            if parts == 3 {
                return Err(Error::Invalid("resolution failed".into()));
            }
            Ok(())
        })
        .unwrap_err();
        assert!(err.to_string().contains("resolution failed"), "{err}");
        assert_eq!(parts, 3);
        // A file that cannot be read is the reader's error.
        let missing = path.with_file_name("missing.csv");
        let err = read_extracted(&missing, &plan, ctx(), 16 << 10, |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("missing.csv"), "{err}");
    }
}
