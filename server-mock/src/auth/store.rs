//! Tables and queries of users, devices, sessions (refresh-token families), one-time codes and
//! the wrong-password guard.

use rusqlite::{Connection, OptionalExtension, params};
use upay_protocol::api::auth::{AccountStatus, DeviceInfo, DeviceView, Platform, UserProfile};
use upay_protocol::error::ErrorCode;

use crate::error::{ApiError, ApiResult};

pub const SCHEMA: &str = "
CREATE TABLE users (
    id            TEXT PRIMARY KEY,          -- U + 10 digits
    phone         TEXT NOT NULL UNIQUE,      -- E.164
    full_name     TEXT NOT NULL,
    id_last4      TEXT NOT NULL,
    password_hash TEXT NOT NULL,             -- pbkdf2-sha256$iterations$salt$hash
    frozen        INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
-- Wrong-password counting per phone number, known or not, so both answer alike.
CREATE TABLE login_guard (
    phone     TEXT PRIMARY KEY,
    failures  INTEGER NOT NULL,
    locked_at INTEGER
);
CREATE TABLE devices (
    user_id       TEXT NOT NULL REFERENCES users(id),
    device_id     TEXT NOT NULL,
    name          TEXT NOT NULL,
    platform      TEXT NOT NULL,
    trusted       INTEGER NOT NULL DEFAULT 0,
    signing_key   BLOB,                      -- SEC1 uncompressed P-256 public key
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id)
);
CREATE TABLE sessions (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL REFERENCES users(id),
    device_id          TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    revoked_at         INTEGER,
    access_hash        BLOB NOT NULL UNIQUE, -- SHA-256 of the token: tokens never rest in clear
    access_expires_at  INTEGER NOT NULL,
    refresh_hash       BLOB NOT NULL UNIQUE,
    refresh_expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id, device_id);
-- Rotated-out refresh tokens: presenting one again revokes its whole session.
CREATE TABLE used_refresh (
    hash       BLOB PRIMARY KEY,
    session_id TEXT NOT NULL
);
CREATE TABLE otps (
    id         INTEGER PRIMARY KEY,
    phone      TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    code_hash  BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    consumed   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX otps_phone ON otps(phone, purpose, id);
CREATE TABLE login_tickets (
    ticket_hash BLOB PRIMARY KEY,
    user_id     TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    platform    TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    used        INTEGER NOT NULL DEFAULT 0
);
";

pub struct UserRow {
    pub id: String,
    pub phone: String,
    pub full_name: String,
    pub id_last4: String,
    pub password_hash: String,
    pub frozen: bool,
    pub created_at: i64,
}

const USER_COLUMNS: &str = "id, phone, full_name, id_last4, password_hash, frozen, created_at";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        phone: r.get(1)?,
        full_name: r.get(2)?,
        id_last4: r.get(3)?,
        password_hash: r.get(4)?,
        frozen: r.get(5)?,
        created_at: r.get(6)?,
    })
}

pub fn user_by_phone(conn: &Connection, phone: &str) -> ApiResult<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE phone = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([phone], user_row)
        .optional()?)
}

pub fn user_by_id(conn: &Connection, id: &str) -> ApiResult<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], user_row)
        .optional()?)
}

pub fn insert_user(conn: &Connection, u: &UserRow) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO users (id, phone, full_name, id_last4, password_hash, frozen, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            u.id,
            u.phone,
            u.full_name,
            u.id_last4,
            u.password_hash,
            u.frozen,
            u.created_at
        ],
    )?;
    Ok(())
}

pub fn set_password(conn: &Connection, user_id: &str, hash: &str) -> ApiResult<()> {
    conn.execute(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
        params![user_id, hash],
    )?;
    Ok(())
}

pub fn set_frozen(conn: &Connection, user_id: &str, frozen: bool) -> ApiResult<()> {
    conn.execute(
        "UPDATE users SET frozen = ?2 WHERE id = ?1",
        params![user_id, frozen],
    )?;
    Ok(())
}

