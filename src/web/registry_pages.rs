//! The pages beside DAGs: Variables, pools and connections (secrets masked, as the CLI lists
//! them), the model registry (versions, stages, aliases, the metric over versions as a chart,
//! promotions with both holdout scores, audit verification), experiments, and the HTML
//! reports the loop writes, linked from their runs.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use dagctl::engine::store::{RunKey, is_secret_name};
use dagctl::operators::registry::{self, ModelVersion};
use dagctl::operators::tracking;

use dagctl::engine::Store;

use super::fault::Fault;
use super::html::{badge, escape, page, seg, table, time};
use super::{Shared, chart};
use crate::views;
use dagctl::engine::store::ConnectionLookup;

pub async fn variables(State(app): State<Shared>) -> Result<Html<String>, Fault> {
    let vars = app.store.variables().await?;
    let rows: Vec<[String; 2]> = vars
        .iter()
        .map(|(k, v)| {
            let shown = views::variable_value(k, v);
            [
                escape(k),
                format!(
                    "<span class=\"mono\">{}</span>{}",
                    escape(&match &shown {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    }),
                    if is_secret_name(k) {
                        " <span class=\"muted\">(secret: masked)</span>"
                    } else {
                        ""
                    }
                ),
            ]
        })
        .collect();
    let body = format!(
        "<h1>Variables</h1>{}<p class=\"muted\">{} Variable(s). Values of names that say \
         secret, password, token, key… are masked.</p>",
        table(["key", "value"], &rows),
        rows.len()
    );
    Ok(Html(page("Variables", &body)))
}

