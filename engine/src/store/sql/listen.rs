//! PostgreSQL's side of [`Signal`]s: the statements a transaction adds to send them, and
//! one listening connection per store that passes what other processes sent to this
//! process's waiters.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::store::signals::{CHANNEL, Signal};
use crate::store::statements::{Param, Role, Stmt};

/// How many signals wait for a slow receiver before it is told it missed some.
const BACKLOG: usize = 4096;

/// The most signals one statement sends.
const PER_STATEMENT: usize = 32;

/// The statements that send `signals` when their transaction commits: one for up to
/// [`PER_STATEMENT`] of them (`SELECT pg_notify($1, $2), pg_notify($1, $3), …`).
pub(super) fn notify(signals: &[Signal]) -> Vec<Stmt> {
    signals
        .chunks(PER_STATEMENT)
        .map(|chunk| {
            // One form per count, built once.
            static FORMS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
                (0..=PER_STATEMENT)
                    .map(|n| {
                        let calls: Vec<String> = (0..n)
                            .map(|i| format!("pg_notify($1, ${})", i + 2))
                            .collect();
                        format!("SELECT {}", calls.join(", "))
                    })
                    .collect()
            });
            let mut params = vec![Param::Text(CHANNEL.to_string())];
            params.extend(chunk.iter().map(|s| Param::Text(s.payload())));
            Stmt {
                sql: FORMS[chunk.len()].as_str(),
                params,
                role: Role::Plain,
            }
        })
        .collect()
}

/// The listening side of a PostgreSQL store: started by the first subscriber, stopped when
/// the store's last clone is dropped.
#[derive(Debug)]
pub(super) struct Listener {
    url: String,
    tx: broadcast::Sender<Signal>,
    started: OnceLock<()>,
    stop: CancellationToken,
}

impl Listener {
    pub(super) fn new(url: &str) -> Self {
        Listener {
            url: url.to_string(),
            tx: broadcast::channel(BACKLOG).0,
            started: OnceLock::new(),
            stop: CancellationToken::new(),
        }
    }

    /// A receiver of the signals from now on; `None` outside a tokio runtime (nothing
    /// could listen).
    pub(super) fn subscribe(&self) -> Option<broadcast::Receiver<Signal>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        self.started.get_or_init(|| {
            runtime.spawn(listen(self.url.clone(), self.tx.clone(), self.stop.clone()));
        });
        Some(self.tx.subscribe())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Listens until `stop`, connecting again (and saying [`Signal::Missed`]) whenever the
/// connection is lost.
async fn listen(url: String, tx: broadcast::Sender<Signal>, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let connected = async {
            let mut l = sqlx::postgres::PgListener::connect(&url).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        let mut listener = tokio::select! {
            _ = stop.cancelled() => return,
            l = connected => match l {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(
                        "cannot listen for the store's signals (polling meanwhile; trying again): {e}"
                    );
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        backoff = Duration::from_millis(50);
        // What was sent while no connection listened is lost: everyone looks once.
        let _ = tx.send(Signal::Missed);
        loop {
            let got = tokio::select! {
                _ = stop.cancelled() => return,
                got = listener.try_recv() => got,
            };
            match got {
                Ok(Some(n)) => {
                    if let Some(signal) = Signal::parse(n.payload()) {
                        let _ = tx.send(signal);
                    }
                }
                // The connection was lost: connect again.
                Ok(None) | Err(_) => break,
            }
        }
    }
}
