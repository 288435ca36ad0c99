//! Accounts and sessions: registration by phone, login with password then SMS code on a new
//! device or risky login, lockout after 5 wrong passwords and unlock by identity verification,
//! password reset and change, rotating refresh tokens with reuse detection, devices.

pub mod password;
pub mod store;

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use upay_protocol::api::auth::*;
use upay_protocol::error::{ErrorCode, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, Validator};
use crate::events::{LiveEvent, ServerEvent};
use crate::extract::{ApiJson, Sb};
use crate::faults::Scenario;
use crate::state::{AppState, Sandbox, SmsMessage};

pub const ACCESS_TTL_SECS: u64 = 15 * 60;
pub const REFRESH_TTL_SECS: u64 = 30 * 24 * 3600;
pub const OTP_TTL_SECS: u64 = 5 * 60;
pub const OTP_RESEND_SECS: u64 = 60;
pub const OTP_MAX_ATTEMPTS: u32 = 5;
pub const MAX_PASSWORD_FAILURES: u32 = 5;
/// Phone numbers `+86 199 0000 xxxx` are test numbers: their SMS code is always this.
pub const MAGIC_OTP: &str = "246810";
pub const MAGIC_PHONE_PREFIX: &str = "+861990000";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_otp))
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(login_otp))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(reset_password))
        .routes(routes!(change_password))
        .routes(routes!(unlock))
        .routes(routes!(me))
        .routes(routes!(list_devices))
        .routes(routes!(sign_out_device))
        .routes(routes!(sign_out_others))
}

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness");
    format!("{prefix}{}", B64URL.encode(bytes))
}

fn sha256(text: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, text.as_bytes())
        .as_ref()
        .to_vec()
}

/// Hex SHA-256 of a credential, for keys that must not hold the credential itself.
pub fn token_hash_hex(text: &str) -> String {
    sha256(text).iter().map(|b| format!("{b:02x}")).collect()
}

fn random_digits(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness");
    // 250 = 25 * 10: rejecting larger bytes keeps every digit equally likely.
    let mut out = String::with_capacity(n);
    let mut pool = bytes.into_iter();
    while out.len() < n {
        let b = pool.next().unwrap_or_else(|| {
            let mut one = [0u8; 1];
            SystemRandom::new()
                .fill(&mut one)
                .expect("system randomness");
            one[0]
        });
        if b < 250 {
            out.push(char::from(b'0' + b % 10));
        }
    }
    out
}

pub fn new_user_id() -> String {
    format!("U{}", random_digits(10))
}

/// Issues a fresh session (access + refresh token) for a user on a device.
pub fn issue_session(
    conn: &rusqlite::Connection,
    user_id: &str,
    device_id: &str,
    now: i64,
) -> ApiResult<TokenPair> {
    let access = random_token("at_");
    let refresh = random_token("rt_");
    store::insert_session(
        conn,
        &store::NewSession {
            id: &random_token("s_")[..24],
            user_id,
            device_id,
            access_hash: &sha256(&access),
            access_expires_at: now + ACCESS_TTL_SECS as i64 * 1000,
            refresh_hash: &sha256(&refresh),
            refresh_expires_at: now + REFRESH_TTL_SECS as i64 * 1000,
            now,
        },
    )?;
    Ok(TokenPair {
        access_token: access,
        refresh_token: refresh,
        access_expires_in_secs: ACCESS_TTL_SECS,
        refresh_expires_in_secs: REFRESH_TTL_SECS,
    })
}

fn purpose_text(p: OtpPurpose) -> &'static str {
    match p {
        OtpPurpose::Register => "register",
        OtpPurpose::Login => "login",
        OtpPurpose::ResetPassword => "reset_password",
        OtpPurpose::Unlock => "unlock",
    }
}

