//! A line chart as SVG (a model's metric over its versions), drawn on the server.

use std::fmt::Write as _;

use super::html::escape;

const W: f64 = 640.0;
const H: f64 = 220.0;
const PAD_L: f64 = 56.0;
const PAD_R: f64 = 16.0;
const PAD_T: f64 = 14.0;
const PAD_B: f64 = 30.0;

/// `points` (label, value) joined by a line, with the extreme values on the axis; a note when
/// there is nothing to draw.
pub fn line(points: &[(String, f64)], what: &str) -> String {
    let finite: Vec<&(String, f64)> = points.iter().filter(|(_, v)| v.is_finite()).collect();
    if finite.is_empty() {
        return "<p class=\"muted\">no metric recorded</p>".into();
    }
    let (lo, hi) = finite
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), (_, v)| {
            (lo.min(*v), hi.max(*v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let step = if finite.len() > 1 {
        (W - PAD_L - PAD_R) / (finite.len() - 1) as f64
    } else {
        0.0
    };
    let at = |i: usize, v: f64| {
        (
            PAD_L + step * i as f64,
            PAD_T + (H - PAD_T - PAD_B) * (1.0 - (v - lo) / span),
        )
    };
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"{W}\" height=\"{H}\" \
         viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">\
         <line class=\"axis\" x1=\"{PAD_L}\" y1=\"{PAD_T}\" x2=\"{PAD_L}\" y2=\"{b}\"/>\
         <line class=\"axis\" x1=\"{PAD_L}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\"/>\
         <text x=\"4\" y=\"{ty}\">{hi:.4}</text><text x=\"4\" y=\"{b}\">{lo:.4}</text>",
        escape(what),
        b = H - PAD_B,
        r = W - PAD_R,
        ty = PAD_T + 4.0,
    );
    let path: Vec<String> = finite
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            let (x, y) = at(i, *v);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let _ = write!(
        out,
        "<polyline class=\"line\" points=\"{}\"/>",
        path.join(" ")
    );
    let every = finite.len().div_ceil(12).max(1);
    for (i, (label, v)) in finite.iter().enumerate() {
        let (x, y) = at(i, *v);
        let _ = write!(
            out,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\"><title>{}: {v:.4}</title></circle>",
            escape(label)
        );
        if i % every == 0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{}\">{}</text>",
                x - 8.0,
                H - 10.0,
                escape(label)
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_point_per_finite_value() {
        let svg = line(
            &[
                ("v1".into(), 0.8),
                ("v2".into(), f64::NAN),
                ("v3".into(), 0.9),
            ],
            "auc",
        );
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("0.9000") && svg.contains("0.8000"));
        assert!(line(&[], "auc").contains("no metric"));
    }
}
