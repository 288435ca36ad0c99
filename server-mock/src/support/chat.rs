//! The user's side of the support chat over HTTP: the current conversation, the idempotent
//! message write, paging, receipts, typing and closing.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::Deserialize;
use upay_protocol::api::support::*;
use upay_protocol::error::{ErrorCode, Problem};
use utoipa::IntoParams;

use super::engine::{self, Text, Writer};
use super::hub::{HubMsg, hub};
use super::store::{self, ConvRow, NewMessage};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult, Validator};
use crate::extract::{ApiJson, ApiQuery};
use crate::help::kb::Locale;

/// Most messages one page returns.
pub const MAX_PAGE: usize = 200;

pub fn valid_client_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn body_hash(req: &SendMessage) -> Vec<u8> {
    let bytes = serde_json::to_vec(req).unwrap_or_default();
    ring::digest::digest(&ring::digest::SHA256, &bytes)
        .as_ref()
        .to_vec()
}

/// Checks a message body; `allow_csat` is false for agents.
pub fn validate_message(req: &SendMessage, allow_csat: bool) -> ApiResult<()> {
    let mut v = Validator::new();
    v.check(
        !req.text.trim().is_empty() || !req.attachment_ids.is_empty() || req.csat.is_some(),
        "text",
        "required",
        "send text, screenshots or a rating",
    );
    v.check(
        req.text.chars().count() <= MAX_MESSAGE_CHARS,
        "text",
        "too_long",
        "is too long",
    );
    v.check(
        !req.text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "text",
        "invalid_characters",
        "contains control characters",
    );
    v.check(
        req.attachment_ids.len() <= MAX_ATTACHMENTS_PER_MESSAGE,
        "attachment_ids",
        "too_many",
        "at most 4 screenshots per message",
    );
    if let Some(c) = &req.csat {
        v.check(allow_csat, "csat", "not_allowed", "only the user rates");
        v.check(
            (1..=5).contains(&c.score),
            "csat.score",
            "out_of_range",
            "must be 1-5",
        );
        if let Some(comment) = &c.comment {
            v.check(
                comment.chars().count() <= 1000,
                "csat.comment",
                "too_long",
                "is too long",
            );
        }
    }
    v.finish()
}

/// Every referenced screenshot must be the sender's own; someone else's looks like a missing one.
pub fn check_attachments(
    conn: &rusqlite::Connection,
    owner: &str,
    ids: &[String],
) -> ApiResult<()> {
    for (i, id) in ids.iter().enumerate() {
        let ok = store::attachment_meta(conn, id)?.is_some_and(|a| a.user_id == owner);
        if !ok {
            return Err(ApiError::field(
                &format!("attachment_ids[{i}]"),
                "not_found",
                "no such screenshot",
            ));
        }
    }
    Ok(())
}

/// A message written before under this client id: the same answer again, or a conflict when
/// the body differs.
pub fn replay(
    conn: &rusqlite::Connection,
    conversation_id: &str,
    sender_id: &str,
    client_msg_id: &str,
    hash: &[u8],
) -> ApiResult<Option<SentMessage>> {
    match store::message_by_client_id(conn, conversation_id, sender_id, client_msg_id)? {
        Some((message, stored)) if stored == hash => {
            let replies = store::replies_to(conn, conversation_id, message.seq)?;
            Ok(Some(SentMessage { message, replies }))
        }
        Some(_) => Err(ErrorCode::ClientIdReused.into()),
        None => Ok(None),
    }
}

fn new_conversation_id() -> String {
    format!("C{}", super::random_token(12))
}

/// `POST /v1/support/conversations`: the user's open conversation, started if there is none
/// (one open conversation per user; history is kept).
#[utoipa::path(post, path = "/v1/support/conversations", tag = "support", security(("bearer" = [])),
    responses((status = 201, body = Conversation, description = "a new conversation"),
        (status = 200, body = Conversation, description = "the open conversation"), (status = 401, body = Problem)))]
