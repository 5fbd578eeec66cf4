//! The champion/challenger promotion rule, as a pure decision that can be tested by table.
//!
//! Both models are scored on the same holdout rows (see [`holdout`](super::holdout)); the rule
//! compares those numbers: the challenger must clear the floor, beat the champion by the
//! margin, and — with `confidence` — the lower bound of the paired bootstrap interval of its
//! gain must be above the margin too, so that a lucky sample does not promote it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::holdout::Interval;
use crate::ml::metrics::Metrics;
use crate::ml::{Metric, Objective};

/// How much better a challenger must be.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Margin {
    /// By this much of the metric (`0.01` = one point of F1).
    Absolute(f64),
    /// By this share of the champion's value (`0.02` = 2 %).
    Relative(f64),
}

impl Default for Margin {
    fn default() -> Self {
        Margin::Absolute(0.0)
    }
}

/// The least a challenger must reach: on the compared metric, or on named metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Floor {
    /// On the compared metric (at most, for an error metric).
    Value(f64),
    /// On each named metric (`{accuracy: 0.85}`).
    Metrics(BTreeMap<Metric, f64>),
}

/// Rules offered ready-made, after the auto-retraining systems users come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// "Deploy if F1 ≥ production + 0.001": an absolute margin of 0.001 on `f1_macro`.
    SmallGain,
    /// 5 % better than production, and an accuracy of at least 0.85.
    FivePercent,
}

impl Preset {
    /// The rule, with anything `given` sets (metric, margin, floor, confidence) kept.
    pub fn rule(self, given: PromotionRule, margin_given: bool) -> PromotionRule {
        let mut r = given;
        match self {
            Preset::SmallGain => {
                r.metric = r.metric.or(Some(Objective::Metric(Metric::F1Macro)));
                if !margin_given {
                    r.margin = Margin::Absolute(0.001);
                }
            }
            Preset::FivePercent => {
                if !margin_given {
                    r.margin = Margin::Relative(0.05);
                }
                r.floor = r
                    .floor
                    .or_else(|| Some(Floor::Metrics(BTreeMap::from([(Metric::Accuracy, 0.85)]))));
            }
        }
        r
    }
}

/// The rule of `promote_model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PromotionRule {
    /// The compared metric or composite (default: the one the version was chosen by).
    #[serde(default)]
    pub metric: Option<Objective>,
    /// The margin to beat the champion by (default: strictly better).
    #[serde(default)]
    pub margin: Margin,
    /// What the challenger must reach.
    #[serde(default)]
    pub floor: Option<Floor>,
    /// With a value (`0.9`), the challenger is promoted only if the lower bound of this
    /// confidence interval of its gain (paired bootstrap over the holdout rows) is above the
    /// margin.
    #[serde(default)]
    pub confidence: Option<f64>,
}

/// What the rule decided, with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Whether the challenger becomes production.
    pub promote: bool,
    /// The metric (or composite) compared.
    pub metric: Objective,
    /// The challenger's value on the holdout.
    pub challenger: f64,
    /// The champion's value on the same holdout, if there is a champion.
    pub champion: Option<f64>,
    /// The improvement needed over the champion.
    pub required: f64,
    /// The improvement achieved (positive = better, whatever the metric's direction).
    pub improvement: Option<f64>,
    /// The bootstrap interval of the improvement, when the rule asks for confidence.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub interval: Option<Interval>,
    /// The rows both were scored on.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub holdout: Option<HoldoutRef>,
    /// Why, in words.
    pub reason: String,
}

/// The holdout a decision was made on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldoutRef {
    /// The prepared set whose holdout it is (`prepared_data/<date>`).
    pub reference: String,
    /// Its rows with a target value.
    pub rows: usize,
}

