//! The validation report as one self-contained HTML page (no external scripts, styles or
//! fonts), written beside the JSON report.

use super::check::Outcome;

pub use dagctl_engine::markup::escape;

/// The page: a summary (verdict, score, threshold, critical failures) and one row per
/// expectation, failures first.
pub fn render(
    title: &str,
    verdict: &str,
    score: f64,
    threshold: f64,
    outcomes: &[Outcome],
) -> String {
    let passed = outcomes.iter().filter(|o| o.success).count();
    let critical = outcomes.iter().filter(|o| o.critical && !o.success).count();
    let mut rows: Vec<&Outcome> = outcomes.iter().collect();
    rows.sort_by_key(|o| (o.success, !o.critical));
    let body: String = rows
        .iter()
        .map(|o| {
            let class = if o.success {
                "ok"
            } else if o.critical {
                "critical"
            } else {
                "failed"
            };
            let unexpected = o.unexpected_count.map_or(String::new(), |c| {
                format!(
                    "{c} ({:.2} %) {}",
                    o.unexpected_percent.unwrap_or(0.0),
                    escape(
                        &o.partial_unexpected_list
                            .iter()
                            .map(|v| v.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                )
            });
            format!(
                "<tr class=\"{class}\"><td>{}</td><td>{}</td><td><code>{}</code><br>{}</td><td>{}</td><td>{}</td></tr>\n",
                if o.success { "✓" } else if o.critical { "✗ critical" } else { "✗" },
                escape(o.column.as_deref().unwrap_or("table")),
                escape(&o.expectation_type),
                escape(&o.expectation),
                escape(&o.observed_value.to_string()),
                unexpected,
            )
        })
        .collect();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\
         body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}}\
         tr.ok td:first-child{{color:#1a7f37}}tr.failed td:first-child{{color:#b35900}}tr.critical{{background:#fdecea}}\
         tr.critical td:first-child{{color:#b00020;font-weight:bold}}.verdict{{font-size:1.4em;font-weight:bold}}\
         </style></head><body>\n<h1>{t}</h1>\n<p class=\"verdict\">{v}</p>\n\
         <p>{passed} of {n} expectations passed: score {score:.3} (threshold {threshold}); {critical} critical failure(s).</p>\n\
         <table><thead><tr><th></th><th>column</th><th>expectation</th><th>observed</th><th>unexpected</th></tr></thead><tbody>\n{body}</tbody></table>\n</body></html>\n",
        t = escape(title),
        v = escape(verdict),
        n = outcomes.len(),
    )
}