/// (failures, locked) for a phone number.
pub fn guard(conn: &Connection, phone: &str) -> ApiResult<(u32, bool)> {
    Ok(conn
        .prepare_cached("SELECT failures, locked_at IS NOT NULL FROM login_guard WHERE phone = ?1")?
        .query_row([phone], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, false)))
}

pub fn set_guard(
    conn: &Connection,
    phone: &str,
    failures: u32,
    locked_at: Option<i64>,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO login_guard (phone, failures, locked_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(phone) DO UPDATE SET failures = excluded.failures, locked_at = excluded.locked_at",
        params![phone, failures, locked_at],
    )?;
    Ok(())
}

pub fn clear_guard(conn: &Connection, phone: &str) -> ApiResult<()> {
    conn.execute("DELETE FROM login_guard WHERE phone = ?1", [phone])?;
    Ok(())
}

pub fn profile(conn: &Connection, user: &UserRow) -> ApiResult<UserProfile> {
    let (_, locked) = guard(conn, &user.phone)?;
    let status = if user.frozen {
        AccountStatus::Frozen
    } else if locked {
        AccountStatus::Locked
    } else {
        AccountStatus::Active
    };
    Ok(UserProfile {
        user_id: user.id.clone(),
        phone_masked: upay_protocol::api::auth::mask_phone(&user.phone),
        full_name: user.full_name.clone(),
        status,
        created_at: user.created_at,
    })
}

fn platform_text(p: Platform) -> &'static str {
    match p {
        Platform::Android => "android",
        Platform::Ios => "ios",
        Platform::Other => "other",
    }
}

fn platform_from(text: &str) -> Platform {
    match text {
        "android" => Platform::Android,
        "ios" => Platform::Ios,
        _ => Platform::Other,
    }
}

/// Records a sighting of a device; returns whether it was already trusted.
pub fn touch_device(conn: &Connection, user_id: &str, d: &DeviceInfo, now: i64) -> ApiResult<bool> {
    conn.execute(
        "INSERT INTO devices (user_id, device_id, name, platform, first_seen_at, last_seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT(user_id, device_id) DO UPDATE SET name = excluded.name, platform = excluded.platform,
             last_seen_at = excluded.last_seen_at",
        params![user_id, d.device_id, d.name, platform_text(d.platform), now],
    )?;
    Ok(conn.query_row(
        "SELECT trusted FROM devices WHERE user_id = ?1 AND device_id = ?2",
        params![user_id, d.device_id],
        |r| r.get(0),
    )?)
}

pub fn trust_device(conn: &Connection, user_id: &str, device_id: &str) -> ApiResult<()> {
    conn.execute(
        "UPDATE devices SET trusted = 1 WHERE user_id = ?1 AND device_id = ?2",
        params![user_id, device_id],
    )?;
    Ok(())
}

/// Forgets a device: it needs an SMS code again and loses its payment-confirmation key.
pub fn forget_device(conn: &Connection, user_id: &str, device_id: &str) -> ApiResult<()> {
    conn.execute(
        "UPDATE devices SET trusted = 0, signing_key = NULL WHERE user_id = ?1 AND device_id = ?2",
        params![user_id, device_id],
    )?;
    Ok(())
}

