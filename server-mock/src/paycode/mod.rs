//! The in-store payment code (付款码, 线下支付).
//!
//! - `POST /v1/paycode/provision` (signed in, trusted device, `Idempotency-Key`): a fresh
//!   32-byte secret and slot for the calling device; any earlier secret of the device stops
//!   working (rotation). The secret is shown in this answer only (and in a replay of the same
//!   request to the same device) and rests sealed (see `store`).
//! - `GET /v1/paycode`: whether this device's codes are accepted, the limits and what is left
//!   today. `DELETE /v1/paycode`: revokes the device's secret.
//! - `POST /v1/terminal/redeem` (a merchant terminal, `X-Terminal-Key`, `Idempotency-Key`):
//!   charges a scanned code. See [`terminal`].
//! - Control: `GET/PUT /__mock/paycode/settings` (limits and skew window).
//!
//! Codes die with the sign-in that provisioned them: a secret is bound to its session, and a
//! code is accepted only while that session is live and the device trusted. Signing the
//! device out (`DELETE /v1/devices/{id}`, sign-out-others, logout, a password change or reset,
//! refresh-token reuse) therefore stops its codes without any hook in those handlers.

pub mod store;
pub mod terminal;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use upay_protocol::api::paycode::{PaycodeProvisioned, PaycodeStatus};
use upay_protocol::error::{ErrorCode, Problem};
use upay_protocol::money::Money;
use upay_protocol::paycode::STEP_SECS;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::control::MagicEntry;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Sb};
use crate::idempotency::{IdempotencyKey, REPLAYED_HEADER};
use crate::state::AppState;

pub use store::SCHEMA;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(provision))
        .routes(routes!(status, revoke))
        .routes(routes!(terminal::redeem))
}

pub fn control_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, put_settings))
}

/// `POST /v1/paycode/provision`: issues this device's payment-code secret. Provisioning again
/// rotates it: codes of the previous secret stop working at once. Keep the answer in the
/// platform key store; it is never shown again.
#[utoipa::path(post, path = "/v1/paycode/provision", tag = "money", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, body = PaycodeProvisioned, description = "also when replayed (Idempotent-Replayed: true)"),
        (status = 400, body = Problem, description = "idempotency_key_missing"),
        (status = 401, body = Problem),
        (status = 403, body = Problem, description = "forbidden: the device is not trusted"),
        (status = 422, body = Problem, description = "idempotency_key_reused (another device), paycode_revoked (the secret of this key was rotated or revoked since)"),
        (status = 423, body = Problem, description = "account_frozen")))]
async fn provision(user: AuthUser, key: IdempotencyKey) -> ApiResult<Response> {
    let sb = &user.sandbox;
    let now = sb.clock.now_ms();
    let (answer, replayed) = sb.write(|tx| {
        user.require_active()?;
        let trusted: bool = tx
            .prepare_cached("SELECT trusted FROM devices WHERE user_id = ?1 AND device_id = ?2")?
            .query_row(rusqlite::params![user.user_id, user.device_id], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(false);
        if !trusted {
            return Err(ApiError::new(ErrorCode::Forbidden)
                .detail("payment codes need a device signed in with an SMS code"));
        }
        let limits = store::limits(tx)?;
        if let Some(row) = store::by_request_key(tx, &user.user_id, &key.0, now)? {
            // The same request again (its answer was lost): the same secret, to the same
            // device only, and only while it is still the device's live one.
            if row.device_id != user.device_id {
                return Err(ErrorCode::IdempotencyKeyReused.into());
            }
            let secret = row
                .usable()
                .then(|| store::open(&row))
                .flatten()
                .ok_or(ErrorCode::PaycodeRevoked)?;
            return Ok((answer(&secret, row.slot, &limits, row.created_at), true));
        }
        store::end_active(tx, &user.user_id, &user.device_id, "rotated", now)?;
        let slot = store::free_slot(tx)?;
        let secret = store::Secret::random();
        let (sealed, key_id) = store::seal(&secret, &user.user_id, &user.device_id, slot);
        store::insert(
            tx,
            &store::NewPaycode {
                user_id: &user.user_id,
                device_id: &user.device_id,
                session_id: &user.session_id,
                slot,
                sealed_secret: &sealed,
                key_id: &key_id,
                request_key: &key.0,
                now,
            },
        )?;
        // The slot is public (it is printed in every code); the secret is never logged.
        tracing::info!(slot, "payment code provisioned");
        Ok((answer(&secret, slot, &limits, now), false))
    })?;
    let mut resp = (StatusCode::CREATED, Json(answer)).into_response();
    // The body carries a secret: no cache on the way may keep it.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if replayed {
        resp.headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    Ok(resp)
}

fn answer(
    secret: &store::Secret,
    slot: u32,
    limits: &store::Limits,
    at: i64,
) -> PaycodeProvisioned {
    PaycodeProvisioned {
        secret: STANDARD.encode(secret.0),
        slot,
        currency: store::CURRENCY,
        per_code_limit: limits.per_code_money(),
        daily_limit: limits.daily_money(),
        step_secs: STEP_SECS,
        skew_steps: limits.skew_steps,
        provisioned_at: at,
    }
}

/// `GET /v1/paycode`: whether this device's payment codes are accepted, the limits, and what
/// the account may still pay by payment code today.
#[utoipa::path(get, path = "/v1/paycode", tag = "money", security(("bearer" = [])),
    responses((status = 200, body = PaycodeStatus), (status = 401, body = Problem)))]
