//! The support chat client (first part): the conversation, a durable send queue, local echo
//! replaced in place by the server's copy, message states, catch-up of live events from the
//! last applied `event_seq` (long-poll), throttled typing that is never queued, and read
//! markers for what the UI reports as shown. Protocol: `docs/support-protocol.md`.
//!
//! Exactly once and in order: a message gets its `client_msg_id` when it is queued (stored
//! with it, never regenerated) and is written with the idempotent
//! `PUT …/messages/{client_msg_id}`, one at a time in queue order; the first network failure
//! stops the flush so later messages cannot overtake it. Every server message is stored under
//! its `seq` (unique per conversation), and the user's own copy replaces the local echo row
//! by `client_msg_id`, so a message reaching the device by the PUT answer *and* by an event is
//! stored once. Events are applied in `event_seq` order in the same transaction that records
//! the new `last_event_seq`, so a crash never applies one twice or skips one.
//!
//! Screenshots go through the same queue: their bytes are sealed in `screenshots` when the
//! message is queued and uploaded when its turn comes ([`crate::screenshots`]), so a message
//! with images keeps its place among the texts.
//!
//! Gaps: a message whose `seq` is more than one above the newest stored one (the answer to our
//! PUT after an agent wrote, say) first fetches the missing range with `after_seq`, so the
//! list never shows a hole; the same `seq` arriving again is skipped. Delivered markers are
//! sent by the core whenever messages of others reach the device; read markers only for what
//! the UI reports as shown ([`mark_read`]).
//!
//! Chat text, screenshots, tickets and the conversation are sealed envelopes (bound to table,
//! row and user).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Method;
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use upay_protocol::api::support::{
    ChatEvent, ChatEventKind, ChatMessage, Conversation, ConversationStatus, CsatInput, EventBatch,
    HandoffReason, MessagePage, ReceiptUpdate, SendMessage, SenderRole, SentMessage, Ticket,
    TicketList, TicketStatus, TypingUpdate,
};

use crate::api::NetError;
pub use crate::chat_tickets::{
    ChatTicketStatus, ChatTicketTeam, ChatTicketView, comment_ticket, create_ticket, tickets,
};
use crate::chat_tickets::{save_ticket, ticket_of, ticket_status_view, ticket_view};
use crate::core::{Core, net};
use crate::crypto::Place;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::model::now_ms;

/// Senders renew "typing" at most this often (the receiver shows it for 6 s).
pub const TYPING_RENEW: Duration = Duration::from_secs(3);
/// Longest long-poll wait the server allows.
pub const MAX_WAIT_SECS: u32 = 30;

