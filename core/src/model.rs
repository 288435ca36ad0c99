//! Records and enums the apps see. Money is always integer minor units plus a currency code;
//! the wire enums are mirrored here because uniffi derives need local types.

use upay_protocol::api::money as wire;
use upay_protocol::money::{Currency, Money};

use crate::error::{CoreError, CoreResult, ErrorCode};

/// An amount: integer minor units of an ISO 4217 currency (fen for CNY). Never a float.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct Amount {
    pub minor: i64,
    /// ISO 4217 code, e.g. `CNY`.
    pub currency: String,
}

impl From<Money> for Amount {
    fn from(m: Money) -> Amount {
        Amount {
            minor: m.minor,
            currency: m.currency.code().to_owned(),
        }
    }
}

impl Amount {
    pub fn to_money(&self, field: &str) -> CoreResult<Money> {
        let currency = Currency::parse(&self.currency).map_err(|_| CoreError::invalid(field))?;
        Money::new(self.minor, currency).map_err(|_| CoreError::invalid(field))
    }

    /// A positive amount, as every payment needs.
    pub fn to_positive(&self, field: &str) -> CoreResult<Money> {
        let m = self.to_money(field)?;
        if m.minor <= 0 {
            return Err(CoreError::invalid(field));
        }
        Ok(m)
    }
}

