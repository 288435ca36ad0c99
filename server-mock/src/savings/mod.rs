//! Savings (理财): a savings balance per currency beside the wallet, earning a published annual
//! rate credited daily at midnight China time (by the mock clock).
//!
//! - `GET /v1/savings`: every product with balance, rate, yesterday's and cumulative yield.
//! - `POST /v1/savings/deposits`, `POST /v1/savings/withdrawals`: wallet ⇄ savings, as balanced
//!   ledger postings, exactly once per `Idempotency-Key`; neither side ever goes negative.
//! - `GET /v1/savings/yields`: the daily yield history, newest first, in cursor pages.
//! - Control: `GET/PUT /__mock/savings/rates`.
//!
//! Interest is credited by `store::accrue`, run when the clock is advanced (through
//! `ledger::run_due`), lazily before reads, and before every change of a savings balance or
//! rate. Moving money between one's own balances is not screened by the risk engine and needs
//! no confirmation: no money leaves the user's control. A frozen account cannot move either.

pub mod store;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use upay_protocol::api::money::{TransactionKind, TransactionStatus};
use upay_protocol::api::savings::{
    SavingsMove, SavingsMoveRequest, SavingsOverview, SavingsYieldPage, SavingsYieldQuery,
};
use upay_protocol::error::{ErrorCode, Problem};
use upay_protocol::money::{Currency, MAX_MINOR, Money};
use upay_protocol::rate::Rate;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::control::MagicEntry;
use crate::error::{ApiError, ApiResult};
use crate::events::{LiveEvent, ServerEvent};
use crate::extract::{ApiJson, ApiQuery, Sb};
use crate::idempotency::{self, Done, IdempotencyKey, OpResult};
use crate::ledger::records::{self, NewRow};
use crate::ledger::store::{self as ledger, AccountKind, Leg, Phase};
use crate::state::{AppState, Sandbox};

pub use store::SCHEMA;

const DEFAULT_YIELD_PAGE: u32 = 30;
const MAX_YIELD_PAGE: u32 = 100;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(deposit))
        .routes(routes!(withdraw))
        .routes(routes!(yield_history))
}

pub fn control_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_rates, put_rate))
}

/// Whether a midnight has passed that some account has not been credited for.
pub fn any_due(conn: &Connection, now: i64) -> ApiResult<bool> {
    store::any_due(conn, now)
}

/// Credits every passed midnight of every savings account, then publishes the events.
pub fn run_due(sb: &Sandbox) -> ApiResult<()> {
    let now = sb.clock.now_ms();
    let events = sb.write(|tx| {
        let mut events = Vec::new();
        store::accrue_all(tx, now, &mut events)?;
        Ok(events)
    })?;
    crate::ledger::holds::publish(sb, events);
    Ok(())
}

/// `GET /v1/savings`: every savings product (held or not) with its balance, published annual
/// rate, yesterday's yield and the cumulative yield.
#[utoipa::path(get, path = "/v1/savings", tag = "money", security(("bearer" = [])),
    responses((status = 200, body = SavingsOverview), (status = 401, body = Problem)))]
async fn overview(user: AuthUser) -> ApiResult<Json<SavingsOverview>> {
    let now = user.sandbox.clock.now_ms();
    let accounts = crate::ledger::read_settled(&user.sandbox, |c| {
        store::PRODUCTS
            .iter()
            .map(|(currency, _)| store::view(c, &user.user_id, *currency, now))
            .collect::<ApiResult<Vec<_>>>()
    })?;
    Ok(Json(SavingsOverview {
        accounts,
        as_of: now,
    }))
}

/// Which way a move goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Wallet → savings.
    In,
    /// Savings → wallet.
    Out,
}

/// `POST /v1/savings/deposits`: moves money from the wallet into savings at once. It earns
/// interest from the next midnight (China time) on.
#[utoipa::path(post, path = "/v1/savings/deposits", tag = "money", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    request_body = SavingsMoveRequest,
    responses((status = 201, body = SavingsMove), (status = 400, body = Problem, description = "idempotency_key_missing"),
        (status = 401, body = Problem),
        (status = 409, body = Problem, description = "idempotency_in_flight"),
        (status = 422, body = Problem, description = "insufficient_funds, invalid_amount, unsupported_currency, limit_exceeded, idempotency_key_reused"),
        (status = 423, body = Problem, description = "account_frozen")))]
async fn deposit(
    user: AuthUser,
    key: IdempotencyKey,
    ApiJson(req): ApiJson<SavingsMoveRequest>,
) -> Response {
    move_money(&user, &key, &req, Direction::In)
}