/// Memory-only chat state of one client.
#[derive(Default)]
pub struct ChatRuntime {
    /// One flush at a time keeps the queue in order.
    send_lock: tokio::sync::Mutex<()>,
    /// When "typing: true" was last sent, and the last value sent.
    typing: Mutex<Option<(Instant, bool)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChatSender {
    User,
    Bot,
    Agent,
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChatMessageState {
    /// Queued on the device, not tried yet.
    Pending,
    /// Being written now.
    Sending,
    /// Stored by the server (has a `seq`).
    Sent,
    /// The agent's device received it.
    Delivered,
    /// The agent read it.
    Read,
    /// A network failure: sent again automatically with the next flush.
    FailedRetryable,
    /// Refused by the server (`error_code`): not sent again unless the user taps retry.
    FailedPermanent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChatStatus {
    Bot,
    Queued,
    Assigned,
    Resolved,
}

/// A screenshot of a message.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChatAttachmentView {
    /// Position in the message; pass to `screenshot` for the bytes.
    pub index: u32,
    /// The server's id, once uploaded.
    pub attachment_id: Option<String>,
    /// The bytes are on this device (a queued image, or one of the user's own).
    pub on_device: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChatHandoffReason {
    /// The user asked for a person.
    Requested,
    /// The bot was not sure of its answer.
    LowConfidence,
    /// Fraud, missing money, a locked or frozen account: always a person.
    SensitiveTopic,
}

/// Who handles the conversation now, as the chat header shows it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ChatHandoff {
    /// The FAQ bot answers.
    Bot,
    /// Waiting for a person; 1 = next.
    Waiting {
        queue_position: Option<u32>,
    },
    /// A person answers.
    Agent {
        name: String,
    },
    /// Handed over as a ticket that is not resolved yet.
    Ticket {
        ticket_id: String,
        status: ChatTicketStatus,
    },
    Resolved,
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ChatMessageView {
    /// The `client_msg_id` of own messages, `s<seq>` of others; stable for the UI's list.
    pub local_id: String,
    pub conversation_id: String,
    pub seq: Option<u64>,
    pub sender: ChatSender,
    pub sender_name: Option<String>,
    pub text: String,
    pub state: ChatMessageState,
    pub error_code: Option<ErrorCode>,
    pub in_reply_to: Option<u64>,
    /// The help article the bot answered with.
    pub article_id: Option<String>,
    /// Screenshots, in order.
    pub attachments: Vec<ChatAttachmentView>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChatConversationView {
    pub id: String,
    pub status: ChatStatus,
    pub queue_position: Option<u32>,
    pub agent_name: Option<String>,
    pub csat_pending: Option<u32>,
    pub last_seq: u64,
    /// The newest event applied on this device: live updates resume after it.
    pub last_event_seq: u64,
    /// Bot, waiting (queue position), agent (name), ticket (status) or resolved.
    pub handoff: ChatHandoff,
    /// Why the bot handed over to a person, while that handoff lasts.
    pub handoff_reason: Option<ChatHandoffReason>,
    /// The conversation's ticket: the unresolved one, else the newest.
    pub ticket: Option<ChatTicketView>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChatPollResult {
    /// Stored events applied by this poll (each exactly once).
    pub applied: u32,
    /// The agent's typing state, when a typing frame arrived.
    pub agent_typing: Option<bool>,
    pub conversation: ChatConversationView,
}

/// What is sealed in `chat_messages.body`.
#[derive(Serialize, Deserialize)]
struct Sealed {
    text: String,
    #[serde(default)]
    sender_name: Option<String>,
    #[serde(default)]
    in_reply_to: Option<u64>,
    #[serde(default)]
    article_id: Option<String>,
    /// A rating queued as a message.
    #[serde(default)]
    csat: Option<CsatInput>,
    /// Screenshot ids of a stored message.
    #[serde(default)]
    attachment_ids: Vec<String>,
    /// Screenshots queued with an unsent message (their bytes are in `screenshots`).
    #[serde(default)]
    images: u32,
}

impl Sealed {
    fn text(text: String) -> Sealed {
        Sealed {
            text,
            sender_name: None,
            in_reply_to: None,
            article_id: None,
            csat: None,
            attachment_ids: Vec::new(),
            images: 0,
        }
    }
}

fn sender_text(s: SenderRole) -> &'static str {
    match s {
        SenderRole::User => "user",
        SenderRole::Bot => "bot",
        SenderRole::Agent => "agent",
        SenderRole::System => "system",
    }
}

fn sender_of(s: &str) -> ChatSender {
    match s {
        "user" => ChatSender::User,
        "bot" => ChatSender::Bot,
        "agent" => ChatSender::Agent,
        _ => ChatSender::System,
    }
}

fn status_view(s: ConversationStatus) -> ChatStatus {
    match s {
        ConversationStatus::Bot => ChatStatus::Bot,
        ConversationStatus::Queued => ChatStatus::Queued,
        ConversationStatus::Assigned => ChatStatus::Assigned,
        ConversationStatus::Resolved => ChatStatus::Resolved,
    }
}

fn reason_view(r: HandoffReason) -> ChatHandoffReason {
    match r {
        HandoffReason::Requested => ChatHandoffReason::Requested,
        HandoffReason::LowConfidence => ChatHandoffReason::LowConfidence,
        HandoffReason::SensitiveTopic => ChatHandoffReason::SensitiveTopic,
    }
}

/// The `screenshots` parent of a chat message.
fn parent_of(conv_id: &str, local_id: &str) -> String {
    format!("chat:{conv_id}/{local_id}")
}

fn msg_place<'a>(row: &'a str, user: &'a str) -> Place<'a> {
    Place::new("chat_messages", "body", row, user)
}

fn state_place<'a>(conv: &'a str, user: &'a str) -> Place<'a> {
    Place::new("chat_state", "body", conv, user)
}

fn new_client_msg_id() -> CoreResult<String> {
    let mut b = [0u8; 16];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| CoreError::client(ErrorCode::Storage))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

pub(crate) struct Ctx {
    pub(crate) user_id: String,
    pub(crate) tag: i64,
}

/// The signed-in user for a call the user made: refused while the app is locked, and counts as
/// use of the app (resets the inactivity timer).
pub(crate) fn ctx(core: &Core) -> CoreResult<Ctx> {
    core.ensure_unlocked()?;
    background_ctx(core)
}

/// The signed-in user for work the core does on its own (sending what the user already queued,
/// the live connection): it neither waits for nor extends the app lock, as the outbox does not,
/// so background retries can never keep an idle phone unlocked.
pub(crate) fn background_ctx(core: &Core) -> CoreResult<Ctx> {
    let (user_id, tag) = core.user()?;
    Ok(Ctx { user_id, tag })
}

pub(crate) async fn authed<T: serde::de::DeserializeOwned>(
    core: &Core,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<T, NetError> {
    let answer = core
        .send_authed(method, path, body, None, core.interactive())
        .await?;
    crate::api::decode(&answer)
}

/// The stored conversation of this user (the newest one opened on this device).
fn current(core: &Core, c: &Ctx) -> CoreResult<Option<(Conversation, u64)>> {
    let row: Option<(String, Vec<u8>, i64)> = core.store.read(|conn| {
        Ok(conn
            .query_row(
                "SELECT conversation_id, body, last_event_seq FROM chat_state
                 WHERE owner_tag = ?1 ORDER BY updated_at DESC, rowid DESC LIMIT 1",
                [c.tag],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    })?;
    let Some((id, body, last)) = row else {
        return Ok(None);
    };
    // Sealed under a key this device lost: as if never opened here; `open` refetches it.
    let Ok(conv) = core
        .cipher
        .open_json::<Conversation>(&state_place(&id, &c.user_id), &body)
    else {
        return Ok(None);
    };
    Ok(Some((conv, last as u64)))
}

pub(crate) fn require_current(core: &Core, c: &Ctx) -> CoreResult<(Conversation, u64)> {
    current(core, c)?.ok_or_else(|| CoreError::client(ErrorCode::ItemNotFound).localized(core.zh()))
}

fn conversation_view(
    conv: &Conversation,
    last_event_seq: u64,
    ticket: Option<Ticket>,
) -> ChatConversationView {
    let open_ticket = ticket
        .as_ref()
        .filter(|t| t.status != TicketStatus::Resolved);
    let handoff = match (conv.status, &conv.agent, open_ticket) {
        (ConversationStatus::Assigned, Some(a), _) => ChatHandoff::Agent {
            name: a.name.clone(),
        },
        (ConversationStatus::Queued, _, _) => ChatHandoff::Waiting {
            queue_position: conv.queue_position,
        },
        (_, _, Some(t)) => ChatHandoff::Ticket {
            ticket_id: t.id.clone(),
            status: ticket_status_view(t.status),
        },
        (ConversationStatus::Resolved, _, _) => ChatHandoff::Resolved,
        (ConversationStatus::Assigned, None, _) | (ConversationStatus::Bot, _, _) => {
            ChatHandoff::Bot
        }
    };
    let handoff_reason = match conv.status {
        ConversationStatus::Queued | ConversationStatus::Assigned => {
            conv.handoff_reason.map(reason_view)
        }
        _ => None,
    };
    ChatConversationView {
        id: conv.id.clone(),
        status: status_view(conv.status),
        queue_position: conv.queue_position,
        agent_name: conv.agent.as_ref().map(|a| a.name.clone()),
        csat_pending: conv.csat_pending,
        last_seq: conv.last_seq,
        last_event_seq,
        handoff,
        handoff_reason,
        ticket: ticket.as_ref().map(ticket_view),
    }
}

fn view_of(
    core: &Core,
    c: &Ctx,
    conv: &Conversation,
    last: u64,
) -> CoreResult<ChatConversationView> {
    let ticket = core
        .store
        .read(|conn| Ok(ticket_of(core, c, conn, &conv.id)))?;
    Ok(conversation_view(conv, last, ticket))
}

fn save_state(
    core: &Core,
    tx: &Transaction<'_>,
    c: &Ctx,
    conv: &Conversation,
    last_event_seq: Option<u64>,
) -> CoreResult<()> {
    let body = core
        .cipher
        .seal_json(&state_place(&conv.id, &c.user_id), conv)?;
    tx.execute(
        "INSERT INTO chat_state (conversation_id, owner_tag, last_event_seq, body, updated_at)
         VALUES (?1, ?2, COALESCE(?3, 0), ?4, ?5)
         ON CONFLICT(conversation_id) DO UPDATE SET body = excluded.body,
             updated_at = excluded.updated_at,
             last_event_seq = COALESCE(?3, chat_state.last_event_seq)",
        params![
            conv.id,
            c.tag,
            last_event_seq.map(|v| v as i64),
            body,
            now_ms()
        ],
    )?;
    Ok(())
}

/// Stores a server message once: the user's own copy replaces its local echo (same row, now
/// with its `seq`); a `seq` already stored is skipped, so duplicates are never shown.
fn apply_message(core: &Core, tx: &Transaction<'_>, c: &Ctx, m: &ChatMessage) -> CoreResult<bool> {
    let conv = &m.conversation_id;
    let exists: bool = tx
        .query_row(
            "SELECT 1 FROM chat_messages WHERE conversation_id = ?1 AND seq = ?2",
            params![conv, m.seq as i64],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if exists {
        return Ok(false);
    }
    let local_id = match (&m.client_msg_id, m.sender) {
        (Some(id), SenderRole::User) => id.clone(),
        _ => format!("s{}", m.seq),
    };
    let sealed = Sealed {
        text: m.text.clone(),
        sender_name: m.sender_name.clone(),
        in_reply_to: m.in_reply_to,
        article_id: m.bot.as_ref().and_then(|b| b.article_id.clone()),
        csat: m.csat.clone(),
        attachment_ids: m.attachment_ids.clone(),
        images: 0,
    };
    let row = format!("{conv}/{local_id}");
    let body = core
        .cipher
        .seal_json(&msg_place(&row, &c.user_id), &sealed)?;
    tx.execute(
        "INSERT INTO chat_messages (conversation_id, local_id, owner_tag, seq, sender, state,
                                    created_at, body)
         VALUES (?1, ?2, ?3, ?4, ?5, 'sent', ?6, ?7)
         ON CONFLICT(conversation_id, local_id) DO UPDATE SET seq = excluded.seq,
             state = 'sent', error_code = NULL, created_at = excluded.created_at,
             body = excluded.body",
        params![
            conv,
            local_id,
            c.tag,
            m.seq as i64,
            sender_text(m.sender),
            m.created_at,
            body
        ],
    )?;
    Ok(true)
}

/// Opens (or resumes) the user's conversation and catches up its newest messages.
pub async fn open(core: &Core) -> CoreResult<ChatConversationView> {
    let c = ctx(core)?;
    let conv: Conversation = authed(core, Method::POST, "/v1/support/conversations", None)
        .await
        .map_err(net(core))?;
    let path = format!("/v1/support/conversations/{}/messages?limit=200", conv.id);
    let page: MessagePage = authed(core, Method::GET, &path, None)
        .await
        .map_err(net(core))?;
    let tickets: TicketList = authed(core, Method::GET, "/v1/support/tickets", None)
        .await
        .map_err(net(core))?;
    let (newer, last) = core.store.write(|tx| {
        // The live connection may have applied newer events since this snapshot was taken:
        // then the stored state is the newer one and stays.
        let stored: Option<(i64, Vec<u8>)> = tx
            .query_row(
                "SELECT last_event_seq, body FROM chat_state WHERE conversation_id = ?1",
                [&conv.id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let newer = stored.and_then(|(seq, body)| {
            (seq as u64 > conv.last_event_seq)
                .then(|| {
                    core.cipher
                        .open_json::<Conversation>(&state_place(&conv.id, &c.user_id), &body)
                        .ok()
                })
                .flatten()
        });
        if newer.is_none() {
            save_state(core, tx, &c, &conv, None)?;
        }
        for m in &page.messages {
            apply_message(core, tx, &c, m)?;
        }
        for t in &tickets.tickets {
            save_ticket(core, tx, &c, t)?;
        }
        let last = tx.query_row(
            "SELECT last_event_seq FROM chat_state WHERE conversation_id = ?1",
            [&conv.id],
            |r| r.get::<_, i64>(0),
        )? as u64;
        Ok((newer, last))
    })?;
    let conv = newer.unwrap_or(conv);
    // Best effort: a marker not sent now goes with the next messages.
    let _ = ack_delivered(core, &conv.id).await;
    view_of(core, &c, &conv, last)
}

/// The current conversation from the cache (works offline).
pub fn conversation(core: &Core) -> CoreResult<Option<ChatConversationView>> {
    let c = ctx(core)?;
    current(core, &c)?
        .map(|(conv, last)| view_of(core, &c, &conv, last))
        .transpose()
}

/// Queues a text message (durable at once, shown as a local echo) and tries to send the
/// queue. Offline it stays `Pending` and goes with the next [`flush`].
pub async fn send_text(core: &Core, text: &str) -> CoreResult<ChatMessageView> {
    let c = ctx(core)?;
    check_text(core, text, false)?;
    queue(core, &c, Sealed::text(text.to_owned()), &[]).await
}

/// Queues one to four screenshots with an optional caption, like a text message: the bytes
/// are sealed on the device at once, uploaded when the message's turn comes, and the message
/// is written once with their ids. An image above 5 MB is refused here (`PayloadTooLarge`);
/// one the server cannot read fails permanently with its code (`UnsupportedMediaType`,
/// `ImageInvalid`).
pub async fn send_screenshots(
    core: &Core,
    images: Vec<Vec<u8>>,
    caption: &str,
) -> CoreResult<ChatMessageView> {
    let c = ctx(core)?;
    if images.is_empty() {
        return Err(CoreError::invalid("screenshots").localized(core.zh()));
    }
    crate::screenshots::check(&images, core.zh())?;
    check_text(core, caption, true)?;
    let mut sealed = Sealed::text(caption.to_owned());
    sealed.images = images.len() as u32;
    queue(core, &c, sealed, &images).await
}

fn check_text(core: &Core, text: &str, may_be_empty: bool) -> CoreResult<()> {
    let n = text.chars().count();
    let bad_char = text
        .chars()
        .any(|ch| ch.is_control() && ch != '\n' && ch != '\t');
    if (n == 0 && !may_be_empty) || n > upay_protocol::api::support::MAX_MESSAGE_CHARS || bad_char {
        return Err(CoreError::invalid("text").localized(core.zh()));
    }
    Ok(())
}

/// Stores a message as the user's intent (with its screenshots, in one transaction) and tries
/// to send the queue; returns its view.
async fn queue(
    core: &Core,
    c: &Ctx,
    sealed: Sealed,
    images: &[Vec<u8>],
) -> CoreResult<ChatMessageView> {
    let (conv, _) = require_current(core, c)?;
    let local_id = new_client_msg_id()?;
    let row = format!("{}/{local_id}", conv.id);
    let body = core
        .cipher
        .seal_json(&msg_place(&row, &c.user_id), &sealed)?;
    core.store.write(|tx| {
        tx.execute(
            "INSERT INTO chat_messages (conversation_id, local_id, owner_tag, seq, sender, state,
                                        created_at, body)
             VALUES (?1, ?2, ?3, NULL, 'user', 'pending', ?4, ?5)",
            params![conv.id, local_id, c.tag, now_ms(), body],
        )?;
        let parent = parent_of(&conv.id, &local_id);
        crate::screenshots::insert(core, tx, &c.user_id, c.tag, &parent, images)?;
        Ok(())
    })?;
    // Not being able to send now is what the queue is for: the echo is the answer.
    let _ = flush(core).await;
    message(core, c, &conv.id, &local_id)?.ok_or_else(|| CoreError::client(ErrorCode::ItemNotFound))
}

struct Queued {
    conversation_id: String,
    local_id: String,
    text: String,
    csat: Option<CsatInput>,
    images: u32,
}

/// Whether a refused request failed for good (a `4xx` other than `401`, `408` and `429`):
/// shown as failed, not sent again unless the user says so. A `401` of any kind (expired,
/// revoked or reused session) is about the sign-in, not the message: it goes after the next
/// sign-in.
pub(crate) fn is_permanent(e: &NetError) -> bool {
    match e {
        NetError::Problem { problem, .. } => {
            (400..500).contains(&problem.status) && !matches!(problem.status, 401 | 408 | 429)
        }
        _ => false,
    }
}

/// Whether messages of this user wait to be sent: queued, interrupted mid-send, or refused for
/// a reason worth trying again. The worker retries them on its own schedule.
pub(crate) fn has_unsent(core: &Core, owner_tag: i64) -> CoreResult<bool> {
    core.store.read(|conn| {
        Ok(conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM chat_messages
                            WHERE owner_tag = ?1 AND seq IS NULL
                              AND state IN ('pending', 'sending', 'failed_retryable'))",
            [owner_tag],
            |r| r.get(0),
        )?)
    })
}

/// Sends every queued message in creation order, one at a time (uploading its screenshots
/// first); stops at the first network failure (so order holds). Returns how many were stored
/// by the server.
pub async fn flush(core: &Core) -> CoreResult<u32> {
    let c = background_ctx(core)?;
    let _guard = core.chat.send_lock.lock().await;
    let mut sent = 0;
    let mut conversations = Vec::new();
    loop {
        let next: Option<(String, String, Vec<u8>)> = core.store.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT conversation_id, local_id, body FROM chat_messages
                     WHERE owner_tag = ?1 AND seq IS NULL
                       AND state IN ('pending', 'sending', 'failed_retryable')
                     ORDER BY rowid LIMIT 1",
                    [c.tag],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?)
        })?;
        let Some((conversation_id, local_id, body)) = next else {
            break;
        };
        let row = format!("{conversation_id}/{local_id}");
        let Ok(sealed) = core
            .cipher
            .open_json::<Sealed>(&msg_place(&row, &c.user_id), &body)
        else {
            // Sealed under a key this device lost (never seen by the server): it cannot be
            // sent and must not block the queue. The row is kept (never dropped), failed.
            let q = Queued {
                conversation_id,
                local_id,
                text: String::new(),
                csat: None,
                images: 0,
            };
            set_state(core, &q, "failed_permanent", Some(ErrorCode::KeyLost))?;
            continue;
        };
        let q = Queued {
            conversation_id,
            local_id,
            text: sealed.text,
            csat: sealed.csat,
            images: sealed.images,
        };
        set_state(core, &q, "sending", None)?;
        let result = match send_one(core, &c, &q).await {
            Ok(answer) => answer,
            Err(SendError::Unreadable) => {
                set_state(core, &q, "failed_permanent", Some(ErrorCode::KeyLost))?;
                continue;
            }
            Err(SendError::Local(e)) => return Err(e),
            Err(SendError::Net(e)) if is_permanent(&e) => {
                let code = e.code().map(ErrorCode::from).unwrap_or(ErrorCode::Unknown);
                set_state(core, &q, "failed_permanent", Some(code))?;
                // A refused message does not block the ones behind it.
                continue;
            }
            Err(SendError::Net(e)) => {
                set_state(core, &q, "failed_retryable", None)?;
                return Err(e.into_core(core.zh()));
            }
        };
        // A jump in `seq` (someone wrote since the newest message here): fetch the missing
        // range first. Not getting it now is fine: the event catch-up brings the same messages.
        let _ = fill_gap(core, &c, &q.conversation_id, result.message.seq).await;
        core.store.write(|tx| {
            apply_message(core, tx, &c, &result.message)?;
            for m in &result.replies {
                apply_message(core, tx, &c, m)?;
            }
            // The rating was taken: the conversation no longer waits for one.
            if let Some(rated) = &result.message.csat {
                update_state(core, tx, &c, &q.conversation_id, |conv| {
                    if conv.csat_pending == Some(rated.resolution) {
                        conv.csat_pending = None;
                    }
                })?;
            }
            if let Some(reason) = result
                .replies
                .iter()
                .find_map(|m| m.bot.as_ref().and_then(|b| b.handoff))
            {
                update_state(core, tx, &c, &q.conversation_id, |conv| {
                    conv.handoff_reason = Some(reason)
                })?;
            }
            Ok(())
        })?;
        if !conversations.contains(&q.conversation_id) {
            conversations.push(q.conversation_id.clone());
        }
        sent += 1;
    }
    for conv_id in conversations {
        let _ = ack_delivered(core, &conv_id).await;
    }
    Ok(sent)
}

enum SendError {
    Net(NetError),
    /// A screenshot sealed under a key this device lost.
    Unreadable,
    Local(CoreError),
}

/// Uploads the message's screenshots (if any) and writes it with the idempotent PUT.
async fn send_one(core: &Core, c: &Ctx, q: &Queued) -> Result<SentMessage, SendError> {
    let attachment_ids = if q.images > 0 {
        let parent = parent_of(&q.conversation_id, &q.local_id);
        crate::screenshots::upload(core, &c.user_id, &parent)
            .await
            .map_err(|e| match e {
                crate::screenshots::UploadError::Net(e) => SendError::Net(e),
                crate::screenshots::UploadError::Unreadable => SendError::Unreadable,
                crate::screenshots::UploadError::Local(e) => SendError::Local(e),
            })?
    } else {
        Vec::new()
    };
    let path = format!(
        "/v1/support/conversations/{}/messages/{}",
        q.conversation_id, q.local_id
    );
    let req = SendMessage {
        text: q.text.clone(),
        attachment_ids,
        csat: q.csat.clone(),
    };
    let body = serde_json::to_vec(&req)
        .map_err(|_| SendError::Local(CoreError::client(ErrorCode::Storage)))?;
    authed::<SentMessage>(core, Method::PUT, &path, Some(body))
        .await
        .map_err(SendError::Net)
}

/// The newest `seq` stored on this device for the conversation.
fn top_seq(core: &Core, conv_id: &str) -> CoreResult<u64> {
    core.store.read(|conn| {
        Ok(conn.query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM chat_messages
             WHERE conversation_id = ?1 AND seq IS NOT NULL",
            [conv_id],
            |r| r.get::<_, i64>(0),
        )? as u64)
    })
}

/// Before a message numbered `incoming` is shown: when the device's newest stored message is
/// more than one below it, fetches the messages in between (`after_seq`, in pages) and stores
/// them (each `seq` once). Returns the views of the messages added, oldest first.
pub(crate) async fn fill_gap(
    core: &Core,
    c: &Ctx,
    conv_id: &str,
    incoming: u64,
) -> CoreResult<Vec<ChatMessageView>> {
    let mut have = top_seq(core, conv_id)?;
    let mut added = Vec::new();
    while incoming > have + 1 {
        let path =
            format!("/v1/support/conversations/{conv_id}/messages?after_seq={have}&limit=200");
        let page: MessagePage = authed(core, Method::GET, &path, None)
            .await
            .map_err(net(core))?;
        core.store.write(|tx| {
            for m in &page.messages {
                if apply_message(core, tx, c, m)? {
                    added.push(m.seq);
                }
            }
            Ok(())
        })?;
        match page.messages.last() {
            Some(m) if m.seq > have && page.has_more => have = m.seq,
            _ => break,
        }
    }
    if !added.is_empty() {
        tracing::debug!(filled = added.len(), "chat gap filled");
    }
    views_by_seq(core, c, conv_id, &added)
}

fn views_by_seq(
    core: &Core,
    c: &Ctx,
    conv_id: &str,
    seqs: &[u64],
) -> CoreResult<Vec<ChatMessageView>> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let Some((conv, _)) = current(core, c)?.filter(|(conv, _)| conv.id == conv_id) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let row = core.store.read(|conn| {
            Ok(conn
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM chat_messages
                         WHERE conversation_id = ?1 AND seq = ?2"
                    ),
                    params![conv_id, *seq as i64],
                    read_row,
                )
                .optional()?)
        })?;
        if let Some(r) = row {
            out.push(view(core, c, &conv, r)?);
        }
    }
    Ok(out)
}

