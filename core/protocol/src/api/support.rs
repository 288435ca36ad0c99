//! Support chat: conversations, messages, live events (WebSocket and long-poll frames), tickets,
//! satisfaction ratings (CSAT), screenshot attachments, transcripts and the agent console API.
//!
//! The protocol is specified in `docs/support-protocol.md`. In short: a message is written with
//! an idempotent `PUT …/messages/{client_msg_id}`; the server assigns a gap-free per-conversation
//! `seq`; every visible change is also a stored event with its own gap-free `event_seq`, so a
//! client resumes a socket or long-poll exactly after the last event it has seen. Typing is the
//! only event that is never stored (it has no `event_seq`).

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Longest message text, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// Most attachments one message may reference.
pub const MAX_ATTACHMENTS_PER_MESSAGE: usize = 4;
/// Largest screenshot upload, in bytes.
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;
/// A typing indicator is shown for this long unless renewed.
pub const TYPING_TTL_SECS: u64 = 6;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SenderRole {
    User,
    Bot,
    Agent,
    System,
}

/// Where a conversation is. `bot`: the FAQ bot answers; `queued`: waiting for a human;
/// `assigned`: an agent is answering; `resolved`: ended (writing again reopens it with the bot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    Bot,
    Queued,
    Assigned,
    Resolved,
}

/// Why the bot handed a conversation to a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HandoffReason {
    /// The user asked for a person ("人工", "agent", "human").
    Requested,
    /// The bot's best answer was below the confidence threshold.
    LowConfidence,
    /// Fraud, missing money, a locked or frozen account: always a person.
    SensitiveTopic,
}

/// A button the app shows under a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatAction {
    /// Ask for a human agent (send a message such as "转人工").
    TalkToAgent,
    /// Offer a ticket (`POST /v1/support/tickets` with this conversation).
    CreateTicket,
    /// Open a help-center article.
    OpenArticle { article_id: String },
    /// Rate the resolution `resolution` (send a message with `csat`).
    Rate { resolution: u32 },
}

/// A help-center article named by the bot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ArticleRef {
    pub article_id: String,
    pub title: String,
}

/// What the bot based its answer on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BotAnswer {
    /// The best article; absent when nothing matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article_id: Option<String>,
    /// 0 (no idea) to 1 (certain).
    pub confidence: f64,
    /// Set when the bot handed the conversation to a human.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffReason>,
    /// Other articles that may help.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<ArticleRef>,
}

/// A satisfaction rating, sent as part of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CsatInput {
    /// The resolution being rated (from the `csat_request` event).
    pub resolution: u32,
    /// 1 (very unhappy) to 5 (very happy).
    pub score: u8,
    /// Up to 1000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChatMessage {
    pub conversation_id: String,
    /// Position in the conversation: 1, 2, 3… with no gaps. Order by this, never by time.
    pub seq: u64,
    /// The sender's id for this message (user and agent messages only), echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    pub sender: SenderRole,
    /// Display name of the agent or bot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    pub text: String,
    /// Screenshots (`GET /v1/support/attachments/{id}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachment_ids: Vec<String>,
    /// The user message this one answers (bot and system replies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<BotAnswer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csat: Option<CsatInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ChatAction>,
    pub created_at: i64,
}

/// `PUT /v1/support/conversations/{id}/messages/{client_msg_id}`. Either text, attachments or
/// a rating (or text with attachments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SendMessage {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub attachment_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csat: Option<CsatInput>,
}

/// Answer of a message write: the stored message and what the server added in reply to it
/// (the bot's answer, handoff notices). A repeated write returns the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SentMessage {
    pub message: ChatMessage,
    #[serde(default)]
    pub replies: Vec<ChatMessage>,
}

/// A page of messages in `seq` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MessagePage {
    pub messages: Vec<ChatMessage>,
    /// More messages exist in the paging direction.
    pub has_more: bool,
}

