//! Payment-code tables, the sealing of secrets and the per-sandbox limits.
//!
//! A secret must be readable by the server (it recomputes the HMAC of every scanned code), so
//! it cannot be hashed like a password; it is sealed with AES-256-GCM under a key that exists
//! only in this process's memory (the stand-in for an HSM), with associated data binding it to
//! its row (user, device, slot). The database therefore never holds a usable secret. The price
//! is that a restart of a `--db` mock cannot open secrets sealed before it: those codes answer
//! `paycode_revoked` and the app provisions again, as it would after a key rotation in
//! production.

use std::sync::OnceLock;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{Connection, OptionalExtension, params};
use upay_protocol::money::{Currency, Money};
use upay_protocol::paycode::SECRET_LEN;

use crate::error::{ApiError, ApiResult};

pub const SCHEMA: &str = "
-- The sandbox's payment-code limits (control API); the built-in ones when there is no row.
CREATE TABLE paycode_settings (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    per_code_limit INTEGER NOT NULL,     -- minor units of CNY
    daily_limit    INTEGER NOT NULL,
    skew_steps     INTEGER NOT NULL
);
-- One row per provisioning. At most one active secret per device; a newer one rotates it.
CREATE TABLE paycodes (
    id            INTEGER PRIMARY KEY,
    user_id       TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    session_id    TEXT NOT NULL,         -- the sign-in that provisioned it: its end ends the codes
    slot          INTEGER NOT NULL UNIQUE, -- never reused, so a stale code cannot hit a newer secret
    sealed_secret BLOB NOT NULL,         -- AES-256-GCM: version, nonce, ciphertext and tag
    key_id        TEXT NOT NULL,         -- which in-memory sealing key sealed it
    request_key   TEXT NOT NULL,         -- the provisioning's Idempotency-Key
    status        TEXT NOT NULL,         -- active, rotated, revoked
    created_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    UNIQUE (user_id, request_key)
);
CREATE UNIQUE INDEX paycodes_one_active ON paycodes(user_id, device_id) WHERE status = 'active';
-- Every accepted code: (slot, counter) is unique, so a code pays once.
CREATE TABLE paycode_redemptions (
    id             TEXT PRIMARY KEY,
    paycode_id     INTEGER NOT NULL REFERENCES paycodes(id),
    slot           INTEGER NOT NULL,
    counter        INTEGER NOT NULL,
    user_id        TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    merchant_id    TEXT NOT NULL,
    terminal_id    TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    day            INTEGER NOT NULL,     -- China-time day number, for the daily limit
    created_at     INTEGER NOT NULL,
    UNIQUE (slot, counter)
);
CREATE INDEX paycode_redemptions_user_day ON paycode_redemptions(user_id, day);
";

/// Payment codes pay in this currency only (their limits are in it).
pub const CURRENCY: Currency = Currency::CNY;
/// CNY 1,000.00 per code.
pub const DEFAULT_PER_CODE_LIMIT: i64 = 100_000;
/// CNY 2,000.00 per China-time day, all devices of the account together.
pub const DEFAULT_DAILY_LIMIT: i64 = 200_000;
/// The previous, current and next code are accepted.
pub const DEFAULT_SKEW_STEPS: u32 = 1;
/// The widest window the control API allows.
pub const MAX_SKEW_STEPS: u32 = 10;

const ENVELOPE_VERSION: u8 = 1;

/// The limits in force in a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_code: i64,
    pub daily: i64,
    pub skew_steps: u32,
}

impl Limits {
    pub fn per_code_money(&self) -> Money {
        Money {
            minor: self.per_code,
            currency: CURRENCY,
        }
    }

    pub fn daily_money(&self) -> Money {
        Money {
            minor: self.daily,
            currency: CURRENCY,
        }
    }
}

pub fn limits(conn: &Connection) -> ApiResult<Limits> {
    Ok(conn
        .prepare_cached(
            "SELECT per_code_limit, daily_limit, skew_steps FROM paycode_settings WHERE id = 1",
        )?
        .query_row([], |r| {
            Ok(Limits {
                per_code: r.get(0)?,
                daily: r.get(1)?,
                skew_steps: r.get(2)?,
            })
        })
        .optional()?
        .unwrap_or(Limits {
            per_code: DEFAULT_PER_CODE_LIMIT,
            daily: DEFAULT_DAILY_LIMIT,
            skew_steps: DEFAULT_SKEW_STEPS,
        }))
}

pub fn set_limits(conn: &Connection, l: &Limits) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO paycode_settings (id, per_code_limit, daily_limit, skew_steps) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET per_code_limit = excluded.per_code_limit,
             daily_limit = excluded.daily_limit, skew_steps = excluded.skew_steps",
    )?
    .execute(params![l.per_code, l.daily, l.skew_steps])?;
    Ok(())
}

/// A provisioned secret in memory: `Debug` never shows it and it is wiped when dropped.
pub struct Secret(pub [u8; SECRET_LEN]);

