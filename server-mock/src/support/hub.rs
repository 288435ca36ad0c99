//! The live side of support: chat events (after their transaction committed) and typing (never
//! stored) routed to user and agent sockets.
//!
//! Routing is per conversation: a user's socket or long-poll subscribes to its conversation's
//! own channel, so an event wakes only the connections of that conversation (a single shared
//! channel would wake every open socket for every event: 1,000 sockets made each message cost
//! milliseconds). Agent consoles, few by nature, share one channel carrying every event and
//! queue change, and filter by assignment.
//!
//! The sandbox type belongs to the server core, so hubs live in a small registry keyed by the
//! sandbox's address and holding a weak reference to it: a hub dies with its sandbox, and a new
//! sandbox at a reused address can never inherit an old hub.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use tokio::sync::broadcast;
use upay_protocol::api::support::ChatEvent;

use crate::state::Sandbox;

/// Per conversation: bursts are small; a socket that still lags re-reads the stored events.
const CONVERSATION_CAPACITY: usize = 256;
/// The agents' channel carries everything.
const AGENT_CAPACITY: usize = 4096;

// Every message is put in an `Arc` once and shared by all receivers, so the size difference
// between variants costs nothing that boxing would save.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum HubMsg {
    Chat {
        user_id: String,
        /// The agent assigned when the event happened.
        agent_id: Option<String>,
        event: ChatEvent,
    },
    /// The queue of waiting conversations changed.
    QueueChanged { waiting: u32 },
}

pub type Receiver = broadcast::Receiver<Arc<HubMsg>>;

pub struct Hub {
    conversations: Mutex<HashMap<String, broadcast::Sender<Arc<HubMsg>>>>,
    agents: broadcast::Sender<Arc<HubMsg>>,
}

impl Hub {
    /// Events of one conversation.
    pub fn subscribe_conversation(&self, id: &str) -> Receiver {
        let mut map = self.conversations.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, tx| tx.receiver_count() > 0);
        map.entry(id.to_owned())
            .or_insert_with(|| broadcast::channel(CONVERSATION_CAPACITY).0)
            .subscribe()
    }

    /// Every event and queue change (agent consoles).
    pub fn subscribe_agents(&self) -> Receiver {
        self.agents.subscribe()
    }

    pub fn publish(&self, msgs: Vec<HubMsg>) {
        if msgs.is_empty() {
            return;
        }
        let map = self.conversations.lock().unwrap_or_else(|p| p.into_inner());
        for m in msgs {
            let m = Arc::new(m);
            if let HubMsg::Chat { event, .. } = &*m {
                if let Some(tx) = map.get(&event.conversation_id) {
                    // Nobody listening is fine.
                    let _ = tx.send(m.clone());
                }
            }
            let _ = self.agents.send(m);
        }
    }
}

type Registry = Mutex<Vec<(Weak<Sandbox>, Arc<Hub>)>>;

static HUBS: LazyLock<Registry> = LazyLock::new(|| Mutex::new(Vec::new()));

pub fn hub(sb: &Arc<Sandbox>) -> Arc<Hub> {
    let mut hubs = HUBS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, h)) = hubs
        .iter()
        .find(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(sb)) && w.strong_count() > 0)
    {
        return h.clone();
    }
    hubs.retain(|(w, _)| w.strong_count() > 0);
    let h = Arc::new(Hub {
        conversations: Mutex::new(HashMap::new()),
        agents: broadcast::channel(AGENT_CAPACITY).0,
    });
    hubs.push((Arc::downgrade(sb), h.clone()));
    h
}
