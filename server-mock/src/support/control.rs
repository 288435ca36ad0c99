//! Control API for support (under `/__mock/support`): agents online/offline, simulated agent
//! replies and typing, the bot's confidence threshold, and the technical team moving tickets.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use upay_protocol::api::support::*;
use upay_protocol::error::Problem;
use utoipa::ToSchema;

use super::engine::Writer;
use super::hub::hub;
use super::store;
use crate::error::{ApiError, ApiResult, Validator};
use crate::extract::{ApiJson, Sb};

#[derive(Serialize, ToSchema)]
pub struct MockAgentList {
    agents: Vec<AgentProfile>,
}

/// `GET /__mock/support/agents`: the sandbox's agents and who is online.
#[utoipa::path(get, path = "/__mock/support/agents", tag = "control", responses((status = 200, body = MockAgentList)))]
pub async fn mock_agents(Sb(sb): Sb) -> ApiResult<Json<MockAgentList>> {
    super::seed::ensure_agents(&sb)?;
    Ok(Json(MockAgentList {
        agents: sb.read(store::agents)?,
    }))
}

/// `PUT /__mock/support/agents/{id}`: puts an agent online or offline (as if they signed in to
/// or left the console).
#[utoipa::path(put, path = "/__mock/support/agents/{id}", tag = "control", params(("id" = String, Path)),
    request_body = AgentStatusUpdate,
    responses((status = 200, body = AgentProfile), (status = 404, body = Problem)))]
pub async fn mock_set_agent(
    Sb(sb): Sb,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AgentStatusUpdate>,
) -> ApiResult<Json<AgentProfile>> {
    super::seed::ensure_agents(&sb)?;
    super::agents::set_agent_online(&sb, &id, req.online).map(Json)
}

#[derive(Serialize, ToSchema)]
pub struct MockConversation {
    id: String,
    user_id: String,
    status: ConversationStatus,
    agent_id: Option<String>,
    last_seq: u64,
    updated_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct MockConversationList {
    /// Most recently active first (at most 200).
    conversations: Vec<MockConversation>,
}

/// `GET /__mock/support/conversations`: every conversation of the sandbox, to find the id to
/// steer.
#[utoipa::path(get, path = "/__mock/support/conversations", tag = "control",
    responses((status = 200, body = MockConversationList)))]
pub async fn mock_conversations(Sb(sb): Sb) -> ApiResult<Json<MockConversationList>> {
    let rows = sb.read(store::all_conversations)?;
    Ok(Json(MockConversationList {
        conversations: rows
            .into_iter()
            .map(|c| MockConversation {
                id: c.id,
                user_id: c.user_id,
                status: c.status,
                agent_id: c.agent_id,
                last_seq: c.last_seq,
                updated_at: c.updated_at,
            })
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct SimulatedReply {
    /// Default `A001`.
    agent_id: Option<String>,
    text: String,
    /// Makes the call idempotent; random when absent.
    client_msg_id: Option<String>,
}

/// `POST /__mock/support/conversations/{id}/agent-reply`: an agent answers (taking the
/// conversation from the queue or the bot if needed), exactly as from the console.
#[utoipa::path(post, path = "/__mock/support/conversations/{id}/agent-reply", tag = "control",
    params(("id" = String, Path)), request_body = SimulatedReply,
    responses((status = 201, body = SentMessage), (status = 200, body = SentMessage), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn mock_agent_reply(
    Sb(sb): Sb,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SimulatedReply>,
) -> ApiResult<(StatusCode, Json<SentMessage>)> {
    super::seed::ensure_agents(&sb)?;
    let agent_id = req.agent_id.as_deref().unwrap_or("A001");
    let agent = sb
        .read(|c| store::agent(c, agent_id))?
        .ok_or_else(|| ApiError::field("agent_id", "not_found", "no such agent"))?;
    let client_msg_id = req
        .client_msg_id
        .clone()
        .unwrap_or_else(|| format!("mock-{}", super::random_token(16)));
    let body = SendMessage {
        text: req.text,
        attachment_ids: Vec::new(),
        csat: None,
    };
    let (created, sent) =
        super::agents::write_agent_message(&sb, &agent, &id, &client_msg_id, &body)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(sent)))
}

#[derive(Deserialize, ToSchema)]
pub struct SimulatedTyping {
    typing: bool,
}

/// `POST /__mock/support/conversations/{id}/agent-typing`: the user sees the agent typing.
#[utoipa::path(post, path = "/__mock/support/conversations/{id}/agent-typing", tag = "control",
    params(("id" = String, Path)), request_body = SimulatedTyping,
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn mock_agent_typing(
    Sb(sb): Sb,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SimulatedTyping>,
) -> ApiResult<StatusCode> {
    let c = sb
        .read(|conn| store::conversation(conn, &id))?
        .ok_or_else(ApiError::not_found)?;
    super::chat::typing(&sb, &c, SenderRole::Agent, req.typing);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct BotSettings {
    /// Answers below this confidence (0..1) go to a human.
    threshold: f64,
}

/// `GET /__mock/support/bot`
#[utoipa::path(get, path = "/__mock/support/bot", tag = "control", responses((status = 200, body = BotSettings)))]
pub async fn mock_get_bot(Sb(sb): Sb) -> ApiResult<Json<BotSettings>> {
    Ok(Json(BotSettings {
        threshold: sb.read(super::bot::threshold)?,
    }))
}

/// `PUT /__mock/support/bot`: sets the bot's confidence threshold (0 never hands off for low
/// confidence, 1 always does).
#[utoipa::path(put, path = "/__mock/support/bot", tag = "control", request_body = BotSettings,
    responses((status = 200, body = BotSettings), (status = 422, body = Problem)))]
pub async fn mock_set_bot(
    Sb(sb): Sb,
    ApiJson(req): ApiJson<BotSettings>,
) -> ApiResult<Json<BotSettings>> {
    if !(0.0..=1.0).contains(&req.threshold) {
        return Err(ApiError::field("threshold", "out_of_range", "must be 0-1"));
    }
    sb.write(|tx| store::set_setting(tx, super::bot::THRESHOLD_KEY, &req.threshold.to_string()))?;
    Ok(Json(req))
}

/// `POST /__mock/support/tickets/{id}/status`: the technical team (or anyone behind support)
/// moves a ticket; the user sees it in the ticket and in the conversation.
#[utoipa::path(post, path = "/__mock/support/tickets/{id}/status", tag = "control",
    params(("id" = String, Path)), request_body = TicketStatusChange,
    responses((status = 200, body = Ticket), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn mock_ticket_status(
    Sb(sb): Sb,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TicketStatusChange>,
) -> ApiResult<Json<Ticket>> {
    let mut v = Validator::new();
    super::tickets::validate_note(&mut v, "note", &req.note);
    v.finish()?;
    let now = sb.clock.now_ms();
    let (ticket, out) = sb.write(|tx| {
        let mut t = store::ticket_row_by_id(tx, &id)?.ok_or_else(ApiError::not_found)?;
        let mut w = Writer::new(tx, now);
        let ticket = super::tickets::change_status(
            &mut w,
            &mut t,
            req.status,
            SenderRole::System,
            req.note.as_deref(),
        )?;
        Ok((ticket, w.out))
    })?;
    hub(&sb).publish(out);
    Ok(Json(ticket))
}
