//! Tickets: created by the bot, an agent ("transfer to the technical team") or the user, linked
//! to a conversation, with states the user can follow. Every change is also a `ticket_status`
//! event and a system message in the linked conversation.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use upay_protocol::api::support::*;
use upay_protocol::error::{ErrorCode, Problem};

use super::engine::{Text, Writer};
use super::hub::hub;
use super::store::{self, ConvRow, TicketRow};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult, Validator};
use crate::extract::ApiJson;

fn new_ticket_id() -> String {
    format!("T{}", super::random_digits(9))
}

fn status_text(s: TicketStatus) -> Text {
    match s {
        TicketStatus::Open => Text::new("待处理", "open"),
        TicketStatus::InProgress => Text::new("处理中", "in progress"),
        TicketStatus::WaitingForUser => Text::new("等待您回复", "waiting for your reply"),
        TicketStatus::Resolved => Text::new("已解决", "resolved"),
    }
}

fn announce(w: &mut Writer<'_>, c: &mut ConvRow, t: &TicketRow, text: Text) -> ApiResult<Ticket> {
    let view = store::ticket_view(w.tx, t)?;
    w.event(
        c,
        ChatEventKind::TicketStatus {
            ticket: view.clone(),
        },
    )?;
    w.system(c, &text, &[], None)?;
    Ok(view)
}

/// The conversation's unresolved ticket, or a new one. An agent's transfer moves it to the
/// technical team, in progress.
pub fn open_for(
    w: &mut Writer<'_>,
    c: &mut ConvRow,
    by: SenderRole,
    request: Option<(&str, &str)>,
) -> ApiResult<Ticket> {
    let technical = by == SenderRole::Agent;
    if let Some(mut t) = store::open_ticket_of(w.tx, &c.id)? {
        if technical && t.team != TicketTeam::Technical {
            t.team = TicketTeam::Technical;
            t.status = TicketStatus::InProgress;
            t.updated_at = w.now;
            store::update_ticket(w.tx, &t.id, t.status, t.team, w.now)?;
            store::add_ticket_history(w.tx, &t.id, t.status, by, request.map(|r| r.1), w.now)?;
            let text = transferred_text(&t.id);
            return announce(w, c, &t, text);
        }
        return store::ticket_view(w.tx, &t);
    }
    let first = store::first_user_text(w.tx, &c.id)?.unwrap_or_default();
    let subject = match request {
        Some((s, _)) => s.to_owned(),
        None if first.is_empty() => if c.zh {
            "在线客服工单"
        } else {
            "Support ticket"
        }
        .to_owned(),
        None => first.chars().take(60).collect(),
    };
    let t = TicketRow {
        id: new_ticket_id(),
        user_id: c.user_id.clone(),
        conversation_id: c.id.clone(),
        subject,
        status: if technical {
            TicketStatus::InProgress
        } else {
            TicketStatus::Open
        },
        team: if technical {
            TicketTeam::Technical
        } else {
            TicketTeam::Support
        },
        created_by: by,
        created_at: w.now,
        updated_at: w.now,
    };
    let description = request.map(|r| r.1).unwrap_or("");
    store::insert_ticket(w.tx, &t, description)?;
    store::add_ticket_history(w.tx, &t.id, t.status, by, None, w.now)?;
    let text = if technical {
        transferred_text(&t.id)
    } else {
        Text::new(
            format!("已创建工单 {}，我们会尽快处理，进展会在这里通知您。", t.id),
            format!(
                "Ticket {} is open. We'll work on it and update you here.",
                t.id
            ),
        )
    };
    announce(w, c, &t, text)
}

fn transferred_text(id: &str) -> Text {
    Text::new(
        format!("您的问题已转交技术团队处理（工单 {id}），处理进展会在这里通知您。"),
        format!("Your issue is now with our technical team (ticket {id}). We'll update you here."),
    )
}