pub async fn start_conversation(user: AuthUser) -> ApiResult<(StatusCode, Json<Conversation>)> {
    let now = user.sandbox.clock.now_ms();
    let zh = Locale::current().zh();
    let (created, view) = user.sandbox.write(|tx| {
        if let Some(c) = store::open_conversation(tx, &user.user_id)? {
            return Ok((false, engine::view(tx, &c)?));
        }
        let id = new_conversation_id();
        store::insert_conversation(tx, &id, &user.user_id, zh, now)?;
        let c = store::conversation(tx, &id)?.ok_or_else(|| ApiError::internal("lost row"))?;
        Ok((true, engine::view(tx, &c)?))
    })?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

/// `GET /v1/support/conversations`: every conversation of the user, newest first.
#[utoipa::path(get, path = "/v1/support/conversations", tag = "support", security(("bearer" = [])),
    responses((status = 200, body = ConversationList), (status = 401, body = Problem)))]
pub async fn list_conversations(user: AuthUser) -> ApiResult<Json<ConversationList>> {
    let conversations = user.sandbox.read(|conn| {
        store::user_conversations(conn, &user.user_id)?
            .iter()
            .map(|c| engine::view(conn, c))
            .collect()
    })?;
    Ok(Json(ConversationList { conversations }))
}

/// `GET /v1/support/conversations/{id}`
#[utoipa::path(get, path = "/v1/support/conversations/{id}", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Conversation), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_conversation(
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Conversation>> {
    user.sandbox
        .read(|c| engine::view(c, &store::user_conversation(c, &user.user_id, &id)?))
        .map(Json)
}

/// `PUT /v1/support/conversations/{id}/messages/{client_msg_id}`: writes a message exactly
/// once. The server assigns the next `seq`; the bot's answer (if the bot handles the
/// conversation) is written in the same transaction and returned as `replies`. The same
/// `client_msg_id` with the same body returns the stored message again (200); with a different
/// body, `client_id_reused`.
#[utoipa::path(put, path = "/v1/support/conversations/{id}/messages/{client_msg_id}", tag = "support",
    security(("bearer" = [])), request_body = SendMessage,
    params(("id" = String, Path), ("client_msg_id" = String, Path, description = "1-64 of [A-Za-z0-9_-], made by the client")),
    responses((status = 201, body = SentMessage), (status = 200, body = SentMessage, description = "already written"),
        (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "client_id_reused, conversation_closed, csat_already_given, csat_not_requested"),
        (status = 422, body = Problem)))]
