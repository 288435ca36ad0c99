//! Mirror tables: what the server said, re-creatable by a full sync. Transactions keep their
//! queryable facts in clear columns (time, amount, kind, status, category, currency, blind
//! tags) and everything else (counterparty, merchant, note, FX detail, hold, failure) in one
//! envelope bound to the row and the user.

use rusqlite::{CachedStatement, Connection, OptionalExtension, Row, Transaction, params};
use serde::{Deserialize, Serialize};
use upay_protocol::api::money as wire;
use upay_protocol::money::{Currency, Money};

use crate::crypto::{Cipher, Nonces, Place};
use crate::error::CoreResult;
use crate::model::{Amount, TransactionView};
use crate::store::search;
use crate::store::txbody::{self, Sensitive};

/// Blind-tag domains of exact-match columns.
pub const CP_DOMAIN: &str = "counterparty";
pub const MERCHANT_DOMAIN: &str = "merchant";

/// `yyyymm` of an instant in the user's UTC offset.
pub fn month_of(at_ms: i64, offset_ms: i64) -> i64 {
    let days = (at_ms + offset_ms).div_euclid(86_400_000);
    let (y, m, _) = civil_from_days(days);
    y * 100 + m
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Day count since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Applies transactions to the mirror in the caller's transaction: upserts rows (a newer
/// `change_seq` wins). Postings are added afterwards by [`search::Indexer`] for the rows
/// [`Ingest::add`] reports as new. Exact-match tags are memoised per batch (names and merchants
/// repeat a lot within a page); nonces, buffers and the two statements are reused across the
/// batch (`prepare_cached` per row hashed the statement's text twice per row).
pub struct Ingest<'a, 'c> {
    insert: Option<CachedStatement<'c>>,
    update: Option<CachedStatement<'c>>,
    cipher: &'a Cipher,
    user: &'a str,
    offset_ms: i64,
    /// Memo of tags by `domain \0 token`.
    tags: search::Memo<String, i64>,
    nonces: Nonces,
    body: Vec<u8>,
    sealed: Vec<u8>,
    aad: Vec<u8>,
    key: String,
}

fn memo_tag(
    tags: &mut search::Memo<String, i64>,
    key: &mut String,
    cipher: &Cipher,
    domain: &str,
    parts: &[&str],
) -> i64 {
    key.clear();
    key.push_str(domain);
    key.push('\0');
    for p in parts {
        key.push_str(p);
    }
    if let Some(t) = tags.get(key.as_str()) {
        return *t;
    }
    let t = cipher.tag(domain, &key[domain.len() + 1..]);
    tags.insert(key.clone(), t);
    t
}

impl<'a, 'c> Ingest<'a, 'c> {
    pub fn new(cipher: &'a Cipher, user: &'a str, offset_ms: i64) -> Ingest<'a, 'c> {
        Ingest {
            insert: None,
            update: None,
            cipher,
            user,
            offset_ms,
            tags: search::Memo::default(),
            nonces: Nonces::default(),
            body: Vec::with_capacity(512),
            sealed: Vec::with_capacity(512),
            aad: Vec::with_capacity(64),
            key: String::with_capacity(64),
        }
    }

    /// Upserts one transaction; returns its rowid when the row is new (and needs postings).
    pub fn add(
        &mut self,
        tx: &'c Transaction<'_>,
        t: &wire::Transaction,
    ) -> CoreResult<Option<i64>> {
        txbody::write(t, &mut self.body);
        let sealed = self.cipher.seal_into(
            &mut self.nonces,
            &Place::new("transactions", "body", &t.id, self.user),
            &self.body,
            &mut self.aad,
            &mut self.sealed,
        );
        // The plaintext body held names and notes: clear what this row wrote. Every row writes
        // from the start of the buffer, so its spare capacity never holds an unwiped body.
        zeroize::Zeroize::zeroize(self.body.as_mut_slice());
        sealed?;
        let (memo, key, cipher) = (&mut self.tags, &mut self.key, self.cipher);
        let cp_tag = t
            .counterparty
            .as_ref()
            .map(|c| memo_tag(memo, key, cipher, CP_DOMAIN, &[c.kind.as_str(), ":", &c.id]));
        let merchant_tag = t
            .merchant
            .as_ref()
            .map(|m| memo_tag(memo, key, cipher, MERCHANT_DOMAIN, &[&m.merchant_id]));
        let month = month_of(t.created_at, self.offset_ms);
        let insert = match &mut self.insert {
            Some(s) => s,
            None => self.insert.insert(tx.prepare_cached(
                "INSERT INTO transactions (id, change_seq, kind, status, category, currency,
                     amount, fee, created_at, updated_at, month, cp_tag, merchant_tag, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT(id) DO NOTHING",
            )?),
        };
        let inserted = insert.execute(params![
            t.id,
            t.change_seq,
            t.kind.as_str(),
            t.status.as_str(),
            t.category.as_str(),
            t.amount.currency.code(),
            t.amount.minor,
            t.fee.minor,
            t.created_at,
            t.updated_at,
            month,
            cp_tag,
            merchant_tag,
            self.sealed,
        ])?;
        if inserted == 1 {
            return Ok(Some(tx.last_insert_rowid()));
        }
        let update = match &mut self.update {
            Some(s) => s,
            None => self.update.insert(tx.prepare_cached(
                "UPDATE transactions SET change_seq = ?2, status = ?3, category = ?4,
                     amount = ?5, fee = ?6, updated_at = ?7, body = ?8
                 WHERE id = ?1 AND change_seq <= ?2",
            )?),
        };
        update.execute(params![
            t.id,
            t.change_seq,
            t.status.as_str(),
            t.category.as_str(),
            t.amount.minor,
            t.fee.minor,
            t.updated_at,
            self.sealed,
        ])?;
        Ok(None)
    }
}

/// The searchable texts of a stored row, decrypted (for indexing rows not in memory).
pub struct OwnedTexts(Sensitive);

impl OwnedTexts {
    pub fn texts(&self) -> search::Texts<'_> {
        let s = &self.0;
        search::Texts {
            counterparty_kind: s.counterparty.as_ref().map(|c| c.kind.as_str()),
            counterparty_name: s.counterparty.as_ref().map(|c| c.name.as_str()),
            counterparty_id: s.counterparty.as_ref().map(|c| c.id.as_str()),
            merchant_name: s.merchant.as_ref().map(|m| m.name.as_str()),
            note: s.note.as_deref(),
        }
    }
}