/// Read and delivered markers: everything up to this `seq` was delivered to / read by the
/// other side. Markers only move forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Receipts {
    pub user_delivered_seq: u64,
    pub user_read_seq: u64,
    pub agent_delivered_seq: u64,
    pub agent_read_seq: u64,
}

/// An agent as the user sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AgentPublic {
    pub agent_id: String,
    pub name: String,
}

/// A conversation's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Conversation {
    pub id: String,
    pub status: ConversationStatus,
    /// `seq` of the newest message (0: none yet).
    pub last_seq: u64,
    /// `event_seq` of the newest stored event: resume from here.
    pub last_event_seq: u64,
    pub receipts: Receipts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentPublic>,
    /// 1-based place in the queue while `queued`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_reason: Option<HandoffReason>,
    /// How many times it was resolved; ratings are per resolution.
    pub resolutions: u32,
    /// A resolution awaiting a rating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csat_pending: Option<u32>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConversationList {
    /// Newest first.
    pub conversations: Vec<Conversation>,
}

/// What a live event says happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEventKind {
    /// A new message (any sender).
    Message {
        message: ChatMessage,
    },
    /// `by` has read everything up to `up_to_seq`.
    Read {
        by: SenderRole,
        up_to_seq: u64,
    },
    /// `by` has received everything up to `up_to_seq`.
    Delivered {
        by: SenderRole,
        up_to_seq: u64,
    },
    /// `by` started or stopped typing. Never stored; shown at most `TYPING_TTL_SECS`.
    Typing {
        by: SenderRole,
        typing: bool,
    },
    AgentJoined {
        agent: AgentPublic,
    },
    AgentLeft {
        agent: AgentPublic,
    },
    /// Place in the queue for a human (1 = next); `agents_online` 0 means nobody can answer now.
    QueuePosition {
        position: u32,
        agents_online: u32,
    },
    /// The conversation's status changed.
    Status {
        status: ConversationStatus,
    },
    /// A ticket linked to this conversation was created or changed.
    TicketStatus {
        ticket: Ticket,
    },
    /// The conversation was resolved: please rate resolution `resolution`.
    CsatRequest {
        resolution: u32,
    },
}

/// One live event of a conversation. Stored events carry a gap-free `event_seq`; typing has
/// none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChatEvent {
    pub conversation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_seq: Option<u64>,
    pub at: i64,
    pub event: ChatEventKind,
}

/// `GET /v1/support/conversations/{id}/events` (long-poll).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EventBatch {
    pub events: Vec<ChatEvent>,
    /// Pass as `after_event_seq` next time.
    pub last_event_seq: u64,
}

/// Frames a client may send on a chat socket (messages are never sent this way: use the PUT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Typing { typing: bool },
    Read { up_to_seq: u64 },
    Delivered { up_to_seq: u64 },
}

/// `POST /v1/support/conversations/{id}/receipts`: move the caller's markers forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ReceiptUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_up_to_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_up_to_seq: Option<u64>,
}

/// `POST …/typing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TypingUpdate {
    pub typing: bool,
}

/// Ticket states as the user sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Received, not yet picked up.
    Open,
    /// Being worked on (by the technical team when `team` is `technical`).
    InProgress,
    /// Waiting for the user's answer.
    WaitingForUser,
    Resolved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketTeam {
    Support,
    Technical,
}

/// One step of a ticket's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TicketUpdate {
    pub status: TicketStatus,
    pub by: SenderRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Ticket {
    pub id: String,
    pub conversation_id: String,
    pub subject: String,
    pub status: TicketStatus,
    pub team: TicketTeam,
    pub created_by: SenderRole,
    pub created_at: i64,
    pub updated_at: i64,
    /// Oldest first.
    pub history: Vec<TicketUpdate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TicketList {
    pub tickets: Vec<Ticket>,
}

/// `POST /v1/support/tickets`: one open ticket per conversation; asking again returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateTicket {
    pub conversation_id: String,
    /// 1–200 characters.
    pub subject: String,
    /// Up to 4000 characters.
    #[serde(default)]
    pub description: String,
}

