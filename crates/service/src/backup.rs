//! Online backups: the service writes a consistent export of the whole database to a file on
//! the machine that holds it, while it keeps serving (writers wait while the export runs).
//!
//! The file is written as [`rapport_store::Store::export_to_file`] does: a new file readable
//! by its owner only, synced, renamed over the target only when complete, with a trailer
//! (counts per keyspace and a digest) that `rapport import` checks. Operators' password
//! hashes are written blank unless asked for: a restored database keeps its operators, and
//! an admin sets their passwords again (`rapport operator passwd NAME`).

use std::path::Path;

use rapport_store::{ExportOptions, ExportSummary, Store};

use crate::api::{ServiceError, ServiceResult};
use crate::engine::{Caller, OPERATORS};

/// The longest backup path accepted, in bytes.
pub const MAX_PATH: usize = 4096;

/// The export options of a backup: password hashes blank unless `password_hashes`.
pub fn options(password_hashes: bool) -> ExportOptions {
    ExportOptions {
        blank: if password_hashes {
            Vec::new()
        } else {
            vec![(OPERATORS.to_string(), "password_hash".to_string())]
        },
    }
}

/// Writes a backup of `store` to `path` for `caller` (who was authorised for it).
pub fn write(
    store: &Store,
    caller: &Caller,
    path: &str,
    password_hashes: bool,
) -> ServiceResult<ExportSummary> {
    if path.len() > MAX_PATH || path.contains('\0') {
        return Err(ServiceError::Invalid(format!(
            "the backup path must be at most {MAX_PATH} bytes, without NUL"
        )));
    }
    let target = Path::new(path);
    if !target.is_absolute() {
        return Err(ServiceError::Invalid(
            "the backup path must be absolute: the server writes it on its own machine".into(),
        ));
    }
    let started = std::time::Instant::now();
    let summary = store
        .export_to_file(target, &options(password_hashes))
        .map_err(|e| match e {
            rapport_store::Error::Io(io) => ServiceError::Invalid(format!(
                "cannot write the backup to {}: {io}",
                rapport_core::text::sanitize(path)
            )),
            other => ServiceError::Internal(other.to_string()),
        })?;
    tracing::info!(
        operator = %rapport_core::text::sanitize(&caller.operator),
        path = %rapport_core::text::sanitize(path),
        lines = summary.lines,
        password_hashes,
        seconds = started.elapsed().as_secs_f64(),
        "backup written"
    );
    Ok(summary)
}
