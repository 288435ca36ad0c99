//! Screenshot uploads: the raw image as the request body (PNG, JPEG or WebP, at most 5 MB),
//! recognised by its bytes and checked by its header dimensions, stored per user. Only the
//! owner (and an agent whose conversation shows it) can fetch it; anyone else gets 404.
//!
//! This is the one route with a body above the API's 64 KB limit: it reads its body itself, with
//! its own limit, so the problem answer is ours rather than the framework's plain-text 413.

use axum::Json;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use upay_protocol::api::support::{Attachment, MAX_ATTACHMENT_BYTES};
use upay_protocol::error::{ErrorCode, Problem};

use super::image::{self, ImageError};
use super::store;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};

/// An oversized upload is read (and thrown away) up to this size before the 413, so the client
/// is not cut off mid-send and actually sees the answer; beyond it the connection is dropped.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

const ACCEPTED: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/webp",
    "application/octet-stream",
];

fn too_large() -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge).detail("screenshots are limited to 5 MB")
}

fn not_an_image() -> ApiError {
    ApiError::new(ErrorCode::UnsupportedMediaType).detail("send a PNG, JPEG or WebP screenshot")
}

/// Reads at most `MAX_ATTACHMENT_BYTES`; a larger body is drained and refused.
async fn read_limited(body: Body) -> ApiResult<Vec<u8>> {
    let mut stream = body.into_data_stream();
    let mut data = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::new(ErrorCode::InvalidRequest))?;
        seen += chunk.len();
        if seen > DRAIN_LIMIT {
            return Err(too_large());
        }
        if seen <= MAX_ATTACHMENT_BYTES {
            data.extend_from_slice(&chunk);
        }
    }
    if seen > MAX_ATTACHMENT_BYTES {
        return Err(too_large());
    }
    Ok(data)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `POST /v1/support/attachments`: upload a screenshot (raw bytes, `Content-Type` `image/png`,
/// `image/jpeg`, `image/webp` or `application/octet-stream`). Reference the returned id in a
/// message's `attachment_ids` or in feedback.
#[utoipa::path(post, path = "/v1/support/attachments", tag = "support", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png", description = "the screenshot, at most 5 MB"),
    responses((status = 201, body = Attachment), (status = 401, body = Problem),
        (status = 413, body = Problem, description = "payload_too_large"),
        (status = 415, body = Problem, description = "unsupported_media_type: not a PNG, JPEG or WebP"),
        (status = 422, body = Problem, description = "image_invalid: damaged or absurd dimensions")))]
pub async fn upload(
    user: AuthUser,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Attachment>)> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared_len.is_some_and(|n| n > DRAIN_LIMIT) {
        return Err(too_large());
    }
    let data = read_limited(body).await?;
    if !ACCEPTED.contains(&declared.as_str()) {
        return Err(not_an_image());
    }
    let (kind, width, height) = image::inspect(&data).map_err(|e| match e {
        ImageError::NotAnImage => not_an_image(),
        ImageError::Invalid => ApiError::new(ErrorCode::ImageInvalid),
    })?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &data);
    let sb = user.sandbox.clone();
    let meta = Attachment {
        id: format!("att_{}", super::random_token(20)),
        content_type: kind.mime().to_owned(),
        width,
        height,
        size_bytes: data.len() as u64,
        sha256: hex(digest.as_ref()),
        created_at: sb.clock.now_ms(),
    };
    sb.write(|tx| store::insert_attachment(tx, &user.user_id, &meta, &data))?;
    Ok((StatusCode::CREATED, Json(meta)))
}

pub fn image_response(meta: &Attachment, data: Vec<u8>) -> Response {
    let mut resp = data.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&meta.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    // Served as exactly what it was validated as, never sniffed into something else.
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400, immutable"),
    );
    resp
}

/// `GET /v1/support/attachments/{id}`: the owner's screenshot.
#[utoipa::path(get, path = "/v1/support/attachments/{id}", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "the image (image/png, image/jpeg or image/webp)", content_type = "image/png"),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn download(user: AuthUser, Path(id): Path<String>) -> ApiResult<Response> {
    let (meta, data) = user.sandbox.read(|conn| {
        let row = store::attachment_meta(conn, &id)?
            .filter(|a| a.user_id == user.user_id)
            .ok_or_else(ApiError::not_found)?;
        Ok((row.meta, store::attachment_data(conn, &id)?))
    })?;
    Ok(image_response(&meta, data))
}

/// `GET /v1/support/attachments/{id}/meta`
#[utoipa::path(get, path = "/v1/support/attachments/{id}/meta", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Attachment), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn metadata(user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Attachment>> {
    user.sandbox
        .read(|conn| {
            store::attachment_meta(conn, &id)?
                .filter(|a| a.user_id == user.user_id)
                .map(|a| a.meta)
                .ok_or_else(ApiError::not_found)
        })
        .map(Json)
}

/// Used by feedback: the same ownership rule as messages.
pub fn check_owned(conn: &rusqlite::Connection, owner: &str, ids: &[String]) -> ApiResult<()> {
    super::chat::check_attachments(conn, owner, ids)
}
