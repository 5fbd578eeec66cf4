//! What a [`Store`](super::Store) fails with: whose fault it is and whether a retry helps.

/// Errors of a [`Store`](super::Store).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed or could not be reached.
    #[error("state store: {context}: {source}")]
    Database {
        /// What the store was doing.
        context: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// SQLite failed on the commit path.
    #[error("state store: {context}: {message}")]
    Sqlite {
        /// What the store was doing.
        context: String,
        /// SQLite's message.
        message: String,
    },
    /// A record that must be unique exists already.
    #[error("{what} already exists")]
    AlreadyExists {
        /// The record, in words.
        what: String,
    },
    /// A record holds a value dagctl cannot read (a bug, or a database edited by hand).
    #[error("state store holds an unreadable {what}: {detail}")]
    Corrupt {
        /// The record, in words.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The run is no longer driven by this worker (cancelled, marked, cleared, or taken over
    /// after this worker's lease expired): nothing of the batch was written.
    #[error(
        "run `{run_id}` of DAG `{dag_id}` is no longer driven by this process (it was \
         cancelled, marked, or taken over after its lease expired); nothing was written"
    )]
    NotOwner {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
    },
    /// A record changed (or appeared) since it was read: the write was not applied.
    #[error("{what} changed since it was read; nothing was written, try again")]
    Conflict {
        /// The record, in words.
        what: String,
    },
    /// A try handed to workers is no longer held by the worker that took it (its lease
    /// expired and the run's driver gave it to another, or the run was cleared or marked):
    /// nothing of the batch was written.
    #[error(
        "try {try_number} of task `{task_id}` in run `{run_id}` of DAG `{dag_id}` is no \
         longer held by this worker (its lease expired, or the run was changed); nothing was \
         written"
    )]
    TryLost {
        /// The DAG.
        dag_id: String,
        /// The run.
        run_id: String,
        /// The task.
        task_id: String,
        /// Which try.
        try_number: u32,
    },
    /// The store cannot be opened: the server does not answer or refuses, the file is not a
    /// database, its folder cannot be made (the caller's to fix; a retry helps only if the
    /// server was starting).
    #[error("cannot open the state store `{url}`: {message}")]
    Unreachable {
        /// The URL, without any password.
        url: String,
        /// What went wrong and what to check.
        message: String,
    },
    /// A secret cannot be sealed or opened (no key, a wrong key, an unreadable key file).
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    /// The store URL is not one dagctl can use.
    #[error("unsupported state store URL `{url}`: {hint}")]
    BadUrl {
        /// The URL, without any password.
        url: String,
        /// What to use instead.
        hint: String,
    },
}

impl StoreError {
    /// Whether trying again later may succeed: the database failed or could not be reached
    /// (a restart, a lost connection, a lock held too long), rather than holding something
    /// wrong or refusing a write for good.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Database { .. }
                | StoreError::Sqlite { .. }
                | StoreError::Unreachable { .. }
        )
    }
}