async fn status(user: AuthUser) -> ApiResult<Json<PaycodeStatus>> {
    let now = user.sandbox.clock.now_ms();
    let today = crate::risk::china_day(now);
    user.sandbox
        .read(|c| {
            let limits = store::limits(c)?;
            let row = store::active_for_device(c, &user.user_id, &user.device_id, now)?
                .filter(|r| r.usable() && store::open(r).is_some());
            let spent = store::spent_on(c, &user.user_id, today)?;
            let money = |minor| Money {
                minor,
                currency: store::CURRENCY,
            };
            Ok(PaycodeStatus {
                provisioned: row.is_some(),
                slot: row.as_ref().map(|r| r.slot),
                provisioned_at: row.as_ref().map(|r| r.created_at),
                currency: store::CURRENCY,
                per_code_limit: limits.per_code_money(),
                daily_limit: limits.daily_money(),
                spent_today: money(spent),
                remaining_today: money((limits.daily - spent).max(0)),
                resets_at: crate::savings::store::day_start(today + 1),
                step_secs: STEP_SECS,
                skew_steps: limits.skew_steps,
                server_time: now,
            })
        })
        .map(Json)
}

/// `DELETE /v1/paycode`: revokes this device's payment-code secret; its codes stop working.
#[utoipa::path(delete, path = "/v1/paycode", tag = "money", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem),
        (status = 404, body = Problem, description = "no payment code on this device")))]
async fn revoke(user: AuthUser) -> ApiResult<StatusCode> {
    let now = user.sandbox.clock.now_ms();
    let ended = user
        .sandbox
        .write(|tx| store::end_active(tx, &user.user_id, &user.device_id, "revoked", now))?;
    if ended {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

/// The sandbox's payment-code limits.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaycodeSettings {
    /// The most one code may pay (CNY).
    pub per_code_limit: Money,
    /// The most an account may pay by payment code per China-time day (CNY).
    pub daily_limit: Money,
    /// Time steps of clock difference accepted either way (0–10).
    pub skew_steps: u32,
}

fn settings_of(l: &store::Limits) -> PaycodeSettings {
    PaycodeSettings {
        per_code_limit: l.per_code_money(),
        daily_limit: l.daily_money(),
        skew_steps: l.skew_steps,
    }
}

/// `GET /__mock/paycode/settings`
#[utoipa::path(get, path = "/__mock/paycode/settings", tag = "control",
    responses((status = 200, body = PaycodeSettings)))]
async fn get_settings(Sb(sb): Sb) -> ApiResult<Json<PaycodeSettings>> {
    sb.read(|c| Ok(settings_of(&store::limits(c)?))).map(Json)
}

/// `PUT /__mock/paycode/settings`: changes the limits and the skew window for every code of
/// the sandbox, from the next redemption on (a `reset` restores the built-in ones).
#[utoipa::path(put, path = "/__mock/paycode/settings", tag = "control", request_body = PaycodeSettings,
    responses((status = 200, body = PaycodeSettings), (status = 422, body = Problem)))]
async fn put_settings(
    Sb(sb): Sb,
    ApiJson(req): ApiJson<PaycodeSettings>,
) -> ApiResult<Json<PaycodeSettings>> {
    let mut v = crate::error::Validator::new();
    for (field, m) in [
        ("per_code_limit", req.per_code_limit),
        ("daily_limit", req.daily_limit),
    ] {
        v.check(
            m.currency == store::CURRENCY && m.minor > 0,
            field,
            "invalid",
            "a positive CNY amount",
        );
    }
    v.check(
        req.skew_steps <= store::MAX_SKEW_STEPS,
        "skew_steps",
        "out_of_range",
        "must be 0 to 10",
    );
    v.finish()?;
    let limits = store::Limits {
        per_code: req.per_code_limit.minor,
        daily: req.daily_limit.minor,
        skew_steps: req.skew_steps,
    };
    sb.write(|tx| store::set_limits(tx, &limits))?;
    Ok(Json(settings_of(&limits)))
}

fn entry(input: &str, value: &str, effect: &str) -> MagicEntry {
    MagicEntry {
        input: input.to_owned(),
        value: value.to_owned(),
        effect: effect.to_owned(),
    }
}

/// The payment-code entries of `GET /__mock/magic`: the simulated terminals and their keys.
pub fn magic_values() -> Vec<MagicEntry> {
    let mut out: Vec<MagicEntry> = terminal::TERMINALS
        .iter()
        .map(|t| {
            let merchant = crate::ledger::catalog::merchant(t.merchant_id)
                .map_or(t.merchant_id, |m| m.name);
            entry(
                "X-Terminal-Key",
                t.key,
                &format!(
                    "merchant terminal {} of {} ({}): POST /v1/terminal/redeem {{code, amount, merchant_id: \"{}\", terminal_id: \"{}\"}}",
                    t.id, merchant, t.merchant_id, t.merchant_id, t.id
                ),
            )
        })
        .collect();
    out.extend([
        entry(
            "payment code",
            "CNY 1,000.00 per code, CNY 2,000.00 per day",
            "built-in limits (paycode_limit_exceeded); change them with PUT /__mock/paycode/settings",
        ),
        entry(
            "clock",
            "POST /__mock/clock/advance {\"seconds\": 120}",
            "payment codes shown before the advance are outside the ±1-step window (paycode_expired)",
        ),
    ]);
    out
}
