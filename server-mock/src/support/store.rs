//! Tables and queries of support: agents and their sessions, conversations, messages, stored
//! events, tickets, ratings and screenshots. Sequence numbers (`seq`, `event_seq`) are handed
//! out by `UPDATE … RETURNING` inside the caller's IMMEDIATE transaction, which serialises
//! writers: that is what makes them gap-free and strictly increasing.

use rusqlite::{Connection, OptionalExtension, params};
use upay_protocol::api::support::*;

use crate::error::{ApiError, ApiResult};

pub const SCHEMA: &str = "
CREATE TABLE support_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE support_agents (
    id            TEXT PRIMARY KEY,       -- A + 3 digits
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    online        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE support_agent_sessions (
    token_hash BLOB PRIMARY KEY,          -- SHA-256: tokens never rest in clear
    agent_id   TEXT NOT NULL REFERENCES support_agents(id),
    expires_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE support_conversations (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL,
    status              TEXT NOT NULL,    -- bot, queued, assigned, resolved
    locale              TEXT NOT NULL,    -- zh or en: the language of server-written messages
    agent_id            TEXT,
    handoff_reason      TEXT,
    queue_order         INTEGER,          -- set while queued: first come, first served
    queue_position      INTEGER,          -- last position announced to the user
    queue_agents_online INTEGER,          -- agents online when it was announced
    resolutions         INTEGER NOT NULL DEFAULT 0,
    last_seq            INTEGER NOT NULL DEFAULT 0,
    last_event_seq      INTEGER NOT NULL DEFAULT 0,
    user_delivered_seq  INTEGER NOT NULL DEFAULT 0,
    user_read_seq       INTEGER NOT NULL DEFAULT 0,
    agent_delivered_seq INTEGER NOT NULL DEFAULT 0,
    agent_read_seq      INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX support_conversations_user ON support_conversations(user_id, created_at);
CREATE INDEX support_conversations_queue ON support_conversations(queue_order) WHERE status = 'queued';
CREATE INDEX support_conversations_agent ON support_conversations(agent_id) WHERE status = 'assigned';
CREATE TABLE support_messages (
    conversation_id TEXT NOT NULL REFERENCES support_conversations(id),
    seq             INTEGER NOT NULL,
    client_msg_id   TEXT,
    sender          TEXT NOT NULL,        -- user, bot, agent, system
    sender_id       TEXT,                 -- user or agent id
    sender_name     TEXT,
    text            TEXT NOT NULL,
    attachments     TEXT NOT NULL,        -- JSON array of attachment ids
    in_reply_to     INTEGER,
    bot             TEXT,                 -- JSON BotAnswer
    csat            TEXT,                 -- JSON CsatInput
    actions         TEXT NOT NULL,        -- JSON array of ChatAction
    body_hash       BLOB,                 -- SHA-256 of the request body, to spot a reused id
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX support_messages_client_id
    ON support_messages(conversation_id, sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL;
CREATE INDEX support_messages_reply ON support_messages(conversation_id, in_reply_to);
CREATE TRIGGER support_messages_immutable BEFORE UPDATE ON support_messages
BEGIN SELECT RAISE(ABORT, 'messages are immutable'); END;
CREATE TABLE support_events (
    conversation_id TEXT NOT NULL REFERENCES support_conversations(id),
    event_seq       INTEGER NOT NULL,
    payload         TEXT NOT NULL,        -- JSON ChatEventKind
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, event_seq)
);
CREATE TABLE support_tickets (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES support_conversations(id),
    subject         TEXT NOT NULL,
    description     TEXT NOT NULL,
    status          TEXT NOT NULL,        -- open, in_progress, waiting_for_user, resolved
    team            TEXT NOT NULL,        -- support, technical
    created_by      TEXT NOT NULL,        -- user, bot, agent
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX support_tickets_user ON support_tickets(user_id, created_at);
CREATE INDEX support_tickets_conversation ON support_tickets(conversation_id);
CREATE TABLE support_ticket_history (
    ticket_id TEXT NOT NULL REFERENCES support_tickets(id),
    at        INTEGER NOT NULL,
    status    TEXT NOT NULL,
    by_role   TEXT NOT NULL,
    note      TEXT
);
CREATE INDEX support_ticket_history_ticket ON support_ticket_history(ticket_id);
CREATE TABLE support_csat (
    conversation_id TEXT NOT NULL REFERENCES support_conversations(id),
    resolution      INTEGER NOT NULL,
    score           INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment         TEXT,
    message_seq     INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, resolution)
);
CREATE TABLE support_attachments (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    content_type TEXT NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    data         BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX support_attachments_user ON support_attachments(user_id, created_at);
-- Which messages show which screenshot: lets an agent open exactly those.
CREATE TABLE support_message_attachments (
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    attachment_id   TEXT NOT NULL REFERENCES support_attachments(id)
);
CREATE INDEX support_message_attachments_att ON support_message_attachments(attachment_id);
";

pub fn role_text(r: SenderRole) -> &'static str {
    match r {
        SenderRole::User => "user",
        SenderRole::Bot => "bot",
        SenderRole::Agent => "agent",
        SenderRole::System => "system",
    }
}

fn role_from(text: &str) -> SenderRole {
    match text {
        "user" => SenderRole::User,
        "bot" => SenderRole::Bot,
        "agent" => SenderRole::Agent,
        _ => SenderRole::System,
    }
}

pub fn status_text(s: ConversationStatus) -> &'static str {
    match s {
        ConversationStatus::Bot => "bot",
        ConversationStatus::Queued => "queued",
        ConversationStatus::Assigned => "assigned",
        ConversationStatus::Resolved => "resolved",
    }
}

fn status_from(text: &str) -> ConversationStatus {
    match text {
        "queued" => ConversationStatus::Queued,
        "assigned" => ConversationStatus::Assigned,
        "resolved" => ConversationStatus::Resolved,
        _ => ConversationStatus::Bot,
    }
}

pub fn handoff_text(r: HandoffReason) -> &'static str {
    match r {
        HandoffReason::Requested => "requested",
        HandoffReason::LowConfidence => "low_confidence",
        HandoffReason::SensitiveTopic => "sensitive_topic",
    }
}

fn handoff_from(text: &str) -> Option<HandoffReason> {
    match text {
        "requested" => Some(HandoffReason::Requested),
        "low_confidence" => Some(HandoffReason::LowConfidence),
        "sensitive_topic" => Some(HandoffReason::SensitiveTopic),
        _ => None,
    }
}

pub fn ticket_status_text(s: TicketStatus) -> &'static str {
    match s {
        TicketStatus::Open => "open",
        TicketStatus::InProgress => "in_progress",
        TicketStatus::WaitingForUser => "waiting_for_user",
        TicketStatus::Resolved => "resolved",
    }
}

fn ticket_status_from(text: &str) -> TicketStatus {
    match text {
        "in_progress" => TicketStatus::InProgress,
        "waiting_for_user" => TicketStatus::WaitingForUser,
        "resolved" => TicketStatus::Resolved,
        _ => TicketStatus::Open,
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

// ---- Settings ----

pub fn setting(conn: &Connection, key: &str) -> ApiResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM support_settings WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

pub fn set_setting(conn: &Connection, key: &str, value: &str) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO support_settings (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

// ---- Agents ----

pub struct AgentRow {
    pub id: String,
    pub name: String,
    pub password_hash: String,
    pub online: bool,
}

impl AgentRow {
    pub fn public(&self) -> AgentPublic {
        AgentPublic {
            agent_id: self.id.clone(),
            name: self.name.clone(),
        }
    }

    pub fn profile(&self) -> AgentProfile {
        AgentProfile {
            agent_id: self.id.clone(),
            name: self.name.clone(),
            online: self.online,
        }
    }
}

pub fn agent(conn: &Connection, id: &str) -> ApiResult<Option<AgentRow>> {
    Ok(conn
        .prepare_cached("SELECT id, name, password_hash, online FROM support_agents WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(AgentRow {
                id: r.get(0)?,
                name: r.get(1)?,
                password_hash: r.get(2)?,
                online: r.get(3)?,
            })
        })
        .optional()?)
}

pub fn agents(conn: &Connection) -> ApiResult<Vec<AgentProfile>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, name, online FROM support_agents ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(AgentProfile {
            agent_id: r.get(0)?,
            name: r.get(1)?,
            online: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn agent_count(conn: &Connection) -> ApiResult<i64> {
    Ok(conn.query_row("SELECT COUNT(*) FROM support_agents", [], |r| r.get(0))?)
}

pub fn insert_agent(conn: &Connection, id: &str, name: &str, hash: &str) -> ApiResult<()> {
    conn.execute(
        "INSERT OR IGNORE INTO support_agents (id, name, password_hash) VALUES (?1, ?2, ?3)",
        params![id, name, hash],
    )?;
    Ok(())
}

pub fn set_agent_online(conn: &Connection, id: &str, online: bool) -> ApiResult<bool> {
    Ok(conn.execute(
        "UPDATE support_agents SET online = ?2 WHERE id = ?1",
        params![id, online],
    )? == 1)
}

pub fn agents_online(conn: &Connection) -> ApiResult<u32> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM support_agents WHERE online = 1")?
        .query_row([], |r| r.get(0))?)
}

pub fn insert_agent_session(
    conn: &Connection,
    hash: &[u8],
    agent_id: &str,
    expires_at: i64,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO support_agent_sessions (token_hash, agent_id, expires_at) VALUES (?1, ?2, ?3)",
        params![hash, agent_id, expires_at],
    )?;
    Ok(())
}

