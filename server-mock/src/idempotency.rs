//! Exactly-once money requests. Every money-moving `POST` carries an `Idempotency-Key`
//! (scoped to the user). The first request with a key runs; its answer (status and body) is
//! stored in the same database transaction as the money movement, so a dropped response cannot
//! leave money moved without a record or a record without the money. A retry with the same key
//! and the same body gets the stored answer back (marked `Idempotent-Replayed: true`); with a
//! different body it is refused (`idempotency_key_reused`); while the first is still running it
//! is told to wait (`idempotency_in_flight`).
//!
//! What is stored: successes, and failures that are definite answers about the operation
//! (insufficient funds, payee not found, risk block, ...). Not stored: malformed requests,
//! missing or invalid payment confirmation and server errors — fixing those and retrying with
//! the same key is the intended path. The body fingerprint leaves out the `sca` confirmation
//! for the same reason: the retry of a request that needed a confirmation carries one.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ring::digest;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use upay_protocol::api::IDEMPOTENCY_KEY_HEADER;
use upay_protocol::error::{ErrorCode, PROBLEM_CONTENT_TYPE, Problem};

use crate::auth::AuthUser;
use crate::context::RequestContext;
use crate::error::{ApiError, ApiResult};
use crate::events::{LiveEvent, ServerEvent};
use crate::state::Sandbox;

pub const SCHEMA: &str = "
CREATE TABLE idempotency (
    user_id        TEXT NOT NULL,
    key            TEXT NOT NULL,
    route          TEXT NOT NULL,
    fingerprint    BLOB NOT NULL,          -- SHA-256 of the route and the body without `sca`
    status         INTEGER NOT NULL,
    body           BLOB NOT NULL,          -- the answer, replayed byte for byte
    transaction_id TEXT,
    error_code     TEXT,
    created_at     INTEGER NOT NULL,
    change_seq     INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
CREATE UNIQUE INDEX idempotency_user_seq ON idempotency(user_id, change_seq);
";

/// Response header set on a replayed answer.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";
const MAX_KEY_LEN: usize = 255;

/// The request's `Idempotency-Key`: 1–255 visible ASCII characters.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(IDEMPOTENCY_KEY_HEADER)
            .ok_or_else(|| ApiError::new(ErrorCode::IdempotencyKeyMissing))?;
        let key = value
            .to_str()
            .ok()
            .filter(|k| (1..=MAX_KEY_LEN).contains(&k.len()))
            .filter(|k| k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::field(
                    IDEMPOTENCY_KEY_HEADER,
                    "invalid",
                    "1-255 visible ASCII characters",
                )
            })?;
        Ok(IdempotencyKey(key.to_owned()))
    }
}

/// A successful operation's answer.
pub struct Done<T> {
    pub status: StatusCode,
    pub body: T,
    /// The history entry the operation created, reported by sync.
    pub transaction_id: Option<String>,
}

/// What an operation returns: the outer `Err` rolls back everything the operation wrote; the
/// inner `Err` keeps its writes (e.g. a fresh FX quote offered with `quote_expired`) but still
/// answers with the error.
pub type OpResult<T> = ApiResult<Result<Done<T>, ApiError>>;

/// Whether a failure is a final answer about the operation, stored and replayed.
fn is_definite(code: ErrorCode) -> bool {
    use ErrorCode::*;
    matches!(
        code,
        InsufficientFunds
            | CurrencyMismatch
            | UnsupportedCurrency
            | InvalidAmount
            | LimitExceeded
            | PayeeNotFound
            | SelfTransfer
            | MerchantNotSupported
            | QrInvalid
            | CardDeclined
            | CardNotFound
            | QuoteExpired
            | QuoteNotFound
            | QuoteUsed
            | RiskBlocked
            | AccountFrozen
    )
}

/// SHA-256 over the route and the JSON body without its `sca` member.
pub fn fingerprint(route: &str, request: &impl Serialize) -> Vec<u8> {
    let mut value = serde_json::to_value(request).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("sca");
    }
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(route.as_bytes());
    ctx.update(&[0]);
    ctx.update(value.to_string().as_bytes());
    ctx.finish().as_ref().to_vec()
}

/// Removes the in-flight mark however the request ends (including a dropped connection,
/// which drops the handler's future).
struct InFlight<'a> {
    sandbox: &'a Sandbox,
    entry: (String, String),
}

impl<'a> InFlight<'a> {
    fn enter(sandbox: &'a Sandbox, user_id: &str, key: &str) -> ApiResult<InFlight<'a>> {
        let entry = (user_id.to_owned(), key.to_owned());
        let mut set = sandbox.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if !set.insert(entry.clone()) {
            return Err(ErrorCode::IdempotencyInFlight.into());
        }
        Ok(InFlight { sandbox, entry })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.sandbox
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.entry);
    }
}

struct Stored {
    fingerprint: Vec<u8>,
    status: u16,
    body: Vec<u8>,
}

enum Outcome {
    Replay(Stored),
    Answered(Response, Vec<ServerEvent>),
}

