//! Faults: processes killed at many points, several processes and workers on one store (SQLite and PostgreSQL), full and read-only disks, store outages, S3.
//!
//! One test binary for the group (each binary links the whole workspace).

#[path = "../common/mod.rs"]
mod common;

mod crash;
mod crash_campaign;
mod disk_faults;
mod lifecycle;
mod pg_restart;
mod postgres;
mod s3;
mod shared_tries;
mod store_outage;
mod worker_pools;
mod workers;