/// `POST /v1/savings/withdrawals`: moves money from savings back into the wallet at once,
/// any time. The money withdrawn earns nothing for the day it leaves.
#[utoipa::path(post, path = "/v1/savings/withdrawals", tag = "money", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    request_body = SavingsMoveRequest,
    responses((status = 201, body = SavingsMove), (status = 400, body = Problem, description = "idempotency_key_missing"),
        (status = 401, body = Problem),
        (status = 409, body = Problem, description = "idempotency_in_flight"),
        (status = 422, body = Problem, description = "savings_insufficient, invalid_amount, unsupported_currency, limit_exceeded, idempotency_key_reused"),
        (status = 423, body = Problem, description = "account_frozen")))]
async fn withdraw(
    user: AuthUser,
    key: IdempotencyKey,
    ApiJson(req): ApiJson<SavingsMoveRequest>,
) -> Response {
    move_money(&user, &key, &req, Direction::Out)
}

fn move_money(
    user: &AuthUser,
    key: &IdempotencyKey,
    req: &SavingsMoveRequest,
    direction: Direction,
) -> Response {
    if let Err(e) = crate::ledger::funding::check_amount("amount", req.amount) {
        return e.into_response();
    }
    if !store::is_product(req.amount.currency) {
        return ApiError::new(ErrorCode::UnsupportedCurrency)
            .detail("there is no savings product in this currency")
            .into_response();
    }
    let route = match direction {
        Direction::In => "savings_deposits",
        Direction::Out => "savings_withdrawals",
    };
    idempotency::execute(user, key, route, req, |tx, events| {
        move_op(tx, user, req.amount, direction, events)
    })
}

fn move_op(
    tx: &Connection,
    user: &AuthUser,
    amount: Money,
    direction: Direction,
    events: &mut Vec<ServerEvent>,
) -> OpResult<SavingsMove> {
    user.require_active()?;
    let now = user.sandbox.clock.now_ms();
    let user_id = user.user_id.as_str();
    let currency = amount.currency;
    // Midnights that passed are credited on the balance they saw, before this move changes it.
    store::accrue(tx, user_id, currency, now, events)?;
    let saved = store::balance(tx, user_id, currency)?;
    match direction {
        Direction::In => {
            crate::ledger::ops::require_funds(tx, user_id, amount)?;
            if saved > MAX_MINOR - amount.minor {
                return Err(ApiError::new(ErrorCode::LimitExceeded)
                    .detail("the savings balance would exceed the largest amount it holds"));
            }
            store::open(tx, user_id, currency, now)?;
        }
        Direction::Out => {
            if saved < amount.minor {
                return Err(ErrorCode::SavingsInsufficient.into());
            }
        }
    }
    let savings_leg = |m: Money| Leg {
        owner: user_id,
        kind: AccountKind::Savings,
        amount: m,
    };
    let (posting_kind, kind, legs, wallet_effect) = match direction {
        Direction::In => (
            "savings_deposit",
            TransactionKind::SavingsDeposit,
            [Leg::wallet(user_id, amount.negate()), savings_leg(amount)],
            amount.negate(),
        ),
        Direction::Out => (
            "savings_withdrawal",
            TransactionKind::SavingsWithdrawal,
            [savings_leg(amount.negate()), Leg::wallet(user_id, amount)],
            amount,
        ),
    };
    let (posting_id, changes) = ledger::record(tx, posting_kind, &legs, Phase::Posted, now)?;
    let txn = records::insert(
        tx,
        &NewRow {
            user_id,
            posting_id,
            kind,
            status: TransactionStatus::Settled,
            amount: wallet_effect,
            fee: 0,
            counterparty: Some(store::counterparty()),
            note: None,
            category: upay_protocol::api::money::Category::Transfer,
            merchant: None,
            fx: None,
            hold_id: None,
            created_at: now,
        },
    )?;
    crate::ledger::ops::push_changes(events, changes, &[(user_id.to_owned(), txn.clone())], true);
    let savings = store::view(tx, user_id, currency, now)?;
    events.push(ServerEvent {
        user_id: user_id.to_owned(),
        event: LiveEvent::SavingsChanged {
            savings: savings.clone(),
        },
    });
    Ok(Ok(Done {
        status: StatusCode::CREATED,
        transaction_id: Some(txn.id.clone()),
        body: SavingsMove {
            transaction: txn,
            savings,
        },
    }))
}

fn encode_cursor(day: i64, currency: Currency) -> String {
    URL_SAFE_NO_PAD.encode(format!("y1:{day}:{currency}"))
}

fn decode_cursor(text: &str) -> ApiResult<(i64, Currency)> {
    let bad = || ApiError::field("cursor", "invalid", "is not a cursor of this list");
    let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = raw.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("y1"), Some(day), Some(ccy), None) => Ok((
            day.parse().map_err(|_| bad())?,
            Currency::parse(ccy).map_err(|_| bad())?,
        )),
        _ => Err(bad()),
    }
}