/// Moves a ticket to a new state (agent console, technical team through the control API, or the
/// user's answer).
pub fn change_status(
    w: &mut Writer<'_>,
    t: &mut TicketRow,
    status: TicketStatus,
    by: SenderRole,
    note: Option<&str>,
) -> ApiResult<Ticket> {
    if t.status == TicketStatus::Resolved {
        return Err(ErrorCode::TicketClosed.into());
    }
    t.status = status;
    t.updated_at = w.now;
    store::update_ticket(w.tx, &t.id, status, t.team, w.now)?;
    store::add_ticket_history(w.tx, &t.id, status, by, note, w.now)?;
    let mut c = store::conversation(w.tx, &t.conversation_id)?.ok_or_else(ApiError::not_found)?;
    let label = status_text(status);
    let mut text = Text::new(
        format!("工单 {} 状态更新：{}。", t.id, label.zh),
        format!("Ticket {} is now {}.", t.id, label.en),
    );
    // The user's own words are already in the ticket; staff notes are worth showing.
    if by != SenderRole::User {
        if let Some(n) = note {
            text.zh.push_str(&format!("\n{n}"));
            text.en.push_str(&format!("\n{n}"));
        }
    }
    announce(w, &mut c, t, text)
}

pub fn validate_note(v: &mut Validator, field: &str, note: &Option<String>) {
    if let Some(n) = note {
        v.text(n, field, 1, 2000);
    }
}

/// `POST /v1/support/tickets`: opens a ticket for one of the user's conversations; if it
/// already has an unresolved one, that one is returned (200) instead of a second.
#[utoipa::path(post, path = "/v1/support/tickets", tag = "support", security(("bearer" = [])),
    request_body = CreateTicket,
    responses((status = 201, body = Ticket), (status = 200, body = Ticket, description = "the conversation's open ticket"),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_ticket(
    user: AuthUser,
    ApiJson(req): ApiJson<CreateTicket>,
) -> ApiResult<(StatusCode, Json<Ticket>)> {
    let mut v = Validator::new();
    v.text(&req.subject, "subject", 1, 200);
    if !req.description.is_empty() {
        v.check(
            req.description.chars().count() <= 4000,
            "description",
            "too_long",
            "is too long",
        );
    }
    v.finish()?;
    let sb = user.sandbox.clone();
    let now = sb.clock.now_ms();
    let (created, ticket, out) = sb.write(|tx| {
        let mut c = store::user_conversation(tx, &user.user_id, &req.conversation_id)?;
        let existing = store::open_ticket_of(tx, &c.id)?.is_some();
        let mut w = Writer::new(tx, now);
        let t = open_for(
            &mut w,
            &mut c,
            SenderRole::User,
            Some((&req.subject, &req.description)),
        )?;
        Ok((!existing, t, w.out))
    })?;
    hub(&sb).publish(out);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ticket)))
}

/// `GET /v1/support/tickets`: the user's tickets, newest first.
#[utoipa::path(get, path = "/v1/support/tickets", tag = "support", security(("bearer" = [])),
    responses((status = 200, body = TicketList), (status = 401, body = Problem)))]
pub async fn list_tickets(user: AuthUser) -> ApiResult<Json<TicketList>> {
    let tickets = user
        .sandbox
        .read(|c| store::user_tickets(c, &user.user_id))?;
    Ok(Json(TicketList { tickets }))
}

fn user_ticket(conn: &rusqlite::Connection, user_id: &str, id: &str) -> ApiResult<TicketRow> {
    store::ticket_row_by_id(conn, id)?
        .filter(|t| t.user_id == user_id)
        .ok_or_else(ApiError::not_found)
}

/// `GET /v1/support/tickets/{id}`
#[utoipa::path(get, path = "/v1/support/tickets/{id}", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Ticket), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_ticket(user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Ticket>> {
    user.sandbox
        .read(|c| store::ticket_view(c, &user_ticket(c, &user.user_id, &id)?))
        .map(Json)
}

/// `POST /v1/support/tickets/{id}/comments`: the user adds information; a ticket waiting for
/// the user goes back to in progress.
#[utoipa::path(post, path = "/v1/support/tickets/{id}/comments", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = TicketComment,
    responses((status = 200, body = Ticket), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "ticket_closed"), (status = 422, body = Problem)))]
pub async fn comment_ticket(
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TicketComment>,
) -> ApiResult<Json<Ticket>> {
    Validator::new().text(&req.text, "text", 1, 2000).finish()?;
    let sb = user.sandbox.clone();
    let now = sb.clock.now_ms();
    let (ticket, out) = sb.write(|tx| {
        let mut t = user_ticket(tx, &user.user_id, &id)?;
        let status = match t.status {
            TicketStatus::WaitingForUser => TicketStatus::InProgress,
            s => s,
        };
        let mut w = Writer::new(tx, now);
        let ticket = change_status(&mut w, &mut t, status, SenderRole::User, Some(&req.text))?;
        Ok((ticket, w.out))
    })?;
    hub(&sb).publish(out);
    Ok(Json(ticket))
}