/// Creates and "sends" a one-time code (into the sandbox's SMS outbox).
fn send_code(
    sb: &Sandbox,
    conn: &rusqlite::Connection,
    phone: &str,
    purpose: OtpPurpose,
) -> ApiResult<OtpSent> {
    let now = sb.clock.now_ms();
    let p = purpose_text(purpose);
    if let Some(last) = store::latest_otp(conn, phone, p)? {
        let wait_ms = last.created_at + OTP_RESEND_SECS as i64 * 1000 - now;
        if wait_ms > 0 && !last.consumed {
            return Err(
                ApiError::new(ErrorCode::OtpThrottled).retry_after((wait_ms as u64).div_ceil(1000))
            );
        }
    }
    let code = if phone.starts_with(MAGIC_PHONE_PREFIX) {
        MAGIC_OTP.to_owned()
    } else {
        random_digits(6)
    };
    store::insert_otp(
        conn,
        phone,
        p,
        &sha256(&code),
        now,
        now + OTP_TTL_SECS as i64 * 1000,
    )?;
    sb.send_sms(SmsMessage {
        to: phone.to_owned(),
        purpose: p.to_owned(),
        text: format!("【U钱包】验证码 {code}，5分钟内有效，请勿告诉他人。/ uPay code {code}, valid 5 minutes. Never share it."),
        code,
        sent_at: now,
    });
    Ok(OtpSent {
        destination: mask_phone(phone),
        expires_in_secs: OTP_TTL_SECS,
        resend_after_secs: OTP_RESEND_SECS,
    })
}

/// Checks a one-time code. Wrong tries are counted even though the request fails, so this
/// returns the verdict inside `Ok` and the caller commits before failing.
fn check_code(
    sb: &Sandbox,
    conn: &rusqlite::Connection,
    phone: &str,
    purpose: OtpPurpose,
    code: &str,
) -> ApiResult<Result<(), ApiError>> {
    let now = sb.clock.now_ms();
    let Some(otp) = store::latest_otp(conn, phone, purpose_text(purpose))? else {
        return Ok(Err(ErrorCode::OtpInvalid.into()));
    };
    if otp.consumed {
        return Ok(Err(ErrorCode::OtpInvalid.into()));
    }
    if otp.expires_at <= now {
        return Ok(Err(ErrorCode::OtpExpired.into()));
    }
    if otp.attempts >= OTP_MAX_ATTEMPTS {
        return Ok(Err(ErrorCode::OtpExhausted.into()));
    }
    if constant_time_eq(&otp.code_hash, &sha256(code)) {
        store::update_otp(conn, otp.id, otp.attempts, true)?;
        return Ok(Ok(()));
    }
    let attempts = otp.attempts + 1;
    store::update_otp(conn, otp.id, attempts, attempts >= OTP_MAX_ATTEMPTS)?;
    Ok(Err(if attempts >= OTP_MAX_ATTEMPTS {
        ErrorCode::OtpExhausted
    } else {
        ErrorCode::OtpInvalid
    }
    .into()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn phone_or_error(phone: &str) -> ApiResult<String> {
    normalize_phone(phone)
        .ok_or_else(|| ApiError::field("phone", "invalid", "is not a valid mobile number"))
}

fn validate_device(v: &mut Validator, d: &DeviceInfo) {
    let id_ok = (8..=64).contains(&d.device_id.len())
        && d.device_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    v.check(
        id_ok,
        "device.device_id",
        "invalid",
        "8-64 characters of [A-Za-z0-9_-]",
    );
    v.text(&d.name, "device.name", 1, 64);
}

fn validate_password(v: &mut Validator, field: &str, password: &str, phone: &str) {
    if let Some(problem) = password_problem(password, phone) {
        v.check(false, field, problem, "does not meet the password rules");
    }
}

/// Runs PBKDF2 off the async threads: it takes a noticeable fraction of a second by design.
async fn verify_password(stored: Option<String>, password: String, iterations: u32) -> bool {
    tokio::task::spawn_blocking(move || match stored {
        Some(hash) => password::verify(&hash, &password),
        None => {
            password::verify_dummy(iterations);
            false
        }
    })
    .await
    .unwrap_or(false)
}

async fn hash_password(password: String, iterations: u32) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || password::hash(&password, iterations))
        .await
        .map_err(ApiError::internal)
}

/// `POST /v1/auth/otp`
#[utoipa::path(post, path = "/v1/auth/otp", tag = "auth", request_body = OtpSendRequest,
    responses((status = 200, body = OtpSent), (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn send_otp(
    Sb(sb): Sb,
    ApiJson(req): ApiJson<OtpSendRequest>,
) -> ApiResult<axum::Json<OtpSent>> {
    let phone = phone_or_error(&req.phone)?;
    if req.purpose == OtpPurpose::Login {
        return Err(ApiError::field(
            "purpose",
            "invalid",
            "login codes are sent by POST /v1/auth/login",
        ));
    }
    sb.write(|tx| {
        let exists = store::user_by_phone(tx, &phone)?.is_some();
        match req.purpose {
            OtpPurpose::Register if exists => Err(ErrorCode::PhoneTaken.into()),
            // Unknown numbers get the same answer as known ones, but no SMS.
            OtpPurpose::ResetPassword | OtpPurpose::Unlock if !exists => Ok(OtpSent {
                destination: mask_phone(&phone),
                expires_in_secs: OTP_TTL_SECS,
                resend_after_secs: OTP_RESEND_SECS,
            }),
            _ => send_code(&sb, tx, &phone, req.purpose),
        }
    })
    .map(axum::Json)
}

/// `POST /v1/auth/register`
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = Session), (status = 401, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn register(
    Sb(sb): Sb,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    let phone = phone_or_error(&req.phone)?;
    let mut v = Validator::new();
    validate_password(&mut v, "password", &req.password, &phone);
    v.text(&req.full_name, "full_name", 1, 64);
    v.check(
        req.id_last4.len() == 4 && req.id_last4.bytes().all(|b| b.is_ascii_alphanumeric()),
        "id_last4",
        "invalid",
        "4 letters or digits",
    );
    validate_device(&mut v, &req.device);
    v.finish()?;
    let hash = hash_password(req.password.clone(), sb.settings().pbkdf2_iterations).await?;
    let outcome = sb.write(|tx| {
        if store::user_by_phone(tx, &phone)?.is_some() {
            return Ok(Err(ErrorCode::PhoneTaken.into()));
        }
        if let Err(e) = check_code(&sb, tx, &phone, OtpPurpose::Register, &req.code)? {
            return Ok(Err(e));
        }
        let now = sb.clock.now_ms();
        let user = store::UserRow {
            id: new_user_id(),
            phone: phone.clone(),
            full_name: req.full_name.clone(),
            id_last4: req.id_last4.to_ascii_uppercase(),
            password_hash: hash,
            frozen: false,
            created_at: now,
        };
        store::insert_user(tx, &user)?;
        crate::ledger::open_accounts(tx, &user.id, now)?;
        store::touch_device(tx, &user.id, &req.device, now)?;
        store::trust_device(tx, &user.id, &req.device.device_id)?;
        let tokens = issue_session(tx, &user.id, &req.device.device_id, now)?;
        Ok(Ok(Session {
            tokens,
            user: store::profile(tx, &user)?,
        }))
    })?;
    Ok((StatusCode::CREATED, axum::Json(outcome?)))
}

/// `POST /v1/auth/login`
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = Problem, description = "invalid_credentials, with attempts_remaining"),
        (status = 423, body = Problem, description = "account_locked"), (status = 422, body = Problem)))]