/// The agent of a live session token.
pub fn agent_by_token(conn: &Connection, hash: &[u8], now: i64) -> ApiResult<Option<AgentRow>> {
    let id: Option<String> = conn
        .prepare_cached(
            "SELECT agent_id FROM support_agent_sessions
             WHERE token_hash = ?1 AND revoked = 0 AND expires_at > ?2",
        )?
        .query_row(params![hash, now], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => agent(conn, &id),
        None => Ok(None),
    }
}

pub fn revoke_agent_session(conn: &Connection, hash: &[u8]) -> ApiResult<()> {
    conn.execute(
        "UPDATE support_agent_sessions SET revoked = 1 WHERE token_hash = ?1",
        [hash],
    )?;
    Ok(())
}

// ---- Conversations ----

#[derive(Debug, Clone)]
pub struct ConvRow {
    pub id: String,
    pub user_id: String,
    pub status: ConversationStatus,
    pub zh: bool,
    pub agent_id: Option<String>,
    pub handoff_reason: Option<HandoffReason>,
    pub queue_order: Option<i64>,
    pub queue_position: Option<u32>,
    pub queue_agents_online: Option<u32>,
    pub resolutions: u32,
    pub last_seq: u64,
    pub last_event_seq: u64,
    pub receipts: Receipts,
    pub created_at: i64,
    pub updated_at: i64,
}

