//! Tables of engagement: feedback and staff replies, announcements, app version policies and
//! survey answers.

use rusqlite::{Connection, OptionalExtension, params};
use upay_protocol::api::auth::Platform;
use upay_protocol::api::engage::*;

use crate::error::ApiResult;

pub const SCHEMA: &str = "
CREATE TABLE feedback (
    user_id     TEXT NOT NULL,
    id          TEXT NOT NULL,            -- chosen by the app, unique per user
    category    TEXT NOT NULL,
    text        TEXT NOT NULL,
    attachments TEXT NOT NULL,            -- JSON array of attachment ids
    status      TEXT NOT NULL,
    body_hash   BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, id)
);
CREATE INDEX feedback_id ON feedback(id);
CREATE TABLE feedback_replies (
    user_id     TEXT NOT NULL,
    feedback_id TEXT NOT NULL,
    status      TEXT NOT NULL,
    text        TEXT,
    at          INTEGER NOT NULL
);
CREATE INDEX feedback_replies_of ON feedback_replies(user_id, feedback_id);
CREATE TABLE announcements (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    severity   TEXT NOT NULL,
    title_zh   TEXT NOT NULL,
    title_en   TEXT NOT NULL,
    body_zh    TEXT NOT NULL,
    body_en    TEXT NOT NULL,
    components TEXT NOT NULL,             -- JSON array
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER,
    created_at INTEGER NOT NULL
);
CREATE TABLE app_versions (
    platform          TEXT PRIMARY KEY,
    latest            TEXT NOT NULL,
    minimum_supported TEXT NOT NULL,
    notes_zh          TEXT NOT NULL,
    notes_en          TEXT NOT NULL,
    store_url         TEXT NOT NULL
);
CREATE TABLE survey_responses (
    survey_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    cycle      INTEGER NOT NULL,
    answers    TEXT NOT NULL,             -- JSON array of SurveyAnswer
    created_at INTEGER NOT NULL,
    PRIMARY KEY (survey_id, user_id, cycle)
);
";

/// snake_case text of a serde enum (the wire form is the stored form).
pub fn enum_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub fn enum_from<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn json_list(text: &str) -> rusqlite::Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

// ---- Feedback ----

