//! Top-ups from a linked card and withdrawals to one. A top-up settles at once. A withdrawal
//! reserves the money (a pending posting wallet → withdrawal clearing + fees) and settles by the
//! mock clock at its expected arrival time: posted and passed on to the card network, or voided
//! when the bank refuses it (amounts ending in .13, the magic card, `withdrawal=fail`).

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use rusqlite::{Connection, OptionalExtension, params};
use upay_protocol::api::money::{
    Category, Counterparty, CounterpartyKind, FailureCode, ScaOperation, TopUpRequest, Transaction,
    TransactionKind, TransactionStatus, Withdrawal, WithdrawalList, WithdrawalRequest,
};
use upay_protocol::error::{ErrorCode, Problem};
use upay_protocol::money::Money;
use upay_protocol::rate::{Rounding, fee_bps};

use super::cards::{self, Behavior};
use super::ops::{self, OpCtx, Screen};
use super::records::{self, NewRow};
use super::store::{self, AccountKind, Leg, Phase};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::events::ServerEvent;
use crate::extract::ApiJson;
use crate::faults::Scenario;
use crate::idempotency::{self, Done, IdempotencyKey, OpResult};
use crate::state::Sandbox;

/// Withdrawals arrive two hours after they are made (mock clock).
pub const WITHDRAWAL_DELAY_MS: i64 = 2 * 3600 * 1000;
/// 0.1%, rounded up: at least one minor unit.
pub const WITHDRAWAL_FEE_BPS: u32 = 10;
/// `due_at` of a withdrawal held for review: never due until released.
const NEVER: i64 = i64::MAX;

/// Checks an amount the user typed: positive and in a currency the wallet holds.
pub fn check_amount(field: &str, amount: Money) -> ApiResult<()> {
    if amount.minor <= 0 {
        let mut e = ApiError::new(ErrorCode::InvalidAmount);
        e.errors.push(upay_protocol::error::FieldError {
            field: field.to_owned(),
            code: "not_positive".to_owned(),
            message: "must be greater than zero".to_owned(),
        });
        return Err(e);
    }
    if !super::catalog::wallet_supported(amount.currency) {
        return Err(ErrorCode::UnsupportedCurrency.into());
    }
    Ok(())
}

fn card_party(card: &cards::CardRow) -> Counterparty {
    Counterparty {
        kind: CounterpartyKind::Card,
        id: card.card.id.clone(),
        name: card.label(),
    }
}

/// `POST /v1/top-ups`: moves money from a linked card into the wallet at once.
#[utoipa::path(post, path = "/v1/top-ups", tag = "money", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    request_body = TopUpRequest,
    responses((status = 201, body = Transaction), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 402, body = Problem, description = "card_declined"),
        (status = 403, body = Problem, description = "sca_required, sca_invalid, risk_blocked"),
        (status = 404, body = Problem, description = "card_not_found"),
        (status = 409, body = Problem, description = "idempotency_in_flight, device_key_missing"),
        (status = 422, body = Problem), (status = 423, body = Problem, description = "account_frozen")))]
pub async fn top_up(
    user: AuthUser,
    key: IdempotencyKey,
    scenario: Scenario,
    ApiJson(req): ApiJson<TopUpRequest>,
) -> Response {
    if let Err(e) = check_amount("amount", req.amount) {
        return axum::response::IntoResponse::into_response(e);
    }
    idempotency::execute(&user, &key, "top_ups", &req, |tx, events| {
        let ctx = OpCtx::new(&user, &key.0, &scenario);
        top_up_op(tx, &ctx, &scenario, &req, events)
    })
}

fn top_up_op(
    tx: &Connection,
    ctx: &OpCtx<'_>,
    scenario: &Scenario,
    req: &TopUpRequest,
    events: &mut Vec<ServerEvent>,
) -> OpResult<Transaction> {
    ops::require_active(ctx)?;
    let card = cards::find(tx, ctx.user_id(), req.card_id.as_deref())?;
    if card.behavior == Behavior::DeclineTopUps || scenario.card.as_deref() == Some("declined") {
        return Err(ErrorCode::CardDeclined.into());
    }
    let cleared = ops::screen(
        tx,
        ctx,
        &Screen {
            amount: req.amount,
            debit: req.amount,
            outgoing: false,
            new_payee_check: None,
            foreign: crate::risk::is_foreign(req.amount),
            operation: ScaOperation::TopUp,
            sca_amount: req.amount,
            sca_payee: &card.card.id,
            proof: req.sca.as_ref(),
        },
        events,
    )?;
    let (posting_id, changes) = store::record(
        tx,
        "top_up",
        &[
            Leg::system(AccountKind::CardNetwork, req.amount.negate()),
            Leg::wallet(ctx.user_id(), req.amount),
        ],
        cleared.phase(),
        ctx.now,
    )?;
    let txn = records::insert(
        tx,
        &NewRow {
            user_id: ctx.user_id(),
            posting_id,
            kind: TransactionKind::TopUp,
            status: cleared.status(),
            amount: req.amount,
            fee: 0,
            counterparty: Some(card_party(&card)),
            note: None,
            category: Category::TopUp,
            merchant: None,
            fx: None,
            hold_id: cleared.hold_id.as_deref(),
            created_at: ctx.now,
        },
    )?;
    let created = [(ctx.user_id().to_owned(), txn.clone())];
    ops::finish(tx, ctx, &cleared, posting_id, &created, changes, events)?;
    Ok(Ok(Done {
        status: StatusCode::CREATED,
        transaction_id: Some(txn.id.clone()),
        body: txn,
    }))
}

