//! Pool slots in use by this process: a gate before the claim, whose transaction counts
//! the slots of every process sharing the store.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::pools::Pools;

/// Pool slots in use by this process, shared by all runs it executes.
#[derive(Debug, Default)]
pub struct PoolSlots {
    sizes: Mutex<HashMap<String, u32>>,
    /// The declared pools ([`Pools::declared`]): held across processes.
    declared: Mutex<std::collections::HashSet<String>>,
    used: Mutex<HashMap<String, u32>>,
    pub(super) freed: Notify,
}

pub(super) enum Acquire {
    Ok,
    Busy,
    TooBig(u32),
}

impl PoolSlots {
    /// Sets pool sizes (from `pools.yaml` and `dagctl pools set`).
    pub fn set_sizes(&self, pools: &Pools) {
        let mut sizes = self.sizes.lock().unwrap_or_else(|e| e.into_inner());
        let mut declared = self.declared.lock().unwrap_or_else(|e| e.into_inner());
        sizes.clear();
        declared.clear();
        for (name, pool) in pools.iter() {
            sizes.insert(name.to_string(), pool.slots);
            if pools.declared(name) {
                declared.insert(name.to_string());
            }
        }
    }

    /// The size of `pool` if it was declared (`pools.yaml`, `dagctl pools set`): such a pool
    /// holds across every process sharing the store. The implicit `default_pool` holds per
    /// process: held across processes, its 128 slots made the runs of wide DAGs send refused
    /// claims at every wake-up once it was full (a per-process gate for a full pool, as
    /// [`super::dag_slots`] is for a DAG, is what would lift this).
    pub(super) fn declared(&self, pool: &str) -> Option<u32> {
        if !self
            .declared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(pool)
        {
            return None;
        }
        Some(self.size(pool))
    }

    /// The size of `pool` in slots (an unknown pool has the default pool's size).
    pub(super) fn size(&self, pool: &str) -> u32 {
        self.sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(pool)
            .copied()
            .unwrap_or(crate::pools::DEFAULT_POOL_SLOTS)
    }

    pub(super) fn try_acquire(&self, pool: &str, n: u32) -> Acquire {
        let size = self.size(pool);
        if n > size {
            return Acquire::TooBig(size);
        }
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let u = used.entry(pool.to_string()).or_default();
        if *u + n > size {
            return Acquire::Busy;
        }
        *u += n;
        Acquire::Ok
    }

    /// The free slots of every pool this process knows (the default pool included).
    pub(super) fn rooms(&self) -> Vec<(String, u32)> {
        let sizes = self.sizes.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, u32)> = sizes
            .iter()
            .map(|(name, size)| {
                let u = used.get(name).copied().unwrap_or(0);
                (name.clone(), size.saturating_sub(u))
            })
            .collect();
        if !sizes.contains_key(crate::DEFAULT_POOL) {
            let u = used.get(crate::DEFAULT_POOL).copied().unwrap_or(0);
            out.push((
                crate::DEFAULT_POOL.to_string(),
                crate::pools::DEFAULT_POOL_SLOTS.saturating_sub(u),
            ));
        }
        out
    }

    pub(super) fn release(&self, pool: &str, n: u32) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(u) = used.get_mut(pool) {
            *u = u.saturating_sub(n);
        }
        self.freed.notify_waiters();
    }
}
