//! A cache created by the first released schema (v1, kept here verbatim as a fixture) migrates
//! to the current one without losing or altering a single outbox item.

use upay_core::model::{OutboxState, PaymentKind};
use upay_core::store::{DB_FILE, Store, StoreError, outbox, schema};

/// Schema version 1 exactly as released (a copy: the fixture must not follow code changes).
const V1_FIXTURE: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE session (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    user_tag   INTEGER NOT NULL,
    body       BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE sync_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    cursor    TEXT,
    synced_at INTEGER
);
CREATE TABLE balances (
    currency    TEXT PRIMARY KEY,
    available   INTEGER NOT NULL,
    pending_out INTEGER NOT NULL,
    pending_in  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE transactions (
    id         TEXT PRIMARY KEY,
    change_seq INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    category   TEXT NOT NULL,
    currency   TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    fee        INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    body       BLOB NOT NULL
);
CREATE INDEX transactions_by_time ON transactions(created_at);
CREATE TABLE cards (
    row        TEXT PRIMARY KEY,
    is_default INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    body       BLOB NOT NULL
);
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL,
    body            BLOB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    transaction_id  TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
";

#[test]
fn the_fixture_is_the_released_v1() {
    assert_eq!(
        V1_FIXTURE.trim(),
        schema::V1.trim(),
        "schema v1 must never change"
    );
}

#[test]
fn migrating_from_v1_keeps_every_outbox_item() {
    let dir = tempfile::tempdir().unwrap();
    /// id, key, kind, state, amount, body, attempts, transaction id.
    type Item = (
        String,
        String,
        &'static str,
        &'static str,
        i64,
        Vec<u8>,
        i64,
        Option<&'static str>,
    );
    let items: Vec<Item> = (0..50)
        .map(|i| {
            let state = [
                "queued", "sending", "unknown", "accepted", "settled", "failed",
            ][i % 6];
            let kind = [
                "transfer",
                "merchant_payment",
                "top_up",
                "withdrawal",
                "fx_conversion",
            ][i % 5];
            let txn = (state == "accepted" || state == "settled").then_some("tx_1");
            (
                format!("ob_{i:03}"),
                format!("idem_{i:03}"),
                kind,
                state,
                100 + i as i64,
                vec![i as u8; 40 + i],
                i as i64 % 3,
                txn,
            )
        })
        .collect();
    {
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.execute_batch(V1_FIXTURE).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute("INSERT INTO session VALUES (1, 4242, x'00', 1)", [])
            .unwrap();
        conn.execute("INSERT INTO sync_state VALUES (1, 'cursor-v1', 5)", [])
            .unwrap();
        conn.execute(
            "INSERT INTO transactions VALUES ('tx_1', 1, 'transfer_out', 'settled', 'transfer', 'CNY', -100, 0, 1, 1, x'01')",
            [],
        )
        .unwrap();
        for (id, key, kind, state, amount, body, attempts, txn) in &items {
            conn.execute(
                "INSERT INTO outbox VALUES (?1, ?2, ?3, ?4, 'CNY', ?5, ?6, ?7, ?8, 1000, 1001)",
                rusqlite::params![id, key, kind, state, amount, body, attempts, txn],
            )
            .unwrap();
        }
    }
    let store = Store::open(dir.path()).unwrap();
    store
        .read(|c| {
            let v: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
            assert_eq!(v, schema::MIGRATIONS.len() as i64);
            let rows = outbox::list(c, 4242, false, 1000)?;
            assert_eq!(rows.len(), items.len(), "no outbox item lost");
            for (id, key, kind, state, amount, body, attempts, txn) in &items {
                let r = rows.iter().find(|r| &r.id == id).expect("item kept");
                assert_eq!(&r.idempotency_key, key, "the key never changes");
                assert_eq!(r.kind, PaymentKind::parse(kind).unwrap());
                assert_eq!(r.state, OutboxState::parse(state).unwrap());
                assert_eq!(
                    (&r.amount, &r.body, i64::from(r.attempts)),
                    (amount, body, *attempts)
                );
                assert_eq!(r.transaction_id.as_deref(), *txn);
                assert_eq!(r.owner_tag, 4242);
            }
            // Mirror tables were rebuilt and the cursor cleared so the next sync refills them.
            let n: i64 = c.query_row("SELECT COUNT(*) FROM transactions", [], |r| r.get(0))?;
            assert_eq!(n, 0);
            let cursor: Option<String> =
                c.query_row("SELECT cursor FROM sync_state", [], |r| r.get(0))?;
            assert_eq!(cursor, None);
            let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            assert_eq!(ok, "ok");
            Ok(())
        })
        .unwrap();
    drop(store);
    // A database from a newer app is refused, not damaged.
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", 1000).unwrap();
    drop(conn);
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::NewerSchema { .. })
    ));
}
