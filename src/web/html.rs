//! The pages' frame: one stylesheet and one small script embedded in the binary, the
//! navigation, escaping, and the little pieces every page uses (state badges, times, tables).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

pub use dagctl::engine::markup::escape;

/// The colours of task and run states, shared by badges, the grid and the graph.
const CSS: &str = r#"
:root { --fg:#1d2330; --muted:#5f6b7a; --line:#d9dee5; --bg:#fff; --head:#1f3a5f; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:#f5f7fa; }
header { background:var(--head); color:#fff; padding:10px 18px; display:flex; gap:18px; align-items:center; }
header a { color:#dfe9f7; text-decoration:none; font-weight:500; }
header a.brand { color:#fff; font-weight:700; font-size:16px; margin-right:10px; }
main { padding:16px 18px 40px; }
h1 { font-size:20px; margin:4px 0 10px; } h2 { font-size:16px; margin:22px 0 8px; }
a { color:#1b5fb8; }
table { border-collapse:collapse; background:var(--bg); border:1px solid var(--line); }
th, td { border-bottom:1px solid var(--line); padding:5px 9px; text-align:left; vertical-align:top; }
th { background:#eef2f7; font-weight:600; }
.muted { color:var(--muted); } .mono, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size:12.5px; }
pre.log { background:#10161f; color:#d7e1ec; padding:12px; border-radius:6px; white-space:pre-wrap; word-break:break-word; min-height:60px; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; color:#fff; background:#8792a2; }
.cell { display:inline-block; width:16px; height:16px; border-radius:3px; border:1px solid rgba(0,0,0,.15); background:#fff; vertical-align:middle; }
.state-success { background:#2e9d4f; } .state-failed { background:#d0382e; } .state-running { background:#2f86d6; }
.state-queued { background:#9b6dd6; } .state-scheduled { background:#c1a3e8; } .state-up_for_retry { background:#e8a33d; }
.state-upstream_failed { background:#f08a63; } .state-skipped { background:#e3b7e3; } .state-deferred { background:#6fc3c9; }
.state-orphaned { background:#7b5b3a; } .state-removed { background:#d3d3d3; } .state-none { background:#ffffff; }
.badge.state-none, .badge.state-skipped { color:var(--fg); }
svg.dag-graph .edge { fill:none; stroke:#8a96a8; stroke-width:1.4; } svg.dag-graph .edge-head { fill:#8a96a8; }
svg.dag-graph rect { stroke:#4b5563; stroke-width:1; } svg.dag-graph text { font-size:12px; fill:#111; }
svg.dag-graph text.op { fill:#333; font-size:10.5px; }
svg.dag-graph .state-success rect { fill:#bfe6c9; } svg.dag-graph .state-failed rect { fill:#f4c2bd; }
svg.dag-graph .state-running rect { fill:#c3dcf5; } svg.dag-graph .state-queued rect, svg.dag-graph .state-scheduled rect { fill:#e2d5f5; }
svg.dag-graph .state-up_for_retry rect { fill:#f7ddb3; } svg.dag-graph .state-upstream_failed rect { fill:#f9d3c4; }
svg.dag-graph .state-skipped rect { fill:#f3e1f3; } svg.dag-graph .state-none rect { fill:#fff; }
svg.dag-graph .state-deferred rect { fill:#cdeef0; } svg.dag-graph g.task { background:none; }
svg.chart .line { fill:none; stroke:#1b5fb8; stroke-width:2; } svg.chart circle { fill:#1b5fb8; }
svg.chart text { font-size:11px; fill:#333; } svg.chart .axis { stroke:#9aa4b2; }
.grid td { padding:2px 4px; text-align:center; } .grid td:first-child { text-align:left; } .grid th.task { writing-mode:vertical-rl; transform:rotate(180deg); white-space:nowrap; font-weight:500; padding:6px 2px; }
.actions form { display:inline-block; margin:0 6px 6px 0; }
button { font:inherit; padding:3px 10px; border:1px solid #9aa4b2; border-radius:5px; background:#fff; cursor:pointer; }
textarea, input[type=text], input[type=password] { font:inherit; padding:3px 6px; border:1px solid #9aa4b2; border-radius:5px; }
.note { background:#fff8e1; border:1px solid #f0d98a; padding:6px 10px; border-radius:6px; display:inline-block; }
.error { background:#fdecea; border:1px solid #f3b7b1; padding:6px 10px; border-radius:6px; }
.pager a { margin-right:12px; } .tags a { margin-right:6px; }
"#;

/// Follows a running try's log: appends what the JSON log endpoint returns past `offset`
/// until the try has ended.
const FOLLOW_JS: &str = r#"
(function () {
  var pre = document.getElementById('log');
  if (!pre || pre.dataset.follow !== 'true') return;
  var offset = parseInt(pre.dataset.offset, 10) || 0;
  var state = document.getElementById('try-state');
  function poll() {
    fetch(pre.dataset.src + '?offset=' + offset, {credentials: 'same-origin'})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (j) {
        if (j.text) { pre.appendChild(document.createTextNode(j.text)); }
        offset = j.offset;
        if (state) { state.textContent = j.state; state.className = 'badge state-' + j.state; }
        if (!j.finished) { setTimeout(poll, 1000); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
"#;

/// A whole page: `title`, the navigation, `body` (already HTML).
pub fn page(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + CSS.len() + 1200);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\">\
         <title>{} · dagctl</title><style>{CSS}</style></head><body><header>\
         <a class=\"brand\" href=\"/\">dagctl</a><a href=\"/\">DAGs</a>\
         <a href=\"/models\">Models</a><a href=\"/experiments\">Experiments</a>\
         <a href=\"/variables\">Variables</a><a href=\"/pools\">Pools</a>\
         <a href=\"/connections\">Connections</a><a href=\"/metrics\">Metrics</a>\
         </header><main>{body}</main><script>{FOLLOW_JS}</script></body></html>",
        escape(title)
    );
    out
}

/// A state as a coloured badge.
pub fn badge(state: &str) -> String {
    format!("<span class=\"badge state-{0}\">{0}</span>", escape(state))
}

/// A date-time as `2026-12-04 17:30:02` (UTC), or `-`.
pub fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// A duration in seconds, short.
pub fn secs(d: Option<std::time::Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) if d.as_secs_f64() < 60.0 => format!("{:.2}s", d.as_secs_f64()),
        Some(d) => format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60),
    }
}

/// A table: escaped header cells, body cells given as HTML.
pub fn table<const N: usize>(head: [&str; N], rows: &[[String; N]]) -> String {
    let mut out = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{c}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A path segment escaped for a URL (ids may hold `:`, `+`, spaces).
pub fn seg(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A form posting to `action` with one button; `fields` are hidden inputs (name, value).
pub fn action(action: &str, label: &str, fields: &[(&str, &str)]) -> String {
    let mut out = format!("<form method=\"post\" action=\"{}\">", escape(action));
    for (n, v) in fields {
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(n),
            escape(v)
        );
    }
    let _ = write!(
        out,
        "<button type=\"submit\">{}</button></form>",
        escape(label)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(
            seg("manual__2026-01-01T00:00:00+00:00"),
            "manual__2026-01-01T00%3A00%3A00%2B00%3A00"
        );
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }
}
