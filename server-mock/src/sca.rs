//! Strong customer authentication with dynamic linking (PSD2 style). A trusted device registers
//! an ECDSA P-256 public key; to confirm a payment it asks for a single-use challenge and signs
//! `ScaPayload::canonical_bytes` of (operation id, amount, payee, challenge) with the key, which
//! the phone keeps in hardware behind PIN or biometrics.
//!
//! Binding: `operation_id` is the `Idempotency-Key` of the money request that carries the
//! confirmation. So a signature confirms one outbox item: it cannot be moved to another request,
//! and changing the amount (by one minor unit), the currency or the payee breaks it. The server
//! never trusts what the challenge was issued for: it rebuilds the payload from the request
//! itself and checks the signature over that. A challenge is consumed by the request it
//! confirms; presenting it again is refused even with a valid signature, except as the
//! idempotent replay of that same request (which answers from the stored result and moves no
//! money).

use axum::Json;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rusqlite::{Connection, OptionalExtension, params};
use upay_protocol::api::money::{
    RiskAction, RiskDecision, ScaChallenge, ScaChallengeRequest, ScaOperation, ScaProof,
    ScaRequirement, SigningKeyRequest,
};
use upay_protocol::error::{ErrorCode, Problem};
use upay_protocol::money::{Currency, Money};
use upay_protocol::sca::ScaPayload;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult, Validator};
use crate::extract::ApiJson;
use crate::state::AppState;

pub const SCHEMA: &str = "
CREATE TABLE sca_challenges (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    operation    TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    amount       INTEGER NOT NULL,
    currency     TEXT NOT NULL,
    payee        TEXT NOT NULL,
    challenge    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);
";

/// Payments of at least this much (CNY equivalent, minor units) always need confirmation.
pub const SCA_THRESHOLD_CNY_MINOR: i64 = 200_000;
const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;
const UNCOMPRESSED_P256_LEN: usize = 65;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_signing_key))
        .routes(routes!(create_challenge))
}

/// What an operation would need confirmed, and why.
pub struct Need<'a> {
    pub operation: ScaOperation,
    pub operation_id: &'a str,
    pub amount: Money,
    pub payee: &'a str,
    /// `high_amount`, `new_payee`, `risk_step_up`; empty means no confirmation is needed.
    pub reasons: Vec<&'static str>,
    pub risk: Option<RiskDecision>,
}

impl Need<'_> {
    /// The reasons that apply to an operation of `amount_cny` (CNY minor units) after the
    /// risk engine's decision.
    pub fn reasons_for(
        amount_cny: i64,
        new_payee: bool,
        decision: &RiskDecision,
    ) -> Vec<&'static str> {
        let mut reasons = Vec::new();
        if amount_cny >= SCA_THRESHOLD_CNY_MINOR {
            reasons.push("high_amount");
        }
        if new_payee {
            reasons.push("new_payee");
        }
        if decision.action == RiskAction::StepUp {
            reasons.push("risk_step_up");
        }
        reasons
    }

    fn requirement(&self) -> ScaRequirement {
        ScaRequirement {
            operation: self.operation,
            operation_id: self.operation_id.to_owned(),
            amount: self.amount,
            payee: self.payee.to_owned(),
            reasons: self.reasons.iter().map(|r| (*r).to_owned()).collect(),
            risk: self.risk.clone(),
        }
    }
}

