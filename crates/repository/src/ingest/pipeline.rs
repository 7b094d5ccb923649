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
