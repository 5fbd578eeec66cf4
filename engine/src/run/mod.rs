//! The run lifecycle, in one place: run ids and new runs ([`NewRun`]), driving runs to their
//! end with the runs they cause ([`Driver`]), executing one run ([`executor`]: claims, tries,
//! retries, trigger rules, orphans), creating runs from schedules and backfills
//! ([`scheduler`]), worker identity and liveness ([`worker`]), and controlling runs from
//! outside (clear, mark, cancel, pause: [`control`]).
//!
//! `dagctl trigger`, `backfill`, `runs resume` and the scheduler all drive runs through a
//! [`Driver`]; the executor it calls acquires each run in the store first, so a run has one
//! driver at a time, across processes.

pub mod clock;
pub mod control;
mod drive;
mod drive_report;
pub mod executor;
mod new_run;
pub mod scheduler;
pub(crate) mod transitions;
pub mod worker;

pub use drive::{DriveReport, Driver, Scope};
pub use new_run::{NewRun, is_valid_run_id, run_id};
