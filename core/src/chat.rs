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
//! Chat text and the conversation are sealed envelopes (bound to table, row and user).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Method;
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use upay_protocol::api::support::{
    ChatEvent, ChatEventKind, ChatMessage, Conversation, ConversationStatus, CsatInput, EventBatch,
    MessagePage, ReceiptUpdate, SendMessage, SenderRole, SentMessage, TypingUpdate,
};

use crate::api::NetError;
use crate::core::Core;
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

pub(crate) fn net(core: &Core) -> impl Fn(NetError) -> CoreError + '_ {
    move |e| e.into_core(core.zh())
}

pub(crate) struct Ctx {
    user_id: String,
    tag: i64,
}

pub(crate) fn ctx(core: &Core) -> CoreResult<Ctx> {
    core.ensure_unlocked()?;
    let (user_id, tag) = core.user()?;
    Ok(Ctx { user_id, tag })
}

async fn authed<T: serde::de::DeserializeOwned>(
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

fn conversation_view(conv: &Conversation, last_event_seq: u64) -> ChatConversationView {
    ChatConversationView {
        id: conv.id.clone(),
        status: status_view(conv.status),
        queue_position: conv.queue_position,
        agent_name: conv.agent.as_ref().map(|a| a.name.clone()),
        csat_pending: conv.csat_pending,
        last_seq: conv.last_seq,
        last_event_seq,
    }
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
    let last = core.store.write(|tx| {
        save_state(core, tx, &c, &conv, None)?;
        for m in &page.messages {
            apply_message(core, tx, &c, m)?;
        }
        Ok(tx.query_row(
            "SELECT last_event_seq FROM chat_state WHERE conversation_id = ?1",
            [&conv.id],
            |r| r.get::<_, i64>(0),
        )? as u64)
    })?;
    Ok(conversation_view(&conv, last))
}

/// The current conversation from the cache (works offline).
pub fn conversation(core: &Core) -> CoreResult<Option<ChatConversationView>> {
    let c = ctx(core)?;
    Ok(current(core, &c)?.map(|(conv, last)| conversation_view(&conv, last)))
}

/// Queues a text message (durable at once, shown as a local echo) and tries to send the
/// queue. Offline it stays `Pending` and goes with the next [`flush`].
pub async fn send_text(core: &Core, text: &str) -> CoreResult<ChatMessageView> {
    let c = ctx(core)?;
    let n = text.chars().count();
    let bad_char = text
        .chars()
        .any(|ch| ch.is_control() && ch != '\n' && ch != '\t');
    if n == 0 || n > upay_protocol::api::support::MAX_MESSAGE_CHARS || bad_char {
        return Err(CoreError::invalid("text").localized(core.zh()));
    }
    let (conv, _) = require_current(core, &c)?;
    let local_id = new_client_msg_id()?;
    let row = format!("{}/{local_id}", conv.id);
    let sealed = Sealed {
        text: text.to_owned(),
        sender_name: None,
        in_reply_to: None,
        article_id: None,
        csat: None,
    };
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
        Ok(())
    })?;
    // Not being able to send now is what the queue is for: the echo is the answer.
    let _ = flush(core).await;
    message(core, &c, &conv.id, &local_id)?
        .ok_or_else(|| CoreError::client(ErrorCode::ItemNotFound))
}

struct Queued {
    conversation_id: String,
    local_id: String,
    text: String,
    csat: Option<CsatInput>,
}

/// Sends every queued message in creation order, one at a time; stops at the first network
/// failure (so order holds). Returns how many were stored by the server.
pub async fn flush(core: &Core) -> CoreResult<u32> {
    let c = ctx(core)?;
    let _guard = core.chat.send_lock.lock().await;
    let mut sent = 0;
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
        let sealed: Sealed = core.cipher.open_json(&msg_place(&row, &c.user_id), &body)?;
        let q = Queued {
            conversation_id,
            local_id,
            text: sealed.text,
            csat: sealed.csat,
        };
        set_state(core, &q, "sending", None)?;
        let path = format!(
            "/v1/support/conversations/{}/messages/{}",
            q.conversation_id, q.local_id
        );
        let req = SendMessage {
            text: q.text.clone(),
            attachment_ids: Vec::new(),
            csat: q.csat.clone(),
        };
        let body = serde_json::to_vec(&req).map_err(|_| CoreError::client(ErrorCode::Storage))?;
        match authed::<SentMessage>(core, Method::PUT, &path, Some(body)).await {
            Ok(answer) => {
                core.store.write(|tx| {
                    apply_message(core, tx, &c, &answer.message)?;
                    for m in &answer.replies {
                        apply_message(core, tx, &c, m)?;
                    }
                    // The rating was taken: the conversation no longer waits for one.
                    if let Some(rated) = &answer.message.csat {
                        clear_csat(core, tx, &c, &q.conversation_id, rated.resolution)?;
                    }
                    Ok(())
                })?;
                sent += 1;
            }
            Err(e) => {
                let permanent = match &e {
                    NetError::Problem { problem, .. } => {
                        (400..500).contains(&problem.status)
                            && !matches!(problem.status, 408 | 429)
                            && !matches!(
                                problem.code,
                                upay_protocol::error::ErrorCode::Unauthorized
                                    | upay_protocol::error::ErrorCode::TokenExpired
                            )
                    }
                    NetError::BadResponse => false,
                    _ => false,
                };
                if permanent {
                    let code = e.code().map(ErrorCode::from).unwrap_or(ErrorCode::Unknown);
                    set_state(core, &q, "failed_permanent", Some(code))?;
                    // A refused message does not block the ones behind it.
                    continue;
                }
                set_state(core, &q, "failed_retryable", None)?;
                return Err(e.into_core(core.zh()));
            }
        }
    }
    Ok(sent)
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

