//! Live events pushed to a signed-in client over `GET /v1/events` (WebSocket). Each frame is
//! one JSON `LiveEvent`, tagged by `type`. Events are hints to refresh: the sync endpoint
//! stays the source of truth, so a client that missed events loses nothing by syncing.

use serde::{Deserialize, Serialize};

use crate::api::money::{Balance, RiskAlert, Transaction};
use crate::api::paycode::PaycodeRedemption;
use crate::api::savings::SavingsBalance;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// The account was signed in on a device it had not used before.
    NewDeviceLogin { device_name: String, at: i64 },
    /// A session of this account was ended (sign-out of a device, password change).
    SessionRevoked { session_id: String },
    /// A balance changed (a payment, a top-up, a settlement).
    BalanceChanged { balance: Balance },
    /// A history entry was created.
    TransactionCreated { transaction: Transaction },
    /// A history entry changed (settled, failed, released from review).
    TransactionUpdated { transaction: Transaction },
    /// The risk engine stepped up, held or blocked an operation.
    RiskAlert { alert: RiskAlert },
    /// A merchant terminal charged one of the account's payment codes.
    PaycodeRedeemed { redemption: PaycodeRedemption },
    /// A savings balance changed (a move in or out, a day's interest).
    SavingsChanged { savings: SavingsBalance },
    /// Some events were not delivered: sync to catch up.
    Resync { reason: String },
}

impl LiveEvent {
    /// Sent when the server dropped events for a slow connection: the client should sync.
    pub fn resync() -> LiveEvent {
        LiveEvent::Resync {
            reason: "lagged".to_owned(),
        }
    }
}
