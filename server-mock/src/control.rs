//! The control API under `/__mock`: what a developer or a test suite uses to steer the mock —
//! reset, clock, faults, settings, the SMS outbox, the request log and the magic-value catalogue.
//! Every call acts on the sandbox named by `X-Mock-Sandbox` (default `default`).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use upay_protocol::error::Problem;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Sb};
use crate::faults::{Fault, FaultRule};
use crate::state::{AppState, RequestRecord, Settings, SmsMessage};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reset))
        .routes(routes!(sandboxes))
        .routes(routes!(get_clock))
        .routes(routes!(advance_clock))
        .routes(routes!(list_faults, add_fault, clear_faults))
        .routes(routes!(remove_fault))
        .routes(routes!(get_settings, update_settings))
        .routes(routes!(sms))
        .routes(routes!(requests))
        .routes(routes!(magic))
        .routes(routes!(start_unlock))
        .merge(crate::ledger::control_routes())
        .merge(crate::paycode::control_routes())
        .merge(crate::savings::control_routes())
        .merge(crate::support::control_routes())
        .merge(crate::engage::control_routes())
}

/// `POST /__mock/reset`: wipes the sandbox (data, clock, faults, SMS, request log) and re-seeds
/// the demo data.
#[utoipa::path(post, path = "/__mock/reset", tag = "control", responses((status = 204)))]
async fn reset(State(app): State<AppState>, Sb(sb): Sb) -> ApiResult<StatusCode> {
    let demo = app.config().demo;
    tokio::task::spawn_blocking(move || sb.reset(demo))
        .await
        .map_err(ApiError::internal)??;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct SandboxList {
    sandboxes: Vec<String>,
}

/// `GET /__mock/sandboxes`: the sandboxes created so far.
#[utoipa::path(get, path = "/__mock/sandboxes", tag = "control", responses((status = 200, body = SandboxList)))]
async fn sandboxes(State(app): State<AppState>) -> Json<SandboxList> {
    Json(SandboxList {
        sandboxes: app.sandbox_names().await,
    })
}

#[derive(Serialize, ToSchema)]
pub struct ClockView {
    /// Mock time, Unix epoch milliseconds.
    pub now: i64,
    pub offset_ms: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct AdvanceClock {
    /// Seconds to move the clock forward (1 to 10 years' worth).
    pub seconds: i64,
}

/// `GET /__mock/clock`
#[utoipa::path(get, path = "/__mock/clock", tag = "control", responses((status = 200, body = ClockView)))]
async fn get_clock(Sb(sb): Sb) -> Json<ClockView> {
    Json(ClockView {
        now: sb.clock.now_ms(),
        offset_ms: sb.clock.offset_ms(),
    })
}

/// `POST /__mock/clock/advance`: moves time forward and runs what became due (withdrawal
/// settlement, holds expiry, interest).
#[utoipa::path(post, path = "/__mock/clock/advance", tag = "control", request_body = AdvanceClock,
    responses((status = 200, body = ClockView), (status = 422, body = Problem)))]
async fn advance_clock(
    Sb(sb): Sb,
    ApiJson(req): ApiJson<AdvanceClock>,
) -> ApiResult<Json<ClockView>> {
    if !(1..=10 * 366 * 24 * 3600).contains(&req.seconds) {
        return Err(ApiError::field(
            "seconds",
            "out_of_range",
            "must be between 1 second and 10 years",
        ));
    }
    sb.clock.advance(req.seconds * 1000);
    crate::ledger::run_due(&sb)?;
    Ok(Json(ClockView {
        now: sb.clock.now_ms(),
        offset_ms: sb.clock.offset_ms(),
    }))
}

#[derive(Serialize, ToSchema)]
struct FaultList {
    faults: Vec<FaultRule>,
}

/// `GET /__mock/faults`
#[utoipa::path(get, path = "/__mock/faults", tag = "control", responses((status = 200, body = FaultList)))]
async fn list_faults(Sb(sb): Sb) -> Json<FaultList> {
    Json(FaultList {
        faults: sb.faults.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    })
}

