//! The agent console's API: sign-in, availability, the queue, picking a conversation up, the
//! customer's account state and recent transactions, replies, typing, receipts, transfer to the
//! technical team as a ticket, and resolving (which asks the user for a rating).

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use upay_protocol::api::support::*;
use upay_protocol::error::{ErrorCode, Problem};

use super::chat::{self, PageQuery};
use super::engine::{self, Writer};
use super::hub::hub;
use super::store::{self, AgentRow, ConvRow, NewMessage};
use crate::error::{ApiError, ApiResult, Validator};
use crate::extract::{ApiJson, ApiQuery, Sb};
use crate::state::Sandbox;

/// Agent sessions last a working day (mock clock).
pub const AGENT_SESSION_MS: i64 = 12 * 3600 * 1000;

fn sha256(text: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .to_vec()
}

pub fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

pub fn authenticate(sb: &Sandbox, token: &str) -> ApiResult<AgentRow> {
    let now = sb.clock.now_ms();
    sb.read(|c| store::agent_by_token(c, &sha256(token), now))?
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))
}

/// The signed-in agent, from `Authorization: Bearer <agent token>`.
pub struct Agent {
    pub row: AgentRow,
    pub token: String,
    pub sandbox: Arc<Sandbox>,
}

impl<S: Send + Sync> FromRequestParts<S> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Sb(sb) = Sb::from_request_parts(parts, state).await?;
        let token = bearer(&parts.headers).ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))?;
        let row = authenticate(&sb, &token)?;
        Ok(Agent {
            row,
            token,
            sandbox: sb,
        })
    }
}

/// Agents' availability changed: queued users learn how many agents are online.
fn set_online(sb: &Arc<Sandbox>, agent_id: &str, online: bool) -> ApiResult<AgentProfile> {
    let now = sb.clock.now_ms();
    let (profile, out) = sb.write(|tx| {
        if !store::set_agent_online(tx, agent_id, online)? {
            return Err(ApiError::not_found());
        }
        let mut w = Writer::new(tx, now);
        w.refresh_queue()?;
        let row = store::agent(tx, agent_id)?.ok_or_else(ApiError::not_found)?;
        Ok((row.profile(), w.out))
    })?;
    hub(sb).publish(out);
    Ok(profile)
}

pub fn set_agent_online(
    sb: &Arc<Sandbox>,
    agent_id: &str,
    online: bool,
) -> ApiResult<AgentProfile> {
    set_online(sb, agent_id, online)
}

/// `POST /v1/support/agent/sessions`: console sign-in; the agent becomes available.
#[utoipa::path(post, path = "/v1/support/agent/sessions", tag = "support-agent", request_body = AgentLogin,
    responses((status = 201, body = AgentSession), (status = 401, body = Problem, description = "invalid_credentials"), (status = 422, body = Problem)))]
pub async fn agent_login(
    Sb(sb): Sb,
    ApiJson(req): ApiJson<AgentLogin>,
) -> ApiResult<(StatusCode, Json<AgentSession>)> {
    super::seed::ensure_agents(&sb)?;
    let row = sb.read(|c| store::agent(c, &req.agent_id))?;
    let iterations = sb.settings().pbkdf2_iterations;
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    let password = req.password.clone();
    // The same work whether or not the agent exists, so timing tells nothing.
    let ok = tokio::task::spawn_blocking(move || match stored {
        Some(h) => crate::auth::password::verify(&h, &password),
        None => {
            crate::auth::password::verify_dummy(iterations);
            false
        }
    })
    .await
    .unwrap_or(false);
    let Some(row) = row.filter(|_| ok) else {
        return Err(ErrorCode::InvalidCredentials.into());
    };
    let token = format!("ag_{}", super::random_token(32));
    let now = sb.clock.now_ms();
    sb.write(|tx| {
        store::insert_agent_session(tx, &sha256(&token), &row.id, now + AGENT_SESSION_MS)
    })?;
    let agent = set_online(&sb, &row.id, true)?;
    Ok((StatusCode::CREATED, Json(AgentSession { token, agent })))
}

