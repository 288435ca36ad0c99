//! Registration, login with SMS one-time codes, tokens, password management, lockout recovery
//! and devices.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// What a client says about the device it runs on. `device_id` is generated once per install
/// and kept by the app; a login from an unknown `device_id` needs an SMS code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceInfo {
    /// 8–64 characters of `[A-Za-z0-9_-]`.
    pub device_id: String,
    /// Display name, e.g. "Xiaomi 14"; 1–64 characters.
    pub name: String,
    pub platform: Platform,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Android,
    Ios,
    Other,
}

/// What a one-time code is for; a code only works for the purpose it was sent for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OtpPurpose {
    Register,
    Login,
    ResetPassword,
    Unlock,
}

/// `POST /v1/auth/otp`: send a one-time code by SMS (register, reset_password, unlock).
/// Login codes are sent by the login call itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OtpSendRequest {
    pub phone: String,
    pub purpose: OtpPurpose,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OtpSent {
    /// Masked destination, e.g. `138****8000`.
    pub destination: String,
    pub expires_in_secs: u64,
    /// Seconds before another code may be requested.
    pub resend_after_secs: u64,
}

/// `POST /v1/auth/register`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RegisterRequest {
    /// Mainland mobile number (11 digits starting with 1) or E.164 (`+` and 8–15 digits).
    pub phone: String,
    /// The `register` code sent to `phone`.
    pub code: String,
    pub password: String,
    /// Legal name, used for identity verification; 1–64 characters.
    pub full_name: String,
    /// Last four characters of the national id, used for identity verification.
    pub id_last4: String,
    pub device: DeviceInfo,
}

/// `POST /v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginRequest {
    pub phone: String,
    pub password: String,
    pub device: DeviceInfo,
}

/// Answer of a login step: signed in, or an SMS code is needed first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LoginResponse {
    SignedIn(Session),
    OtpRequired(OtpChallenge),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OtpChallenge {
    /// Opaque ticket for `POST /v1/auth/login/otp`.
    pub login_ticket: String,
    pub destination: String,
    /// Why a code is needed: `new_device` or `risky_login`.
    pub reason: String,
    pub expires_in_secs: u64,
}

/// `POST /v1/auth/login/otp`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginOtpRequest {
    pub login_ticket: String,
    pub code: String,
}

/// A signed-in session: tokens plus who is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Session {
    pub tokens: TokenPair,
    pub user: UserProfile,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TokenPair {
    /// Bearer token for `Authorization`; lives `access_expires_in_secs` (at most 15 minutes).
    pub access_token: String,
    /// Single-use: every refresh returns a new one; presenting a used one revokes the session.
    pub refresh_token: String,
    pub access_expires_in_secs: u64,
    pub refresh_expires_in_secs: u64,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("access_expires_in_secs", &self.access_expires_in_secs)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    Locked,
    Frozen,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserProfile {
    /// uPay account id: `U` + 10 digits.
    pub user_id: String,
    pub phone_masked: String,
    pub full_name: String,
    pub status: AccountStatus,
    pub created_at: i64,
}

/// `POST /v1/auth/refresh`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// `POST /v1/auth/password/reset` (forgot password).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ResetPasswordRequest {
    pub phone: String,
    pub code: String,
    pub new_password: String,
}

/// `POST /v1/auth/password/change` (signed in). Signs out every other device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /v1/auth/unlock`: identity verification that lifts a lockout.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UnlockRequest {
    pub phone: String,
    /// The `unlock` code sent to `phone`.
    pub code: String,
    pub full_name: String,
    pub id_last4: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceView {
    pub device_id: String,
    pub name: String,
    pub platform: Platform,
    /// The device making this request.
    pub current: bool,
    /// Has a registered payment-confirmation key.
    pub has_signing_key: bool,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    /// Has a live session.
    pub signed_in: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceList {
    pub devices: Vec<DeviceView>,
}

/// Password rules, shared so apps can check before sending: 8–64 characters, at least one
/// letter and one digit, no whitespace, not containing the phone number.
pub fn password_problem(password: &str, phone: &str) -> Option<&'static str> {
    let len = password.chars().count();
    if len < 8 {
        return Some("too_short");
    }
    if len > 64 {
        return Some("too_long");
    }
    if password.chars().any(char::is_whitespace) {
        return Some("whitespace");
    }
    if !password.chars().any(|c| c.is_alphabetic()) || !password.chars().any(|c| c.is_ascii_digit())
    {
        return Some("needs_letter_and_digit");
    }
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 8 && password.contains(&digits[digits.len() - 8..]) {
        return Some("contains_phone");
    }
    None
}

/// Normalises a phone number to E.164 (`+8613800138000`), or `None` if it is not one.
/// Mainland numbers may be given without the country code.
pub fn normalize_phone(phone: &str) -> Option<String> {
    let compact: String = phone.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if let Some(rest) = compact.strip_prefix('+') {
        let ok = (8..=15).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_digit())
            && !rest.starts_with('0');
        return ok.then(|| compact.clone());
    }
    let mainland = compact.len() == 11
        && compact.starts_with('1')
        && compact.bytes().all(|b| b.is_ascii_digit());
    mainland.then(|| format!("+86{compact}"))
}

/// `138****8000` style masking of an E.164 number.
pub fn mask_phone(e164: &str) -> String {
    let national = e164.strip_prefix("+86").unwrap_or(e164);
    let chars: Vec<char> = national.chars().collect();
    if chars.len() < 7 {
        return "****".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_normalisation() {
        assert_eq!(
            normalize_phone("13800138000").as_deref(),
            Some("+8613800138000")
        );
        assert_eq!(
            normalize_phone("138-0013-8000").as_deref(),
            Some("+8613800138000")
        );
        assert_eq!(
            normalize_phone("+14155550100").as_deref(),
            Some("+14155550100")
        );
        for bad in [
            "",
            "12345",
            "23800138000",
            "+0123456789",
            "+86abc",
            "1380013800０",
        ] {
            assert_eq!(normalize_phone(bad), None, "{bad}");
        }
        assert_eq!(mask_phone("+8613800138000"), "138****8000");
    }

    #[test]
    fn password_rules() {
        assert_eq!(
            password_problem("short1", "+8613800138000"),
            Some("too_short")
        );
        assert_eq!(
            password_problem("allletters", "+8613800138000"),
            Some("needs_letter_and_digit")
        );
        assert_eq!(
            password_problem("pass 1234", "+8613800138000"),
            Some("whitespace")
        );
        assert_eq!(
            password_problem("a00138000x", "+8613800138000"),
            Some("contains_phone")
        );
        assert_eq!(password_problem("Secur3pass", "+8613800138000"), None);
    }

    #[test]
    fn login_response_is_tagged() {
        let r = LoginResponse::OtpRequired(OtpChallenge {
            login_ticket: "t".into(),
            destination: "138****8000".into(),
            reason: "new_device".into(),
            expires_in_secs: 300,
        });
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["status"], "otp_required");
    }
}
