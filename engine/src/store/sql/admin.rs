//! The administration queries of a [`SqlStore`](super::SqlStore) on its pool: Variables, connections and pools.
//! Each function serves the [`Store`](crate::store::Store) method of its name; setting a
//! Variable goes through the write path instead (see `super`).

use sqlx::{AnyPool, Row};

use super::db;
use crate::store::rows::{Cols, corrupt};
use crate::store::{Connection, StoreError};

pub(super) async fn variable(pool: &AnyPool, key: &str) -> Result<Option<String>, StoreError> {
    sqlx::query("SELECT value FROM variables WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(db("reading a Variable"))?
        .map(|r| r.try_get::<String, _>(0).map_err(db("reading a Variable")))
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

pub(super) async fn variables(pool: &AnyPool) -> Result<Vec<(String, String)>, StoreError> {
    sqlx::query("SELECT key, value FROM variables ORDER BY key")
        .fetch_all(pool)
        .await
        .map_err(db("listing Variables"))?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db("listing Variables"))
}

pub(super) async fn connections(pool: &AnyPool) -> Result<Vec<Connection>, StoreError> {
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
                url: c.text("url")?,
                extra: serde_json::from_str(&c.text("extra")?)
                    .map_err(|e| corrupt("connection extra", e))?,
            })
        })
        .collect()
}

pub(super) async fn set_connection(
    pool: &AnyPool,
    connection: &Connection,
) -> Result<(), StoreError> {
    let extra =
        serde_json::to_string(&connection.extra).map_err(|e| corrupt("connection extra", e))?;
    sqlx::query(
        "INSERT INTO connections (name, url, extra) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET url = excluded.url, extra = excluded.extra",
    )
    .bind(&connection.name)
    .bind(&connection.url)
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
