//! `notify`: a message to a webhook (Slack-compatible: `text` plus `blocks`; Teams, Mattermost
//! and most chat tools accept the same body), and to the task log. The URL comes from a
//! connection (`dagctl connections add alerts --url https://hooks.slack.com/services/…`), whose
//! path is the secret: it is shown as `https://hooks.slack.com/***` everywhere.
//!
//! As a task:
//! ```yaml
//! tell_the_team:
//!   operator: notify
//!   conn_id: alerts
//!   text: "churn data for {{ ds }} is in"
//! ```
//! As a callback (`on_failure_callback: {operator: notify, conn_id: alerts}`) without `text`,
//! it says which task failed, its try and its error. Each attempt has a `timeout`; connection
//! errors, timeouts, 429 and 5xx are retried `retries` times with a doubling `retry_delay`.

pub mod webhook;

use async_trait::async_trait;
use dagctl_engine::duration::parse_duration;
use dagctl_engine::store::{is_web_url, redact_url};
use dagctl_engine::{
    ArgsError, Operator, TaskContext, TaskError, TaskOutcome, TaskState, parse_args,
};
use serde::Deserialize;

pub use webhook::{Delivered, Delivery, WebhookError};

/// Where a message goes and how: the `notify` operator's and `on_promotion`'s settings.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// The connection whose URL is the webhook.
    #[serde(default)]
    pub conn_id: Option<String>,
    /// The webhook URL itself (a connection keeps its secret out of the DAG file).
    #[serde(default)]
    pub url: Option<String>,
    /// The message (templated); a callback without one says what happened to its task.
    #[serde(default)]
    pub text: Option<String>,
    /// Slack blocks to send instead of the ones made from `text` and `details`.
    #[serde(default)]
    pub blocks: Option<serde_json::Value>,
    /// Key/value facts shown as fields under the text.
    #[serde(default)]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
    /// The limit of one attempt (default `10s`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Attempts after the first on a network error, 429 or 5xx (default 3).
    #[serde(default)]
    pub retries: Option<u32>,
    /// The delay before the first retry, doubled after (default `1s`).
    #[serde(default)]
    pub retry_delay: Option<String>,
    /// `false`: when the connection does not exist, log the message and succeed (a shipped
    /// DAG that works before anyone sets up a webhook). Default `true`: fail.
    #[serde(default)]
    pub required: Option<bool>,
}

impl Notification {
    /// Checks the settings, naming the one at fault.
    ///
    /// # Errors
    /// What is wrong and where.
    pub fn check(&self) -> Result<(), ArgsError> {
        match (&self.conn_id, &self.url) {
            (Some(_), Some(_)) => {
                return Err(ArgsError::at(
                    "url",
                    "give `conn_id` or `url`, not both (a connection keeps the secret out of the file)",
                ));
            }
            (None, None) => {
                return Err(ArgsError::at(
                    "conn_id",
                    "missing: the connection of the webhook (`dagctl connections add alerts --url https://…`)",
                ));
            }
            (None, Some(u)) if !u.contains("{{") && !is_web_url(u) => {
                return Err(ArgsError::at(
                    "url",
                    format!("`{}` is not an http(s) URL", redact_url(u)),
                ));
            }
            _ => {}
        }
        for (name, v) in [
            ("timeout", &self.timeout),
            ("retry_delay", &self.retry_delay),
        ] {
            if let Some(t) = v {
                parse_duration(t).map_err(|e| ArgsError::at(name, format!("bad duration: {e}")))?;
            }
        }
        if let Some(b) = &self.blocks
            && !b.is_array()
        {
            return Err(ArgsError::at("blocks", "a list of Slack blocks"));
        }
        Ok(())
    }

    fn delivery(&self) -> Result<Delivery, TaskError> {
        let d = Delivery::default();
        let dur = |t: &Option<String>, default| match t {
            None => Ok(default),
            Some(t) => parse_duration(t).map_err(|e| TaskError::fatal(format!("`{t}`: {e}"))),
        };
        Ok(Delivery {
            timeout: dur(&self.timeout, d.timeout)?,
            retries: self.retries.unwrap_or(d.retries),
            retry_delay: dur(&self.retry_delay, d.retry_delay)?,
        })
    }

