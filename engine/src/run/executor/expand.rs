//! Expanding a mapped task when its trigger rule says run: what each mapped argument is
//! expanded over is resolved (a list, an upstream's XCom, a rendered template), the
//! instances `task[i]` are written with their arguments in the run's next batch, and from
//! then on they run as tasks of their own while the task shows what they come to.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::dag::Task;
use crate::dag::mapping::{self, MapSource, Mapping};
use crate::state::TaskState;
use crate::store::{Change, TaskInstance};
use crate::template::{Needs, RunData, needs};

use super::RunError;
use super::run::{RunExec, Slot};
use super::tries::{InputsError, TemplateInputs, template_inputs};

/// What a mapped task's state is from its instances' (Airflow's summary of a mapped task):
/// running until all are finished, then failed if one failed, upstream_failed if one was,
/// skipped if all were, else success.
pub(super) fn aggregate(states: impl Iterator<Item = TaskState>) -> TaskState {
    let (mut unfinished, mut failed, mut upstream_failed, mut all_skipped) =
        (false, false, false, true);
    for s in states {
        unfinished |= !s.is_finished();
        failed |= s == TaskState::Failed;
        upstream_failed |= s == TaskState::UpstreamFailed;
        all_skipped &= s == TaskState::Skipped;
    }
    if unfinished {
        TaskState::Running
    } else if failed {
        TaskState::Failed
    } else if upstream_failed {
        TaskState::UpstreamFailed
    } else if all_skipped {
        TaskState::Skipped
    } else {
        TaskState::Success
    }
}

