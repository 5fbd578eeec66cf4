//! The names a template sees, as Airflow 3 names them: `ds`, `ts_nodash_with_tz`,
//! `logical_date` (a date-time), `dag_run` (`conf`, `run_type` …), `ti`, `task_instance_key_str`,
//! `params`, `var`, the previous successful run's dates, `inlets`/`outlets` ….

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use minijinja::value::{Kwargs, Value};

use super::RunData;
use super::check::Anything;
use super::enums::PyEnum;
use super::time::PyDateTime;

fn date(t: DateTime<Utc>) -> Value {
    Value::from_object(PyDateTime::utc(t))
}

fn maybe_date(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::from(()), date)
}

/// Airflow's `ts_nodash_with_tz`: `20260315T000000+0000`.
pub(super) fn ts_nodash_with_tz(iso: &str) -> String {
    iso.replace(['-', ':'], "")
}

/// The context of one try; with `sample`, what only a run knows is [`Anything`] (see
/// [`super::check`]).
pub(super) fn build(d: &RunData<'_>, sample: bool) -> Value {
    let known = |v: Value| if sample { Anything::value() } else { v };
    let ld = d.logical_date;
    let ds_nodash = ld.format("%Y%m%d").to_string();
    let ts = PyDateTime::utc(ld).isoformat_t();
    let json_vars: BTreeMap<String, Value> = d
        .variables
        .iter()
        .filter_map(|(k, v)| {
            let parsed: serde_json::Value = serde_json::from_str(v).ok()?;
            Some((k.clone(), super::serde(&parsed)))
        })
        .collect();
    let map_index = crate::dag::mapping::map_index(d.task_id);
    let ti = minijinja::context! {
        task_id => d.task_id,
        dag_id => d.dag_id,
        run_id => d.run_id,
        try_number => d.try_number,
        map_index => map_index,
        logical_date => date(ld),
        xcom_pull => known(xcom_pull(d.xcoms.to_vec())),
    };
    let conf = known(super::serde(d.conf));
    let dag_run = minijinja::context! {
        conf => conf.clone(),
        dag_id => d.dag_id,
        run_id => d.run_id,
        run_type => PyEnum::run_type(d.run_type),
        state => PyEnum::running(),
        logical_date => date(ld),
        run_after => date(ld),
        data_interval_start => date(d.data_interval_start),
        data_interval_end => date(d.data_interval_end),
    };
    let events = known(super::serde(
        d.conf
            .get("triggering_dataset_events")
            .unwrap_or(&serde_json::json!({})),
    ));
    let prev = d.previous_success.as_ref();
    minijinja::context! {
        ds => ld.format("%Y-%m-%d").to_string(),
        ds_nodash => ds_nodash.clone(),
        ts => ts.clone(),
        ts_nodash => ld.format("%Y%m%dT%H%M%S").to_string(),
        ts_nodash_with_tz => ts_nodash_with_tz(&ts),
        logical_date => date(ld),
        data_interval_start => date(d.data_interval_start),
        data_interval_end => date(d.data_interval_end),
        prev_data_interval_start_success => maybe_date(prev.map(|p| p.data_interval_start)),
        prev_data_interval_end_success => maybe_date(prev.map(|p| p.data_interval_end)),
        prev_start_date_success => maybe_date(prev.and_then(|p| p.start_date)),
        prev_end_date_success => maybe_date(prev.and_then(|p| p.end_date)),
        params => known(super::serde(d.params)),
        run_id => d.run_id,
        triggering_dataset_events => events.clone(),
        triggering_asset_events => events,
        dag_run => dag_run,
        dag => minijinja::context! { dag_id => d.dag_id },
        task => minijinja::context! { task_id => d.task_id, dag_id => d.dag_id, owner => "airflow" },
        ti => ti.clone(),
        task_instance => ti,
        task_instance_key_str => format!("{}__{}__{}", d.dag_id, d.task_id, ds_nodash),
        try_number => d.try_number,
        map_index_template => Value::from(()),
        inlets => known(Value::from(d.inlets.to_vec())),
        outlets => known(Value::from(d.outlets.to_vec())),
        test_mode => false,
        conn => known(Value::from_object(super::connections::Connections(d.connections.to_vec()))),
        var => minijinja::context! {
            value => known(super::serde(d.variables)),
            json => known(Value::from(json_vars)),
        },
    }
}

/// `ti.xcom_pull(task_ids=…, key=…, default=…, map_indexes=…)` over the run's XComs, as
/// Airflow 3.3's: a missing value is None (`default` stands in only for the map indexes
/// asked for); `map_indexes` picks instances of a mapped task; another DAG's, run's or
/// earlier dates' XComs are refused, naming why.
fn xcom_pull(xcoms: Vec<(String, String, serde_json::Value)>) -> Value {
    Value::from_function(
        move |task_ids: Option<Value>, kwargs: Kwargs| -> Result<Value, minijinja::Error> {
            let task_ids = match task_ids {
                Some(t) => Some(t),
                None => kwargs.get::<Option<Value>>("task_ids")?,
            };
            let key: Option<String> = kwargs.get("key")?;
            let default: Option<Value> = kwargs.get("default")?;
            let map_indexes: Option<Value> = kwargs.get("map_indexes")?;
            for (name, what) in [("dag_id", "another DAG's"), ("run_id", "another run's")] {
                if kwargs
                    .get::<Option<Value>>(name)?
                    .is_some_and(|v| !v.is_none())
                {
                    return Err(super::time::bad(format!(
                        "xcom_pull({name}=…): dagctl's templates read this run's XComs, not {what}"
                    )));
                }
            }
            if kwargs.get::<Option<bool>>("include_prior_dates")? == Some(true) {
                return Err(super::time::bad(
                    "xcom_pull(include_prior_dates=True): dagctl's templates read this run's XComs only",
                ));
            }
            kwargs.assert_all_used()?;
            let key = key.unwrap_or_else(|| "return_value".to_string());
            let default = default.unwrap_or(Value::from(()));
            // A mapped task's gives its instances' values, in map-index order.
            let find = |task: &str| -> Value {
                let one = |id: &str| {
                    crate::dag::mapping::pull_xcom(&xcoms, id, &key).map(|v| super::serde(&v))
                };
                match &map_indexes {
                    Some(m) if m.as_i64().is_some() => {
                        one(&format!("{task}[{}]", m.as_i64().unwrap_or_default()))
                    }
                    Some(m) if !m.is_none() => match m.try_iter() {
                        Ok(items) => Some(Value::from(
                            items
                                .map(|i| {
                                    one(&format!("{task}[{}]", i.as_i64().unwrap_or(-1)))
                                        .unwrap_or(Value::from(()))
                                })
                                .collect::<Vec<_>>(),
                        )),
                        Err(_) => None,
                    },
                    // As Airflow 3: `default` stands in for missing values of the map
                    // indexes asked for only.
                    _ => return one(task).unwrap_or(Value::from(())),
                }
                .unwrap_or_else(|| default.clone())
            };
            Ok(match task_ids {
                None => Value::from(()),
                Some(t) if t.as_str().is_some() => find(t.as_str().unwrap_or_default()),
                Some(list) => Value::from(
                    list.try_iter()?
                        .map(|t| find(t.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>(),
                ),
            })
        },
    )
}
