//! Savings (理财) on the device: the savings balance per currency with its published annual
//! rate, yesterday's and the cumulative yield, and the daily yield history — all kept in the
//! cache so the savings screen works offline. Moving money in and out are outbox items
//! ([`PaymentKind::SavingsDeposit`], [`PaymentKind::SavingsWithdrawal`]): persisted with their
//! idempotency key before the first send, queued while offline, sent once.
//!
//! The cache is a mirror of the server: `savings_cache` holds the last overview (one sealed
//! row per user), `savings_yields` one sealed row per currency and day. A move's answer carries
//! the savings balance after it and updates the cached overview at once; everything else is
//! refreshed by [`refresh`]. Interest is computed by the server only (rule in
//! `docs/savings-and-paycode.md`); the device never extrapolates a yield.

use reqwest::Method;
use rusqlite::{Transaction, params};
use serde::{Deserialize, Serialize};
use upay_protocol::api::savings::{
    SavingsBalance, SavingsMoveRequest, SavingsOverview, SavingsYield, SavingsYieldPage,
};
use upay_protocol::money::{Currency, Money};

use crate::api::{NetError, decode, query_value};
use crate::core::Core;
use crate::crypto::Place;
use crate::error::{CoreError, CoreResult};
use crate::model::{Amount, PaymentKind, now_ms};
use crate::payments::PaymentOutcome;

/// Yield days fetched per refresh (about three months per currency).
const YIELD_DAYS: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SavingsAccountView {
    pub currency: String,
    /// The savings balance as the server last reported it.
    pub balance: Amount,
    /// Published annual rate as exact decimal text, e.g. `0.0185` for 1.85 %.
    pub annual_rate: String,
    /// The same rate as percent text for display, e.g. `1.85`.
    pub annual_rate_percent: String,
    /// The yield credited at the last midnight (China time).
    pub yesterday_yield: Amount,
    pub cumulative_yield: Amount,
    /// The last day (`YYYY-MM-DD`) whose interest was credited.
    pub accrued_through: Option<String>,
    pub next_accrual_at: i64,
    /// Moves into savings the server has not answered yet (queued offline or in flight).
    pub pending_in: Amount,
    /// Moves out of savings the server has not answered yet.
    pub pending_out: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SavingsView {
    pub accounts: Vec<SavingsAccountView>,
    /// The server's time of the overview.
    pub as_of: i64,
    /// When this device fetched it.
    pub fetched_at: i64,
    /// Served from the cache because the server could not be reached.
    pub from_cache: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SavingsYieldView {
    /// The China-time day the interest is for (`YYYY-MM-DD`).
    pub date: String,
    pub currency: String,
    /// The savings balance at that day's closing midnight, before the interest.
    pub balance: Amount,
    pub annual_rate: String,
    pub amount: Amount,
    /// The `interest` history entry; absent when the yield rounded down to zero.
    pub transaction_id: Option<String>,
    pub credited_at: i64,
}

#[derive(Serialize, Deserialize)]
struct CachedOverview {
    overview: SavingsOverview,
    fetched_at: i64,
}

fn overview_place<'a>(owner: &'a str, user: &'a str) -> Place<'a> {
    Place::new("savings_cache", "body", owner, user)
}

fn yield_row(currency: &str, day: &str) -> String {
    format!("{currency}/{day}")
}

fn percent_text(rate: &str) -> String {
    // `rate` is exact decimal text ("0.0185"); shifting the point two places keeps it exact.
    let (int, frac) = rate.split_once('.').unwrap_or((rate, ""));
    let mut digits: String = format!("{int}{frac:0<2}");
    let point = int.len() + 2;
    let frac_rest = digits.split_off(point);
    let int_part = digits.trim_start_matches('0');
    let int_part = if int_part.is_empty() { "0" } else { int_part };
    let frac_rest = frac_rest.trim_end_matches('0');
    if frac_rest.is_empty() {
        int_part.to_owned()
    } else {
        format!("{int_part}.{frac_rest}")
    }
}

fn read_overview(core: &Core, user: &str, owner: i64) -> CoreResult<Option<CachedOverview>> {
    core.store
        .read(|c| crate::store::owner_row(c, &core.cipher, "savings_cache", owner, user))
}

fn write_overview(
    tx: &Transaction<'_>,
    core: &Core,
    user: &str,
    owner: i64,
    cached: &CachedOverview,
) -> CoreResult<()> {
    let owner_text = owner.to_string();
    let sealed = core
        .cipher
        .seal_json(&overview_place(&owner_text, user), cached)?;
    tx.execute(
        "INSERT INTO savings_cache (owner_tag, fetched_at, body) VALUES (?1, ?2, ?3)
         ON CONFLICT(owner_tag) DO UPDATE SET fetched_at = excluded.fetched_at,
             body = excluded.body",
        params![owner, cached.fetched_at, sealed],
    )?;
    Ok(())
}

/// Takes the savings balance a move answered with into the cached overview (in the same
/// transaction that records the move's outcome).
pub(crate) fn apply_move_answer(
    tx: &Transaction<'_>,
    core: &Core,
    user: &str,
    owner: i64,
    balance: &SavingsBalance,
) -> CoreResult<()> {
    let now = now_ms();
    let mut cached =
        crate::store::owner_row::<CachedOverview>(tx, &core.cipher, "savings_cache", owner, user)?
            .unwrap_or(CachedOverview {
                overview: SavingsOverview {
                    accounts: Vec::new(),
                    as_of: now,
                },
                fetched_at: now,
            });
    match cached
        .overview
        .accounts
        .iter_mut()
        .find(|a| a.currency == balance.currency)
    {
        Some(a) => *a = balance.clone(),
        None => cached.overview.accounts.push(balance.clone()),
    }
    write_overview(tx, core, user, owner, &cached)
}

/// Takes a savings balance pushed by live events into the cached overview.
pub(crate) fn apply_live_balance(core: &Core, balance: &SavingsBalance) -> CoreResult<()> {
    let (user, owner) = core.user()?;
    core.store
        .write(|tx| apply_move_answer(tx, core, &user, owner, balance))
}

fn write_yields(
    tx: &Transaction<'_>,
    core: &Core,
    user: &str,
    owner: i64,
    items: &[SavingsYield],
) -> CoreResult<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO savings_yields (owner_tag, currency, day, credited_at, body)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(owner_tag, currency, day) DO UPDATE SET credited_at = excluded.credited_at,
             body = excluded.body",
    )?;
    for y in items {
        let row = yield_row(y.currency.code(), &y.date);
        let sealed = core
            .cipher
            .seal_json(&Place::new("savings_yields", "body", &row, user), y)?;
        stmt.execute(params![
            owner,
            y.currency.code(),
            y.date,
            y.credited_at,
            sealed
        ])?;
    }
    Ok(())
}

