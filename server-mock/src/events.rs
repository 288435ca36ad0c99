//! The live event bus of a sandbox: handlers publish, the WebSocket of the same user receives.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;
pub use upay_protocol::api::events::LiveEvent;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::state::AppState;

/// An event addressed to one user.
#[derive(Debug, Clone)]
pub struct ServerEvent {
    pub user_id: String,
    pub event: LiveEvent,
}

const PING_EVERY: Duration = Duration::from_secs(25);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

/// `GET /v1/events`: WebSocket of the caller's live events, one JSON `LiveEvent` per text frame.
/// Events are hints; after a reconnect, sync to catch up.
#[utoipa::path(get, path = "/v1/events", tag = "money", security(("bearer" = [])),
    responses((status = 101, description = "WebSocket of LiveEvent frames", body = LiveEvent),
        (status = 401, body = upay_protocol::error::Problem)))]
async fn events(user: AuthUser, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| stream(user, socket))
}

async fn stream(user: AuthUser, mut socket: WebSocket) {
    let mut rx = user.sandbox.events.subscribe();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        let event = tokio::select! {
            received = rx.recv() => match received {
                Ok(e) if e.user_id == user.user_id => e.event,
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => LiveEvent::resync(),
                Err(RecvError::Closed) => return,
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
                continue;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
        };
        let ends_session = matches!(&event, LiveEvent::SessionRevoked { session_id } if *session_id == user.session_id);
        let Ok(text) = serde_json::to_string(&event) else {
            continue;
        };
        if socket.send(Message::Text(text.into())).await.is_err() || ends_session {
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
    }
}