pub async fn pools(State(app): State<Shared>) -> Result<Html<String>, Fault> {
    let stats = app.store.stats(chrono::Utc::now()).await?;
    let rows: Vec<[String; 4]> = app
        .engine
        .pools()
        .iter()
        .map(|(n, p)| {
            let used = stats.pool_used.get(n).copied().unwrap_or(0);
            [
                escape(n),
                p.slots.to_string(),
                used.to_string(),
                escape(p.description.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    let body = format!(
        "<h1>Pools</h1>{}",
        table(
            ["pool", "slots", "used (queued + running)", "description"],
            &rows
        )
    );
    Ok(Html(page("Pools", &body)))
}

pub async fn connections(State(app): State<Shared>) -> Result<Html<String>, Fault> {
    let rows: Vec<[String; 3]> = app
        .store
        .connections()
        .await?
        .iter()
        .map(|c| {
            let v = views::connection(c);
            [
                escape(&c.name),
                format!(
                    "<span class=\"mono\">{}</span>",
                    escape(v["url"].as_str().unwrap_or(""))
                ),
                format!(
                    "<span class=\"mono\">{}</span>",
                    escape(&v["extra"].to_string())
                ),
            ]
        })
        .collect();
    let body = format!(
        "<h1>Connections</h1>{}<p class=\"muted\">Passwords and secret settings are masked.</p>",
        table(["name", "url", "extra"], &rows)
    );
    Ok(Html(page("Connections", &body)))
}

/// A version's metric, as `name value`.
fn metric(v: &ModelVersion) -> Option<(String, f64)> {
    v.metric.value(&v.metrics).map(|x| (v.metric.name(), x))
}

pub async fn models(State(app): State<Shared>) -> Result<Html<String>, Fault> {
    let mut rows = Vec::new();
    for m in registry::models(&app.store).await? {
        let prod = match m.production() {
            Some(p) => {
                let v = registry::version(&app.store, &m.name, p).await?;
                format!(
                    "v{p} {}",
                    metric(&v).map_or(String::new(), |(n, x)| format!("({n} {x:.4})"))
                )
            }
            None => "-".into(),
        };
        rows.push([
            format!(
                "<a href=\"/models/{}\">{}</a>",
                seg(&m.name),
                escape(&m.name)
            ),
            m.latest_version.to_string(),
            escape(&prod),
            time(Some(m.created_at)),
        ]);
    }
    let body = if rows.is_empty() {
        "<h1>Models</h1><p>No model registered yet (the shipped loop's DAG 03 registers one).</p>"
            .to_string()
    } else {
        format!(
            "<h1>Models</h1>{}",
            table(["model", "versions", "production", "created"], &rows)
        )
    };
    Ok(Html(page("Models", &body)))
}

pub async fn model(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> Result<Html<String>, Fault> {
    let Some((e, _)) = registry::entry(&app.store, &name).await? else {
        return Err(Fault::not_found(format!(
            "no model `{name}` in the registry"
        )));
    };
    let versions = registry::versions(&app.store, &name).await?;
    let mut rows = Vec::new();
    for v in &versions {
        // The same check as `dagctl models verify`: file hashes and the audit hash.
        let verified = match crate::cli::model_files::version_location(
            &app.global,
            &app.store,
            &name,
            Some(v.version),
        )
        .await
        {
            Ok(loc) => match registry::verify(&app.store, &loc, &name, v.version).await {
                Ok(r) if r.ok => "<span class=\"badge state-success\">verified</span>".into(),
                Ok(r) => format!(
                    "<span class=\"badge state-failed\">MISMATCH</span> {}",
                    escape(
                        &r.checks
                            .iter()
                            .filter(|(_, ok)| !ok)
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                ),
                Err(err) => format!(
                    "<span class=\"badge\">unreadable</span> {}",
                    escape(&err.to_string())
                ),
            },
            Err(err) => format!(
                "<span class=\"badge\">unreadable</span> {}",
                escape(&format!("{err:#}"))
            ),
        };
        let aliases = e.aliases_of(v.version);
        rows.push([
            format!("v{}", v.version),
            format!(
                "{}{}",
                badge(e.stage(v.version).name()),
                aliases
                    .iter()
                    .map(|a| format!(" @{}", escape(a)))
                    .collect::<String>()
            ),
            escape(&v.candidate),
            metric(v).map_or("-".into(), |(n, x)| format!("{} {x:.4}", escape(&n))),
            escape(&v.data.reference),
            format!(
                "<span class=\"mono\">{}</span>",
                escape(&v.audit_hash[..12.min(v.audit_hash.len())])
            ),
            verified,
        ]);
    }
    let points: Vec<(String, f64)> = versions
        .iter()
        .filter_map(|v| metric(v).map(|(_, x)| (format!("v{}", v.version), x)))
        .collect();
    let metric_name = versions
        .iter()
        .find_map(metric)
        .map(|(n, _)| n)
        .unwrap_or_default();
    let mut body = format!(
        "<h1>Model {}</h1><p><a href=\"/api/v1/models/{}\">JSON</a></p><h2>{} over versions</h2>{}\
         <h2>Versions</h2>{}",
        escape(&name),
        seg(&name),
        escape(&metric_name),
        chart::line(&points, &metric_name),
        table(
            [
                "version",
                "stage",
                "candidate",
                "metric",
                "data",
                "audit hash",
                "verification"
            ],
            &rows
        )
    );
    let mut history = Vec::new();
    for h in e.history.iter().rev() {
        let (challenger, champion, holdout) = match &h.decision {
            Some(d) => (
                format!("{:.4}", d.challenger),
                d.champion.map_or("-".into(), |c| format!("{c:.4}")),
                d.holdout.as_ref().map_or("-".into(), |r| {
                    format!("{} ({} rows)", escape(&r.reference), r.rows)
                }),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        history.push([
            time(Some(h.at)),
            format!("v{}", h.version),
            escape(&h.action),
            format!("{} → {}", h.from.name(), h.to.name()),
            challenger,
            champion,
            holdout,
            escape(&h.reason),
        ]);
    }
    let _ = write!(
        body,
        "<h2>History (newest first)</h2>{}",
        table(
            [
                "at",
                "version",
                "action",
                "stage",
                "challenger on holdout",
                "champion on the same holdout",
                "holdout",
                "reason"
            ],
            &history
        )
    );
    if !e.performance.is_empty() {
        let rows: Vec<[String; 4]> = e
            .performance
            .iter()
            .rev()
            .map(|p| {
                [
                    time(Some(p.at)),
                    format!(
                        "v{} on {}..{} ({} rows)",
                        p.version,
                        escape(&p.from),
                        escape(&p.to),
                        p.rows
                    ),
                    escape(&dagctl::operators::ml::metrics::format(&p.metrics)),
                    if p.below.is_empty() {
                        "-".into()
                    } else {
                        format!("FIRED: {}", escape(&p.below.join(", ")))
                    },
                ]
            })
            .collect();
        let _ = write!(
            body,
            "<h2>Performance on fresh rows</h2>{}",
            table(["at", "version and rows", "metrics", "decay"], &rows)
        );
    }
    Ok(Html(page(&format!("model {name}"), &body)))
}

pub async fn experiments(State(app): State<Shared>) -> Result<Html<String>, Fault> {
    let runs = tracking::list(&app.store, None).await?;
    let mut body = String::from("<h1>Experiments</h1>");
    if runs.is_empty() {
        body.push_str("<p>No training run recorded yet (`train_models` records them).</p>");
    }
    for r in runs.iter().take(50) {
        let _ = write!(
            body,
            "<h2>{} <span class=\"muted\">({})</span></h2><p>run <a href=\"/dags/{}/runs/{}\">{}</a> \
             of {} · started {} · {:.2}s · data <span class=\"mono\">{}</span>{}</p>",
            escape(&r.id),
            escape(&r.experiment),
            seg(&r.dag_id),
            seg(&r.run_id),
            escape(&r.run_id),
            escape(&r.dag_id),
            time(Some(r.started_at)),
            r.duration_seconds,
            escape(&r.result.data),
            if r.reasons.is_empty() {
                String::new()
            } else {
                format!(" · why: {}", escape(&r.reasons.join(", ")))
            }
        );
        for t in &r.result.targets {
            let rows: Vec<[String; 4]> = t
                .report
                .candidates
                .iter()
                .map(|c| {
                    [
                        format!(
                            "{}{}",
                            escape(c.candidate.name()),
                            if c.candidate == t.report.best {
                                " <b>(best)</b>"
                            } else {
                                ""
                            }
                        ),
                        escape(&dagctl::operators::ml::metrics::format(&c.metrics)),
                        format!(
                            "<span class=\"mono\">{}</span>",
                            escape(&c.params.to_string())
                        ),
                        escape(c.error.as_deref().unwrap_or("")),
                    ]
                })
                .collect();
            let _ = write!(
                body,
                "<p>target <b>{}</b> by {} ({} train / {} test rows)</p>{}",
                escape(&t.report.target),
                escape(&t.report.metric.name()),
                t.report.rows.train,
                t.report.rows.test,
                table(["candidate", "metrics", "params", "error"], &rows)
            );
        }
    }
    if runs.len() > 50 {
        let _ = write!(
            body,
            "<p class=\"muted\">the 50 newest of {} runs</p>",
            runs.len()
        );
    }
    Ok(Html(page("Experiments", &body)))
}

/// The tasks of a run that wrote an HTML report, with its key: their return value names it
/// (`page`), as `validate_data` and `detect_drift` do.
pub async fn reports_of(app: &Shared, key: &RunKey) -> Vec<(String, String)> {
    let Ok(xcoms) = app.store.xcoms(key).await else {
        return Vec::new();
    };
    xcoms
        .into_iter()
        .filter(|(_, k, _)| k == "return_value")
        .filter_map(|(task, _, v)| {
            let page = v.get("page")?.as_str()?;
            page.ends_with(".html").then(|| (task, page.to_string()))
        })
        .collect()
}

pub async fn report(
    State(app): State<Shared>,
    Path((dag_id, run_id, task_id)): Path<(String, String, String)>,
) -> Result<Response, Fault> {
    let key = app.engine.find_run(&run_id, Some(&dag_id)).await?.key();
    let Some((_, page_key)) = reports_of(&app, &key)
        .await
        .into_iter()
        .find(|(t, _)| *t == task_id)
    else {
        return Err(Fault::not_found(format!(
            "task `{task_id}` of run {run_id} wrote no HTML report"
        )));
    };
    let location = app.global.data_location().await?;
    let bytes = location
        .get_bytes(&object_store::path::Path::from(page_key.as_str()))
        .await
        .map_err(|e| {
            Fault::not_found(format!(
                "the report {page_key} cannot be read from the data location ({e}); a task \
                 with its own `conn_id` keeps it there"
            ))
        })?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Our reports are self-contained: nothing may load from elsewhere; sandboxed,
            // their scripts run in an origin of their own, with no access to this server's
            // pages, cookie or actions, and they submit no form.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
                 img-src data:; sandbox allow-scripts",
            ),
        ],
        bytes,
    )
        .into_response())
}
