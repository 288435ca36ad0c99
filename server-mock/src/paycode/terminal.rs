//! The simulated merchant terminal: `POST /v1/terminal/redeem` charges a scanned payment code.
//!
//! Order of the checks: terminal key, request shape, then — inside one database transaction,
//! after the idempotency look-up, so a retry of an accepted request replays its answer even
//! once the code has gone stale — the code's secret (known slot, live secret of a signed-in,
//! trusted device), the code (within the skew window of the mock clock), single use, the payer
//! (not frozen), the currency, the per-code and daily limits, the funds and the risk engine.
//! The limits are checked and the redemption recorded in the same IMMEDIATE transaction, and
//! a sandbox has one writer, so concurrent redemptions can never exceed them together.
//!
//! A till cannot wait for a review or a confirmation on the phone, so anything but `allow`
//! from the risk engine declines the payment (`risk_blocked`, the decision in `data`, a risk
//! alert to the payer); the customer can still pay by scanning the merchant's code in the app,
//! which supports both. The payment-code limits stand in for the confirmation a scanned code
//! cannot carry (as low-value exemptions do), so codes below them need none.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::Connection;
use upay_protocol::api::money::{Counterparty, CounterpartyKind, RiskAction, TransactionKind};
use upay_protocol::api::paycode::{
    PaycodeLimitDetail, PaycodeRedemption, TERMINAL_KEY_HEADER, TerminalReceipt,
    TerminalRedeemRequest,
};
use upay_protocol::error::{ErrorCode, Problem};
use upay_protocol::money::Money;
use upay_protocol::paycode::{self as algo, STEP_SECS};

use super::store::{self, NewRedemption};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::events::{LiveEvent, ServerEvent};
use crate::extract::{ApiJson, Sb};
use crate::faults::Scenario;
use crate::idempotency::{self, Done, IdempotencyKey, OpResult};
use crate::ledger::catalog::{self, MerchantStatus};
use crate::ledger::records::{self, NewRow};
use crate::ledger::store::{self as ledger, AccountKind, Leg, Phase};
use crate::ledger::{ops, records::merchant_ref};
use crate::risk;

/// A merchant terminal the mock knows, with its key (listed in `GET /__mock/magic`).
pub struct Terminal {
    pub id: &'static str,
    pub merchant_id: &'static str,
    pub key: &'static str,
}

pub const TERMINALS: &[Terminal] = &[
    Terminal {
        id: "T0000000701",
        merchant_id: "M0000000007",
        key: "tk_test_familymart_0701",
    },
    Terminal {
        id: "T0000000101",
        merchant_id: "M0000000001",
        key: "tk_test_luckin_0101",
    },
    // A merchant reported for fraud: every payment is declined by risk.
    Terminal {
        id: "T0000003201",
        merchant_id: "M0000000032",
        key: "tk_test_blocked_3201",
    },
];

/// How far from the mock clock a failed code is looked for, only to tell the terminal whether
/// to ask for a fresh code (`paycode_expired`) or to re-scan (`paycode_invalid`): a day back
/// and ten minutes ahead. Such a code is refused either way.
const DIAGNOSE_BACK_STEPS: u64 = 24 * 3600 / STEP_SECS as u64;
const DIAGNOSE_AHEAD_STEPS: u64 = 10;

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The terminal whose key the request carries; every key is compared, in constant time.
fn authenticate(headers: &HeaderMap) -> ApiResult<&'static Terminal> {
    let presented = headers
        .get(TERMINAL_KEY_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let mut found = None;
    for t in TERMINALS {
        if same(t.key.as_bytes(), presented) {
            found = Some(t);
        }
    }
    found.ok_or_else(|| ApiError::new(ErrorCode::TerminalUnauthorized))
}

/// `POST /v1/terminal/redeem`: a merchant terminal charges a scanned payment code. Once per
/// `Idempotency-Key` of the terminal; each code pays once.
#[utoipa::path(post, path = "/v1/terminal/redeem", tag = "terminal",
    params(("X-Terminal-Key" = String, Header, description = "the terminal's key (see GET /__mock/magic)"),
        ("Idempotency-Key" = String, Header)),
    request_body = TerminalRedeemRequest,
    responses((status = 201, body = TerminalReceipt),
        (status = 400, body = Problem, description = "idempotency_key_missing"),
        (status = 401, body = Problem, description = "terminal_unauthorized"),
        (status = 403, body = Problem, description = "forbidden (merchant or terminal id not this key's), risk_blocked (decision in data)"),
        (status = 409, body = Problem, description = "paycode_used, idempotency_in_flight"),
        (status = 422, body = Problem, description = "paycode_malformed, paycode_expired, paycode_invalid, paycode_revoked, paycode_limit_exceeded (PaycodeLimitDetail in data), insufficient_funds, currency_mismatch, invalid_amount, limit_exceeded, idempotency_key_reused"),
        (status = 423, body = Problem, description = "account_frozen")))]