/// Messages of an agent reached the device: moves the user's delivered marker to the newest
/// message stored here (forward only, once per new agent message; the bot and system notices
/// read no receipts, so answering them costs no request). Best effort: a marker that cannot be
/// sent now goes with the next messages.
pub(crate) async fn ack_delivered(core: &Core, conv_id: &str) -> CoreResult<bool> {
    let (others, top, sent): (i64, i64, i64) = core.store.read(|conn| {
        Ok(conn
            .query_row(
                "SELECT COALESCE((SELECT MAX(seq) FROM chat_messages
                                  WHERE conversation_id = ?1 AND sender = 'agent'
                                    AND seq IS NOT NULL), 0),
                        COALESCE((SELECT MAX(seq) FROM chat_messages
                                  WHERE conversation_id = ?1 AND seq IS NOT NULL), 0),
                        MAX(delivered_sent_seq, read_sent_seq)
                 FROM chat_state WHERE conversation_id = ?1",
                [conv_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .unwrap_or((0, 0, 0)))
    })?;
    if others <= sent {
        return Ok(false);
    }
    let path = format!("/v1/support/conversations/{conv_id}/receipts");
    let body = serde_json::to_vec(&ReceiptUpdate {
        read_up_to_seq: None,
        delivered_up_to_seq: Some(top as u64),
    })
    .unwrap_or_default();
    core.send_authed(Method::POST, &path, Some(body), None, core.interactive())
        .await
        .map_err(net(core))?;
    core.store.write(|tx| {
        tx.execute(
            "UPDATE chat_state SET delivered_sent_seq = MAX(delivered_sent_seq, ?2)
             WHERE conversation_id = ?1",
            params![conv_id, top],
        )?;
        Ok(())
    })?;
    Ok(true)
}

