//! XCom values too large for the state store: kept in an object store (the data location),
//! with a small reference in the store that [`TaskContext::xcom_pull`] and templates follow
//! transparently — no cliff at some size, and the database stays small.
//!
//! A value up to [`XCOM_INLINE_MAX`] bytes of JSON (`DAGCTL_XCOM_MAX_BYTES`) is stored inline.
//! A larger one goes to the [`XcomSpill`] registered as a resource ([`SpillTo`]); the shipped
//! CLI registers the data location (`<home>/data`, `DAGCTL_DATA_URL` or `DAGCTL_DATA_CONN`),
//! under `xcom/<dag>/<run>/<task>/try-<n>/<key>.json`. Without one, the try fails with a
//! message saying so, and the run goes on as after any failed try.

use std::sync::Arc;

use async_trait::async_trait;

use super::context::{Resources, TaskContext, TaskError};
use crate::store::ConnectionLookup;
use crate::store::Store;

/// The largest XCom value kept in the state store, as JSON text.
pub const XCOM_INLINE_MAX: usize = 256 << 10;

/// The key that marks a reference to a spilled value.
const REF_KEY: &str = "__dagctl_xcom_ref__";

/// The size of the value a stored XCom refers to, if it was kept in the data location.
pub fn spilled_bytes(stored: &serde_json::Value) -> Option<u64> {
    stored.get(REF_KEY)?;
    stored.get("bytes")?.as_u64()
}

/// Where the value a stored XCom refers to was kept (its path under the data location), if
/// it was kept there.
pub fn spilled_path(stored: &serde_json::Value) -> Option<&str> {
    stored
        .as_object()
        .filter(|m| m.len() == 2 && m.contains_key("bytes"))
        .and_then(|m| m.get(REF_KEY))
        .and_then(|p| p.as_str())
}

fn inline_max() -> usize {
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        std::env::var("DAGCTL_XCOM_MAX_BYTES")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(XCOM_INLINE_MAX)
    })
}

/// Where large XCom values go: an object store, by relative path. The state store is given
/// to find connections (a data location may be one).
#[async_trait]
pub trait XcomSpill: Send + Sync + 'static {
    /// Stores `bytes` at `path`; returns where they went, for messages (no secrets in it).
    async fn put(
        &self,
        store: &dyn ConnectionLookup,
        path: &str,
        bytes: Vec<u8>,
    ) -> Result<String, String>;
    /// Reads back what [`put`](Self::put) stored at `path`.
    async fn get(&self, store: &dyn ConnectionLookup, path: &str) -> Result<Vec<u8>, String>;
    /// Removes what [`put`](Self::put) stored at `path` (`dagctl db clean`); one already gone
    /// is not an error. By default a spill cannot remove, and says so.
    async fn delete(&self, store: &dyn ConnectionLookup, path: &str) -> Result<(), String> {
        let _ = store;
        Err(format!("this XCom location cannot remove `{path}`"))
    }
}

/// The [`XcomSpill`] of an engine, as a resource (`EngineBuilder::resource(SpillTo(…))`).
#[derive(Clone)]
pub struct SpillTo(pub Arc<dyn XcomSpill>);

