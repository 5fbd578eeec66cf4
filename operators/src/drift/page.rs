//! The drift report as one self-contained HTML page: a summary, a table sorted by PSI, and
//! reference-vs-current histograms for every feature as inline SVG (no scripts, no external
//! styles, fonts or images).

use super::compare::{DriftReport, FeatureDrift};
use crate::expectations::html::escape;

const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 120.0;

/// Side-by-side bars of both sides' shares per bin.
fn histogram(f: &FeatureDrift) -> String {
    let n = f.bins.labels.len().max(1);
    let top = f
        .bins
        .reference
        .iter()
        .chain(&f.bins.current)
        .copied()
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let slot = WIDTH / n as f64;
    let bar = (slot / 2.0 - 1.0).max(1.0);
    let mut out = format!(
        "<svg width=\"{WIDTH}\" height=\"{}\" role=\"img\" aria-label=\"{}\">",
        HEIGHT + 14.0,
        escape(&f.name)
    );
    for (i, label) in f.bins.labels.iter().enumerate() {
        for (k, (share, colour)) in [
            (f.bins.reference[i], "#7a8fa6"),
            (f.bins.current[i], "#d9822b"),
        ]
        .into_iter()
        .enumerate()
        {
            let h = share / top * HEIGHT;
            out.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{colour}\"><title>{} {}: {:.1} %</title></rect>",
                i as f64 * slot + k as f64 * (bar + 1.0),
                HEIGHT - h,
                escape(label),
                if k == 0 { "reference" } else { "current" },
                share * 100.0
            ));
        }
    }
    out.push_str(&format!(
        "<line x1=\"0\" y1=\"{HEIGHT}\" x2=\"{WIDTH}\" y2=\"{HEIGHT}\" stroke=\"#999\"/></svg>"
    ));
    out
}

/// The page.
pub fn render(title: &str, r: &DriftReport) -> String {
    let drifted = r.features.iter().filter(|f| f.drifted).count();
    let verdict = if r.dataset_drift {
        format!(
            "Dataset drift: {drifted} of {} features drifted ({:.0} % ≥ {:.0} %)",
            r.features.len(),
            r.drifted_share * 100.0,
            r.thresholds.share * 100.0
        )
    } else {
        format!(
            "No dataset drift: {drifted} of {} features drifted ({:.0} % < {:.0} %)",
            r.features.len(),
            r.drifted_share * 100.0,
            r.thresholds.share * 100.0
        )
    };
    let rows: String = r
        .features
        .iter()
        .map(|f| {
            format!(
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.3e}</td><td>{}</td></tr>\n",
                if f.drifted { "drift" } else { "ok" },
                escape(&f.name),
                f.kind,
                f.psi,
                f.statistic,
                f.p_value,
                if f.drifted { "drifted" } else { "—" }
            )
        })
        .collect();
    let charts: String = r
        .features
        .iter()
        .map(|f| {
            format!(
                "<figure><figcaption>{} — PSI {:.3}{}</figcaption>{}</figure>\n",
                escape(&f.name),
                f.psi,
                if f.drifted { ", drifted" } else { "" },
                histogram(f)
            )
        })
        .collect();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\
         body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left}}\
         tr.drift{{background:#fdecea}}.verdict{{font-size:1.3em;font-weight:bold}}\
         figure{{display:inline-block;margin:.5em 1em .5em 0}}figcaption{{font-size:.9em}}\
         .key span{{display:inline-block;width:1em;height:1em;vertical-align:middle;margin:0 .3em}}\
         </style></head><body>\n<h1>{t}</h1>\n<p class=\"verdict\">{v}</p>\n\
         <p>Reference: {rd} ({rr} rows). Current: {cd} ({cr} rows). A feature drifts when its PSI is above {psi} or its KS / χ² p-value is below {alpha}.</p>\n\
         <table><thead><tr><th>feature</th><th>kind</th><th>PSI</th><th>statistic</th><th>p-value</th><th></th></tr></thead><tbody>\n{rows}</tbody></table>\n\
         <h2>Distributions</h2>\n<p class=\"key\"><span style=\"background:#7a8fa6\"></span>reference<span style=\"background:#d9822b\"></span>current</p>\n{charts}</body></html>\n",
        t = escape(title),
        v = escape(&verdict),
        rd = escape(&r.reference.description),
        rr = r.reference.rows,
        cd = escape(&r.current.description),
        cr = r.current.rows,
        psi = r.thresholds.psi,
        alpha = r.thresholds.alpha,
    )
}
