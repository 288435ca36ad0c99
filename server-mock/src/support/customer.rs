//! What an agent sees about a customer: account state, balances, recent transactions and
//! tickets. Reads the ledger's tables directly: support is a read-only observer of money.

use rusqlite::Connection;
use upay_protocol::api::support::{CustomerBalance, CustomerContext, CustomerTransaction};

use super::store;
use crate::error::ApiResult;

/// How many transactions the console shows.
const RECENT: i64 = 10;

pub fn context(conn: &Connection, user_id: &str) -> ApiResult<CustomerContext> {
    let user = crate::auth::store::require_user(conn, user_id)?;
    let profile = crate::auth::store::profile(conn, &user)?;
    let balances = crate::ledger::store::balances(conn, user_id)?
        .into_iter()
        .map(|b| CustomerBalance {
            currency: b.currency.code().to_owned(),
            available_minor: b.available.minor,
            pending_minor: b.pending_out.minor,
        })
        .collect();
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, status, amount, currency, counterparty_name, failure_code, created_at
         FROM transactions WHERE user_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2",
    )?;
    let recent_transactions = stmt
        .query_map(rusqlite::params![user_id, RECENT], |r| {
            Ok(CustomerTransaction {
                id: r.get(0)?,
                kind: r.get(1)?,
                status: r.get(2)?,
                amount_minor: r.get(3)?,
                currency: r.get(4)?,
                counterparty: r.get(5)?,
                failure_code: r.get(6)?,
                created_at: r.get(7)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(CustomerContext {
        user_id: user.id.clone(),
        name: user.full_name.clone(),
        phone_masked: profile.phone_masked,
        account_status: profile.status,
        member_since: user.created_at,
        balances,
        recent_transactions,
        tickets: store::user_tickets(conn, user_id)?,
    })
}