pub async fn send_message(
    user: AuthUser,
    Path((id, client_msg_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<SendMessage>,
) -> ApiResult<(StatusCode, Json<SentMessage>)> {
    if !valid_client_id(&client_msg_id) {
        return Err(ApiError::field(
            "client_msg_id",
            "invalid",
            "1-64 characters of [A-Za-z0-9_-]",
        ));
    }
    validate_message(&req, true)?;
    let hash = body_hash(&req);
    let sb = user.sandbox.clone();
    let now = sb.clock.now_ms();
    let zh = Locale::current().zh();
    let (created, sent, out) = sb.write(|tx| {
        let mut c = store::user_conversation(tx, &user.user_id, &id)?;
        if let Some(sent) = replay(tx, &c.id, &user.user_id, &client_msg_id, &hash)? {
            return Ok((false, sent, Vec::new()));
        }
        check_attachments(tx, &user.user_id, &req.attachment_ids)?;
        let mut w = Writer::new(tx, now);
        if let Some(csat) = &req.csat {
            if store::csat_given(tx, &c.id, csat.resolution)? {
                return Err(ErrorCode::CsatAlreadyGiven.into());
            }
            if csat.resolution == 0 || csat.resolution != c.resolutions {
                return Err(ErrorCode::CsatNotRequested.into());
            }
        } else if c.status == ConversationStatus::Resolved {
            // Writing again reopens the conversation, unless another one is open already.
            if store::open_conversation(tx, &user.user_id)?.is_some() {
                return Err(ErrorCode::ConversationClosed.into());
            }
            c.status = ConversationStatus::Bot;
            c.handoff_reason = None;
            w.save(&mut c)?;
            w.event(
                &c,
                ChatEventKind::Status {
                    status: ConversationStatus::Bot,
                },
            )?;
        }
        c.zh = zh;
        let message = w.message(
            &mut c,
            NewMessage {
                client_msg_id: Some(&client_msg_id),
                sender: SenderRole::User,
                sender_id: Some(&user.user_id),
                sender_name: None,
                text: req.text.trim(),
                attachment_ids: &req.attachment_ids,
                in_reply_to: None,
                bot: None,
                csat: req.csat.as_ref(),
                actions: &[],
                body_hash: Some(&hash),
            },
        )?;
        let mut replies = Vec::new();
        if let Some(csat) = &req.csat {
            store::insert_csat(tx, &c.id, csat, message.seq, now)?;
            let thanks = Text::new("感谢您的评价！", "Thank you for your rating!");
            replies.push(w.system(&mut c, &thanks, &[], Some(message.seq))?);
        } else if !message.text.is_empty() {
            match c.status {
                ConversationStatus::Bot => {
                    let threshold = super::bot::threshold(tx)?;
                    replies = super::bot::respond(&mut w, &mut c, &message, threshold)?;
                }
                // Waiting for a person with nobody online: the bot still takes ticket requests.
                ConversationStatus::Queued if super::bot::wants_ticket(&message.text) => {
                    let threshold = super::bot::threshold(tx)?;
                    replies = super::bot::respond(&mut w, &mut c, &message, threshold)?;
                }
                _ => {}
            }
        }
        w.save(&mut c)?;
        Ok((true, SentMessage { message, replies }, w.out))
    })?;
    hub(&sb).publish(out);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(sent)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Messages with a smaller `seq` (paging back through history).
    pub before_seq: Option<u64>,
    /// Messages with a larger `seq` (catching up after a gap or a reconnect).
    pub after_seq: Option<u64>,
    /// 1–200, default 50.
    pub limit: Option<usize>,
}

pub fn page(conn: &rusqlite::Connection, c: &ConvRow, q: &PageQuery) -> ApiResult<MessagePage> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::field("limit", "out_of_range", "1-200"));
    }
    let (messages, has_more) = store::messages(conn, &c.id, q.after_seq, q.before_seq, limit)?;
    Ok(MessagePage { messages, has_more })
}

/// `GET /v1/support/conversations/{id}/messages`: the newest messages, or a page before
/// `before_seq`, or after `after_seq`; always in `seq` order.
#[utoipa::path(get, path = "/v1/support/conversations/{id}/messages", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = MessagePage), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_messages(
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<MessagePage>> {
    user.sandbox
        .read(|conn| {
            page(
                conn,
                &store::user_conversation(conn, &user.user_id, &id)?,
                &q,
            )
        })
        .map(Json)
}

/// Moves one side's read/delivered markers forward (never back); reading implies delivery.
pub fn apply_receipts(
    w: &mut Writer<'_>,
    c: &mut ConvRow,
    by: SenderRole,
    update: ReceiptUpdate,
) -> ApiResult<()> {
    for v in [update.read_up_to_seq, update.delivered_up_to_seq]
        .into_iter()
        .flatten()
    {
        if v > c.last_seq {
            return Err(ApiError::field(
                "up_to_seq",
                "out_of_range",
                "is beyond the newest message",
            ));
        }
    }
    let r = &mut c.receipts;
    let (delivered, read) = match by {
        SenderRole::User => (&mut r.user_delivered_seq, &mut r.user_read_seq),
        _ => (&mut r.agent_delivered_seq, &mut r.agent_read_seq),
    };
    let new_read = update.read_up_to_seq.filter(|v| v > read);
    let new_delivered = update
        .delivered_up_to_seq
        .max(update.read_up_to_seq)
        .filter(|v| v > delivered);
    if let Some(v) = new_read {
        *read = v;
    }
    if let Some(v) = new_delivered {
        *delivered = v;
    }
    if new_read.is_none() && new_delivered.is_none() {
        return Ok(());
    }
    w.save(c)?;
    if let Some(up_to_seq) = new_delivered {
        w.event(c, ChatEventKind::Delivered { by, up_to_seq })?;
    }
    if let Some(up_to_seq) = new_read {
        w.event(c, ChatEventKind::Read { by, up_to_seq })?;
    }
    Ok(())
}

