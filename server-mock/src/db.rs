//! The mock's SQLite schema and its migrations. `PRAGMA user_version` is the number of applied
//! steps; each step runs in its own transaction; a database newer than this code is refused.

use rusqlite::Connection;

use crate::error::{ApiError, ApiResult};

/// Every schema step in order. Append only: never edit a step that has shipped.
const MIGRATIONS: &[&str] = &[
    crate::auth::store::SCHEMA,
    crate::ledger::store::SCHEMA,
    crate::idempotency::SCHEMA,
    crate::sca::SCHEMA,
    crate::risk::SCHEMA,
    crate::support::store::SCHEMA,
    crate::engage::store::SCHEMA,
    crate::paycode::SCHEMA,
    crate::savings::SCHEMA,
];

pub fn prepare(conn: &Connection) -> ApiResult<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", 2)?;
    migrate(conn)
}

fn migrate(conn: &Connection) -> ApiResult<()> {
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > MIGRATIONS.len() {
        return Err(ApiError::internal(format!(
            "database schema version {version} is newer than this server ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(version) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {step}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}

/// Deletes every row of every table, keeping the schema.
pub fn wipe(conn: &Connection) -> ApiResult<()> {
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    conn.execute_batch("PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE;")?;
    for t in &tables {
        conn.execute(&format!("DELETE FROM \"{t}\""), [])?;
    }
    conn.execute_batch("COMMIT; PRAGMA foreign_keys = ON;")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer() {
        let conn = Connection::open_in_memory().unwrap();
        prepare(&conn).unwrap();
        prepare(&conn).unwrap();
        let v: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len());
        conn.pragma_update(None, "user_version", MIGRATIONS.len() + 1)
            .unwrap();
        assert!(prepare(&conn).is_err());
    }
}