async fn login(
    Sb(sb): Sb,
    scenario: Scenario,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<axum::Json<LoginResponse>> {
    let phone = phone_or_error(&req.phone)?;
    let mut v = Validator::new();
    validate_device(&mut v, &req.device);
    v.finish()?;
    let (user, (failures, locked)) =
        sb.read(|c| Ok((store::user_by_phone(c, &phone)?, store::guard(c, &phone)?)))?;
    let iterations = sb.settings().pbkdf2_iterations;
    let ok = verify_password(
        user.as_ref().map(|u| u.password_hash.clone()),
        req.password.clone(),
        iterations,
    )
    .await;
    if locked {
        return Err(ErrorCode::AccountLocked.into());
    }
    let now = sb.clock.now_ms();
    let user = match (ok, user) {
        (true, Some(user)) => user,
        _ => {
            // Counted per phone number, registered or not, so the answers cannot tell them apart.
            let failures = failures + 1;
            let lock = failures >= MAX_PASSWORD_FAILURES;
            sb.write(|tx| store::set_guard(tx, &phone, failures, lock.then_some(now)))?;
            if lock {
                return Err(ErrorCode::AccountLocked.into());
            }
            let mut e = ApiError::new(ErrorCode::InvalidCredentials);
            e.attempts_remaining = Some(MAX_PASSWORD_FAILURES - failures);
            return Err(e);
        }
    };
    let response = sb.write(|tx| {
        store::clear_guard(tx, &phone)?;
        let trusted = store::touch_device(tx, &user.id, &req.device, now)?;
        let risky = scenario.risk.as_deref() == Some("step_up");
        if trusted && !risky {
            let tokens = issue_session(tx, &user.id, &req.device.device_id, now)?;
            return Ok(LoginResponse::SignedIn(Session {
                tokens,
                user: store::profile(tx, &user)?,
            }));
        }
        let ticket = random_token("lt_");
        store::insert_ticket(
            tx,
            &sha256(&ticket),
            &user.id,
            &req.device,
            now + OTP_TTL_SECS as i64 * 1000,
        )?;
        let sent = send_code(&sb, tx, &phone, OtpPurpose::Login)?;
        Ok(LoginResponse::OtpRequired(OtpChallenge {
            login_ticket: ticket,
            destination: sent.destination,
            reason: if trusted { "risky_login" } else { "new_device" }.to_owned(),
            expires_in_secs: OTP_TTL_SECS,
        }))
    })?;
    Ok(axum::Json(response))
}

/// `POST /v1/auth/login/otp`
#[utoipa::path(post, path = "/v1/auth/login/otp", tag = "auth", request_body = LoginOtpRequest,
    responses((status = 200, body = Session), (status = 401, body = Problem)))]