const CONV_COLUMNS: &str = "id, user_id, status, locale, agent_id, handoff_reason, queue_order,
    queue_position, queue_agents_online, resolutions, last_seq, last_event_seq,
    user_delivered_seq, user_read_seq, agent_delivered_seq, agent_read_seq, created_at, updated_at";

fn conv_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConvRow> {
    Ok(ConvRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        status: status_from(&r.get::<_, String>(2)?),
        zh: r.get::<_, String>(3)? == "zh",
        agent_id: r.get(4)?,
        handoff_reason: r
            .get::<_, Option<String>>(5)?
            .as_deref()
            .and_then(handoff_from),
        queue_order: r.get(6)?,
        queue_position: r.get(7)?,
        queue_agents_online: r.get(8)?,
        resolutions: r.get(9)?,
        last_seq: r.get(10)?,
        last_event_seq: r.get(11)?,
        receipts: Receipts {
            user_delivered_seq: r.get(12)?,
            user_read_seq: r.get(13)?,
            agent_delivered_seq: r.get(14)?,
            agent_read_seq: r.get(15)?,
        },
        created_at: r.get(16)?,
        updated_at: r.get(17)?,
    })
}

pub fn conversation(conn: &Connection, id: &str) -> ApiResult<Option<ConvRow>> {
    let sql = format!("SELECT {CONV_COLUMNS} FROM support_conversations WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], conv_row)
        .optional()?)
}

/// A conversation of this user; anyone else's is "not found", never "forbidden".
pub fn user_conversation(conn: &Connection, user_id: &str, id: &str) -> ApiResult<ConvRow> {
    conversation(conn, id)?
        .filter(|c| c.user_id == user_id)
        .ok_or_else(ApiError::not_found)
}

pub fn open_conversation(conn: &Connection, user_id: &str) -> ApiResult<Option<ConvRow>> {
    let sql = format!(
        "SELECT {CONV_COLUMNS} FROM support_conversations
         WHERE user_id = ?1 AND status <> 'resolved' ORDER BY created_at DESC LIMIT 1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([user_id], conv_row)
        .optional()?)
}

