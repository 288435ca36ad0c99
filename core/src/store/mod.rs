//! The encrypted offline cache: one SQLite file in WAL mode with one writer connection and one
//! reader connection. Functions that write take a `&Transaction`, functions that read a
//! `&Connection`; the domain modules pass the [`crate::crypto::Cipher`] for the envelopes.

pub mod mirror;
pub mod outbox;
pub mod schema;
pub mod search;
pub mod txbody;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use crate::error::{CoreError, CoreResult, ErrorCode};

pub const DB_FILE: &str = "wallet.db";

/// Tables that mirror the server and may be wiped and fetched again (never the outbox). The
/// payment-code secret belongs here too: a wiped one is provisioned again while online.
pub const MIRROR_TABLES: &[&str] = &[
    "balances",
    "transactions",
    "search_index",
    "cards",
    "payees",
    "quotes",
    "savings_cache",
    "savings_yields",
    "paycode",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the cache was written by a newer version of the app (schema {found} > {supported})")]
    NewerSchema { found: i64, supported: i64 },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> CoreError {
        match e {
            StoreError::NewerSchema { found, supported } => {
                tracing::error!(found, supported, "cache schema is newer than this app");
                CoreError::client(ErrorCode::Storage)
            }
            StoreError::Sqlite(e) => e.into(),
        }
    }
}

pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // WAL: readers never block the writer. secure_delete: freed pages are zeroed. temp_store
    // in memory: Android has no usable temporary directory for SQLite.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "temp_store", 2)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // 8 MB of page cache: the indexes of a 100k-row history stay hot during a sync.
    conn.pragma_update(None, "cache_size", -8192)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Applies the migrations the file lacks; refuses a file newer than this code.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let latest = schema::MIGRATIONS.len() as i64;
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > latest {
        return Err(StoreError::NewerSchema {
            found,
            supported: latest,
        });
    }
    for (i, step) in schema::MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "cache schema migrated");
    }
    Ok(())
}

impl Store {
    /// Opens (creating and migrating) the cache in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|_| {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                None,
            ))
        })?;
        let path = dir.join(DB_FILE);
        let mut writer = Connection::open(&path)?;
        configure(&writer)?;
        migrate(&mut writer)?;
        let reader = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.pragma_update(None, "temp_store", 2)?;
        reader.pragma_update(None, "cache_size", -8192)?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Store {
            path,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one IMMEDIATE transaction, committed only when it returns `Ok`.
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> CoreResult<T>) -> CoreResult<T> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> CoreResult<T>) -> CoreResult<T> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }
}

pub fn meta_get(conn: &Connection, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

pub fn meta_set(tx: &Transaction<'_>, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// The sealed `body` of a one-row-per-user table keyed by `owner_tag` (`paycode`,
/// `savings_cache`), opened with its place (`table`, `body`, the owner tag, the user).
pub fn owner_row<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    cipher: &crate::crypto::Cipher,
    table: &str,
    owner: i64,
    user: &str,
) -> CoreResult<Option<T>> {
    let sealed: Option<Vec<u8>> = conn
        .prepare_cached(&format!("SELECT body FROM {table} WHERE owner_tag = ?1"))?
        .query_row([owner], |r| r.get(0))
        .optional()?;
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let owner_text = owner.to_string();
    let place = crate::crypto::Place::new(table, "body", &owner_text, user);
    Ok(Some(cipher.open_json(&place, &sealed)?))
}

/// Empties the mirror tables and the cursor; the outbox and reminders stay.
pub fn wipe_mirror(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    for table in MIRROR_TABLES {
        tx.execute(&format!("DELETE FROM {table}"), [])?;
    }
    tx.execute("DELETE FROM sync_state", [])?;
    search::clear(tx)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_newer_schema_and_sets_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .read(|c| {
                let mode: String = c.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
                assert_eq!(mode, "wal");
                let v: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
                assert_eq!(v, schema::MIGRATIONS.len() as i64);
                Ok(())
            })
            .unwrap();
        store
            .write(|tx| {
                let sd: i64 = tx.pragma_query_value(None, "secure_delete", |r| r.get(0))?;
                let ts: i64 = tx.pragma_query_value(None, "temp_store", |r| r.get(0))?;
                assert_eq!((sd, ts), (1, 2));
                Ok(())
            })
            .unwrap();
        drop(store);
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::NewerSchema { found: 99, .. })
        ));
    }
}
