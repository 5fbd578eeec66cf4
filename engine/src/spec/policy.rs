//! A task's run policy: the keys of `default_args` and of a task that say how it runs
//! (retries, timeouts, limits, pool, owner, callbacks, Python), each over the one before.

use crate::dag::TaskPolicy;
use crate::diagnostic::Kind;
use crate::suggest::{hint_with, quoted_list};
use crate::trigger_rule::TriggerRule;
use crate::yaml::{Node, key_text};

use super::LoadEnv;
use super::reader::Reader;

/// Applies the policy keys found in `entries` over `base`.
pub(crate) fn read_policy<'n>(
    r: &mut Reader<'_>,
    env: LoadEnv<'_>,
    entries: impl IntoIterator<Item = &'n (Node, Node)>,
    base: &TaskPolicy,
) -> TaskPolicy {
    let mut p = base.clone();
    for (k, v) in entries {
        let key = key_text(k);
        match key.as_str() {
            "retries" => p.retries = r.u32(v, "retries").unwrap_or(p.retries),
            "python" => p.python = r.string(v, "python").or(p.python.take()),
            "retry_delay" => p.retry_delay = r.duration(v, "retry_delay").unwrap_or(p.retry_delay),
            "retry_delay_sec" => {
                p.retry_delay = r.duration(v, "retry_delay_sec").unwrap_or(p.retry_delay)
            }
            "retry_exponential_backoff" => {
                p.retry_exponential_backoff = r
                    .bool(v, "retry_exponential_backoff")
                    .unwrap_or(p.retry_exponential_backoff)
            }
            "max_retry_delay" => {
                p.max_retry_delay = optional(v, |v| r.duration(v, "max_retry_delay"))
            }
            "execution_timeout" | "execution_timeout_secs" => {
                p.execution_timeout = optional(v, |v| r.duration(v, &key))
            }
            "max_active_tis_per_dag" => {
                p.max_active_tis_per_dag = optional(v, |v| r.positive(v, "max_active_tis_per_dag"))
            }
            "trigger_rule" => {
                if let Some(name) = r.string(v, "trigger_rule") {
                    match name.parse::<TriggerRule>() {
                        Ok(rule) => p.trigger_rule = rule,
                        Err(()) => {
                            let names = TriggerRule::ALL.map(TriggerRule::as_str);
                            let list = format!("trigger rules: {}", quoted_list(names));
                            r.error(
                                v.pos,
                                Kind::UnknownTriggerRule,
                                format!("unknown trigger rule `{name}`"),
                            )
                            .hint = Some(hint_with(&name, names, &list));
                        }
                    }
                }
            }
            "pool" => {
                if let Some(name) = r.string(v, "pool") {
                    if env.pools.get(&name).is_none() {
                        let then = format!(
                            "define it in `pools.yaml` in the DAG folder (`{name}: 4`); \
                             known pools: {}",
                            quoted_list(env.pools.names())
                        );
                        r.error(
                            v.pos,
                            Kind::UnknownPool,
                            format!("pool `{name}` does not exist"),
                        )
                        .hint = Some(hint_with(&name, env.pools.names(), &then));
                    }
                    p.pool = name;
                }
            }
            "pool_slots" => p.pool_slots = r.positive(v, "pool_slots").unwrap_or(p.pool_slots),
            "owner" => p.owner = r.string(v, "owner").unwrap_or(p.owner),
            "on_failure_callback" => {
                p.on_failure_callback = super::callbacks::read_callbacks(r, env, v, &key)
            }
            "on_success_callback" => {
                p.on_success_callback = super::callbacks::read_callbacks(r, env, v, &key)
            }
            "on_retry_callback" => {
                p.on_retry_callback = super::callbacks::read_callbacks(r, env, v, &key)
            }
            _ => {}
        }
    }
    p
}

/// `null` clears an optional setting; anything else is read by `read`.
fn optional<T>(v: &Node, read: impl FnOnce(&Node) -> Option<T>) -> Option<T> {
    if v.is_null() { None } else { read(v) }
}