fn set_state(core: &Core, q: &Queued, state: &str, code: Option<ErrorCode>) -> CoreResult<()> {
    let code = code.map(|c| format!("{c:?}"));
    core.store.write(|tx| {
        tx.execute(
            "UPDATE chat_messages SET state = ?3, error_code = ?4,
                 attempts = attempts + (?3 = 'sending')
             WHERE conversation_id = ?1 AND local_id = ?2 AND seq IS NULL",
            params![q.conversation_id, q.local_id, state, code],
        )?;
        Ok(())
    })
}

/// Puts a permanently failed message back in the queue (the user tapped retry).
pub fn retry(core: &Core, local_id: &str) -> CoreResult<bool> {
    let c = ctx(core)?;
    core.store.write(|tx| {
        Ok(tx.execute(
            "UPDATE chat_messages SET state = 'pending', error_code = NULL
             WHERE owner_tag = ?1 AND local_id = ?2 AND seq IS NULL
               AND state = 'failed_permanent'",
            params![c.tag, local_id],
        )? > 0)
    })
}

pub(crate) fn code_of(text: &str) -> ErrorCode {
    ErrorCode::all()
        .into_iter()
        .find(|c| format!("{c:?}") == text)
        .unwrap_or(ErrorCode::Unknown)
}

type Row = (
    String,
    String,
    Option<i64>,
    String,
    String,
    Option<String>,
    i64,
    Vec<u8>,
);