pub async fn redeem(
    Sb(sb): Sb,
    scenario: Scenario,
    headers: HeaderMap,
    key: Result<IdempotencyKey, ApiError>,
    ApiJson(req): ApiJson<TerminalRedeemRequest>,
) -> Response {
    let checked = (|| {
        let terminal = authenticate(&headers)?;
        if req.merchant_id != terminal.merchant_id || req.terminal_id != terminal.id {
            return Err(ApiError::new(ErrorCode::Forbidden)
                .detail("the merchant or terminal id is not the one of this terminal key"));
        }
        let key = key?;
        let slot =
            algo::parse_slot(&req.code).map_err(|_| ApiError::new(ErrorCode::PaycodeMalformed))?;
        if req.amount.minor <= 0 {
            return Err(ApiError::new(ErrorCode::InvalidAmount));
        }
        Ok((terminal, key, slot))
    })();
    let (terminal, key, slot) = match checked {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    // Idempotency keys are scoped per caller; here the caller is the terminal, not a user.
    let principal = AuthUser {
        user_id: format!("terminal:{}", terminal.id),
        device_id: terminal.id.to_owned(),
        session_id: String::new(),
        frozen: false,
        sandbox: sb.clone(),
    };
    idempotency::execute(&principal, &key, "terminal_redeem", &req, |tx, events| {
        let now = sb.clock.now_ms();
        let forced = risk::forced(&scenario);
        redeem_op(tx, terminal, slot, &req, now, forced, events)
    })
}

fn redeem_op(
    tx: &Connection,
    terminal: &Terminal,
    slot: u32,
    req: &TerminalRedeemRequest,
    now: i64,
    forced: Option<RiskAction>,
    events: &mut Vec<ServerEvent>,
) -> OpResult<TerminalReceipt> {
    let zh = crate::ledger::zh();
    let limits = store::limits(tx)?;
    let row = store::by_slot(tx, slot, now)?
        .filter(|r| r.usable())
        .ok_or(ErrorCode::PaycodeRevoked)?;
    let secret = store::open(&row).ok_or(ErrorCode::PaycodeRevoked)?;
    let Some(counter) = algo::verify(&secret.0, &req.code, now, u64::from(limits.skew_steps))
    else {
        let back = now - DIAGNOSE_BACK_STEPS as i64 / 2 * STEP_SECS * 1000;
        let ahead = now + DIAGNOSE_AHEAD_STEPS as i64 / 2 * STEP_SECS * 1000;
        let stale = algo::verify(&secret.0, &req.code, back, DIAGNOSE_BACK_STEPS / 2).is_some()
            || algo::verify(&secret.0, &req.code, ahead, DIAGNOSE_AHEAD_STEPS / 2).is_some();
        return Err(if stale {
            ErrorCode::PaycodeExpired
        } else {
            ErrorCode::PaycodeInvalid
        }
        .into());
    };
    drop(secret);
    if store::used(tx, slot, counter)? {
        return Err(ErrorCode::PaycodeUsed.into());
    }
    let payer = crate::auth::store::require_user(tx, &row.user_id)?;
    if payer.frozen {
        return Err(ErrorCode::AccountFrozen.into());
    }
    let user_id = payer.id.as_str();
    let merchant = catalog::merchant(terminal.merchant_id)
        .ok_or_else(|| ApiError::internal("a terminal of an unknown merchant"))?;
    if req.amount.currency != merchant.currency || req.amount.currency != store::CURRENCY {
        return Err(ApiError::new(ErrorCode::CurrencyMismatch)
            .detail("payment codes pay in CNY, the merchant's currency"));
    }
    let amount = req.amount;
    let money = |minor| Money {
        minor,
        currency: store::CURRENCY,
    };
    if amount.minor > limits.per_code {
        return Err(
            ApiError::new(ErrorCode::PaycodeLimitExceeded).data(PaycodeLimitDetail {
                scope: "per_code".to_owned(),
                limit: limits.per_code_money(),
                remaining: limits.per_code_money(),
            }),
        );
    }
    let day = risk::china_day(now);
    let spent = store::spent_on(tx, user_id, day)?;
    let remaining = (limits.daily - spent).max(0);
    if amount.minor > remaining {
        return Err(
            ApiError::new(ErrorCode::PaycodeLimitExceeded).data(PaycodeLimitDetail {
                scope: "daily".to_owned(),
                limit: limits.daily_money(),
                remaining: money(remaining),
            }),
        );
    }
    ops::require_funds(tx, user_id, amount)?;
    let decision = if merchant.status == MerchantStatus::Blocked {
        risk::blocked_merchant(zh)
    } else {
        let signals = risk::gather(
            tx,
            &risk::Subject {
                user_id,
                device_id: &row.device_id,
                amount,
                debit: amount,
                outgoing: true,
                payee: None,
                foreign: risk::is_foreign(amount),
            },
            now,
        )?;
        risk::assess(&signals, forced, zh)
    };
    if decision.action != RiskAction::Allow {
        // The inner error keeps the operation's events (nothing was written before this
        // point), so the payer's alert is published with the refusal.
        events.push(risk::alert(user_id, &decision, None, now));
        return Ok(Err(risk::refusal(&decision)));
    }
    let (posting_id, changes) = ledger::record(
        tx,
        "paycode_payment",
        &[
            Leg::wallet(user_id, amount.negate()),
            Leg {
                owner: merchant.id,
                kind: AccountKind::Merchant,
                amount,
            },
        ],
        Phase::Posted,
        now,
    )?;
    let txn = records::insert(
        tx,
        &NewRow {
            user_id,
            posting_id,
            kind: TransactionKind::MerchantPayment,
            status: upay_protocol::api::money::TransactionStatus::Settled,
            amount: amount.negate(),
            fee: 0,
            counterparty: Some(Counterparty {
                kind: CounterpartyKind::Merchant,
                id: merchant.id.to_owned(),
                name: merchant.name.to_owned(),
            }),
            note: None,
            category: merchant.category,
            merchant: Some(merchant),
            fx: None,
            hold_id: None,
            created_at: now,
        },
    )?;
    risk::record_spend(tx, user_id, crate::sca::cny_equivalent(amount), now)?;
    let id = crate::ledger::new_id("pcr_");
    store::insert_redemption(
        tx,
        &NewRedemption {
            id: &id,
            paycode_id: row.id,
            slot,
            counter,
            user_id,
            transaction_id: &txn.id,
            merchant_id: merchant.id,
            terminal_id: terminal.id,
            amount,
            day,
            now,
        },
    )?;
    tracing::info!(terminal = terminal.id, slot, "payment code redeemed");
    ops::push_changes(events, changes, &[(user_id.to_owned(), txn.clone())], true);
    events.push(ServerEvent {
        user_id: user_id.to_owned(),
        event: LiveEvent::PaycodeRedeemed {
            redemption: PaycodeRedemption {
                id: id.clone(),
                transaction_id: txn.id.clone(),
                amount,
                merchant: merchant_ref(merchant),
                terminal_id: terminal.id.to_owned(),
                remaining_today: money(remaining - amount.minor),
                at: now,
            },
        },
    });
    Ok(Ok(Done {
        status: StatusCode::CREATED,
        // The history entry is the payer's, not the terminal's: sync of the terminal's key
        // space must not point at it.
        transaction_id: None,
        body: TerminalReceipt {
            id,
            merchant_id: merchant.id.to_owned(),
            terminal_id: terminal.id.to_owned(),
            amount,
            created_at: now,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminals_belong_to_payable_cny_merchants_or_the_blocked_one() {
        for t in TERMINALS {
            let m = catalog::merchant(t.merchant_id).expect("known merchant");
            assert_eq!(m.currency, store::CURRENCY, "{}", t.id);
            assert_ne!(m.status, MerchantStatus::NotSupported, "{}", t.id);
        }
        let mut h = HeaderMap::new();
        assert!(authenticate(&h).is_err());
        h.insert(TERMINAL_KEY_HEADER, "tk_test_luckin_0101".parse().unwrap());
        assert_eq!(authenticate(&h).unwrap().id, "T0000000101");
        h.insert(TERMINAL_KEY_HEADER, "tk_test_luckin_010".parse().unwrap());
        assert!(authenticate(&h).is_err());
    }
}
