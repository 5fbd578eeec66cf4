//! Dynamic task mapping (Airflow's `expand` / `partial`): a mapped task runs as one instance
//! per item of what it is expanded over, each instance a task instance of its own whose id
//! is `task[i]` (`i` its map index; `[` is not allowed in task ids, so no id clashes).
//!
//! What a task is expanded over is known only when it is about to run (an upstream's result,
//! a Variable): the executor resolves the [`MapSource`]s then, builds the instances'
//! arguments with [`Mapping::instances`] and writes them with the instances, so that every
//! process running one rebuilds its arguments from the store.

use serde_json::Value;

/// The most instances one mapped task expands into unless it says otherwise (Airflow's
/// `max_map_length` default).
pub const DEFAULT_MAX_MAP_LENGTH: usize = 1024;

/// How a task is mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// The expanded arguments in the order written, each with what it is expanded over.
    /// Several make a cross product (the first outermost, as Airflow's).
    pub expand: Vec<(String, MapSource)>,
    /// Names each instance (`map_index_template`), rendered with the instance's context
    /// when its try starts.
    pub map_index_template: Option<String>,
    /// More instances than this fail the task (`max_map_length`).
    pub max_map_length: usize,
}

/// What one argument is expanded over.
#[derive(Debug, Clone, PartialEq)]
pub enum MapSource {
    /// A list written in the DAG file.
    Items(Vec<Value>),
    /// An upstream task's XCom (`up.output`, `XComArg(up)`, `+up`); a mapped upstream gives
    /// its instances' values in map-index order.
    Xcom {
        /// The upstream task's id.
        task_id: String,
        /// The XCom key (`return_value` unless written `up.output['key']`).
        key: String,
    },
    /// A template that renders to a JSON list (`"{{ var.json.files | tojson }}"`).
    Template(String),
}

/// Why a task cannot be expanded (the task fails with it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// The value to expand over is not a list.
    #[error("`expand` argument `{arg}` is not a list: {found}")]
    NotAList {
        /// The argument.
        arg: String,
        /// What it is, shortened.
        found: String,
    },
    /// More instances than `max_map_length`.
    #[error(
        "expanding makes {count} instances, more than max_map_length ({max}); raise \
         `max_map_length` on the task or expand over less"
    )]
    TooMany {
        /// Instances the expansion would make.
        count: usize,
        /// The limit.
        max: usize,
    },
}

impl Mapping {
    /// As `dagctl dags show --json` shows it.
    pub fn to_json(&self) -> Value {
        let expand: serde_json::Map<String, Value> = self
            .expand
            .iter()
            .map(|(arg, source)| {
                let v = match source {
                    MapSource::Items(items) => serde_json::json!({"items": items}),
                    MapSource::Xcom { task_id, key } => {
                        serde_json::json!({"xcom": {"task_id": task_id, "key": key}})
                    }
                    MapSource::Template(t) => serde_json::json!({"template": t}),
                };
                (arg.clone(), v)
            })
            .collect();
        serde_json::json!({
            "expand": expand,
            "map_index_template": self.map_index_template,
            "max_map_length": self.max_map_length,
        })
    }

    /// The mapped arguments of every instance, in map-index order, from the lists each
    /// argument resolved to (in [`Mapping::expand`] order): their cross product.
    ///
    /// # Errors
    /// [`ExpandError::TooMany`] past [`Mapping::max_map_length`].
    pub fn instances(&self, lists: &[Vec<Value>]) -> Result<Vec<Value>, ExpandError> {
        let count = lists
            .iter()
            .try_fold(1usize, |n, l| n.checked_mul(l.len()))
            .unwrap_or(usize::MAX);
        if count > self.max_map_length {
            return Err(ExpandError::TooMany {
                count,
                max: self.max_map_length,
            });
        }
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            // Mixed radix: the last argument varies fastest.
            let mut rest = i;
            let mut args = serde_json::Map::new();
            for (k, list) in lists.iter().enumerate().rev() {
                let item = &list[rest % list.len()];
                rest /= list.len();
                args.insert(self.expand[k].0.clone(), item.clone());
            }
            out.push(Value::Object(args));
        }
        Ok(out)
    }
}

/// Reads what an argument resolved to as the list to expand over: a list as it is, a
/// mapping as its `[key, value]` pairs (as Airflow expands a dict).
///
/// # Errors
/// [`ExpandError::NotAList`] for anything else.
pub fn as_list(arg: &str, value: Value) -> Result<Vec<Value>, ExpandError> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Object(m) => Ok(m
            .into_iter()
            .map(|(k, v)| Value::Array(vec![Value::String(k), v]))
            .collect()),
        other => {
            let mut found = other.to_string();
            if found.len() > 80 {
                let cut = (0..=80)
                    .rev()
                    .find(|&i| found.is_char_boundary(i))
                    .unwrap_or(0);
                found.truncate(cut);
                found.push('…');
            }
            Err(ExpandError::NotAList {
                arg: arg.to_string(),
                found,
            })
        }
    }
}

/// The id of instance `map_index` of mapped task `task_id`: `task[i]`.
pub fn instance_id(task_id: &str, map_index: usize) -> String {
    format!("{task_id}[{map_index}]")
}