    /// Sends `headline` (this notification's `text` when it has one) with `extra` facts, to
    /// the log and the webhook. Returns what happened, for XCom.
    ///
    /// # Errors
    /// A missing connection (fatal unless `required: false`), a refusal (fatal) or an
    /// unreachable receiver (retryable).
    pub async fn send(
        &self,
        ctx: &TaskContext,
        headline: &str,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Value, TaskError> {
        let text = self.text.clone().unwrap_or_else(|| headline.to_string());
        let mut facts = extra.clone();
        facts.extend(self.details.clone().unwrap_or_default());
        ctx.log(format!("notify: {text}"));
        let url = match (&self.conn_id, &self.url) {
            (Some(name), _) => match ctx.connection(name).await? {
                Some(c) => c.url,
                None if self.required == Some(false) => {
                    ctx.log(format!(
                        "not posted: there is no connection `{name}` (`dagctl connections add {name} --url https://hooks.slack.com/services/…`)"
                    ));
                    return Ok(serde_json::json!({"delivered": false, "text": text,
                        "reason": format!("no connection `{name}`")}));
                }
                None => {
                    return Err(TaskError::fatal(format!(
                        "no connection `{name}`: add the webhook with `dagctl connections add {name} --url https://…`, or set `required: false` to only log"
                    )));
                }
            },
            (None, Some(u)) => u.clone(),
            (None, None) => return Err(TaskError::fatal("no `conn_id` or `url` to post to")),
        };
        let body = slack_body(ctx, &text, self.blocks.as_ref(), &facts);
        let log = |line: String| ctx.log(line);
        match webhook::post(&url, &body, self.delivery()?, &log).await {
            Ok(d) => {
                let to = redact_url(&url);
                ctx.log(format!(
                    "posted to {to}: HTTP {} after {} attempt(s)",
                    d.status, d.attempts
                ));
                Ok(
                    serde_json::json!({"delivered": true, "to": to, "status": d.status,
                    "attempts": d.attempts, "text": text}),
                )
            }
            Err(e) if e.is_transient() => Err(TaskError::retryable(e.to_string())),
            Err(e) => Err(TaskError::fatal(e.to_string())),
        }
    }
}

/// The body: `text` for notifications and clients without blocks, and blocks (the text, the
/// facts as fields, where it comes from).
fn slack_body(
    ctx: &TaskContext,
    text: &str,
    blocks: Option<&serde_json::Value>,
    facts: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    if let Some(b) = blocks {
        return serde_json::json!({"text": text, "blocks": b});
    }
    let cut = |s: &str, n: usize| -> String { s.chars().take(n).collect() };
    let mut out = vec![serde_json::json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": cut(text, 3000)},
    })];
    let fields: Vec<serde_json::Value> = facts
        .iter()
        .take(10)
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            serde_json::json!({"type": "mrkdwn", "text": cut(&format!("*{k}*\n{v}"), 2000)})
        })
        .collect();
    if !fields.is_empty() {
        out.push(serde_json::json!({"type": "section", "fields": fields}));
    }
    let mut origin = format!("DAG `{}` · run `{}`", ctx.dag_id, ctx.run_id);
    if !ctx.task_id.is_empty() {
        origin.push_str(&format!(" · task `{}`", ctx.task_id));
    }
    out.push(serde_json::json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": origin}],
    }));
    serde_json::json!({"text": text, "blocks": out})
}

/// What a callback reports when given no text: the task's (or the run's) state, its try and
/// its error.
async fn what_happened(ctx: &TaskContext) -> Result<String, TaskError> {
    if ctx.task_id.is_empty() {
        let state = ctx
            .dag_run_state(&ctx.dag_id, ctx.logical_date)
            .await?
            .map_or_else(|| "finished".to_string(), |(_, s)| s.to_string());
        return Ok(format!("run `{}` of `{}`: {state}", ctx.run_id, ctx.dag_id));
    }
    let state = ctx
        .task_state(&ctx.dag_id, &ctx.run_id, &ctx.task_id)
        .await?;
    let what = match state {
        Some(TaskState::Failed) => "failed",
        Some(TaskState::UpForRetry) => "failed and will be retried",
        Some(TaskState::Success) => "succeeded",
        Some(TaskState::Running) => "is running",
        Some(other) => {
            return Ok(format!(
                "task `{}` of `{}`: {other}",
                ctx.task_id, ctx.dag_id
            ));
        }
        None => "has no state",
    };
    let mut line = format!(
        "task `{}` of `{}` {what} (try {}/{}) in run `{}`",
        ctx.task_id, ctx.dag_id, ctx.try_number, ctx.max_tries, ctx.run_id
    );
    if matches!(state, Some(TaskState::Failed | TaskState::UpForRetry))
        && let Some(e) = ctx.last_error(&ctx.task_id).await?
    {
        line.push_str(&format!(": {e}"));
    }
    Ok(line)
}

/// The operator.
#[derive(Debug, Clone, Copy, Default)]
pub struct Notify;

#[async_trait]
impl Operator for Notify {
    fn name(&self) -> &str {
        "notify"
    }

    fn summary(&self) -> &str {
        "posts a Slack-compatible message to a webhook from a connection (retried, secret masked); also a callback"
    }

    fn check_args(&self, args: &serde_json::Value) -> Result<(), ArgsError> {
        parse_args::<Notification>(args)?.check()
    }

    async fn execute(&self, ctx: &TaskContext) -> Result<TaskOutcome, TaskError> {
        let n: Notification = ctx.args()?;
        let headline = match &n.text {
            Some(t) => t.clone(),
            None => what_happened(ctx).await?,
        };
        let sent = n.send(ctx, &headline, &serde_json::Map::new()).await?;
        Ok(TaskOutcome::Success(Some(sent)))
    }
}