/// `GET /v1/savings/yields`: the daily yield history, newest day first.
#[utoipa::path(get, path = "/v1/savings/yields", tag = "money", security(("bearer" = [])),
    params(SavingsYieldQuery),
    responses((status = 200, body = SavingsYieldPage), (status = 401, body = Problem),
        (status = 422, body = Problem, description = "validation_failed (cursor, limit)")))]
async fn yield_history(
    user: AuthUser,
    ApiQuery(q): ApiQuery<SavingsYieldQuery>,
) -> ApiResult<Json<SavingsYieldPage>> {
    let limit = q.limit.unwrap_or(DEFAULT_YIELD_PAGE);
    if !(1..=MAX_YIELD_PAGE).contains(&limit) {
        return Err(ApiError::field("limit", "out_of_range", "must be 1 to 100"));
    }
    let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut items = crate::ledger::read_settled(&user.sandbox, |c| {
        store::yields(c, &user.user_id, q.currency, after, limit + 1)
    })?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|y| {
            let day = store::china_day(y.credited_at) - 1;
            encode_cursor(day, y.currency)
        })
    } else {
        None
    };
    Ok(Json(SavingsYieldPage { items, next_cursor }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SavingsRate {
    pub currency: Currency,
    /// Exact decimal, e.g. `"0.0185"` for 1.85 % a year.
    #[schema(value_type = String, example = "0.0185")]
    pub annual_rate: Rate,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SavingsRateList {
    pub rates: Vec<SavingsRate>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetSavingsRate {
    pub currency: Currency,
    /// Exact decimal, greater than 0 and at most 1 (100 % a year).
    #[schema(value_type = String, example = "0.0185")]
    pub annual_rate: Rate,
}

fn rate_list(conn: &Connection) -> ApiResult<SavingsRateList> {
    let rates = store::PRODUCTS
        .iter()
        .map(|(currency, _)| {
            Ok(SavingsRate {
                currency: *currency,
                annual_rate: store::rate(conn, *currency)?,
            })
        })
        .collect::<ApiResult<_>>()?;
    Ok(SavingsRateList { rates })
}

/// `GET /__mock/savings/rates`: the published annual rates.
#[utoipa::path(get, path = "/__mock/savings/rates", tag = "control",
    responses((status = 200, body = SavingsRateList)))]
async fn list_rates(Sb(sb): Sb) -> ApiResult<Json<SavingsRateList>> {
    sb.read(rate_list).map(Json)
}

/// `PUT /__mock/savings/rates`: publishes a new annual rate. Midnights already passed keep the
/// rate they were credited at; the new rate applies from the next midnight on.
#[utoipa::path(put, path = "/__mock/savings/rates", tag = "control", request_body = SetSavingsRate,
    responses((status = 200, body = SavingsRateList), (status = 422, body = Problem)))]
async fn put_rate(
    Sb(sb): Sb,
    ApiJson(req): ApiJson<SetSavingsRate>,
) -> ApiResult<Json<SavingsRateList>> {
    if !store::is_product(req.currency) {
        return Err(ApiError::new(ErrorCode::UnsupportedCurrency)
            .detail("there is no savings product in this currency"));
    }
    let max = Rate::parse(store::MAX_RATE).map_err(ApiError::internal)?;
    let scale = req.annual_rate.scale().max(max.scale());
    let at = |r: Rate| u128::from(r.mantissa()) * 10_u128.pow(u32::from(scale - r.scale()));
    if at(req.annual_rate) > at(max) {
        return Err(ApiError::field(
            "annual_rate",
            "out_of_range",
            "must be at most 1 (100 % a year)",
        ));
    }
    let (list, events) = sb.write(|tx| {
        // Read inside the write: a midnight that passed while waiting for the lock is credited
        // at the old rate before the new one takes effect.
        let now = sb.clock.now_ms();
        let mut events = Vec::new();
        store::accrue_all(tx, now, &mut events)?;
        store::set_rate(tx, req.currency, req.annual_rate, now)?;
        Ok((rate_list(tx)?, events))
    })?;
    crate::ledger::holds::publish(&sb, events);
    Ok(Json(list))
}

fn entry(input: &str, value: &str, effect: &str) -> MagicEntry {
    MagicEntry {
        input: input.to_owned(),
        value: value.to_owned(),
        effect: effect.to_owned(),
    }
}

/// The savings entries of `GET /__mock/magic`.
pub fn magic_values() -> Vec<MagicEntry> {
    let mut out: Vec<MagicEntry> = store::PRODUCTS
        .iter()
        .map(|(c, r)| {
            entry(
                "savings rate",
                &format!("{c} {r}"),
                "published annual rate (change it with PUT /__mock/savings/rates)",
            )
        })
        .collect();
    out.push(entry(
        "clock",
        "POST /__mock/clock/advance {\"seconds\": 86400}",
        "every savings balance earns one day's interest (floor(balance × rate / 365)) at each midnight, China time",
    ));
    out
}
