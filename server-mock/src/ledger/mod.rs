//! The double-entry ledger and the money endpoints.
//!
//! - `store`: accounts, postings and legs — the only code that changes balances.
//! - `records`: the user-facing history rows and their change numbers.
//! - `ops`: what every money operation does around its posting (checks, risk, confirmation,
//!   holds, events); `idempotency` (crate root) runs each one exactly once.
//! - one module per feature: `transfers`, `merchants`, `funding` (top-ups, withdrawals),
//!   `fx`, `cards`, `history`, `holds`; `catalog` holds the reference data.
//! - `control` (audit, seeding, review) and `demo` serve the mock's own needs.
//!
//! Invariants (checked by `GET /__mock/audit`): every posting's legs sum to zero per currency;
//! hence all accounts of a currency sum to zero; no wallet's available money is below zero;
//! every account's totals equal the sum of its legs; a history row's status matches its
//! posting's (pending ↔ pending, settled ↔ posted, failed ↔ voided).

pub mod cards;
pub mod catalog;
pub mod control;
pub mod demo;
pub mod funding;
pub mod fx;
pub mod history;
pub mod holds;
pub mod merchants;
pub mod ops;
pub mod records;
pub mod store;
pub mod transfers;

use rusqlite::Connection;
use upay_protocol::money::Currency;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::state::{AppState, Sandbox};

pub use demo::seed_demo;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(history::balances))
        .routes(routes!(history::list))
        .routes(routes!(history::detail))
        .routes(routes!(history::countries))
        .routes(routes!(history::currencies))
        .routes(routes!(transfers::transfer))
        .routes(routes!(transfers::lookup))
        .routes(routes!(merchants::check))
        .routes(routes!(merchants::pay))
        .routes(routes!(funding::top_up))
        .routes(routes!(funding::withdraw, funding::list_withdrawals))
        .routes(routes!(funding::get_withdrawal))
        .routes(routes!(cards::link, cards::list_cards))
        .routes(routes!(cards::remove))
        .routes(routes!(cards::make_default))
        .routes(routes!(fx::quote))
        .routes(routes!(fx::get_quote))
        .routes(routes!(fx::convert))
        .merge(crate::sca::routes())
        .merge(crate::risk::routes())
        .merge(crate::sync::routes())
}

pub fn control_routes() -> OpenApiRouter<AppState> {
    control::routes()
}

/// Opens the wallet accounts of a new user (CNY; other currencies open on first credit).
pub fn open_accounts(conn: &Connection, user_id: &str, now: i64) -> ApiResult<()> {
    store::ensure_account(
        conn,
        user_id,
        store::AccountKind::Wallet,
        Currency::CNY,
        now,
    )
}

/// Runs what the clock made due: withdrawal settlement, then savings interest.
pub fn run_due(sb: &Sandbox) -> ApiResult<()> {
    funding::run_due(sb)?;
    crate::savings::run_due(sb)
}

/// Reads with whatever became due settled first, so a client sees the same state whether or
/// not anyone advanced the clock through the control API. The common case (nothing due) takes
/// the sandbox's lock once.
pub fn read_settled<T>(sb: &Sandbox, f: impl Fn(&Connection) -> ApiResult<T>) -> ApiResult<T> {
    let now = sb.clock.now_ms();
    let (due, value) = sb.read(|c| {
        let due = funding::any_due(c, now)? || crate::savings::any_due(c, now)?;
        Ok((due, f(c)?))
    })?;
    if !due {
        return Ok(value);
    }
    run_due(sb)?;
    sb.read(f)
}

pub fn magic_values() -> Vec<crate::control::MagicEntry> {
    control::magic_values()
}

/// A new random id: `prefix` + 24 hex digits (96 bits), unguessable across users.
pub fn new_id(prefix: &str) -> String {
    let bits: u128 = rand::random();
    format!("{prefix}{:024x}", bits >> 32)
}

/// Whether the current request asked for Chinese.
pub fn zh() -> bool {
    crate::context::RequestContext::current().is_some_and(|c| c.zh)
}
