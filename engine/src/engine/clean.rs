//! Retention (`dagctl db clean`): the store removes old finished runs in one transaction,
//! then the XCom values those runs kept in the data location are removed from it. In that
//! order: a crash between the two leaves files nobody refers to, never a reference to a file
//! that is gone.

use chrono::{DateTime, Utc};

use super::{Engine, EngineError};
use crate::store::CleanReport;

/// What [`Engine::clean`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanOutcome {
    /// What the store removed (or would remove, in a dry run).
    pub report: CleanReport,
    /// XCom values removed from the data location.
    pub files_removed: u64,
    /// Those that could not be: (path under the data location, why).
    pub files_failed: Vec<(String, String)>,
}

impl Engine {
    /// Removes the finished runs that ended before `before` (of `dag_id` only, when given)
    /// with their task instances, tries, logs and XCom — the values kept in the data
    /// location included; with `dry_run`, only counts them ([`Store::clean`](crate::Store::clean)).
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
        let mut outcome = CleanOutcome::default();
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
