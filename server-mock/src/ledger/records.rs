//! History rows (`transactions`): one per user per operation, each insert and update stamped
//! with the next sandbox-wide `change_seq` so sync can page through changes.

use rusqlite::{Connection, OptionalExtension, Row, params};
use upay_protocol::api::money::{
    Category, Counterparty, CounterpartyKind, FailureCode, FxDetail, MerchantRef, Transaction,
    TransactionKind, TransactionStatus,
};
use upay_protocol::money::{Currency, Money};
use upay_protocol::rate::Rate;

use super::catalog::{self, Merchant};
use crate::error::ApiResult;

/// Columns read by [`from_row`], in its order.
pub const COLUMNS: &str = "id, kind, status, amount, currency, fee, counterparty_kind, counterparty_id, counterparty_name, note, category, merchant_id, fx_rate, fx_amount, fx_currency, hold_id, failure_code, created_at, updated_at, change_seq";

/// A history row to insert.
pub struct NewRow<'a> {
    pub user_id: &'a str,
    pub posting_id: i64,
    pub kind: TransactionKind,
    pub status: TransactionStatus,
    /// Signed effect on the wallet.
    pub amount: Money,
    pub fee: i64,
    pub counterparty: Option<Counterparty>,
    pub note: Option<&'a str>,
    pub category: Category,
    pub merchant: Option<&'static Merchant>,
    pub fx: Option<FxDetail>,
    pub hold_id: Option<&'a str>,
    pub created_at: i64,
}

impl NewRow<'_> {
    fn search_text(&self) -> String {
        let mut text = String::new();
        if let Some(c) = &self.counterparty {
            text.push_str(&c.name);
            text.push('\n');
        }
        if let Some(m) = self.merchant {
            text.push_str(m.name);
            text.push('\n');
            text.push_str(m.name_en);
            text.push('\n');
        }
        if let Some(n) = self.note {
            text.push_str(n);
        }
        text.to_lowercase()
    }
}

/// Inserts a row with a fresh id and change number.
pub fn insert(conn: &Connection, row: &NewRow<'_>) -> ApiResult<Transaction> {
    let seq = super::store::next_seq(conn)?;
    insert_with(conn, row, &super::new_id("tx_"), seq)
}

/// Inserts the rows of one operation (e.g. both sides of a transfer), reserving their change
/// numbers in one statement.
pub fn insert_all(conn: &Connection, rows: &[NewRow<'_>]) -> ApiResult<Vec<Transaction>> {
    let first = super::store::reserve_seqs(conn, rows.len() as i64)?;
    rows.iter()
        .zip(first..)
        .map(|(row, seq)| insert_with(conn, row, &super::new_id("tx_"), seq))
        .collect()
}

/// Inserts a row with a given id and change number (bulk seeding reserves numbers at once).
pub fn insert_with(
    conn: &Connection,
    row: &NewRow<'_>,
    id: &str,
    seq: i64,
) -> ApiResult<Transaction> {
    let cp = row.counterparty.as_ref();
    conn.prepare_cached(
        "INSERT INTO transactions (id, user_id, posting_id, kind, status, amount, currency, fee,
             counterparty_kind, counterparty_id, counterparty_name, note, category, merchant_id,
             fx_rate, fx_amount, fx_currency, hold_id, failure_code, search_text, created_at, updated_at, change_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, NULL, ?19, ?20, ?20, ?21)",
    )?
    .execute(params![
        id,
        row.user_id,
        row.posting_id,
        row.kind.as_str(),
        row.status.as_str(),
        row.amount.minor,
        row.amount.currency.code(),
        row.fee,
        cp.map(|c| c.kind.as_str()),
        cp.map(|c| c.id.as_str()),
        cp.map(|c| c.name.as_str()),
        row.note,
        row.category.as_str(),
        row.merchant.map(|m| m.id),
        row.fx.as_ref().map(|f| f.rate.to_string()),
        row.fx.as_ref().map(|f| f.counter_amount.minor),
        row.fx.as_ref().map(|f| f.counter_amount.currency.code()),
        row.hold_id,
        row.search_text(),
        row.created_at,
        seq,
    ])?;
    Ok(Transaction {
        id: id.to_owned(),
        kind: row.kind,
        status: row.status,
        amount: row.amount,
        fee: Money {
            minor: row.fee,
            currency: row.amount.currency,
        },
        counterparty: row.counterparty.clone(),
        note: row.note.map(str::to_owned),
        category: row.category,
        merchant: row.merchant.map(merchant_ref),
        fx: row.fx.clone(),
        hold_id: row.hold_id.map(str::to_owned),
        failure_code: None,
        created_at: row.created_at,
        updated_at: row.created_at,
        change_seq: seq,
    })
}