/// Opens a row's envelope for its searchable texts; `None` if it does not open.
pub fn open_texts(cipher: &Cipher, user: &str, id: &str, body: &[u8]) -> Option<OwnedTexts> {
    open_body(cipher, user, id, body).map(OwnedTexts)
}

/// Opens a row's envelope and reads its fields; `None` if either fails.
fn open_body(cipher: &Cipher, user: &str, id: &str, body: &[u8]) -> Option<Sensitive> {
    let plain = cipher
        .open(&Place::new("transactions", "body", id, user), body)
        .ok()?;
    txbody::read(&plain)
}

/// Columns read to build a [`TransactionView`], in this order.
pub const TX_COLUMNS: &str =
    "id, kind, status, category, currency, amount, fee, created_at, updated_at, body";

/// Decrypts one row selected with [`TX_COLUMNS`]. A row that fails to open is reported as
/// `None` (corruption of one value must not hide the rest of the history).
pub fn tx_from_row(
    cipher: &Cipher,
    user: &str,
    zh: bool,
    r: &Row<'_>,
) -> rusqlite::Result<Option<TransactionView>> {
    tx_from_row_offset(cipher, user, zh, r, 0)
}

/// [`tx_from_row`] for rows whose [`TX_COLUMNS`] start at column `o`.
pub fn tx_from_row_offset(
    cipher: &Cipher,
    user: &str,
    zh: bool,
    r: &Row<'_>,
    o: usize,
) -> rusqlite::Result<Option<TransactionView>> {
    let id: String = r.get(o)?;
    let currency: String = r.get(o + 4)?;
    let Some(s) = open_body(cipher, user, &id, r.get_ref(o + 9)?.as_blob()?) else {
        tracing::warn!("a cached transaction failed to decrypt; skipped");
        return Ok(None);
    };
    let kind = wire::TransactionKind::parse(r.get_ref(o + 1)?.as_str()?);
    let status = wire::TransactionStatus::parse(r.get_ref(o + 2)?.as_str()?);
    let category = wire::Category::parse(r.get_ref(o + 3)?.as_str()?);
    let (Some(kind), Some(status), Some(category)) = (kind, status, category) else {
        return Ok(None);
    };
    let amount = |minor: i64| Amount {
        minor,
        currency: currency.clone(),
    };
    Ok(Some(TransactionView {
        id,
        kind: kind.into(),
        status: status.into(),
        amount: amount(r.get(o + 5)?),
        fee: amount(r.get(o + 6)?),
        category: category.into(),
        counterparty_kind: s.counterparty.as_ref().map(|c| c.kind.into()),
        counterparty_id: s.counterparty.as_ref().map(|c| c.id.clone()),
        counterparty_name: s.counterparty.map(|c| c.name),
        merchant_name: s.merchant.as_ref().map(|m| m.name.clone()),
        merchant_country: s.merchant.map(|m| m.country),
        note: s.note,
        fx_rate: s.fx.as_ref().map(|f| f.rate.to_string()),
        fx_counter_amount: s.fx.map(|f| f.counter_amount.into()),
        hold_id: s.hold_id,
        failure_reason: s.failure_code.map(|c| c.message(zh).to_owned()),
        created_at: r.get(o + 7)?,
        updated_at: r.get(o + 8)?,
    }))
}

