//! The executor's clock: wall time that follows tokio's clock, so tests that pause and advance
//! tokio time see consistent timestamps (retry delays, leases) without sleeping.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Wall-clock time anchored at creation and advanced by tokio's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: DateTime<Utc>,
    mono: Instant,
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
        }
    }

    /// The current time, to the microsecond (the precision the store keeps).
    pub fn now(&self) -> DateTime<Utc> {
        use chrono::DurationRound;
        let elapsed = Instant::now().saturating_duration_since(self.mono);
        let t = self.wall + chrono::Duration::from_std(elapsed).unwrap_or_default();
        t.duration_trunc(chrono::Duration::microseconds(1))
            .unwrap_or(t)
    }

    /// The tokio instant at which wall time `t` is reached (now if it has passed).
    pub fn instant_at(&self, t: DateTime<Utc>) -> Instant {
        let ahead = (t - self.now()).to_std().unwrap_or_default();
        Instant::now() + ahead
    }
}
