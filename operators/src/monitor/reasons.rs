//! Why a training run trains: the `reason` a monitor (or a person) put in `dag_run.conf`
//! — `{"reason": "drift, performance", "details": {…}}` or a list of reasons — else new data.

/// The reasons in a run's conf: `reason` as a comma-separated string or a list of strings;
/// empty when there is none.
pub fn from_conf(conf: &serde_json::Value) -> Vec<String> {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect()
    };
    match conf.get("reason") {
        Some(serde_json::Value::String(s)) => split(s),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .flat_map(|i| match i {
                serde_json::Value::String(s) => split(s),
                other => vec![other.to_string()],
            })
            .collect(),
        Some(serde_json::Value::Null) | None => Vec::new(),
        Some(other) => vec![other.to_string()],
    }
}

/// The reasons a training records: the conf's, else `new data`.
pub fn of_training(conf: &serde_json::Value) -> Vec<String> {
    let given = from_conf(conf);
    if given.is_empty() {
        vec!["new data".to_string()]
    } else {
        given
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reasons_come_as_text_or_lists() {
        assert_eq!(
            from_conf(&json!({"reason": "drift, performance"})),
            ["drift", "performance"]
        );
        assert_eq!(
            from_conf(&json!({"reason": ["model_age", "manual: new feature"]})),
            ["model_age", "manual: new feature"]
        );
        assert!(from_conf(&json!({"reason": " "})).is_empty());
        assert!(from_conf(&json!({})).is_empty());
        assert_eq!(of_training(&json!({"force": true})), ["new data"]);
    }
}