/// Where the values of a try go: `xcom/<dag>/<run>/<task>/try-<n>/`.
pub(crate) fn folder(ctx: &TaskContext) -> String {
    format!(
        "xcom/{}/{}/{}/try-{}",
        safe(&ctx.dag_id),
        safe(&ctx.run_id),
        safe(&ctx.task_id),
        ctx.try_number
    )
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `value` as it is stored: itself when small, else a reference to where it was spilled.
///
/// # Errors
/// A fatal [`TaskError`] when the value is too large and there is nowhere to spill it, a
/// retryable one when the object store fails.
pub(crate) async fn spilled(
    resources: &Resources,
    store: &dyn Store,
    folder: &str,
    key: &str,
    value: serde_json::Value,
) -> Result<serde_json::Value, TaskError> {
    let text = value.to_string();
    let max = inline_max();
    if text.len() <= max {
        return Ok(value);
    }
    let Some(SpillTo(spill)) = resources.get::<SpillTo>().as_deref().cloned() else {
        return Err(TaskError::fatal(format!(
            "XCom `{key}` is {} bytes, more than the {max} kept in the state store \
             (DAGCTL_XCOM_MAX_BYTES), and this engine has no data location to keep it in",
            text.len()
        )));
    };
    let path = format!("{folder}/{}.json", safe(key));
    let bytes = text.len();
    let at = spill
        .put(store, &path, text.into_bytes())
        .await
        .map_err(|e| {
            TaskError::retryable(format!(
                "XCom `{key}` ({bytes} bytes) could not be kept: {e}"
            ))
        })?;
    tracing::debug!("XCom `{key}` ({bytes} bytes) kept at {at}");
    Ok(serde_json::json!({ REF_KEY: path, "bytes": bytes }))
}

/// Removes a value kept in the data location (its XCom row is gone: `db clean`).
///
/// # Errors
/// No data location, or the object store's refusal, in words.
pub(crate) async fn remove(
    resources: &Resources,
    store: &dyn Store,
    path: &str,
) -> Result<(), String> {
    let Some(SpillTo(spill)) = resources.get::<SpillTo>().as_deref().cloned() else {
        return Err(format!(
            "`{path}` was kept in a data location and this engine has none"
        ));
    };
    spill.delete(store, path).await
}

/// A stored XCom value as the task sees it: a reference is followed to the spilled value.
///
/// # Errors
/// A retryable [`TaskError`] when the spilled value cannot be read back.
pub(crate) async fn resolved(
    resources: &Resources,
    store: &dyn Store,
    value: serde_json::Value,
) -> Result<serde_json::Value, TaskError> {
    let Some(path) = spilled_path(&value) else {
        return Ok(value);
    };
    let Some(SpillTo(spill)) = resources.get::<SpillTo>().as_deref().cloned() else {
        return Err(TaskError::fatal(format!(
            "this XCom value was kept in a data location (`{path}`) and this engine has none"
        )));
    };
    let bytes = spill
        .get(store, path)
        .await
        .map_err(|e| TaskError::retryable(format!("reading the XCom kept at `{path}`: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| TaskError::fatal(format!("the XCom kept at `{path}` is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Memory(Mutex<HashMap<String, Vec<u8>>>);

    #[async_trait]
    impl XcomSpill for Memory {
        async fn put(
            &self,
            _: &dyn ConnectionLookup,
            path: &str,
            bytes: Vec<u8>,
        ) -> Result<String, String> {
            self.0.lock().unwrap().insert(path.into(), bytes);
            Ok(format!("memory:{path}"))
        }
        async fn get(&self, _: &dyn ConnectionLookup, path: &str) -> Result<Vec<u8>, String> {
            self.0
                .lock()
                .unwrap()
                .get(path)
                .cloned()
                .ok_or("gone".into())
        }
    }

    #[tokio::test]
    async fn large_values_spill_and_come_back_small_ones_stay() {
        let big = serde_json::json!("x".repeat(XCOM_INLINE_MAX + 1));
        let none = Resources::default();
        let store = crate::store::MemoryStore::default();
        let err = spilled(&none, &store, "f", "k", big.clone())
            .await
            .unwrap_err();
        assert!(err.message.contains("no data location"), "{err}");
        let mut res = Resources::default();
        res.insert(SpillTo(Arc::new(Memory::default())));
        let small = serde_json::json!({"rows": 3});
        let kept = spilled(&res, &store, "f", "k", small.clone())
            .await
            .unwrap();
        assert_eq!(kept, small);
        let stored = spilled(&res, &store, "f", "k/1", big.clone())
            .await
            .unwrap();
        assert!(stored.to_string().len() < 100, "{stored}");
        assert_eq!(stored[REF_KEY], "f/k_1.json");
        assert_eq!(resolved(&res, &store, stored).await.unwrap(), big);
        assert_eq!(resolved(&res, &store, small.clone()).await.unwrap(), small);
    }
}
