//! # dagctl-operators
//!
//! The operators shipped with dagctl. They plug into the engine through
//! [`dagctl_engine::Operator`]; the engine never depends on this crate.
//!
//! ## Layout
//! | module | owns |
//! |---|---|
//! | [`command`] | `command`: run a program or a `bash_command` (Airflow's `BashOperator`) |
//! | [`generate`] | `generate_customers`: synthetic customers per logical date, with a learnable churn target |
//! | [`expectations`] | `validate_data`: expectation suites, JSON report, quality score |
//! | [`prepare`] | `prepare_data`: cleaning, features, stratified split, scaling; the reusable [`prepare::Preprocessor`] |
//! | [`ml`] | `train_models`: smartcore candidates, search, metrics, model artifacts |
//! | [`hash`] | SHA-256 digests of files and audit records |
//! | [`dataset`] | date-partitioned Parquet datasets: atomic, idempotent days; streamed reads |
//! | [`sensors`] | `file_sensor`, `object_sensor`, `partition_sensor`: wait for a file, an object, a dataset's day |
//! | [`storage`] | object stores from URLs (`file://`, `s3://`, `memory://`), with secrets masked |
//!
//! Storage, datasets, data generation, validation and the ML operators join in later versions.

pub mod command;
pub mod dataset;
pub mod expectations;
pub mod generate;
pub mod hash;
pub mod ml;
pub mod prepare;
pub mod sensors;
pub mod storage;

use dagctl_engine::OperatorRegistry;

/// Registers every operator of this crate into `registry`.
pub fn register_builtin(registry: &mut OperatorRegistry) {
    registry.register(command::Command);
    registry.register(sensors::FileSensor);
    registry.register(sensors::ObjectSensor);
    registry.register(sensors::PartitionSensor);
    registry.register(generate::GenerateCustomers);
    registry.register(expectations::ValidateData);
    registry.register(prepare::PrepareData);
    registry.register(ml::operator::TrainModels);
}

/// A registry with the engine's operators and every operator of this crate.
pub fn full_registry() -> OperatorRegistry {
    let mut r = OperatorRegistry::with_builtins();
    register_builtin(&mut r);
    r
}
