//! Retention (`dagctl db clean`): the store removes old finished runs in one transaction,
//! then the XCom values those runs kept in the data location are removed from it. In that
//! order: a crash between the two leaves files nobody refers to, never a reference to a file
//! that is gone.

use chrono::{DateTime, Utc};

use super::{Engine, EngineError};
use crate::store::{CleanReport, EventConsumer, EventsCleaned};

/// What [`Engine::clean`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanOutcome {
    /// What the store removed (or would remove, in a dry run).
    pub report: CleanReport,
    /// XCom values removed from the data location.
    pub files_removed: u64,
    /// Those that could not be: (path under the data location, why).
    pub files_failed: Vec<(String, String)>,
    /// Dataset events no consumer waits for, and their consumptions (cleans of every DAG
    /// only).
    pub events: EventsCleaned,
    /// Dataset events were left alone: the DAG folder has files with errors, which may be
    /// consumers waiting for them.
    pub events_skipped: bool,
}

impl Engine {
    /// Removes the finished runs that ended before `before` (of `dag_id` only, when given)
    /// with their task instances, tries, logs and XCom — the values kept in the data
    /// location included; with `dry_run`, only counts them ([`Store::clean`](crate::Store::clean)).
    /// Without `dag_id`, also the dataset events recorded before `before` that no DAG of the
    /// folder still waits for, with their consumptions ([`Store::clean_events`](crate::Store::clean_events)).
    ///
    /// # Errors
    /// A store failure (nothing is removed then). Files that cannot be removed are listed in
    /// the outcome, not an error: the runs are gone already.
    pub async fn clean(
        &self,
        before: DateTime<Utc>,
        dag_id: Option<&str>,
        dry_run: bool,
    ) -> Result<CleanOutcome, EngineError> {
        let report = self.store.clean(before, dag_id, dry_run).await?;
        // A DAG file with errors may be a consumer's: its pending events are not known, so
        // no event goes until the folder loads whole.
        let mut outcome = CleanOutcome {
            events_skipped: dag_id.is_none() && self.diagnostics().error_count() > 0,
            ..CleanOutcome::default()
        };
        if dag_id.is_none() && !outcome.events_skipped {
            // Every consumer the DAG folder has, paused ones too: their pending events stay.
            let mut consumers = Vec::new();
            for dag in self.dags() {
                let (Some(condition), Some(flags)) =
                    (dag.schedule().datasets(), self.flags(dag.id()))
                else {
                    continue;
                };
                for name in condition.datasets() {
                    consumers.push(EventConsumer {
                        dataset: name.to_string(),
                        dag_id: dag.id().to_string(),
                        since: flags.first_seen,
                    });
                }
            }
            outcome.events = self.store.clean_events(before, &consumers, dry_run).await?;
        }
        if !dry_run {
            for path in &report.spilled {
                match self.executor.remove_spilled(path).await {
                    Ok(()) => outcome.files_removed += 1,
                    Err(e) => outcome.files_failed.push((path.clone(), e)),
                }
            }
        }
        outcome.report = report;
        Ok(outcome)
    }
}
