//! Stage changes by hand: `dagctl models promote`, `archive`, `rollback`.

use super::{RegistryError, Stage, update, version};
use dagctl_engine::RecordStore;

/// Sets a version's stage by hand (`dagctl models promote`), within the stage rules:
/// production comes from `none` or `staging` (an archived version comes back with `rollback`)
/// and archives the current production version; the production version leaves production
/// only by being replaced or archived.
///
/// # Errors
/// [`RegistryError::Stage`] for a forbidden change; unknown model or version.
pub async fn set_stage(
    store: &dyn RecordStore,
    model: &str,
    v: u32,
    to: Stage,
) -> Result<Stage, RegistryError> {
    version(store, model, v).await?;
    update(store, model, |e| {
        let from = e.stage(v);
        let bad = |m: String| Err(RegistryError::Stage(m));
        match (from, to) {
            (a, b) if a == b => return bad(format!("version {v} of `{model}` is already in {}", a.name())),
            (Stage::Archived, Stage::Production) => {
                return bad(format!(
                    "version {v} of `{model}` is archived: bring it back with `dagctl models rollback {model} --to {v}`"
                ));
            }
            (Stage::Production, Stage::Staging | Stage::None) => {
                return bad(format!(
                    "version {v} of `{model}` is in production: promote another version, roll back, or archive it"
                ));
            }
            (_, Stage::Production) => e.make_production(v, "stage", "set by hand".into(), None),
            (_, to) => e.set(v, to, "stage", "set by hand".into(), None),
        }
        Ok(from)
    })
    .await
}

/// Makes an earlier version production again (`--to`, else the last version that was in
/// production before the current one); the replaced version is archived.
///
/// # Errors
/// No earlier production version, an unknown version, or the target is already production.
pub async fn rollback(
    store: &dyn RecordStore,
    model: &str,
    to: Option<u32>,
) -> Result<(Option<u32>, u32), RegistryError> {
    if let Some(v) = to {
        version(store, model, v).await?;
    }
    update(store, model, |e| {
        let current = e.production();
        let target = match to {
            Some(v) => v,
            None => e
                .history
                .iter()
                .rev()
                .filter(|ev| ev.to == Stage::Production && Some(ev.version) != current)
                .map(|ev| ev.version)
                .next()
                .ok_or_else(|| {
                    RegistryError::Stage(format!(
                        "model `{model}` has no earlier production version to roll back to; name one with --to"
                    ))
                })?,
        };
        if current == Some(target) {
            return Err(RegistryError::Stage(format!(
                "version {target} of `{model}` is already in production"
            )));
        }
        e.make_production(
            target,
            "rollback",
            format!("rolled back from {}", current.map_or("no production".into(), |c| format!("version {c}"))),
            None,
        );
        Ok((current, target))
    })
    .await
}
