//! The outbox: payments the user made on this device, from the moment they are queued until
//! they are definitely done. Never wiped, never dropped by a migration. The idempotency key is
//! created with the row, before the first send, and never changes.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::model::{OutboxState, PaymentKind};

#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: String,
    pub idempotency_key: String,
    pub owner_tag: i64,
    pub kind: PaymentKind,
    pub state: OutboxState,
    pub currency: String,
    pub amount: i64,
    /// Sealed JSON of the request and what to display.
    pub body: Vec<u8>,
    pub attempts: u32,
    pub transaction_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub next_attempt_at: i64,
    pub error_code: Option<String>,
    /// Sealed JSON of a required confirmation and/or the risk decision.
    pub action: Option<Vec<u8>>,
    pub reconciled: bool,
}

pub struct NewItem<'a> {
    pub id: &'a str,
    pub idempotency_key: &'a str,
    pub owner_tag: i64,
    pub kind: PaymentKind,
    pub currency: &'a str,
    pub amount: i64,
    pub body: &'a [u8],
    pub now: i64,
}

const COLUMNS: &str =
    "id, idempotency_key, owner_tag, kind, state, currency, amount, body, attempts,
    transaction_id, created_at, updated_at, next_attempt_at, error_code, action, reconciled";

fn row(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    let kind: String = r.get(3)?;
    let state: String = r.get(4)?;
    let bad = |i| rusqlite::Error::InvalidColumnType(i, "enum".into(), rusqlite::types::Type::Text);
    Ok(OutboxRow {
        id: r.get(0)?,
        idempotency_key: r.get(1)?,
        owner_tag: r.get(2)?,
        kind: PaymentKind::parse(&kind).ok_or_else(|| bad(3))?,
        state: OutboxState::parse(&state).ok_or_else(|| bad(4))?,
        currency: r.get(5)?,
        amount: r.get(6)?,
        body: r.get(7)?,
        attempts: r.get(8)?,
        transaction_id: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        next_attempt_at: r.get(12)?,
        error_code: r.get(13)?,
        action: r.get(14)?,
        reconciled: r.get(15)?,
    })
}

pub fn insert(tx: &Transaction<'_>, item: &NewItem<'_>) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO outbox (id, idempotency_key, owner_tag, kind, state, currency, amount, body,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?7, ?8, ?8)",
        params![
            item.id,
            item.idempotency_key,
            item.owner_tag,
            item.kind.as_str(),
            item.currency,
            item.amount,
            item.body,
            item.now
        ],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<OutboxRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"),
        [id],
        row,
    )
    .optional()
}

/// Items of `owner`, newest first; `open_only` leaves out final states.
pub fn list(
    conn: &Connection,
    owner: i64,
    open_only: bool,
    limit: u32,
) -> rusqlite::Result<Vec<OutboxRow>> {
    let filter = if open_only {
        "AND state IN ('queued', 'sending', 'unknown', 'accepted')"
    } else {
        ""
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE owner_tag = ?1 {filter}
         ORDER BY created_at DESC, id DESC LIMIT ?2"
    ))?;
    stmt.query_map(params![owner, limit], row)?.collect()
}

/// Items the sender should try now, oldest first (sending order = the user's order).
pub fn due(conn: &Connection, owner: i64, now: i64) -> rusqlite::Result<Vec<OutboxRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox
         WHERE owner_tag = ?1 AND state IN ('queued', 'unknown') AND next_attempt_at <= ?2
           AND NOT (state = 'queued' AND action IS NOT NULL AND error_code = 'sca_required')
         ORDER BY created_at, id"
    ))?;
    stmt.query_map(params![owner, now], row)?.collect()
}

/// Makes every waiting item of `owner` due now (the app reported the network back): nothing
/// of a `queued` item reached the server, and an `unknown` one is retried with its key.
pub fn retry_now(tx: &Transaction<'_>, owner: i64) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE outbox SET next_attempt_at = 0
         WHERE owner_tag = ?1 AND state IN ('queued', 'unknown') AND next_attempt_at > 0",
        [owner],
    )
}

