//! Live chat events over the WebSocket (`…/socket?after_event_seq=N`), with reconnect and
//! jittered backoff ([`crate::api::ws::reconnect_delay`]), resuming after the last event applied on
//! the device. Every frame goes through [`crate::chat::apply_batch`], which applies stored
//! events exactly once in `event_seq` order; a jump is filled from `GET …/events` before the
//! frame is applied. A connection silent for 60 s (the server pings every 25 s) is dead.
//! Each successful connect also sends the messages queued while offline.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Error as WsError;
use upay_protocol::api::support::ChatEvent;

use crate::api::ws::Next;
use crate::chat::{self, ChatConversationView, ChatMessageView};
use crate::core::Core;

/// Failed socket attempts in a row before long-polling.
const FALLBACK_AFTER: u32 = 2;
/// How long one long-poll waits for an event.
const POLL_WAIT_SECS: u32 = 25;

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ChatUpdate {
    /// The socket is up (`false`: reconnecting with backoff).
    pub connected: bool,
    /// Stored events applied by this update (0 for a connection change or typing).
    pub applied: u32,
    /// Messages added by this update, oldest first (each reported once).
    pub new_messages: Vec<ChatMessageView>,
    pub agent_typing: Option<bool>,
    pub conversation: Option<ChatConversationView>,
}

/// Receives live chat updates on a core thread; must not block or call back into the core
/// from inside.
#[uniffi::export(with_foreign)]
pub trait ChatListener: Send + Sync {
    fn on_chat_update(&self, update: ChatUpdate);
}

/// The running live connection; [`ChatLive::stop`] (or dropping it) ends it.
#[derive(uniffi::Object)]
pub struct ChatLive {
    stop: watch::Sender<bool>,
    kick: Arc<tokio::sync::Notify>,
}

#[uniffi::export]
impl ChatLive {
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Drops the current connection and connects again at once, resuming after the last
    /// applied event. For network changes (Wi-Fi to mobile data), where the old connection
    /// would otherwise only be found dead after 60 s of silence.
    pub fn reconnect(&self) {
        self.kick.notify_one();
    }
}

