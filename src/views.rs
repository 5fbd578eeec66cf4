//! What the CLI's `--json` and the web view's `/api/v1` both return: one builder per thing
//! shown, so that the two never drift apart. Secrets are masked here, once.

use dagctl::engine::secrets::Masker;
use dagctl::engine::store::{
    Connection, DagRun, TaskInstance, TryRecord, is_secret_name, masked_extra, redact_url,
};
use dagctl::engine::{Dag, Engine, Pools};
use dagctl::operators::registry;
use serde_json::{Value, json};

/// A DAG as `dags list --json` lists it.
pub fn dag(d: &Dag) -> Value {
    json!({
        "dag_id": d.id(),
        "schedule": d.schedule().to_string(),
        "tasks": d.tasks().len(),
        "tags": d.tags(),
        "description": d.description(),
        "file": d.source().file.display().to_string(),
    })
}

/// A run as `runs list --json` lists it, its conf masked.
pub fn run(r: &DagRun, masker: &Masker) -> Value {
    json!({
        "dag_id": r.dag_id,
        "run_id": r.run_id,
        "run_type": r.run_type.as_str(),
        "state": r.state.as_str(),
        "logical_date": r.logical_date.to_rfc3339(),
        "data_interval_start": r.data_interval_start.to_rfc3339(),
        "data_interval_end": r.data_interval_end.to_rfc3339(),
        "conf": masker.mask_json(&r.conf),
        "start_date": r.start_date.map(|d| d.to_rfc3339()),
        "end_date": r.end_date.map(|d| d.to_rfc3339()),
    })
}

/// A run with its task instances (in dependency order when the DAG is loaded) and every try,
/// errors masked: what `runs show` and the run page show.
pub struct RunView {
    /// The run.
    pub run: DagRun,
    /// Its task instances.
    pub tis: Vec<TaskInstance>,
    /// Every try of every task, errors masked.
    pub tries: Vec<TryRecord>,
    /// The masker of the run (stored secrets and its conf's).
    pub masker: Masker,
}

impl RunView {
    /// Reads the run's task instances and tries.
    pub async fn load(engine: &Engine, run: DagRun) -> anyhow::Result<RunView> {
        let store = engine.store();
        let key = run.key();
        let masker = Masker::load_or_empty(store.as_ref())
            .await
            .with_conf(&run.conf);
        let mut tis = store.task_instances(&key).await?;
        if let Ok(d) = engine.dag(&run.dag_id) {
            let order: Vec<&str> = d.topological_order().map(|t| t.id.as_str()).collect();
            tis.sort_by_key(|t| {
                order
                    .iter()
                    .position(|o| *o == t.task_id)
                    .unwrap_or(usize::MAX)
            });
        } else {
            tis.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        }
        let mut tries = store.tries(&key, None).await?;
        for x in &mut tries {
            if let Some(e) = &mut x.error {
                *e = masker.mask(e).into_owned();
            }
        }
        Ok(RunView {
            run,
            tis,
            tries,
            masker,
        })
    }

    /// The tries of one task, oldest first.
    pub fn tries_of<'a>(&'a self, task_id: &'a str) -> impl Iterator<Item = &'a TryRecord> {
        self.tries.iter().filter(move |x| x.task_id == task_id)
    }

    /// `runs show --json`.
    pub fn to_json(&self) -> Value {
        let mut v = run(&self.run, &self.masker);
        v["tasks"] = self
            .tis
            .iter()
            .map(|t| {
                json!({
                    "task_id": t.task_id,
                    "map_index": dagctl::engine::dag::mapping::map_index(&t.task_id),
                    "rendered_map_index": t.rendered_map_index,
                    "mapped_args": t.mapped_args.as_ref().map(|a| self.masker.mask_strings(a)),
                    "state": t.state.as_str(),
                    "try_number": t.try_number,
                    "max_tries": t.max_tries,
                    "start_date": t.start_date.map(|d| d.to_rfc3339()),
                    "end_date": t.end_date.map(|d| d.to_rfc3339()),
                    "tries": self.tries_of(&t.task_id).map(|x| json!({
                        "try_number": x.try_number,
                        "state": x.state.as_str(),
                        "worker_id": x.worker_id,
                        "start_date": x.start_date.to_rfc3339(),
                        "end_date": x.end_date.map(|d| d.to_rfc3339()),
                        "duration_s": x.duration.map(|d| d.as_secs_f64()),
                        "error": x.error,
                        "handed": x.handed,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        v
    }
}

/// A Variable's value as `variables list --json` shows it: JSON when it parses, `***` when its
/// name says it is a secret.
pub fn variable_value(key: &str, value: &str) -> Value {
    if is_secret_name(key) {
        return json!("***");
    }
    serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()))
}

/// Variables as `variables list --json` shows them.
pub fn variables(vars: &[(String, String)]) -> Value {
    Value::Object(
        vars.iter()
            .map(|(k, v)| (k.clone(), variable_value(k, v)))
            .collect(),
    )
}

/// Pools as `pools list --json` shows them.
pub fn pools(pools: &Pools) -> Value {
    pools
        .iter()
        .map(|(n, p)| json!({"name": n, "slots": p.slots, "description": p.description}))
        .collect()
}

/// A connection as `connections list|get --json` show it: password and secret settings masked.
pub fn connection(c: &Connection) -> Value {
    json!({
        "name": c.name,
        "url": redact_url(&c.url),
        "extra": masked_extra(&c.extra),
    })
}

/// A model with every version, its stage and aliases: `models show M --json`.
pub async fn model(
    store: &dyn dagctl::engine::RecordStore,
    name: &str,
) -> anyhow::Result<Option<Value>> {
    let Some((e, _)) = registry::entry(store, name).await? else {
        return Ok(None);
    };
    let versions = registry::versions(store, name).await?;
    let listed: Vec<Value> = versions
        .iter()
        .map(|v| {
            let mut value = serde_json::to_value(v).unwrap_or_default();
            value["stage"] = json!(e.stage(v.version).name());
            value["aliases"] = json!(e.aliases_of(v.version));
            value
        })
        .collect();
    Ok(Some(json!({"model": e, "versions": listed})))
}