static NEXT_FAULT_ID: AtomicU64 = AtomicU64::new(1);

/// `POST /__mock/faults`: adds a fault rule (e.g. `{"route": "/v1/transfers", "fault":
/// {"kind": "drop_response"}, "times": 1}`).
#[utoipa::path(post, path = "/__mock/faults", tag = "control", request_body = FaultRule,
    responses((status = 201, body = FaultRule), (status = 422, body = Problem)))]
async fn add_fault(
    Sb(sb): Sb,
    ApiJson(mut rule): ApiJson<FaultRule>,
) -> ApiResult<(StatusCode, Json<FaultRule>)> {
    match rule.fault {
        Fault::Error { status } if !(500..=599).contains(&status) => {
            return Err(ApiError::field(
                "fault.status",
                "out_of_range",
                "must be a 5xx status",
            ));
        }
        Fault::Latency { ms } if ms > 60_000 => {
            return Err(ApiError::field("fault.ms", "out_of_range", "at most 60000"));
        }
        _ => {}
    }
    if rule.percent.is_some_and(|p| !(1..=100).contains(&p)) {
        return Err(ApiError::field("percent", "out_of_range", "must be 1-100"));
    }
    if rule.times == Some(0) {
        return Err(ApiError::field(
            "times",
            "out_of_range",
            "must be at least 1",
        ));
    }
    rule.id = NEXT_FAULT_ID.fetch_add(1, Ordering::Relaxed);
    sb.faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(rule.clone());
    Ok((StatusCode::CREATED, Json(rule)))
}

/// `DELETE /__mock/faults`: removes every rule.
#[utoipa::path(delete, path = "/__mock/faults", tag = "control", responses((status = 204)))]
async fn clear_faults(Sb(sb): Sb) -> StatusCode {
    sb.faults.lock().unwrap_or_else(|p| p.into_inner()).clear();
    StatusCode::NO_CONTENT
}

/// `DELETE /__mock/faults/{id}`
#[utoipa::path(delete, path = "/__mock/faults/{id}", tag = "control", params(("id" = u64, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn remove_fault(Sb(sb): Sb, Path(id): Path<u64>) -> ApiResult<StatusCode> {
    let mut rules = sb.faults.lock().unwrap_or_else(|p| p.into_inner());
    let before = rules.len();
    rules.retain(|r| r.id != id);
    if rules.len() == before {
        Err(ApiError::not_found())
    } else {
        Ok(StatusCode::NO_CONTENT)
    }
}

/// `GET /__mock/settings`
#[utoipa::path(get, path = "/__mock/settings", tag = "control", responses((status = 200, body = Settings)))]
async fn get_settings(Sb(sb): Sb) -> Json<Settings> {
    Json(sb.settings())
}

/// `PUT /__mock/settings`
#[utoipa::path(put, path = "/__mock/settings", tag = "control", request_body = Settings,
    responses((status = 200, body = Settings), (status = 422, body = Problem)))]
