//! Official announcements (官方公告): maintenance and incident notices per locale with start,
//! end and severity, and the system status derived from the ones in force.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use upay_protocol::api::engage::*;
use upay_protocol::error::Problem;

use super::store::{self, AnnouncementRow};
use crate::error::{ApiError, ApiResult, Validator};
use crate::extract::{ApiJson, Sb};
use crate::help::kb::Locale;
use crate::state::Sandbox;

/// Upcoming notices are shown this far ahead.
const LOOKAHEAD_MS: i64 = 7 * 24 * 3600 * 1000;

/// The parts of the service a notice can affect, with display names.
pub const COMPONENTS: &[(&str, &str, &str)] = &[
    ("payments", "支付", "Payments"),
    ("transfers", "转账", "Transfers"),
    ("topup_withdrawal", "充值与提现", "Top-up and withdrawal"),
    ("login", "登录与账户", "Sign-in and accounts"),
    ("support_chat", "在线客服", "Support chat"),
];

fn render(a: &AnnouncementRow, zh: bool, now: i64) -> Announcement {
    Announcement {
        id: a.id.clone(),
        kind: a.kind,
        severity: a.severity,
        title: if zh { &a.title_zh } else { &a.title_en }.clone(),
        body: if zh { &a.body_zh } else { &a.body_en }.clone(),
        components: a.components.clone(),
        starts_at: a.starts_at,
        ends_at: a.ends_at,
        active: a.starts_at <= now,
    }
}

fn visible(sb: &Sandbox, zh: bool) -> ApiResult<Vec<Announcement>> {
    super::ensure_seeded(sb)?;
    let now = sb.clock.now_ms();
    let mut list: Vec<Announcement> = sb
        .read(|c| store::current_announcements(c, now))?
        .iter()
        .filter(|a| a.starts_at <= now + LOOKAHEAD_MS)
        .map(|a| render(a, zh, now))
        .collect();
    list.sort_by(|a, b| {
        b.active
            .cmp(&a.active)
            .then(b.severity.cmp(&a.severity))
            .then(a.starts_at.cmp(&b.starts_at))
    });
    Ok(list)
}

/// `GET /v1/announcements`: notices in force or starting within 7 days, in the caller's
/// language, most important first. Public: the app shows them before sign-in too.
#[utoipa::path(get, path = "/v1/announcements", tag = "engage",
    responses((status = 200, body = AnnouncementList)))]
pub async fn announcements(Sb(sb): Sb) -> ApiResult<Json<AnnouncementList>> {
    Ok(Json(AnnouncementList {
        announcements: visible(&sb, Locale::current().zh())?,
    }))
}

fn effect(a: &Announcement) -> ServiceState {
    match (a.kind, a.severity) {
        (AnnouncementKind::Maintenance, _) => ServiceState::Maintenance,
        (AnnouncementKind::Incident, Severity::Critical) => ServiceState::Outage,
        (AnnouncementKind::Incident, _) => ServiceState::Degraded,
        (AnnouncementKind::Notice, _) => ServiceState::Operational,
    }
}

/// `GET /v1/status`: the state of each part of the service and the notices behind it.
#[utoipa::path(get, path = "/v1/status", tag = "engage", responses((status = 200, body = SystemStatus)))]
pub async fn status(Sb(sb): Sb) -> ApiResult<Json<SystemStatus>> {
    let zh = Locale::current().zh();
    let active: Vec<Announcement> = visible(&sb, zh)?
        .into_iter()
        .filter(|a| a.active && a.kind != AnnouncementKind::Notice)
        .collect();
    let components: Vec<ComponentStatus> = COMPONENTS
        .iter()
        .map(|(id, name_zh, name_en)| ComponentStatus {
            id: (*id).to_owned(),
            name: if zh { name_zh } else { name_en }.to_string(),
            // A notice naming no component affects all of them.
            state: active
                .iter()
                .filter(|a| a.components.is_empty() || a.components.iter().any(|c| c == id))
                .map(effect)
                .max()
                .unwrap_or(ServiceState::Operational),
        })
        .collect();
    Ok(Json(SystemStatus {
        state: components
            .iter()
            .map(|c| c.state)
            .max()
            .unwrap_or(ServiceState::Operational),
        components,
        announcements: active,
        server_time: sb.clock.now_ms(),
    }))
}

pub fn validate(v: &mut Validator, a: &NewAnnouncement) {
    v.text(&a.title_zh, "title_zh", 1, 100);
    v.text(&a.title_en, "title_en", 1, 200);
    v.check(
        (1..=2000).contains(&a.body_zh.chars().count()),
        "body_zh",
        "out_of_range",
        "1-2000 characters",
    );
    v.check(
        (1..=4000).contains(&a.body_en.chars().count()),
        "body_en",
        "out_of_range",
        "1-4000 characters",
    );
    for (i, c) in a.components.iter().enumerate() {
        v.check(
            COMPONENTS.iter().any(|(id, _, _)| id == c),
            &format!("components[{i}]"),
            "unknown_value",
            "payments, transfers, topup_withdrawal, login or support_chat",
        );
    }
    if let (Some(s), Some(e)) = (a.starts_at, a.ends_at) {
        v.check(e > s, "ends_at", "out_of_range", "must be after starts_at");
    }
}

/// `POST /__mock/announcements`: publishes a notice (answered in the caller's language).
#[utoipa::path(post, path = "/__mock/announcements", tag = "control", request_body = NewAnnouncement,
    responses((status = 201, body = Announcement), (status = 422, body = Problem)))]
pub async fn mock_publish(
    Sb(sb): Sb,
    ApiJson(req): ApiJson<NewAnnouncement>,
) -> ApiResult<(StatusCode, Json<Announcement>)> {
    let mut v = Validator::new();
    validate(&mut v, &req);
    v.finish()?;
    super::ensure_seeded(&sb)?;
    let now = sb.clock.now_ms();
    let starts_at = req.starts_at.unwrap_or(now);
    if req.ends_at.is_some_and(|e| e <= starts_at) {
        return Err(ApiError::field(
            "ends_at",
            "out_of_range",
            "must be after the start",
        ));
    }
    let row = AnnouncementRow {
        id: format!("AN{}", crate::support::random_digits(8)),
        kind: req.kind,
        severity: req.severity,
        title_zh: req.title_zh,
        title_en: req.title_en,
        body_zh: req.body_zh,
        body_en: req.body_en,
        components: req.components,
        starts_at,
        ends_at: req.ends_at,
    };
    sb.write(|tx| store::insert_announcement(tx, &row, now))?;
    Ok((
        StatusCode::CREATED,
        Json(render(&row, Locale::current().zh(), now)),
    ))
}

/// `DELETE /__mock/announcements/{id}`: withdraws a notice.
#[utoipa::path(delete, path = "/__mock/announcements/{id}", tag = "control", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn mock_withdraw(Sb(sb): Sb, Path(id): Path<String>) -> ApiResult<StatusCode> {
    if sb.write(|tx| store::delete_announcement(tx, &id))? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}
