//! Trigger rules: when a task may run given the states of its upstream tasks.

use std::fmt;
use std::str::FromStr;

/// When a task runs, given its direct upstreams' states. Names and meaning as in Airflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TriggerRule {
    /// Every upstream succeeded (the default).
    #[default]
    AllSuccess,
    /// Every upstream failed or was upstream_failed.
    AllFailed,
    /// Every upstream finished, whatever its state.
    AllDone,
    /// At least one upstream succeeded (runs as soon as one does).
    OneSuccess,
    /// At least one upstream failed (runs as soon as one does).
    OneFailed,
    /// No upstream failed or upstream_failed (success or skipped).
    NoneFailed,
    /// No upstream failed, and at least one succeeded.
    NoneFailedMinOneSuccess,
    /// No upstream was skipped.
    NoneSkipped,
    /// Always runs, once the upstreams are done or not.
    Always,
}

impl TriggerRule {
    /// Every rule, in documentation order.
    pub const ALL: [TriggerRule; 9] = [
        TriggerRule::AllSuccess,
        TriggerRule::AllFailed,
        TriggerRule::AllDone,
        TriggerRule::OneSuccess,
        TriggerRule::OneFailed,
        TriggerRule::NoneFailed,
        TriggerRule::NoneFailedMinOneSuccess,
        TriggerRule::NoneSkipped,
        TriggerRule::Always,
    ];

    /// The rule's name as written in DAG files (`all_success`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerRule::AllSuccess => "all_success",
            TriggerRule::AllFailed => "all_failed",
            TriggerRule::AllDone => "all_done",
            TriggerRule::OneSuccess => "one_success",
            TriggerRule::OneFailed => "one_failed",
            TriggerRule::NoneFailed => "none_failed",
            TriggerRule::NoneFailedMinOneSuccess => "none_failed_min_one_success",
            TriggerRule::NoneSkipped => "none_skipped",
            TriggerRule::Always => "always",
        }
    }
}

impl fmt::Display for TriggerRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TriggerRule {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        // Airflow 1 called `none_failed_min_one_success` `none_failed_or_skipped`.
        if s == "none_failed_or_skipped" {
            return Ok(TriggerRule::NoneFailedMinOneSuccess);
        }
        TriggerRule::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(())
    }
}