impl RunExec<'_> {
    /// Expands the mapped tasks whose trigger rule said run: each gets its instances, or
    /// is skipped (nothing to expand over, as in Airflow), or fails saying why (not a list,
    /// more than `max_map_length`, a template error).
    pub(super) async fn expand(&mut self, now: DateTime<Utc>) -> Result<(), RunError> {
        let ready = std::mem::take(&mut self.to_expand);
        let inputs = self.inputs(&ready).await?;
        for idx in ready {
            let task = self.task(idx);
            let Some(m) = &task.mapping else {
                continue;
            };
            let instances = match &inputs {
                Ok(inputs) => self.instances_of(task, m, inputs),
                Err(why) => Err(why.clone()),
            };
            match instances {
                Err(message) => {
                    tracing::warn!(task = %task.id, "cannot expand: {message}");
                    self.remove_earlier(idx, 0, now);
                    self.slots[idx].error = Some(message);
                    self.set_state(idx, TaskState::Failed, now);
                    self.fire(super::try_end::Callback::Failure, Some(idx));
                }
                Ok(list) if list.is_empty() => {
                    tracing::info!(task = %task.id, "expanded into no instance: skipped");
                    self.remove_earlier(idx, 0, now);
                    self.set_state(idx, TaskState::Skipped, now);
                }
                Ok(list) => self.add_instances(idx, list, now),
            }
        }
        Ok(())
    }

    /// What the expansions of `ready` read: one load for all of them. A spilled XCom value
    /// that cannot be read back fails this turn's expansions, saying so (a store failure
    /// stops the run's loop, as everywhere).
    async fn inputs(&self, ready: &[usize]) -> Result<Result<TemplateInputs, String>, RunError> {
        // Every template the expansions render, to see what they need.
        let mut templates = Vec::new();
        let mut need = Needs::default();
        for m in ready
            .iter()
            .filter_map(|&idx| self.task(idx).mapping.as_ref())
        {
            for (_, source) in &m.expand {
                match source {
                    MapSource::Items(_) => {}
                    MapSource::Xcom { .. } => need.xcom = true,
                    MapSource::Template(t) => templates.push(Value::String(t.clone())),
                }
            }
            templates.extend(
                m.map_index_template
                    .iter()
                    .map(|t| Value::String(t.clone())),
            );
        }
        let found = needs(&Value::Array(templates));
        need.xcom |= found.xcom;
        need.variables |= found.variables;
        let store = self.ex.store.as_ref();
        match template_inputs(
            store,
            &self.ex.resources,
            &self.run.key(),
            self.run.logical_date,
            need,
        )
        .await
        {
            Ok(inputs) => Ok(Ok(inputs)),
            Err(InputsError::Store(e)) => Err(e.into()),
            Err(InputsError::Spill(e)) => Ok(Err(format!("cannot read its input: {e}"))),
        }
    }

    /// The instances' mapped arguments and names, or why the task cannot expand.
    fn instances_of(
        &self,
        task: &Task,
        m: &Mapping,
        inputs: &TemplateInputs,
    ) -> Result<Vec<(Value, Option<String>)>, String> {
        let params = self.params();
        let renderer = &self.ex.renderer;
        let mut lists = Vec::with_capacity(m.expand.len());
        for (arg, source) in &m.expand {
            let value = match source {
                MapSource::Items(items) => Value::Array(items.clone()),
                MapSource::Xcom { task_id, key } => {
                    let value =
                        mapping::pull_xcom(&inputs.xcoms, task_id, key).ok_or_else(|| {
                            format!(
                                "`expand` argument `{arg}`: task `{task_id}` pushed no XCom \
                             `{key}` (it must push the list to expand over)"
                            )
                        })?;
                    // A `command` task pushes its last line of output: a JSON list there
                    // is the list.
                    match &value {
                        Value::String(s) => match serde_json::from_str::<Value>(s) {
                            Ok(v @ (Value::Array(_) | Value::Object(_))) => v,
                            // A `command`'s output line is kept up to 64 KiB.
                            _ if s.len() >= 64 * 1024 && s.starts_with('[') => {
                                return Err(format!(
                                    "`expand` argument `{arg}`: the last line task `{task_id}` \
                                     printed was cut (a log line keeps 64 KiB): pass a list that \
                                     large through a Variable (`{{{{ var.json.items | tojson }}}}`)"
                                ));
                            }
                            _ => value,
                        },
                        _ => value,
                    }
                }
                MapSource::Template(t) => {
                    let ctx = renderer.context(&self.data(&params, inputs, &task.id));
                    let rendered = renderer
                        .render_args(&Value::String(t.clone()), &ctx, &[])
                        .map_err(|e| format!("`expand` argument `{arg}`: {e}"))?;
                    let text = rendered.as_str().unwrap_or_default();
                    serde_json::from_str(text).map_err(|_| {
                        format!(
                            "`expand` argument `{arg}`: the template rendered `{}`, which is \
                             not a JSON list (end the template with `| tojson`)",
                            text.chars().take(80).collect::<String>()
                        )
                    })?
                }
            };
            lists.push(mapping::as_list(arg, value).map_err(|e| e.to_string())?);
        }
        let all = m.instances(&lists).map_err(|e| e.to_string())?;
        let Some(template) = &m.map_index_template else {
            return Ok(all.into_iter().map(|args| (args, None)).collect());
        };
        let named: Vec<(String, Value)> = all
            .iter()
            .enumerate()
            .map(|(i, args)| {
                let id = mapping::instance_id(&task.id, i);
                (id, mapping::instance_args(&task.args, Some(args)))
            })
            .collect();
        let names = renderer
            .render_map_indexes(template, &self.data(&params, inputs, &task.id), &named)
            .map_err(|(i, e)| format!("`map_index_template` of instance {i}: {e}"))?;
        Ok(all.into_iter().zip(names.into_iter().map(Some)).collect())
    }

    /// What templates of the run see, for `task_id`.
    fn data<'d>(
        &'d self,
        params: &'d serde_json::Map<String, Value>,
        inputs: &'d TemplateInputs,
        task_id: &'d str,
    ) -> RunData<'d> {
        RunData {
            dag_id: &self.dag.id,
            run_id: &self.run.run_id,
            run_type: self.run.run_type.as_str(),
            task_id,
            try_number: 0,
            logical_date: self.run.logical_date,
            data_interval_start: self.run.data_interval_start,
            data_interval_end: self.run.data_interval_end,
            params,
            conf: &self.run.conf,
            variables: &inputs.variables,
            xcoms: &inputs.xcoms,
            previous_success: inputs.previous_success,
            connections: &inputs.connections,
            inlets: &[],
            outlets: &[],
        }
    }

    /// The run's params: the DAG's, overridden by its conf.
    fn params(&self) -> serde_json::Map<String, Value> {
        let mut params = self.dag.params.clone();
        if let Some(conf) = self.run.conf.as_object() {
            params.extend(conf.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        params
    }

    /// Writes the instances of mapped task `idx` and adds their slots (to be scheduled);
    /// instances a cleared run had are taken up again with their tries.
    fn add_instances(
        &mut self,
        idx: usize,
        list: Vec<(Value, Option<String>)>,
        now: DateTime<Utc>,
    ) {
        let task = self.task(idx);
        let earlier: std::collections::HashMap<String, TaskInstance> = self
            .earlier_instances
            .get(&idx)
            .into_iter()
            .flatten()
            .map(|ti| (ti.task_id.clone(), ti.clone()))
            .collect();
        let count = list.len();
        let mut children = Vec::with_capacity(count);
        for (i, (args, name)) in list.into_iter().enumerate() {
            let id = mapping::instance_id(&task.id, i);
            let before = earlier.get(&id);
            let max_tries = before.map_or(task.policy.max_tries(), |ti| ti.max_tries);
            self.changes.push(Change::MapInstance {
                task_id: id.clone(),
                mapped_args: args.clone(),
                max_tries,
                pool: task.policy.pool.clone(),
                pool_slots: task.policy.pool_slots,
                rendered_map_index: name,
            });
            children.push(self.slots.len());
            // An instance a cleared run had keeps its tries; it waits (`none`) like a new one.
            self.slots.push(Slot {
                mapped_args: Some(args),
                state: TaskState::None,
                ..Slot::of(idx, id, max_tries, before)
            });
        }
        self.remove_earlier(idx, count, now);
        tracing::info!(task = %task.id, instances = count, "expanded");
        self.instances.insert(idx, children);
        self.set_state(idx, TaskState::Running, now);
    }

    /// Marks `removed` the instances a cleared run had past the task's new `count`.
    fn remove_earlier(&mut self, idx: usize, count: usize, now: DateTime<Utc>) {
        for ti in self.earlier_instances.remove(&idx).unwrap_or_default() {
            let past = mapping::parse_instance_id(&ti.task_id).is_some_and(|(_, i)| i >= count);
            if past && ti.state != TaskState::Removed {
                self.changes.push(Change::SetTask {
                    task_id: ti.task_id,
                    state: TaskState::Removed,
                    next_attempt_at: None,
                    end_date: Some(now),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskState::*;

    #[test]
    fn a_mapped_task_shows_what_its_instances_came_to() {
        let agg = |s: &[TaskState]| aggregate(s.iter().copied());
        assert_eq!(agg(&[Success, Running]), Running);
        assert_eq!(agg(&[Success, UpForRetry]), Running);
        assert_eq!(agg(&[Success, Failed, Skipped]), Failed);
        assert_eq!(agg(&[Success, UpstreamFailed]), UpstreamFailed);
        assert_eq!(agg(&[Skipped, Skipped]), Skipped);
        assert_eq!(agg(&[Skipped, Success]), Success);
    }
}
