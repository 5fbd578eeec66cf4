//! Object stores from URLs: `file://PATH` (the default, under `$DAGCTL_HOME/data`),
//! `s3://BUCKET/PREFIX` for AWS, MinIO and SeaweedFS, and `memory://` for tests.
//!
//! S3 settings come from the standard `AWS_*` environment variables (`AWS_ENDPOINT_URL`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`, …), then from
//! the AWS shared files' profile (`AWS_PROFILE`, else `default`, in `~/.aws/credentials` and
//! `~/.aws/config`: keys, session token, `region`, `endpoint_url`), then from a
//! named connection's extras (`endpoint_url`, `region`, `aws_access_key_id`, …), then from
//! the URL itself (`s3://KEY:SECRET@bucket/prefix`). Secrets never appear in errors or
//! `Debug` output: URLs are shown with their password replaced by `***`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use dagctl_engine::store::{is_secret_name, redact_url};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

/// Why a storage URL could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The URL is not one dagctl can use.
    #[error("unsupported storage URL `{url}`: use file://PATH, s3://BUCKET/PREFIX or memory://")]
    BadUrl {
        /// The URL, password hidden.
        url: String,
    },
    /// An extra setting that is not an S3 setting.
    #[error(
        "`{key}` is not an S3 setting (known: endpoint_url, region, aws_access_key_id, aws_secret_access_key, allow_http, …)"
    )]
    BadSetting {
        /// The setting's name.
        key: String,
    },
    /// The store could not be set up.
    #[error("cannot open {url}: {message}")]
    Open {
        /// The URL, password hidden.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// A read or write of one object that failed, naming its key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {source}")]
pub struct ObjectError {
    /// The object's key.
    pub key: String,
    /// The store's error.
    #[source]
    pub source: object_store::Error,
}

impl ObjectError {
    /// Whether the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self.source, object_store::Error::NotFound { .. })
    }
}

/// An object store and the prefix under which a URL points.
#[derive(Clone)]
pub struct Location {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The prefix within it (the URL's path, for S3).
    pub prefix: ObjectPath,
    /// The URL, password hidden (for messages).
    pub url: String,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Location")
            .field("url", &self.url)
            .field("prefix", &self.prefix.as_ref())
            .finish_non_exhaustive()
    }
}

impl Location {
    /// The whole content of the object at `key` (a full key, as [`Location::key`] gives).
    ///
    /// # Errors
    /// An [`ObjectError`] naming the key.
    pub async fn get_bytes(&self, key: &ObjectPath) -> Result<bytes::Bytes, ObjectError> {
        let err = |source| ObjectError {
            key: key.to_string(),
            source,
        };
        self.store
            .get(key)
            .await
            .map_err(err)?
            .bytes()
            .await
            .map_err(err)
    }

    /// Writes an object whole (a reader sees the old content or the new, never a mix).
    ///
    /// # Errors
    /// An [`ObjectError`] naming the key.
    pub async fn put_bytes(
        &self,
        key: &ObjectPath,
        data: impl Into<bytes::Bytes>,
    ) -> Result<(), ObjectError> {
        self.store
            .put(key, object_store::PutPayload::from(data.into()))
            .await
            .map(drop)
            .map_err(|source| ObjectError {
                key: key.to_string(),
                source,
            })
    }

    /// The full key of `relative` under this location's prefix.
    pub fn key(&self, relative: &str) -> ObjectPath {
        let mut parts: Vec<&str> = self
            .prefix
            .as_ref()
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        parts.extend(relative.split('/').filter(|p| !p.is_empty()));
        ObjectPath::from(parts.join("/"))
    }
}

/// The data location an engine gives its operators (a resource): `file://<home>/data`
/// unless `DAGCTL_DATA_URL` says otherwise.
#[derive(Debug, Clone)]
pub struct DataRoot(pub String);

/// The deployment's data connection, `DAGCTL_DATA_CONN`: every data operator without its own
/// `url` or `conn_id` goes through it (S3 settings and keys set once, not on every task).
pub fn default_conn() -> Option<String> {
    std::env::var("DAGCTL_DATA_CONN")
        .ok()
        .filter(|c| !c.trim().is_empty())
}

