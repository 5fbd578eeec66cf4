//! The `dagctl` binary as users type it: verbs, DAG files (Airflow's and dag-factory's forms), validation and hostile input, schedules, sensors, mapping, datasets, callbacks, limits.
//!
//! One test binary for the group (each binary links the whole workspace).

#[path = "../common/mod.rs"]
mod common;

mod airflow_semantics;
mod airflow_templates;
mod callbacks;
mod cli;
mod cli_run;
mod connections;
mod dag_chains;
mod dag_factory;
mod datasets;
mod db_clean;
mod hostile_input;
mod import_export;
mod long_queue;
mod mapping;
mod notify;
mod output_limits;
mod python_tasks;
mod scheduler;
mod secrets;
mod sensors;
mod task_limits;
mod task_verbs;
mod validation;
mod xcom_limits;