async fn login_otp(
    Sb(sb): Sb,
    ApiJson(req): ApiJson<LoginOtpRequest>,
) -> ApiResult<axum::Json<Session>> {
    let ticket_hash = sha256(&req.login_ticket);
    let now = sb.clock.now_ms();
    let (outcome, new_device) = sb.write(|tx| {
        let Some(ticket) = store::ticket(tx, &ticket_hash)?.filter(|t| !t.used) else {
            return Ok((Err(ErrorCode::OtpInvalid.into()), None));
        };
        if ticket.expires_at <= now {
            return Ok((Err(ErrorCode::OtpExpired.into()), None));
        }
        let user = store::require_user(tx, &ticket.user_id)?;
        if let Err(e) = check_code(&sb, tx, &user.phone, OtpPurpose::Login, &req.code)? {
            return Ok((Err(e), None));
        }
        store::use_ticket(tx, &ticket_hash)?;
        let was_trusted = store::touch_device(tx, &user.id, &ticket.device, now)?;
        store::trust_device(tx, &user.id, &ticket.device.device_id)?;
        let tokens = issue_session(tx, &user.id, &ticket.device.device_id, now)?;
        let notice = (!was_trusted).then(|| {
            (
                user.id.clone(),
                user.phone.clone(),
                ticket.device.name.clone(),
            )
        });
        Ok((
            Ok(Session {
                tokens,
                user: store::profile(tx, &user)?,
            }),
            notice,
        ))
    })?;
    if let Some((user_id, phone, device_name)) = new_device {
        notify_new_device(&sb, &user_id, &phone, &device_name);
    }
    outcome.map(axum::Json)
}

fn notify_new_device(sb: &Sandbox, user_id: &str, phone: &str, device_name: &str) {
    let now = sb.clock.now_ms();
    sb.send_sms(SmsMessage {
        to: phone.to_owned(),
        purpose: "new_device_notice".to_owned(),
        code: String::new(),
        text: format!(
            "【U钱包】您的账户已在新设备“{device_name}”登录，如非本人操作请立即联系客服。/ uPay: your account signed in on a new device \"{device_name}\". Not you? Contact support."
        ),
        sent_at: now,
    });
    sb.publish(ServerEvent {
        user_id: user_id.to_owned(),
        event: LiveEvent::NewDeviceLogin {
            device_name: device_name.to_owned(),
            at: now,
        },
    });
}

