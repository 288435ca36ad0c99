//! The per-request context: request id, locale and sandbox, set by the outermost middleware and
//! readable anywhere below it (errors render themselves with it).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use upay_protocol::api::REQUEST_ID_HEADER;
use upay_protocol::error::ErrorCode;

use crate::error::ApiError;
use crate::state::{AppState, RequestRecord, Sandbox};

/// Header selecting an isolated sandbox (own data, clock and faults). Absent: `default`.
pub const SANDBOX_HEADER: &str = "X-Mock-Sandbox";

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    /// The client asked for Chinese (`Accept-Language: zh…`).
    pub zh: bool,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

impl RequestContext {
    pub fn current() -> Option<RequestContext> {
        CONTEXT.try_with(Clone::clone).ok()
    }
}

pub fn prefers_zh(headers: &HeaderMap) -> bool {
    // First language tag wins; no q-value weighing: the apps send one language.
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|tag| tag.trim().to_ascii_lowercase().starts_with("zh"))
}

fn valid_sandbox_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Outermost middleware: assigns the request id, resolves the sandbox, records the request in
/// the sandbox's request log and stamps `Request-Id` on the response.
pub async fn request_context(
    State(app): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let ctx = RequestContext {
        request_id: app.next_request_id(),
        zh: prefers_zh(req.headers()),
    };
    let path = req.uri().path().to_owned();
    let mut log = LogOnDrop {
        sandbox: None,
        started: Instant::now(),
        record: RequestRecord {
            request_id: ctx.request_id.clone(),
            at: 0,
            method: req.method().to_string(),
            path: path.clone(),
            status: 0,
            duration_us: 0,
            scenario: req
                .headers()
                .get(crate::faults::SCENARIO_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        },
    };
    let sandbox_name = req
        .headers()
        .get(SANDBOX_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("default")
        .to_owned();

    let run = async {
        if !valid_sandbox_name(&sandbox_name) {
            let e = ApiError::field(
                SANDBOX_HEADER,
                "invalid",
                "1-64 characters of [A-Za-z0-9_-]",
            );
            return e.into_response();
        }
        let sandbox = match app.sandbox(&sandbox_name).await {
            Ok(sb) => sb,
            Err(e) => return e.into_response(),
        };
        // The control API's own traffic would drown what a developer is looking for.
        if !path.starts_with("/__mock") {
            log.record.at = sandbox.clock.now_ms();
            log.sandbox = Some(sandbox.clone());
        }
        req.extensions_mut().insert(sandbox);
        next.run(req).await
    };
    let mut resp = CONTEXT.scope(ctx.clone(), run).await;
    log.record.status = resp.status().as_u16();
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

/// Writes the request-log line when the request ends, including when a fault dropped the
/// connection (the future is dropped mid-way; the line then has status 0).
struct LogOnDrop {
    sandbox: Option<Arc<Sandbox>>,
    started: Instant,
    record: RequestRecord,
}

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        if let Some(sb) = self.sandbox.take() {
            let mut record = self.record.clone();
            record.duration_us = self.started.elapsed().as_micros() as u64;
            sb.record_request(record);
        }
    }
}

/// Fallback for unknown routes: a problem body, not axum's empty 404.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound).detail("no such endpoint")
}
