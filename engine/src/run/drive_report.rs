//! What a [`super::Driver`] reports: how many runs ended and succeeded, the outcomes it was
//! asked to keep, and the runs it could not execute or left.

use crate::executor::RunOutcome;
use crate::state::RunState;
use crate::store::RunKey;

/// What a drive did.
#[derive(Debug, Default)]
pub struct DriveReport {
    /// How many runs were executed (or found finished) to their end.
    pub ended: usize,
    /// How many of those ended `success`.
    pub succeeded: usize,
    /// The outcomes of the runs that ended, in the order they ended: every run that did not
    /// succeed, and the runs that succeeded up to [`super::Driver::keep_succeeded`] (all of them
    /// unless limited).
    pub outcomes: Vec<RunOutcome>,
    /// Runs that could not be executed, with why.
    pub failures: Vec<(RunKey, String)>,
    /// Unfinished runs left unfinished: waiting for a run limit held elsewhere, or of a DAG
    /// that is not loaded.
    pub left: Vec<(RunKey, String)>,
    /// Unfinished runs that another live process drives (`Scope::All` leaves them to it).
    pub held: Vec<(RunKey, String)>,
}

impl DriveReport {
    /// Whether every run ended `success` and none was left or could not run.
    pub fn all_succeeded(&self) -> bool {
        self.failures.is_empty() && self.left.is_empty() && self.succeeded == self.ended
    }

    /// How many runs that succeeded are not among [`DriveReport::outcomes`].
    pub fn succeeded_not_kept(&self) -> usize {
        let kept = self
            .outcomes
            .iter()
            .filter(|o| o.state == RunState::Success)
            .count();
        self.succeeded.saturating_sub(kept)
    }
}
