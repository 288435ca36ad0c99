//! The in-store payment code (付款码) on the device. While online, [`enable`] asks the server
//! for this device's secret (`POST /v1/paycode/provision`); from then on [`current_code`]
//! derives the 18-digit code for the current minute with no network
//! (`upay_protocol::paycode`, HMAC-SHA256 with ring), for the app to draw as QR code and
//! barcode. A merchant terminal redeems it; the payment arrives like any other by sync.
//!
//! Key handling: the 32-byte secret is wrapped by the platform `KeyStore` (the same
//! hardware-held key that wraps the cache's data key) as soon as it arrives; the wrapped blob
//! and the limits are then sealed in the row's AES-GCM envelope. The clear secret lives only
//! for the few microseconds of one derivation, in a zeroized buffer, and is never logged.
//! Signing out forgets it (the server also stops accepting the codes of that sign-in);
//! [`disable`] revokes it on the server first.
//!
//! Clock: the code depends on the minute. The device remembers the difference between its
//! clock and the server's (learned at provisioning, refreshed by every [`status`] call) and
//! derives codes by the server's time, so a phone whose clock is off still shows codes the
//! terminal accepts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::Method;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use upay_protocol::api::paycode::{PaycodeProvisioned, PaycodeStatus};
use upay_protocol::error::ErrorCode as WireCode;
use upay_protocol::money::{Currency, Money};
use upay_protocol::paycode as code;
use zeroize::{Zeroize, Zeroizing};

use crate::api::{NetError, decode};
use crate::core::Core;
use crate::crypto::Place;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::model::{Amount, now_ms};

/// What the payment-code screen shows besides the code.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PaycodeInfo {
    /// This device holds a secret and can show codes.
    pub enabled: bool,
    /// The public six-digit number inside every code of this device.
    pub slot: Option<u32>,
    pub currency: String,
    /// The most one code may pay.
    pub per_code_limit: Option<Amount>,
    /// The most all payment codes of the account may pay per China-time day.
    pub daily_limit: Option<Amount>,
    /// What is left for today, as of `checked_at` (the server's figure; offline it is the last
    /// one seen).
    pub remaining_today: Option<Amount>,
    pub provisioned_at: Option<i64>,
    /// When the server was last asked.
    pub checked_at: Option<i64>,
}

/// One code for the current time step.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PaycodeView {
    /// 18 digits: draw as QR code and as Code 128 barcode.
    pub code: String,
    /// The same digits grouped for reading aloud (`2812 3456 7890 1234 56`).
    pub display: String,
    /// Server time the code became valid and stops being shown (ms).
    pub valid_from: i64,
    pub valid_until: i64,
    /// Seconds until the app should ask for the next code.
    pub refresh_in_secs: u32,
    pub per_code_limit: Amount,
}

/// The sealed body of the `paycode` row.
#[derive(Serialize, Deserialize)]
struct Stored {
    /// The secret wrapped by the platform key store (base64).
    wrapped_secret: String,
    slot: u32,
    currency: Currency,
    per_code_limit: Money,
    daily_limit: Money,
    step_secs: i64,
    provisioned_at: i64,
    /// Server clock minus device clock, in ms.
    clock_offset_ms: i64,
    #[serde(default)]
    remaining_today: Option<Money>,
    #[serde(default)]
    checked_at: Option<i64>,
}

fn place<'a>(owner: &'a str, user: &'a str) -> Place<'a> {
    Place::new("paycode", "body", owner, user)
}

fn load(core: &Core, user: &str, owner: i64) -> CoreResult<Option<Stored>> {
    core.store
        .read(|c| crate::store::owner_row(c, &core.cipher, "paycode", owner, user))
}

/// The largest server-minus-phone clock difference believed when provisioning (a day).
const MAX_CLOCK_OFFSET_MS: i64 = 24 * 3_600_000;

/// The server clock minus the phone's, from a provisioning answer stamped `provisioned_at`
/// (server time) for a request sent at `sent_at` and answered at `received_at` (phone time):
/// the answer is taken to have been made halfway. `None` for an answer this build must not
/// follow: codes stepping other than every `code::STEP_SECS`, or a clock more than a day away.
fn clock_offset(
    step_secs: i64,
    provisioned_at: i64,
    sent_at: i64,
    received_at: i64,
) -> Option<i64> {
    let midway = sent_at.saturating_add(received_at.saturating_sub(sent_at) / 2);
    let offset = provisioned_at.saturating_sub(midway);
    (step_secs == code::STEP_SECS && offset.unsigned_abs() <= MAX_CLOCK_OFFSET_MS as u64)
        .then_some(offset)
}

