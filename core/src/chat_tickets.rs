//! Support tickets as the chat shows them: the conversation's ticket and its status in the
//! header, the user's tickets offline, opening one (the `create_ticket` action) and answering
//! one that waits for the user. Protocol: `docs/support-protocol.md` §8.
//!
//! Tickets are cached sealed in `chat_tickets` (the subject and history notes may quote the
//! user) from `GET /v1/support/tickets` when the chat opens and from every `ticket_status`
//! event; a stored copy is only replaced by one at least as new.

use reqwest::Method;
use rusqlite::{OptionalExtension, Transaction, params};
use upay_protocol::api::support::{CreateTicket, Ticket, TicketComment, TicketStatus, TicketTeam};

use crate::chat::{Ctx, authed, ctx, require_current};
use crate::core::{Core, net};
use crate::crypto::Place;
use crate::error::{CoreError, CoreResult, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChatTicketStatus {
    Open,
    InProgress,
    WaitingForUser,
    Resolved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChatTicketTeam {
    Support,
    Technical,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChatTicketView {
    pub id: String,
    pub conversation_id: String,
    pub subject: String,
    pub status: ChatTicketStatus,
    pub team: ChatTicketTeam,
    pub updated_at: i64,
}

pub(crate) fn ticket_status_view(s: TicketStatus) -> ChatTicketStatus {
    match s {
        TicketStatus::Open => ChatTicketStatus::Open,
        TicketStatus::InProgress => ChatTicketStatus::InProgress,
        TicketStatus::WaitingForUser => ChatTicketStatus::WaitingForUser,
        TicketStatus::Resolved => ChatTicketStatus::Resolved,
    }
}

pub(crate) fn ticket_view(t: &Ticket) -> ChatTicketView {
    ChatTicketView {
        id: t.id.clone(),
        conversation_id: t.conversation_id.clone(),
        subject: t.subject.clone(),
        status: ticket_status_view(t.status),
        team: match t.team {
            TicketTeam::Support => ChatTicketTeam::Support,
            TicketTeam::Technical => ChatTicketTeam::Technical,
        },
        updated_at: t.updated_at,
    }
}

fn ticket_place<'a>(id: &'a str, user: &'a str) -> Place<'a> {
    Place::new("chat_tickets", "body", id, user)
}

/// The conversation's ticket as the header shows it: the unresolved one, else the newest.
pub(crate) fn ticket_of(
    core: &Core,
    c: &Ctx,
    conn: &rusqlite::Connection,
    conv_id: &str,
) -> Option<Ticket> {
    let row: Option<(String, Vec<u8>)> = conn
        .query_row(
            "SELECT ticket_id, body FROM chat_tickets WHERE conversation_id = ?1
             ORDER BY status = 'resolved', updated_at DESC LIMIT 1",
            [conv_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .ok()
        .flatten();
    let (id, body) = row?;
    core.cipher
        .open_json(&ticket_place(&id, &c.user_id), &body)
        .ok()
}

fn ticket_status_text(s: TicketStatus) -> &'static str {
    match s {
        TicketStatus::Open => "open",
        TicketStatus::InProgress => "in_progress",
        TicketStatus::WaitingForUser => "waiting_for_user",
        TicketStatus::Resolved => "resolved",
    }
}

/// Stores a ticket (sealed: the subject may quote the user), unless a newer copy is stored.
pub(crate) fn save_ticket(
    core: &Core,
    tx: &Transaction<'_>,
    c: &Ctx,
    t: &Ticket,
) -> CoreResult<()> {
    let body = core.cipher.seal_json(&ticket_place(&t.id, &c.user_id), t)?;
    tx.execute(
        "INSERT INTO chat_tickets (ticket_id, conversation_id, owner_tag, status, updated_at, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(ticket_id) DO UPDATE SET status = excluded.status,
             updated_at = excluded.updated_at, body = excluded.body
         WHERE excluded.updated_at >= chat_tickets.updated_at",
        params![
            t.id,
            t.conversation_id,
            c.tag,
            ticket_status_text(t.status),
            t.updated_at,
            body
        ],
    )?;
    Ok(())
}

/// The user's tickets from the cache, newest first (offline; refreshed by `open` and by
/// ticket events).
pub fn tickets(core: &Core) -> CoreResult<Vec<ChatTicketView>> {
    let c = ctx(core)?;
    let rows: Vec<(String, Vec<u8>)> = core.store.read(|conn| {
        let mut st = conn.prepare(
            "SELECT ticket_id, body FROM chat_tickets WHERE owner_tag = ?1
             ORDER BY updated_at DESC",
        )?;
        let rows = st
            .query_map([c.tag], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, body)| {
            core.cipher
                .open_json::<Ticket>(&ticket_place(&id, &c.user_id), &body)
                .ok()
        })
        .map(|t| ticket_view(&t))
        .collect())
}

/// Hands the current conversation over as a ticket (the `create_ticket` action); asking again
/// returns the conversation's unresolved ticket. Online only.
pub async fn create_ticket(
    core: &Core,
    subject: &str,
    description: &str,
) -> CoreResult<ChatTicketView> {
    let c = ctx(core)?;
    let n = subject.trim().chars().count();
    if n == 0 || n > 200 {
        return Err(CoreError::invalid("subject").localized(core.zh()));
    }
    if description.chars().count() > upay_protocol::api::support::MAX_MESSAGE_CHARS {
        return Err(CoreError::invalid("description").localized(core.zh()));
    }
    let (conv, _) = require_current(core, &c)?;
    let body = serde_json::to_vec(&CreateTicket {
        conversation_id: conv.id.clone(),
        subject: subject.trim().to_owned(),
        description: description.to_owned(),
    })
    .map_err(|_| CoreError::client(ErrorCode::Storage))?;
    let t: Ticket = authed(core, Method::POST, "/v1/support/tickets", Some(body))
        .await
        .map_err(net(core))?;
    core.store.write(|tx| save_ticket(core, tx, &c, &t))?;
    Ok(ticket_view(&t))
}

/// Answers a ticket that waits for the user (it goes back to the team). Online only.
pub async fn comment_ticket(
    core: &Core,
    ticket_id: &str,
    text: &str,
) -> CoreResult<ChatTicketView> {
    let c = ctx(core)?;
    let n = text.trim().chars().count();
    if n == 0 || n > upay_protocol::api::support::MAX_MESSAGE_CHARS {
        return Err(CoreError::invalid("text").localized(core.zh()));
    }
    if !ticket_id.bytes().all(|b| b.is_ascii_alphanumeric()) || ticket_id.is_empty() {
        return Err(CoreError::invalid("ticket_id").localized(core.zh()));
    }
    let body = serde_json::to_vec(&TicketComment {
        text: text.to_owned(),
    })
    .map_err(|_| CoreError::client(ErrorCode::Storage))?;
    let path = format!("/v1/support/tickets/{ticket_id}/comments");
    let t: Ticket = authed(core, Method::POST, &path, Some(body))
        .await
        .map_err(net(core))?;
    core.store.write(|tx| save_ticket(core, tx, &c, &t))?;
    Ok(ticket_view(&t))
}
