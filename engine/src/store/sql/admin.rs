//! The administration queries of a [`SqlStore`](super::SqlStore) on its pool: Variables, connections and pools.
//! Each function serves the [`Store`](crate::store::Store) method of its name; setting a
//! Variable goes through the write path instead (see `super`).

use sqlx::{AnyPool, Row};

use super::{SqlStore, db};
use crate::secrets::Keyring;
use crate::store::rows::{Cols, RowRead, corrupt};
use crate::store::statements::Param;
use crate::store::{Connection, StoreError};

/// A row of two text columns: a key and its (sealed) value.
fn key_value(row: &dyn RowRead) -> Result<(String, String), StoreError> {
    let c = Cols {
        row,
        what: "Variable",
    };
    Ok((c.text("key")?, c.text("value")?))
}

/// A connection's row as stored: name, sealed URL, sealed extras.
fn sealed_connection(row: &dyn RowRead) -> Result<(String, String, String), StoreError> {
    let c = Cols {
        row,
        what: "connection",
    };
    Ok((c.text("name")?, c.text("url")?, c.text("extra")?))
}

impl SqlStore {
    pub(super) async fn read_variable(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.fetch_one(
            "SELECT key, value FROM variables WHERE key = $1",
            vec![Param::Text(key.to_string())],
            "reading a Variable",
            key_value,
        )
        .await?
        .map(|(_, stored)| Ok(self.keys.open(&stored)?))
        .transpose()
    }

    pub(super) async fn read_variables(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.fetch(
            "SELECT key, value FROM variables ORDER BY key",
            vec![],
            "listing Variables",
            key_value,
        )
        .await?
        .into_iter()
        .map(|(k, v)| Ok((k, self.keys.open(&v)?)))
        .collect()
    }

    pub(super) async fn read_connections(&self) -> Result<Vec<Connection>, StoreError> {
        self.fetch(
            "SELECT name, url, extra FROM connections ORDER BY name",
            vec![],
            "listing connections",
            sealed_connection,
        )
        .await?
        .into_iter()
        .map(|(name, url, extra)| {
            Ok(Connection {
                name,
                url: self.keys.open(&url)?,
                extra: serde_json::from_str(&self.keys.open(&extra)?)
                    .map_err(|e| corrupt("connection extra", e))?,
            })
        })
        .collect()
    }

    pub(super) async fn read_pools(
        &self,
    ) -> Result<Vec<(String, u32, Option<String>)>, StoreError> {
        self.fetch(
            "SELECT name, slots, description FROM pools ORDER BY name",
            vec![],
            "listing pools",
            |row| {
                let c = Cols { row, what: "pool" };
                Ok((
                    c.text("name")?,
                    c.count("slots")?,
                    c.opt_text("description")?,
                ))
            },
        )
        .await
    }
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