/// `DELETE /v1/support/agent/sessions`: console sign-out; the agent becomes unavailable.
#[utoipa::path(delete, path = "/v1/support/agent/sessions", tag = "support-agent", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
pub async fn agent_logout(agent: Agent) -> ApiResult<StatusCode> {
    agent
        .sandbox
        .write(|tx| store::revoke_agent_session(tx, &sha256(&agent.token)))?;
    set_online(&agent.sandbox, &agent.row.id, false)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/support/agent/me`
#[utoipa::path(get, path = "/v1/support/agent/me", tag = "support-agent", security(("bearer" = [])),
    responses((status = 200, body = AgentProfile), (status = 401, body = Problem)))]
pub async fn agent_me(agent: Agent) -> Json<AgentProfile> {
    Json(agent.row.profile())
}

/// `PUT /v1/support/agent/status`: available or away.
#[utoipa::path(put, path = "/v1/support/agent/status", tag = "support-agent", security(("bearer" = [])),
    request_body = AgentStatusUpdate,
    responses((status = 200, body = AgentProfile), (status = 401, body = Problem)))]
pub async fn agent_status(
    agent: Agent,
    ApiJson(req): ApiJson<AgentStatusUpdate>,
) -> ApiResult<Json<AgentProfile>> {
    set_online(&agent.sandbox, &agent.row.id, req.online).map(Json)
}

fn queue_item(conn: &rusqlite::Connection, c: &ConvRow) -> ApiResult<QueueItem> {
    let customer = match crate::auth::store::user_by_id(conn, &c.user_id)? {
        Some(u) => format!(
            "{} {}",
            u.full_name,
            upay_protocol::api::auth::mask_phone(&u.phone)
        ),
        None => c.user_id.clone(),
    };
    let preview: String = store::last_user_text(conn, &c.id)?
        .unwrap_or_default()
        .chars()
        .take(80)
        .collect();
    Ok(QueueItem {
        conversation: engine::view(conn, c)?,
        customer,
        preview,
        waiting_since: (c.status == ConversationStatus::Queued).then_some(c.updated_at),
    })
}

/// `GET /v1/support/agent/queue`: who is waiting, and the agent's own conversations.
#[utoipa::path(get, path = "/v1/support/agent/queue", tag = "support-agent", security(("bearer" = [])),
    responses((status = 200, body = AgentQueue), (status = 401, body = Problem)))]
pub async fn agent_queue(agent: Agent) -> ApiResult<Json<AgentQueue>> {
    agent
        .sandbox
        .read(|conn| {
            let waiting = store::queued(conn)?
                .iter()
                .map(|c| queue_item(conn, c))
                .collect::<ApiResult<_>>()?;
            let mine = store::assigned_to(conn, &agent.row.id)?
                .iter()
                .map(|c| queue_item(conn, c))
                .collect::<ApiResult<_>>()?;
            Ok(AgentQueue {
                waiting,
                mine,
                agents_online: store::agents_online(conn)?,
            })
        })
        .map(Json)
}

/// A conversation this agent may see: waiting in the queue, assigned to them, or one they
/// answered before (their history).
fn visible(conn: &rusqlite::Connection, agent_id: &str, id: &str) -> ApiResult<ConvRow> {
    let c = store::conversation(conn, id)?.ok_or_else(ApiError::not_found)?;
    let ok = c.status == ConversationStatus::Queued
        || c.agent_id.as_deref() == Some(agent_id)
        || store::has_written(conn, id, agent_id)?;
    if ok {
        Ok(c)
    } else {
        Err(ApiError::not_found())
    }
}

/// A conversation this agent may act on: theirs, or taken now if nobody has it.
fn take(w: &mut Writer<'_>, agent: &AgentRow, id: &str) -> ApiResult<ConvRow> {
    let mut c = store::conversation(w.tx, id)?.ok_or_else(ApiError::not_found)?;
    match c.status {
        ConversationStatus::Assigned if c.agent_id.as_deref() == Some(&agent.id) => Ok(c),
        ConversationStatus::Assigned => Err(ErrorCode::ConversationTaken.into()),
        ConversationStatus::Resolved => Err(ErrorCode::ConversationClosed.into()),
        ConversationStatus::Bot | ConversationStatus::Queued => {
            w.assign(&mut c, agent)?;
            Ok(c)
        }
    }
}

fn conversation_view(conn: &rusqlite::Connection, c: &ConvRow) -> ApiResult<AgentConversationView> {
    let (messages, _) = store::messages(conn, &c.id, None, None, 100)?;
    Ok(AgentConversationView {
        conversation: engine::view(conn, c)?,
        messages,
        customer: super::customer::context(conn, &c.user_id)?,
    })
}

/// `GET /v1/support/agent/conversations/{id}`: messages plus the customer's account state,
/// balances, recent transactions and tickets.
#[utoipa::path(get, path = "/v1/support/agent/conversations/{id}", tag = "support-agent", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = AgentConversationView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn agent_conversation(
    agent: Agent,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentConversationView>> {
    agent
        .sandbox
        .read(|conn| conversation_view(conn, &visible(conn, &agent.row.id, &id)?))
        .map(Json)
}

/// `POST /v1/support/agent/conversations/{id}/pick`: takes a waiting conversation.
#[utoipa::path(post, path = "/v1/support/agent/conversations/{id}/pick", tag = "support-agent", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = AgentConversationView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "conversation_taken, conversation_closed")))]
pub async fn agent_pick(
    agent: Agent,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentConversationView>> {
    let sb = agent.sandbox.clone();
    let now = sb.clock.now_ms();
    let (view, out) = sb.write(|tx| {
        let mut w = Writer::new(tx, now);
        take(&mut w, &agent.row, &id)?;
        let c = store::conversation(tx, &id)?.ok_or_else(ApiError::not_found)?;
        Ok((conversation_view(tx, &c)?, w.out))
    })?;
    hub(&sb).publish(out);
    Ok(Json(view))
}

/// `GET /v1/support/agent/conversations/{id}/messages`: paging like the user's.
#[utoipa::path(get, path = "/v1/support/agent/conversations/{id}/messages", tag = "support-agent", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = MessagePage), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn agent_messages(
    agent: Agent,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<MessagePage>> {
    agent
        .sandbox
        .read(|conn| chat::page(conn, &visible(conn, &agent.row.id, &id)?, &q))
        .map(Json)
}

/// Writes an agent's message exactly once (console and the control API's simulated replies).
pub fn write_agent_message(
    sb: &Arc<Sandbox>,
    agent: &AgentRow,
    id: &str,
    client_msg_id: &str,
    req: &SendMessage,
) -> ApiResult<(bool, SentMessage)> {
    if !chat::valid_client_id(client_msg_id) {
        return Err(ApiError::field(
            "client_msg_id",
            "invalid",
            "1-64 characters of [A-Za-z0-9_-]",
        ));
    }
    chat::validate_message(req, false)?;
    if !req.attachment_ids.is_empty() {
        return Err(ApiError::field(
            "attachment_ids",
            "not_allowed",
            "agents send text",
        ));
    }
    let bytes = serde_json::to_vec(req).unwrap_or_default();
    let hash = ring::digest::digest(&ring::digest::SHA256, &bytes)
        .as_ref()
        .to_vec();
    let now = sb.clock.now_ms();
    let (created, sent, out) = sb.write(|tx| {
        if let Some(sent) = chat::replay(tx, id, &agent.id, client_msg_id, &hash)? {
            // Only the agent who wrote it can see it again.
            visible(tx, &agent.id, id)?;
            return Ok((false, sent, Vec::new()));
        }
        let mut w = Writer::new(tx, now);
        let mut c = take(&mut w, agent, id)?;
        let message = w.message(
            &mut c,
            NewMessage {
                client_msg_id: Some(client_msg_id),
                sender: SenderRole::Agent,
                sender_id: Some(&agent.id),
                sender_name: Some(&agent.name),
                text: req.text.trim(),
                attachment_ids: &[],
                in_reply_to: None,
                bot: None,
                csat: None,
                actions: &[],
                body_hash: Some(&hash),
            },
        )?;
        w.save(&mut c)?;
        Ok((
            true,
            SentMessage {
                message,
                replies: Vec::new(),
            },
            w.out,
        ))
    })?;
    hub(sb).publish(out);
    Ok((created, sent))
}

/// `PUT /v1/support/agent/conversations/{id}/messages/{client_msg_id}`: the agent replies
/// (taking the conversation if it was waiting). Idempotent like the user's write.
#[utoipa::path(put, path = "/v1/support/agent/conversations/{id}/messages/{client_msg_id}", tag = "support-agent",
    security(("bearer" = [])), request_body = SendMessage,
    params(("id" = String, Path), ("client_msg_id" = String, Path)),
    responses((status = 201, body = SentMessage), (status = 200, body = SentMessage), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn agent_send(
    agent: Agent,
    Path((id, client_msg_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<SendMessage>,
) -> ApiResult<(StatusCode, Json<SentMessage>)> {
    let (created, sent) =
        write_agent_message(&agent.sandbox, &agent.row, &id, &client_msg_id, &req)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(sent)))
}

/// `POST /v1/support/agent/conversations/{id}/typing`
#[utoipa::path(post, path = "/v1/support/agent/conversations/{id}/typing", tag = "support-agent", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = TypingUpdate,
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn agent_typing(
    agent: Agent,
    Path(id): Path<String>,
    ApiJson(t): ApiJson<TypingUpdate>,
) -> ApiResult<StatusCode> {
    let c = agent
        .sandbox
        .read(|conn| visible(conn, &agent.row.id, &id))?;
    chat::typing(&agent.sandbox, &c, SenderRole::Agent, t.typing);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/support/agent/conversations/{id}/receipts`
#[utoipa::path(post, path = "/v1/support/agent/conversations/{id}/receipts", tag = "support-agent", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReceiptUpdate,
    responses((status = 200, body = Conversation), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn agent_receipts(
    agent: Agent,
    Path(id): Path<String>,
    ApiJson(update): ApiJson<ReceiptUpdate>,
) -> ApiResult<Json<Conversation>> {
    let sb = agent.sandbox.clone();
    let now = sb.clock.now_ms();
    let (view, out) = sb.write(|tx| {
        let mut c = visible(tx, &agent.row.id, &id)?;
        let mut w = Writer::new(tx, now);
        chat::apply_receipts(&mut w, &mut c, SenderRole::Agent, update)?;
        let fresh = store::conversation(tx, &id)?.unwrap_or(c);
        Ok((engine::view(tx, &fresh)?, w.out))
    })?;
    hub(&sb).publish(out);
    Ok(Json(view))
}

/// `POST /v1/support/agent/conversations/{id}/ticket`: transfer to the technical team.
#[utoipa::path(post, path = "/v1/support/agent/conversations/{id}/ticket", tag = "support-agent", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = TransferToTicket,
    responses((status = 201, body = Ticket), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn agent_ticket(
    agent: Agent,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TransferToTicket>,
) -> ApiResult<(StatusCode, Json<Ticket>)> {
    let mut v = Validator::new();
    v.text(&req.subject, "subject", 1, 200);
    if !req.note.is_empty() {
        v.text(&req.note, "note", 1, 2000);
    }
    v.finish()?;
    let sb = agent.sandbox.clone();
    let now = sb.clock.now_ms();
    let (ticket, out) = sb.write(|tx| {
        let mut w = Writer::new(tx, now);
        let mut c = take(&mut w, &agent.row, &id)?;
        let t = super::tickets::open_for(
            &mut w,
            &mut c,
            SenderRole::Agent,
            Some((&req.subject, &req.note)),
        )?;
        Ok((t, w.out))
    })?;
    hub(&sb).publish(out);
    Ok((StatusCode::CREATED, Json(ticket)))
}

/// `POST /v1/support/agent/conversations/{id}/resolve`: ends the conversation and asks the user
/// to rate it.
#[utoipa::path(post, path = "/v1/support/agent/conversations/{id}/resolve", tag = "support-agent", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Conversation), (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn agent_resolve(agent: Agent, Path(id): Path<String>) -> ApiResult<Json<Conversation>> {
    let sb = agent.sandbox.clone();
    let now = sb.clock.now_ms();
    let (view, out) = sb.write(|tx| {
        let mut w = Writer::new(tx, now);
        let mut c = take(&mut w, &agent.row, &id)?;
        w.resolve(&mut c)?;
        let fresh = store::conversation(tx, &id)?.ok_or_else(ApiError::not_found)?;
        Ok((engine::view(tx, &fresh)?, w.out))
    })?;
    hub(&sb).publish(out);
    Ok(Json(view))
}

/// `POST /v1/support/agent/tickets/{id}/status`: moves a ticket of one of the agent's customers.
#[utoipa::path(post, path = "/v1/support/agent/tickets/{id}/status", tag = "support-agent", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = TicketStatusChange,
    responses((status = 200, body = Ticket), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "ticket_closed"), (status = 422, body = Problem)))]
