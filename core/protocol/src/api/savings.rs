//! Savings (理财): an interest-bearing balance per currency beside the wallet, with a published
//! annual rate and a daily yield credited at midnight China time. Moving money in and out goes
//! through the ledger; both moves need the `Idempotency-Key` header.
//!
//! Interest rule (see `docs/savings-and-paycode.md`): at each midnight (Asia/Shanghai) the day's
//! interest is `balance at that midnight × annual_rate / 365`, rounded down to the minor unit,
//! and is added to the savings balance (so it earns interest from the next day on).

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

use crate::api::money::Transaction;
use crate::money::{Currency, Money};
use crate::rate::Rate;

/// The savings balance of one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SavingsBalance {
    pub currency: Currency,
    pub balance: Money,
    /// Published annual rate as an exact decimal string, e.g. `"0.0185"` for 1.85 %.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "0.0185"))]
    pub annual_rate: Rate,
    /// The yield credited at the last midnight (zero when there was none).
    pub yesterday_yield: Money,
    /// Every yield credited so far.
    pub cumulative_yield: Money,
    /// The last China-time day (`YYYY-MM-DD`) whose interest was credited, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accrued_through: Option<String>,
    /// When the next day's interest is credited (next midnight, China time).
    pub next_accrual_at: i64,
}

/// `GET /v1/savings`: every savings product, held or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SavingsOverview {
    pub accounts: Vec<SavingsBalance>,
    pub as_of: i64,
}

/// `POST /v1/savings/deposits` (wallet → savings) and `POST /v1/savings/withdrawals`
/// (savings → wallet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SavingsMoveRequest {
    pub amount: Money,
}

/// The answer to a move: its history entry and the savings balance after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SavingsMove {
    pub transaction: Transaction,
    pub savings: SavingsBalance,
}

/// One day's yield.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SavingsYield {
    /// The China-time day the interest is for (`YYYY-MM-DD`).
    pub date: String,
    pub currency: Currency,
    /// The savings balance at that day's closing midnight, before the interest.
    pub balance: Money,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "0.0185"))]
    pub annual_rate: Rate,
    /// `balance × annual_rate / 365`, rounded down to the minor unit.
    pub amount: Money,
    /// The `interest` history entry; absent when the yield rounded down to zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// The midnight it was credited at.
    pub credited_at: i64,
}

/// `GET /v1/savings/yields`: newest day first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SavingsYieldPage {
    pub items: Vec<SavingsYield>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct SavingsYieldQuery {
    /// Only this currency's yields.
    pub currency: Option<Currency>,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–100 (default 30).
    pub limit: Option<u32>,
}
