//! The administration queries of a [`SqlStore`](super::SqlStore) on its pool: Variables, connections and pools.
//! Each function serves the [`Store`](crate::store::Store) method of its name; setting a
//! Variable goes through the write path instead (see `super`).

use sqlx::{AnyPool, Row};

use super::db;
use crate::secrets::Keyring;
use crate::store::rows::{Cols, corrupt};
use crate::store::{Connection, StoreError};

pub(super) async fn variable(
    pool: &AnyPool,
    keys: &Keyring,
    key: &str,
) -> Result<Option<String>, StoreError> {
    sqlx::query("SELECT value FROM variables WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(db("reading a Variable"))?
        .map(|r| {
            let stored: String = r.try_get(0).map_err(db("reading a Variable"))?;
            Ok(keys.open(&stored)?)
        })
        .transpose()
}

pub(super) async fn delete_variable(pool: &AnyPool, key: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query("DELETE FROM variables WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await
        .map_err(db("deleting a Variable"))?
        .rows_affected()
        > 0)
}

pub(super) async fn variables(
    pool: &AnyPool,
    keys: &Keyring,
) -> Result<Vec<(String, String)>, StoreError> {
    raw_variables(pool)
        .await?
        .into_iter()
        .map(|(k, v)| Ok((k, keys.open(&v)?)))
        .collect()
}

/// Every Variable as stored (sealed).
pub(super) async fn raw_variables(pool: &AnyPool) -> Result<Vec<(String, String)>, StoreError> {
    sqlx::query("SELECT key, value FROM variables ORDER BY key")
        .fetch_all(pool)
        .await
        .map_err(db("listing Variables"))?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db("listing Variables"))
}

pub(super) async fn connections(
    pool: &AnyPool,
    keys: &Keyring,
) -> Result<Vec<Connection>, StoreError> {
    sqlx::query("SELECT name, url, extra FROM connections ORDER BY name")
        .fetch_all(pool)
        .await
        .map_err(db("listing connections"))?
        .iter()
        .map(|row| {
            let c = Cols {
                row,
                what: "connection",
            };
            Ok(Connection {
                name: c.text("name")?,
                url: keys.open(&c.text("url")?)?,
                extra: serde_json::from_str(&keys.open(&c.text("extra")?)?)
                    .map_err(|e| corrupt("connection extra", e))?,
            })
        })
        .collect()
}

/// Creates or replaces a connection, its URL and extras sealed.
pub(super) async fn set_connection(
    pool: &AnyPool,
    keys: &Keyring,
    connection: &Connection,
) -> Result<(), StoreError> {
    let extra =
        serde_json::to_string(&connection.extra).map_err(|e| corrupt("connection extra", e))?;
    let extra = keys.seal(&extra)?;
    let url = keys.seal(&connection.url)?;
    sqlx::query(
        "INSERT INTO connections (name, url, extra) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET url = excluded.url, extra = excluded.extra",
    )
    .bind(&connection.name)
    .bind(url)
    .bind(extra)
    .execute(pool)
    .await
    .map_err(db("setting a connection"))?;
    Ok(())
}

pub(super) async fn delete_connection(pool: &AnyPool, name: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query("DELETE FROM connections WHERE name = $1")
        .bind(name)
        .execute(pool)
        .await
        .map_err(db("deleting a connection"))?
        .rows_affected()
        > 0)
}

pub(super) async fn pools(
    pool: &AnyPool,
) -> Result<Vec<(String, u32, Option<String>)>, StoreError> {
    sqlx::query("SELECT name, slots, description FROM pools ORDER BY name")
        .fetch_all(pool)
        .await
        .map_err(db("listing pools"))?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? as u32, r.try_get(2)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db("listing pools"))
}

pub(super) async fn set_pool(
    pool: &AnyPool,
    name: &str,
    slots: u32,
    description: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO pools (name, slots, description) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET slots = excluded.slots, \
         description = COALESCE(excluded.description, pools.description)",
    )
    .bind(name)
    .bind(i64::from(slots))
    .bind(description)
    .execute(pool)
    .await
    .map_err(db("setting a pool"))?;
    Ok(())
}

pub(super) async fn delete_pool(pool: &AnyPool, name: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query("DELETE FROM pools WHERE name = $1")
        .bind(name)
        .execute(pool)
        .await
        .map_err(db("deleting a pool"))?
        .rows_affected()
        > 0)
}

/// Seals again, with the first key, every Variable and connection not sealed with it yet (a
/// key rotation, or values stored before sealing existed), in one transaction; how many.
pub(super) async fn reseal(
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    keys: &Keyring,
) -> Result<usize, StoreError> {
    let mut n = 0;
    let vars: Vec<(String, String)> = sqlx::query("SELECT key, value FROM variables")
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading Variables"))?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db("reading Variables"))?;
    for (key, value) in vars {
        if keys.is_current(&value) {
            continue;
        }
        sqlx::query("UPDATE variables SET value = $1 WHERE key = $2")
            .bind(keys.seal_variable(&key, &keys.open(&value)?)?)
            .bind(&key)
            .execute(&mut *tx)
            .await
            .map_err(db("sealing a Variable"))?;
        n += 1;
    }
    let conns: Vec<(String, String, String)> =
        sqlx::query("SELECT name, url, extra FROM connections")
            .fetch_all(&mut *tx)
            .await
            .map_err(db("reading connections"))?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db("reading connections"))?;
    for (name, url, extra) in conns {
        if keys.is_current(&url) && keys.is_current(&extra) {
            continue;
        }
        sqlx::query("UPDATE connections SET url = $1, extra = $2 WHERE name = $3")
            .bind(keys.seal(&keys.open(&url)?)?)
            .bind(keys.seal(&keys.open(&extra)?)?)
            .bind(&name)
            .execute(&mut *tx)
            .await
            .map_err(db("sealing a connection"))?;
        n += 1;
    }
    tx.commit().await.map_err(db("committing a key rotation"))?;
    Ok(n)
}