macro_rules! mirror_enum {
    ($(#[$m:meta])* $name:ident <=> $wire:path { $($v:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
        pub enum $name { $($v),* }

        impl From<$wire> for $name {
            fn from(w: $wire) -> $name {
                use $wire as W;
                match w { $(W::$v => $name::$v),* }
            }
        }

        impl From<$name> for $wire {
            fn from(v: $name) -> $wire {
                use $wire as W;
                match v { $($name::$v => W::$v),* }
            }
        }
    };
}

mirror_enum!(TransactionKind <=> wire::TransactionKind {
    TransferOut, TransferIn, MerchantPayment, TopUp, Withdrawal, FxConversion, Refund,
    SavingsDeposit, SavingsWithdrawal, Interest,
});
mirror_enum!(TransactionStatus <=> wire::TransactionStatus { Pending, Settled, Failed });
mirror_enum!(Category <=> wire::Category {
    Food, Transport, Shopping, Bills, Entertainment, Travel, Health, Education, Transfer, TopUp,
    Withdrawal, Exchange, Refund, Other,
});
mirror_enum!(CounterpartyKind <=> wire::CounterpartyKind { User, Merchant, Card, External, Own });
mirror_enum!(RiskAction <=> wire::RiskAction { Allow, StepUp, Hold, Block });
mirror_enum!(CardBrand <=> wire::CardBrand { Visa, Mastercard, Unionpay, Amex, Jcb, Other });

/// One balance as the home screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BalanceView {
    pub currency: String,
    /// Server balance minus outgoing payments the server has not confirmed yet: what the user
    /// can count on.
    pub displayed: Amount,
    /// What the server last said can be spent.
    pub server_available: Amount,
    /// Outgoing outbox items not yet reflected in `server_available`.
    pub unconfirmed_out: Amount,
    pub pending_in: Amount,
    pub pending_out: Amount,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransactionView {
    pub id: String,
    pub kind: TransactionKind,
    pub status: TransactionStatus,
    /// Signed effect on the balance: negative for money out.
    pub amount: Amount,
    pub fee: Amount,
    pub category: Category,
    pub counterparty_kind: Option<CounterpartyKind>,
    pub counterparty_id: Option<String>,
    pub counterparty_name: Option<String>,
    pub merchant_name: Option<String>,
    pub merchant_country: Option<String>,
    pub note: Option<String>,
    /// Exact decimal text of the FX rate, e.g. `7.1234`.
    pub fx_rate: Option<String>,
    pub fx_counter_amount: Option<Amount>,
    /// Set when risk review held the payment.
    pub hold_id: Option<String>,
    /// Why it failed, in the client's language.
    pub failure_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The states of an outbox item (see `docs/offline-sync.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum OutboxState {
    /// Waiting to be sent (offline, or waiting for the user's confirmation).
    Queued,
    /// Being sent now (or the app died while sending: treated as `Unknown` on restart).
    Sending,
    /// The server accepted it; the money moved or is held for review.
    Accepted,
    /// The server's transaction settled.
    Settled,
    /// Definitely refused; shown with the reason, never retried.
    Failed,
    /// Sent without a definite answer; retried with the same key until there is one.
    Unknown,
    /// Cancelled by the user before it was sent.
    Cancelled,
    /// Its FX quote expired before it could be sent.
    Expired,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Queued => "queued",
            OutboxState::Sending => "sending",
            OutboxState::Accepted => "accepted",
            OutboxState::Settled => "settled",
            OutboxState::Failed => "failed",
            OutboxState::Unknown => "unknown",
            OutboxState::Cancelled => "cancelled",
            OutboxState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxState> {
        [
            OutboxState::Queued,
            OutboxState::Sending,
            OutboxState::Accepted,
            OutboxState::Settled,
            OutboxState::Failed,
            OutboxState::Unknown,
            OutboxState::Cancelled,
            OutboxState::Expired,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// No further change can happen.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OutboxState::Settled
                | OutboxState::Failed
                | OutboxState::Cancelled
                | OutboxState::Expired
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PaymentKind {
    Transfer,
    MerchantPayment,
    TopUp,
    Withdrawal,
    FxConversion,
    /// Wallet → savings (理财).
    SavingsDeposit,
    /// Savings → wallet.
    SavingsWithdrawal,
}

impl PaymentKind {
    pub const ALL: [PaymentKind; 7] = [
        PaymentKind::Transfer,
        PaymentKind::MerchantPayment,
        PaymentKind::TopUp,
        PaymentKind::Withdrawal,
        PaymentKind::FxConversion,
        PaymentKind::SavingsDeposit,
        PaymentKind::SavingsWithdrawal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentKind::Transfer => "transfer",
            PaymentKind::MerchantPayment => "merchant_payment",
            PaymentKind::TopUp => "top_up",
            PaymentKind::Withdrawal => "withdrawal",
            PaymentKind::FxConversion => "fx_conversion",
            PaymentKind::SavingsDeposit => "savings_deposit",
            PaymentKind::SavingsWithdrawal => "savings_withdrawal",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentKind> {
        PaymentKind::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The item's amount leaves the wallet balance (top-ups and moves out of savings bring
    /// money in). The displayed balance subtracts unconfirmed outgoing items only.
    pub fn is_outgoing(self) -> bool {
        !matches!(self, PaymentKind::TopUp | PaymentKind::SavingsWithdrawal)
    }

    pub fn route(self) -> &'static str {
        match self {
            PaymentKind::Transfer => "/v1/transfers",
            PaymentKind::MerchantPayment => "/v1/merchant-payments",
            PaymentKind::TopUp => "/v1/top-ups",
            PaymentKind::Withdrawal => "/v1/withdrawals",
            PaymentKind::FxConversion => "/v1/fx/conversions",
            PaymentKind::SavingsDeposit => "/v1/savings/deposits",
            PaymentKind::SavingsWithdrawal => "/v1/savings/withdrawals",
        }
    }

    /// The operation a strong-customer-authentication confirmation names; `None` for moves
    /// between the user's own balances, which the server never asks to confirm.
    pub fn sca_operation(self) -> Option<wire::ScaOperation> {
        match self {
            PaymentKind::Transfer => Some(wire::ScaOperation::Transfer),
            PaymentKind::MerchantPayment => Some(wire::ScaOperation::MerchantPayment),
            PaymentKind::TopUp => Some(wire::ScaOperation::TopUp),
            PaymentKind::Withdrawal => Some(wire::ScaOperation::Withdrawal),
            PaymentKind::FxConversion => Some(wire::ScaOperation::FxConversion),
            PaymentKind::SavingsDeposit | PaymentKind::SavingsWithdrawal => None,
        }
    }

    /// Kinds whose answer is a `SavingsMove` (the transaction and the savings balance after).
    pub fn is_savings_move(self) -> bool {
        matches!(
            self,
            PaymentKind::SavingsDeposit | PaymentKind::SavingsWithdrawal
        )
    }
}

/// A risk engine reason the user can read.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RiskInfo {
    pub action: RiskAction,
    pub rule_id: String,
    /// In the client's language (the server localises by `Accept-Language`).
    pub reasons: Vec<String>,
}

impl From<&wire::RiskDecision> for RiskInfo {
    fn from(d: &wire::RiskDecision) -> RiskInfo {
        RiskInfo {
            action: d.action.into(),
            rule_id: d.rule_id.clone(),
            reasons: d.reasons.iter().map(|r| r.message.clone()).collect(),
        }
    }
}

/// What the user must do before an item can be sent.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConfirmationNeeded {
    /// `high_amount`, `new_payee`, `risk_step_up`.
    pub reasons: Vec<String>,
    pub risk: Option<RiskInfo>,
}

/// A payment the user made on this device, from the moment it was queued.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OutboxItem {
    pub id: String,
    pub kind: PaymentKind,
    pub state: OutboxState,
    /// Positive; the wallet currency it moves.
    pub amount: Amount,
    /// Who is paid, for display (masked where it names a person).
    pub payee_label: String,
    pub note: Option<String>,
    pub attempts: u32,
    pub transaction_id: Option<String>,
    pub error_code: Option<ErrorCode>,
    /// Why it failed, in the client's language.
    pub error_message: Option<String>,
    /// Set while the item waits for the user's confirmation on this device.
    pub confirmation: Option<ConfirmationNeeded>,
    /// Set when the risk engine held or blocked it.
    pub risk: Option<RiskInfo>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CardView {
    /// The card's token: the only handle to it.
    pub id: String,
    pub brand: CardBrand,
    pub last4: String,
    /// e.g. `VISA ****4242`.
    pub label: String,
    pub expiry_month: u8,
    pub expiry_year: u16,
    pub is_default: bool,
}

impl From<&wire::Card> for CardView {
    fn from(c: &wire::Card) -> CardView {
        CardView {
            id: c.id.clone(),
            brand: c.brand.into(),
            last4: c.last4.clone(),
            label: format!("{} ****{}", c.brand.label(), c.last4),
            expiry_month: c.expiry_month,
            expiry_year: c.expiry_year,
            is_default: c.is_default,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FxQuoteView {
    pub id: String,
    pub from_currency: String,
    pub to_currency: String,
    /// Exact decimal text, e.g. `0.1385`.
    pub rate: String,
    pub sell: Amount,
    pub fee: Amount,
    pub total_debit: Amount,
    pub buy: Amount,
    /// Server time.
    pub expires_at: i64,
    /// Seconds the quote was valid for when received.
    pub valid_for_secs: u64,
}

impl From<&wire::FxQuote> for FxQuoteView {
    fn from(q: &wire::FxQuote) -> FxQuoteView {
        FxQuoteView {
            id: q.id.clone(),
            from_currency: q.from.code().to_owned(),
            to_currency: q.to.code().to_owned(),
            rate: q.rate.to_string(),
            sell: q.sell.into(),
            fee: q.fee.into(),
            total_debit: q.total_debit.into(),
            buy: q.buy.into(),
            expires_at: q.expires_at,
            valid_for_secs: u64::try_from((q.expires_at - q.created_at).max(0) / 1000).unwrap_or(0),
        }
    }
}

/// Everything the home screen shows, in one call.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HomeSnapshot {
    pub signed_in: bool,
    pub balances: Vec<BalanceView>,
    /// Outbox items not final yet (queued, sending, unknown, accepted), newest first.
    pub pending: Vec<OutboxItem>,
    /// The 20 newest history entries.
    pub recent: Vec<TransactionView>,
    /// When the cache last synced (0 = never).
    pub synced_at: i64,
    /// True when the last network attempt failed for lack of a connection.
    pub offline: bool,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