/// `POST /v1/withdrawals`: sends money from the wallet to a linked card. Answers with the
/// pending withdrawal and its expected arrival; it settles or fails by the mock clock.
#[utoipa::path(post, path = "/v1/withdrawals", tag = "money", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    request_body = WithdrawalRequest,
    responses((status = 201, body = Withdrawal), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "sca_required, sca_invalid, risk_blocked"),
        (status = 404, body = Problem, description = "card_not_found"),
        (status = 409, body = Problem, description = "idempotency_in_flight, device_key_missing"),
        (status = 422, body = Problem, description = "insufficient_funds, limit_exceeded, ..."),
        (status = 423, body = Problem, description = "account_frozen")))]
pub async fn withdraw(
    user: AuthUser,
    key: IdempotencyKey,
    scenario: Scenario,
    ApiJson(req): ApiJson<WithdrawalRequest>,
) -> Response {
    if let Err(e) = check_amount("amount", req.amount) {
        return axum::response::IntoResponse::into_response(e);
    }
    idempotency::execute(&user, &key, "withdrawals", &req, |tx, events| {
        let ctx = OpCtx::new(&user, &key.0, &scenario);
        withdraw_op(tx, &ctx, &scenario, &req, events)
    })
}

/// The withdrawal's fee: 0.1% rounded up.
pub fn withdrawal_fee(amount: Money) -> ApiResult<Money> {
    fee_bps(amount, WITHDRAWAL_FEE_BPS, Rounding::Up).map_err(|_| ErrorCode::InvalidAmount.into())
}

/// Whether the bank will refuse this withdrawal at settlement (magic values).
fn will_fail(amount: Money, card: &cards::CardRow, scenario: &Scenario) -> bool {
    scenario.withdrawal.as_deref() == Some("fail")
        || card.behavior == Behavior::FailWithdrawals
        || (amount.currency.exponent() == 2 && amount.minor % 100 == 13)
}

fn withdraw_op(
    tx: &Connection,
    ctx: &OpCtx<'_>,
    scenario: &Scenario,
    req: &WithdrawalRequest,
    events: &mut Vec<ServerEvent>,
) -> OpResult<Withdrawal> {
    ops::require_active(ctx)?;
    let card = cards::find(tx, ctx.user_id(), req.card_id.as_deref())?;
    let fee = withdrawal_fee(req.amount)?;
    let debit = req
        .amount
        .checked_add(fee)
        .map_err(|_| ApiError::new(ErrorCode::InvalidAmount))?;
    ops::require_funds(tx, ctx.user_id(), debit)?;
    let cleared = ops::screen(
        tx,
        ctx,
        &Screen {
            amount: req.amount,
            debit,
            outgoing: true,
            new_payee_check: None,
            foreign: crate::risk::is_foreign(req.amount),
            operation: ScaOperation::Withdrawal,
            sca_amount: req.amount,
            sca_payee: &card.card.id,
            proof: req.sca.as_ref(),
        },
        events,
    )?;
    let mut legs = vec![
        Leg::wallet(ctx.user_id(), debit.negate()),
        Leg::system(AccountKind::WithdrawalClearing, req.amount),
    ];
    if fee.minor > 0 {
        legs.push(Leg::system(AccountKind::Fees, fee));
    }
    // Pending until the bank confirms, whether or not risk holds it.
    let (posting_id, changes) = store::record(tx, "withdrawal", &legs, Phase::Pending, ctx.now)?;
    let txn = records::insert(
        tx,
        &NewRow {
            user_id: ctx.user_id(),
            posting_id,
            kind: TransactionKind::Withdrawal,
            status: TransactionStatus::Pending,
            amount: req.amount.negate(),
            fee: fee.minor,
            counterparty: Some(card_party(&card)),
            note: None,
            category: Category::Withdrawal,
            merchant: None,
            fx: None,
            hold_id: cleared.hold_id.as_deref(),
            created_at: ctx.now,
        },
    )?;
    let on_hold = cleared.hold_id.is_some();
    let w = NewWithdrawal {
        user_id: ctx.user_id(),
        transaction_id: &txn.id,
        posting_id,
        card: &card,
        amount: req.amount,
        fee,
        due_at: if on_hold {
            NEVER
        } else {
            ctx.now + WITHDRAWAL_DELAY_MS
        },
        fails: will_fail(req.amount, &card, scenario),
        on_hold,
        now: ctx.now,
    };
    let id = insert_withdrawal(tx, &w)?;
    let created = [(ctx.user_id().to_owned(), txn.clone())];
    ops::finish(tx, ctx, &cleared, posting_id, &created, changes, events)?;
    let view = get(tx, ctx.user_id(), &id, ctx.zh)?
        .ok_or_else(|| ApiError::internal("withdrawal not stored"))?;
    Ok(Ok(Done {
        status: StatusCode::CREATED,
        transaction_id: Some(txn.id),
        body: view,
    }))
}

