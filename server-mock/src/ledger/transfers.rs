//! Transfers between uPay accounts: to an account id, a phone number or a scanned personal
//! code; and the payee look-up the app shows before the user confirms (masked name only).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rusqlite::Connection;
use upay_protocol::api::auth::normalize_phone;
use upay_protocol::api::money::{
    Category, Counterparty, CounterpartyKind, Payee, PayeeQuery, PayeeRef, ScaOperation,
    Transaction, TransactionKind, TransferRequest,
};
use upay_protocol::error::{ErrorCode, FieldError, Problem};
use upay_protocol::money::Money;
use upay_protocol::qr::{QrPayload, is_account_id};

use super::ops::{self, OpCtx, Screen};
use super::records::{self, NewRow};
use super::store::{self, Leg};
use crate::auth::AuthUser;
use crate::auth::store::{UserRow, user_by_id, user_by_phone};
use crate::error::{ApiError, ApiResult, Validator};
use crate::events::ServerEvent;
use crate::extract::{ApiJson, ApiQuery};
use crate::faults::Scenario;
use crate::idempotency::{self, Done, IdempotencyKey, OpResult};

pub const MAX_NOTE_CHARS: usize = 140;

/// How the payee was named, after syntax checks.
enum Target {
    Account(String),
    Phone(String),
}

/// A scanned code that is not a valid uPay code, with the codec's reason.
pub fn qr_error(field: &str, code: &str) -> ApiError {
    let mut e = ApiError::new(ErrorCode::QrInvalid);
    e.errors.push(FieldError {
        field: field.to_owned(),
        code: code.to_owned(),
        message: "is not a valid uPay code".to_owned(),
    });
    e
}

/// Checks the request and settles the amount: the request's, or the code's fixed amount.
fn parse(req: &TransferRequest) -> ApiResult<(Target, Money)> {
    let mut v = Validator::new();
    if let Some(note) = &req.note {
        v.text(note, "note", 0, MAX_NOTE_CHARS);
    }
    let (target, qr_amount) = match &req.to {
        PayeeRef::AccountId(id) => {
            v.check(
                is_account_id(id),
                "to.account_id",
                "invalid",
                "U followed by 10 digits",
            );
            (Target::Account(id.clone()), None)
        }
        PayeeRef::Phone(phone) => match normalize_phone(phone) {
            Some(p) => (Target::Phone(p), None),
            None => {
                return Err(ApiError::field(
                    "to.phone",
                    "invalid",
                    "is not a valid mobile number",
                ));
            }
        },
        PayeeRef::Qr(text) => match QrPayload::decode(text) {
            Ok(QrPayload::Personal(p)) => (Target::Account(p.account_id), p.amount),
            Ok(QrPayload::Merchant(_)) => {
                return Err(qr_error("to.qr", "merchant_code")
                    .detail("this is a merchant code: pay it with POST /v1/merchant-payments"));
            }
            Err(e) => return Err(qr_error("to.qr", e.code())),
        },
    };
    v.finish()?;
    let amount = match (req.amount, qr_amount) {
        (Some(a), Some(q)) if a != q => {
            return Err(ApiError::field(
                "amount",
                "mismatch",
                "differs from the code's fixed amount",
            ));
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => return Err(ApiError::field("amount", "required", "is required")),
    };
    super::funding::check_amount("amount", amount)?;
    Ok((target, amount))
}

fn find_payee(conn: &Connection, target: &Target) -> ApiResult<UserRow> {
    match target {
        Target::Account(id) => user_by_id(conn, id),
        Target::Phone(phone) => user_by_phone(conn, phone),
    }?
    .ok_or_else(|| ErrorCode::PayeeNotFound.into())
}

/// `POST /v1/transfers`: sends money to another uPay account.
#[utoipa::path(post, path = "/v1/transfers", tag = "money", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    request_body = TransferRequest,
    responses((status = 201, body = Transaction, description = "settled, or pending while held for review"),
        (status = 400, body = Problem, description = "idempotency_key_missing"), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "sca_required (what to sign in data), sca_invalid, challenge_expired, risk_blocked"),
        (status = 404, body = Problem, description = "payee_not_found"),
        (status = 409, body = Problem, description = "idempotency_in_flight, device_key_missing"),
        (status = 422, body = Problem, description = "insufficient_funds, self_transfer, limit_exceeded, idempotency_key_reused, validation_failed, ..."),
        (status = 423, body = Problem, description = "account_frozen")))]
pub async fn transfer(
    user: AuthUser,
    key: IdempotencyKey,
    scenario: Scenario,
    ApiJson(req): ApiJson<TransferRequest>,
) -> Response {
    let (target, amount) = match parse(&req) {
        Ok(parsed) => parsed,
        Err(e) => return e.into_response(),
    };
    idempotency::execute(&user, &key, "transfers", &req, |tx, events| {
        let ctx = OpCtx::new(&user, &key.0, &scenario);
        transfer_op(tx, &ctx, &target, amount, &req, events)
    })
}