/// Passes when no confirmation is needed or `proof` confirms exactly this operation; consumes
/// the challenge. Runs inside the operation's transaction.
pub fn require(
    conn: &Connection,
    user: &AuthUser,
    need: &Need<'_>,
    proof: Option<&ScaProof>,
    now: i64,
) -> ApiResult<()> {
    if need.reasons.is_empty() {
        return Ok(());
    }
    let Some(key) = signing_key(conn, &user.user_id, &user.device_id)? else {
        return Err(ApiError::new(ErrorCode::DeviceKeyMissing)
            .detail("register a signing key on this device, then confirm the payment")
            .data(need.requirement()));
    };
    let Some(proof) = proof else {
        return Err(ApiError::new(ErrorCode::ScaRequired).data(need.requirement()));
    };
    let challenge = load_challenge(conn, &user.user_id, &proof.challenge_id)?
        .ok_or_else(|| ApiError::new(ErrorCode::ScaInvalid).detail("unknown challenge"))?;
    if challenge.used {
        return Err(ApiError::new(ErrorCode::ScaInvalid).detail("the challenge was already used"));
    }
    if challenge.expires_at <= now {
        return Err(ApiError::new(ErrorCode::ChallengeExpired).data(need.requirement()));
    }
    if challenge.device_id != user.device_id {
        return Err(
            ApiError::new(ErrorCode::ScaInvalid).detail("the challenge belongs to another device")
        );
    }
    // Rebuilt from the request, not from the challenge row: the signature must cover what will
    // actually be executed.
    let payload = ScaPayload {
        operation_id: need.operation_id,
        amount: need.amount,
        payee: need.payee,
        challenge: &challenge.challenge,
    };
    let signature = STANDARD
        .decode(proof.signature.as_bytes())
        .map_err(|_| ApiError::new(ErrorCode::ScaInvalid).detail("the signature is not base64"))?;
    let verified =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, &key)
            .verify(&payload.canonical_bytes(), &signature)
            .is_ok();
    if !verified || challenge.operation != need.operation.as_str() {
        return Err(ApiError::new(ErrorCode::ScaInvalid)
            .detail("the confirmation does not match this payment")
            .data(need.requirement()));
    }
    conn.prepare_cached("UPDATE sca_challenges SET used_at = ?2 WHERE id = ?1")?
        .execute(params![proof.challenge_id, now])?;
    Ok(())
}

fn signing_key(conn: &Connection, user_id: &str, device_id: &str) -> ApiResult<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT signing_key FROM devices WHERE user_id = ?1 AND device_id = ?2")?
        .query_row(params![user_id, device_id], |r| {
            r.get::<_, Option<Vec<u8>>>(0)
        })
        .optional()?
        .flatten())
}

struct ChallengeRow {
    device_id: String,
    operation: String,
    challenge: String,
    expires_at: i64,
    used: bool,
}

fn load_challenge(conn: &Connection, user_id: &str, id: &str) -> ApiResult<Option<ChallengeRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT device_id, operation, challenge, expires_at, used_at IS NOT NULL
             FROM sca_challenges WHERE id = ?1 AND user_id = ?2",
        )?
        .query_row(params![id, user_id], |r| {
            Ok(ChallengeRow {
                device_id: r.get(0)?,
                operation: r.get(1)?,
                challenge: r.get(2)?,
                expires_at: r.get(3)?,
                used: r.get(4)?,
            })
        })
        .optional()?)
}

fn random_b64(bytes: usize) -> String {
    let data: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(data)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `PUT /v1/devices/current/signing-key`: registers (or replaces) the payment-confirmation key
/// of the calling device. Only a trusted device (signed in with an SMS code or registered on it)
/// may do so.
#[utoipa::path(put, path = "/v1/devices/current/signing-key", tag = "money", security(("bearer" = [])),
    request_body = SigningKeyRequest,
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem, description = "forbidden: the device is not trusted"),
        (status = 422, body = Problem)))]
