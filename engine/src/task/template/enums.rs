//! Airflow's `str` enums as templates see them: `dag_run.run_type` prints
//! `DagRunType.MANUAL`, its `.value` is `manual`, and it equals `'manual'`.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, Value};

/// A member of one of Airflow's string enums.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PyEnum {
    class: &'static str,
    name: &'static str,
    pub(crate) value: &'static str,
    /// What dagctl calls the same thing, where its name differs (`dataset_triggered`).
    alias: Option<&'static str>,
}

impl PyEnum {
    /// `DagRunType` of a dagctl run type (`manual`, `scheduled`, `backfill`,
    /// `dataset_triggered`).
    pub(crate) fn run_type(run_type: &str) -> Value {
        let (name, value, alias) = match run_type {
            "scheduled" => ("SCHEDULED", "scheduled", None),
            "backfill" => ("BACKFILL_JOB", "backfill", None),
            "dataset_triggered" | "asset_triggered" => (
                "ASSET_TRIGGERED",
                "asset_triggered",
                Some("dataset_triggered"),
            ),
            _ => ("MANUAL", "manual", None),
        };
        Value::from_object(PyEnum {
            class: "DagRunType",
            name,
            value,
            alias,
        })
    }

    /// `DagRunState.RUNNING`: the state of the run a try belongs to.
    pub(crate) fn running() -> Value {
        Value::from_object(PyEnum {
            class: "DagRunState",
            name: "RUNNING",
            value: "running",
            alias: None,
        })
    }

    /// Whether the member stands for `text` (its value, or dagctl's name for it).
    pub(crate) fn is(&self, text: &str) -> bool {
        self.value == text || self.alias == Some(text)
    }
}

impl Object for PyEnum {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "value" => Some(Value::from(self.value)),
            "name" => Some(Value::from(self.name)),
            _ => None,
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.class, self.name)
    }
}