/// The connection a task's data goes through: its own `conn_id`, else (without a `url`) the
/// deployment's [`default_conn`].
pub fn effective_conn(url: Option<&str>, conn_id: Option<&str>) -> Option<String> {
    match (conn_id, url) {
        (Some(c), _) => Some(c.to_string()),
        (None, Some(_)) => None,
        (None, None) => default_conn(),
    }
}

/// Where a data operator reads or writes: its `conn_id` (a named connection), else its `url`,
/// else `DAGCTL_DATA_CONN`'s connection, else the engine's [`DataRoot`], else
/// `DAGCTL_DATA_URL` or `file://$DAGCTL_HOME/data`.
///
/// # Errors
/// A fatal [`TaskError`](dagctl_engine::TaskError) for an unknown connection or an unusable URL (no secret in it).
pub async fn resolve(
    ctx: &dagctl_engine::TaskContext,
    url: Option<&str>,
    conn_id: Option<&str>,
) -> Result<Location, dagctl_engine::TaskError> {
    use dagctl_engine::TaskError;
    if let Some(name) = effective_conn(url, conn_id).as_deref() {
        let conn = ctx.connection(name).await?.ok_or_else(|| {
            TaskError::fatal(format!(
                "no connection `{name}` (`dagctl connections add {name} --url …`)"
            ))
        })?;
        return open(&conn.url, &conn.extra).map_err(|e| TaskError::fatal(e.to_string()));
    }
    let url = match url {
        Some(u) => u.to_string(),
        None => match ctx.resource::<DataRoot>() {
            Some(root) => root.0.clone(),
            None => {
                let home = std::env::var("DAGCTL_HOME").unwrap_or_else(|_| ".dagctl".into());
                default_data_url(Path::new(&home))
            }
        },
    };
    open(&url, &BTreeMap::new()).map_err(|e| TaskError::fatal(e.to_string()))
}

/// `text` as one path segment: letters, digits, `-`, `_` and `.` kept, anything else (`:`,
/// `+`, `/`, spaces) turned into `_` — how run ids become file names.
pub fn path_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The default data location: `file://<home>/data`, or `DAGCTL_DATA_URL`.
pub fn default_data_url(home: &Path) -> String {
    std::env::var("DAGCTL_DATA_URL")
        .unwrap_or_else(|_| format!("file://{}", home.join("data").display()))
}

/// Checks a URL and its settings without touching anything (no folder created, no request).
///
/// # Errors
/// As [`open`].
pub fn check(url: &str, extra: &BTreeMap<String, String>) -> Result<(), StorageError> {
    if url.starts_with("file://") {
        if url.len() == "file://".len() {
            return Err(StorageError::BadUrl {
                url: redact_url(url),
            });
        }
        return Ok(());
    }
    open(url, extra).map(drop)
}

