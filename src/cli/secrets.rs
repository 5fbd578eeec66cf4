//! `dagctl rotate-fernet-key`.

use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use dagctl::engine::secrets::{KeySource, keyring};

use super::Global;

/// Seal every Variable and connection again with the first key.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// With a key file: put a new key first, seal everything with it, then drop the old keys.
    /// (With DAGCTL_FERNET_KEY, set it to `NEW,OLD`, run this, then set it to `NEW`.)
    #[arg(long)]
    new_key: bool,
}

pub async fn rotate(g: &Global, a: RotateArgs) -> anyhow::Result<ExitCode> {
    let store = g.store().await?;
    let file = match store.keyring().source() {
        KeySource::File(path) => Some(path.clone()),
        KeySource::Env if a.new_key => bail!(
            "the keys come from {}: set it to `NEW_KEY,OLD_KEY` (make one with `openssl rand -base64 32 | tr '+/' '-_'`), run `dagctl rotate-fernet-key`, then set it to `NEW_KEY` alone",
            keyring::KEY_ENV
        ),
        KeySource::Missing(hint) => bail!("{hint}"),
        _ => None,
    };
    let (store, file) = match (a.new_key, file) {
        (true, Some(path)) => {
            keyring::add_new_key(&path)?;
            let keys = dagctl::engine::secrets::Keyring::from_file(&path)?;
            (store.with_keyring(keys), Some(path))
        }
        (_, path) => (store, path),
    };
    let n = store.reseal_secrets().await?;
    if a.new_key
        && let Some(path) = &file
    {
        keyring::drop_old_keys(path)?;
        println!("new key in `{}`; old keys dropped", path.display());
    }
    println!("sealed {n} Variables and connections again with the first key");
    Ok(ExitCode::SUCCESS)
}