pub fn user_conversations(conn: &Connection, user_id: &str) -> ApiResult<Vec<ConvRow>> {
    let sql = format!(
        "SELECT {CONV_COLUMNS} FROM support_conversations WHERE user_id = ?1
         ORDER BY created_at DESC, rowid DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([user_id], conv_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn all_conversations(conn: &Connection) -> ApiResult<Vec<ConvRow>> {
    let sql = format!(
        "SELECT {CONV_COLUMNS} FROM support_conversations ORDER BY updated_at DESC LIMIT 200"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], conv_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Queued conversations, first come first.
pub fn queued(conn: &Connection) -> ApiResult<Vec<ConvRow>> {
    let sql = format!(
        "SELECT {CONV_COLUMNS} FROM support_conversations WHERE status = 'queued'
         ORDER BY queue_order"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], conv_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn assigned_to(conn: &Connection, agent_id: &str) -> ApiResult<Vec<ConvRow>> {
    let sql = format!(
        "SELECT {CONV_COLUMNS} FROM support_conversations
         WHERE status = 'assigned' AND agent_id = ?1 ORDER BY updated_at DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([agent_id], conv_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn insert_conversation(
    conn: &Connection,
    id: &str,
    user_id: &str,
    zh: bool,
    now: i64,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO support_conversations (id, user_id, status, locale, created_at, updated_at)
         VALUES (?1, ?2, 'bot', ?3, ?4, ?4)",
        params![id, user_id, if zh { "zh" } else { "en" }, now],
    )?;
    Ok(())
}

/// Writes the mutable state of a conversation; not its sequence counters nor the announced
/// queue place, which have their own statements.
pub fn save_conversation(conn: &Connection, c: &ConvRow) -> ApiResult<()> {
    conn.execute(
        "UPDATE support_conversations SET status = ?2, locale = ?3, agent_id = ?4,
            handoff_reason = ?5, queue_order = ?6, resolutions = ?7, user_delivered_seq = ?8,
            user_read_seq = ?9, agent_delivered_seq = ?10, agent_read_seq = ?11, updated_at = ?12
         WHERE id = ?1",
        params![
            c.id,
            status_text(c.status),
            if c.zh { "zh" } else { "en" },
            c.agent_id,
            c.handoff_reason.map(handoff_text),
            c.queue_order,
            c.resolutions,
            c.receipts.user_delivered_seq,
            c.receipts.user_read_seq,
            c.receipts.agent_delivered_seq,
            c.receipts.agent_read_seq,
            c.updated_at,
        ],
    )?;
    Ok(())
}

pub fn next_queue_order(conn: &Connection) -> ApiResult<i64> {
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(queue_order), 0) + 1 FROM support_conversations",
        [],
        |r| r.get(0),
    )?)
}

/// Hands out the next message `seq` of a conversation.
pub fn next_seq(conn: &Connection, conversation_id: &str) -> ApiResult<u64> {
    Ok(conn
        .prepare_cached(
            "UPDATE support_conversations SET last_seq = last_seq + 1 WHERE id = ?1
             RETURNING last_seq",
        )?
        .query_row([conversation_id], |r| r.get(0))?)
}

/// Hands out the next `event_seq` of a conversation.
pub fn next_event_seq(conn: &Connection, conversation_id: &str) -> ApiResult<u64> {
    Ok(conn
        .prepare_cached(
            "UPDATE support_conversations SET last_event_seq = last_event_seq + 1 WHERE id = ?1
             RETURNING last_event_seq",
        )?
        .query_row([conversation_id], |r| r.get(0))?)
}

// ---- Messages ----

pub struct NewMessage<'a> {
    pub client_msg_id: Option<&'a str>,
    pub sender: SenderRole,
    pub sender_id: Option<&'a str>,
    pub sender_name: Option<&'a str>,
    pub text: &'a str,
    pub attachment_ids: &'a [String],
    pub in_reply_to: Option<u64>,
    pub bot: Option<&'a BotAnswer>,
    pub csat: Option<&'a CsatInput>,
    pub actions: &'a [ChatAction],
    pub body_hash: Option<&'a [u8]>,
}

pub fn insert_message(
    conn: &Connection,
    conversation_id: &str,
    seq: u64,
    m: &NewMessage<'_>,
    now: i64,
) -> ApiResult<ChatMessage> {
    conn.prepare_cached(
        "INSERT INTO support_messages (conversation_id, seq, client_msg_id, sender, sender_id,
            sender_name, text, attachments, in_reply_to, bot, csat, actions, body_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        conversation_id,
        seq,
        m.client_msg_id,
        role_text(m.sender),
        m.sender_id,
        m.sender_name,
        m.text,
        json(&m.attachment_ids),
        m.in_reply_to,
        m.bot.map(json),
        m.csat.map(json),
        json(&m.actions),
        m.body_hash,
        now
    ])?;
    for a in m.attachment_ids {
        conn.prepare_cached(
            "INSERT INTO support_message_attachments (conversation_id, seq, attachment_id)
             VALUES (?1, ?2, ?3)",
        )?
        .execute(params![conversation_id, seq, a])?;
    }
    Ok(ChatMessage {
        conversation_id: conversation_id.to_owned(),
        seq,
        client_msg_id: m.client_msg_id.map(str::to_owned),
        sender: m.sender,
        sender_name: m.sender_name.map(str::to_owned),
        text: m.text.to_owned(),
        attachment_ids: m.attachment_ids.to_vec(),
        in_reply_to: m.in_reply_to,
        bot: m.bot.cloned(),
        csat: m.csat.cloned(),
        actions: m.actions.to_vec(),
        created_at: now,
    })
}

const MESSAGE_COLUMNS: &str = "conversation_id, seq, client_msg_id, sender, sender_name, text,
    attachments, in_reply_to, bot, csat, actions, created_at";

fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChatMessage> {
    Ok(ChatMessage {
        conversation_id: r.get(0)?,
        seq: r.get(1)?,
        client_msg_id: r.get(2)?,
        sender: role_from(&r.get::<_, String>(3)?),
        sender_name: r.get(4)?,
        text: r.get(5)?,
        attachment_ids: from_json(&r.get::<_, String>(6)?)?,
        in_reply_to: r.get(7)?,
        bot: r
            .get::<_, Option<String>>(8)?
            .map(|t| from_json(&t))
            .transpose()?,
        csat: r
            .get::<_, Option<String>>(9)?
            .map(|t| from_json(&t))
            .transpose()?,
        actions: from_json(&r.get::<_, String>(10)?)?,
        created_at: r.get(11)?,
    })
}

/// A message written earlier with this client id by this sender, and its body hash.
pub fn message_by_client_id(
    conn: &Connection,
    conversation_id: &str,
    sender_id: &str,
    client_msg_id: &str,
) -> ApiResult<Option<(ChatMessage, Vec<u8>)>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, body_hash FROM support_messages
         WHERE conversation_id = ?1 AND sender_id = ?2 AND client_msg_id = ?3"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![conversation_id, sender_id, client_msg_id], |r| {
            Ok((message_row(r)?, r.get::<_, Vec<u8>>(12)?))
        })
        .optional()?)
}

