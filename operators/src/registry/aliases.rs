//! Aliases: named, movable pointers to versions (`champion` → 7), as MLflow has them beside
//! stages. Setting, moving and deleting one is recorded in the model's history.

use dagctl_engine::RecordStore;

use super::{Event, RegistryError, update, version};

/// Whether `alias` can name a version: letters, digits, `_` and `-`, not only digits (that
/// reads as a version number), at most 64 characters.
fn check(alias: &str) -> Result<(), RegistryError> {
    let ok = !alias.is_empty()
        && alias.len() <= 64
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !alias.chars().all(|c| c.is_ascii_digit())
        && !matches!(
            alias,
            "latest" | "production" | "staging" | "archived" | "none"
        );
    if ok {
        Ok(())
    } else {
        Err(RegistryError::Stage(format!(
            "`{}` cannot be an alias: use letters, digits, `_` and `-` (not only digits, at most \
             64, not `latest` or a stage name)",
            alias.chars().take(64).collect::<String>()
        )))
    }
}

fn event(version: u32, stage: super::Stage, reason: String) -> Event {
    Event {
        at: chrono::Utc::now(),
        action: "alias".into(),
        version,
        from: stage,
        to: stage,
        reason,
        decision: None,
    }
}

/// Points `alias` of `model` at `version` (moving it if it pointed elsewhere); returns the
/// version it pointed at before.
///
/// # Errors
/// A bad alias name, an unknown model or version, or the store's error.
pub async fn set_alias(
    store: &dyn RecordStore,
    model: &str,
    alias: &str,
    v: u32,
) -> Result<Option<u32>, RegistryError> {
    check(alias)?;
    version(store, model, v).await?;
    update(store, model, |e| {
        let before = e.aliases.insert(alias.to_string(), v);
        if before != Some(v) {
            let reason = match before {
                Some(b) => format!("alias `{alias}` moved from version {b}"),
                None => format!("alias `{alias}` set"),
            };
            let stage = e.stage(v);
            e.history.push(event(v, stage, reason));
        }
        Ok(before)
    })
    .await
}

/// Removes `alias`; returns the version it pointed at, if it existed.
///
/// # Errors
/// An unknown model, or the store's error.
pub async fn delete_alias(
    store: &dyn RecordStore,
    model: &str,
    alias: &str,
) -> Result<Option<u32>, RegistryError> {
    update(store, model, |e| {
        let before = e.aliases.remove(alias);
        if let Some(v) = before {
            let stage = e.stage(v);
            e.history
                .push(event(v, stage, format!("alias `{alias}` deleted")));
        }
        Ok(before)
    })
    .await
}

/// The version `alias` points at.
///
/// # Errors
/// [`RegistryError::Stage`] naming the aliases the model has, when it has not this one.
pub async fn resolve_alias(
    store: &dyn RecordStore,
    model: &str,
    alias: &str,
) -> Result<u32, RegistryError> {
    let (e, _) = super::existing(store, model).await?;
    e.aliases.get(alias).copied().ok_or_else(|| {
        RegistryError::Stage(format!(
            "model `{model}` has no alias `{alias}` (it has: {})",
            if e.aliases.is_empty() {
                "none".to_string()
            } else {
                e.aliases.keys().cloned().collect::<Vec<_>>().join(", ")
            }
        ))
    })
}
