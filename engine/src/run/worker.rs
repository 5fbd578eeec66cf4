//! Worker identity and liveness: who holds a try, and whether it can still finish it.
//!
//! A worker id is `host:pid:nonce-n`: the nonce is drawn per process (so a new process that
//! reuses a pid is not mistaken for the old one) and `n` tells executors of one process apart.
//! Workers on one host name are assumed to share one process table. A running try
//! whose lease has expired is an orphan. So is one whose worker ran on this host and is gone,
//! without waiting for the lease: its process no longer exists, or it is this process
//! and that executor has been dropped. That is how `dagctl runs resume` right after a
//! `kill -9` continues at once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};

static NEXT: AtomicU64 = AtomicU64::new(1);

fn live() -> &'static Mutex<HashSet<String>> {
    static LIVE: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

/// A random number drawn once per process: a process that gets the pid of a crashed one
/// (a restarted container's pid 1) still has ids of its own.
fn process_nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static NONCE: OnceLock<u64> = OnceLock::new();
    *NONCE.get_or_init(|| {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    })
}

/// This machine's name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// A live worker identity; unregistered when dropped.
#[derive(Debug)]
pub struct WorkerId(String);

impl WorkerId {
    /// A new identity for an executor of this process.
    pub fn new() -> Self {
        let id = format!(
            "{}:{}:{:x}-{}",
            hostname(),
            std::process::id(),
            process_nonce(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        live()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone());
        WorkerId(id)
    }

    /// The id as stored with tries.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for WorkerId {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for WorkerId {
    fn drop(&mut self) {
        live()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// Whether a try held by `worker_id` with this lease can no longer finish.
pub fn is_orphan(worker_id: &str, lease_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    if lease_until.is_none_or(|l| l < now) {
        return true;
    }
    let mut parts = worker_id.rsplitn(3, ':');
    let (_n, pid, host) = (parts.next(), parts.next(), parts.next());
    let Some(pid) = pid.and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    if host != Some(hostname().as_str()) {
        return false; // another machine: only its lease tells
    }
    if pid == std::process::id() {
        return !live()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(worker_id);
    }
    !process_runs(pid)
}

/// Whether process `pid` of this machine still runs: a killed process its parent has not
/// reaped yet (a zombie, or one being torn down) runs nothing and counts as gone.
fn process_runs(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) state …`: the name may hold spaces and parentheses, the state follows the
    // last `)`.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X' | 'x'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_follows_the_worker() {
        let now = Utc::now();
        let lease = Some(now + chrono::Duration::seconds(30));
        let w = WorkerId::new();
        let id = w.as_str().to_string();
        assert!(!is_orphan(&id, lease, now), "a live worker of this process");
        assert!(
            is_orphan(&id, Some(now - chrono::Duration::seconds(1)), now),
            "expired lease"
        );
        drop(w);
        assert!(is_orphan(&id, lease, now), "its executor is gone");
        let dead = format!("{}:{}:1", hostname(), u32::MAX - 7);
        assert!(is_orphan(&dead, lease, now), "no such process");
        assert!(
            !is_orphan("elsewhere:1:1", lease, now),
            "another host, lease valid"
        );
    }

    // A driver killed with SIGKILL that its parent has not reaped yet is gone already: its
    // runs are taken over at once, not after its lease.
    #[test]
    fn a_killed_process_not_yet_reaped_is_gone() {
        let now = Utc::now();
        let lease = Some(now + chrono::Duration::seconds(30));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let id = format!("{}:{}:1", hostname(), child.id());
        assert!(
            !is_orphan(&id, lease, now),
            "a live process of this machine"
        );
        child.kill().unwrap();
        // Not waited for: a zombie until then (polled: the kernel takes a moment).
        let since = std::time::Instant::now();
        while !is_orphan(&id, lease, now) {
            assert!(
                since.elapsed() < std::time::Duration::from_secs(5),
                "still alive"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = child.wait();
    }
}
