//! Named connections and how their secrets are kept out of sight.

pub use super::sql::{is_web_url, redact_url};

use super::StoreError;

/// Reading the named connections: all that an extension resolving a connection needs of the
/// state store (an [`XcomSpill`](crate::XcomSpill) reading `DAGCTL_DATA_CONN`, for one), so
/// that it is given this and not the whole [`Store`](super::Store). Every store has it.
#[async_trait::async_trait]
pub trait ConnectionLookup: Send + Sync {
    /// Every connection.
    async fn connections(&self) -> Result<Vec<Connection>, StoreError>;

    /// The connection named `name`, if there is one.
    async fn connection(&self, name: &str) -> Result<Option<Connection>, StoreError> {
        Ok(self
            .connections()
            .await?
            .into_iter()
            .find(|c| c.name == name))
    }
}

/// A named connection (as Airflow has): a URL and extra settings. It holds secrets, so its
/// `Debug` shows neither the URL's password nor the values of secret-looking extras.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    /// Its name (`conn_id` in DAG files).
    pub name: String,
    /// Where it points (`s3://bucket/prefix`, `file:///data`, …).
    pub url: String,
    /// Further settings (endpoint, region, keys, …).
    pub extra: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("name", &self.name)
            .field("url", &redact_url(&self.url))
            .field("extra", &masked_extra(&self.extra))
            .finish()
    }
}

/// Whether a setting's or Variable's name says it holds a secret (`secret_access_key`,
/// `password`, `api_key`, …): its value is masked wherever it is shown.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "secret",
        "password",
        "passwd",
        "token",
        "passphrase",
        "private",
        "credential",
        "api_key",
        "apikey",
        "authorization",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// The extras with secret values replaced by `***`.
pub fn masked_extra(
    extra: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    extra
        .iter()
        .map(|(k, v)| {
            let v = if is_secret_name(k) {
                "***".to_string()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}