impl Secret {
    pub fn random() -> Secret {
        let mut bytes = [0u8; SECRET_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("system randomness");
        Secret(bytes)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.fill(0);
        // Keeps the wipe of memory that is about to be freed from being optimised away.
        std::hint::black_box(&self.0);
    }
}

struct SealKey {
    id: String,
    key: LessSafeKey,
}

/// The process's sealing key: random at start, never written anywhere.
fn seal_key() -> &'static SealKey {
    static KEY: OnceLock<SealKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let rng = SystemRandom::new();
        let mut raw = [0u8; 32];
        rng.fill(&mut raw).expect("system randomness");
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &raw).expect("AES-256 key"));
        raw.fill(0);
        let mut id = [0u8; 4];
        rng.fill(&mut id).expect("system randomness");
        SealKey {
            id: id.iter().map(|b| format!("{b:02x}")).collect(),
            key,
        }
    })
}

/// Binds a sealed secret to its row, so a sealed value copied to another row does not open.
fn aad(user_id: &str, device_id: &str, slot: u32) -> Vec<u8> {
    format!("upay:paycode-secret:v1\0{user_id}\0{device_id}\0{slot}").into_bytes()
}

/// Seals a secret for a row: (envelope, key id).
pub fn seal(secret: &Secret, user_id: &str, device_id: &str, slot: u32) -> (Vec<u8>, String) {
    let k = seal_key();
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .expect("system randomness");
    let mut buf = secret.0.to_vec();
    k.key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(user_id, device_id, slot)),
            &mut buf,
        )
        .expect("AES-GCM seals a 32-byte value");
    let mut envelope = Vec::with_capacity(1 + NONCE_LEN + buf.len());
    envelope.push(ENVELOPE_VERSION);
    envelope.extend_from_slice(&nonce);
    envelope.extend_from_slice(&buf);
    buf.fill(0);
    (envelope, k.id.clone())
}

/// Opens a row's secret; `None` when it was sealed by a key this process does not have (a
/// restart) or the envelope does not belong to the row.
pub fn open(row: &PaycodeRow) -> Option<Secret> {
    let k = seal_key();
    if row.key_id != k.id {
        return None;
    }
    let (version, rest) = row.sealed_secret.split_first()?;
    if *version != ENVELOPE_VERSION || rest.len() < NONCE_LEN {
        return None;
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buf = sealed.to_vec();
    let opened = k
        .key
        .open_in_place(
            nonce,
            Aad::from(aad(&row.user_id, &row.device_id, row.slot)),
            &mut buf,
        )
        .ok()
        .and_then(|plain| <[u8; SECRET_LEN]>::try_from(&*plain).ok())
        .map(Secret);
    buf.fill(0);
    opened
}

/// A `paycodes` row with what decides whether its codes are accepted now.
pub struct PaycodeRow {
    pub id: i64,
    pub user_id: String,
    pub device_id: String,
    pub slot: u32,
    pub sealed_secret: Vec<u8>,
    pub key_id: String,
    pub status: String,
    pub created_at: i64,
    /// The sign-in that provisioned it is neither revoked nor expired.
    pub session_live: bool,
    /// The device is still trusted (not signed out and forgotten).
    pub device_trusted: bool,
}

impl PaycodeRow {
    /// Codes of this row may pay (the secret must still open, too).
    pub fn usable(&self) -> bool {
        self.status == "active" && self.session_live && self.device_trusted
    }
}

const ROW_SELECT: &str = "SELECT p.id, p.user_id, p.device_id, p.slot, p.sealed_secret, p.key_id, p.status, p.created_at,
        EXISTS (SELECT 1 FROM sessions s WHERE s.id = p.session_id AND s.revoked_at IS NULL
                AND s.refresh_expires_at > ?1),
        EXISTS (SELECT 1 FROM devices d WHERE d.user_id = p.user_id AND d.device_id = p.device_id
                AND d.trusted = 1)
    FROM paycodes p";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PaycodeRow> {
    Ok(PaycodeRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        device_id: r.get(2)?,
        slot: r.get(3)?,
        sealed_secret: r.get(4)?,
        key_id: r.get(5)?,
        status: r.get(6)?,
        created_at: r.get(7)?,
        session_live: r.get(8)?,
        device_trusted: r.get(9)?,
    })
}

pub fn by_slot(conn: &Connection, slot: u32, now: i64) -> ApiResult<Option<PaycodeRow>> {
    let sql = format!("{ROW_SELECT} WHERE p.slot = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![now, slot], row)
        .optional()?)
}

/// The device's active row, if any.
pub fn active_for_device(
    conn: &Connection,
    user_id: &str,
    device_id: &str,
    now: i64,
) -> ApiResult<Option<PaycodeRow>> {
    let sql =
        format!("{ROW_SELECT} WHERE p.user_id = ?2 AND p.device_id = ?3 AND p.status = 'active'");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![now, user_id, device_id], row)
        .optional()?)
}