fn view(core: &Core, c: &Ctx, conv: &Conversation, r: Row) -> CoreResult<ChatMessageView> {
    let (conversation_id, local_id, seq, sender, state, error_code, created_at, body) = r;
    let place_row = format!("{conversation_id}/{local_id}");
    let sealed: Sealed = core
        .cipher
        .open_json(&msg_place(&place_row, &c.user_id), &body)?;
    let seq = seq.map(|s| s as u64);
    let sender = sender_of(&sender);
    let state = match (state.as_str(), seq) {
        // The agent's markers say how far our messages got.
        (_, Some(s)) if sender == ChatSender::User && s <= conv.receipts.agent_read_seq => {
            ChatMessageState::Read
        }
        (_, Some(s)) if sender == ChatSender::User && s <= conv.receipts.agent_delivered_seq => {
            ChatMessageState::Delivered
        }
        (_, Some(_)) => ChatMessageState::Sent,
        ("sending", None) => ChatMessageState::Sending,
        ("failed_retryable", None) => ChatMessageState::FailedRetryable,
        ("failed_permanent", None) => ChatMessageState::FailedPermanent,
        _ => ChatMessageState::Pending,
    };
    let count = (sealed.attachment_ids.len() as u32).max(sealed.images);
    let attachments = if count == 0 {
        Vec::new()
    } else {
        let parent = parent_of(&conversation_id, &local_id);
        let local = core
            .store
            .read(|conn| Ok(crate::screenshots::list(conn, &parent)?))?;
        (0..count)
            .map(|i| {
                let here = local.iter().find(|(idx, _)| *idx == i);
                ChatAttachmentView {
                    index: i,
                    attachment_id: sealed
                        .attachment_ids
                        .get(i as usize)
                        .cloned()
                        .or_else(|| here.and_then(|(_, id)| id.clone())),
                    on_device: here.is_some(),
                }
            })
            .collect()
    };
    Ok(ChatMessageView {
        local_id,
        conversation_id,
        seq,
        sender,
        sender_name: sealed.sender_name,
        text: sealed.text,
        state,
        error_code: error_code.as_deref().map(code_of),
        in_reply_to: sealed.in_reply_to,
        article_id: sealed.article_id,
        attachments,
        created_at,
    })
}