/// Runs a money operation exactly once per (user, key). `op` runs inside the request's
/// database transaction and pushes the live events to publish once it is committed.
pub fn execute<T: Serialize>(
    user: &AuthUser,
    key: &IdempotencyKey,
    route: &str,
    request: &impl Serialize,
    op: impl FnOnce(&Transaction<'_>, &mut Vec<ServerEvent>) -> OpResult<T>,
) -> Response {
    match run(user, key, route, request, op) {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

fn run<T: Serialize>(
    user: &AuthUser,
    key: &IdempotencyKey,
    route: &str,
    request: &impl Serialize,
    op: impl FnOnce(&Transaction<'_>, &mut Vec<ServerEvent>) -> OpResult<T>,
) -> ApiResult<Response> {
    let sb = &user.sandbox;
    let _guard = InFlight::enter(sb, &user.user_id, &key.0)?;
    let fp = fingerprint(route, request);
    let now = sb.clock.now_ms();
    let outcome = sb.write(|tx| {
        if let Some(stored) = find(tx, &user.user_id, &key.0)? {
            return Ok(Outcome::Replay(stored));
        }
        let mut events = Vec::new();
        tx.execute_batch("SAVEPOINT operation")?;
        let (kept, result) = match op(tx, &mut events) {
            Ok(result) => (true, result),
            Err(e) => (false, Err(e)),
        };
        if kept {
            tx.execute_batch("RELEASE operation")?;
        } else {
            tx.execute_batch("ROLLBACK TO operation; RELEASE operation")?;
            // Writes of a refused operation were undone; what it tells the user stays.
            events.retain(|e| matches!(e.event, LiveEvent::RiskAlert { .. }));
        }
        let record = Record {
            user_id: &user.user_id,
            key: &key.0,
            route,
            fingerprint: &fp,
            now,
        };
        match result {
            Ok(done) => {
                let body = serde_json::to_vec(&done.body).map_err(ApiError::internal)?;
                record.store(
                    tx,
                    done.status.as_u16(),
                    &body,
                    done.transaction_id.as_deref(),
                    None,
                )?;
                Ok(Outcome::Answered(json_response(done.status, body), events))
            }
            Err(e) if is_definite(e.code) => {
                record.store(tx, e.code.status(), &problem_bytes(&e), None, Some(e.code))?;
                Ok(Outcome::Answered(e.into_response(), events))
            }
            Err(e) if kept => Ok(Outcome::Answered(e.into_response(), events)),
            Err(e) => Err(e),
        }
    })?;
    match outcome {
        Outcome::Replay(stored) if stored.fingerprint != fp => {
            Err(ErrorCode::IdempotencyKeyReused.into())
        }
        Outcome::Replay(stored) => Ok(replay(stored)),
        Outcome::Answered(resp, events) => {
            for e in events {
                sb.publish(e);
            }
            Ok(resp)
        }
    }
}

struct Record<'a> {
    user_id: &'a str,
    key: &'a str,
    route: &'a str,
    fingerprint: &'a [u8],
    now: i64,
}

impl Record<'_> {
    fn store(
        &self,
        conn: &Connection,
        status: u16,
        body: &[u8],
        transaction_id: Option<&str>,
        error: Option<ErrorCode>,
    ) -> ApiResult<()> {
        let seq = crate::ledger::store::next_seq(conn)?;
        let error = error
            .and_then(|c| serde_json::to_value(c).ok())
            .and_then(|v| v.as_str().map(str::to_owned));
        conn.prepare_cached(
            "INSERT INTO idempotency (user_id, key, route, fingerprint, status, body, transaction_id, error_code, created_at, change_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            self.user_id,
            self.key,
            self.route,
            self.fingerprint,
            status,
            body,
            transaction_id,
            error,
            self.now,
            seq
        ])?;
        Ok(())
    }
}

fn find(conn: &Connection, user_id: &str, key: &str) -> ApiResult<Option<Stored>> {
    Ok(conn
        .prepare_cached(
            "SELECT fingerprint, status, body FROM idempotency WHERE user_id = ?1 AND key = ?2",
        )?
        .query_row(params![user_id, key], |r| {
            Ok(Stored {
                fingerprint: r.get(0)?,
                status: r.get(1)?,
                body: r.get(2)?,
            })
        })
        .optional()?)
}

/// The problem document `e` renders to, for storing.
fn problem_bytes(e: &ApiError) -> Vec<u8> {
    let ctx = RequestContext::current();
    let mut p = Problem::new(e.code, ctx.as_ref().is_some_and(|c| c.zh));
    p.detail = e.detail.clone();
    p.errors = e.errors.clone();
    p.attempts_remaining = e.attempts_remaining;
    p.data = e.data.clone();
    p.request_id = ctx.map(|c| c.request_id);
    serde_json::to_vec(&p).unwrap_or_default()
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn replay(stored: Stored) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut resp = json_response(status, stored.body);
    if status.is_client_error() || status.is_server_error() {
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
    }
    resp.headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    resp
}

/// One stored outcome, for sync.
pub struct OutcomeRow {
    pub key: String,
    pub status: u16,
    pub transaction_id: Option<String>,
    pub error_code: Option<String>,
    pub created_at: i64,
    pub change_seq: i64,
}

/// The user's outcomes with `change_seq` in `(after, upto]`, in order, at most `limit`.
pub fn outcomes_since(
    conn: &Connection,
    user_id: &str,
    after: i64,
    upto: i64,
    limit: u32,
) -> ApiResult<Vec<OutcomeRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, status, transaction_id, error_code, created_at, change_seq FROM idempotency
         WHERE user_id = ?1 AND change_seq > ?2 AND change_seq <= ?3 ORDER BY change_seq LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![user_id, after, upto, limit], |r| {
        Ok(OutcomeRow {
            key: r.get(0)?,
            status: r.get(1)?,
            transaction_id: r.get(2)?,
            error_code: r.get(3)?,
            created_at: r.get(4)?,
            change_seq: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
