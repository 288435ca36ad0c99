//! Merchant codes: "is this merchant supported", and paying a merchant — in its own currency,
//! or from another balance through an FX quote (an international merchant payment).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rusqlite::Connection;
use upay_protocol::api::money::{
    Counterparty, CounterpartyKind, FxDetail, MerchantCheck, MerchantCheckQuery,
    MerchantPaymentRequest, ScaOperation, Transaction, TransactionKind,
};
use upay_protocol::error::{ErrorCode, Problem};
use upay_protocol::money::Money;
use upay_protocol::qr::{MerchantCode, QrPayload};

use super::catalog::{self, Merchant, MerchantStatus};
use super::ops::{self, OpCtx, Screen};
use super::records::{self, NewRow};
use super::store::{self, AccountKind, Leg};
use super::transfers::{MAX_NOTE_CHARS, qr_error};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult, Validator};
use crate::events::ServerEvent;
use crate::extract::{ApiJson, ApiQuery};
use crate::faults::Scenario;
use crate::idempotency::{self, Done, IdempotencyKey, OpResult};

fn decode(field: &str, text: &str) -> ApiResult<MerchantCode> {
    match QrPayload::decode(text) {
        Ok(QrPayload::Merchant(m)) => Ok(m),
        Ok(QrPayload::Personal(_)) => Err(qr_error(field, "personal_code")
            .detail("this is a personal code: send a transfer instead")),
        Err(e) => Err(qr_error(field, e.code())),
    }
}

fn refusal(merchant: Option<&Merchant>) -> Option<&'static str> {
    match merchant.map(|m| m.status) {
        None => Some("unknown_merchant"),
        Some(MerchantStatus::NotSupported) => Some("merchant_not_supported"),
        Some(MerchantStatus::Blocked) => Some("merchant_blocked"),
        Some(MerchantStatus::Active) => None,
    }
}

/// `GET /v1/merchants/check?qr=…`: whether the wallet can pay this merchant code.
#[utoipa::path(get, path = "/v1/merchants/check", tag = "money", security(("bearer" = [])),
    params(MerchantCheckQuery),
    responses((status = 200, body = MerchantCheck), (status = 401, body = Problem),
        (status = 422, body = Problem, description = "qr_invalid")))]
pub async fn check(
    _user: AuthUser,
    ApiQuery(q): ApiQuery<MerchantCheckQuery>,
) -> ApiResult<Json<MerchantCheck>> {
    let code = decode("qr", &q.qr)?;
    let merchant = catalog::merchant(&code.merchant_id);
    let reason = refusal(merchant);
    Ok(Json(MerchantCheck {
        merchant_id: code.merchant_id.clone(),
        name: merchant.map_or(code.name.clone(), |m| m.name.to_owned()),
        currency: merchant.map_or(code.currency, |m| m.currency),
        country: merchant.map_or_else(String::new, |m| m.country.to_owned()),
        category: merchant.map_or(upay_protocol::api::money::Category::Other, |m| m.category),
        supported: reason.is_none(),
        reason: reason.map(str::to_owned),
        amount: code.amount,
    }))
}

/// `POST /v1/merchant-payments`: pays a scanned merchant code, in the merchant's currency from
/// that balance, or from another balance with `fx_quote_id`.
#[utoipa::path(post, path = "/v1/merchant-payments", tag = "money", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    request_body = MerchantPaymentRequest,
    responses((status = 201, body = Transaction), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem, description = "sca_required, sca_invalid, risk_blocked (blocked merchants too)"),
        (status = 404, body = Problem, description = "quote_not_found"),
        (status = 409, body = Problem, description = "quote_expired (fresh quote in data), quote_used, idempotency_in_flight"),
        (status = 422, body = Problem, description = "merchant_not_supported, currency_mismatch, insufficient_funds, qr_invalid, ..."),
        (status = 423, body = Problem, description = "account_frozen")))]