async fn put_signing_key(
    user: AuthUser,
    ApiJson(req): ApiJson<SigningKeyRequest>,
) -> ApiResult<StatusCode> {
    let key = STANDARD
        .decode(req.public_key.trim().as_bytes())
        .ok()
        .filter(|k| k.len() == UNCOMPRESSED_P256_LEN && k[0] == 0x04)
        .ok_or_else(|| {
            ApiError::field(
                "public_key",
                "invalid",
                "base64 of a 65-byte SEC1 uncompressed P-256 point",
            )
        })?;
    user.sandbox.write(|tx| {
        let trusted: Option<bool> = tx
            .prepare_cached("SELECT trusted FROM devices WHERE user_id = ?1 AND device_id = ?2")?
            .query_row(params![user.user_id, user.device_id], |r| r.get(0))
            .optional()?;
        if trusted != Some(true) {
            return Err(ApiError::new(ErrorCode::Forbidden)
                .detail("confirm this device with an SMS code first"));
        }
        tx.prepare_cached(
            "UPDATE devices SET signing_key = ?3 WHERE user_id = ?1 AND device_id = ?2",
        )?
        .execute(params![user.user_id, user.device_id, key])?;
        Ok(StatusCode::NO_CONTENT)
    })
}

/// `POST /v1/sca/challenges`: a single-use challenge (5 minutes) for confirming one operation on
/// this device. Sign `payload_hex` (decoded) with the device key and send the signature with
/// the money request whose `Idempotency-Key` is `operation_id`.
#[utoipa::path(post, path = "/v1/sca/challenges", tag = "money", security(("bearer" = [])),
    request_body = ScaChallengeRequest,
    responses((status = 201, body = ScaChallenge), (status = 401, body = Problem),
        (status = 409, body = Problem, description = "device_key_missing"), (status = 422, body = Problem)))]
async fn create_challenge(
    user: AuthUser,
    ApiJson(req): ApiJson<ScaChallengeRequest>,
) -> ApiResult<(StatusCode, Json<ScaChallenge>)> {
    let mut v = Validator::new();
    v.check(
        (1..=255).contains(&req.operation_id.len())
            && req.operation_id.bytes().all(|b| b.is_ascii_graphic()),
        "operation_id",
        "invalid",
        "the Idempotency-Key of the request to confirm",
    );
    v.text(&req.payee, "payee", 1, 64);
    v.check(
        req.amount.minor > 0,
        "amount.minor",
        "not_positive",
        "must be positive",
    );
    v.finish()?;
    let sb = &user.sandbox;
    let now = sb.clock.now_ms();
    let challenge = sb.write(|tx| {
        if signing_key(tx, &user.user_id, &user.device_id)?.is_none() {
            return Err(ErrorCode::DeviceKeyMissing.into());
        }
        let id = crate::ledger::new_id("ch_");
        let challenge = random_b64(32);
        let expires_at = now + CHALLENGE_TTL_MS;
        tx.prepare_cached(
            "INSERT INTO sca_challenges (id, user_id, device_id, operation, operation_id, amount, currency, payee, challenge, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            id,
            user.user_id,
            user.device_id,
            req.operation.as_str(),
            req.operation_id,
            req.amount.minor,
            req.amount.currency.code(),
            req.payee,
            challenge,
            now,
            expires_at
        ])?;
        let payload = ScaPayload {
            operation_id: &req.operation_id,
            amount: req.amount,
            payee: &req.payee,
            challenge: &challenge,
        };
        Ok(ScaChallenge {
            payload_hex: hex(&payload.canonical_bytes()),
            challenge_id: id,
            challenge,
            operation: req.operation,
            operation_id: req.operation_id.clone(),
            amount: req.amount,
            payee: req.payee.clone(),
            expires_at,
        })
    })?;
    Ok((StatusCode::CREATED, Json(challenge)))
}

/// The CNY equivalent of `amount` at the mid rate (rounded down), for thresholds.
pub fn cny_equivalent(amount: Money) -> i64 {
    if amount.currency == Currency::CNY {
        return amount.minor;
    }
    crate::ledger::catalog::mid_rate_to_cny(amount.currency)
        .and_then(|r| {
            r.convert(amount, Currency::CNY, upay_protocol::rate::Rounding::Down)
                .ok()
        })
        .map_or(i64::MAX, |m| m.minor)
}
