//! Where a version's files live. A version records it when it is registered (the connection
//! it was written through, or the data location's URL when that URL holds no secret), so
//! `dagctl models predict` and `verify` find the files from any shell, without the
//! `DAGCTL_DATA_URL` or `conn_id` the training used.

use serde::{Deserialize, Serialize};

use crate::storage::{Location, StorageError, open};

/// A version's storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactLocation {
    /// A named connection (its URL and settings are read when needed).
    Connection(String),
    /// A storage URL without credentials (`s3://bucket/prefix`, `file:///data`).
    Url(String),
}

impl ArtifactLocation {
    /// What to record for files written through `conn_id`, or else `location`; `None` when
    /// the URL cannot be kept without its secret.
    pub fn of(conn_id: Option<&str>, location: &Location) -> Option<ArtifactLocation> {
        match conn_id {
            Some(c) => Some(ArtifactLocation::Connection(c.to_string())),
            None if location.url.contains("***") || location.url.starts_with("memory://") => None,
            None => Some(ArtifactLocation::Url(location.url.clone())),
        }
    }

    /// Opens it, reading a connection from `connections`.
    ///
    /// # Errors
    /// An unknown connection, or a URL that cannot be opened.
    pub fn open(
        &self,
        connections: &[dagctl_engine::store::Connection],
    ) -> Result<Location, StorageError> {
        match self {
            ArtifactLocation::Url(u) => open(u, &Default::default()),
            ArtifactLocation::Connection(name) => {
                let c = connections.iter().find(|c| &c.name == name).ok_or_else(|| {
                    StorageError::Open {
                        url: format!("connection `{name}`"),
                        message: format!(
                            "the model's files were written through connection `{name}`, which does not exist here: `dagctl connections add {name} --url …`"
                        ),
                    }
                })?;
                open(&c.url, &c.extra)
            }
        }
    }
}