pub async fn pay(
    user: AuthUser,
    key: IdempotencyKey,
    scenario: Scenario,
    ApiJson(req): ApiJson<MerchantPaymentRequest>,
) -> Response {
    let parsed = (|| {
        let mut v = Validator::new();
        if let Some(note) = &req.note {
            v.text(note, "note", 0, MAX_NOTE_CHARS);
        }
        v.finish()?;
        let code = decode("qr", &req.qr)?;
        let amount = match (req.amount, code.amount) {
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
        if amount.minor <= 0 {
            return Err(ApiError::new(ErrorCode::InvalidAmount));
        }
        Ok((code, amount))
    })();
    let (code, amount) = match parsed {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    idempotency::execute(&user, &key, "merchant_payments", &req, |tx, events| {
        let ctx = OpCtx::new(&user, &key.0, &scenario);
        pay_op(tx, &ctx, &code, amount, &req, events)
    })
}

fn pay_op(
    tx: &Connection,
    ctx: &OpCtx<'_>,
    code: &MerchantCode,
    amount: Money,
    req: &MerchantPaymentRequest,
    events: &mut Vec<ServerEvent>,
) -> OpResult<Transaction> {
    ops::require_active(ctx)?;
    let merchant = catalog::merchant(&code.merchant_id);
    let merchant = match (merchant, refusal(merchant)) {
        (Some(_), Some("merchant_blocked")) => {
            let decision = crate::risk::blocked_merchant(ctx.zh);
            events.push(crate::risk::alert(ctx.user_id(), &decision, None, ctx.now));
            return Err(crate::risk::refusal(&decision));
        }
        (Some(m), None) => m,
        (_, reason) => {
            return Err(ApiError::new(ErrorCode::MerchantNotSupported)
                .data(serde_json::json!({ "reason": reason })));
        }
    };
    if amount.currency != merchant.currency {
        return Err(ApiError::new(ErrorCode::CurrencyMismatch)
            .detail("pay in the merchant's currency, or through an FX quote"));
    }
    let quote = match &req.fx_quote_id {
        None => None,
        Some(id) => match super::fx::claim(tx, ctx.user_id(), id, ctx.now)? {
            Ok(q) => Some(q),
            Err(e) => return Ok(Err(e)),
        },
    };
    if let Some(q) = &quote
        && (q.to != merchant.currency || q.buy != amount)
    {
        return Err(ApiError::field(
            "fx_quote_id",
            "mismatch",
            "the quote must buy exactly the amount, in the merchant's currency",
        ));
    }
    let (debit, fee, fx) = match &quote {
        Some(q) => (
            q.total_debit,
            q.fee.minor,
            Some(FxDetail {
                rate: q.rate,
                counter_amount: q.buy,
            }),
        ),
        None => (amount, 0, None),
    };
    ops::require_funds(tx, ctx.user_id(), debit)?;
    let cleared = ops::screen(
        tx,
        ctx,
        &Screen {
            amount,
            debit,
            outgoing: true,
            new_payee_check: None,
            foreign: crate::risk::is_foreign(amount) || crate::risk::is_foreign(debit),
            operation: ScaOperation::MerchantPayment,
            sca_amount: amount,
            sca_payee: merchant.id,
            proof: req.sca.as_ref(),
        },
        events,
    )?;
    let to_merchant = Leg {
        owner: merchant.id,
        kind: AccountKind::Merchant,
        amount,
    };
    let legs = match &quote {
        Some(q) => super::fx::conversion_legs(ctx.user_id(), q, to_merchant),
        None => vec![Leg::wallet(ctx.user_id(), amount.negate()), to_merchant],
    };
    let (posting_id, changes) =
        store::record(tx, "merchant_payment", &legs, cleared.phase(), ctx.now)?;
    let spent = match &quote {
        Some(q) => q.sell,
        None => amount,
    };
    let txn = records::insert(
        tx,
        &NewRow {
            user_id: ctx.user_id(),
            posting_id,
            kind: TransactionKind::MerchantPayment,
            status: cleared.status(),
            amount: spent.negate(),
            fee,
            counterparty: Some(Counterparty {
                kind: CounterpartyKind::Merchant,
                id: merchant.id.to_owned(),
                name: merchant.name.to_owned(),
            }),
            note: req.note.as_deref().filter(|n| !n.is_empty()),
            category: merchant.category,
            merchant: Some(merchant),
            fx,
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
