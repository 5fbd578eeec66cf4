//! `http`: one HTTP request to an endpoint of a connection (Airflow's `HttpOperator` and
//! `SimpleHttpOperator`, which DAG files may name directly).
//!
//! ```yaml
//! send_report:
//!   operator: http              # or airflow.providers.http.operators.http.HttpOperator
//!   http_conn_id: reports       # dagctl connections add reports --url https://api.example.com
//!   endpoint: /runs/{{ ds }}
//!   method: POST                # Airflow's default
//!   data: {day: "{{ ds }}"}     # JSON with a JSON Content-Type, else form fields (query for GET)
//!   headers: {Content-Type: application/json}
//!   expected_status: [200, 201] # default: any 2xx
//!   log_response: true
//! ```
//! The response body is the task's XCom (`return_value`): parsed JSON when it is JSON, text
//! otherwise. A status outside `expected_status` fails the try (retryable for 429 and 5xx);
//! the connection's URL (with any user and password, sent as basic auth) is never shown
//! whole. Python-only arguments (`response_check`, `response_filter`) are refused.

use std::time::Duration;

use async_trait::async_trait;
use dagctl_engine::duration::parse_duration;
use dagctl_engine::store::{is_web_url, redact_url};
use dagctl_engine::{ArgsError, Operator, TaskContext, TaskError, TaskOutcome, parse_args};
use serde::Deserialize;

/// The operator.
#[derive(Debug, Clone, Copy, Default)]
pub struct Http;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    /// The connection whose URL is the base (Airflow's default name: `http_default`).
    #[serde(default = "default_conn")]
    http_conn_id: String,
    /// Appended to the connection's URL.
    #[serde(default)]
    endpoint: String,
    #[serde(default = "default_method")]
    method: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    headers: serde_json::Map<String, serde_json::Value>,
    /// Statuses that count as success (default: any 2xx).
    #[serde(default)]
    expected_status: Option<Statuses>,
    #[serde(default)]
    log_response: bool,
    /// The limit of the request (default `60s`).
    #[serde(default)]
    timeout: Option<String>,
    /// Airflow's `extra_options`: only an empty mapping.
    #[serde(default)]
    extra_options: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Statuses {
    One(u16),
    Many(Vec<u16>),
}

fn default_conn() -> String {
    "http_default".into()
}

fn default_method() -> String {
    "POST".into()
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

impl Args {
    fn check(&self) -> Result<(), ArgsError> {
        if !METHODS.contains(&self.method.to_ascii_uppercase().as_str()) {
            return Err(ArgsError::at(
                "method",
                format!(
                    "`{}` is not an HTTP method ({})",
                    self.method,
                    METHODS.join(", ")
                ),
            ));
        }
        if let Some(t) = &self.timeout
            && !t.contains("{{")
            && let Err(why) = parse_duration(t)
        {
            return Err(ArgsError::at("timeout", why));
        }
        if self.extra_options.as_ref().is_some_and(|o| !o.is_empty()) {
            return Err(ArgsError::at(
                "extra_options",
                "requests' options are not supported: set `timeout` here, TLS and proxies in the environment",
            ));
        }
        Ok(())
    }

    fn json_body(&self) -> bool {
        self.headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("content-type")
                && v.as_str()
                    .is_some_and(|v| v.to_ascii_lowercase().contains("json"))
        })
    }

    fn accepts(&self, status: u16) -> bool {
        match &self.expected_status {
            None => (200..300).contains(&status),
            Some(Statuses::One(s)) => *s == status,
            Some(Statuses::Many(list)) => list.contains(&status),
        }
    }
}

/// Python-only arguments of Airflow's HTTP operators, refused with what to do instead.
const PYTHON_ONLY: [(&str, &str); 3] = [
    (
        "response_check",
        "use `expected_status: [200]`: dagctl runs no Python lambdas",
    ),
    (
        "response_filter",
        "the response body is the task's XCom; filter it downstream",
    ),
    (
        "auth_type",
        "put the user and password in the connection's URL (basic auth)",
    ),
];

#[async_trait]
impl Operator for Http {
    fn name(&self) -> &str {
        "http"
    }