/// What the server wrote in answer to message `seq`.
pub fn replies_to(
    conn: &Connection,
    conversation_id: &str,
    seq: u64,
) -> ApiResult<Vec<ChatMessage>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM support_messages
         WHERE conversation_id = ?1 AND in_reply_to = ?2 ORDER BY seq"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![conversation_id, seq], message_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Up to `limit` messages in `seq` order: after `after` (catch-up), before `before` (paging
/// back), or the newest. Returns whether more exist in that direction.
pub fn messages(
    conn: &Connection,
    conversation_id: &str,
    after: Option<u64>,
    before: Option<u64>,
    limit: usize,
) -> ApiResult<(Vec<ChatMessage>, bool)> {
    let fetch = limit as i64 + 1;
    let (sql, reverse) = match (after, before) {
        (Some(_), _) => (
            format!(
                "SELECT {MESSAGE_COLUMNS} FROM support_messages
                 WHERE conversation_id = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq LIMIT ?4"
            ),
            false,
        ),
        _ => (
            format!(
                "SELECT {MESSAGE_COLUMNS} FROM support_messages
                 WHERE conversation_id = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq DESC LIMIT ?4"
            ),
            true,
        ),
    };
    let lo = after.unwrap_or(0) as i64;
    let hi = before.map_or(i64::MAX, |b| b as i64);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows: Vec<ChatMessage> = stmt
        .query_map(params![conversation_id, lo, hi, fetch], message_row)?
        .collect::<Result<_, _>>()?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    if reverse {
        rows.reverse();
    }
    Ok((rows, more))
}