const COLUMNS: &str = "conversation_id, local_id, seq, sender, state, error_code, created_at, body";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn message(
    core: &Core,
    c: &Ctx,
    conv_id: &str,
    local_id: &str,
) -> CoreResult<Option<ChatMessageView>> {
    let Some((conv, _)) = current(core, c)?.filter(|(conv, _)| conv.id == conv_id) else {
        return Ok(None);
    };
    let row = core.store.read(|conn| {
        Ok(conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM chat_messages
                     WHERE conversation_id = ?1 AND local_id = ?2"
                ),
                params![conv_id, local_id],
                read_row,
            )
            .optional()?)
    })?;
    row.map(|r| view(core, c, &conv, r)).transpose()
}

/// The conversation as the UI lists it: stored messages by `seq`, then the queued ones in
/// the order they were written. The newest `limit`, oldest first (offline).
pub fn messages(core: &Core, limit: u32) -> CoreResult<Vec<ChatMessageView>> {
    let c = ctx(core)?;
    let Some((conv, _)) = current(core, &c)? else {
        return Ok(Vec::new());
    };
    let limit = limit.clamp(1, 1000);
    // Newest first: the unsent ones (in writing order), then the stored ones by `seq`; each
    // from its own index, so the cost follows `limit`, not the conversation's length.
    let rows: Vec<Row> = core.store.read(|conn| {
        let mut rows = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM chat_messages WHERE conversation_id = ?1 AND seq IS NULL
                 ORDER BY rowid DESC LIMIT ?2"
            ))?
            .query_map(params![conv.id, limit], read_row)?
            .collect::<Result<Vec<_>, _>>()?;
        let left = limit as usize - rows.len();
        if left > 0 {
            let stored = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM chat_messages
                     WHERE conversation_id = ?1 AND seq IS NOT NULL
                     ORDER BY seq DESC LIMIT ?2"
                ))?
                .query_map(params![conv.id, left as i64], read_row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.extend(stored);
        }
        Ok(rows)
    })?;
    // Rows sealed under a lost key cannot be shown; the server still has every sent one.
    let mut out: Vec<ChatMessageView> = rows
        .into_iter()
        .filter_map(|r| view(core, &c, &conv, r).ok())
        .collect();
    out.reverse();
    Ok(out)
}

/// Fetches and applies the stored events after the last applied one (waiting up to
/// `wait_secs` for one when there are none): the long-poll form of live updates and the
/// catch-up after being offline.
pub async fn poll(core: &Core, wait_secs: u32) -> CoreResult<ChatPollResult> {
    let c = ctx(core)?;
    let (conv, mut last) = require_current(core, &c)?;
    let mut wait = wait_secs.min(MAX_WAIT_SECS);
    let mut total = 0;
    let mut typing = None;
    loop {
        let batch = fetch_events(core, &conv.id, last, wait).await?;
        fill_gap_before(core, &c, &conv.id, &batch.events).await;
        let b = apply_batch(core, &c, &conv.id, &batch.events)?;
        total += b.applied;
        typing = b.agent_typing.or(typing);
        // A jump in the batch: ask again from what was applied, without waiting.
        if !b.gap || b.conversation.last_event_seq == last && b.applied == 0 && wait == 0 {
            if total > 0 {
                let _ = ack_delivered(core, &conv.id).await;
            }
            return Ok(ChatPollResult {
                applied: total,
                agent_typing: typing,
                conversation: b.conversation,
            });
        }
        last = b.conversation.last_event_seq;
        wait = 0;
    }
}

/// Fills a jump in message `seq` that a batch of events would reveal (a device that missed
/// messages, e.g. after the server lost its events); the views of the messages added.
pub(crate) async fn fill_gap_before(
    core: &Core,
    c: &Ctx,
    conv_id: &str,
    events: &[ChatEvent],
) -> Vec<ChatMessageView> {
    // Events applied before carry messages at or below the newest stored `seq`: no fetch.
    let first = events
        .iter()
        .filter(|e| e.event_seq.is_some())
        .find_map(|e| match &e.event {
            ChatEventKind::Message { message } => Some(message.seq),
            _ => None,
        });
    match first {
        Some(seq) => fill_gap(core, c, conv_id, seq).await.unwrap_or_default(),
        None => Vec::new(),
    }
}

/// The stored events after `after` (long-poll up to `wait_secs`).
pub(crate) async fn fetch_events(
    core: &Core,
    conv_id: &str,
    after: u64,
    wait_secs: u32,
) -> CoreResult<EventBatch> {
    let path = format!(
        "/v1/support/conversations/{conv_id}/events?after_event_seq={after}&wait_secs={wait_secs}"
    );
    authed(core, Method::GET, &path, None)
        .await
        .map_err(net(core))
}

/// What applying a batch of events did.
pub(crate) struct Applied {
    pub applied: u32,
    pub agent_typing: Option<bool>,
    pub conversation: ChatConversationView,
    /// The next expected event is missing (a jump): fetch after `last_event_seq` first.
    pub gap: bool,
    /// Messages added, oldest first.
    pub new_messages: Vec<ChatMessageView>,
}

