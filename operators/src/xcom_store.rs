//! Large XCom values kept in the deployment's data location: the engine's
//! [`dagctl_engine::XcomSpill`] on `DAGCTL_DATA_CONN`'s connection, else the data
//! URL (`DAGCTL_DATA_URL` or `<home>/data`), opened on first use.

use async_trait::async_trait;
use dagctl_engine::XcomSpill;
use dagctl_engine::store::ConnectionLookup;
use object_store::ObjectStoreExt;
use tokio::sync::OnceCell;

use crate::storage::{Location, default_conn, open};

/// The data location as the place for large XCom values.
#[derive(Debug)]
pub struct DataLocationSpill {
    url: String,
    location: OnceCell<Location>,
}

impl DataLocationSpill {
    /// Spills under `url` (the engine's data URL) unless `DAGCTL_DATA_CONN` names a connection.
    pub fn new(url: impl Into<String>) -> DataLocationSpill {
        DataLocationSpill {
            url: url.into(),
            location: OnceCell::new(),
        }
    }

    async fn location(&self, store: &dyn ConnectionLookup) -> Result<&Location, String> {
        self.location
            .get_or_try_init(|| async {
                if let Some(name) = default_conn() {
                    let conn = store
                        .connection(&name)
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("DAGCTL_DATA_CONN names no connection `{name}`"))?;
                    return open(&conn.url, &conn.extra).map_err(|e| e.to_string());
                }
                open(&self.url, &Default::default()).map_err(|e| e.to_string())
            })
            .await
    }
}

#[async_trait]
impl XcomSpill for DataLocationSpill {
    async fn put(
        &self,
        store: &dyn ConnectionLookup,
        path: &str,
        bytes: Vec<u8>,
    ) -> Result<String, String> {
        let loc = self.location(store).await?;
        loc.put_bytes(&loc.key(path), bytes)
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!("{}/{path}", loc.url.trim_end_matches('/')))
    }

    async fn get(&self, store: &dyn ConnectionLookup, path: &str) -> Result<Vec<u8>, String> {
        let loc = self.location(store).await?;
        loc.get_bytes(&loc.key(path))
            .await
            .map(|b| b.to_vec())
            .map_err(|e| e.to_string())
    }

    async fn delete(&self, store: &dyn ConnectionLookup, path: &str) -> Result<(), String> {
        let loc = self.location(store).await?;
        match loc.store.delete(&loc.key(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}
