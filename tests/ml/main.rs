//! The shipped ML loop end to end: data, drift, monitoring, training and promotion, and its files read back by other tools.
//!
//! One test binary for the group (each binary links the whole workspace).

#[path = "../common/mod.rs"]
mod common;

mod data_quality;
mod drift;
mod drift_stats;
mod interop;
mod ml_loop;
mod ml_month;
mod monitoring;
