//! rapport-store: the only crate that touches sled. (Being built: see issue 2.)

use std::path::Path;

/// Store errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Placeholder until the store lands.
    #[error("the store is not built yet ({0})")]
    NotBuilt(String),
}

/// The store handle.
#[derive(Debug, Clone)]
pub struct Store {}

impl Store {
    /// Opens the database at `path`.
    pub fn open(path: &Path) -> Result<Store, Error> {
        Err(Error::NotBuilt(path.display().to_string()))
    }
}