pub struct NewWithdrawal<'a> {
    pub user_id: &'a str,
    pub transaction_id: &'a str,
    pub posting_id: i64,
    pub card: &'a cards::CardRow,
    pub amount: Money,
    pub fee: Money,
    pub due_at: i64,
    pub fails: bool,
    pub on_hold: bool,
    pub now: i64,
}

pub fn insert_withdrawal(conn: &Connection, w: &NewWithdrawal<'_>) -> ApiResult<String> {
    let id = super::new_id("wd_");
    conn.prepare_cached(
        "INSERT INTO withdrawals (id, user_id, transaction_id, posting_id, card_id, card_label, amount, currency, fee,
             status, due_at, fails, on_hold, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?11, ?12, ?13, ?13)",
    )?
    .execute(params![
        id,
        w.user_id,
        w.transaction_id,
        w.posting_id,
        w.card.card.id,
        w.card.label(),
        w.amount.minor,
        w.amount.currency.code(),
        w.fee.minor,
        w.due_at,
        w.fails,
        w.on_hold,
        w.now
    ])?;
    Ok(id)
}

const WITHDRAWAL_COLUMNS: &str = "id, transaction_id, card_id, card_label, amount, currency, fee, status, due_at, on_hold, failure_code, created_at, updated_at, settled_at";

fn withdrawal_row(r: &rusqlite::Row<'_>, zh: bool) -> rusqlite::Result<Withdrawal> {
    let currency =
        upay_protocol::money::Currency::parse(&r.get::<_, String>(5)?).map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                5,
                rusqlite::types::Type::Text,
                "bad currency".into(),
            )
        })?;
    let status =
        TransactionStatus::parse(&r.get::<_, String>(7)?).unwrap_or(TransactionStatus::Pending);
    let due_at: i64 = r.get(8)?;
    let on_hold: bool = r.get(9)?;
    let created_at: i64 = r.get(11)?;
    let failure_code = r
        .get::<_, Option<String>>(10)?
        .map(|c| FailureCode::parse(&c));
    Ok(Withdrawal {
        id: r.get(0)?,
        transaction_id: r.get(1)?,
        card_id: r.get(2)?,
        card_label: r.get(3)?,
        amount: Money {
            minor: r.get(4)?,
            currency,
        },
        fee: Money {
            minor: r.get(6)?,
            currency,
        },
        status,
        // While under review the arrival is an estimate from the time it was made.
        expected_arrival_at: if on_hold || due_at == NEVER {
            created_at + WITHDRAWAL_DELAY_MS
        } else {
            due_at
        },
        settled_at: r.get(13)?,
        failure_reason: failure_code.map(|c| c.message(zh).to_owned()),
        failure_code,
        created_at,
        updated_at: r.get(12)?,
    })
}

pub fn get(conn: &Connection, user_id: &str, id: &str, zh: bool) -> ApiResult<Option<Withdrawal>> {
    let sql =
        format!("SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE id = ?1 AND user_id = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id, user_id], |r| withdrawal_row(r, zh))
        .optional()?)
}

/// `GET /v1/withdrawals`: the newest 100 withdrawals with their status and failure reasons.
#[utoipa::path(get, path = "/v1/withdrawals", tag = "money", security(("bearer" = [])),
    responses((status = 200, body = WithdrawalList), (status = 401, body = Problem)))]
pub async fn list_withdrawals(user: AuthUser) -> ApiResult<Json<WithdrawalList>> {
    let zh = super::zh();
    let sql = format!(
        "SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE user_id = ?1 ORDER BY created_at DESC, id DESC LIMIT 100"
    );
    let items = super::read_settled(&user.sandbox, |c| {
        let rows = c
            .prepare_cached(&sql)?
            .query_map([&user.user_id], |r| withdrawal_row(r, zh))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    })?;
    Ok(Json(WithdrawalList { items }))
}

