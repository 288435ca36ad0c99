//! Product feedback (产品反馈) and satisfaction surveys.
//!
//! Feedback is the user's intent, like a payment: [`submit`] stores it at once in
//! `feedback_outbox` (text sealed, screenshots sealed in `screenshots`) under an id made on the
//! device before the first send, and [`flush`] files it with the idempotent
//! `PUT /v1/feedback/{id}` (screenshots uploaded first), one at a time in the order written,
//! stopping at the first network failure. Resending the same id and body returns the same
//! feedback, so a lost answer never files it twice. A row leaves the outbox only in the
//! transaction that stores the server's copy in `feedback_cache`, a sealed mirror of
//! `GET /v1/feedback` (statuses and staff replies) that the list reads offline.
//!
//! Surveys are read and answered online (`GET /v1/surveys`, `PUT /v1/surveys/{id}/response`,
//! once per cycle).

use reqwest::Method;
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use upay_protocol::api::engage::{
    Feedback, FeedbackCategory as WireCategory, FeedbackInput, FeedbackList,
    FeedbackStatus as WireStatus, SurveyAnswer, SurveyList, SurveyQuestionKind, SurveyReceipt,
    SurveyResponse,
};

use crate::chat::{Ctx, background_ctx, code_of, ctx, is_permanent};
use crate::core::{Core, net};
use crate::crypto::Place;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::model::now_ms;

/// Longest feedback text, in characters.
pub const MAX_FEEDBACK_CHARS: usize = 2000;

/// One flush at a time keeps feedback in the order written.
#[derive(Default)]
pub struct FeedbackRuntime {
    send_lock: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
pub enum FeedbackCategory {
    Bug,
    FeatureRequest,
    Payments,
    Account,
    Support,
    Other,
}

/// Where the team has got with a piece of feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FeedbackStatus {
    Received,
    UnderReview,
    Planned,
    Done,
    Declined,
}