/// Fetches the overview and the recent yield history, caches both, and answers with them.
/// Without network it answers from the cache (`from_cache`); with nothing cached the network
/// error is returned.
pub async fn refresh(core: &Core) -> CoreResult<SavingsView> {
    core.ensure_unlocked()?;
    let (user, owner) = core.user()?;
    match fetch(core).await {
        Ok((overview, yields)) => {
            let cached = CachedOverview {
                overview,
                fetched_at: now_ms(),
            };
            core.store.write(|tx| {
                write_overview(tx, core, &user, owner, &cached)?;
                write_yields(tx, core, &user, owner, &yields)
            })?;
            view(core, owner, cached, false)
        }
        Err(e) => match read_overview(core, &user, owner)? {
            Some(cached) if crate::notices::unavailable(&e) => view(core, owner, cached, true),
            _ => Err(e.into_core(core.zh())),
        },
    }
}

async fn fetch(core: &Core) -> Result<(SavingsOverview, Vec<SavingsYield>), NetError> {
    let answer = core
        .send_authed(Method::GET, "/v1/savings", None, None, core.interactive())
        .await?;
    let overview: SavingsOverview = decode(&answer)?;
    let mut yields = Vec::new();
    let mut cursor: Option<String> = None;
    while yields.len() < (YIELD_DAYS as usize) * overview.accounts.len().max(1) {
        let mut path = "/v1/savings/yields?limit=100".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", query_value(c)));
        }
        let answer = core
            .send_authed(Method::GET, &path, None, None, core.interactive())
            .await?;
        let page: SavingsYieldPage = decode(&answer)?;
        let next = next_page(cursor.as_deref(), !page.items.is_empty(), page.next_cursor);
        yields.extend(page.items);
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok((overview, yields))
}

/// The cursor of the page after one fetched with `cursor`, if there is one worth asking for: an
/// empty page or a cursor that does not move would never end.
fn next_page(cursor: Option<&str>, got_items: bool, next: Option<String>) -> Option<String> {
    next.filter(|next| got_items && cursor != Some(next.as_str()))
}

/// The cached overview, with no network; `None` before the first [`refresh`].
pub fn cached(core: &Core) -> CoreResult<Option<SavingsView>> {
    let (user, owner) = core.unlocked_user()?;
    match read_overview(core, &user, owner)? {
        Some(c) => view(core, owner, c, true).map(Some),
        None => Ok(None),
    }
}

fn view(
    core: &Core,
    owner: i64,
    cached: CachedOverview,
    from_cache: bool,
) -> CoreResult<SavingsView> {
    let pending = pending_moves(core, owner)?;
    let pending_of = |kind: PaymentKind, currency: &str| -> i64 {
        pending
            .iter()
            .filter(|(k, c, _)| *k == kind && c == currency)
            .map(|(_, _, a)| *a)
            .sum()
    };
    let accounts = cached
        .overview
        .accounts
        .iter()
        .map(|a| {
            let code = a.currency.code();
            let rate = a.annual_rate.to_string();
            SavingsAccountView {
                currency: code.to_owned(),
                balance: a.balance.into(),
                annual_rate_percent: percent_text(&rate),
                annual_rate: rate,
                yesterday_yield: a.yesterday_yield.into(),
                cumulative_yield: a.cumulative_yield.into(),
                accrued_through: a.accrued_through.clone(),
                next_accrual_at: a.next_accrual_at,
                pending_in: Amount {
                    minor: pending_of(PaymentKind::SavingsDeposit, code),
                    currency: code.to_owned(),
                },
                pending_out: Amount {
                    minor: pending_of(PaymentKind::SavingsWithdrawal, code),
                    currency: code.to_owned(),
                },
            }
        })
        .collect();
    Ok(SavingsView {
        accounts,
        as_of: cached.overview.as_of,
        fetched_at: cached.fetched_at,
        from_cache,
    })
}