/// `POST /v1/auth/refresh`: rotates both tokens; a used refresh token revokes the session.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = Problem)))]
async fn refresh(
    Sb(sb): Sb,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<axum::Json<TokenPair>> {
    let old = sha256(&req.refresh_token);
    let now = sb.clock.now_ms();
    let outcome = sb.write(|tx| match store::session_by_refresh(tx, &old)? {
        store::RefreshLookup::Live { expires_at, .. } if expires_at <= now => {
            Ok(Err(ErrorCode::TokenExpired.into()))
        }
        store::RefreshLookup::Live { session_id, .. } => {
            let access = random_token("at_");
            let refresh = random_token("rt_");
            let access_expires = now + ACCESS_TTL_SECS as i64 * 1000;
            store::rotate_session(
                tx,
                &session_id,
                &old,
                &sha256(&access),
                access_expires,
                &sha256(&refresh),
            )?;
            Ok(Ok(TokenPair {
                access_token: access,
                refresh_token: refresh,
                access_expires_in_secs: ACCESS_TTL_SECS,
                refresh_expires_in_secs: REFRESH_TTL_SECS,
            }))
        }
        store::RefreshLookup::Reused { session_id } => {
            // Someone holds a copy of an old token: end the whole family, theirs and ours.
            store::revoke_session(tx, &session_id, now)?;
            Ok(Err(ErrorCode::RefreshReused.into()))
        }
        store::RefreshLookup::Unknown => Ok(Err(ErrorCode::Unauthorized.into())),
    })?;
    outcome.map(axum::Json)
}

/// The signed-in caller, from `Authorization: Bearer <access token>`.
#[derive(Clone)]
pub struct AuthUser {
    pub user_id: String,
    pub device_id: String,
    pub session_id: String,
    pub frozen: bool,
    pub sandbox: Arc<Sandbox>,
}

impl AuthUser {
    /// Fails with `account_frozen` when the account is frozen ("this wasn't me").
    pub fn require_active(&self) -> ApiResult<()> {
        if self.frozen {
            Err(ErrorCode::AccountFrozen.into())
        } else {
            Ok(())
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Sb(sb) = Sb::from_request_parts(parts, state).await?;
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))?;
        let row = sb
            .read(|c| store::session_by_access(c, &sha256(token)))?
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))?;
        if row.revoked {
            return Err(ErrorCode::Unauthorized.into());
        }
        if row.expires_at <= sb.clock.now_ms() {
            return Err(ErrorCode::TokenExpired.into());
        }
        Ok(AuthUser {
            user_id: row.user_id,
            device_id: row.device_id,
            session_id: row.session_id,
            frozen: row.frozen,
            sandbox: sb,
        })
    }
}