/// Keeps the sealed secret while `owner` is the one signed in; returns whether it did (the
/// session row is checked in the same transaction, so a sign-out cannot slip in between).
fn save(core: &Core, user: &str, owner: i64, stored: &Stored) -> CoreResult<bool> {
    let owner_text = owner.to_string();
    let sealed = core.cipher.seal_json(&place(&owner_text, user), stored)?;
    core.store.write(|tx| {
        let signed_in: Option<i64> = tx
            .query_row("SELECT user_tag FROM session WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        if signed_in != Some(owner) {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO paycode (owner_tag, provisioned_at, body) VALUES (?1, ?2, ?3)
             ON CONFLICT(owner_tag) DO UPDATE SET provisioned_at = excluded.provisioned_at,
                 body = excluded.body",
            params![owner, stored.provisioned_at, sealed],
        )?;
        Ok(true)
    })
}

fn forget(core: &Core, owner: i64) -> CoreResult<()> {
    core.store.write(|tx| {
        tx.execute("DELETE FROM paycode WHERE owner_tag = ?1", [owner])?;
        Ok(())
    })
}

fn info(stored: Option<&Stored>) -> PaycodeInfo {
    match stored {
        Some(s) => PaycodeInfo {
            enabled: true,
            slot: Some(s.slot),
            currency: s.currency.code().to_owned(),
            per_code_limit: Some(s.per_code_limit.into()),
            daily_limit: Some(s.daily_limit.into()),
            remaining_today: s.remaining_today.map(Amount::from),
            provisioned_at: Some(s.provisioned_at),
            checked_at: s.checked_at,
        },
        None => PaycodeInfo {
            enabled: false,
            slot: None,
            currency: "CNY".to_owned(),
            per_code_limit: None,
            daily_limit: None,
            remaining_today: None,
            provisioned_at: None,
            checked_at: None,
        },
    }
}

/// Turns the payment code on for this device (online): provisions a secret, wraps it with the
/// platform key store and keeps it. Calling it again rotates the secret (the old codes stop
/// working at once).
pub async fn enable(core: &Core) -> CoreResult<PaycodeInfo> {
    core.ensure_unlocked()?;
    let (user, owner) = core.user()?;
    let zh = core.zh();
    let key = crate::payments::random_id("idem_");
    let sent_at = now_ms();
    let answer = core
        .send_authed(
            Method::POST,
            "/v1/paycode/provision",
            None,
            Some(&key),
            core.interactive(),
        )
        .await
        .map_err(|e| e.into_core(zh))?;
    let received_at = now_ms();
    let mut answer = answer;
    let decoded = decode::<PaycodeProvisioned>(&answer);
    answer.body.zeroize();
    let mut p = decoded.map_err(|e| e.into_core(zh))?;
    let secret_b64 = Zeroizing::new(std::mem::take(&mut p.secret));
    let secret = Zeroizing::new(
        B64.decode(secret_b64.as_bytes())
            .ok()
            .filter(|s| s.len() == code::SECRET_LEN)
            .ok_or_else(|| CoreError::client(ErrorCode::BadResponse).localized(zh))?,
    );
    let clock_offset_ms = clock_offset(p.step_secs, p.provisioned_at, sent_at, received_at)
        .ok_or_else(|| CoreError::client(ErrorCode::BadResponse).localized(zh))?;
    let wrapped = crate::keystore::off_runtime(&core.keystore, {
        let secret = secret.clone();
        move |ks| ks.wrap_data_key(secret.to_vec())
    })
    .await?;
    let stored = Stored {
        wrapped_secret: B64.encode(wrapped),
        slot: p.slot,
        currency: p.currency,
        per_code_limit: p.per_code_limit,
        daily_limit: p.daily_limit,
        step_secs: p.step_secs,
        provisioned_at: p.provisioned_at,
        clock_offset_ms,
        remaining_today: None,
        checked_at: Some(received_at),
    };
    // Signed out (or in as someone else) while provisioning: the secret of an ended sign-in
    // is not kept.
    if !save(core, &user, owner, &stored)? {
        return Err(CoreError::client(ErrorCode::NotSignedIn).localized(zh));
    }
    tracing::info!(slot = p.slot, "payment code enabled");
    Ok(info(Some(&stored)))
}

/// What the app knows with no network.
pub fn cached_info(core: &Core) -> CoreResult<PaycodeInfo> {
    let (user, owner) = core.unlocked_user()?;
    Ok(info(load(core, &user, owner)?.as_ref()))
}

/// Asks the server whether this device's codes are still accepted and what is left for today.
/// A secret the server no longer accepts (rotated on another call, revoked, the sign-in
/// ended) is forgotten here.
pub async fn status(core: &Core) -> CoreResult<PaycodeInfo> {
    core.ensure_unlocked()?;
    let (user, owner) = core.user()?;
    let zh = core.zh();
    let sent_at = now_ms();
    let answer = core
        .send_authed(Method::GET, "/v1/paycode", None, None, core.interactive())
        .await
        .map_err(|e| e.into_core(zh))?;
    let received_at = now_ms();
    let s: PaycodeStatus = decode(&answer).map_err(|e| e.into_core(zh))?;
    let Some(mut stored) = load(core, &user, owner)? else {
        return Ok(PaycodeInfo {
            remaining_today: Some(s.remaining_today.into()),
            checked_at: Some(received_at),
            ..info(None)
        });
    };
    if !s.provisioned || s.slot != Some(stored.slot) {
        tracing::info!("payment code no longer accepted: forgotten on this device");
        forget(core, owner)?;
        return Ok(PaycodeInfo {
            remaining_today: Some(s.remaining_today.into()),
            checked_at: Some(received_at),
            ..info(None)
        });
    }
    stored.per_code_limit = s.per_code_limit;
    stored.daily_limit = s.daily_limit;
    stored.remaining_today = Some(s.remaining_today);
    stored.checked_at = Some(received_at);
    if s.server_time > 0 {
        stored.clock_offset_ms = s.server_time - (sent_at + received_at) / 2;
    }
    save(core, &user, owner, &stored)?;
    Ok(info(Some(&stored)))
}

