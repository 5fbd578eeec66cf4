//! The keys that seal Variables and connections at rest, and sealing itself.
//!
//! A sealed value is `fernet:` followed by a [Fernet](https://github.com/fernet/spec) token
//! (AES-128-CBC with an HMAC-SHA256, the scheme Airflow uses for its `fernet_key`, so an
//! Airflow key works here unchanged). The keys come from `DAGCTL_FERNET_KEY` (several,
//! comma-separated: the first seals, every one opens — how a key is rotated), else from the
//! key file `fernet.key` beside a SQLite database, created `0600` with a new key on first use.
//! A PostgreSQL store shared by several machines needs `DAGCTL_FERNET_KEY`, the same on each:
//! without it, sealing fails with a hint rather than writing plain text.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable holding the keys (comma-separated, the first one seals).
pub const KEY_ENV: &str = "DAGCTL_FERNET_KEY";

/// The key file's name, beside a SQLite database.
pub const KEY_FILE: &str = "fernet.key";

/// What marks a sealed value in the store.
const SEALED: &str = "fernet:";

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A key is not 32 bytes of URL-safe base64 (the caller's to fix; a retry does not help).
    #[error(
        "{source_name} holds a key that is not a Fernet key (32 bytes, URL-safe base64); \
         make one with `dagctl rotate-fernet-key --new-key` or `openssl rand -base64 32 | tr '+/' '-_'`"
    )]
    BadKey {
        /// Where the key came from (the variable or the file), never the key.
        source_name: String,
    },
    /// No key is configured where one is needed (the caller's to fix).
    #[error("{0}")]
    NoKey(String),
    /// A sealed value opens with none of the keys (the caller's to fix: the key changed).
    #[error(
        "a stored secret was sealed with a key that {source_name} does not hold (was the key \
         changed or lost? put the old key after the new one, comma-separated, in {KEY_ENV})"
    )]
    WrongKey {
        /// Where the keys came from.
        source_name: String,
    },
    /// The key file cannot be read or written (permissions, disk).
    #[error("key file `{path}`: {error}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
}

/// Where the keys came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `DAGCTL_FERNET_KEY`.
    Env,
    /// A key file.
    File(PathBuf),
    /// Made in memory (tests, embedding); gone when the process ends.
    Ephemeral,
    /// None configured: sealing fails with this hint.
    Missing(String),
}

/// The keys of one store: the first seals, all of them open.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<fernet::Fernet>,
    source: KeySource,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        write!(
            f,
            "Keyring({} keys from {:?})",
            self.keys.len(),
            self.source
        )
    }
}