pub fn feedback(
    conn: &Connection,
    user_id: &str,
    id: &str,
) -> ApiResult<Option<(Feedback, Vec<u8>)>> {
    let row = conn
        .prepare_cached(
            "SELECT id, category, text, attachments, status, created_at, updated_at, body_hash
             FROM feedback WHERE user_id = ?1 AND id = ?2",
        )?
        .query_row(params![user_id, id], |r| {
            Ok((
                Feedback {
                    id: r.get(0)?,
                    category: enum_from(&r.get::<_, String>(1)?)?,
                    text: r.get(2)?,
                    attachment_ids: json_list(&r.get::<_, String>(3)?)?,
                    status: enum_from(&r.get::<_, String>(4)?)?,
                    replies: Vec::new(),
                    created_at: r.get(5)?,
                    updated_at: r.get(6)?,
                },
                r.get::<_, Vec<u8>>(7)?,
            ))
        })
        .optional()?;
    let Some((mut f, hash)) = row else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT status, text, at FROM feedback_replies
         WHERE user_id = ?1 AND feedback_id = ?2 ORDER BY rowid",
    )?;
    f.replies = stmt
        .query_map(params![user_id, id], |r| {
            Ok(FeedbackReply {
                status: enum_from(&r.get::<_, String>(0)?)?,
                text: r.get(1)?,
                at: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some((f, hash)))
}

pub fn feedback_ids(conn: &Connection, user_id: &str) -> ApiResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM feedback WHERE user_id = ?1 ORDER BY created_at DESC, rowid DESC",
    )?;
    let rows = stmt.query_map([user_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn insert_feedback(
    conn: &Connection,
    user_id: &str,
    f: &Feedback,
    hash: &[u8],
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO feedback (user_id, id, category, text, attachments, status, body_hash,
            created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        params![
            user_id,
            f.id,
            enum_text(&f.category),
            f.text,
            serde_json::to_string(&f.attachment_ids).unwrap_or_else(|_| "[]".into()),
            enum_text(&f.status),
            hash,
            f.created_at
        ],
    )?;
    Ok(())
}

pub fn set_feedback_status(
    conn: &Connection,
    user_id: &str,
    id: &str,
    status: FeedbackStatus,
    reply: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    conn.execute(
        "UPDATE feedback SET status = ?3, updated_at = ?4 WHERE user_id = ?1 AND id = ?2",
        params![user_id, id, enum_text(&status), now],
    )?;
    conn.execute(
        "INSERT INTO feedback_replies (user_id, feedback_id, status, text, at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![user_id, id, enum_text(&status), reply, now],
    )?;
    Ok(())
}

// ---- Announcements ----

pub struct AnnouncementRow {
    pub id: String,
    pub kind: AnnouncementKind,
    pub severity: Severity,
    pub title_zh: String,
    pub title_en: String,
    pub body_zh: String,
    pub body_en: String,
    pub components: Vec<String>,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
}

pub fn insert_announcement(conn: &Connection, a: &AnnouncementRow, now: i64) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO announcements (id, kind, severity, title_zh, title_en, body_zh, body_en,
            components, starts_at, ends_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            a.id,
            enum_text(&a.kind),
            enum_text(&a.severity),
            a.title_zh,
            a.title_en,
            a.body_zh,
            a.body_en,
            serde_json::to_string(&a.components).unwrap_or_else(|_| "[]".into()),
            a.starts_at,
            a.ends_at,
            now
        ],
    )?;
    Ok(())
}

pub fn delete_announcement(conn: &Connection, id: &str) -> ApiResult<bool> {
    Ok(conn.execute("DELETE FROM announcements WHERE id = ?1", [id])? == 1)
}

/// Announcements not yet over at `now`.
pub fn current_announcements(conn: &Connection, now: i64) -> ApiResult<Vec<AnnouncementRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, severity, title_zh, title_en, body_zh, body_en, components, starts_at,
            ends_at FROM announcements WHERE ends_at IS NULL OR ends_at > ?1
         ORDER BY starts_at, id",
    )?;
    let rows = stmt.query_map([now], |r| {
        Ok(AnnouncementRow {
            id: r.get(0)?,
            kind: enum_from(&r.get::<_, String>(1)?)?,
            severity: enum_from(&r.get::<_, String>(2)?)?,
            title_zh: r.get(3)?,
            title_en: r.get(4)?,
            body_zh: r.get(5)?,
            body_en: r.get(6)?,
            components: json_list(&r.get::<_, String>(7)?)?,
            starts_at: r.get(8)?,
            ends_at: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---- App versions ----

pub fn version_policy(conn: &Connection, platform: Platform) -> ApiResult<Option<VersionPolicy>> {
    Ok(conn
        .prepare_cached(
            "SELECT latest, minimum_supported, notes_zh, notes_en, store_url
             FROM app_versions WHERE platform = ?1",
        )?
        .query_row([enum_text(&platform)], |r| {
            Ok(VersionPolicy {
                latest: r.get(0)?,
                minimum_supported: r.get(1)?,
                release_notes_zh: r.get(2)?,
                release_notes_en: r.get(3)?,
                store_url: r.get(4)?,
            })
        })
        .optional()?)
}

pub fn set_version_policy(
    conn: &Connection,
    platform: Platform,
    p: &VersionPolicy,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO app_versions (platform, latest, minimum_supported, notes_zh, notes_en, store_url)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(platform) DO UPDATE SET latest = excluded.latest,
            minimum_supported = excluded.minimum_supported, notes_zh = excluded.notes_zh,
            notes_en = excluded.notes_en, store_url = excluded.store_url",
        params![
            enum_text(&platform),
            p.latest,
            p.minimum_supported,
            p.release_notes_zh,
            p.release_notes_en,
            p.store_url
        ],
    )?;
    Ok(())
}

// ---- Surveys ----

pub fn survey_answered(
    conn: &Connection,
    survey_id: &str,
    user_id: &str,
    cycle: u32,
) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM survey_responses WHERE survey_id = ?1 AND user_id = ?2 AND cycle = ?3",
        )?
        .query_row(params![survey_id, user_id, cycle], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn insert_survey_response(
    conn: &Connection,
    survey_id: &str,
    user_id: &str,
    cycle: u32,
    answers: &[SurveyAnswer],
    now: i64,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO survey_responses (survey_id, user_id, cycle, answers, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            survey_id,
            user_id,
            cycle,
            serde_json::to_string(answers).unwrap_or_else(|_| "[]".into()),
            now
        ],
    )?;
    Ok(())
}
