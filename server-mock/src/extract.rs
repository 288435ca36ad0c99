//! Extractors whose rejections are problem documents with stable codes, never axum's plain
//! text, and never an echo of the input (a rejected field may hold a card number).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use upay_protocol::error::ErrorCode;

use crate::error::ApiError;
use crate::faults::Scenario;
use crate::state::Sandbox;

/// A JSON body. Wrong content type → `unsupported_media_type`; too large → `payload_too_large`;
/// not JSON → `invalid_request`; wrong shape → `validation_failed` naming the field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json") || m.ends_with("+json")
            });
        if !is_json {
            return Err(
                ApiError::new(ErrorCode::UnsupportedMediaType).detail("send application/json")
            );
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge))?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let text = inner.to_string();
                let (field, code) = if let Some(rest) = text.strip_prefix("missing field `") {
                    let name = rest.split('`').next().unwrap_or_default();
                    let field = if path == "." {
                        name.to_owned()
                    } else {
                        format!("{path}.{name}")
                    };
                    (field, "required")
                } else if text.starts_with("unknown variant") {
                    (path, "unknown_value")
                } else {
                    (path, "invalid")
                };
                ApiError::field(&field, code, "has a missing or invalid value")
            }
            _ => ApiError::new(ErrorCode::InvalidRequest).detail("the body is not valid JSON"),
        }
    })
}

/// Query parameters, rejected like `ApiJson`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                ApiError::field(
                    &e.path().to_string(),
                    "invalid",
                    "has a missing or invalid value",
                )
            })
    }
}

/// The request's sandbox (set by the context middleware).
pub struct Sb(pub Arc<Sandbox>);

impl<S: Send + Sync> FromRequestParts<S> for Sb {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<Sandbox>>()
            .cloned()
            .map(Sb)
            .ok_or_else(|| ApiError::internal("no sandbox"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Scenario {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Scenario>()
            .cloned()
            .unwrap_or_default())
    }
}