/// `POST /v1/support/tickets/{id}/comments`: the user answers (moves `waiting_for_user` back to
/// `in_progress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TicketComment {
    pub text: String,
}

/// A stored screenshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Attachment {
    pub id: String,
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub size_bytes: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub created_at: i64,
}

/// `GET /v1/support/conversations/{id}/transcript`: the conversation with card numbers,
/// account ids and phone numbers redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Transcript {
    pub conversation_id: String,
    pub exported_at: i64,
    pub messages: Vec<ChatMessage>,
    pub tickets: Vec<Ticket>,
}

// ---- Agent console ----

/// `POST /v1/support/agent/sessions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AgentLogin {
    pub agent_id: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AgentProfile {
    pub agent_id: String,
    pub name: String,
    pub online: bool,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AgentSession {
    /// Bearer token for the agent API (12 hours).
    pub token: String,
    pub agent: AgentProfile,
}

impl std::fmt::Debug for AgentSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSession")
            .field("token", &"<redacted>")
            .field("agent", &self.agent)
            .finish()
    }
}

/// `PUT /v1/support/agent/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AgentStatusUpdate {
    pub online: bool,
}

/// A conversation as listed in the console.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct QueueItem {
    pub conversation: Conversation,
    /// The customer's masked phone number and name.
    pub customer: String,
    /// The newest user message, shortened.
    pub preview: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AgentQueue {
    /// Waiting for an agent, longest waiting first.
    pub waiting: Vec<QueueItem>,
    /// Assigned to the signed-in agent.
    pub mine: Vec<QueueItem>,
    pub agents_online: u32,
}

/// A recent transaction, as support sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CustomerTransaction {
    pub id: String,
    pub kind: String,
    pub status: String,
    /// Signed minor units.
    pub amount_minor: i64,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
    pub created_at: i64,
}

/// A balance, as support sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CustomerBalance {
    pub currency: String,
    pub available_minor: i64,
    pub pending_minor: i64,
}

/// What an agent sees about the customer of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CustomerContext {
    pub user_id: String,
    pub name: String,
    pub phone_masked: String,
    pub account_status: crate::api::auth::AccountStatus,
    pub member_since: i64,
    pub balances: Vec<CustomerBalance>,
    /// Newest first, at most 10.
    pub recent_transactions: Vec<CustomerTransaction>,
    pub tickets: Vec<Ticket>,
}

/// `GET /v1/support/agent/conversations/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AgentConversationView {
    pub conversation: Conversation,
    /// The newest messages, in `seq` order.
    pub messages: Vec<ChatMessage>,
    pub customer: CustomerContext,
}

/// `POST /v1/support/agent/conversations/{id}/ticket`: transfer to the technical team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TransferToTicket {
    pub subject: String,
    #[serde(default)]
    pub note: String,
}

/// `POST …/tickets/{id}/status` (agent console and control API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TicketStatusChange {
    pub status: TicketStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Frames on the agent socket (`GET /v1/support/agent/socket`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentFrame {
    /// An event of a conversation assigned to this agent (or waiting in the queue).
    Event { event: Box<ChatEvent> },
    /// The queue changed: reload it.
    QueueChanged { waiting: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_and_typing_has_no_seq() {
        let e = ChatEvent {
            conversation_id: "C1".into(),
            event_seq: None,
            at: 5,
            event: ChatEventKind::Typing {
                by: SenderRole::Agent,
                typing: true,
            },
        };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"conversation_id":"C1","at":5,"event":{"type":"typing","by":"agent","typing":true}}"#
        );
        assert_eq!(serde_json::from_str::<ChatEvent>(&text).unwrap(), e);
    }

    #[test]
    fn client_frames_parse() {
        let f: ClientFrame = serde_json::from_str(r#"{"type":"read","up_to_seq":7}"#).unwrap();
        assert_eq!(f, ClientFrame::Read { up_to_seq: 7 });
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"send"}"#).is_err());
    }
}
