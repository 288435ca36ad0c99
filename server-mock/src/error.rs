//! `ApiError`: every failure a handler returns, rendered as RFC 9457 problem+json with the
//! request id and the caller's locale.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use upay_protocol::error::{ErrorCode, FieldError, PROBLEM_CONTENT_TYPE, Problem};

use crate::context::RequestContext;

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
    pub attempts_remaining: Option<u32>,
    pub data: Option<serde_json::Value>,
    pub retry_after_secs: Option<u64>,
    /// Overrides the code's usual status (injected 502/504 faults).
    pub status: Option<u16>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode) -> ApiError {
        ApiError {
            code,
            detail: None,
            errors: Vec::new(),
            attempts_remaining: None,
            data: None,
            retry_after_secs: None,
            status: None,
        }
    }

    /// `detail` must be user-safe: no personal data, no secrets, no echo of input values.
    pub fn detail(mut self, detail: impl Into<String>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    pub fn data(mut self, data: impl serde::Serialize) -> ApiError {
        self.data = serde_json::to_value(data).ok();
        self
    }

    pub fn retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after_secs = Some(secs);
        self
    }

    /// One invalid field, as `validation_failed`.
    pub fn field(field: &str, code: &str, message: &str) -> ApiError {
        let mut e = ApiError::new(ErrorCode::ValidationFailed);
        e.errors.push(FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.to_owned(),
        });
        e
    }

    pub fn not_found() -> ApiError {
        ApiError::new(ErrorCode::NotFound)
    }

    pub fn internal(why: impl std::fmt::Display) -> ApiError {
        // The cause goes to the log (it never holds request data); the client sees only the code.
        tracing::error!(cause = %why, "internal error");
        ApiError::new(ErrorCode::Internal)
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        ApiError::new(code)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ctx = RequestContext::current();
        let mut problem = Problem::new(self.code, ctx.as_ref().is_some_and(|c| c.zh));
        problem.detail = self.detail;
        problem.errors = self.errors;
        problem.attempts_remaining = self.attempts_remaining;
        problem.data = self.data;
        problem.request_id = ctx.map(|c| c.request_id.clone());
        if let Some(status) = self.status {
            problem.status = status;
        }
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let Some(secs) = self.retry_after_secs {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Collects field errors of one request so the client gets all of them at once.
#[derive(Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Validator {
        Validator::default()
    }

    pub fn check(&mut self, ok: bool, field: &str, code: &str, message: &str) -> &mut Self {
        if !ok {
            self.errors.push(FieldError {
                field: field.to_owned(),
                code: code.to_owned(),
                message: message.to_owned(),
            });
        }
        self
    }

    /// Text length in characters within `min..=max`, without control characters.
    pub fn text(&mut self, value: &str, field: &str, min: usize, max: usize) -> &mut Self {
        let len = value.chars().count();
        self.check(len >= min, field, "required", "must not be empty");
        self.check(len <= max, field, "too_long", "is too long");
        self.check(
            !value.chars().any(char::is_control),
            field,
            "invalid_characters",
            "contains control characters",
        )
    }

    pub fn finish(&mut self) -> ApiResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            let mut e = ApiError::new(ErrorCode::ValidationFailed);
            e.errors = std::mem::take(&mut self.errors);
            Err(e)
        }
    }
}