/// Whether this sender wrote in the conversation.
pub fn has_written(conn: &Connection, conversation_id: &str, sender_id: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM support_messages WHERE conversation_id = ?1 AND sender_id = ?2 LIMIT 1",
        )?
        .query_row(params![conversation_id, sender_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The newest message the user wrote (for queue previews).
pub fn last_user_text(conn: &Connection, conversation_id: &str) -> ApiResult<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT text FROM support_messages WHERE conversation_id = ?1 AND sender = 'user'
             AND text <> '' ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([conversation_id], |r| r.get(0))
        .optional()?)
}

pub fn first_user_text(conn: &Connection, conversation_id: &str) -> ApiResult<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT text FROM support_messages WHERE conversation_id = ?1 AND sender = 'user'
             AND text <> '' AND csat IS NULL ORDER BY seq LIMIT 1",
        )?
        .query_row([conversation_id], |r| r.get(0))
        .optional()?)
}

// ---- Events ----

pub fn insert_event(
    conn: &Connection,
    conversation_id: &str,
    event_seq: u64,
    kind: &ChatEventKind,
    now: i64,
) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO support_events (conversation_id, event_seq, payload, created_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![conversation_id, event_seq, json(kind), now])?;
    Ok(())
}

/// Stored events after `after`, in order, at most `limit`.
pub fn events_after(
    conn: &Connection,
    conversation_id: &str,
    after: u64,
    limit: usize,
) -> ApiResult<Vec<ChatEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT event_seq, payload, created_at FROM support_events
         WHERE conversation_id = ?1 AND event_seq > ?2 ORDER BY event_seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![conversation_id, after, limit as i64], |r| {
        Ok(ChatEvent {
            conversation_id: conversation_id.to_owned(),
            event_seq: Some(r.get(0)?),
            event: from_json(&r.get::<_, String>(1)?)?,
            at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---- Tickets ----

pub struct TicketRow {
    pub id: String,
    pub user_id: String,
    pub conversation_id: String,
    pub subject: String,
    pub status: TicketStatus,
    pub team: TicketTeam,
    pub created_by: SenderRole,
    pub created_at: i64,
    pub updated_at: i64,
}

const TICKET_COLUMNS: &str =
    "id, user_id, conversation_id, subject, status, team, created_by, created_at, updated_at";

fn ticket_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TicketRow> {
    Ok(TicketRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        conversation_id: r.get(2)?,
        subject: r.get(3)?,
        status: ticket_status_from(&r.get::<_, String>(4)?),
        team: if r.get::<_, String>(5)? == "technical" {
            TicketTeam::Technical
        } else {
            TicketTeam::Support
        },
        created_by: role_from(&r.get::<_, String>(6)?),
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

pub fn ticket_row_by_id(conn: &Connection, id: &str) -> ApiResult<Option<TicketRow>> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM support_tickets WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], ticket_row)
        .optional()?)
}

/// The unresolved ticket of a conversation, if any.
pub fn open_ticket_of(conn: &Connection, conversation_id: &str) -> ApiResult<Option<TicketRow>> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM support_tickets
         WHERE conversation_id = ?1 AND status <> 'resolved' ORDER BY created_at DESC LIMIT 1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([conversation_id], ticket_row)
        .optional()?)
}

pub fn insert_ticket(conn: &Connection, t: &TicketRow, description: &str) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO support_tickets (id, user_id, conversation_id, subject, description, status,
            team, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        params![
            t.id,
            t.user_id,
            t.conversation_id,
            t.subject,
            description,
            ticket_status_text(t.status),
            team_text(t.team),
            role_text(t.created_by),
            t.created_at
        ],
    )?;
    Ok(())
}

pub fn team_text(t: TicketTeam) -> &'static str {
    match t {
        TicketTeam::Support => "support",
        TicketTeam::Technical => "technical",
    }
}

pub fn update_ticket(
    conn: &Connection,
    id: &str,
    status: TicketStatus,
    team: TicketTeam,
    now: i64,
) -> ApiResult<()> {
    conn.execute(
        "UPDATE support_tickets SET status = ?2, team = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, ticket_status_text(status), team_text(team), now],
    )?;
    Ok(())
}