/// Decides whether a challenger with metrics `challenger` replaces a champion with
/// `champion`, both measured on the same rows.
///
/// The challenger must clear the floor; with no champion that is enough. Otherwise it must be
/// strictly better by at least the margin (so a tie never replaces the champion), and with
/// an `interval` its lower bound must exceed the margin.
pub fn decide(
    rule: &PromotionRule,
    metric: &Objective,
    challenger: &Metrics,
    champion: Option<&Metrics>,
    interval: Option<Interval>,
) -> Decision {
    let name = metric.name();
    let better = |a: f64, b: f64| {
        if metric.higher_is_better() {
            a - b
        } else {
            b - a
        }
    };
    let value = metric.value(challenger).unwrap_or(f64::NAN);
    let champ = champion.and_then(|c| metric.value(c));
    let mut d = Decision {
        promote: false,
        metric: metric.clone(),
        challenger: value,
        champion: champ,
        required: 0.0,
        improvement: champ.map(|c| better(value, c)),
        interval,
        holdout: None,
        reason: String::new(),
    };
    if !value.is_finite() {
        d.reason = format!("{name} is not a number ({value})");
        return d;
    }
    let floors: Vec<(String, f64, f64, bool)> = match &rule.floor {
        None => Vec::new(),
        Some(Floor::Value(f)) => vec![(name.clone(), value, *f, metric.higher_is_better())],
        Some(Floor::Metrics(m)) => m
            .iter()
            .map(|(k, f)| {
                let v = challenger.get(k.name()).copied().unwrap_or(f64::NAN);
                (k.name().to_string(), v, *f, k.higher_is_better())
            })
            .collect(),
    };
    for (n, v, f, higher) in &floors {
        let clears = if *higher { v >= f } else { v <= f };
        if !clears {
            d.reason = format!(
                "{n} {v:.4} does not clear the floor {f:.4}{}",
                if *higher { "" } else { " (lower is better)" }
            );
            return d;
        }
    }
    let floor_text = || {
        floors
            .iter()
            .map(|(n, _, f, _)| format!("{n} floor {f:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(champ) = champ else {
        d.promote = true;
        d.reason = if floors.is_empty() {
            format!("first model ({name} {value:.4})")
        } else {
            format!("first model: {name} {value:.4} clears the {}", floor_text())
        };
        return d;
    };
    d.required = match rule.margin {
        Margin::Absolute(m) => m,
        Margin::Relative(r) => r * champ.abs(),
    };
    let gain = better(value, champ);
    let by_margin = gain > 0.0 && gain >= d.required - 1e-12;
    let sure = interval.is_none_or(|i| i.low > d.required);
    d.promote = by_margin && sure;
    let margin = match rule.margin {
        Margin::Absolute(m) => format!("{m}"),
        Margin::Relative(r) => format!("{}% = {:.4}", r * 100.0, d.required),
    };
    let ci = interval.map_or(String::new(), |i| {
        format!(
            "; {:.0}% interval of the gain [{:.4}, {:.4}]",
            i.confidence * 100.0,
            i.low,
            i.high
        )
    });
    d.reason = if d.promote {
        format!(
            "{name} {value:.4} beats the champion's {champ:.4} on the same holdout by {gain:.4} (margin {margin}){ci}"
        )
    } else if by_margin {
        format!(
            "{name} {value:.4} beats the champion's {champ:.4} by {gain:.4}, but not surely: the interval's lower bound is not above the margin {margin}{ci}"
        )
    } else if gain > 0.0 {
        format!(
            "{name} {value:.4} beats the champion's {champ:.4} by only {gain:.4} (margin {margin}){ci}"
        )
    } else {
        format!("{name} {value:.4} does not beat the champion's {champ:.4} on the same holdout{ci}")
    };
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(metric: Metric, v: f64) -> Metrics {
        Metrics::from([
            (metric.name().to_string(), v),
            ("accuracy".to_string(), 0.9),
        ])
    }

    fn iv(low: f64, high: f64) -> Option<Interval> {
        Some(Interval {
            confidence: 0.9,
            low,
            high,
            resamples: 1000,
        })
    }

    #[test]
    fn the_rule_table() {
        let abs = |m: f64, floor: Option<f64>| PromotionRule {
            margin: Margin::Absolute(m),
            floor: floor.map(Floor::Value),
            ..PromotionRule::default()
        };
        let rel = |r: f64| PromotionRule {
            margin: Margin::Relative(r),
            ..PromotionRule::default()
        };
        let f1 = Metric::F1Macro;
        let rmse = Metric::Rmse;
        type Row = (
            PromotionRule,
            Metric,
            f64,
            Option<f64>,
            Option<Interval>,
            bool,
        );
        // (rule, metric, challenger, champion, bootstrap interval, promoted)
        let table: Vec<Row> = vec![
            (abs(0.0, None), f1, 0.70, None, None, true), // first model
            (abs(0.0, Some(0.75)), f1, 0.70, None, None, false), // first model below the floor
            (abs(0.0, Some(0.70)), f1, 0.70, None, None, true), // exactly on the floor
            (abs(0.0, None), f1, 0.80, Some(0.80), None, false), // tie
            (abs(0.0, None), f1, 0.8001, Some(0.80), None, true), // strictly better
            (abs(0.01, None), f1, 0.805, Some(0.80), None, false), // better, not by the margin
            (abs(0.01, None), f1, 0.81, Some(0.80), None, true), // by exactly the margin
            (abs(0.01, Some(0.9)), f1, 0.85, Some(0.80), None, false), // under the floor
            (rel(0.05), f1, 0.83, Some(0.80), None, false), // 3.75 % < 5 %
            (rel(0.05), f1, 0.85, Some(0.80), None, true), // 6.25 %
            (abs(0.0, None), f1, 0.79, Some(0.80), None, false), // worse
            (abs(1.0, None), rmse, 9.5, Some(10.0), None, false), // lower is better, not by 1
            (abs(0.5, None), rmse, 9.5, Some(10.0), None, true),
            (abs(0.0, Some(12.0)), rmse, 13.0, None, None, false), // above its ceiling
            (rel(0.1), rmse, 8.9, Some(10.0), None, true),
            // The bootstrap: better by the margin, but is it sure?
            (
                abs(0.001, None),
                f1,
                0.76,
                Some(0.74),
                iv(0.005, 0.035),
                true,
            ), // sure
            (
                abs(0.001, None),
                f1,
                0.76,
                Some(0.74),
                iv(-0.01, 0.05),
                false,
            ), // noise
            (
                abs(0.001, None),
                f1,
                0.76,
                Some(0.74),
                iv(0.001, 0.04),
                false,
            ), // on the margin
            (abs(0.0, None), f1, 0.76, Some(0.74), iv(0.0001, 0.04), true),
            (abs(0.0, None), f1, 0.74, Some(0.76), iv(0.01, 0.04), false), // worse: never
            (abs(0.0, None), f1, 0.70, None, iv(-1.0, 1.0), true), // no champion, no interval
        ];
        for (i, (rule, metric, challenger, champion, interval, promoted)) in
            table.into_iter().enumerate()
        {
            let champ = champion.map(|c| m(metric, c));
            let d = decide(
                &rule,
                &Objective::Metric(metric),
                &m(metric, challenger),
                champ.as_ref(),
                interval,
            );
            assert_eq!(d.promote, promoted, "row {i}: {}", d.reason);
            assert!(!d.reason.is_empty());
        }
        let f = Objective::Metric(f1);
        let d = decide(&abs(0.0, None), &f, &m(f1, 0.8), Some(&m(f1, 0.8)), None);
        assert_eq!(
            d.reason,
            "f1_macro 0.8000 does not beat the champion's 0.8000 on the same holdout"
        );
        assert_eq!(d.improvement, Some(0.0));
        let d = decide(
            &abs(0.001, None),
            &f,
            &m(f1, 0.76),
            Some(&m(f1, 0.74)),
            iv(-0.01, 0.05),
        );
        assert!(
            d.reason.contains("not surely") && d.reason.contains("[-0.0100, 0.0500]"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn floors_on_named_metrics_and_presets() {
        let rule = Preset::FivePercent.rule(PromotionRule::default(), false);
        assert_eq!(rule.margin, Margin::Relative(0.05));
        let f1 = Objective::Metric(Metric::F1Macro);
        let low_accuracy = Metrics::from([("f1_macro".into(), 0.9), ("accuracy".into(), 0.8)]);
        let d = decide(&rule, &f1, &low_accuracy, None, None);
        assert!(
            !d.promote
                && d.reason
                    .contains("accuracy 0.8000 does not clear the floor 0.8500"),
            "{}",
            d.reason
        );
        let small = Preset::SmallGain.rule(PromotionRule::default(), false);
        assert_eq!(
            (small.margin, small.metric),
            (Margin::Absolute(0.001), Some(f1.clone()))
        );
        let given = PromotionRule {
            margin: Margin::Absolute(0.02),
            ..PromotionRule::default()
        };
        assert_eq!(
            Preset::SmallGain.rule(given, true).margin,
            Margin::Absolute(0.02)
        );
    }

    #[test]
    fn a_composite_decides_on_its_weighted_sum() {
        let o: Objective = serde_json::from_value(serde_json::json!({
            "composite": {"f1_macro": 0.7, "roc_auc": 0.3}
        }))
        .unwrap();
        let a = Metrics::from([("f1_macro".into(), 0.70), ("roc_auc".into(), 0.95)]);
        let b = Metrics::from([("f1_macro".into(), 0.75), ("roc_auc".into(), 0.80)]);
        // f1 alone prefers b; the composite 0.775 vs 0.765 prefers a.
        let d = decide(&PromotionRule::default(), &o, &a, Some(&b), None);
        assert!(d.promote, "{}", d.reason);
        let d = decide(
            &PromotionRule::default(),
            &Objective::Metric(Metric::F1Macro),
            &a,
            Some(&b),
            None,
        );
        assert!(!d.promote);
    }

    #[test]
    fn rules_read_from_yaml_shapes() {
        let r: PromotionRule = serde_json::from_value(serde_json::json!({
            "metric": "roc_auc", "margin": {"relative": 0.02}, "floor": 0.7, "confidence": 0.9
        }))
        .unwrap();
        assert_eq!(r.margin, Margin::Relative(0.02));
        assert_eq!(r.floor, Some(Floor::Value(0.7)));
        let r: PromotionRule =
            serde_json::from_value(serde_json::json!({"floor": {"accuracy": 0.85}})).unwrap();
        assert!(matches!(r.floor, Some(Floor::Metrics(_))));
        assert!(
            serde_json::from_value::<PromotionRule>(serde_json::json!({"margin": {"percent": 2}}))
                .is_err()
        );
    }
}