/// `GET /v1/withdrawals/{id}`
#[utoipa::path(get, path = "/v1/withdrawals/{id}", tag = "money", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Withdrawal), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_withdrawal(user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Withdrawal>> {
    let zh = super::zh();
    super::read_settled(&user.sandbox, |c| get(c, &user.user_id, &id, zh))?
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

pub fn is_withdrawal(conn: &Connection, posting_id: i64) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM withdrawals WHERE posting_id = ?1")?
        .exists([posting_id])?)
}

/// A risk review of a withdrawal ended: released ones start their way to the bank, rejected
/// ones fail and give the money back.
pub fn on_hold_resolved(
    conn: &Connection,
    posting_id: i64,
    release: bool,
    now: i64,
    events: &mut Vec<ServerEvent>,
) -> ApiResult<()> {
    if release {
        // The bank gets it now: it arrives the usual delay after the release.
        conn.prepare_cached(
            "UPDATE withdrawals SET on_hold = 0, due_at = ?2 + ?3, updated_at = ?2 WHERE posting_id = ?1",
        )?
        .execute(params![posting_id, now, WITHDRAWAL_DELAY_MS])?;
        Ok(())
    } else {
        fail(conn, posting_id, FailureCode::RiskRejected, now, events)
    }
}

pub fn fail(
    conn: &Connection,
    posting_id: i64,
    code: FailureCode,
    now: i64,
    events: &mut Vec<ServerEvent>,
) -> ApiResult<()> {
    let changes = store::resolve(conn, posting_id, false, now)?;
    let user_id: String = conn
        .prepare_cached(
            "UPDATE withdrawals SET status = 'failed', failure_code = ?2, on_hold = 0, updated_at = ?3
             WHERE posting_id = ?1 RETURNING user_id",
        )?
        .query_row(params![posting_id, code.as_str(), now], |r| r.get(0))?;
    let rows = records::set_status(conn, posting_id, TransactionStatus::Failed, Some(code), now)?;
    super::holds::refund_limit(conn, &user_id, &rows)?;
    ops::push_changes(events, changes, &rows, false);
    Ok(())
}

pub fn settle(
    conn: &Connection,
    posting_id: i64,
    amount: Money,
    now: i64,
    events: &mut Vec<ServerEvent>,
) -> ApiResult<()> {
    let mut changes = store::resolve(conn, posting_id, true, now)?;
    // The bank has it: clearing hands the money to the card network.
    let (_, more) = store::record(
        conn,
        "withdrawal_settlement",
        &[
            Leg::system(AccountKind::WithdrawalClearing, amount.negate()),
            Leg::system(AccountKind::CardNetwork, amount),
        ],
        Phase::Posted,
        now,
    )?;
    changes.extend(more);
    conn.prepare_cached(
        "UPDATE withdrawals SET status = 'settled', settled_at = ?2, updated_at = ?2 WHERE posting_id = ?1",
    )?
    .execute(params![posting_id, now])?;
    let rows = records::set_status(conn, posting_id, TransactionStatus::Settled, None, now)?;
    ops::push_changes(events, changes, &rows, false);
    Ok(())
}

/// Whether some withdrawal has become due (one indexed look-up).
pub fn any_due(conn: &Connection, now: i64) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM withdrawals WHERE status = 'pending' AND due_at <= ?1 LIMIT 1",
        )?
        .exists([now])?)
}

/// Settles or fails every withdrawal that is due.
pub fn run_due(sb: &Sandbox) -> ApiResult<()> {
    let now = sb.clock.now_ms();
    let events = sb.write(|tx| {
        let due: Vec<(i64, i64, String, bool, Option<i64>)> = tx
            .prepare_cached(
                "SELECT w.posting_id, w.amount, w.currency, w.fails, c.removed_at
                 FROM withdrawals w LEFT JOIN cards c ON c.id = w.card_id
                 WHERE w.status = 'pending' AND w.due_at <= ?1 ORDER BY w.due_at",
            )?
            .query_map([now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut events = Vec::new();
        for (posting_id, minor, currency, fails, removed_at) in due {
            let currency = upay_protocol::money::Currency::parse(&currency)
                .map_err(|_| ApiError::internal("bad currency in withdrawals"))?;
            if removed_at.is_some() {
                fail(tx, posting_id, FailureCode::CardRemoved, now, &mut events)?;
            } else if fails {
                fail(tx, posting_id, FailureCode::BankRejected, now, &mut events)?;
            } else {
                settle(tx, posting_id, Money { minor, currency }, now, &mut events)?;
            }
        }
        Ok(events)
    })?;
    super::holds::publish(sb, events);
    Ok(())
}