/// Applies stored events in `event_seq` order in one transaction with the new
/// `last_event_seq`: ones already applied are skipped, a jump stops the batch.
pub(crate) fn apply_batch(
    core: &Core,
    c: &Ctx,
    conv_id: &str,
    events: &[ChatEvent],
) -> CoreResult<Applied> {
    let mut typing = None;
    let mut gap = false;
    let mut added = Vec::new();
    let (applied, conv, last) = core.store.write(|tx| {
        let (body, last): (Vec<u8>, i64) = tx.query_row(
            "SELECT body, last_event_seq FROM chat_state WHERE conversation_id = ?1",
            [conv_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        // Re-read inside the write: a concurrent poll may have applied some already.
        let mut conv: Conversation = core
            .cipher
            .open_json(&state_place(conv_id, &c.user_id), &body)?;
        let mut last = last as u64;
        let mut applied = 0;
        for e in events {
            match e.event_seq {
                None => {
                    if let ChatEventKind::Typing { by, typing: t } = &e.event
                        && *by != SenderRole::User
                    {
                        typing = Some(*t);
                    }
                }
                Some(s) if s <= last => {}
                Some(s) if s > last + 1 => {
                    gap = true;
                    break;
                }
                Some(s) => {
                    match &e.event {
                        ChatEventKind::Message { message }
                            if apply_message(core, tx, c, message)? =>
                        {
                            added.push(message.seq);
                        }
                        ChatEventKind::TicketStatus { ticket } => {
                            save_ticket(core, tx, c, ticket)?;
                        }
                        _ => {}
                    }
                    apply_event(&mut conv, e);
                    last = s;
                    applied += 1;
                }
            }
        }
        save_state(core, tx, c, &conv, Some(last))?;
        Ok((applied, conv, last))
    })?;
    let new_messages = views_by_seq(core, c, conv_id, &added)?;
    Ok(Applied {
        applied,
        agent_typing: typing,
        conversation: view_of(core, c, &conv, last)?,
        gap,
        new_messages,
    })
}

fn apply_event(conv: &mut Conversation, e: &ChatEvent) {
    match &e.event {
        // The message itself was stored by the caller.
        ChatEventKind::Message { message } => {
            conv.last_seq = conv.last_seq.max(message.seq);
            if let Some(reason) = message.bot.as_ref().and_then(|b| b.handoff) {
                conv.handoff_reason = Some(reason);
            }
        }
        ChatEventKind::Read { by, up_to_seq } => match by {
            SenderRole::User => {
                conv.receipts.user_read_seq = conv.receipts.user_read_seq.max(*up_to_seq)
            }
            _ => {
                conv.receipts.agent_read_seq = conv.receipts.agent_read_seq.max(*up_to_seq);
                conv.receipts.agent_delivered_seq =
                    conv.receipts.agent_delivered_seq.max(*up_to_seq);
            }
        },
        ChatEventKind::Delivered { by, up_to_seq } => match by {
            SenderRole::User => {
                conv.receipts.user_delivered_seq = conv.receipts.user_delivered_seq.max(*up_to_seq)
            }
            _ => {
                conv.receipts.agent_delivered_seq =
                    conv.receipts.agent_delivered_seq.max(*up_to_seq)
            }
        },
        ChatEventKind::AgentJoined { agent } => conv.agent = Some(agent.clone()),
        ChatEventKind::AgentLeft { .. } => conv.agent = None,
        ChatEventKind::QueuePosition { position, .. } => conv.queue_position = Some(*position),
        ChatEventKind::Status { status } => {
            conv.status = *status;
            if *status != ConversationStatus::Queued {
                conv.queue_position = None;
            }
            if *status == ConversationStatus::Bot {
                conv.handoff_reason = None;
            }
        }
        ChatEventKind::CsatRequest { resolution } => conv.csat_pending = Some(*resolution),
        ChatEventKind::TicketStatus { .. } | ChatEventKind::Typing { .. } => {}
    }
}

/// The user is typing (or stopped). Sent at most every 3 s while typing; never queued: when
/// it cannot be sent now it is simply dropped. Returns whether a request was sent.
pub async fn set_typing(core: &Core, typing: bool) -> CoreResult<bool> {
    let c = ctx(core)?;
    {
        let last = core.chat.typing.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some((at, true)) if typing && at.elapsed() < TYPING_RENEW => return Ok(false),
            Some((_, false)) | None if !typing => return Ok(false),
            _ => {}
        }
    }
    let (conv, _) = require_current(core, &c)?;
    let path = format!("/v1/support/conversations/{}/typing", conv.id);
    let body = serde_json::to_vec(&TypingUpdate { typing }).unwrap_or_default();
    let mut retry = core.interactive();
    retry.attempts = 1;
    let sent = core
        .send_authed(Method::POST, &path, Some(body), None, retry)
        .await
        .is_ok();
    if sent {
        *core.chat.typing.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), typing));
    }
    Ok(sent)
}