/// The newest `n` transactions, decrypted (the home screen's list).
pub fn newest(
    conn: &Connection,
    cipher: &Cipher,
    user: &str,
    zh: bool,
    n: u32,
) -> CoreResult<Vec<TransactionView>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TX_COLUMNS} FROM transactions ORDER BY created_at DESC, rowid DESC LIMIT ?1"
    ))?;
    let mut rows = stmt.query([n])?;
    let mut out = Vec::with_capacity(n as usize);
    while let Some(r) = rows.next()? {
        if let Some(v) = tx_from_row(cipher, user, zh, r)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// The status of a cached transaction, by server id.
pub fn tx_status(conn: &Connection, id: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT status FROM transactions WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .optional()
}

/// Stores balances; an older version never replaces a newer one.
pub fn put_balances(tx: &Transaction<'_>, balances: &[wire::Balance]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO balances (currency, available, pending_out, pending_in, version, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(currency) DO UPDATE SET available = excluded.available,
             pending_out = excluded.pending_out, pending_in = excluded.pending_in,
             version = excluded.version, updated_at = excluded.updated_at
         WHERE excluded.version >= balances.version",
    )?;
    for b in balances {
        stmt.execute(params![
            b.currency.code(),
            b.available.minor,
            b.pending_out.minor,
            b.pending_in.minor,
            b.version,
            b.updated_at
        ])?;
    }
    Ok(())
}

pub struct BalanceRow {
    pub currency: Currency,
    pub available: i64,
    pub pending_out: i64,
    pub pending_in: i64,
    pub updated_at: i64,
}

pub fn balances(conn: &Connection) -> rusqlite::Result<Vec<BalanceRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT currency, available, pending_out, pending_in, updated_at FROM balances
         ORDER BY currency",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (code, available, pending_out, pending_in, updated_at) = row?;
        if let Ok(currency) = Currency::parse(&code) {
            out.push(BalanceRow {
                currency,
                available,
                pending_out,
                pending_in,
                updated_at,
            });
        }
    }
    Ok(out)
}

pub fn money(minor: i64, currency: Currency) -> Amount {
    Amount {
        minor,
        currency: currency.code().to_owned(),
    }
}

/// Replaces the cached card list (cards are small and always fetched whole).
pub fn put_cards(
    tx: &Transaction<'_>,
    cipher: &Cipher,
    user: &str,
    cards: &[wire::Card],
) -> CoreResult<()> {
    tx.execute("DELETE FROM cards", [])?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO cards (row, is_default, position, body) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (i, card) in cards.iter().enumerate() {
        let row = format!("c{i}");
        let body = cipher.seal_json(&Place::new("cards", "body", &row, user), card)?;
        stmt.execute(params![row, card.is_default, i as i64, body])?;
    }
    Ok(())
}