pub fn merchant_ref(m: &Merchant) -> MerchantRef {
    MerchantRef {
        merchant_id: m.id.to_owned(),
        name: m.name.to_owned(),
        category: m.category,
        country: m.country.to_owned(),
    }
}

fn bad(what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("invalid {what} in transactions").into(),
    )
}

/// Renders a row selected with [`COLUMNS`].
pub fn from_row(r: &Row<'_>) -> rusqlite::Result<Transaction> {
    let currency = Currency::parse(&r.get::<_, String>(4)?).map_err(|_| bad("currency"))?;
    let money = |minor| Money { minor, currency };
    let counterparty = match (
        r.get::<_, Option<String>>(6)?,
        r.get::<_, Option<String>>(7)?,
        r.get::<_, Option<String>>(8)?,
    ) {
        (Some(kind), Some(id), Some(name)) => Some(Counterparty {
            kind: CounterpartyKind::parse(&kind).ok_or_else(|| bad("counterparty kind"))?,
            id,
            name,
        }),
        _ => None,
    };
    let fx = match (
        r.get::<_, Option<String>>(12)?,
        r.get::<_, Option<i64>>(13)?,
        r.get::<_, Option<String>>(14)?,
    ) {
        (Some(rate), Some(minor), Some(ccy)) => Some(FxDetail {
            rate: Rate::parse(&rate).map_err(|_| bad("rate"))?,
            counter_amount: Money {
                minor,
                currency: Currency::parse(&ccy).map_err(|_| bad("currency"))?,
            },
        }),
        _ => None,
    };
    Ok(Transaction {
        id: r.get(0)?,
        kind: TransactionKind::parse(&r.get::<_, String>(1)?).ok_or_else(|| bad("kind"))?,
        status: TransactionStatus::parse(&r.get::<_, String>(2)?).ok_or_else(|| bad("status"))?,
        amount: money(r.get(3)?),
        fee: money(r.get(5)?),
        counterparty,
        note: r.get(9)?,
        category: Category::parse(&r.get::<_, String>(10)?).ok_or_else(|| bad("category"))?,
        merchant: r
            .get::<_, Option<String>>(11)?
            .and_then(|id| catalog::merchant(&id))
            .map(merchant_ref),
        fx,
        hold_id: r.get(15)?,
        failure_code: r
            .get::<_, Option<String>>(16)?
            .map(|c| FailureCode::parse(&c)),
        created_at: r.get(17)?,
        updated_at: r.get(18)?,
        change_seq: r.get(19)?,
    })
}

/// The user's row `id`, if it is theirs.
pub fn get(conn: &Connection, user_id: &str, id: &str) -> ApiResult<Option<Transaction>> {
    let sql = format!("SELECT {COLUMNS} FROM transactions WHERE id = ?1 AND user_id = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id, user_id], from_row)
        .optional()?)
}

/// Moves every row of a posting to `status` (each with a new change number); returns
/// (user id, row) pairs for the live events.
pub fn set_status(
    conn: &Connection,
    posting_id: i64,
    status: TransactionStatus,
    failure: Option<FailureCode>,
    now: i64,
) -> ApiResult<Vec<(String, Transaction)>> {
    let ids: Vec<String> = conn
        .prepare_cached("SELECT id FROM transactions WHERE posting_id = ?1 ORDER BY rowid")?
        .query_map([posting_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let seq = super::store::next_seq(conn)?;
        let user_id: String = conn
            .prepare_cached(
                "UPDATE transactions SET status = ?2, failure_code = ?3, updated_at = ?4, change_seq = ?5
                 WHERE id = ?1 RETURNING user_id",
            )?
            .query_row(
                params![id, status.as_str(), failure.map(|f| f.as_str()), now, seq],
                |r| r.get(0),
            )?;
        let txn = get(conn, &user_id, &id)?
            .ok_or_else(|| crate::error::ApiError::internal("updated row not found"))?;
        out.push((user_id, txn));
    }
    Ok(out)
}