pub fn device_exists(conn: &Connection, user_id: &str, device_id: &str) -> ApiResult<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM devices WHERE user_id = ?1 AND device_id = ?2",
            params![user_id, device_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub fn list_devices(
    conn: &Connection,
    user_id: &str,
    current: &str,
    now: i64,
) -> ApiResult<Vec<DeviceView>> {
    let mut stmt = conn.prepare(
        "SELECT d.device_id, d.name, d.platform, d.signing_key IS NOT NULL, d.first_seen_at, d.last_seen_at,
                EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = d.user_id AND s.device_id = d.device_id
                        AND s.revoked_at IS NULL AND s.refresh_expires_at > ?2)
         FROM devices d WHERE d.user_id = ?1 ORDER BY d.last_seen_at DESC, d.device_id",
    )?;
    let rows = stmt.query_map(params![user_id, now], |r| {
        let device_id: String = r.get(0)?;
        Ok(DeviceView {
            current: device_id == current,
            device_id,
            name: r.get(1)?,
            platform: platform_from(&r.get::<_, String>(2)?),
            has_signing_key: r.get(3)?,
            first_seen_at: r.get(4)?,
            last_seen_at: r.get(5)?,
            signed_in: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub device_id: &'a str,
    pub access_hash: &'a [u8],
    pub access_expires_at: i64,
    pub refresh_hash: &'a [u8],
    pub refresh_expires_at: i64,
    pub now: i64,
}

pub fn insert_session(conn: &Connection, s: &NewSession<'_>) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO sessions (id, user_id, device_id, created_at, access_hash, access_expires_at, refresh_hash, refresh_expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![s.id, s.user_id, s.device_id, s.now, s.access_hash, s.access_expires_at, s.refresh_hash, s.refresh_expires_at],
    )?;
    Ok(())
}

/// The signed-in identity behind an access token.
#[derive(Debug, Clone)]
pub struct AccessRow {
    pub session_id: String,
    pub user_id: String,
    pub device_id: String,
    pub expires_at: i64,
    pub revoked: bool,
    pub frozen: bool,
}

pub fn session_by_access(conn: &Connection, hash: &[u8]) -> ApiResult<Option<AccessRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT s.id, s.user_id, s.device_id, s.access_expires_at, s.revoked_at IS NOT NULL, u.frozen
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.access_hash = ?1",
        )?
        .query_row([hash], |r| {
            Ok(AccessRow {
                session_id: r.get(0)?,
                user_id: r.get(1)?,
                device_id: r.get(2)?,
                expires_at: r.get(3)?,
                revoked: r.get(4)?,
                frozen: r.get(5)?,
            })
        })
        .optional()?)
}

/// Finds the live session a refresh token belongs to, or detects the reuse of a rotated one.
pub enum RefreshLookup {
    Live {
        session_id: String,
        user_id: String,
        expires_at: i64,
    },
    Reused {
        session_id: String,
    },
    Unknown,
}

