//! Secrets: sealed at rest ([`keyring`]), masked wherever they would be shown ([`masker`]),
//! and the private files and folders that hold them.

pub mod keyring;
pub mod masker;

pub use keyring::{KeySource, Keyring, SecretsError};
pub use masker::Masker;

/// Creates `dir` (and its missing parents) readable by its owner only (`0700`); an existing
/// folder is left as it is.
///
/// # Errors
/// The folder cannot be created.
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates the file `path` empty, readable by its owner only (`0600`), if it does not exist.
///
/// # Errors
/// The file cannot be created.
pub fn private_file(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