/// When the next waiting item becomes due, if any.
pub fn next_due_at(conn: &Connection, owner: i64) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT MIN(next_attempt_at) FROM outbox WHERE owner_tag = ?1
           AND state IN ('queued', 'unknown')
           AND NOT (state = 'queued' AND action IS NOT NULL AND error_code = 'sca_required')",
        [owner],
        |r| r.get(0),
    )
}

/// Moves an item from one of `from` to `to`; returns false if it was in another state (so
/// two senders can never both claim it).
pub fn transition(
    tx: &Transaction<'_>,
    id: &str,
    from: &[OutboxState],
    to: OutboxState,
    now: i64,
) -> rusqlite::Result<bool> {
    let list: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let n = tx.execute(
        &format!(
            "UPDATE outbox SET state = ?2, updated_at = ?3 WHERE id = ?1 AND state IN ({})",
            list.join(", ")
        ),
        params![id, to.as_str(), now],
    )?;
    Ok(n == 1)
}

pub fn mark_sending(tx: &Transaction<'_>, id: &str, now: i64) -> rusqlite::Result<bool> {
    let n = tx.execute(
        "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ?2
         WHERE id = ?1 AND state IN ('queued', 'unknown')",
        params![id, now],
    )?;
    Ok(n == 1)
}

/// Records the outcome of a send attempt.
pub struct Outcome<'a> {
    pub state: OutboxState,
    pub transaction_id: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub action: Option<&'a [u8]>,
    pub next_attempt_at: i64,
}

/// Records a send attempt's outcome.
///
/// A sync may have learned the item's outcome while its request was in flight (a held payment
/// released and settled, or rejected, before the answer arrived). What reconciliation found is
/// newer than any answer to the request: an answer cannot take back its final state, and an
/// answer that knows less (not sent, no answer) cannot move a server-known item back to
/// `queued` (where it could be cancelled) or `unknown`.
pub fn record(tx: &Transaction<'_>, id: &str, o: &Outcome<'_>, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE outbox SET
             state = CASE WHEN reconciled = 1 AND (state IN ('settled', 'failed')
                                                   OR ?2 IN ('queued', 'sending', 'unknown'))
                          THEN state ELSE ?2 END,
             error_code = CASE WHEN reconciled = 1 AND (state IN ('settled', 'failed')
                                                        OR ?2 IN ('queued', 'sending', 'unknown'))
                               THEN error_code ELSE ?4 END,
             transaction_id = COALESCE(?3, transaction_id), action = COALESCE(?5, action),
             next_attempt_at = ?6, updated_at = ?7
         WHERE id = ?1",
        params![
            id,
            o.state.as_str(),
            o.transaction_id,
            o.error_code,
            o.action,
            o.next_attempt_at,
            now
        ],
    )?;
    Ok(())
}

pub fn clear_action(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE outbox SET action = NULL, error_code = NULL, next_attempt_at = 0 WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

/// After a restart an item found in `sending` may or may not have reached the server: it
/// becomes `unknown` and is retried with its key.
pub fn recover_interrupted(tx: &Transaction<'_>, now: i64) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE outbox SET state = 'unknown', updated_at = ?1 WHERE state = 'sending'",
        [now],
    )
}

/// Applies a server outcome learned by sync: the item (by key) is accepted or failed, and its
/// effect is part of the balances applied in the same transaction.
pub fn reconcile_by_key(
    tx: &Transaction<'_>,
    key: &str,
    succeeded: bool,
    transaction_id: Option<&str>,
    error_code: Option<&str>,
    now: i64,
) -> rusqlite::Result<usize> {
    if succeeded {
        tx.prepare_cached(
            "UPDATE outbox SET state = CASE WHEN state IN ('settled') THEN state ELSE 'accepted' END,
                 transaction_id = COALESCE(?2, transaction_id), reconciled = 1, error_code = NULL,
                 action = NULL, updated_at = ?3
             WHERE idempotency_key = ?1 AND state NOT IN ('failed', 'cancelled', 'expired')",
        )?
        .execute(params![key, transaction_id, now])
    } else {
        tx.prepare_cached(
            "UPDATE outbox SET state = 'failed', error_code = ?2, reconciled = 1, updated_at = ?3
             WHERE idempotency_key = ?1 AND state IN ('queued', 'sending', 'unknown')",
        )?
        .execute(params![key, error_code, now])
    }
}