/// Savings moves the server has not answered: (kind, currency, amount).
fn pending_moves(core: &Core, owner: i64) -> CoreResult<Vec<(PaymentKind, String, i64)>> {
    core.store.read(|c| {
        let mut stmt = c.prepare_cached(
            "SELECT kind, currency, SUM(amount) FROM outbox
             WHERE owner_tag = ?1 AND kind IN ('savings_deposit', 'savings_withdrawal')
               AND state IN ('queued', 'sending', 'unknown')
             GROUP BY kind, currency",
        )?;
        let rows = stmt
            .query_map([owner], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, c, a)| PaymentKind::parse(&k).map(|k| (k, c, a)))
            .collect())
    })
}

/// The cached daily yields, newest first; `currency` narrows to one.
pub fn yields(
    core: &Core,
    currency: Option<String>,
    limit: u32,
) -> CoreResult<Vec<SavingsYieldView>> {
    let (user, owner) = core.unlocked_user()?;
    let zh = core.zh();
    let currency = match currency {
        Some(c) => Some(
            Currency::parse(&c)
                .map_err(|_| CoreError::invalid("currency").localized(zh))?
                .code()
                .to_owned(),
        ),
        None => None,
    };
    let rows: Vec<(String, String, Vec<u8>)> = core.store.read(|c| {
        let mut stmt = c.prepare_cached(
            "SELECT currency, day, body FROM savings_yields
             WHERE owner_tag = ?1 AND (?2 IS NULL OR currency = ?2)
             ORDER BY day DESC, currency LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![owner, currency, limit.clamp(1, 1000)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    })?;
    rows.into_iter()
        .map(|(currency, day, body)| {
            let row = yield_row(&currency, &day);
            let y: SavingsYield = core
                .cipher
                .open_json(&Place::new("savings_yields", "body", &row, &user), &body)?;
            Ok(SavingsYieldView {
                date: y.date,
                currency: y.currency.code().to_owned(),
                balance: y.balance.into(),
                annual_rate: y.annual_rate.to_string(),
                amount: y.amount.into(),
                transaction_id: y.transaction_id,
                credited_at: y.credited_at,
            })
        })
        .collect()
}

/// Moves `amount` from the wallet into savings (queued when offline, sent once).
pub async fn deposit(core: &Core, amount: Amount) -> CoreResult<PaymentOutcome> {
    savings_move(core, PaymentKind::SavingsDeposit, amount).await
}

/// Moves `amount` from savings back to the wallet (queued when offline, sent once).
pub async fn withdraw(core: &Core, amount: Amount) -> CoreResult<PaymentOutcome> {
    savings_move(core, PaymentKind::SavingsWithdrawal, amount).await
}

async fn savings_move(
    core: &Core,
    kind: PaymentKind,
    amount: Amount,
) -> CoreResult<PaymentOutcome> {
    let zh = core.zh();
    let amount: Money = amount.to_positive("amount").map_err(|e| e.localized(zh))?;
    let label = match (kind, zh) {
        (PaymentKind::SavingsDeposit, true) => "转入理财",
        (PaymentKind::SavingsDeposit, false) => "Move to savings",
        (_, true) => "转出理财",
        (_, false) => "Move from savings",
    };
    let request = serde_json::to_value(SavingsMoveRequest { amount }).unwrap_or_default();
    crate::payments::submit_own_move(core, kind, request, amount, label.to_owned()).await
}

#[cfg(test)]
mod tests {
    use super::{next_page, percent_text};

    #[test]
    fn yield_pages_end_on_an_empty_page_or_a_cursor_that_does_not_move() {
        let next = |cursor: Option<&str>, got: bool, next: Option<&str>| {
            next_page(cursor, got, next.map(str::to_owned))
        };
        assert_eq!(next(None, true, Some("c1")).as_deref(), Some("c1"));
        assert_eq!(next(Some("c1"), true, Some("c2")).as_deref(), Some("c2"));
        assert_eq!(next(Some("c1"), true, None), None);
        assert_eq!(next(Some("c1"), false, Some("c2")), None);
        assert_eq!(next(Some("c1"), true, Some("c1")), None);
    }

    #[test]
    fn percent_text_is_exact() {
        assert_eq!(percent_text("0.0185"), "1.85");
        assert_eq!(percent_text("0.02"), "2");
        assert_eq!(percent_text("0.125"), "12.5");
        assert_eq!(percent_text("1"), "100");
        assert_eq!(percent_text("0.00005"), "0.005");
    }
}