pub fn cards(conn: &Connection, cipher: &Cipher, user: &str) -> CoreResult<Vec<wire::Card>> {
    let mut stmt = conn.prepare_cached("SELECT row, body FROM cards ORDER BY position")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (row, body) = row?;
        out.push(cipher.open_json(&Place::new("cards", "body", &row, user), &body)?);
    }
    Ok(out)
}

/// A recent payee, for the transfer screen's suggestions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct RecentPayee {
    pub account_id: String,
    pub masked_name: String,
    pub last_used_at: i64,
}

pub fn put_payee(
    tx: &Transaction<'_>,
    cipher: &Cipher,
    user: &str,
    payee: &wire::Payee,
    at: i64,
) -> CoreResult<()> {
    let tag = cipher.tag("payee", &payee.account_id);
    let row = tag.to_string();
    let body = cipher.seal_json(
        &Place::new("payees", "body", &row, user),
        &RecentPayee {
            account_id: payee.account_id.clone(),
            masked_name: payee.masked_name.clone(),
            last_used_at: at,
        },
    )?;
    tx.execute(
        "INSERT INTO payees (tag, last_used_at, body) VALUES (?1, ?2, ?3)
         ON CONFLICT(tag) DO UPDATE SET last_used_at = excluded.last_used_at, body = excluded.body",
        params![tag, at, body],
    )?;
    Ok(())
}

pub fn recent_payees(
    conn: &Connection,
    cipher: &Cipher,
    user: &str,
    limit: u32,
) -> CoreResult<Vec<RecentPayee>> {
    let mut stmt =
        conn.prepare_cached("SELECT tag, body FROM payees ORDER BY last_used_at DESC LIMIT ?1")?;
    let rows = stmt.query_map([limit], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (tag, body) = row?;
        out.push(cipher.open_json(&Place::new("payees", "body", &tag.to_string(), user), &body)?);
    }
    Ok(out)
}

/// Whether the user paid this account before (from the cache).
pub fn is_known_payee(
    conn: &Connection,
    cipher: &Cipher,
    account_id: &str,
) -> rusqlite::Result<bool> {
    let tag = cipher.tag("payee", account_id);
    conn.query_row("SELECT 1 FROM payees WHERE tag = ?1", [tag], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
}

pub fn put_quote(
    tx: &Transaction<'_>,
    cipher: &Cipher,
    user: &str,
    quote: &wire::FxQuote,
    local_deadline: i64,
) -> CoreResult<()> {
    let body = cipher.seal_json(&Place::new("quotes", "body", &quote.id, user), quote)?;
    tx.execute(
        "INSERT OR REPLACE INTO quotes (id, expires_at, local_deadline, body) VALUES (?1, ?2, ?3, ?4)",
        params![quote.id, quote.expires_at, local_deadline, body],
    )?;
    Ok(())
}

pub fn quote(
    conn: &Connection,
    cipher: &Cipher,
    user: &str,
    id: &str,
) -> CoreResult<Option<(wire::FxQuote, i64)>> {
    let row: Option<(Vec<u8>, i64)> = conn
        .query_row(
            "SELECT body, local_deadline FROM quotes WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match row {
        None => Ok(None),
        Some((body, deadline)) => Ok(Some((
            cipher.open_json(&Place::new("quotes", "body", id, user), &body)?,
            deadline,
        ))),
    }
}

/// Sum of money the mirror shows for `currency` (used by tests and the sync check).
pub fn balance_of(conn: &Connection, currency: Currency) -> rusqlite::Result<Option<Money>> {
    conn.query_row(
        "SELECT available FROM balances WHERE currency = ?1",
        [currency.code()],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|o| o.and_then(|m| Money::new(m, currency).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        for days in [-1000, 0, 59, 60, 365, 10_957, 19_782, 20_000, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // 2024-02-29 16:30 UTC is already March 1st in UTC+8.
        let at = (days_from_civil(2024, 2, 29) * 86_400 + 16 * 3600 + 1800) * 1000;
        assert_eq!(month_of(at, 0), 202402);
        assert_eq!(month_of(at, 8 * 3_600_000), 202403);
    }
}
