//! Accounts and the session: register, login (password, then an SMS code on a new device or a
//! risky login), refresh (in [`crate::core::Core::send_authed`]), logout, forgotten and changed
//! passwords, lockout recovery, devices, the device's payment key, and the app lock.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::Method;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use upay_protocol::api::auth::{
    AccountStatus, ChangePasswordRequest, DeviceInfo, DeviceList, LoginOtpRequest, LoginRequest,
    LoginResponse, OtpPurpose, OtpSendRequest, OtpSent, Platform, RegisterRequest,
    ResetPasswordRequest, Session, UnlockRequest, UserProfile, normalize_phone, password_problem,
};
use upay_protocol::api::money::SigningKeyRequest;
use zeroize::Zeroizing;

use crate::api::decode;
use crate::config::DevicePlatform;
use crate::core::{Core, StoredSession, net};
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::events::WalletEvent;

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Profile {
    pub user_id: String,
    pub phone_masked: String,
    pub full_name: String,
    pub frozen: bool,
    pub created_at: i64,
}

impl From<&UserProfile> for Profile {
    fn from(u: &UserProfile) -> Profile {
        Profile {
            user_id: u.user_id.clone(),
            phone_masked: u.phone_masked.clone(),
            full_name: u.full_name.clone(),
            frozen: u.status != AccountStatus::Active,
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CodeSent {
    /// Masked, e.g. `138****8000`.
    pub destination: String,
    pub expires_in_secs: u64,
    pub resend_after_secs: u64,
}

impl From<OtpSent> for CodeSent {
    fn from(o: OtpSent) -> CodeSent {
        CodeSent {
            destination: o.destination,
            expires_in_secs: o.expires_in_secs,
            resend_after_secs: o.resend_after_secs,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum LoginResult {
    SignedIn {
        profile: Profile,
    },
    /// Enter the SMS code sent to `destination` with `submit_login_code`.
    CodeRequired {
        destination: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceEntry {
    pub device_id: String,
    pub name: String,
    pub current: bool,
    pub signed_in: bool,
    pub can_confirm_payments: bool,
    pub last_seen_at: i64,
}

fn phone(core: &Core, raw: &str) -> CoreResult<String> {
    normalize_phone(raw).ok_or_else(|| CoreError::invalid("phone").localized(core.zh()))
}

fn device(core: &Core) -> DeviceInfo {
    DeviceInfo {
        device_id: core.settings.device_id.clone(),
        name: core.settings.device_name.clone(),
        platform: match core.settings.platform {
            DevicePlatform::Android => Platform::Android,
            DevicePlatform::Ios => Platform::Ios,
            DevicePlatform::Other => Platform::Other,
        },
    }
}

fn json<T: serde::Serialize>(v: &T) -> Option<Vec<u8>> {
    serde_json::to_vec(v).ok()
}

/// The password rule the server applies, checked before sending: `None` when acceptable,
/// else a stable reason (`too_short`, `too_long`, `whitespace`, `needs_letter_and_digit`,
/// `contains_phone`).
#[uniffi::export]
pub fn check_password(password: String, phone: String) -> Option<String> {
    let e164 = normalize_phone(&phone).unwrap_or_default();
    password_problem(&password, &e164).map(str::to_owned)
}

async fn send_code(core: &Core, raw_phone: &str, purpose: OtpPurpose) -> CoreResult<CodeSent> {
    let body = OtpSendRequest {
        phone: phone(core, raw_phone)?,
        purpose,
    };
    let answer = core
        .send_public(Method::POST, "/v1/auth/otp", Some(&body))
        .await
        .map_err(net(core))?;
    Ok(decode::<OtpSent>(&answer).map_err(net(core))?.into())
}

pub async fn send_register_code(core: &Core, phone: &str) -> CoreResult<CodeSent> {
    send_code(core, phone, OtpPurpose::Register).await
}

pub async fn send_reset_code(core: &Core, phone: &str) -> CoreResult<CodeSent> {
    send_code(core, phone, OtpPurpose::ResetPassword).await
}

pub async fn send_unlock_code(core: &Core, phone: &str) -> CoreResult<CodeSent> {
    send_code(core, phone, OtpPurpose::Unlock).await
}

async fn signed_in(core: &Core, session: Session) -> CoreResult<Profile> {
    let profile = Profile::from(&session.user);
    core.set_session(StoredSession {
        tokens: session.tokens,
        user: session.user,
        signing_key_registered: false,
    })?;
    core.unlock();
    core.events
        .emit(vec![WalletEvent::SessionChanged { signed_in: true }]);
    tracing::info!("signed in");
    // A new session may make queued payments sendable.
    core.wake.notify_one();
    Ok(profile)
}

pub async fn register(
    core: &Core,
    raw_phone: &str,
    code: &str,
    password: &str,
    full_name: &str,
    id_last4: &str,
) -> CoreResult<Profile> {
    let phone = phone(core, raw_phone)?;
    if password_problem(password, &phone).is_some() {
        return Err(CoreError::client(ErrorCode::WeakPassword).localized(core.zh()));
    }
    let body = RegisterRequest {
        phone,
        code: code.to_owned(),
        password: password.to_owned(),
        full_name: full_name.to_owned(),
        id_last4: id_last4.to_owned(),
        device: device(core),
    };
    let answer = core
        .send_public(Method::POST, "/v1/auth/register", Some(&body))
        .await
        .map_err(net(core))?;
    signed_in(core, decode(&answer).map_err(net(core))?).await
}

pub async fn login(core: &Core, raw_phone: &str, password: &str) -> CoreResult<LoginResult> {
    let body = LoginRequest {
        phone: phone(core, raw_phone)?,
        password: password.to_owned(),
        device: device(core),
    };
    let answer = core
        .send_public(Method::POST, "/v1/auth/login", Some(&body))
        .await
        .map_err(net(core))?;
    match decode::<LoginResponse>(&answer).map_err(net(core))? {
        LoginResponse::SignedIn(session) => Ok(LoginResult::SignedIn {
            profile: signed_in(core, session).await?,
        }),
        LoginResponse::OtpRequired(challenge) => {
            *core.login_ticket.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Zeroizing::new(challenge.login_ticket));
            Ok(LoginResult::CodeRequired {
                destination: challenge.destination,
                reason: challenge.reason,
            })
        }
    }
}

pub async fn submit_login_code(core: &Core, code: &str) -> CoreResult<Profile> {
    let ticket = core
        .login_ticket
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .ok_or_else(|| CoreError::invalid("login_ticket").localized(core.zh()))?;
    let body = LoginOtpRequest {
        login_ticket: ticket.to_string(),
        code: code.to_owned(),
    };
    let answer = core
        .send_public(Method::POST, "/v1/auth/login/otp", Some(&body))
        .await
        .map_err(net(core))?;
    *core.login_ticket.lock().unwrap_or_else(|p| p.into_inner()) = None;
    signed_in(core, decode(&answer).map_err(net(core))?).await
}

/// Signs out on the server (best effort: offline sign-out still forgets the tokens). The
/// cache and the outbox stay for the next sign-in of the same user.
pub async fn logout(core: &Core) -> CoreResult<()> {
    if core.auth().is_some() {
        let r = core
            .send_authed(
                Method::POST,
                "/v1/auth/logout",
                None,
                None,
                core.interactive(),
            )
            .await;
        if let Err(e) = r {
            tracing::info!(code = ?e.code(), "server sign-out failed; signing out locally");
        }
    }
    core.clear_session()
}

pub async fn reset_password(
    core: &Core,
    raw_phone: &str,
    code: &str,
    new_password: &str,
) -> CoreResult<()> {
    let phone = phone(core, raw_phone)?;
    if password_problem(new_password, &phone).is_some() {
        return Err(CoreError::client(ErrorCode::WeakPassword).localized(core.zh()));
    }
    let body = ResetPasswordRequest {
        phone,
        code: code.to_owned(),
        new_password: new_password.to_owned(),
    };
    core.send_public(Method::POST, "/v1/auth/password/reset", Some(&body))
        .await
        .map_err(net(core))?;
    Ok(())
}

pub async fn change_password(core: &Core, current: &str, new_password: &str) -> CoreResult<()> {
    core.ensure_unlocked()?;
    // The phone rule is the server's to check (the cache keeps only the masked number).
    if password_problem(new_password, "").is_some() {
        return Err(CoreError::client(ErrorCode::WeakPassword).localized(core.zh()));
    }
    let body = Zeroizing::new(
        json(&ChangePasswordRequest {
            current_password: current.to_owned(),
            new_password: new_password.to_owned(),
        })
        .unwrap_or_default(),
    );
    core.send_authed(
        Method::POST,
        "/v1/auth/password/change",
        Some(body.to_vec()),
        None,
        core.interactive(),
    )
    .await
    .map_err(net(core))?;
    Ok(())
}

pub async fn unlock_account(
    core: &Core,
    raw_phone: &str,
    code: &str,
    full_name: &str,
    id_last4: &str,
) -> CoreResult<()> {
    let body = UnlockRequest {
        phone: phone(core, raw_phone)?,
        code: code.to_owned(),
        full_name: full_name.to_owned(),
        id_last4: id_last4.to_owned(),
    };
    core.send_public(Method::POST, "/v1/auth/unlock", Some(&body))
        .await
        .map_err(net(core))?;
    Ok(())
}

pub async fn refresh_profile(core: &Core) -> CoreResult<Profile> {
    core.ensure_unlocked()?;
    let answer = core
        .send_authed(Method::GET, "/v1/me", None, None, core.interactive())
        .await
        .map_err(net(core))?;
    let user: UserProfile = decode(&answer).map_err(net(core))?;
    let profile = Profile::from(&user);
    let tag = core.cipher.tag("user", &user.user_id);
    if !core.update_session(tag, |s| s.user = user).await? {
        // Signed out (or in as someone else) while the answer was on its way.
        return Err(CoreError::client(ErrorCode::NotSignedIn).localized(core.zh()));
    }
    Ok(profile)
}

pub async fn devices(core: &Core) -> CoreResult<Vec<DeviceEntry>> {
    core.ensure_unlocked()?;
    let answer = core
        .send_authed(Method::GET, "/v1/devices", None, None, core.interactive())
        .await
        .map_err(net(core))?;
    let list: DeviceList = decode(&answer).map_err(net(core))?;
    Ok(list
        .devices
        .into_iter()
        .map(|d| DeviceEntry {
            device_id: d.device_id,
            name: d.name,
            current: d.current,
            signed_in: d.signed_in,
            can_confirm_payments: d.has_signing_key,
            last_seen_at: d.last_seen_at,
        })
        .collect())
}

pub async fn sign_out_device(core: &Core, device_id: &str) -> CoreResult<()> {
    core.ensure_unlocked()?;
    let path = format!("/v1/devices/{}", crate::api::query_value(device_id));
    core.send_authed(Method::DELETE, &path, None, None, core.interactive())
        .await
        .map_err(net(core))?;
    Ok(())
}

pub async fn sign_out_other_devices(core: &Core) -> CoreResult<()> {
    core.ensure_unlocked()?;
    core.send_authed(
        Method::POST,
        "/v1/devices/sign-out-others",
        None,
        None,
        core.interactive(),
    )
    .await
    .map_err(net(core))?;
    Ok(())
}

/// Registers this device's payment key with the server (once per session).
pub async fn ensure_signing_key(core: &Core) -> CoreResult<()> {
    let auth = core
        .auth()
        .ok_or_else(|| CoreError::client(ErrorCode::NotSignedIn))?;
    if auth.session.signing_key_registered {
        return Ok(());
    }
    let public = crate::keystore::off_runtime(&core.keystore, |k| k.signing_public_key()).await?;
    let body = json(&SigningKeyRequest {
        public_key: B64.encode(&public),
    });
    core.send_authed(
        Method::PUT,
        "/v1/devices/current/signing-key",
        body,
        None,
        core.interactive(),
    )
    .await
    .map_err(net(core))?;
    // The request may have refreshed the tokens: mark the session as it is now, not the copy
    // read before (writing that back would restore a spent refresh token).
    core.update_session(auth.user_tag, |s| s.signing_key_registered = true)
        .await?;
    Ok(())
}

/// Signs `payload` with the device payment key after the platform's prompt (off the runtime).
///
/// A key the platform invalidated (a new fingerprint enrolled, the screen lock removed) answers
/// `KeyNotFound` for good: it is deleted and the session marked as having no registered key, so
/// the next confirmation creates and registers a new one. The caller gets `device_key_missing`
/// (confirm again), never `key_lost`, which means the cache's key.
pub async fn sign_with_device_key(
    core: &Core,
    payload: Vec<u8>,
    reason: String,
) -> CoreResult<Vec<u8>> {
    match crate::keystore::off_runtime(&core.keystore, move |k| k.sign(payload, reason)).await {
        Ok(signature) => Ok(signature),
        Err(crate::keystore::KeyStoreError::KeyNotFound) => {
            tracing::warn!("device payment key invalidated; it will be replaced");
            if let Err(e) =
                crate::keystore::off_runtime(&core.keystore, |k| k.delete_signing_key()).await
            {
                tracing::warn!(error = ?CoreError::from(e).code(), "invalidated key not deleted");
            }
            if let Some(auth) = core.auth() {
                core.update_session(auth.user_tag, |s| s.signing_key_registered = false)
                    .await?;
            }
            Err(CoreError::client(ErrorCode::DeviceKeyMissing).localized(core.zh()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Unlocks the app lock by proving presence with the device key: the platform asks for PIN
/// or biometrics before it signs a fresh random challenge, which is checked here.
pub async fn unlock_app(core: &Core, reason: &str) -> CoreResult<()> {
    let mut challenge = [0u8; 32];
    SystemRandom::new()
        .fill(&mut challenge)
        .map_err(|_| CoreError::client(ErrorCode::Storage))?;
    let mut payload = b"upay-app-unlock-v1\0".to_vec();
    payload.extend_from_slice(&challenge);
    // The prompt waits for the user: never on the caller's (UI) thread nor a runtime worker.
    let public = crate::keystore::off_runtime(&core.keystore, |k| k.signing_public_key()).await?;
    let signature = sign_with_device_key(core, payload.clone(), reason.to_owned()).await?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &public)
        .verify(&payload, &signature)
        .map_err(|_| CoreError::client(ErrorCode::AuthenticationCancelled).localized(core.zh()))?;
    core.unlock();
    Ok(())
}