pub fn add_ticket_history(
    conn: &Connection,
    ticket_id: &str,
    status: TicketStatus,
    by: SenderRole,
    note: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO support_ticket_history (ticket_id, at, status, by_role, note)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            ticket_id,
            now,
            ticket_status_text(status),
            role_text(by),
            note
        ],
    )?;
    Ok(())
}

pub fn ticket_view(conn: &Connection, t: &TicketRow) -> ApiResult<Ticket> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, by_role, note, at FROM support_ticket_history
         WHERE ticket_id = ?1 ORDER BY rowid",
    )?;
    let history = stmt
        .query_map([&t.id], |r| {
            Ok(TicketUpdate {
                status: ticket_status_from(&r.get::<_, String>(0)?),
                by: role_from(&r.get::<_, String>(1)?),
                note: r.get(2)?,
                at: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Ticket {
        id: t.id.clone(),
        conversation_id: t.conversation_id.clone(),
        subject: t.subject.clone(),
        status: t.status,
        team: t.team,
        created_by: t.created_by,
        created_at: t.created_at,
        updated_at: t.updated_at,
        history,
    })
}

fn tickets_where(conn: &Connection, column: &str, value: &str) -> ApiResult<Vec<Ticket>> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM support_tickets WHERE {column} = ?1
         ORDER BY created_at DESC, rowid DESC"
    );
    let rows: Vec<TicketRow> = conn
        .prepare_cached(&sql)?
        .query_map([value], ticket_row)?
        .collect::<Result<_, _>>()?;
    rows.iter().map(|t| ticket_view(conn, t)).collect()
}

pub fn user_tickets(conn: &Connection, user_id: &str) -> ApiResult<Vec<Ticket>> {
    tickets_where(conn, "user_id", user_id)
}

pub fn conversation_tickets(conn: &Connection, conversation_id: &str) -> ApiResult<Vec<Ticket>> {
    tickets_where(conn, "conversation_id", conversation_id)
}

// ---- CSAT ----

pub fn csat_given(conn: &Connection, conversation_id: &str, resolution: u32) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM support_csat WHERE conversation_id = ?1 AND resolution = ?2",
        )?
        .query_row(params![conversation_id, resolution], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn insert_csat(
    conn: &Connection,
    conversation_id: &str,
    c: &CsatInput,
    message_seq: u64,
    now: i64,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO support_csat (conversation_id, resolution, score, comment, message_seq, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![conversation_id, c.resolution, c.score, c.comment, message_seq, now],
    )?;
    Ok(())
}

// ---- Attachments ----

pub struct AttachmentRow {
    pub meta: Attachment,
    pub user_id: String,
}

pub fn insert_attachment(
    conn: &Connection,
    user_id: &str,
    a: &Attachment,
    data: &[u8],
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO support_attachments (id, user_id, content_type, width, height, size, sha256,
            data, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            a.id,
            user_id,
            a.content_type,
            a.width,
            a.height,
            a.size_bytes as i64,
            a.sha256,
            data,
            a.created_at
        ],
    )?;
    Ok(())
}

pub fn attachment_meta(conn: &Connection, id: &str) -> ApiResult<Option<AttachmentRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, content_type, width, height, size, sha256, created_at, user_id
             FROM support_attachments WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(AttachmentRow {
                meta: Attachment {
                    id: r.get(0)?,
                    content_type: r.get(1)?,
                    width: r.get(2)?,
                    height: r.get(3)?,
                    size_bytes: r.get::<_, i64>(4)? as u64,
                    sha256: r.get(5)?,
                    created_at: r.get(6)?,
                },
                user_id: r.get(7)?,
            })
        })
        .optional()?)
}

pub fn attachment_data(conn: &Connection, id: &str) -> ApiResult<Vec<u8>> {
    Ok(conn.query_row(
        "SELECT data FROM support_attachments WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?)
}

/// Whether a screenshot appears in a conversation assigned to this agent.
pub fn agent_may_see_attachment(conn: &Connection, agent_id: &str, id: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM support_message_attachments m
             JOIN support_conversations c ON c.id = m.conversation_id
             WHERE m.attachment_id = ?1 AND (c.agent_id = ?2 OR c.status = 'queued') LIMIT 1",
        )?
        .query_row(params![id, agent_id], |_| Ok(()))
        .optional()?
        .is_some())
}
