//! The executor's clock: wall time that follows tokio's clock, so tests that pause and advance
//! tokio time see consistent timestamps (retry delays, leases) without sleeping.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Wall-clock time that follows tokio's clock when a test pauses or advances it, and the
/// system's wall clock otherwise (so a long-lived scheduler never drifts from NTP time).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: DateTime<Utc>,
    mono: Instant,
    real: std::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock reading the current wall time now.
    pub fn new() -> Self {
        Clock {
            wall: Utc::now(),
            mono: Instant::now(),
            real: std::time::Instant::now(),
        }
    }

    /// The current time, to the microsecond (the precision the store keeps).
    pub fn now(&self) -> DateTime<Utc> {
        use chrono::DurationRound;
        let elapsed = Instant::now().saturating_duration_since(self.mono);
        // Anchored time is exact under a paused or advanced test clock. A long-lived process,
        // whose tokio clock runs with the OS's, reads the system's wall clock instead, so it
        // follows NTP adjustments.
        let real = self.real.elapsed();
        let follows_os = elapsed.abs_diff(real) < std::time::Duration::from_millis(50);
        let t = if follows_os && real > std::time::Duration::from_secs(60) {
            Utc::now()
        } else {
            self.wall + chrono::Duration::from_std(elapsed).unwrap_or_default()
        };
        t.duration_trunc(chrono::Duration::microseconds(1))
            .unwrap_or(t)
    }

    /// The tokio instant at which wall time `t` is reached (now if it has passed).
    pub fn instant_at(&self, t: DateTime<Utc>) -> Instant {
        let ahead = (t - self.now()).to_std().unwrap_or_default();
        Instant::now() + ahead
    }
}
