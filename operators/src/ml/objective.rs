//! What "better" means when choosing a candidate or promoting a version: one metric, or a
//! weighted composite of several (`metric: {composite: {f1_macro: 0.7, roc_auc: 0.3}}`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Metric;
use super::metrics::Metrics;

/// One metric, or a weighted sum of metrics where higher is better.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Objective {
    /// A single metric, by name (`f1_macro`).
    Metric(Metric),
    /// `{composite: {metric: weight, …}}`: Σ weight × value.
    Composite {
        /// The weights, by metric.
        composite: BTreeMap<Metric, f64>,
    },
}

impl From<Metric> for Objective {
    fn from(m: Metric) -> Self {
        Objective::Metric(m)
    }
}

impl Objective {
    /// The name shown in reports: `f1_macro`, or `0.7×f1_macro + 0.3×roc_auc`.
    pub fn name(&self) -> String {
        match self {
            Objective::Metric(m) => m.name().to_string(),
            Objective::Composite { composite } => composite
                .iter()
                .map(|(m, w)| format!("{w}×{}", m.name()))
                .collect::<Vec<_>>()
                .join(" + "),
        }
    }

    /// Whether a higher value is better (a composite always: its metrics must be).
    pub fn higher_is_better(&self) -> bool {
        match self {
            Objective::Metric(m) => m.higher_is_better(),
            Objective::Composite { .. } => true,
        }
    }

    /// Whether `a` is strictly better than `b`.
    pub fn better(&self, a: f64, b: f64) -> bool {
        if self.higher_is_better() {
            a > b
        } else {
            a < b
        }
    }

    /// The metrics it reads.
    pub fn metrics(&self) -> Vec<Metric> {
        match self {
            Objective::Metric(m) => vec![*m],
            Objective::Composite { composite } => composite.keys().copied().collect(),
        }
    }

    /// Its value from evaluated metrics; `None` when one it reads is missing.
    pub fn value(&self, metrics: &Metrics) -> Option<f64> {
        match self {
            Objective::Metric(m) => metrics.get(m.name()).copied(),
            Objective::Composite { composite } => composite
                .iter()
                .map(|(m, w)| metrics.get(m.name()).map(|v| w * v))
                .sum(),
        }
    }

    /// Whether it measures classification (else regression).
    pub fn is_classification(&self) -> bool {
        self.metrics().iter().all(|m| m.is_classification())
    }

    /// Checks a composite: at least one metric, finite positive weights, only metrics where
    /// higher is better, all of one task. `Err` says what to change.
    ///
    /// # Errors
    /// The reason, for the DAG file's diagnostic.
    pub fn check(&self) -> Result<(), String> {
        let Objective::Composite { composite } = self else {
            return Ok(());
        };
        if composite.is_empty() {
            return Err("a composite needs at least one metric and its weight".into());
        }
        for (m, w) in composite {
            if !(w.is_finite() && *w > 0.0) {
                return Err(format!(
                    "the weight of `{}` is {w}: weights are positive numbers",
                    m.name()
                ));
            }
            if !m.higher_is_better() {
                return Err(format!(
                    "`{}` is an error (lower is better) and cannot be summed with scores; \
                     use `r2` in a composite, or `{}` alone",
                    m.name(),
                    m.name()
                ));
            }
        }
        let kinds: Vec<bool> = composite.keys().map(|m| m.is_classification()).collect();
        if kinds.iter().any(|k| *k != kinds[0]) {
            return Err("a composite mixes classification and regression metrics".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_composite_reads_from_yaml_shapes_and_weighs_its_metrics() {
        let o: Objective = serde_json::from_value(serde_json::json!({
            "composite": {"f1_macro": 0.7, "roc_auc": 0.3}
        }))
        .unwrap();
        o.check().unwrap();
        let m = Metrics::from([
            ("f1_macro".into(), 0.8),
            ("roc_auc".into(), 0.9),
            ("accuracy".into(), 0.1),
        ]);
        assert!((o.value(&m).unwrap() - (0.7 * 0.8 + 0.3 * 0.9)).abs() < 1e-12);
        assert_eq!(o.name(), "0.7×f1_macro + 0.3×roc_auc");
        assert!(
            o.value(&Metrics::from([("f1_macro".into(), 0.8)]))
                .is_none()
        );
        let single: Objective = serde_json::from_value(serde_json::json!("rmse")).unwrap();
        assert_eq!(single, Objective::Metric(Metric::Rmse));
        assert!(!single.higher_is_better());
        for bad in [
            serde_json::json!({"composite": {}}),
            serde_json::json!({"composite": {"f1_macro": -1.0}}),
            serde_json::json!({"composite": {"f1_macro": 0.5, "rmse": 0.5}}),
            serde_json::json!({"composite": {"f1_macro": 0.5, "r2": 0.5}}),
        ] {
            let o: Objective = serde_json::from_value(bad.clone()).unwrap();
            assert!(o.check().is_err(), "{bad}");
        }
        assert!(serde_json::from_value::<Objective>(serde_json::json!("f2")).is_err());
    }
}
