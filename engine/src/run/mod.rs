//! The run lifecycle, in one place: run ids and new runs ([`NewRun`]), driving runs to their
//! end with the runs they cause ([`Driver`]), and controlling runs from outside (clear, mark,
//! cancel, pause: [`control`]).
//!
//! `dagctl trigger`, `backfill`, `runs resume` and the scheduler all drive runs through a
//! [`Driver`]; the executor it calls acquires each run in the store first, so a run has one
//! driver at a time, across processes.

pub mod control;
mod drive;
mod new_run;

pub use drive::{DriveReport, Driver, Scope};
pub use new_run::{NewRun, run_id};