impl Drop for ChatLive {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

enum Ended {
    Stopped,
    Dropped { was_connected: bool },
    Kicked,
}

pub fn start(core: Arc<Core>, listener: Arc<dyn ChatListener>) -> Arc<ChatLive> {
    let (tx, rx) = watch::channel(false);
    let kick = Arc::new(tokio::sync::Notify::new());
    crate::core::runtime().spawn(run(core, listener, rx, kick.clone()));
    Arc::new(ChatLive { stop: tx, kick })
}

async fn run(
    core: Arc<Core>,
    listener: Arc<dyn ChatListener>,
    mut stop: watch::Receiver<bool>,
    kick: Arc<tokio::sync::Notify>,
) {
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        let ended = session(&core, listener.as_ref(), &mut stop, &kick).await;
        let disconnected = || ChatUpdate {
            connected: false,
            applied: 0,
            new_messages: Vec::new(),
            agent_typing: None,
            conversation: chat::conversation(&core).ok().flatten(),
        };
        match ended {
            Ended::Stopped => return,
            Ended::Kicked => {
                listener.on_chat_update(disconnected());
                failures = 0;
                continue;
            }
            Ended::Dropped { was_connected } => {
                if was_connected {
                    failures = 0;
                    listener.on_chat_update(disconnected());
                }
            }
        }
        failures += 1;
        if failures >= FALLBACK_AFTER {
            // The socket cannot be opened (a proxy refusing upgrades, the socket service
            // down): long-poll meanwhile; the socket is tried again after each poll.
            match long_poll(&core, listener.as_ref(), &mut stop).await {
                None => return,
                Some(true) => continue,
                Some(false) => {}
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(crate::api::ws::reconnect_delay(failures)) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn session(
    core: &Arc<Core>,
    listener: &dyn ChatListener,
    stop: &mut watch::Receiver<bool>,
    kick: &tokio::sync::Notify,
) -> Ended {
    let dropped = Ended::Dropped {
        was_connected: false,
    };
    let Ok(c) = chat::background_ctx(core) else {
        return dropped;
    };
    let Ok((conv, last)) = chat::require_current(core, &c) else {
        return dropped;
    };
    let Some(token) = core.auth().map(|a| a.session.tokens.access_token.clone()) else {
        return dropped;
    };
    let path = format!(
        "/v1/support/conversations/{}/socket?after_event_seq={last}",
        conv.id
    );
    // Stop and reconnect are heard while connecting too.
    let opened = tokio::select! {
        r = crate::api::ws::connect(core, &path, &token) => r,
        _ = stop.changed() => return Ended::Stopped,
        _ = kick.notified() => return Ended::Kicked,
    };
    let mut ws = match opened {
        Ok(ws) => ws,
        Err(WsError::Http(resp)) => {
            match resp.status().as_u16() {
                // The access token expired: refresh it for the next attempt.
                401 => {
                    let _ = core.refresh(&token).await;
                }
                // The server has fewer events than we applied (e.g. a reset sandbox): start
                // again from 0; stored messages are deduplicated by seq.
                422 => {
                    let _ = core.store.write(|tx| {
                        tx.execute(
                            "UPDATE chat_state SET last_event_seq = 0 WHERE conversation_id = ?1",
                            [&conv.id],
                        )?;
                        Ok(())
                    });
                }
                _ => {}
            }
            return dropped;
        }
        Err(_) => {
            core.note_reachable(false);
            return dropped;
        }
    };
    core.note_reachable(true);
    // Connected: the server is reachable again, so the messages queued meanwhile go now, in
    // order (beside the socket, which keeps reading; the send lock keeps one flush at a time).
    let sender = core.clone();
    crate::core::runtime().spawn(async move {
        let _ = chat::flush(&sender).await;
    });
    listener.on_chat_update(ChatUpdate {
        connected: true,
        applied: 0,
        new_messages: Vec::new(),
        agent_typing: None,
        conversation: chat::conversation(core).ok().flatten(),
    });
    loop {
        let text = match crate::api::ws::next_text(&mut ws, stop, kick).await {
            Next::Text(t) => t,
            Next::Stopped => return Ended::Stopped,
            Next::Kicked => return Ended::Kicked,
            Next::Dropped => {
                return Ended::Dropped {
                    was_connected: true,
                };
            }
        };
        // Unknown event kinds (added later) and malformed frames are ignored.
        let Ok(event) = serde_json::from_str::<ChatEvent>(&text) else {
            continue;
        };
        match deliver(core, &c, &conv.id, event).await {
            Some(update) => listener.on_chat_update(update),
            None => continue,
        }
    }
}

/// Applies one frame (filling a gap before it); the update to report, if anything changed.
async fn deliver(
    core: &Core,
    c: &chat::Ctx,
    conv_id: &str,
    event: ChatEvent,
) -> Option<ChatUpdate> {
    let events = [event];
    let mut new_messages = chat::fill_gap_before(core, c, conv_id, &events).await;
    let mut b = chat::apply_batch(core, c, conv_id, &events).ok()?;
    if b.gap {
        let after = b.conversation.last_event_seq;
        let fill = chat::fetch_events(core, conv_id, after, 0).await.ok()?;
        let f = chat::apply_batch(core, c, conv_id, &fill.events).ok()?;
        new_messages.extend(f.new_messages);
        b = chat::apply_batch(core, c, conv_id, &events).ok()?;
        b.applied += f.applied;
    }
    new_messages.extend(b.new_messages);
    if !new_messages.is_empty() {
        let _ = chat::ack_delivered(core, conv_id).await;
    }
    (b.applied > 0 || b.agent_typing.is_some()).then_some(ChatUpdate {
        connected: true,
        applied: b.applied,
        new_messages,
        agent_typing: b.agent_typing,
        conversation: Some(b.conversation),
    })
}

/// One long-poll in place of the socket: `None` when stopped, else whether it worked.
async fn long_poll(
    core: &Core,
    listener: &dyn ChatListener,
    stop: &mut watch::Receiver<bool>,
) -> Option<bool> {
    let Ok(c) = chat::background_ctx(core) else {
        return Some(false);
    };
    let Ok((conv, last)) = chat::require_current(core, &c) else {
        return Some(false);
    };
    let batch = tokio::select! {
        _ = stop.changed() => return None,
        b = chat::fetch_events(core, &conv.id, last, POLL_WAIT_SECS) => b,
    };
    let Ok(batch) = batch else {
        return Some(false);
    };
    let filled = chat::fill_gap_before(core, &c, &conv.id, &batch.events).await;
    let Ok(mut b) = chat::apply_batch(core, &c, &conv.id, &batch.events) else {
        return Some(false);
    };
    if !filled.is_empty() {
        b.new_messages.splice(0..0, filled);
    }
    if !b.new_messages.is_empty() {
        let _ = chat::ack_delivered(core, &conv.id).await;
    }
    if b.applied > 0 || b.agent_typing.is_some() {
        listener.on_chat_update(ChatUpdate {
            // Updates flow, though not over a socket.
            connected: true,
            applied: b.applied,
            new_messages: b.new_messages,
            agent_typing: b.agent_typing,
            conversation: Some(b.conversation),
        });
    }
    Some(true)
}