/// The UI showed the messages up to `seq`: the read marker moves there (forward only, and
/// never past what this device has).
pub async fn mark_read(core: &Core, up_to_seq: u64) -> CoreResult<u64> {
    let c = ctx(core)?;
    let (conv, _) = require_current(core, &c)?;
    let (have, sent): (i64, i64) = core.store.read(|conn| {
        Ok(conn.query_row(
            "SELECT COALESCE((SELECT MAX(seq) FROM chat_messages
                              WHERE conversation_id = ?1 AND seq IS NOT NULL), 0),
                    read_sent_seq FROM chat_state WHERE conversation_id = ?1",
            [&conv.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    })?;
    let target = up_to_seq.min(have as u64);
    if target <= sent as u64 {
        return Ok(sent as u64);
    }
    let path = format!("/v1/support/conversations/{}/receipts", conv.id);
    let body = serde_json::to_vec(&ReceiptUpdate {
        read_up_to_seq: Some(target),
        delivered_up_to_seq: Some(target),
    })
    .unwrap_or_default();
    core.send_authed(Method::POST, &path, Some(body), None, core.interactive())
        .await
        .map_err(net(core))?;
    core.store.write(|tx| {
        tx.execute(
            "UPDATE chat_state SET read_sent_seq = MAX(read_sent_seq, ?2)
             WHERE conversation_id = ?1",
            params![conv.id, target as i64],
        )?;
        Ok(())
    })?;
    Ok(target)
}

/// Changes the stored conversation state in the caller's transaction.
fn update_state(
    core: &Core,
    tx: &Transaction<'_>,
    c: &Ctx,
    conv_id: &str,
    change: impl FnOnce(&mut Conversation),
) -> CoreResult<()> {
    let body: Option<Vec<u8>> = tx
        .query_row(
            "SELECT body FROM chat_state WHERE conversation_id = ?1",
            [conv_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(body) = body else {
        return Ok(());
    };
    let mut conv: Conversation = core
        .cipher
        .open_json(&state_place(conv_id, &c.user_id), &body)?;
    change(&mut conv);
    save_state(core, tx, c, &conv, None)
}

/// Rates a resolution (1–5 and an optional comment), queued like a message: exactly once,
/// also when written offline.
pub async fn rate(
    core: &Core,
    resolution: u32,
    score: u8,
    comment: Option<String>,
) -> CoreResult<ChatMessageView> {
    let c = ctx(core)?;
    if !(1..=5).contains(&score) {
        return Err(CoreError::invalid("score").localized(core.zh()));
    }
    if comment.as_ref().is_some_and(|t| t.chars().count() > 1000) {
        return Err(CoreError::invalid("comment").localized(core.zh()));
    }
    let mut sealed = Sealed::text(String::new());
    sealed.csat = Some(CsatInput {
        resolution,
        score,
        comment,
    });
    queue(core, &c, sealed, &[]).await
}

/// Loads the page of messages before the oldest one on the device (scrolling back; the whole
/// history after a reinstall). Returns whether older messages remain.
pub async fn load_older(core: &Core, limit: u32) -> CoreResult<bool> {
    let c = ctx(core)?;
    let (conv, _) = require_current(core, &c)?;
    let oldest: Option<i64> = core.store.read(|conn| {
        Ok(conn.query_row(
            "SELECT MIN(seq) FROM chat_messages WHERE conversation_id = ?1 AND seq IS NOT NULL",
            [&conv.id],
            |r| r.get(0),
        )?)
    })?;
    let cursor = match oldest {
        Some(1) => return Ok(false),
        Some(s) => format!("&before_seq={s}"),
        None => String::new(),
    };
    let path = format!(
        "/v1/support/conversations/{}/messages?limit={}{cursor}",
        conv.id,
        limit.clamp(1, 200)
    );
    let page: MessagePage = authed(core, Method::GET, &path, None)
        .await
        .map_err(net(core))?;
    core.store.write(|tx| {
        for m in &page.messages {
            apply_message(core, tx, &c, m)?;
        }
        Ok(())
    })?;
    Ok(page.has_more)
}

/// Exports the conversation's transcript (the server redacts card numbers, account ids and
/// phone numbers; in the app's language, times in UTC+8) to the file `path`.
pub async fn export_transcript(core: &Core, path: &str) -> CoreResult<u64> {
    export(core, path, "transcript/text").await
}

/// Exports the transcript as JSON (the wire `Transcript`: messages by `seq` and the
/// conversation's tickets, redacted like the text form) to the file `path`.
pub async fn export_transcript_json(core: &Core, path: &str) -> CoreResult<u64> {
    export(core, path, "transcript").await
}

async fn export(core: &Core, path: &str, resource: &str) -> CoreResult<u64> {
    let c = ctx(core)?;
    let (conv, _) = require_current(core, &c)?;
    let url = format!("/v1/support/conversations/{}/{resource}", conv.id);
    let answer = core
        .send_authed(Method::GET, &url, None, None, core.interactive())
        .await
        .map_err(net(core))?;
    std::fs::write(path, &answer.body).map_err(|_| {
        tracing::warn!("transcript file could not be written");
        CoreError::client(ErrorCode::Storage).localized(core.zh())
    })?;
    Ok(answer.body.len() as u64)
}

/// The bytes of screenshot `index` of message `local_id`: from the device, or (the user's own
/// screenshot after a reinstall) fetched once from the server and kept sealed. `None` when it
/// is not the user's to fetch.
pub async fn screenshot(core: &Core, local_id: &str, index: u32) -> CoreResult<Option<Vec<u8>>> {
    let c = ctx(core)?;
    let (conv, _) = require_current(core, &c)?;
    let parent = parent_of(&conv.id, local_id);
    if let Some(bytes) = crate::screenshots::read(core, &c.user_id, &parent, index)? {
        return Ok(Some(bytes));
    }
    let Some(m) = message(core, &c, &conv.id, local_id)? else {
        return Ok(None);
    };
    let id = match m.attachments.get(index as usize) {
        Some(a) if m.sender == ChatSender::User => a.attachment_id.clone(),
        _ => None,
    };
    let Some(id) = id.filter(|id| id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    else {
        return Ok(None);
    };
    let answer = core
        .send_authed(
            Method::GET,
            &format!("/v1/support/attachments/{id}"),
            None,
            None,
            core.interactive(),
        )
        .await
        .map_err(net(core))?;
    crate::screenshots::keep(core, &c.user_id, c.tag, &parent, index, &id, &answer.body)?;
    Ok(Some(answer.body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use upay_protocol::api::support::{AgentPublic, Receipts, TicketTeam};

    fn conv(status: ConversationStatus) -> Conversation {
        Conversation {
            id: "C000000000001".into(),
            status,
            last_seq: 0,
            last_event_seq: 0,
            receipts: Receipts::default(),
            agent: None,
            queue_position: None,
            handoff_reason: None,
            resolutions: 0,
            csat_pending: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn ticket(status: TicketStatus) -> Ticket {
        Ticket {
            id: "T000000001".into(),
            conversation_id: "C000000000001".into(),
            subject: "s".into(),
            status,
            team: TicketTeam::Technical,
            created_by: SenderRole::Agent,
            created_at: 0,
            updated_at: 0,
            history: Vec::new(),
        }
    }

    #[test]
    fn the_header_says_who_handles_the_conversation() {
        let view = |c: &Conversation, t: Option<TicketStatus>| {
            conversation_view(c, 0, t.map(ticket)).handoff
        };
        assert_eq!(view(&conv(ConversationStatus::Bot), None), ChatHandoff::Bot);

        let mut queued = conv(ConversationStatus::Queued);
        queued.queue_position = Some(3);
        queued.handoff_reason = Some(HandoffReason::SensitiveTopic);
        assert_eq!(
            view(&queued, Some(TicketStatus::Open)),
            ChatHandoff::Waiting {
                queue_position: Some(3)
            },
            "waiting for a person comes before a ticket"
        );
        assert_eq!(
            conversation_view(&queued, 0, None).handoff_reason,
            Some(ChatHandoffReason::SensitiveTopic)
        );

        let mut assigned = conv(ConversationStatus::Assigned);
        assigned.agent = Some(AgentPublic {
            agent_id: "A001".into(),
            name: "小美".into(),
        });
        assert_eq!(
            view(&assigned, Some(TicketStatus::InProgress)),
            ChatHandoff::Agent {
                name: "小美".into()
            }
        );

        let resolved = conv(ConversationStatus::Resolved);
        assert_eq!(
            view(&resolved, Some(TicketStatus::WaitingForUser)),
            ChatHandoff::Ticket {
                ticket_id: "T000000001".into(),
                status: ChatTicketStatus::WaitingForUser
            }
        );
        assert_eq!(
            view(&resolved, Some(TicketStatus::Resolved)),
            ChatHandoff::Resolved
        );
        // The reason is shown only while the handoff lasts.
        let mut back = conv(ConversationStatus::Resolved);
        back.handoff_reason = Some(HandoffReason::Requested);
        assert_eq!(conversation_view(&back, 0, None).handoff_reason, None);
    }

    #[test]
    fn refusals_that_must_not_be_resent() {
        let problem = |code: upay_protocol::error::ErrorCode| NetError::Problem {
            problem: Box::new(upay_protocol::error::Problem::new(code, false)),
            retry_after: None,
        };
        use upay_protocol::error::ErrorCode as W;
        assert!(is_permanent(&problem(W::ImageInvalid)));
        assert!(is_permanent(&problem(W::UnsupportedMediaType)));
        assert!(is_permanent(&problem(W::PayloadTooLarge)));
        assert!(is_permanent(&problem(W::ClientIdReused)));
        assert!(!is_permanent(&problem(W::RateLimited)));
        assert!(!is_permanent(&problem(W::TokenExpired)));
        assert!(!is_permanent(&problem(W::RefreshReused)));
        assert!(!is_permanent(&problem(W::Unauthorized)));
        assert!(!is_permanent(&problem(W::ServiceUnavailable)));
        assert!(!is_permanent(&NetError::NoAnswer));
        assert!(!is_permanent(&NetError::NotSent));
    }
}
