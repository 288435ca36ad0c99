//! `GET /v1/sync`: what the offline cache applies, page by page, each page in one local
//! transaction together with its cursor.
//!
//! A page holds the transactions created or changed since the cursor (in change order), every
//! balance with its version, and the outcome of the user's money operations (by
//! `Idempotency-Key`) decided since the cursor, so the outbox learns what became of requests
//! whose answers it never received. `410 cursor_expired` means: wipe the mirror tables (never the
//! outbox) and sync again without a cursor.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

use crate::api::money::{Balance, Transaction};
use crate::error::ErrorCode;

/// Largest page.
pub const MAX_SYNC_LIMIT: u32 = 1000;
/// Page size when `limit` is absent.
pub const DEFAULT_SYNC_LIMIT: u32 = 500;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct SyncQuery {
    /// `next_cursor` of the previous page; absent for a full sync.
    pub cursor: Option<String>,
    /// Changes per page, 1–1000 (default 500).
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    /// Accepted: `transaction_id` tells where it stands (pending, settled, failed later).
    Succeeded,
    /// Definitely refused: do not retry, show `error_code`.
    Failed,
}

/// What became of one money request, by its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OperationOutcome {
    pub idempotency_key: String,
    pub status: OperationStatus,
    /// HTTP status the request was (or would have been) answered with.
    pub http_status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    pub at: i64,
    pub change_seq: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SyncPage {
    /// Changed since the cursor, in change order.
    pub transactions: Vec<Transaction>,
    /// Every balance of the user, with versions.
    pub balances: Vec<Balance>,
    /// Outcomes decided since the cursor, in change order.
    pub operations: Vec<OperationOutcome>,
    /// Store with this page; pass it next time.
    pub next_cursor: String,
    /// Another page is ready now.
    pub has_more: bool,
}
