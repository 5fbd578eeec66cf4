//! Reading store rows back into records, with errors that name the record and column.
//!
//! A row comes from sqlx (PostgreSQL, and SQLite's less travelled paths) or from the SQLite
//! reader (`super::sqlite_read`); [`RowRead`] is what both give, so one function turns a
//! row into each record whichever backend read it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    DagRun, DatasetEvent, RunKey, RunOwner, StoreError, TaskInstance, TryRecord, from_micros,
};

pub(super) fn corrupt(what: &str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        detail: detail.to_string(),
    }
}

/// The columns of one row read from the store, by name: text, integers, or NULL.
pub(super) trait RowRead {
    /// A text column (`None` for NULL); `Err` says why it is not text.
    fn opt_text(&self, col: &str) -> Result<Option<String>, String>;
    /// An integer column (`None` for NULL); `Err` says why it is not an integer.
    fn opt_int(&self, col: &str) -> Result<Option<i64>, String>;
}

impl RowRead for AnyRow {
    fn opt_text(&self, col: &str) -> Result<Option<String>, String> {
        self.try_get(col).map_err(|e| e.to_string())
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, String> {
        self.try_get(col).map_err(|e| e.to_string())
    }
}

/// A rusqlite row with its statement's column names, read once per query: looking a column
/// up by name in rusqlite asks SQLite for every column's name, on every read.
pub(super) struct SqliteRow<'r, 's> {
    /// The row.
    pub(super) row: &'r rusqlite::Row<'s>,
    /// The statement's column names, in order.
    pub(super) names: &'r [String],
}

impl SqliteRow<'_, '_> {
    fn value(&self, col: &str) -> Result<rusqlite::types::ValueRef<'_>, String> {
        let i = self
            .names
            .iter()
            .position(|n| n == col)
            .ok_or_else(|| format!("no column `{col}` in the result"))?;
        self.row.get_ref(i).map_err(|e| e.to_string())
    }
}

impl RowRead for SqliteRow<'_, '_> {
    fn opt_text(&self, col: &str) -> Result<Option<String>, String> {
        use rusqlite::types::ValueRef;
        match self.value(col)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => String::from_utf8(t.to_vec())
                .map(Some)
                .map_err(|e| e.to_string()),
            other => Err(format!("{:?} where text belongs", other.data_type())),
        }
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, String> {
        use rusqlite::types::ValueRef;
        match self.value(col)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(n) => Ok(Some(n)),
            other => Err(format!("{:?} where an integer belongs", other.data_type())),
        }
    }
}

/// Reads typed columns of a row, naming the record in errors.
pub(super) struct Cols<'r> {
    pub(super) row: &'r dyn RowRead,
    pub(super) what: &'static str,
}

impl Cols<'_> {
    fn bad(&self, col: &str, why: String) -> StoreError {
        corrupt(self.what, format!("column `{col}`: {why}"))
    }

    pub(super) fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.row.opt_text(col).map_err(|e| self.bad(col, e))
    }

    pub(super) fn text(&self, col: &str) -> Result<String, StoreError> {
        self.opt_text(col)?
            .ok_or_else(|| self.bad(col, "NULL where text belongs".into()))
    }

    pub(super) fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.row.opt_int(col).map_err(|e| self.bad(col, e))
    }

    pub(super) fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.opt_int(col)?
            .ok_or_else(|| self.bad(col, "NULL where an integer belongs".into()))
    }

    pub(super) fn count(&self, col: &str) -> Result<u32, StoreError> {
        let v = self.int(col)?;
        u32::try_from(v).map_err(|_| corrupt(self.what, format!("{col} = {v}")))
    }

    pub(super) fn time(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        Ok(from_micros(self.int(col)?))
    }

    pub(super) fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.opt_int(col)?.map(from_micros))
    }

    /// A state or kind stored by name.
    pub(super) fn parsed<T: std::str::FromStr>(&self, col: &str) -> Result<T, StoreError>
    where
        T::Err: std::fmt::Display,
    {
        self.text(col)?.parse().map_err(|e| corrupt(self.what, e))
    }
}

pub(super) fn run_from_row(row: &dyn RowRead) -> Result<DagRun, StoreError> {
    let c = Cols {
        row,
        what: "DAG run",
    };
    Ok(DagRun {
        dag_id: c.text("dag_id")?,
        run_id: c.text("run_id")?,
        run_type: c.parsed("run_type")?,
        logical_date: c.time("logical_date")?,
        data_interval_start: c.time("data_interval_start")?,
        data_interval_end: c.time("data_interval_end")?,
        conf: serde_json::from_str(&c.text("conf")?).map_err(|e| corrupt("run conf", e))?,
        state: c.parsed("state")?,
        created_at: c.time("created_at")?,
        start_date: c.opt_time("start_date")?,
        end_date: c.opt_time("end_date")?,
        triggered_by: match (c.opt_text("parent_dag_id")?, c.opt_text("parent_run_id")?) {
            (Some(dag_id), Some(run_id)) => Some(RunKey { dag_id, run_id }),
            _ => None,
        },
        owner: match (c.opt_text("owner")?, c.opt_time("owner_until")?) {
            (Some(worker_id), Some(until)) => Some(RunOwner { worker_id, until }),
            _ => None,
        },
    })
}

pub(super) fn ti_from_row(row: &dyn RowRead) -> Result<TaskInstance, StoreError> {
    let c = Cols {
        row,
        what: "task instance",
    };
    Ok(TaskInstance {
        task_id: c.text("task_id")?,
        state: c.parsed("state")?,
        try_number: c.count("try_number")?,
        max_tries: c.count("max_tries")?,
        pool: c.text("pool")?,
        pool_slots: c.count("pool_slots")?,
        next_attempt_at: c.opt_time("next_attempt_at")?,
        start_date: c.opt_time("start_date")?,
        end_date: c.opt_time("end_date")?,
        mapped_args: match c.opt_text("mapped_args")? {
            Some(text) => Some(
                serde_json::from_str(&text)
                    .map_err(|e| corrupt("mapped instance's arguments", e))?,
            ),
            None => None,
        },
        rendered_map_index: c.opt_text("rendered_map_index")?,
    })
}

pub(super) fn try_from_row(row: &dyn RowRead) -> Result<TryRecord, StoreError> {
    let c = Cols { row, what: "try" };
    let duration = c.opt_int("duration_us")?;
    Ok(TryRecord {
        task_id: c.text("task_id")?,
        try_number: c.count("try_number")?,
        state: c.parsed("state")?,
        worker_id: c.text("worker_id")?,
        lease_until: c.opt_time("lease_until")?,
        start_date: c.time("start_date")?,
        end_date: c.opt_time("end_date")?,
        duration: duration.map(|us| Duration::from_micros(us.max(0) as u64)),
        error: c.opt_text("error")?,
        handed: c.int("handed")? != 0,
        blamed: c.int("blamed")? != 0,
        outcome: match c.opt_text("outcome")? {
            None => None,
            Some(text) => Some(
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                    what: "try outcome".into(),
                    detail: e.to_string(),
                })?,
            ),
        },
    })
}

pub(super) fn event_from_row(row: &dyn RowRead) -> Result<DatasetEvent, StoreError> {
    let c = Cols {
        row,
        what: "dataset event",
    };
    Ok(DatasetEvent {
        dataset: c.text("dataset")?,
        created_at: c.time("created_at")?,
        seq: c.int("seq")?,
        dag_id: c.text("dag_id")?,
        run_id: c.text("run_id")?,
        task_id: c.text("task_id")?,
    })
}
