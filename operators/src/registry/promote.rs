//! `promote_model`'s decision: the challenger and the champion scored on the same holdout
//! rows, each through its own stored preprocessing, then the rule; the decision is recorded
//! in the model's history by compare-and-swap, so two promoters never both win.

use arrow::array::RecordBatch;
use dagctl_engine::RecordStore;

use super::holdout::{Scored, bootstrap};
use super::rules::{Decision, HoldoutRef, PromotionRule, decide};
use super::{RegistryError, Stage, existing, kept_changing, load, write_entry};
use crate::storage::Location;

/// Resamples of the paired bootstrap.
pub const RESAMPLES: usize = 1000;

/// Raw rows neither model was trained on, and where they come from.
#[derive(Debug, Clone)]
pub struct Holdout {
    /// The prepared set they were held out of (`prepared_data/<date>`).
    pub reference: String,
    /// The raw rows, with the target column.
    pub rows: RecordBatch,
    /// Whether no earlier model can have trained on these rows (an out-of-time holdout). A
    /// random split of a window overlaps the champion's training days: no fair comparison.
    pub out_of_time: bool,
}

/// Scores `challenger` and the production version on `holdout` and applies `rule`: production
/// if the challenger wins (the champion is archived), staging otherwise. Returns the decision
/// and the champion it was compared with.
///
/// # Errors
/// Unknown model or version, a changed file, a holdout a model cannot score (a missing
/// column), a metric the task does not have, or the store's error.
pub async fn promote(
    store: &dyn RecordStore,
    location: &Location,
    model: &str,
    challenger: u32,
    rule: &PromotionRule,
    holdout: &Holdout,
) -> Result<(Decision, Option<u32>), RegistryError> {
    let ch = load(store, location, model, Some(challenger)).await?;
    let objective = rule.metric.clone().unwrap_or(ch.version.metric.clone());
    let ch_scored = Scored::new(&ch, &holdout.rows)?;
    let ch_metrics = ch_scored.metrics();
    if objective.value(&ch_metrics).is_none() {
        return Err(RegistryError::Stage(format!(
            "version {challenger} of `{model}` has no metric `{}` on the holdout (it has {}): promote by one it has",
            objective.name(),
            ch_metrics.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let mut floors: Vec<&str> = match &rule.floor {
        Some(super::Floor::Metrics(m)) => m.keys().map(|k| k.name()).collect(),
        _ => Vec::new(),
    };
    floors.retain(|m| !ch_metrics.contains_key(*m));
    if !floors.is_empty() {
        return Err(RegistryError::Stage(format!(
            "the floor names {} but version {challenger} of `{model}` has no such metric (it has {})",
            floors.join(", "),
            ch_metrics.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let reference = HoldoutRef {
        reference: holdout.reference.clone(),
        rows: ch_scored.rows(),
    };
    let mut champion_scored: Option<(u32, Scored)> = None;
    // The champion is read inside the compare-and-swap loop: a decision is written only if
    // the version it was compared with is still the champion.
    for _ in 0..20 {
        let (mut e, read) = existing(store, model).await?;
        let champion = e.production().filter(|p| *p != challenger);
        if let Some(p) = champion
            && champion_scored.as_ref().is_none_or(|(v, _)| *v != p)
        {
            let unusable = |e: RegistryError| {
                RegistryError::Stage(format!(
                    "the champion, version {p} of `{model}`, cannot be scored on the holdout ({e}); \
                     nothing was promoted: replace it by hand (`dagctl models promote {model} \
                     {challenger}`) or roll back to a version that scores"
                ))
            };
            let loaded = load(store, location, model, Some(p))
                .await
                .map_err(|e| match e {
                    RegistryError::Ml(_) => unusable(e),
                    other => other,
                })?;
            champion_scored = Some((p, Scored::new(&loaded, &holdout.rows).map_err(unusable)?));
        }
        let champ = champion.and(champion_scored.as_ref().map(|(_, s)| s));
        let interval = match (rule.confidence, champ) {
            (Some(c), Some(s)) => Some(bootstrap(
                &ch_scored,
                s,
                &objective,
                c,
                RESAMPLES,
                u64::from(challenger),
            )),
            _ => None,
        };
        let champ_metrics = champ.map(Scored::metrics);
        let mut d = decide(
            rule,
            &objective,
            &ch_metrics,
            champ_metrics.as_ref(),
            interval,
        );
        d.holdout = Some(reference.clone());
        if champion.is_some() && !holdout.out_of_time && d.promote {
            d.promote = false;
            d.reason = format!(
                "{}; but the holdout is a random split of days the champion may have trained on, \
                 so the comparison is not fair: the champion stays",
                d.reason
            );
        }
        if e.production() == Some(challenger) {
            return Ok((d, champion));
        }
        let reason = d.reason.clone();
        if d.promote {
            e.make_production(challenger, "promote", reason, Some(d.clone()));
        } else {
            e.set(
                challenger,
                Stage::Staging,
                "promote",
                reason,
                Some(d.clone()),
            );
        }
        if write_entry(store, &e, read).await? {
            return Ok((d, champion));
        }
    }
    Err(kept_changing(model))
}
