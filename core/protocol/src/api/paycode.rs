//! The in-store payment code (付款码): provisioning a device's secret while online, its status,
//! and the merchant terminal's redemption of a scanned code. The code itself is derived on the
//! device by [`crate::paycode`]; see `docs/savings-and-paycode.md` for the whole flow.
//!
//! The provisioned secret is the one value here that must never be logged: the `Debug` of
//! [`PaycodeProvisioned`] redacts it, as the `Debug` of [`TerminalRedeemRequest`] redacts the
//! scanned code.

use std::fmt;

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

use crate::api::money::MerchantRef;
use crate::money::{Currency, Money};

/// Header a merchant terminal authenticates with on `POST /v1/terminal/redeem`.
pub const TERMINAL_KEY_HEADER: &str = "X-Terminal-Key";

/// The answer to `POST /v1/paycode/provision`: everything the device needs to show codes with
/// no network. Shown once: keep `secret` wrapped by the platform key store.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PaycodeProvisioned {
    /// Base64 (standard alphabet, padded) of the 32-byte HMAC secret.
    pub secret: String,
    /// The six-digit public number embedded in every code (`28` + slot + one-time value).
    pub slot: u32,
    /// Codes pay in this currency only.
    pub currency: Currency,
    /// The most one code may pay.
    pub per_code_limit: Money,
    /// The most all payment codes of the account may pay per China-time day.
    pub daily_limit: Money,
    /// Seconds each code is shown (the time step of the one-time value).
    pub step_secs: i64,
    /// Steps of clock difference the server accepts either way (1 = the previous, current and
    /// next code).
    pub skew_steps: u32,
    pub provisioned_at: i64,
}

impl fmt::Debug for PaycodeProvisioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaycodeProvisioned")
            .field("secret", &"<redacted>")
            .field("slot", &self.slot)
            .field("currency", &self.currency)
            .field("per_code_limit", &self.per_code_limit)
            .field("daily_limit", &self.daily_limit)
            .field("step_secs", &self.step_secs)
            .field("skew_steps", &self.skew_steps)
            .field("provisioned_at", &self.provisioned_at)
            .finish()
    }
}

/// `GET /v1/paycode`: the calling device's payment code and what is left to spend today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PaycodeStatus {
    /// Codes of this device are accepted now: a secret is provisioned, not revoked or rotated,
    /// and the sign-in that provisioned it is still live.
    pub provisioned: bool,
    /// The slot of the usable secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_at: Option<i64>,
    pub currency: Currency,
    pub per_code_limit: Money,
    pub daily_limit: Money,
    /// Paid with payment codes today (all devices of the account).
    pub spent_today: Money,
    /// `daily_limit - spent_today`, never below zero.
    pub remaining_today: Money,
    /// When the daily limit starts again (next midnight, China time).
    pub resets_at: i64,
    pub step_secs: i64,
    pub skew_steps: u32,
    /// The server's clock when it answered: devices derive codes by it, so a phone whose
    /// clock is off still shows codes the terminal accepts.
    #[serde(default)]
    pub server_time: i64,
}

/// `POST /v1/terminal/redeem`: a merchant terminal charges a scanned payment code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TerminalRedeemRequest {
    /// The 18 digits read from the customer's screen.
    pub code: String,
    /// In the merchant's currency.
    pub amount: Money,
    pub merchant_id: String,
    pub terminal_id: String,
}

impl fmt::Debug for TerminalRedeemRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalRedeemRequest")
            .field("amount", &self.amount)
            .field("merchant_id", &self.merchant_id)
            .field("terminal_id", &self.terminal_id)
            .finish_non_exhaustive()
    }
}

/// What the terminal prints: no data of the customer beyond the payment itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TerminalReceipt {
    /// The redemption's id (`pcr_…`), quoted in refunds and disputes.
    pub id: String,
    pub merchant_id: String,
    pub terminal_id: String,
    pub amount: Money,
    pub created_at: i64,
}

/// Pushed to the payer (`paycode_redeemed`) when a terminal charged one of their codes, so the
/// payment-code screen can show the result at once; the history entry arrives by sync too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PaycodeRedemption {
    pub id: String,
    /// The `merchant_payment` history entry of this payment.
    pub transaction_id: String,
    pub amount: Money,
    pub merchant: MerchantRef,
    pub terminal_id: String,
    /// What the account may still pay by payment code today.
    pub remaining_today: Money,
    pub at: i64,
}

/// Which limit a redemption exceeded: `data` of a `paycode_limit_exceeded` problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PaycodeLimitDetail {
    /// `per_code` or `daily`.
    pub scope: String,
    pub limit: Money,
    /// What could still be paid under that limit.
    pub remaining: Money,
}