pub fn session_by_refresh(conn: &Connection, hash: &[u8]) -> ApiResult<RefreshLookup> {
    let live = conn
        .query_row(
            "SELECT id, user_id, refresh_expires_at FROM sessions WHERE refresh_hash = ?1 AND revoked_at IS NULL",
            [hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if let Some((session_id, user_id, expires_at)) = live {
        return Ok(RefreshLookup::Live {
            session_id,
            user_id,
            expires_at,
        });
    }
    let used: Option<String> = conn
        .query_row(
            "SELECT session_id FROM used_refresh WHERE hash = ?1",
            [hash],
            |r| r.get(0),
        )
        .optional()?;
    Ok(match used {
        Some(session_id) => RefreshLookup::Reused { session_id },
        None => RefreshLookup::Unknown,
    })
}

pub fn rotate_session(
    conn: &Connection,
    session_id: &str,
    old_refresh: &[u8],
    access_hash: &[u8],
    access_expires_at: i64,
    refresh_hash: &[u8],
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO used_refresh (hash, session_id) VALUES (?1, ?2)",
        params![old_refresh, session_id],
    )?;
    conn.execute(
        "UPDATE sessions SET access_hash = ?2, access_expires_at = ?3, refresh_hash = ?4 WHERE id = ?1",
        params![session_id, access_hash, access_expires_at, refresh_hash],
    )?;
    Ok(())
}

pub fn revoke_session(conn: &Connection, session_id: &str, now: i64) -> ApiResult<()> {
    conn.execute(
        "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![session_id, now],
    )?;
    Ok(())
}

/// Revokes the user's sessions on `device_id`, or on every device but `except` when
/// `device_id` is `None`. Returns the revoked session ids.
pub fn revoke_sessions(
    conn: &Connection,
    user_id: &str,
    device_id: Option<&str>,
    except_session: Option<&str>,
    now: i64,
) -> ApiResult<Vec<String>> {
    let mut stmt = conn.prepare(
        "UPDATE sessions SET revoked_at = ?4
         WHERE user_id = ?1 AND revoked_at IS NULL AND (?2 IS NULL OR device_id = ?2) AND (?3 IS NULL OR id <> ?3)
         RETURNING id",
    )?;
    let ids = stmt.query_map(params![user_id, device_id, except_session, now], |r| {
        r.get(0)
    })?;
    Ok(ids.collect::<Result<_, _>>()?)
}

pub fn insert_otp(
    conn: &Connection,
    phone: &str,
    purpose: &str,
    code_hash: &[u8],
    now: i64,
    expires_at: i64,
) -> ApiResult<()> {
    // A new code voids every older one of the same purpose.
    conn.execute(
        "UPDATE otps SET consumed = 1 WHERE phone = ?1 AND purpose = ?2 AND consumed = 0",
        params![phone, purpose],
    )?;
    conn.execute(
        "INSERT INTO otps (phone, purpose, code_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![phone, purpose, code_hash, now, expires_at],
    )?;
    Ok(())
}

pub struct OtpRow {
    pub id: i64,
    pub code_hash: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub attempts: u32,
    pub consumed: bool,
}

pub fn latest_otp(conn: &Connection, phone: &str, purpose: &str) -> ApiResult<Option<OtpRow>> {
    Ok(conn
        .query_row(
            "SELECT id, code_hash, created_at, expires_at, attempts, consumed FROM otps
             WHERE phone = ?1 AND purpose = ?2 ORDER BY id DESC LIMIT 1",
            params![phone, purpose],
            |r| {
                Ok(OtpRow {
                    id: r.get(0)?,
                    code_hash: r.get(1)?,
                    created_at: r.get(2)?,
                    expires_at: r.get(3)?,
                    attempts: r.get(4)?,
                    consumed: r.get(5)?,
                })
            },
        )
        .optional()?)
}

pub fn update_otp(conn: &Connection, id: i64, attempts: u32, consumed: bool) -> ApiResult<()> {
    conn.execute(
        "UPDATE otps SET attempts = ?2, consumed = ?3 WHERE id = ?1",
        params![id, attempts, consumed],
    )?;
    Ok(())
}

pub struct TicketRow {
    pub user_id: String,
    pub device: DeviceInfo,
    pub expires_at: i64,
    pub used: bool,
}

pub fn insert_ticket(
    conn: &Connection,
    hash: &[u8],
    user_id: &str,
    d: &DeviceInfo,
    expires_at: i64,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO login_tickets (ticket_hash, user_id, device_id, name, platform, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![hash, user_id, d.device_id, d.name, platform_text(d.platform), expires_at],
    )?;
    Ok(())
}

pub fn ticket(conn: &Connection, hash: &[u8]) -> ApiResult<Option<TicketRow>> {
    Ok(conn
        .query_row(
            "SELECT user_id, device_id, name, platform, expires_at, used FROM login_tickets WHERE ticket_hash = ?1",
            [hash],
            |r| {
                Ok(TicketRow {
                    user_id: r.get(0)?,
                    device: DeviceInfo { device_id: r.get(1)?, name: r.get(2)?, platform: platform_from(&r.get::<_, String>(3)?) },
                    expires_at: r.get(4)?,
                    used: r.get(5)?,
                })
            },
        )
        .optional()?)
}

pub fn use_ticket(conn: &Connection, hash: &[u8]) -> ApiResult<()> {
    conn.execute(
        "UPDATE login_tickets SET used = 1 WHERE ticket_hash = ?1",
        [hash],
    )?;
    Ok(())
}

pub fn require_user(conn: &Connection, id: &str) -> ApiResult<UserRow> {
    user_by_id(conn, id)?.ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))
}