/// Whether the feedback has reached uPay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FeedbackSendState {
    /// Stored on the device, not tried yet (offline).
    Pending,
    Sending,
    /// Filed: `status` says where it is.
    Sent,
    /// A network failure: sent again with the next flush.
    FailedRetryable,
    /// Refused (`error_code`): not sent again unless the user taps retry.
    FailedPermanent,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FeedbackReplyView {
    pub status: FeedbackStatus,
    /// Staff's answer, when they wrote one with the change.
    pub text: Option<String>,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FeedbackView {
    pub id: String,
    pub category: FeedbackCategory,
    pub text: String,
    pub send_state: FeedbackSendState,
    pub error_code: Option<ErrorCode>,
    /// `None` until filed.
    pub status: Option<FeedbackStatus>,
    pub screenshots: u32,
    /// Status changes and staff replies, oldest first.
    pub replies: Vec<FeedbackReplyView>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SurveyQuestionKindView {
    /// 1–5.
    Rating,
    /// 0–10.
    Scale,
    /// The index of one of `options`.
    Choice,
    /// Free text, up to 1000 characters.
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SurveyQuestionView {
    pub id: String,
    pub kind: SurveyQuestionKindView,
    pub text: String,
    pub options: Vec<String>,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SurveyView {
    pub id: String,
    pub title: String,
    pub questions: Vec<SurveyQuestionView>,
    pub every_days: u32,
    /// The survey comes back after this time.
    pub cycle_ends_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SurveyAnswerInput {
    pub question_id: String,
    /// For rating, scale and choice questions.
    pub value: Option<u32>,
    /// For text questions.
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SurveyReceiptView {
    pub survey_id: String,
    pub cycle: u32,
    pub answered_at: i64,
}

/// What is sealed in `feedback_outbox.body`.
#[derive(Serialize, Deserialize)]
struct Draft {
    category: FeedbackCategory,
    text: String,
    screenshots: u32,
}

fn wire_category(c: FeedbackCategory) -> WireCategory {
    match c {
        FeedbackCategory::Bug => WireCategory::Bug,
        FeedbackCategory::FeatureRequest => WireCategory::FeatureRequest,
        FeedbackCategory::Payments => WireCategory::Payments,
        FeedbackCategory::Account => WireCategory::Account,
        FeedbackCategory::Support => WireCategory::Support,
        FeedbackCategory::Other => WireCategory::Other,
    }
}

fn category_view(c: WireCategory) -> FeedbackCategory {
    match c {
        WireCategory::Bug => FeedbackCategory::Bug,
        WireCategory::FeatureRequest => FeedbackCategory::FeatureRequest,
        WireCategory::Payments => FeedbackCategory::Payments,
        WireCategory::Account => FeedbackCategory::Account,
        WireCategory::Support => FeedbackCategory::Support,
        WireCategory::Other => FeedbackCategory::Other,
    }
}

fn status_view(s: WireStatus) -> FeedbackStatus {
    match s {
        WireStatus::Received => FeedbackStatus::Received,
        WireStatus::UnderReview => FeedbackStatus::UnderReview,
        WireStatus::Planned => FeedbackStatus::Planned,
        WireStatus::Done => FeedbackStatus::Done,
        WireStatus::Declined => FeedbackStatus::Declined,
    }
}

fn status_text(s: WireStatus) -> &'static str {
    match s {
        WireStatus::Received => "received",
        WireStatus::UnderReview => "under_review",
        WireStatus::Planned => "planned",
        WireStatus::Done => "done",
        WireStatus::Declined => "declined",
    }
}

fn outbox_place<'a>(id: &'a str, user: &'a str) -> Place<'a> {
    Place::new("feedback_outbox", "body", id, user)
}

fn cache_place<'a>(id: &'a str, user: &'a str) -> Place<'a> {
    Place::new("feedback_cache", "body", id, user)
}

fn parent_of(id: &str) -> String {
    format!("feedback:{id}")
}

fn new_id() -> CoreResult<String> {
    let mut b = [0u8; 16];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| CoreError::client(ErrorCode::Storage))?;
    Ok(format!(
        "fb_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

/// Stores feedback (1–2000 characters, up to 4 screenshots of at most 5 MB) as the user's
/// intent and tries to send it; returns it as it stands (offline: `Pending`).
pub async fn submit(
    core: &Core,
    category: FeedbackCategory,
    text: &str,
    screenshots: Vec<Vec<u8>>,
) -> CoreResult<FeedbackView> {
    let c = ctx(core)?;
    let n = text.trim().chars().count();
    if n == 0 || text.chars().count() > MAX_FEEDBACK_CHARS {
        return Err(CoreError::invalid("text").localized(core.zh()));
    }
    crate::screenshots::check(&screenshots, core.zh())?;
    let id = new_id()?;
    let draft = Draft {
        category,
        text: text.to_owned(),
        screenshots: screenshots.len() as u32,
    };
    let body = core
        .cipher
        .seal_json(&outbox_place(&id, &c.user_id), &draft)?;
    core.store.write(|tx| {
        tx.execute(
            "INSERT INTO feedback_outbox (id, owner_tag, state, created_at, body)
             VALUES (?1, ?2, 'pending', ?3, ?4)",
            params![id, c.tag, now_ms(), body],
        )?;
        crate::screenshots::insert(core, tx, &c.user_id, c.tag, &parent_of(&id), &screenshots)?;
        Ok(())
    })?;
    // Offline is what the outbox is for: the stored item is the answer.
    let _ = flush(core).await;
    find(core, &id)?.ok_or_else(|| CoreError::client(ErrorCode::ItemNotFound))
}

fn set_state(core: &Core, id: &str, state: &str, code: Option<ErrorCode>) -> CoreResult<()> {
    let code = code.map(|c| format!("{c:?}"));
    core.store.write(|tx| {
        tx.execute(
            "UPDATE feedback_outbox SET state = ?2, error_code = ?3,
                 attempts = attempts + (?2 = 'sending')
             WHERE id = ?1",
            params![id, state, code],
        )?;
        Ok(())
    })
}

/// Whether feedback of this user waits to be filed (the worker retries it on its own schedule).
pub(crate) fn has_unsent(core: &Core, owner_tag: i64) -> CoreResult<bool> {
    core.store.read(|conn| {
        Ok(conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM feedback_outbox
                            WHERE owner_tag = ?1
                              AND state IN ('pending', 'sending', 'failed_retryable'))",
            [owner_tag],
            |r| r.get(0),
        )?)
    })
}

/// Files the queued feedback in the order written; stops at the first network failure.
/// Returns how many were filed. Call when the network returns.
pub async fn flush(core: &Core) -> CoreResult<u32> {
    let c = background_ctx(core)?;
    let _guard = core.feedback.send_lock.lock().await;
    let mut sent = 0;
    loop {
        let next: Option<(String, Vec<u8>)> = core.store.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT id, body FROM feedback_outbox
                     WHERE owner_tag = ?1 AND state IN ('pending', 'sending', 'failed_retryable')
                     ORDER BY created_at, rowid LIMIT 1",
                    [c.tag],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })?;
        let Some((id, body)) = next else {
            break;
        };
        let Ok(draft) = core
            .cipher
            .open_json::<Draft>(&outbox_place(&id, &c.user_id), &body)
        else {
            // Sealed under a key this device lost: it cannot be sent and must not block the
            // queue. The row is kept (never dropped), failed.
            set_state(core, &id, "failed_permanent", Some(ErrorCode::KeyLost))?;
            continue;
        };
        set_state(core, &id, "sending", None)?;
        let parent = parent_of(&id);
        let result = match crate::screenshots::upload(core, &c.user_id, &parent).await {
            Ok(attachment_ids) => {
                let input = FeedbackInput {
                    category: wire_category(draft.category),
                    text: draft.text,
                    attachment_ids,
                };
                let body = serde_json::to_vec(&input)
                    .map_err(|_| CoreError::client(ErrorCode::Storage))?;
                core.send_authed(
                    Method::PUT,
                    &format!("/v1/feedback/{id}"),
                    Some(body),
                    None,
                    core.interactive(),
                )
                .await
                .and_then(|a| crate::api::decode::<Feedback>(&a))
            }
            Err(crate::screenshots::UploadError::Net(e)) => Err(e),
            Err(crate::screenshots::UploadError::Unreadable) => {
                set_state(core, &id, "failed_permanent", Some(ErrorCode::KeyLost))?;
                continue;
            }
            Err(crate::screenshots::UploadError::Local(e)) => return Err(e),
        };
        match result {
            Ok(filed) => {
                core.store.write(|tx| {
                    store_copy(core, tx, &c, &filed)?;
                    tx.execute("DELETE FROM feedback_outbox WHERE id = ?1", [&id])?;
                    // The server has the images now; the list shows their count.
                    crate::screenshots::delete(tx, &parent)?;
                    Ok(())
                })?;
                sent += 1;
            }
            Err(e) if is_permanent(&e) => {
                let code = e.code().map(ErrorCode::from).unwrap_or(ErrorCode::Unknown);
                set_state(core, &id, "failed_permanent", Some(code))?;
            }
            Err(e) => {
                set_state(core, &id, "failed_retryable", None)?;
                return Err(net(core)(e));
            }
        }
    }
    Ok(sent)
}

fn store_copy(
    core: &Core,
    tx: &rusqlite::Transaction<'_>,
    c: &Ctx,
    f: &Feedback,
) -> CoreResult<()> {
    let body = core.cipher.seal_json(&cache_place(&f.id, &c.user_id), f)?;
    tx.execute(
        "INSERT INTO feedback_cache (id, owner_tag, status, created_at, updated_at, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET status = excluded.status,
             updated_at = excluded.updated_at, body = excluded.body",
        params![
            f.id,
            c.tag,
            status_text(f.status),
            f.created_at,
            f.updated_at,
            body
        ],
    )?;
    Ok(())
}

/// Puts feedback that failed permanently back in the queue (the user tapped retry).
pub fn retry(core: &Core, id: &str) -> CoreResult<bool> {
    let c = ctx(core)?;
    core.store.write(|tx| {
        Ok(tx.execute(
            "UPDATE feedback_outbox SET state = 'pending', error_code = NULL
             WHERE owner_tag = ?1 AND id = ?2 AND state = 'failed_permanent'",
            params![c.tag, id],
        )? > 0)
    })
}

/// Fetches the user's feedback with statuses and staff replies into the cache (the server's
/// list replaces the cached one) and returns the list.
pub async fn refresh(core: &Core) -> CoreResult<Vec<FeedbackView>> {
    let c = ctx(core)?;
    // Not beside a flush: a list fetched before the flush filed an item would replace the
    // cached copy the flush wrote, and the item would vanish until the next refresh.
    let _guard = core.feedback.send_lock.lock().await;
    let answer = core
        .send_authed(Method::GET, "/v1/feedback", None, None, core.interactive())
        .await
        .map_err(net(core))?;
    let list: FeedbackList = crate::api::decode(&answer).map_err(net(core))?;
    core.store.write(|tx| {
        tx.execute("DELETE FROM feedback_cache WHERE owner_tag = ?1", [c.tag])?;
        for f in &list.feedback {
            store_copy(core, tx, &c, f)?;
        }
        Ok(())
    })?;
    list_cached(core)
}

type OutboxRow = (String, String, Option<String>, i64, Vec<u8>);

/// The user's feedback from the cache (offline): what is still on the device first, then what
/// was filed, newest first.
pub fn list_cached(core: &Core) -> CoreResult<Vec<FeedbackView>> {
    let c = ctx(core)?;
    let (queued, filed): (Vec<OutboxRow>, Vec<(String, Vec<u8>)>) = core.store.read(|conn| {
        let mut st = conn.prepare(
            "SELECT id, state, error_code, created_at, body FROM feedback_outbox
             WHERE owner_tag = ?1 ORDER BY created_at DESC, rowid DESC",
        )?;
        let queued = st
            .query_map([c.tag], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut st = conn.prepare(
            "SELECT id, body FROM feedback_cache WHERE owner_tag = ?1
             ORDER BY created_at DESC, rowid DESC",
        )?;
        let filed = st
            .query_map([c.tag], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((queued, filed))
    })?;
    let mut out = Vec::with_capacity(queued.len() + filed.len());
    for row in queued {
        // Filed, though its answer was lost (a refresh brought the server's copy): shown once,
        // as the server has it; the outbox row goes with the next flush.
        if filed.iter().any(|(id, _)| *id == row.0) {
            continue;
        }
        // Unreadable under a lost key: nothing to show (and nothing the server ever saw).
        if let Ok(v) = queued_view(core, &c, row) {
            out.push(v);
        }
    }
    for (id, body) in filed {
        if let Ok(f) = core
            .cipher
            .open_json::<Feedback>(&cache_place(&id, &c.user_id), &body)
        {
            out.push(filed_view(&f));
        }
    }
    Ok(out)
}

fn queued_view(core: &Core, c: &Ctx, row: OutboxRow) -> CoreResult<FeedbackView> {
    let (id, state, error_code, created_at, body) = row;
    let draft: Draft = core
        .cipher
        .open_json(&outbox_place(&id, &c.user_id), &body)?;
    let send_state = match state.as_str() {
        "sending" => FeedbackSendState::Sending,
        "failed_retryable" => FeedbackSendState::FailedRetryable,
        "failed_permanent" => FeedbackSendState::FailedPermanent,
        _ => FeedbackSendState::Pending,
    };
    Ok(FeedbackView {
        id,
        category: draft.category,
        text: draft.text,
        send_state,
        error_code: error_code.as_deref().map(code_of),
        status: None,
        screenshots: draft.screenshots,
        replies: Vec::new(),
        created_at,
        updated_at: created_at,
    })
}

fn filed_view(f: &Feedback) -> FeedbackView {
    FeedbackView {
        id: f.id.clone(),
        category: category_view(f.category),
        text: f.text.clone(),
        send_state: FeedbackSendState::Sent,
        error_code: None,
        status: Some(status_view(f.status)),
        screenshots: f.attachment_ids.len() as u32,
        replies: f
            .replies
            .iter()
            .map(|r| FeedbackReplyView {
                status: status_view(r.status),
                text: r.text.clone(),
                at: r.at,
            })
            .collect(),
        created_at: f.created_at,
        updated_at: f.updated_at,
    }
}

fn find(core: &Core, id: &str) -> CoreResult<Option<FeedbackView>> {
    Ok(list_cached(core)?.into_iter().find(|f| f.id == id))
}

/// The surveys the user has not answered in their current cycle (online).
pub async fn surveys(core: &Core) -> CoreResult<Vec<SurveyView>> {
    ctx(core)?;
    let answer = core
        .send_authed(Method::GET, "/v1/surveys", None, None, core.interactive())
        .await
        .map_err(net(core))?;
    let list: SurveyList = crate::api::decode(&answer).map_err(net(core))?;
    Ok(list
        .surveys
        .into_iter()
        .map(|s| SurveyView {
            id: s.id,
            title: s.title,
            questions: s
                .questions
                .into_iter()
                .map(|q| SurveyQuestionView {
                    id: q.id,
                    kind: match q.kind {
                        SurveyQuestionKind::Rating => SurveyQuestionKindView::Rating,
                        SurveyQuestionKind::Scale => SurveyQuestionKindView::Scale,
                        SurveyQuestionKind::Choice => SurveyQuestionKindView::Choice,
                        SurveyQuestionKind::Text => SurveyQuestionKindView::Text,
                    },
                    text: q.text,
                    options: q.options,
                    required: q.required,
                })
                .collect(),
            every_days: s.every_days,
            cycle_ends_at: s.cycle_ends_at,
        })
        .collect())
}

/// Answers a survey (online; once per cycle, a second time is `SurveyAlreadyAnswered`).
/// The server checks each answer against its question (`ValidationFailed` names the field).
pub async fn answer_survey(
    core: &Core,
    survey_id: &str,
    answers: Vec<SurveyAnswerInput>,
) -> CoreResult<SurveyReceiptView> {
    ctx(core)?;
    let safe = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !safe(survey_id) {
        return Err(CoreError::invalid("survey_id").localized(core.zh()));
    }
    let body = serde_json::to_vec(&SurveyResponse {
        answers: answers
            .into_iter()
            .map(|a| SurveyAnswer {
                question_id: a.question_id,
                value: a.value,
                text: a.text,
            })
            .collect(),
    })
    .map_err(|_| CoreError::client(ErrorCode::Storage))?;
    let answer = core
        .send_authed(
            Method::PUT,
            &format!("/v1/surveys/{survey_id}/response"),
            Some(body),
            None,
            core.interactive(),
        )
        .await
        .map_err(net(core))?;
    let r: SurveyReceipt = crate::api::decode(&answer).map_err(net(core))?;
    Ok(SurveyReceiptView {
        survey_id: r.survey_id,
        cycle: r.cycle,
        answered_at: r.answered_at,
    })
}
