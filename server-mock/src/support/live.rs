//! Live chat events: the user's WebSocket and long-poll (same events, resumable from an
//! `event_seq`), and the agent console's socket.
//!
//! Exactly-once resume: a stream subscribes to the hub *before* it reads the stored events after
//! the client's position, then forwards live events whose `event_seq` is exactly the next one.
//! Anything older was already sent; a jump (two transactions published out of commit order, or a
//! lagging receiver) is filled from the store. So every stored event after the resume point is
//! sent once, in order, whatever the timing.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use upay_protocol::api::support::*;
use upay_protocol::error::{ErrorCode, Problem};
use utoipa::IntoParams;

use super::hub::{HubMsg, hub};
use super::store;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, Sb};
use crate::state::{AppState, Sandbox};

const PING_EVERY: Duration = Duration::from_secs(25);
/// Stored events read per store query while catching up.
const BATCH: usize = 500;
/// Longest a long-poll waits.
pub const MAX_WAIT_SECS: u64 = 30;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResumeQuery {
    /// Send stored events after this one (0 or absent: from the start).
    pub after_event_seq: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PollQuery {
    /// Return stored events after this one.
    pub after_event_seq: Option<u64>,
    /// Seconds to wait for an event when there is none yet (0–30, default 25).
    pub wait_secs: Option<u64>,
}

/// Chat sockets receive small frames only (typing, receipts): a small read buffer keeps a
/// thousand idle sockets cheap, and a small message limit keeps a client from sending a flood.
fn sized(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.read_buffer_size(4 * 1024)
        .max_message_size(16 * 1024)
        .max_frame_size(16 * 1024)
}

fn check_resume(c: &store::ConvRow, after: u64) -> ApiResult<()> {
    if after > c.last_event_seq {
        return Err(ApiError::field(
            "after_event_seq",
            "out_of_range",
            "is beyond the newest event: resume from 0",
        ));
    }
    Ok(())
}

/// `GET /v1/support/conversations/{id}/socket`: WebSocket of `ChatEvent` text frames, starting
/// with the stored events after `after_event_seq`. The client may send `ClientFrame`s (typing,
/// read, delivered).
#[utoipa::path(get, path = "/v1/support/conversations/{id}/socket", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path), ResumeQuery),
    responses((status = 101, description = "WebSocket of ChatEvent frames", body = ChatEvent),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn user_socket(
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ResumeQuery>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let after = q.after_event_seq.unwrap_or(0);
    let c = user
        .sandbox
        .read(|conn| store::user_conversation(conn, &user.user_id, &id))?;
    check_resume(&c, after)?;
    Ok(sized(ws).on_upgrade(move |socket| user_stream(user, c.id, after, socket)))
}

async fn send_event(socket: &mut WebSocket, e: &ChatEvent) -> Result<(), ()> {
    let text = serde_json::to_string(e).map_err(|_| ())?;
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|_| ())
}

/// Sends every stored event after `*last`, moving `*last` along.
async fn catch_up(
    sb: &Sandbox,
    id: &str,
    last: &mut u64,
    socket: &mut WebSocket,
) -> Result<(), ()> {
    loop {
        let events = sb
            .read(|c| store::events_after(c, id, *last, BATCH))
            .map_err(|_| ())?;
        let n = events.len();
        for e in events {
            send_event(socket, &e).await?;
            *last = e.event_seq.unwrap_or(*last);
        }
        if n < BATCH {
            return Ok(());
        }
    }
}

async fn user_stream(user: AuthUser, id: String, mut last: u64, mut socket: WebSocket) {
    let mut rx = hub(&user.sandbox).subscribe_conversation(&id);
    if catch_up(&user.sandbox, &id, &mut last, &mut socket)
        .await
        .is_err()
    {
        return;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            received = rx.recv() => {
                let ok = match received {
                    Ok(msg) => match &*msg {
                        HubMsg::Chat { event, .. } if event.conversation_id == id => {
                            match event.event_seq {
                                None => match event.event {
                                    ChatEventKind::Typing { by: SenderRole::User, .. } => Ok(()),
                                    _ => send_event(&mut socket, event).await,
                                },
                                Some(s) if s <= last => Ok(()),
                                Some(s) if s == last + 1 => {
                                    last = s;
                                    send_event(&mut socket, event).await
                                }
                                Some(_) => catch_up(&user.sandbox, &id, &mut last, &mut socket).await,
                            }
                        }
                        _ => Ok(()),
                    },
                    Err(RecvError::Lagged(_)) => catch_up(&user.sandbox, &id, &mut last, &mut socket).await,
                    Err(RecvError::Closed) => return,
                };
                if ok.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => client_frame(&user, &id, &text),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Typing and receipts sent over the socket. A malformed frame or a receipt beyond the newest
/// message is ignored: the socket has no error channel, and the HTTP endpoints report them.
fn client_frame(user: &AuthUser, id: &str, text: &str) {
    let Ok(frame) = serde_json::from_str::<ClientFrame>(text) else {
        return;
    };
    match frame {
        ClientFrame::Typing { typing } => {
            if let Ok(c) = user
                .sandbox
                .read(|conn| store::user_conversation(conn, &user.user_id, id))
            {
                super::chat::typing(&user.sandbox, &c, SenderRole::User, typing);
            }
        }
        ClientFrame::Read { up_to_seq } => {
            let update = ReceiptUpdate {
                read_up_to_seq: Some(up_to_seq),
                delivered_up_to_seq: None,
            };
            let _ = super::chat::user_receipts(user, id, update);
        }
        ClientFrame::Delivered { up_to_seq } => {
            let update = ReceiptUpdate {
                read_up_to_seq: None,
                delivered_up_to_seq: Some(up_to_seq),
            };
            let _ = super::chat::user_receipts(user, id, update);
        }
    }
}

fn batch(events: Vec<ChatEvent>, after: u64) -> EventBatch {
    let last_event_seq = events
        .iter()
        .filter_map(|e| e.event_seq)
        .max()
        .unwrap_or(after);
    EventBatch {
        events,
        last_event_seq,
    }
}

/// `GET /v1/support/conversations/{id}/events`: long-poll fallback of the socket. Returns the
/// stored events after `after_event_seq` at once if there are any; otherwise waits up to
/// `wait_secs` for the next one (an agent's typing indicator also ends the wait).
#[utoipa::path(get, path = "/v1/support/conversations/{id}/events", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path), PollQuery),
    responses((status = 200, body = EventBatch), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn poll_events(
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PollQuery>,
) -> ApiResult<Json<EventBatch>> {
    let after = q.after_event_seq.unwrap_or(0);
    let wait = q.wait_secs.unwrap_or(25);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::field("wait_secs", "out_of_range", "0-30"));
    }
    let sb = user.sandbox.clone();
    // Subscribe before reading, so an event committed in between is not missed.
    let mut rx = hub(&sb).subscribe_conversation(&id);
    let read = |after: u64| {
        sb.read(|conn| {
            store::user_conversation(conn, &user.user_id, &id)?;
            store::events_after(conn, &id, after, BATCH)
        })
    };
    let c = sb.read(|conn| store::user_conversation(conn, &user.user_id, &id))?;
    check_resume(&c, after)?;
    let events = read(after)?;
    if !events.is_empty() || wait == 0 {
        return Ok(Json(batch(events, after)));
    }
    let deadline = tokio::time::sleep(Duration::from_secs(wait));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return Ok(Json(batch(Vec::new(), after))),
            received = rx.recv() => match received {
                Ok(msg) => {
                    if let HubMsg::Chat { event, .. } = &*msg {
                        if event.conversation_id != id {
                            continue;
                        }
                        match (event.event_seq, &event.event) {
                            (Some(s), _) if s > after => break,
                            (None, ChatEventKind::Typing { by: SenderRole::Agent, .. }) => {
                                return Ok(Json(batch(vec![event.clone()], after)));
                            }
                            _ => {}
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => return Ok(Json(batch(Vec::new(), after))),
            },
        }
    }
    Ok(Json(batch(read(after)?, after)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgentSocketQuery {
    /// The agent token, for browsers (which cannot set headers on a WebSocket).
    pub access_token: Option<String>,
    /// The sandbox, for browsers (which cannot send `X-Mock-Sandbox` on a WebSocket).
    pub sandbox: Option<String>,
}

fn valid_sandbox_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `GET /v1/support/agent/socket`: the console's live feed: `AgentFrame`s for the signed-in
/// agent's conversations and every queue change (one `queue_changed` is sent at once).
#[utoipa::path(get, path = "/v1/support/agent/socket", tag = "support-agent", security(("bearer" = [])),
    params(AgentSocketQuery),
    responses((status = 101, description = "WebSocket of AgentFrame frames", body = AgentFrame),
        (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn agent_socket(
    State(app): State<AppState>,
    Sb(sb): Sb,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<AgentSocketQuery>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let sb = match &q.sandbox {
        Some(name) if !valid_sandbox_name(name) => {
            return Err(ApiError::field(
                "sandbox",
                "invalid",
                "1-64 of [A-Za-z0-9_-]",
            ));
        }
        Some(name) => app.sandbox(name).await?,
        None => sb,
    };
    let token = super::agents::bearer(&headers)
        .or(q.access_token.clone())
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))?;
    let agent = super::agents::authenticate(&sb, &token)?;
    Ok(sized(ws).on_upgrade(move |socket| agent_stream(sb, agent.id, socket)))
}

async fn send_frame(socket: &mut WebSocket, f: &AgentFrame) -> Result<(), ()> {
    let text = serde_json::to_string(f).map_err(|_| ())?;
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|_| ())
}

async fn agent_stream(sb: Arc<Sandbox>, agent_id: String, mut socket: WebSocket) {
    let mut rx = hub(&sb).subscribe_agents();
    let waiting = sb.read(store::queued).map_or(0, |q| q.len() as u32);
    if send_frame(&mut socket, &AgentFrame::QueueChanged { waiting })
        .await
        .is_err()
    {
        return;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        let frame = tokio::select! {
            received = rx.recv() => match received {
                Ok(msg) => match &*msg {
                    HubMsg::Chat { agent_id: Some(a), event, .. } if *a == agent_id => {
                        if matches!(event.event, ChatEventKind::Typing { by: SenderRole::Agent, .. }) {
                            continue;
                        }
                        AgentFrame::Event { event: Box::new(event.clone()) }
                    }
                    HubMsg::QueueChanged { waiting } => AgentFrame::QueueChanged { waiting: *waiting },
                    _ => continue,
                },
                // The console reloads everything on a queue change, which covers what was lost.
                Err(RecvError::Lagged(_)) => {
                    let waiting = sb.read(store::queued).map_or(0, |q| q.len() as u32);
                    AgentFrame::QueueChanged { waiting }
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if send_frame(&mut socket, &frame).await.is_err() {
            return;
        }
    }
}