/// Keeps what a live `paycode_redeemed` event said is left for today (best effort: the next
/// status check is the authority).
pub(crate) fn note_remaining(core: &Core, remaining: Money) {
    let Ok((user, owner)) = core.user() else {
        return;
    };
    if let Ok(Some(mut stored)) = load(core, &user, owner) {
        stored.remaining_today = Some(remaining);
        stored.checked_at = Some(now_ms());
        if let Err(e) = save(core, &user, owner, &stored) {
            tracing::debug!(code = ?e.code(), "remaining payment-code limit not cached");
        }
    }
}

/// The code to show now, derived with no network. `paycode_not_enabled` when this device has
/// no secret (call [`enable`] while online).
pub fn current_code(core: &Core) -> CoreResult<PaycodeView> {
    code_at_device_time(core, now_ms())
}

/// The code for the device time `device_ms` (the app passes its clock; tests pass others).
pub fn code_at_device_time(core: &Core, device_ms: i64) -> CoreResult<PaycodeView> {
    core.ensure_unlocked()?;
    let (user, owner) = core.user()?;
    let zh = core.zh();
    let stored = load(core, &user, owner)?
        .ok_or_else(|| CoreError::client(ErrorCode::PaycodeNotEnabled).localized(zh))?;
    let wrapped = B64
        .decode(stored.wrapped_secret.as_bytes())
        .map_err(|_| CoreError::client(ErrorCode::Storage))?;
    let secret = Zeroizing::new(core.keystore.unwrap_data_key(wrapped)?);
    if secret.len() != code::SECRET_LEN {
        return Err(CoreError::client(ErrorCode::Storage));
    }
    let server_ms = device_ms.saturating_add(stored.clock_offset_ms);
    // Codes step every `code::STEP_SECS` (checked when the secret was provisioned).
    let step_ms = code::STEP_SECS * 1000;
    let valid_from = server_ms.div_euclid(step_ms) * step_ms;
    let digits = code::code_at(&secret, stored.slot, server_ms);
    Ok(PaycodeView {
        display: group(&digits),
        code: digits,
        valid_from,
        valid_until: valid_from + step_ms,
        refresh_in_secs: code::seconds_left(server_ms).clamp(1, 3600) as u32,
        per_code_limit: stored.per_code_limit.into(),
    })
}

fn group(digits: &str) -> String {
    digits
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Turns the payment code off: revoked on the server (its codes stop working everywhere),
/// then forgotten here. Needs the network, so a lost-phone revocation from another device
/// (signing this device out) is the path when this phone is gone.
pub async fn disable(core: &Core) -> CoreResult<()> {
    core.ensure_unlocked()?;
    let (_, owner) = core.user()?;
    let zh = core.zh();
    match core
        .send_authed(
            Method::DELETE,
            "/v1/paycode",
            None,
            None,
            core.interactive(),
        )
        .await
    {
        Ok(_) => {}
        Err(NetError::Problem { problem, .. }) if problem.code == WireCode::NotFound => {}
        Err(e) => return Err(e.into_core(zh)),
    }
    forget(core, owner)?;
    tracing::info!("payment code disabled");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_by_four() {
        assert_eq!(group("281234567890123456"), "2812 3456 7890 1234 56");
    }

    #[test]
    fn the_clock_offset_is_taken_halfway_and_only_from_a_sane_answer() {
        let t = 1_800_000_000_000;
        // Sent at t, answered 200 ms later, stamped 5 s ahead of the midpoint.
        assert_eq!(clock_offset(60, t + 100 + 5_000, t, t + 200), Some(5_000));
        assert_eq!(clock_offset(60, t - 3_600_000, t, t), Some(-3_600_000));
        // A step this build does not derive, a clock two days away, absurd values.
        assert_eq!(clock_offset(30, t, t, t), None);
        assert_eq!(clock_offset(1 << 61, t, t, t), None);
        assert_eq!(clock_offset(60, t + 2 * 86_400_000, t, t), None);
        assert_eq!(clock_offset(60, i64::MIN, t, t), None);
        assert_eq!(clock_offset(60, i64::MAX, i64::MIN, i64::MAX), None);
    }
}
