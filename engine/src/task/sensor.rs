//! Sensors: operators that wait for a condition, poking it every `poke_interval` until it
//! holds or `timeout` passes.
//!
//! In `mode: reschedule` (the default) a sensor that finds the condition false returns a
//! deferral: its try ends `deferred`, the task holds no slot of `max_active_tasks` or of a
//! pool, and it is tried again after `poke_interval`, without using a retry. In `mode: poke`
//! it keeps its slot and sleeps between pokes. After `timeout` (counted from the first try)
//! it fails, or is skipped with `soft_fail: true`.
//!
//! Sensor operators split their arguments with [`split_args`] and run with [`sense`].

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;

use crate::context::{TaskContext, TaskError, TaskOutcome};
use crate::duration::{format_duration, parse_duration};
use crate::operator::{ArgsError, parse_args};

/// The arguments every sensor takes.
pub const SENSOR_KEYS: &[&str] = &["poke_interval", "timeout", "mode", "soft_fail"];

/// How a sensor waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Free the slot between pokes (deferral).
    Reschedule,
    /// Keep the slot and sleep between pokes.
    Poke,
}

/// The common settings of a sensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorSettings {
    /// Time between pokes (default 60 s).
    pub poke_interval: Duration,
    /// Give up after this long since the first try (default 7 days).
    pub timeout: Duration,
    /// Reschedule (default) or poke.
    pub mode: Mode,
    /// Skip instead of failing on timeout.
    pub soft_fail: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    poke_interval: Option<serde_json::Value>,
    #[serde(default)]
    timeout: Option<serde_json::Value>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    soft_fail: bool,
}

/// Splits a sensor's arguments into the common [`SensorSettings`] and the operator's own
/// arguments (everything else, to be read with `parse_args`).
///
/// # Errors
/// An [`ArgsError`] at the offending common argument.
pub fn split_args(
    args: &serde_json::Value,
) -> Result<(SensorSettings, serde_json::Value), ArgsError> {
    let mut own = args.as_object().cloned().unwrap_or_default();
    let mut common = serde_json::Map::new();
    for key in SENSOR_KEYS {
        if let Some(v) = own.remove(*key) {
            common.insert((*key).to_string(), v);
        }
    }
    let raw: Raw = parse_args(&serde_json::Value::Object(common))?;
    let duration = |key: &str, value: Option<serde_json::Value>, default: Duration| match value {
        None => Ok(default),
        Some(v) => duration_value(&v).map_err(|e| ArgsError::at(key, format!("bad duration: {e}"))),
    };
    let settings = SensorSettings {
        poke_interval: duration("poke_interval", raw.poke_interval, Duration::from_secs(60))?,
        timeout: duration("timeout", raw.timeout, Duration::from_secs(7 * 86_400))?,
        mode: raw.mode.unwrap_or(Mode::Reschedule),
        soft_fail: raw.soft_fail,
    };
    Ok((settings, serde_json::Value::Object(own)))
}

/// A duration argument as Airflow files write it: a number of seconds (`timeout: 300`) or a
/// duration (`5m`, `1 days,`).
///
/// # Errors
/// What is wrong with the value.
pub fn duration_value(v: &serde_json::Value) -> Result<Duration, String> {
    match v {
        serde_json::Value::Number(n) => parse_duration(&n.to_string()),
        serde_json::Value::String(t) => parse_duration(t),
        other => Err(format!("expected a duration, found `{other}`")),
    }
}

/// Checks a sensor's arguments at load time: the common ones and the operator's own `A`.
///
/// # Errors
/// An [`ArgsError`] at the offending argument.
pub fn check_args<A: serde::de::DeserializeOwned>(
    args: &serde_json::Value,
) -> Result<(), ArgsError> {
    let (_, own) = split_args(args)?;
    parse_args::<A>(&own).map(drop)
}

/// Reads a sensor's rendered arguments: the common settings and the operator's own `A`.
///
/// # Errors
/// A fatal [`TaskError`] (they were checked at load time; a template rendered badly).
pub fn read_args<A: serde::de::DeserializeOwned>(
    ctx: &TaskContext,
) -> Result<(SensorSettings, A), TaskError> {
    let (settings, own) = split_args(&ctx.args).map_err(|e| TaskError::fatal(e.to_string()))?;
    let a = parse_args(&own).map_err(|e| TaskError::fatal(e.to_string()))?;
    Ok((settings, a))
}

/// Pokes the condition under the sensor's settings: success when it holds, a deferral (or a
/// sleep, in poke mode) while it does not, a failure or a skip after the timeout.
///
/// # Errors
/// A poke's own error, or the timeout (fatal: retrying cannot give back the time).
pub async fn sense<F, Fut>(
    ctx: &TaskContext,
    settings: &SensorSettings,
    what: &str,
    mut poke: F,
) -> Result<TaskOutcome, TaskError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, TaskError>>,
{
    loop {
        if poke().await? {
            ctx.log(format!("{what}: yes"));
            return Ok(TaskOutcome::Success(None));
        }
        let now = ctx.now();
        let waited = (now - ctx.first_started).to_std().unwrap_or_default();
        if waited >= settings.timeout {
            let msg = format!(
                "{what}: still no after {} (timeout {})",
                format_duration(waited),
                format_duration(settings.timeout)
            );
            if settings.soft_fail {
                return Ok(TaskOutcome::Skipped(msg));
            }
            return Err(TaskError::fatal(msg));
        }
        ctx.log(format!(
            "{what}: not yet; next poke in {}",
            format_duration(settings.poke_interval)
        ));
        let next = settings.poke_interval.min(settings.timeout - waited);
        match settings.mode {
            Mode::Reschedule => {
                return Ok(TaskOutcome::Defer {
                    until: now + chrono::Duration::from_std(next).unwrap_or_default(),
                });
            }
            Mode::Poke => {
                tokio::select! {
                    _ = tokio::time::sleep(next) => {}
                    _ = ctx.cancel.cancelled() => return Err(TaskError::retryable("cancelled")),
                }
            }
        }
    }
}