fn transfer_op(
    tx: &Connection,
    ctx: &OpCtx<'_>,
    target: &Target,
    amount: Money,
    req: &TransferRequest,
    events: &mut Vec<ServerEvent>,
) -> OpResult<Transaction> {
    ops::require_active(ctx)?;
    let payee = find_payee(tx, target)?;
    if payee.id == ctx.user_id() {
        return Err(ErrorCode::SelfTransfer.into());
    }
    ops::require_funds(tx, ctx.user_id(), amount)?;
    let cleared = ops::screen(
        tx,
        ctx,
        &Screen {
            amount,
            debit: amount,
            outgoing: true,
            new_payee_check: Some(&payee.id),
            foreign: crate::risk::is_foreign(amount),
            operation: ScaOperation::Transfer,
            sca_amount: amount,
            sca_payee: &payee.id,
            proof: req.sca.as_ref(),
        },
        events,
    )?;
    let (posting_id, changes) = store::record(
        tx,
        "transfer",
        &[
            Leg::wallet(ctx.user_id(), amount.negate()),
            Leg::wallet(&payee.id, amount),
        ],
        cleared.phase(),
        ctx.now,
    )?;
    let sender = crate::auth::store::require_user(tx, ctx.user_id())?;
    let note = req.note.as_deref().filter(|n| !n.is_empty());
    let row = |user_id, kind, amount, other: &UserRow| NewRow {
        user_id,
        posting_id,
        kind,
        status: cleared.status(),
        amount,
        fee: 0,
        counterparty: Some(Counterparty {
            kind: CounterpartyKind::User,
            id: other.id.clone(),
            name: other.full_name.clone(),
        }),
        note,
        category: Category::Transfer,
        merchant: None,
        fx: None,
        hold_id: cleared.hold_id.as_deref(),
        created_at: ctx.now,
    };
    let rows = [
        row(
            ctx.user_id(),
            TransactionKind::TransferOut,
            amount.negate(),
            &payee,
        ),
        // The review is the payer's: the payee only sees the money pending.
        NewRow {
            hold_id: None,
            ..row(&payee.id, TransactionKind::TransferIn, amount, &sender)
        },
    ];
    let [out, incoming]: [Transaction; 2] = records::insert_all(tx, &rows)?
        .try_into()
        .map_err(|_| crate::error::ApiError::internal("two rows expected"))?;
    let created = [
        (ctx.user_id().to_owned(), out.clone()),
        (payee.id.clone(), incoming),
    ];
    ops::finish(tx, ctx, &cleared, posting_id, &created, changes, events)?;
    Ok(Ok(Done {
        status: StatusCode::CREATED,
        transaction_id: Some(out.id.clone()),
        body: out,
    }))
}

/// A name as the payer may see it before paying: the last character of a Chinese name
/// (`*伟`), the initials of a Latin one (`T*** M****`).
pub fn mask_name(name: &str) -> String {
    let name = name.trim();
    if name.is_ascii() {
        return name
            .split_whitespace()
            .map(|w| {
                let mut chars = w.chars();
                let first = chars.next().map(String::from).unwrap_or_default();
                first + &"*".repeat(chars.count())
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    let chars: Vec<char> = name.chars().collect();
    match chars.split_last() {
        Some((last, rest)) => "*".repeat(rest.len().max(1)) + &last.to_string(),
        None => String::new(),
    }
}

/// `GET /v1/payees/lookup?phone=…` or `?account_id=…`: who would be paid, masked.
#[utoipa::path(get, path = "/v1/payees/lookup", tag = "money", security(("bearer" = [])),
    params(PayeeQuery),
    responses((status = 200, body = Payee), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn lookup(user: AuthUser, ApiQuery(q): ApiQuery<PayeeQuery>) -> ApiResult<Json<Payee>> {
    let target =
        match (&q.phone, &q.account_id) {
            (Some(phone), None) => Target::Phone(normalize_phone(phone).ok_or_else(|| {
                ApiError::field("phone", "invalid", "is not a valid mobile number")
            })?),
            (None, Some(id)) if is_account_id(id) => Target::Account(id.clone()),
            (None, Some(_)) => {
                return Err(ApiError::field(
                    "account_id",
                    "invalid",
                    "U followed by 10 digits",
                ));
            }
            _ => {
                return Err(ApiError::field(
                    "phone",
                    "exactly_one",
                    "give exactly one of `phone` and `account_id`",
                ));
            }
        };
    let payee = user.sandbox.read(|c| find_payee(c, &target))?;
    Ok(Json(Payee {
        account_id: payee.id,
        masked_name: mask_name(&payee.full_name),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_names() {
        assert_eq!(mask_name("张伟"), "*伟");
        assert_eq!(mask_name("欧阳娜娜"), "***娜");
        assert_eq!(mask_name("李"), "*李");
        assert_eq!(mask_name("Test Magic"), "T*** M****");
    }
}