/// Opens the store a URL names; `extra` holds a connection's settings.
///
/// # Errors
/// A [`StorageError`] naming the URL (password hidden).
pub fn open(url: &str, extra: &BTreeMap<String, String>) -> Result<Location, StorageError> {
    let shown = redact_url(url);
    if let Some(path) = url.strip_prefix("file://") {
        std::fs::create_dir_all(path).map_err(|e| StorageError::Open {
            url: shown.clone(),
            message: format!("cannot create the folder: {e}"),
        })?;
        let fs = LocalFileSystem::new_with_prefix(path).map_err(|e| StorageError::Open {
            url: shown.clone(),
            message: e.to_string(),
        })?;
        return Ok(Location {
            store: Arc::new(fs),
            prefix: ObjectPath::default(),
            url: shown,
        });
    }
    if url == "memory://" || url.starts_with("memory://") {
        return Ok(Location {
            store: Arc::new(InMemory::new()),
            prefix: ObjectPath::from(url.trim_start_matches("memory://")),
            url: shown,
        });
    }
    if url.starts_with("s3://") {
        let parsed =
            url::Url::parse(url).map_err(|_| StorageError::BadUrl { url: shown.clone() })?;
        let bucket = parsed.host_str().unwrap_or_default().to_string();
        if bucket.is_empty() {
            return Err(StorageError::BadUrl { url: shown });
        }
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&bucket);
        for (key, value) in
            crate::aws_profile::settings().map_err(|message| StorageError::Open {
                url: shown.clone(),
                message,
            })?
        {
            b = b.with_config(key, value);
        }
        for (key, value) in extra {
            let name = match key.as_str() {
                "region_name" => "region",
                "endpoint" => "endpoint_url",
                other => other,
            };
            let config: AmazonS3ConfigKey = name
                .to_ascii_lowercase()
                .parse()
                .map_err(|_| StorageError::BadSetting { key: key.clone() })?;
            b = b.with_config(config, value);
        }
        if !parsed.username().is_empty() {
            b = b.with_access_key_id(decode(parsed.username()));
        }
        if let Some(secret) = parsed.password() {
            b = b.with_secret_access_key(decode(secret));
        }
        let s3 = b.build().map_err(|e| StorageError::Open {
            url: shown.clone(),
            message: scrub(&e.to_string(), url, extra),
        })?;
        return Ok(Location {
            store: Arc::new(s3),
            prefix: ObjectPath::from(parsed.path().trim_matches('/')),
            url: shown,
        });
    }
    Err(StorageError::BadUrl { url: shown })
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// Removes any secret of `url` or `extra` from a message (errors can echo settings back).
fn scrub(message: &str, url: &str, extra: &BTreeMap<String, String>) -> String {
    let mut out = message.to_string();
    let mut secrets: Vec<String> = extra
        .iter()
        .filter(|(k, _)| is_secret_name(k))
        .map(|(_, v)| v.clone())
        .collect();
    if let Ok(u) = url::Url::parse(url)
        && let Some(p) = u.password()
    {
        secrets.push(p.to_string());
        secrets.push(decode(p));
    }
    if let Ok(s) = std::env::var("AWS_SECRET_ACCESS_KEY") {
        secrets.push(s);
    }
    for s in secrets.into_iter().filter(|s| s.len() >= 4) {
        out = out.replace(&s, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::{ObjectStoreExt, PutPayload};

    #[tokio::test]
    async fn file_and_memory_stores_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().join("data").display());
        let loc = open(&url, &BTreeMap::new()).unwrap();
        let key = loc.key("raw/a.txt");
        loc.store
            .put(&key, PutPayload::from_static(b"hi"))
            .await
            .unwrap();
        assert!(dir.path().join("data/raw/a.txt").exists(), "a real file");
        let got = loc.store.get(&key).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"hi");
        let mem = open("memory://p", &BTreeMap::new()).unwrap();
        assert_eq!(mem.key("x/y").as_ref(), "p/x/y");
    }

    #[test]
    fn bad_urls_and_settings_are_named_without_secrets() {
        let e = open("ftp://user:hunter2@host/x", &BTreeMap::new()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("unsupported storage URL `ftp://user:***@host/x`"),
            "{text}"
        );
        assert!(!text.contains("hunter2"));
        let extra = BTreeMap::from([("colour".to_string(), "blue".to_string())]);
        let e = open("s3://bucket/p", &extra).unwrap_err();
        assert!(
            e.to_string().contains("`colour` is not an S3 setting"),
            "{e}"
        );
    }

    #[test]
    fn s3_locations_take_bucket_prefix_and_settings() {
        let extra = BTreeMap::from([
            ("endpoint_url".to_string(), "http://127.0.0.1:9".to_string()),
            ("region".to_string(), "us-east-1".to_string()),
            ("allow_http".to_string(), "true".to_string()),
        ]);
        let loc = open("s3://AKID:sekrit%2Fkey@lake/raw/zone", &extra).unwrap();
        assert_eq!(loc.prefix.as_ref(), "raw/zone");
        assert_eq!(loc.url, "s3://AKID:***@lake/raw/zone");
        let shown = format!("{loc:?}");
        assert!(!shown.contains("sekrit"), "{shown}");
    }
}
