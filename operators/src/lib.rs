//! # dagctl-operators
//!
//! The operators shipped with dagctl. They plug into the engine through
//! [`dagctl_engine::Operator`]; the engine never depends on this crate.
//!
//! ## Layout
//! | module | owns |
//! |---|---|
//! | [`command`] | `command`: run a program or a `bash_command` (Airflow's `BashOperator`) |
//! | [`python`] | `python`: a Python callable in a subprocess of your Python (Airflow's `PythonOperator`) |
//! | [`generate`] | `generate_customers`: synthetic customers per logical date, with a learnable churn target |
//! | [`expectations`] | `validate_data`: expectation suites, JSON report, quality score |
//! | [`prepare`] | `prepare_data`: cleaning, features, stratified split, scaling; the reusable [`prepare::Preprocessor`] |
//! | [`ml`] | `train_models`: smartcore candidates, search, metrics, model artifacts |
//! | [`tracking`] | experiment runs in the state store |
//! | [`registry`] | `register_model`, `promote_model`: versions, stages, promotion rule, audit hash, rollback |
//! | [`gate`] | `new_data_gate`: train only on data not trained on yet |
//! | [`monitor`] | `trigger_retraining`: the training DAG run with the reasons when a check fires |
//! | [`notify`] | `notify`: Slack-compatible webhook messages, as a task or a callback |
//! | [`summary`] | `training_summary`: the closing summary of a training run, in the log and `summaries/<run>.json` |
//! | [`hash`] | SHA-256 digests of files and audit records |
//! | [`dataset`] | date-partitioned Parquet datasets: atomic, idempotent days; streamed reads |
//! | [`sensors`] | `file_sensor`, `object_sensor`, `partition_sensor`: wait for a file, an object, a dataset's day |
//! | [`storage`] | object stores from URLs (`file://`, `s3://`, `memory://`), with secrets masked |

mod aws_profile;
mod columns;
pub mod command;
pub mod dataset;
pub mod drift;
pub mod expectations;
pub mod gate;
pub mod generate;
pub mod hash;
pub mod http;
pub mod ml;
pub mod monitor;
pub mod notify;
pub mod prepare;
mod process;
pub mod python;
pub mod registry;
pub mod sensors;
pub mod storage;
pub mod summary;
mod templated;
pub mod tracking;
pub mod xcom_store;

use dagctl_engine::OperatorRegistry;

/// Registers every operator of this crate into `registry`.
pub fn register_builtin(registry: &mut OperatorRegistry) {
    registry.register(command::Command);
    registry.register(python::Python::new(python::Mode::Call));
    registry.register(python::Python::new(python::Mode::Branch));
    registry.register(python::Python::new(python::Mode::ShortCircuit));
    registry.register(http::Http);
    registry.register(sensors::FileSensor);
    registry.register(sensors::ObjectSensor);
    registry.register(sensors::PartitionSensor);
    registry.register(generate::GenerateCustomers);
    registry.register(expectations::ValidateData);
    registry.register(drift::DetectDrift);
    registry.register(registry::performance::CheckPerformance);
    registry.register(prepare::PrepareData);
    registry.register(ml::operator::TrainModels);
    registry.register(gate::NewDataGate);
    registry.register(registry::operators::RegisterModel);
    registry.register(registry::operators::PromoteModel);
    registry.register(summary::TrainingSummary);
    registry.register(notify::Notify);
    registry.register(monitor::TriggerRetraining);
}

/// A registry with the engine's operators and every operator of this crate.
pub fn full_registry() -> OperatorRegistry {
    let mut r = OperatorRegistry::with_builtins();
    register_builtin(&mut r);
    r
}