/// Applies the user's receipts and publishes them (HTTP and socket share this).
pub fn user_receipts(user: &AuthUser, id: &str, update: ReceiptUpdate) -> ApiResult<Conversation> {
    let sb = user.sandbox.clone();
    let now = sb.clock.now_ms();
    let (view, out) = sb.write(|tx| {
        let mut c = store::user_conversation(tx, &user.user_id, id)?;
        let mut w = Writer::new(tx, now);
        apply_receipts(&mut w, &mut c, SenderRole::User, update)?;
        let fresh = store::conversation(tx, id)?.unwrap_or(c);
        Ok((engine::view(tx, &fresh)?, w.out))
    })?;
    hub(&sb).publish(out);
    Ok(view)
}

/// `POST /v1/support/conversations/{id}/receipts`: "delivered/read up to seq N".
#[utoipa::path(post, path = "/v1/support/conversations/{id}/receipts", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReceiptUpdate,
    responses((status = 200, body = Conversation), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn post_receipts(
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(update): ApiJson<ReceiptUpdate>,
) -> ApiResult<Json<Conversation>> {
    user_receipts(&user, &id, update).map(Json)
}

/// Broadcasts a typing indicator to the other side; never stored.
pub fn typing(sb: &std::sync::Arc<crate::state::Sandbox>, c: &ConvRow, by: SenderRole, on: bool) {
    let event = ChatEvent {
        conversation_id: c.id.clone(),
        event_seq: None,
        at: sb.clock.now_ms(),
        event: ChatEventKind::Typing { by, typing: on },
    };
    hub(sb).publish(vec![HubMsg::Chat {
        user_id: c.user_id.clone(),
        agent_id: c.agent_id.clone(),
        event,
    }]);
}

/// `POST /v1/support/conversations/{id}/typing`: tells the agent the user is typing (shown
/// for `TYPING_TTL_SECS` unless renewed). Not stored.
#[utoipa::path(post, path = "/v1/support/conversations/{id}/typing", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = TypingUpdate,
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn post_typing(
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(t): ApiJson<TypingUpdate>,
) -> ApiResult<StatusCode> {
    let c = user
        .sandbox
        .read(|conn| store::user_conversation(conn, &user.user_id, &id))?;
    typing(&user.sandbox, &c, SenderRole::User, t.typing);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/support/conversations/{id}/close`: the user ends the conversation (leaving the
/// queue if waiting); a rating is requested as after an agent's resolution.
#[utoipa::path(post, path = "/v1/support/conversations/{id}/close", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Conversation), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "conversation_closed")))]
pub async fn close_conversation(
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Conversation>> {
    let sb = user.sandbox.clone();
    let now = sb.clock.now_ms();
    let (view, out) = sb.write(|tx| {
        let mut c = store::user_conversation(tx, &user.user_id, &id)?;
        if c.status == ConversationStatus::Resolved {
            return Err(ErrorCode::ConversationClosed.into());
        }
        let mut w = Writer::new(tx, now);
        w.resolve(&mut c)?;
        let fresh = store::conversation(tx, &id)?.unwrap_or(c);
        Ok((engine::view(tx, &fresh)?, w.out))
    })?;
    hub(&sb).publish(out);
    Ok(Json(view))
}