pub async fn agent_ticket_status(
    agent: Agent,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TicketStatusChange>,
) -> ApiResult<Json<Ticket>> {
    let mut v = Validator::new();
    super::tickets::validate_note(&mut v, "note", &req.note);
    v.finish()?;
    let sb = agent.sandbox.clone();
    let now = sb.clock.now_ms();
    let (ticket, out) = sb.write(|tx| {
        let mut t = store::ticket_row_by_id(tx, &id)?.ok_or_else(ApiError::not_found)?;
        visible(tx, &agent.row.id, &t.conversation_id)?;
        let mut w = Writer::new(tx, now);
        let ticket = super::tickets::change_status(
            &mut w,
            &mut t,
            req.status,
            SenderRole::Agent,
            req.note.as_deref(),
        )?;
        Ok((ticket, w.out))
    })?;
    hub(&sb).publish(out);
    Ok(Json(ticket))
}

/// `GET /v1/support/agent/attachments/{id}`: a screenshot shown in one of the agent's
/// conversations.
#[utoipa::path(get, path = "/v1/support/agent/attachments/{id}", tag = "support-agent", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "the image", content_type = "image/png"),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn agent_attachment(agent: Agent, Path(id): Path<String>) -> ApiResult<Response> {
    let (meta, data) = agent.sandbox.read(|conn| {
        if !store::agent_may_see_attachment(conn, &agent.row.id, &id)? {
            return Err(ApiError::not_found());
        }
        let meta = store::attachment_meta(conn, &id)?.ok_or_else(ApiError::not_found)?;
        Ok((meta, store::attachment_data(conn, &id)?))
    })?;
    Ok(super::attachments::image_response(&meta.meta, data).into_response())
}