/// A transaction synced from the server settles or fails the accepted item that created it.
/// Transaction ids of items whose outcome a synced transaction can still change (the items
/// [`reconcile_by_transaction`] may update).
pub fn awaited_transactions(
    tx: &Transaction<'_>,
) -> rusqlite::Result<std::collections::HashSet<String>> {
    let mut stmt = tx.prepare_cached(
        "SELECT transaction_id FROM outbox WHERE transaction_id IS NOT NULL
           AND state IN ('accepted', 'unknown', 'sending', 'settled')",
    )?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

pub fn reconcile_by_transaction(
    tx: &Transaction<'_>,
    transaction_id: &str,
    status: &str,
    now: i64,
) -> rusqlite::Result<usize> {
    let state = match status {
        "settled" => "settled",
        "failed" => "failed",
        _ => "accepted",
    };
    tx.prepare_cached(
        "UPDATE outbox SET state = ?2, reconciled = 1, updated_at = ?3,
             error_code = CASE WHEN ?2 = 'failed' THEN 'transaction_failed' ELSE error_code END
         WHERE transaction_id = ?1 AND state IN ('accepted', 'unknown', 'sending', 'settled')
           AND (state != ?2 OR reconciled = 0)",
    )?
    .execute(params![transaction_id, state, now])
}

/// Outgoing money per currency that the server balance does not reflect yet: every item that
/// is not definitely refused, until a sync applied the balances that include it (so it is never
/// counted twice, and never dropped before the server balance shows it).
pub fn unconfirmed_out(conn: &Connection, owner: i64) -> rusqlite::Result<Vec<(String, i64)>> {
    let outgoing: Vec<String> = PaymentKind::ALL
        .iter()
        .filter(|k| k.is_outgoing())
        .map(|k| format!("'{}'", k.as_str()))
        .collect();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT currency, SUM(amount) FROM outbox
         WHERE owner_tag = ?1 AND kind IN ({}) AND reconciled = 0
           AND state IN ('queued', 'sending', 'unknown', 'accepted', 'settled')
         GROUP BY currency",
        outgoing.join(", ")
    ))?;
    stmt.query_map([owner], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn outcome(state: OutboxState) -> Outcome<'static> {
        Outcome {
            state,
            transaction_id: None,
            error_code: None,
            action: None,
            next_attempt_at: 0,
        }
    }

    /// An item a sync found accepted while its request was in flight: a late "not sent" or
    /// "no answer" must not make it cancellable (`queued`) or doubtful (`unknown`) again,
    /// while a later answer that knows more (settled) still lands.
    #[test]
    fn an_answer_that_knows_less_than_reconciliation_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let state = |id: &str| {
            store
                .read(|c| Ok(get(c, id)?.unwrap()))
                .map(|r| (r.state, r.reconciled))
                .unwrap()
        };
        store
            .write(|tx| {
                insert(
                    tx,
                    &NewItem {
                        id: "item-1",
                        idempotency_key: "key-1",
                        owner_tag: 7,
                        kind: PaymentKind::Transfer,
                        currency: "CNY",
                        amount: 1_000,
                        body: b"sealed",
                        now: 1,
                    },
                )?;
                assert!(mark_sending(tx, "item-1", 2)?);
                reconcile_by_key(tx, "key-1", true, Some("T1"), None, 3)?;
                Ok(())
            })
            .unwrap();
        assert_eq!(state("item-1"), (OutboxState::Accepted, true));
        for late in [OutboxState::Queued, OutboxState::Unknown] {
            store
                .write(|tx| Ok(record(tx, "item-1", &outcome(late), 4)?))
                .unwrap();
            assert_eq!(state("item-1").0, OutboxState::Accepted, "{late:?}");
        }
        store
            .write(|tx| Ok(record(tx, "item-1", &outcome(OutboxState::Settled), 5)?))
            .unwrap();
        assert_eq!(state("item-1").0, OutboxState::Settled);
        // Nothing takes a final state back.
        store
            .write(|tx| Ok(record(tx, "item-1", &outcome(OutboxState::Accepted), 6)?))
            .unwrap();
        assert_eq!(state("item-1").0, OutboxState::Settled);
    }
}
