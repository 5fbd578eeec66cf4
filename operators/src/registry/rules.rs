//! The champion/challenger promotion rule, as a pure decision that can be tested by table.

use serde::{Deserialize, Serialize};

use crate::ml::Metric;

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

/// The rule of `promote_model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PromotionRule {
    /// The compared metric (default: the one the version was chosen by).
    #[serde(default)]
    pub metric: Option<Metric>,
    /// The margin to beat the champion by (default: strictly better).
    #[serde(default)]
    pub margin: Margin,
    /// The value the challenger must reach (at least, or at most for an error metric).
    #[serde(default)]
    pub floor: Option<f64>,
}

/// What the rule decided, with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Whether the challenger becomes production.
    pub promote: bool,
    /// The metric compared.
    pub metric: Metric,
    /// The challenger's value.
    pub challenger: f64,
    /// The champion's value, if there is one.
    pub champion: Option<f64>,
    /// The improvement needed over the champion.
    pub required: f64,
    /// The improvement achieved (positive = better, whatever the metric's direction).
    pub improvement: Option<f64>,
    /// Why, in words.
    pub reason: String,
}

/// Decides whether a challenger with `challenger` replaces a champion with `champion`.
///
/// The challenger must clear the floor; with no champion that is enough. Otherwise it must be
/// strictly better by at least the margin (so a tie never replaces the champion).
pub fn decide(
    rule: &PromotionRule,
    metric: Metric,
    challenger: f64,
    champion: Option<f64>,
) -> Decision {
    let name = metric.name();
    let better = |a: f64, b: f64| {
        if metric.higher_is_better() {
            a - b
        } else {
            b - a
        }
    };
    let mut d = Decision {
        promote: false,
        metric,
        challenger,
        champion,
        required: 0.0,
        improvement: champion.map(|c| better(challenger, c)),
        reason: String::new(),
    };
    if !challenger.is_finite() {
        d.reason = format!("{name} is not a number ({challenger})");
        return d;
    }
    if let Some(floor) = rule.floor
        && better(challenger, floor) < 0.0
    {
        d.reason = format!(
            "{name} {challenger:.4} does not clear the floor {floor:.4}{}",
            if metric.higher_is_better() {
                ""
            } else {
                " (lower is better)"
            }
        );
        return d;
    }
    let Some(champ) = champion else {
        d.promote = true;
        d.reason = match rule.floor {
            Some(f) => format!("first model: {name} {challenger:.4} clears the floor {f:.4}"),
            None => format!("first model ({name} {challenger:.4})"),
        };
        return d;
    };
    d.required = match rule.margin {
        Margin::Absolute(m) => m,
        Margin::Relative(r) => r * champ.abs(),
    };
    let gain = better(challenger, champ);
    d.promote = gain > 0.0 && gain >= d.required - 1e-12;
    let margin = match rule.margin {
        Margin::Absolute(m) => format!("{m}"),
        Margin::Relative(r) => format!("{}% = {:.4}", r * 100.0, d.required),
    };
    d.reason = if d.promote {
        format!(
            "{name} {challenger:.4} beats the champion's {champ:.4} by {gain:.4} (margin {margin})"
        )
    } else if gain > 0.0 {
        format!(
            "{name} {challenger:.4} beats the champion's {champ:.4} by only {gain:.4} (margin {margin})"
        )
    } else {
        format!("{name} {challenger:.4} does not beat the champion's {champ:.4}")
    };
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_table() {
        let abs = |m: f64, floor: Option<f64>| PromotionRule {
            metric: None,
            margin: Margin::Absolute(m),
            floor,
        };
        let rel = |r: f64| PromotionRule {
            metric: None,
            margin: Margin::Relative(r),
            floor: None,
        };
        let f1 = Metric::F1Macro;
        let rmse = Metric::Rmse;
        // (rule, metric, challenger, champion, promoted)
        let table: Vec<(PromotionRule, Metric, f64, Option<f64>, bool)> = vec![
            (abs(0.0, None), f1, 0.70, None, true),          // first model
            (abs(0.0, Some(0.75)), f1, 0.70, None, false),   // first model below the floor
            (abs(0.0, Some(0.70)), f1, 0.70, None, true),    // exactly on the floor
            (abs(0.0, None), f1, 0.80, Some(0.80), false),   // tie
            (abs(0.0, None), f1, 0.8001, Some(0.80), true),  // strictly better
            (abs(0.01, None), f1, 0.805, Some(0.80), false), // better, not by the margin
            (abs(0.01, None), f1, 0.81, Some(0.80), true),   // by exactly the margin
            (abs(0.01, Some(0.9)), f1, 0.85, Some(0.80), false), // beats it, under the floor
            (rel(0.05), f1, 0.83, Some(0.80), false),        // 3.75 % < 5 %
            (rel(0.05), f1, 0.85, Some(0.80), true),         // 6.25 %
            (abs(0.0, None), f1, 0.79, Some(0.80), false),   // worse
            (abs(1.0, None), rmse, 9.5, Some(10.0), false),  // lower is better, not by 1
            (abs(0.5, None), rmse, 9.5, Some(10.0), true),
            (abs(0.0, Some(12.0)), rmse, 13.0, None, false), // an error above its ceiling
            (rel(0.1), rmse, 8.9, Some(10.0), true),
        ];
        for (i, (rule, metric, challenger, champion, promoted)) in table.into_iter().enumerate() {
            let d = decide(&rule, metric, challenger, champion);
            assert_eq!(d.promote, promoted, "row {i}: {}", d.reason);
            assert!(!d.reason.is_empty());
        }
        let d = decide(&abs(0.0, None), f1, 0.8, Some(0.8));
        assert_eq!(
            d.reason,
            "f1_macro 0.8000 does not beat the champion's 0.8000"
        );
        assert_eq!(d.improvement, Some(0.0));
    }

    #[test]
    fn rules_read_from_yaml_shapes() {
        let r: PromotionRule = serde_json::from_value(serde_json::json!({
            "metric": "roc_auc", "margin": {"relative": 0.02}, "floor": 0.7
        }))
        .unwrap();
        assert_eq!(r.margin, Margin::Relative(0.02));
        assert!(
            serde_json::from_value::<PromotionRule>(serde_json::json!({"margin": {"percent": 2}}))
                .is_err()
        );
    }
}