async fn update_settings(Sb(sb): Sb, ApiJson(new): ApiJson<Settings>) -> ApiResult<Json<Settings>> {
    if new.pbkdf2_iterations == 0 || new.rate_limit_window_secs == 0 {
        return Err(ApiError::field(
            "pbkdf2_iterations",
            "out_of_range",
            "iterations and window must be positive",
        ));
    }
    *sb.settings.lock().unwrap_or_else(|p| p.into_inner()) = new.clone();
    Ok(Json(new))
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
struct SmsQuery {
    /// Only messages to this number (as typed or E.164).
    phone: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct SmsList {
    messages: Vec<SmsMessage>,
}

/// `GET /__mock/sms`: the SMS outbox, newest last.
#[utoipa::path(get, path = "/__mock/sms", tag = "control", params(SmsQuery), responses((status = 200, body = SmsList)))]
async fn sms(Sb(sb): Sb, ApiQuery(q): ApiQuery<SmsQuery>) -> Json<SmsList> {
    let phone = q
        .phone
        .as_deref()
        .map(|p| upay_protocol::api::auth::normalize_phone(p).unwrap_or_else(|| p.to_owned()));
    let messages = sb
        .sms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|m| phone.as_deref().is_none_or(|p| m.to == p))
        .cloned()
        .collect();
    Json(SmsList { messages })
}

#[derive(Serialize, ToSchema)]
struct RequestLog {
    requests: Vec<RequestRecord>,
}

/// `GET /__mock/requests`: the last 1,000 API requests of the sandbox (no bodies).
#[utoipa::path(get, path = "/__mock/requests", tag = "control", responses((status = 200, body = RequestLog)))]
async fn requests(Sb(sb): Sb) -> Json<RequestLog> {
    Json(RequestLog {
        requests: sb.request_log(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct MagicEntry {
    /// Where the value goes (e.g. `phone`, `amount`, `card number`, `X-Mock-Scenario`).
    pub input: String,
    pub value: String,
    pub effect: String,
}

#[derive(Serialize, ToSchema)]
struct MagicCatalogue {
    demo_users: Vec<crate::demo::DemoUser>,
    values: Vec<MagicEntry>,
}

fn entry(input: &str, value: &str, effect: &str) -> MagicEntry {
    MagicEntry {
        input: input.to_owned(),
        value: value.to_owned(),
        effect: effect.to_owned(),
    }
}

/// `GET /__mock/magic`: every magic value and scenario the mock understands.
#[utoipa::path(get, path = "/__mock/magic", tag = "control", responses((status = 200, body = MagicCatalogue)))]
async fn magic() -> Json<MagicCatalogue> {
    let mut values = vec![
        entry(
            "phone",
            "1990000xxxx",
            &format!("SMS code is always {}", crate::auth::MAGIC_OTP),
        ),
        entry("X-Mock-Scenario", "latency=MS", "delay the request"),
        entry(
            "X-Mock-Scenario",
            "status=5xx",
            "answer with that status without handling the request",
        ),
        entry(
            "X-Mock-Scenario",
            "rate_limit=SECS",
            "answer 429 with Retry-After",
        ),
        entry(
            "X-Mock-Scenario",
            "drop",
            "close the connection without handling the request",
        ),
        entry(
            "X-Mock-Scenario",
            "drop_response",
            "handle (and commit) the request, then close the connection",
        ),
        entry(
            "X-Mock-Scenario",
            "risk=allow|step_up|hold|block",
            "force the risk decision (step_up on login forces an SMS code)",
        ),
        entry(
            "X-Mock-Scenario",
            "card=declined",
            "the card issuer declines the top-up or link",
        ),
        entry(
            "X-Mock-Scenario",
            "withdrawal=fail",
            "the withdrawal fails at settlement",
        ),
        entry(
            "X-Mock-Sandbox",
            "NAME",
            "use an isolated sandbox (own data, clock, faults), created on first use",
        ),
    ];
    values.extend(crate::ledger::magic_values());
    values.extend(crate::paycode::magic_values());
    values.extend(crate::savings::magic_values());
    values.extend(crate::support::magic_values());
    Json(MagicCatalogue {
        demo_users: crate::demo::DEMO_USERS.to_vec(),
        values,
    })
}

#[derive(Deserialize, ToSchema)]
struct StartUnlock {
    phone: String,
}

/// `POST /__mock/support/start-unlock`: what a support agent does for a locked-out user: send
/// the identity-verification code to the account's phone.
#[utoipa::path(post, path = "/__mock/support/start-unlock", tag = "control", request_body = StartUnlock,
    responses((status = 204), (status = 404, body = Problem)))]
async fn start_unlock(Sb(sb): Sb, ApiJson(req): ApiJson<StartUnlock>) -> ApiResult<StatusCode> {
    let phone =
        upay_protocol::api::auth::normalize_phone(&req.phone).ok_or_else(ApiError::not_found)?;
    sb.write(|tx| {
        crate::auth::store::user_by_phone(tx, &phone)?.ok_or_else(ApiError::not_found)?;
        crate::auth::send_unlock_code(&sb, tx, &phone)
    })?;
    Ok(StatusCode::NO_CONTENT)
}