/// The row a provisioning request with this key created, if any.
pub fn by_request_key(
    conn: &Connection,
    user_id: &str,
    key: &str,
    now: i64,
) -> ApiResult<Option<PaycodeRow>> {
    let sql = format!("{ROW_SELECT} WHERE p.user_id = ?2 AND p.request_key = ?3");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![now, user_id, key], row)
        .optional()?)
}

/// Ends the device's active secret (`rotated` by a new provisioning, `revoked` by the user);
/// returns whether there was one.
pub fn end_active(
    conn: &Connection,
    user_id: &str,
    device_id: &str,
    status: &str,
    now: i64,
) -> ApiResult<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE paycodes SET status = ?3, ended_at = ?4
             WHERE user_id = ?1 AND device_id = ?2 AND status = 'active'",
        )?
        .execute(params![user_id, device_id, status, now])?;
    Ok(n > 0)
}

/// A random six-digit slot no row has ever used.
pub fn free_slot(conn: &Connection) -> ApiResult<u32> {
    let rng = SystemRandom::new();
    for _ in 0..64 {
        let mut b = [0u8; 4];
        rng.fill(&mut b).expect("system randomness");
        // 100000–999999: six digits without a leading zero, so the slot reads the same
        // however a terminal trims it.
        let slot = 100_000 + u32::from_be_bytes(b) % 900_000;
        let taken = conn
            .prepare_cached("SELECT 1 FROM paycodes WHERE slot = ?1")?
            .exists([slot])?;
        if !taken {
            return Ok(slot);
        }
    }
    Err(ApiError::internal("no free payment-code slot"))
}

pub struct NewPaycode<'a> {
    pub user_id: &'a str,
    pub device_id: &'a str,
    pub session_id: &'a str,
    pub slot: u32,
    pub sealed_secret: &'a [u8],
    pub key_id: &'a str,
    pub request_key: &'a str,
    pub now: i64,
}

pub fn insert(conn: &Connection, p: &NewPaycode<'_>) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO paycodes (user_id, device_id, session_id, slot, sealed_secret, key_id, request_key, status, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'active', ?8)",
    )?
    .execute(params![
        p.user_id,
        p.device_id,
        p.session_id,
        p.slot,
        p.sealed_secret,
        p.key_id,
        p.request_key,
        p.now
    ])?;
    Ok(())
}

/// Whether this code (slot and time step) has paid already.
pub fn used(conn: &Connection, slot: u32, counter: u64) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM paycode_redemptions WHERE slot = ?1 AND counter = ?2")?
        .exists(params![slot, counter as i64])?)
}

/// Paid by payment code on China-time day `day`, all devices of the user.
pub fn spent_on(conn: &Connection, user_id: &str, day: i64) -> ApiResult<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE(SUM(amount), 0) FROM paycode_redemptions WHERE user_id = ?1 AND day = ?2",
        )?
        .query_row(params![user_id, day], |r| r.get(0))?)
}

pub struct NewRedemption<'a> {
    pub id: &'a str,
    pub paycode_id: i64,
    pub slot: u32,
    pub counter: u64,
    pub user_id: &'a str,
    pub transaction_id: &'a str,
    pub merchant_id: &'a str,
    pub terminal_id: &'a str,
    pub amount: Money,
    pub day: i64,
    pub now: i64,
}

pub fn insert_redemption(conn: &Connection, r: &NewRedemption<'_>) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO paycode_redemptions (id, paycode_id, slot, counter, user_id, transaction_id,
             merchant_id, terminal_id, amount, currency, day, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        r.id,
        r.paycode_id,
        r.slot,
        r.counter as i64,
        r.user_id,
        r.transaction_id,
        r.merchant_id,
        r.terminal_id,
        r.amount.minor,
        r.amount.currency.code(),
        r.day,
        r.now
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed_row(secret: &Secret) -> PaycodeRow {
        let (envelope, key_id) = seal(secret, "U0000000001", "device-1", 123_456);
        PaycodeRow {
            id: 1,
            user_id: "U0000000001".into(),
            device_id: "device-1".into(),
            slot: 123_456,
            sealed_secret: envelope,
            key_id,
            status: "active".into(),
            created_at: 0,
            session_live: true,
            device_trusted: true,
        }
    }

    #[test]
    fn sealed_secrets_open_only_in_their_row() {
        let secret = Secret([42u8; SECRET_LEN]);
        let mut row = sealed_row(&secret);
        assert!(!row.sealed_secret.windows(SECRET_LEN).any(|w| w == secret.0));
        assert_eq!(open(&row).map(|s| s.0), Some(secret.0));
        row.slot = 123_457;
        assert!(open(&row).is_none(), "moved to another slot");
        let mut row = sealed_row(&secret);
        row.key_id = "00000000".into();
        assert!(open(&row).is_none(), "sealed by another process");
        let mut row = sealed_row(&secret);
        let last = row.sealed_secret.len() - 1;
        row.sealed_secret[last] ^= 1;
        assert!(open(&row).is_none(), "tampered");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    }
}
