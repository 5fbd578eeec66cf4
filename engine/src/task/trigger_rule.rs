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

/// How many of a task's direct upstreams are in each state, for [`TriggerRule::evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpstreamStates {
    /// Number of direct upstream tasks.
    pub total: usize,
    /// Upstreams that succeeded.
    pub success: usize,
    /// Upstreams that failed (their last try failed, no retry left).
    pub failed: usize,
    /// Upstreams that were marked upstream_failed.
    pub upstream_failed: usize,
    /// Upstreams that were skipped.
    pub skipped: usize,
}

impl UpstreamStates {
    /// Upstreams in a final state.
    pub fn done(&self) -> usize {
        self.success + self.failed + self.upstream_failed + self.skipped
    }

    fn all_done(&self) -> bool {
        self.done() >= self.total
    }

    fn any_failed(&self) -> bool {
        self.failed + self.upstream_failed > 0
    }
}

/// What a trigger rule decides for a task, given its upstreams so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not decidable yet: wait for more upstreams to finish.
    Wait,
    /// The task may run.
    Run,
    /// The task is skipped (and so are downstream tasks whose rules say so).
    Skip,
    /// The task is marked upstream_failed without running.
    UpstreamFailed,
}

impl TriggerRule {
    /// Decides whether a task with this rule runs, following Airflow: a decision is taken as
    /// soon as it cannot change (`all_success` fails fast on the first failed upstream,
    /// `one_success` runs on the first success), otherwise when every upstream is done.
    /// A task without upstreams always runs; `always` runs without waiting for anything.
    pub fn evaluate(self, up: UpstreamStates) -> Decision {
        use Decision::*;
        if up.total == 0 || self == TriggerRule::Always {
            return Run;
        }
        let done = up.all_done();
        match self {
            TriggerRule::AllSuccess => {
                if up.any_failed() {
                    UpstreamFailed
                } else if up.skipped > 0 {
                    Skip
                } else if done {
                    Run
                } else {
                    Wait
                }
            }
            TriggerRule::AllFailed => {
                if up.success + up.skipped > 0 {
                    Skip
                } else if done {
                    Run
                } else {
                    Wait
                }
            }
            TriggerRule::AllDone => {
                if done {
                    Run
                } else {
                    Wait
                }
            }
            TriggerRule::OneSuccess => {
                if up.success > 0 {
                    Run
                } else if !done {
                    Wait
                } else if up.skipped == up.total {
                    Skip
                } else {
                    UpstreamFailed
                }
            }
            TriggerRule::OneFailed => {
                if up.any_failed() {
                    Run
                } else if done {
                    Skip
                } else {
                    Wait
                }
            }
            TriggerRule::NoneFailed => {
                if up.any_failed() {
                    UpstreamFailed
                } else if done {
                    Run
                } else {
                    Wait
                }
            }
            TriggerRule::NoneFailedMinOneSuccess => {
                if up.any_failed() {
                    UpstreamFailed
                } else if !done {
                    Wait
                } else if up.skipped == up.total {
                    Skip
                } else {
                    Run
                }
            }
            TriggerRule::NoneSkipped => {
                if up.skipped > 0 {
                    Skip
                } else if done {
                    Run
                } else {
                    Wait
                }
            }
            TriggerRule::Always => Run,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Decision::{Run, Skip, UpstreamFailed as UF, Wait};
    use super::*;

    /// Upstream states as a string: one letter per upstream — s(uccess), f(ailed),
    /// u(pstream_failed), k (skipped), r(unning or not started).
    fn ups(states: &str) -> UpstreamStates {
        let count = |c| states.chars().filter(|&x| x == c).count();
        UpstreamStates {
            total: states.len(),
            success: count('s'),
            failed: count('f'),
            upstream_failed: count('u'),
            skipped: count('k'),
        }
    }

    #[test]
    fn every_rule_against_a_table_of_upstream_states() {
        use TriggerRule::*;
        // columns: upstream states, then the decision of each rule in TriggerRule::ALL order:
        // all_success, all_failed, all_done, one_success, one_failed, none_failed,
        // none_failed_min_one_success, none_skipped, always
        let table: &[(&str, [Decision; 9])] = &[
            ("", [Run, Run, Run, Run, Run, Run, Run, Run, Run]),
            ("ss", [Run, Skip, Run, Run, Skip, Run, Run, Run, Run]),
            ("sr", [Wait, Skip, Wait, Run, Wait, Wait, Wait, Wait, Run]),
            ("rr", [Wait, Wait, Wait, Wait, Wait, Wait, Wait, Wait, Run]),
            ("fr", [UF, Wait, Wait, Wait, Run, UF, UF, Wait, Run]),
            ("ff", [UF, Run, Run, UF, Run, UF, UF, Run, Run]),
            ("fu", [UF, Run, Run, UF, Run, UF, UF, Run, Run]),
            ("sf", [UF, Skip, Run, Run, Run, UF, UF, Run, Run]),
            ("sk", [Skip, Skip, Run, Run, Skip, Run, Run, Skip, Run]),
            ("kk", [Skip, Skip, Run, Skip, Skip, Run, Skip, Skip, Run]),
            ("kr", [Skip, Skip, Wait, Wait, Wait, Wait, Wait, Skip, Run]),
            ("kf", [UF, Skip, Run, UF, Run, UF, UF, Skip, Run]),
            ("u", [UF, Run, Run, UF, Run, UF, UF, Run, Run]),
        ];
        for (states, want) in table {
            for (rule, want) in TriggerRule::ALL.iter().zip(want) {
                assert_eq!(
                    rule.evaluate(ups(states)),
                    *want,
                    "{rule} with upstreams `{states}`"
                );
            }
        }
        assert_eq!(AllSuccess.evaluate(ups("s")), Run);
    }

    #[test]
    fn names_round_trip() {
        for rule in TriggerRule::ALL {
            assert_eq!(rule.as_str().parse::<TriggerRule>(), Ok(rule));
        }
        assert_eq!(
            "none_failed_or_skipped".parse::<TriggerRule>(),
            Ok(TriggerRule::NoneFailedMinOneSuccess)
        );
        assert!("all_sucess".parse::<TriggerRule>().is_err());
    }
}