fn code_of(text: &str) -> ErrorCode {
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
    let rows: Vec<Row> = core.store.read(|conn| {
        let mut st = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM chat_messages WHERE conversation_id = ?1
             ORDER BY seq IS NULL DESC, seq DESC, rowid DESC LIMIT ?2"
        ))?;
        let rows = st
            .query_map(params![conv.id, limit.clamp(1, 1000)], read_row)?
            .collect::<Result<Vec<_>, _>>()?;
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
        let b = apply_batch(core, &c, &conv.id, &batch.events)?;
        total += b.applied;
        typing = b.agent_typing.or(typing);
        // A jump in the batch: ask again from what was applied, without waiting.
        if !b.gap || b.conversation.last_event_seq == last && b.applied == 0 && wait == 0 {
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
                    if let ChatEventKind::Message { message } = &e.event
                        && apply_message(core, tx, c, message)?
                    {
                        added.push(message.seq);
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
    let mut new_messages = Vec::with_capacity(added.len());
    for seq in added {
        let row = core.store.read(|conn| {
            Ok(conn
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM chat_messages
                         WHERE conversation_id = ?1 AND seq = ?2"
                    ),
                    params![conv_id, seq as i64],
                    read_row,
                )
                .optional()?)
        })?;
        if let Some(r) = row {
            new_messages.push(view(core, c, &conv, r)?);
        }
    }
    Ok(Applied {
        applied,
        agent_typing: typing,
        conversation: conversation_view(&conv, last),
        gap,
        new_messages,
    })
}

fn apply_event(conv: &mut Conversation, e: &ChatEvent) {
    match &e.event {
        // The message itself was stored by the caller.
        ChatEventKind::Message { message } => conv.last_seq = conv.last_seq.max(message.seq),
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
            "SELECT COALESCE((SELECT MAX(seq) FROM chat_messages WHERE conversation_id = ?1), 0),
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

fn clear_csat(
    core: &Core,
    tx: &Transaction<'_>,
    c: &Ctx,
    conv_id: &str,
    resolution: u32,
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
    if conv.csat_pending == Some(resolution) {
        conv.csat_pending = None;
        save_state(core, tx, c, &conv, None)?;
    }
    Ok(())
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
    let (conv, _) = require_current(core, &c)?;
    let local_id = new_client_msg_id()?;
    let row = format!("{}/{local_id}", conv.id);
    let sealed = Sealed {
        text: String::new(),
        sender_name: None,
        in_reply_to: None,
        article_id: None,
        csat: Some(CsatInput {
            resolution,
            score,
            comment,
        }),
    };
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
        Ok(())
    })?;
    let _ = flush(core).await;
    message(core, &c, &conv.id, &local_id)?
        .ok_or_else(|| CoreError::client(ErrorCode::ItemNotFound))
}

/// Loads the page of messages before the oldest one on the device (scrolling back; the whole
/// history after a reinstall). Returns whether older messages remain.
pub async fn load_older(core: &Core, limit: u32) -> CoreResult<bool> {
    let c = ctx(core)?;
    let (conv, _) = require_current(core, &c)?;
    let oldest: Option<i64> = core.store.read(|conn| {
        Ok(conn.query_row(
            "SELECT MIN(seq) FROM chat_messages WHERE conversation_id = ?1",
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
    let c = ctx(core)?;
    let (conv, _) = require_current(core, &c)?;
    let url = format!("/v1/support/conversations/{}/transcript/text", conv.id);
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