impl Keyring {
    /// The keys for a store URL: `DAGCTL_FERNET_KEY`, else the key file beside a SQLite
    /// database (created on first use), else none (PostgreSQL without the variable).
    ///
    /// # Errors
    /// A key that is not a Fernet key, or a key file that cannot be read or created.
    pub fn for_store(store_url: &str) -> Result<Keyring, SecretsError> {
        if let Ok(keys) = std::env::var(KEY_ENV)
            && !keys.trim().is_empty()
        {
            return Keyring::parse(&keys, KeySource::Env);
        }
        if let Some(path) = store_url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() || path.starts_with(':') {
                return Ok(Keyring::ephemeral());
            }
            let path = Path::new(path);
            let dir = path.parent().unwrap_or(Path::new("."));
            return Keyring::from_file(&dir.join(KEY_FILE));
        }
        Ok(Keyring {
            keys: Vec::new(),
            source: KeySource::Missing(format!(
                "a PostgreSQL store keeps Variables and connections encrypted with a key every \
                 machine shares: set {KEY_ENV} (make one with `openssl rand -base64 32 | tr '+/' '-_'`, \
                 or reuse Airflow's fernet_key)"
            )),
        })
    }

    /// The keys in a key file (one per line, the first seals), creating the file `0600` with a
    /// new key if it does not exist.
    ///
    /// # Errors
    /// The file cannot be read or created, or holds something that is not a key.
    pub fn from_file(path: &Path) -> Result<Keyring, SecretsError> {
        let io = |error| SecretsError::KeyFile {
            path: path.to_path_buf(),
            error,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Keyring::parse(&text, KeySource::File(path.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Several processes may start on a new home at once: the first key file
                // written wins, and every process reads that one.
                create_key_file(path).map_err(io)?;
                let text = std::fs::read_to_string(path).map_err(io)?;
                Keyring::parse(&text, KeySource::File(path.to_path_buf()))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A keyring with one new key, kept in memory only.
    pub fn ephemeral() -> Keyring {
        Keyring::parse(&fernet::Fernet::generate_key(), KeySource::Ephemeral)
            .expect("a generated key is a key")
    }

    fn parse(text: &str, source: KeySource) -> Result<Keyring, SecretsError> {
        let source_name = describe(&source);
        let keys = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| {
                fernet::Fernet::new(k).ok_or_else(|| SecretsError::BadKey {
                    source_name: source_name.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(SecretsError::BadKey { source_name });
        }
        Ok(Keyring { keys, source })
    }

    /// Where the keys came from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// `value` sealed with the first key.
    ///
    /// # Errors
    /// [`SecretsError::NoKey`] when no key is configured.
    pub fn seal(&self, value: &str) -> Result<String, SecretsError> {
        match self.keys.first() {
            Some(key) => Ok(format!("{SEALED}{}", key.encrypt(value.as_bytes()))),
            None => Err(self.no_key()),
        }
    }

    fn no_key(&self) -> SecretsError {
        match &self.source {
            KeySource::Missing(hint) => SecretsError::NoKey(hint.clone()),
            _ => SecretsError::NoKey("no key is configured".into()),
        }
    }

    /// A stored value opened: sealed values are decrypted with whichever key sealed them;
    /// values stored before sealing existed are returned as they are.
    ///
    /// # Errors
    /// [`SecretsError::WrongKey`] when no key opens it, [`SecretsError::NoKey`] when none is
    /// configured.
    pub fn open(&self, stored: &str) -> Result<String, SecretsError> {
        let Some(token) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_string());
        };
        if self.keys.is_empty() {
            return Err(self.no_key());
        }
        self.keys
            .iter()
            .find_map(|k| k.decrypt(token).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| SecretsError::WrongKey {
                source_name: describe(&self.source),
            })
    }

    /// A Variable's value sealed. Without a key (PostgreSQL without `DAGCTL_FERNET_KEY`) a
    /// Variable whose name does not look secret is kept as it is, and a secret-looking one is
    /// refused.
    ///
    /// # Errors
    /// [`SecretsError::NoKey`] for a secret-looking Variable when no key is configured.
    pub fn seal_variable(&self, name: &str, value: &str) -> Result<String, SecretsError> {
        if self.keys.is_empty() && !crate::store::is_secret_name(name) {
            return Ok(value.to_string());
        }
        self.seal(value)
    }

    /// Whether `stored` is sealed with the first key already (rotation skips it).
    pub fn is_current(&self, stored: &str) -> bool {
        match (stored.strip_prefix(SEALED), self.keys.first()) {
            (Some(token), Some(first)) => first.decrypt(token).is_ok(),
            _ => false,
        }
    }
}

/// Puts a new key first in a key file, keeping the others (they still open what they sealed
/// until [`drop_old_keys`] runs, after every value is sealed again).
///
/// # Errors
/// The file cannot be read or written.
pub fn add_new_key(path: &Path) -> Result<(), SecretsError> {
    let io = |error| SecretsError::KeyFile {
        path: path.to_path_buf(),
        error,
    };
    let old = std::fs::read_to_string(path).map_err(io)?;
    let mut keys = vec![fernet::Fernet::generate_key()];
    keys.extend(
        old.lines()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(String::from),
    );
    write_key_file(path, &keys).map_err(io)
}

/// Keeps only the first key of a key file.
///
/// # Errors
/// The file cannot be read or written.
pub fn drop_old_keys(path: &Path) -> Result<(), SecretsError> {
    let io = |error| SecretsError::KeyFile {
        path: path.to_path_buf(),
        error,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let first: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .take(1)
        .map(String::from)
        .collect();
    write_key_file(path, &first).map_err(io)
}

fn describe(source: &KeySource) -> String {
    match source {
        KeySource::Env => KEY_ENV.to_string(),
        KeySource::File(p) => format!("the key file `{}`", p.display()),
        KeySource::Ephemeral => "this process's key".to_string(),
        KeySource::Missing(_) => "no key".to_string(),
    }
}

/// Writes keys to a new file of this process, created `0600` and complete on disk; returns
/// its path.
fn staged_key_file(path: &Path, keys: &[String]) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        crate::secrets::private_dir(dir)?;
    }
    let tmp = path.with_extension(format!("key.{}.new", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all((keys.join("\n") + "\n").as_bytes())?;
    f.sync_all()?;
    Ok(tmp)
}

/// Replaces the key file at once: a crash leaves the old file or the new one.
fn write_key_file(path: &Path, keys: &[String]) -> std::io::Result<()> {
    let tmp = staged_key_file(path, keys)?;
    std::fs::rename(&tmp, path)
}

/// Creates the key file with a new key unless one exists (then that one is kept): a hard
/// link never replaces a file, so of processes racing on a new home, one key wins.
fn create_key_file(path: &Path) -> std::io::Result<()> {
    let tmp = staged_key_file(path, &[fernet::Fernet::generate_key()])?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_any_key_of_the_ring_and_plain_ones_pass() {
        let old = Keyring::ephemeral();
        let sealed = old.seal("s3cr3t").unwrap();
        assert!(sealed.starts_with("fernet:") && !sealed.contains("s3cr3t"));
        assert_eq!(old.open(&sealed).unwrap(), "s3cr3t");
        assert_eq!(old.open("legacy plain").unwrap(), "legacy plain");
        let other = Keyring::ephemeral();
        assert!(matches!(
            other.open(&sealed),
            Err(SecretsError::WrongKey { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k/fernet.key");
        let ring = Keyring::from_file(&file).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let v = ring.seal("x").unwrap();
        add_new_key(&file).unwrap();
        let both = Keyring::from_file(&file).unwrap();
        assert_eq!(both.open(&v).unwrap(), "x");
        assert!(!both.is_current(&v));
        assert!(both.is_current(&both.seal("y").unwrap()));
        drop_old_keys(&file).unwrap();
        assert!(Keyring::from_file(&file).unwrap().open(&v).is_err());
        assert!(matches!(
            Keyring::parse("not a key", KeySource::Env),
            Err(SecretsError::BadKey { .. })
        ));
    }
}
