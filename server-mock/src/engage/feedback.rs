//! Product feedback (产品反馈): filed once under an id the app chooses (so an offline resend
//! never files it twice), with screenshots, and a status the user can follow as staff move it
//! along and reply (control API).

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use upay_protocol::api::engage::*;
use upay_protocol::error::{ErrorCode, Problem};

use super::store;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult, Validator};
use crate::extract::{ApiJson, Sb};

fn hash(req: &FeedbackInput) -> Vec<u8> {
    let bytes = serde_json::to_vec(req).unwrap_or_default();
    ring::digest::digest(&ring::digest::SHA256, &bytes)
        .as_ref()
        .to_vec()
}

/// `PUT /v1/feedback/{feedback_id}`: files feedback once; the same id and body again returns
/// it (200), a different body under the same id is `client_id_reused`.
#[utoipa::path(put, path = "/v1/feedback/{feedback_id}", tag = "engage", security(("bearer" = [])),
    params(("feedback_id" = String, Path, description = "8-64 of [A-Za-z0-9_-], made by the app")),
    request_body = FeedbackInput,
    responses((status = 201, body = Feedback), (status = 200, body = Feedback, description = "already filed"),
        (status = 401, body = Problem), (status = 409, body = Problem, description = "client_id_reused"),
        (status = 422, body = Problem)))]
pub async fn put_feedback(
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<FeedbackInput>,
) -> ApiResult<(StatusCode, Json<Feedback>)> {
    let mut v = Validator::new();
    v.check(
        (8..=64).contains(&id.len()) && crate::support::chat::valid_client_id(&id),
        "feedback_id",
        "invalid",
        "8-64 characters of [A-Za-z0-9_-]",
    );
    v.text(&req.text, "text", 1, 2000);
    v.check(
        req.attachment_ids.len() <= 4,
        "attachment_ids",
        "too_many",
        "at most 4 screenshots",
    );
    v.finish()?;
    let h = hash(&req);
    let now = user.sandbox.clock.now_ms();
    let (created, f) = user.sandbox.write(|tx| {
        if let Some((f, stored)) = store::feedback(tx, &user.user_id, &id)? {
            return if stored == h {
                Ok((false, f))
            } else {
                Err(ErrorCode::ClientIdReused.into())
            };
        }
        crate::support::attachments::check_owned(tx, &user.user_id, &req.attachment_ids)?;
        let f = Feedback {
            id: id.clone(),
            category: req.category,
            text: req.text.clone(),
            attachment_ids: req.attachment_ids.clone(),
            status: FeedbackStatus::Received,
            replies: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        store::insert_feedback(tx, &user.user_id, &f, &h)?;
        Ok((true, f))
    })?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(f)))
}

/// `GET /v1/feedback`: the user's feedback with statuses and replies, newest first.
#[utoipa::path(get, path = "/v1/feedback", tag = "engage", security(("bearer" = [])),
    responses((status = 200, body = FeedbackList), (status = 401, body = Problem)))]
pub async fn list_feedback(user: AuthUser) -> ApiResult<Json<FeedbackList>> {
    let feedback = user.sandbox.read(|c| {
        let mut out = Vec::new();
        for id in store::feedback_ids(c, &user.user_id)? {
            if let Some((f, _)) = store::feedback(c, &user.user_id, &id)? {
                out.push(f);
            }
        }
        Ok(out)
    })?;
    Ok(Json(FeedbackList { feedback }))
}

/// `GET /v1/feedback/{feedback_id}`
#[utoipa::path(get, path = "/v1/feedback/{feedback_id}", tag = "engage", security(("bearer" = [])),
    params(("feedback_id" = String, Path)),
    responses((status = 200, body = Feedback), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_feedback(user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Feedback>> {
    user.sandbox
        .read(|c| store::feedback(c, &user.user_id, &id))?
        .map(|(f, _)| Json(f))
        .ok_or_else(ApiError::not_found)
}

/// `POST /__mock/feedback/{feedback_id}/status`: staff move a user's feedback and may reply.
#[utoipa::path(post, path = "/__mock/feedback/{feedback_id}/status", tag = "control",
    params(("feedback_id" = String, Path)), request_body = FeedbackStatusChange,
    responses((status = 200, body = Feedback), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn mock_feedback_status(
    Sb(sb): Sb,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<FeedbackStatusChange>,
) -> ApiResult<Json<Feedback>> {
    if let Some(r) = &req.reply {
        Validator::new().text(r, "reply", 1, 2000).finish()?;
    }
    let now = sb.clock.now_ms();
    sb.write(|tx| {
        store::feedback(tx, &req.user_id, &id)?.ok_or_else(ApiError::not_found)?;
        store::set_feedback_status(tx, &req.user_id, &id, req.status, req.reply.as_deref(), now)?;
        store::feedback(tx, &req.user_id, &id)?
            .map(|(f, _)| Json(f))
            .ok_or_else(ApiError::not_found)
    })
}