/// The task and map index of a mapped instance's id (`task[i]`); `None` for any other id.
pub fn parse_instance_id(id: &str) -> Option<(&str, usize)> {
    let (task, rest) = id.strip_suffix(']')?.split_once('[')?;
    let index: usize = rest.parse().ok()?;
    (!task.is_empty() && instance_id(task, index) == id).then_some((task, index))
}

/// The XCom `key` of task `task_id` among a run's XComs (as `(task, key, value)`): its own
/// value, or for a mapped task that expanded the values of its instances in map-index order
/// (instances without one left out); `None` if there is none.
pub fn pull_xcom(xcoms: &[(String, String, Value)], task_id: &str, key: &str) -> Option<Value> {
    if let Some((_, _, v)) = xcoms.iter().find(|(t, k, _)| t == task_id && k == key) {
        return Some(v.clone());
    }
    let mut mapped: Vec<(usize, &Value)> = xcoms
        .iter()
        .filter(|(_, k, _)| k == key)
        .filter_map(|(t, _, v)| match parse_instance_id(t) {
            Some((task, i)) if task == task_id => Some((i, v)),
            _ => None,
        })
        .collect();
    if mapped.is_empty() {
        return None;
    }
    mapped.sort_by_key(|(i, _)| *i);
    Some(Value::Array(
        mapped.into_iter().map(|(_, v)| v.clone()).collect(),
    ))
}

/// A task instance's map index as Airflow gives it: `i` for a mapped instance `task[i]`, -1
/// for any other.
pub fn map_index(id: &str) -> i64 {
    parse_instance_id(id).map_or(-1, |(_, i)| i as i64)
}

/// The task a task instance id belongs to: `task` for a mapped instance `task[i]`, the id
/// itself otherwise.
pub fn task_of_instance(id: &str) -> &str {
    parse_instance_id(id).map_or(id, |(task, _)| task)
}

/// An instance's arguments: the task's own (`partial`) with its mapped ones over them.
pub fn instance_args(task_args: &Value, mapped: Option<&Value>) -> Value {
    let mut args = task_args.clone();
    if let (Some(Value::Object(m)), Value::Object(a)) = (mapped, &mut args) {
        for (k, v) in m {
            a.insert(k.clone(), v.clone());
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(keys: &[&str], max: usize) -> Mapping {
        Mapping {
            expand: keys
                .iter()
                .map(|k| (k.to_string(), MapSource::Items(vec![])))
                .collect(),
            map_index_template: None,
            max_map_length: max,
        }
    }

    #[test]
    fn a_cross_product_varies_the_last_argument_fastest_as_airflow() {
        let m = mapping(&["x", "y"], 1024);
        let got = m
            .instances(&[
                vec![json!(2), json!(4), json!(8)],
                vec![json!(5), json!(10)],
            ])
            .unwrap();
        let sums: Vec<i64> = got
            .iter()
            .map(|a| a["x"].as_i64().unwrap() + a["y"].as_i64().unwrap())
            .collect();
        // Airflow's documented example: add(x=[2, 4, 8], y=[5, 10]).
        assert_eq!(sums, [7, 12, 9, 14, 13, 18]);
        assert!(m.instances(&[vec![json!(1)], vec![]]).unwrap().is_empty());
    }

    #[test]
    fn past_max_map_length_is_an_error_even_when_the_product_overflows() {
        let m = mapping(&["x"], 2);
        assert_eq!(
            m.instances(&[vec![json!(1), json!(2), json!(3)]]),
            Err(ExpandError::TooMany { count: 3, max: 2 })
        );
        let m = mapping(&["x", "y", "z"], 2);
        let huge = vec![json!(0); 1 << 22];
        assert!(matches!(
            m.instances(&[huge.clone(), huge.clone(), huge]),
            Err(ExpandError::TooMany { .. })
        ));
    }

    #[test]
    fn instance_ids_round_trip_and_nothing_else_parses() {
        assert_eq!(instance_id("g.t", 12), "g.t[12]");
        assert_eq!(parse_instance_id("g.t[12]"), Some(("g.t", 12)));
        for id in ["t", "t[]", "t[x]", "t[01]", "t[-1]", "[3]x", "t[1]]"] {
            assert_eq!(parse_instance_id(id), None, "{id}");
        }
    }

    #[test]
    fn pulling_a_mapped_tasks_xcom_gives_its_instances_values_in_order() {
        let x = |t: &str, v: Value| (t.to_string(), "return_value".to_string(), v);
        let xcoms = vec![
            x("t[10]", json!(10)),
            x("t[2]", json!(2)),
            x("other", json!("o")),
            x("t[0]", json!(0)),
            x("tt[1]", json!("not t")),
        ];
        assert_eq!(
            pull_xcom(&xcoms, "t", "return_value"),
            Some(json!([0, 2, 10]))
        );
        assert_eq!(pull_xcom(&xcoms, "other", "return_value"), Some(json!("o")));
        assert_eq!(pull_xcom(&xcoms, "t", "other_key"), None);
        assert_eq!(pull_xcom(&xcoms, "missing", "return_value"), None);
    }

    #[test]
    fn lists_mappings_and_other_values() {
        assert_eq!(as_list("x", json!([1, 2])).unwrap(), [json!(1), json!(2)]);
        assert_eq!(as_list("x", json!({"a": 1})).unwrap(), [json!(["a", 1])]);
        let e = as_list("x", json!("abc")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`expand` argument `x` is not a list: \"abc\""
        );
    }
}