    fn summary(&self) -> &str {
        "sends an HTTP request to an endpoint of a connection; the response is its XCom"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        for (key, hint) in PYTHON_ONLY {
            if args.get(key).is_some() {
                return Err(ArgsError::at(key, format!("not supported: {hint}")));
            }
        }
        parse_args::<Args>(args)?.check()
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let a: Args = ctx.args()?;
        a.check().map_err(|e| TaskError::fatal(e.to_string()))?;
        let conn = ctx.connection(&a.http_conn_id).await?.ok_or_else(|| {
            TaskError::fatal(format!(
                "connection `{}` does not exist: add it with `dagctl connections add {} --url https://…`",
                a.http_conn_id, a.http_conn_id
            ))
        })?;
        if !is_web_url(&conn.url) {
            return Err(TaskError::fatal(format!(
                "connection `{}` ({}) is not an http(s) URL",
                a.http_conn_id,
                redact_url(&conn.url)
            )));
        }
        let mut url = reqwest::Url::parse(&join(&conn.url, &a.endpoint))
            .map_err(|e| TaskError::fatal(format!("bad URL from `{}`: {e}", a.http_conn_id)))?;
        let user = url.username().to_string();
        let password = url.password().map(str::to_string);
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let shown = redact_url(url.as_str());
        let timeout = match &a.timeout {
            Some(t) => parse_duration(t).map_err(TaskError::fatal)?,
            None => Duration::from_secs(60),
        };
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| TaskError::retryable(e.without_url().to_string()))?;
        let method = reqwest::Method::from_bytes(a.method.to_ascii_uppercase().as_bytes())
            .map_err(|e| TaskError::fatal(e.to_string()))?;
        let get_like = matches!(method, reqwest::Method::GET | reqwest::Method::HEAD);
        let req = client
            .request(method.clone(), url.clone())
            .headers(req_headers(&a)?);
        let mut req = match &a.data {
            None => req,
            Some(serde_json::Value::String(s)) if !get_like => req.body(s.clone()),
            Some(d) if a.json_body() && !get_like => req.body(d.to_string()),
            Some(serde_json::Value::Object(m)) => {
                let pairs: Vec<(String, String)> = m
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_string),
                        )
                    })
                    .collect();
                if get_like {
                    url.query_pairs_mut().extend_pairs(&pairs);
                    client
                        .request(method.clone(), url.clone())
                        .headers(req_headers(&a)?)
                } else {
                    req.header("content-type", "application/x-www-form-urlencoded")
                        .body(form_encoded(&pairs))
                }
            }
            Some(other) => req.body(other.to_string()),
        };
        if !user.is_empty() {
            req = req.basic_auth(&user, password.as_deref());
        }
        ctx.log(format!("{method} {shown}"));
        let resp = req
            .send()
            .await
            .map_err(|e| TaskError::retryable(format!("{method} {shown}: {}", e.without_url())))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| TaskError::retryable(format!("{method} {shown}: {}", e.without_url())))?;
        if a.log_response {
            ctx.log(format!("response ({status}): {text}"));
        }
        if !a.accepts(status) {
            let excerpt: String = text.chars().take(200).collect();
            let message = format!("{method} {shown} answered {status}: {excerpt}");
            return Err(if status == 429 || status >= 500 {
                TaskError::retryable(message)
            } else {
                TaskError::fatal(message)
            });
        }
        ctx.log(format!("{method} {shown}: {status}"));
        let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Ok(TaskOutcome::Success(Some(value)))
    }
}

/// The task's headers (values that are not text are sent as their JSON).
fn req_headers(a: &Args) -> Result<reqwest::header::HeaderMap, TaskError> {
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in &a.headers {
        let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
        match (
            reqwest::header::HeaderName::from_bytes(k.as_bytes()),
            reqwest::header::HeaderValue::from_str(&v),
        ) {
            (Ok(name), Ok(value)) => {
                map.insert(name, value);
            }
            _ => {
                return Err(TaskError::fatal(format!(
                    "header `{k}` is not a valid HTTP header (name or value)"
                )));
            }
        }
    }
    Ok(map)
}

/// `a=1&b=x+y`.
fn form_encoded(pairs: &[(String, String)]) -> String {
    let mut u = reqwest::Url::parse("http://form.invalid/").expect("a valid URL");
    u.query_pairs_mut().extend_pairs(pairs);
    u.query().unwrap_or_default().to_string()
}

/// The connection's URL and the endpoint, with one `/` between them.
fn join(base: &str, endpoint: &str) -> String {
    if endpoint.is_empty() {
        return base.to_string();
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        endpoint.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_as_airflow_users_write_them() {
        let op = Http;
        op.check_args(&serde_json::json!({
            "http_conn_id": "api", "endpoint": "/run", "method": "POST",
            "data": {"a": 1}, "headers": {"Content-Type": "application/json"}, "log_response": true
        }))
        .unwrap();
        let e = op
            .check_args(&serde_json::json!({"method": "FETCH"}))
            .unwrap_err();
        assert!(e.to_string().contains("not an HTTP method"), "{e}");
        let e = op
            .check_args(&serde_json::json!({"response_check": "lambda r: True"}))
            .unwrap_err();
        assert!(e.to_string().contains("expected_status"), "{e}");
        assert_eq!(join("http://h:1/api/", "/x"), "http://h:1/api/x");
    }
}