/// `POST /v1/auth/logout`
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
async fn logout(user: AuthUser) -> ApiResult<StatusCode> {
    let now = user.sandbox.clock.now_ms();
    user.sandbox
        .write(|tx| store::revoke_session(tx, &user.session_id, now))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/auth/password/reset` (forgot password, by SMS code). Signs out every device.
#[utoipa::path(post, path = "/v1/auth/password/reset", tag = "auth", request_body = ResetPasswordRequest,
    responses((status = 204), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn reset_password(
    Sb(sb): Sb,
    ApiJson(req): ApiJson<ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    let phone = phone_or_error(&req.phone)?;
    let mut v = Validator::new();
    validate_password(&mut v, "new_password", &req.new_password, &phone);
    v.finish()?;
    let hash = hash_password(req.new_password.clone(), sb.settings().pbkdf2_iterations).await?;
    let now = sb.clock.now_ms();
    sb.write(|tx| {
        let Some(user) = store::user_by_phone(tx, &phone)? else {
            return Ok(Err(ErrorCode::OtpInvalid.into()));
        };
        if let Err(e) = check_code(&sb, tx, &phone, OtpPurpose::ResetPassword, &req.code)? {
            return Ok(Err(e));
        }
        store::set_password(tx, &user.id, &hash)?;
        store::revoke_sessions(tx, &user.id, None, None, now)?;
        Ok(Ok(StatusCode::NO_CONTENT))
    })?
}

/// `POST /v1/auth/password/change`: signs out every other device.
#[utoipa::path(post, path = "/v1/auth/password/change", tag = "auth", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses((status = 204), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn change_password(
    user: AuthUser,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    let sb = user.sandbox.clone();
    let row = sb.read(|c| store::require_user(c, &user.user_id))?;
    let mut v = Validator::new();
    validate_password(&mut v, "new_password", &req.new_password, &row.phone);
    v.check(
        req.new_password != req.current_password,
        "new_password",
        "unchanged",
        "must differ from the current password",
    );
    v.finish()?;
    let iterations = sb.settings().pbkdf2_iterations;
    if !verify_password(Some(row.password_hash), req.current_password, iterations).await {
        return Err(ErrorCode::InvalidCredentials.into());
    }
    let hash = hash_password(req.new_password, iterations).await?;
    let now = sb.clock.now_ms();
    sb.write(|tx| {
        store::set_password(tx, &user.user_id, &hash)?;
        store::revoke_sessions(tx, &user.user_id, None, Some(&user.session_id), now)?;
        Ok(StatusCode::NO_CONTENT)
    })
}

/// `POST /v1/auth/unlock`: lifts a lockout after identity verification (SMS code + name + id).
#[utoipa::path(post, path = "/v1/auth/unlock", tag = "auth", request_body = UnlockRequest,
    responses((status = 204), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn unlock(Sb(sb): Sb, ApiJson(req): ApiJson<UnlockRequest>) -> ApiResult<StatusCode> {
    let phone = phone_or_error(&req.phone)?;
    sb.write(|tx| {
        let Some(user) = store::user_by_phone(tx, &phone)? else {
            return Ok(Err(ErrorCode::OtpInvalid.into()));
        };
        if let Err(e) = check_code(&sb, tx, &phone, OtpPurpose::Unlock, &req.code)? {
            return Ok(Err(e));
        }
        let name_ok = req.full_name.trim() == user.full_name;
        let id_ok = req.id_last4.eq_ignore_ascii_case(&user.id_last4);
        if !(name_ok && id_ok) {
            return Ok(Err(ErrorCode::IdentityMismatch.into()));
        }
        store::clear_guard(tx, &phone)?;
        Ok(Ok(StatusCode::NO_CONTENT))
    })?
}

/// `GET /v1/me`
#[utoipa::path(get, path = "/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserProfile), (status = 401, body = Problem)))]
async fn me(user: AuthUser) -> ApiResult<axum::Json<UserProfile>> {
    user.sandbox
        .read(|c| store::profile(c, &store::require_user(c, &user.user_id)?))
        .map(axum::Json)
}

/// `GET /v1/devices`
#[utoipa::path(get, path = "/v1/devices", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = DeviceList), (status = 401, body = Problem)))]
async fn list_devices(user: AuthUser) -> ApiResult<axum::Json<DeviceList>> {
    let now = user.sandbox.clock.now_ms();
    let devices = user
        .sandbox
        .read(|c| store::list_devices(c, &user.user_id, &user.device_id, now))?;
    Ok(axum::Json(DeviceList { devices }))
}

/// `DELETE /v1/devices/{device_id}`: signs the device out and forgets it (its next login needs
/// an SMS code, its payment-confirmation key is removed).
#[utoipa::path(delete, path = "/v1/devices/{device_id}", tag = "auth", security(("bearer" = [])),
    params(("device_id" = String, Path)), responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn sign_out_device(user: AuthUser, Path(device_id): Path<String>) -> ApiResult<StatusCode> {
    let now = user.sandbox.clock.now_ms();
    let revoked = user.sandbox.write(|tx| {
        if !store::device_exists(tx, &user.user_id, &device_id)? {
            return Err(ApiError::not_found());
        }
        store::forget_device(tx, &user.user_id, &device_id)?;
        store::revoke_sessions(tx, &user.user_id, Some(&device_id), None, now)
    })?;
    announce_revoked(&user, revoked);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/devices/sign-out-others`
#[utoipa::path(post, path = "/v1/devices/sign-out-others", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
async fn sign_out_others(user: AuthUser) -> ApiResult<StatusCode> {
    let now = user.sandbox.clock.now_ms();
    let revoked = user.sandbox.write(|tx| {
        let ids = store::revoke_sessions(tx, &user.user_id, None, Some(&user.session_id), now)?;
        let others: Vec<String> = store::list_devices(tx, &user.user_id, &user.device_id, now)?
            .into_iter()
            .filter(|d| !d.current)
            .map(|d| d.device_id)
            .collect();
        for d in others {
            store::forget_device(tx, &user.user_id, &d)?;
        }
        Ok(ids)
    })?;
    announce_revoked(&user, revoked);
    Ok(StatusCode::NO_CONTENT)
}

fn announce_revoked(user: &AuthUser, sessions: Vec<String>) {
    for session_id in sessions {
        user.sandbox.publish(ServerEvent {
            user_id: user.user_id.clone(),
            event: LiveEvent::SessionRevoked { session_id },
        });
    }
}

/// Sends an identity-verification code on behalf of support (control API).
pub fn send_unlock_code(sb: &Sandbox, conn: &rusqlite::Connection, phone: &str) -> ApiResult<()> {
    send_code(sb, conn, phone, OtpPurpose::Unlock).map(|_| ())
}
