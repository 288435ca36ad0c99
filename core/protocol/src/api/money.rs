//! Balances, history, transfers, merchant payments, cards, top-ups, withdrawals, FX, risk
//! decisions and payment confirmation (strong customer authentication).
//!
//! Conventions: every amount is a [`Money`] (integer minor units); a transaction's `amount` is
//! its signed effect on the wallet (negative = money out) and its `fee` is charged on top of it.
//! Every money-moving `POST` needs the `Idempotency-Key` header.

use std::fmt;

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

use crate::money::{Currency, Money};
use crate::rate::Rate;

/// The balance of one currency of the wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Balance {
    pub currency: Currency,
    /// What can be spent now: settled money minus money held for pending payments.
    pub available: Money,
    /// Held for pending outgoing operations (withdrawals before settlement, payments under
    /// review); already excluded from `available`.
    pub pending_out: Money,
    /// Incoming money not yet available (e.g. a top-up under review).
    pub pending_in: Money,
    /// Increases with every change of this balance; a client keeps the highest it has seen.
    pub version: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BalanceList {
    pub balances: Vec<Balance>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    TransferOut,
    TransferIn,
    MerchantPayment,
    TopUp,
    Withdrawal,
    FxConversion,
    Refund,
    /// Wallet → savings (理财); `amount` is the (negative) effect on the wallet.
    SavingsDeposit,
    /// Savings → wallet; `amount` is the (positive) effect on the wallet.
    SavingsWithdrawal,
    /// A day's savings yield. Credited to the savings balance, not the wallet: `amount` is
    /// that credit.
    Interest,
}

impl TransactionKind {
    pub const ALL: [TransactionKind; 10] = [
        TransactionKind::TransferOut,
        TransactionKind::TransferIn,
        TransactionKind::MerchantPayment,
        TransactionKind::TopUp,
        TransactionKind::Withdrawal,
        TransactionKind::FxConversion,
        TransactionKind::Refund,
        TransactionKind::SavingsDeposit,
        TransactionKind::SavingsWithdrawal,
        TransactionKind::Interest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransactionKind::TransferOut => "transfer_out",
            TransactionKind::TransferIn => "transfer_in",
            TransactionKind::MerchantPayment => "merchant_payment",
            TransactionKind::TopUp => "top_up",
            TransactionKind::Withdrawal => "withdrawal",
            TransactionKind::FxConversion => "fx_conversion",
            TransactionKind::Refund => "refund",
            TransactionKind::SavingsDeposit => "savings_deposit",
            TransactionKind::SavingsWithdrawal => "savings_withdrawal",
            TransactionKind::Interest => "interest",
        }
    }

    pub fn parse(text: &str) -> Option<TransactionKind> {
        TransactionKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    Pending,
    Settled,
    Failed,
}

impl TransactionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionStatus::Pending => "pending",
            TransactionStatus::Settled => "settled",
            TransactionStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<TransactionStatus> {
        [
            TransactionStatus::Pending,
            TransactionStatus::Settled,
            TransactionStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// Spending-analysis category of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Food,
    Transport,
    Shopping,
    Bills,
    Entertainment,
    Travel,
    Health,
    Education,
    Transfer,
    TopUp,
    Withdrawal,
    Exchange,
    Refund,
    Other,
}

impl Category {
    pub const ALL: [Category; 14] = [
        Category::Food,
        Category::Transport,
        Category::Shopping,
        Category::Bills,
        Category::Entertainment,
        Category::Travel,
        Category::Health,
        Category::Education,
        Category::Transfer,
        Category::TopUp,
        Category::Withdrawal,
        Category::Exchange,
        Category::Refund,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Food => "food",
            Category::Transport => "transport",
            Category::Shopping => "shopping",
            Category::Bills => "bills",
            Category::Entertainment => "entertainment",
            Category::Travel => "travel",
            Category::Health => "health",
            Category::Education => "education",
            Category::Transfer => "transfer",
            Category::TopUp => "top_up",
            Category::Withdrawal => "withdrawal",
            Category::Exchange => "exchange",
            Category::Refund => "refund",
            Category::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CounterpartyKind {
    /// Another uPay account.
    User,
    Merchant,
    /// One of the user's own linked bank cards.
    Card,
    /// A sender or bank outside uPay.
    External,
    /// The user's own balance in another currency (FX conversion).
    Own,
}

impl CounterpartyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CounterpartyKind::User => "user",
            CounterpartyKind::Merchant => "merchant",
            CounterpartyKind::Card => "card",
            CounterpartyKind::External => "external",
            CounterpartyKind::Own => "own",
        }
    }

    pub fn parse(text: &str) -> Option<CounterpartyKind> {
        [
            CounterpartyKind::User,
            CounterpartyKind::Merchant,
            CounterpartyKind::Card,
            CounterpartyKind::External,
            CounterpartyKind::Own,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// Who is on the other side of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Counterparty {
    pub kind: CounterpartyKind,
    /// Account id, merchant id, card id, or an opaque id of an external party.
    pub id: String,
    /// Display name (a card shows as e.g. `VISA ****4242`).
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MerchantRef {
    pub merchant_id: String,
    pub name: String,
    pub category: Category,
    /// ISO 3166-1 alpha-2 code of the merchant's country or region.
    pub country: String,
}

/// The other side of a currency conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FxDetail {
    /// 1 unit of `amount`'s currency = `rate` units of `counter_amount`'s currency.
    pub rate: Rate,
    /// What was received in the other currency (or what the merchant was paid).
    pub counter_amount: Money,
}

/// Why a transaction failed. Stable codes; a client that does not know one shows a generic
/// failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// Held by risk review and rejected.
    RiskRejected,
    /// The receiving bank refused the withdrawal.
    BankRejected,
    /// The card was removed before the withdrawal settled.
    CardRemoved,
    #[serde(other)]
    Unknown,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::RiskRejected => "risk_rejected",
            FailureCode::BankRejected => "bank_rejected",
            FailureCode::CardRemoved => "card_removed",
            FailureCode::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> FailureCode {
        [
            FailureCode::RiskRejected,
            FailureCode::BankRejected,
            FailureCode::CardRemoved,
        ]
        .into_iter()
        .find(|c| c.as_str() == text)
        .unwrap_or(FailureCode::Unknown)
    }

    /// User-safe text in Simplified Chinese or English.
    pub fn message(self, zh: bool) -> &'static str {
        match (self, zh) {
            (FailureCode::RiskRejected, true) => "该笔交易未通过安全审核，资金已退回",
            (FailureCode::RiskRejected, false) => {
                "The payment did not pass the security review; the money was returned"
            }
            (FailureCode::BankRejected, true) => "收款银行拒绝入账，资金已退回余额",
            (FailureCode::BankRejected, false) => {
                "The receiving bank refused the transfer; the money was returned to your balance"
            }
            (FailureCode::CardRemoved, true) => "银行卡已解绑，资金已退回余额",
            (FailureCode::CardRemoved, false) => {
                "The card was removed; the money was returned to your balance"
            }
            (FailureCode::Unknown, true) => "交易失败",
            (FailureCode::Unknown, false) => "The transaction failed",
        }
    }
}

/// One entry of the history: one row per user per operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Transaction {
    pub id: String,
    pub kind: TransactionKind,
    pub status: TransactionStatus,
    /// Signed effect on the wallet balance of `amount.currency`: negative for money out
    /// (`interest`: the credit to the savings balance).
    pub amount: Money,
    /// Charged on top of `amount`, in the same currency; zero when free.
    pub fee: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<Counterparty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub category: Category,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant: Option<MerchantRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fx: Option<FxDetail>,
    /// Set while (or after) the operation was held for risk review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<FailureCode>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Position in the sandbox-wide change order (what sync cursors count).
    pub change_seq: i64,
}

/// A page of history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TransactionPage {
    pub items: Vec<Transaction>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Filters of `GET /v1/transactions`; every one is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct TransactionQuery {
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<u32>,
    pub kind: Option<TransactionKind>,
    pub status: Option<TransactionStatus>,
    pub category: Option<Category>,
    /// Created at or after (epoch ms).
    pub from: Option<i64>,
    /// Created before (epoch ms).
    pub to: Option<i64>,
    /// Account, merchant or card id of the other side.
    pub counterparty: Option<String>,
    pub currency: Option<Currency>,
    /// Smallest absolute amount, in minor units.
    pub min_minor: Option<i64>,
    /// Largest absolute amount, in minor units.
    pub max_minor: Option<i64>,
    /// Text search over counterparty, note and merchant (Chinese or English), 1–64 characters.
    pub q: Option<String>,
}

/// Who to pay: exactly one of an account id, a phone number or a scanned personal QR code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PayeeRef {
    /// `U` followed by 10 digits.
    AccountId(String),
    /// Mainland mobile number or E.164.
    Phone(String),
    /// The text of a scanned personal (`UPAY1:P…`) code.
    Qr(String),
}

/// A device's confirmation of one operation (see `POST /v1/sca/challenges`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ScaProof {
    pub challenge_id: String,
    /// Base64 of the ASN.1 DER ECDSA P-256 SHA-256 signature over the challenge's payload.
    pub signature: String,
}

impl fmt::Debug for ScaProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScaProof")
            .field("challenge_id", &self.challenge_id)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/transfers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TransferRequest {
    pub to: PayeeRef,
    /// Required unless the scanned code carries a fixed amount (then it must match or be absent).
    #[serde(default)]
    pub amount: Option<Money>,
    /// At most 140 characters.
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub sca: Option<ScaProof>,
}

/// `GET /v1/payees/lookup`: exactly one of the two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct PayeeQuery {
    pub phone: Option<String>,
    pub account_id: Option<String>,
}

/// The payee to confirm before paying: never the full name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Payee {
    pub account_id: String,
    /// e.g. `*伟` or `Z**g`.
    pub masked_name: String,
}

/// What the wallet knows about a merchant code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MerchantCheck {
    pub merchant_id: String,
    /// The registered name (the name printed in a code is not trusted).
    pub name: String,
    pub currency: Currency,
    pub country: String,
    pub category: Category,
    pub supported: bool,
    /// Why not: `unknown_merchant`, `merchant_not_supported` or `merchant_blocked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The fixed amount of the code, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct MerchantCheckQuery {
    /// The scanned merchant code text.
    pub qr: String,
}

/// `POST /v1/merchant-payments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MerchantPaymentRequest {
    /// The scanned merchant code text.
    pub qr: String,
    /// In the merchant's currency; required unless the code has a fixed amount.
    #[serde(default)]
    pub amount: Option<Money>,
    /// Pay from another currency: a quote whose `to` is the merchant's currency and whose
    /// `buy` is the amount.
    #[serde(default)]
    pub fx_quote_id: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub sca: Option<ScaProof>,
}

/// `POST /v1/top-ups`: from a linked card into the wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TopUpRequest {
    /// The default card when absent.
    #[serde(default)]
    pub card_id: Option<String>,
    pub amount: Money,
    #[serde(default)]
    pub sca: Option<ScaProof>,
}

/// `POST /v1/withdrawals`: from the wallet to a linked card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WithdrawalRequest {
    /// The default card when absent.
    #[serde(default)]
    pub card_id: Option<String>,
    pub amount: Money,
    #[serde(default)]
    pub sca: Option<ScaProof>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Withdrawal {
    pub id: String,
    /// The history entry of this withdrawal.
    pub transaction_id: String,
    pub card_id: String,
    /// e.g. `VISA ****4242`.
    pub card_label: String,
    pub amount: Money,
    pub fee: Money,
    pub status: TransactionStatus,
    pub expected_arrival_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<FailureCode>,
    /// User-readable reason, in the request's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WithdrawalList {
    /// Newest first, at most 100.
    pub items: Vec<Withdrawal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CardBrand {
    Visa,
    Mastercard,
    Unionpay,
    Amex,
    Jcb,
    Other,
}

impl CardBrand {
    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Unionpay => "unionpay",
            CardBrand::Amex => "amex",
            CardBrand::Jcb => "jcb",
            CardBrand::Other => "other",
        }
    }

    pub fn parse(text: &str) -> CardBrand {
        [
            CardBrand::Visa,
            CardBrand::Mastercard,
            CardBrand::Unionpay,
            CardBrand::Amex,
            CardBrand::Jcb,
        ]
        .into_iter()
        .find(|b| b.as_str() == text)
        .unwrap_or(CardBrand::Other)
    }

    /// Upper-case label as printed on cards and receipts.
    pub fn label(self) -> &'static str {
        match self {
            CardBrand::Visa => "VISA",
            CardBrand::Mastercard => "MASTERCARD",
            CardBrand::Unionpay => "UNIONPAY",
            CardBrand::Amex => "AMEX",
            CardBrand::Jcb => "JCB",
            CardBrand::Other => "CARD",
        }
    }
}

/// `POST /v1/cards`. The number and CVV are checked, never stored and never logged: `Debug`
/// redacts them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LinkCardRequest {
    /// 12–19 digits; spaces and hyphens between digits are ignored.
    pub number: String,
    /// 1–12.
    pub expiry_month: u8,
    /// Four digits, e.g. 2030.
    pub expiry_year: u16,
    /// 1–64 characters.
    pub holder_name: String,
    /// 3 digits (4 for AMEX); checked and discarded.
    #[serde(default)]
    pub cvv: Option<String>,
}

impl fmt::Debug for LinkCardRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkCardRequest")
            .field("expiry_month", &self.expiry_month)
            .field("expiry_year", &self.expiry_year)
            .finish_non_exhaustive()
    }
}

/// A linked card as the wallet keeps it: a token and what can be shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Card {
    /// Random token standing for the card; the only handle to it.
    pub id: String,
    pub brand: CardBrand,
    pub last4: String,
    pub expiry_month: u8,
    pub expiry_year: u16,
    pub holder_name: String,
    pub is_default: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CardList {
    pub cards: Vec<Card>,
}

/// A country or region and what the wallet supports there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Country {
    /// ISO 3166-1 alpha-2.
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub currency: Currency,
    /// Paying merchants there.
    pub payments_supported: bool,
    /// Sending money to accounts there.
    pub transfers_supported: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CountryList {
    pub countries: Vec<Country>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CurrencyInfo {
    pub code: Currency,
    /// Decimal places of the minor unit.
    pub exponent: u8,
    pub name_zh: String,
    pub name_en: String,
    /// The wallet can hold a balance in it.
    pub wallet_supported: bool,
    /// FX quotes are available for it.
    pub fx_supported: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CurrencyList {
    pub currencies: Vec<CurrencyInfo>,
}

/// `POST /v1/fx/quotes`: exactly one of `sell` (in `from`) and `buy` (in `to`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FxQuoteRequest {
    pub from: Currency,
    pub to: Currency,
    #[serde(default)]
    pub sell: Option<Money>,
    #[serde(default)]
    pub buy: Option<Money>,
}

/// An FX quote: everything the customer pays and gets, fixed until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FxQuote {
    pub id: String,
    pub from: Currency,
    pub to: Currency,
    /// 1 `from` = `rate` `to` (the customer's rate, spread included).
    pub rate: Rate,
    /// Converted at `rate`, in `from`.
    pub sell: Money,
    /// Charged on top of `sell`, in `from`.
    pub fee: Money,
    /// `sell + fee`: what leaves the `from` balance.
    pub total_debit: Money,
    /// What arrives, in `to`.
    pub buy: Money,
    pub created_at: i64,
    pub expires_at: i64,
}

/// `POST /v1/fx/conversions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FxConversionRequest {
    pub quote_id: String,
    #[serde(default)]
    pub sca: Option<ScaProof>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RiskAction {
    Allow,
    /// Confirm on the device (strong customer authentication) first.
    StepUp,
    /// Accepted but held for review; the money is reserved meanwhile.
    Hold,
    Block,
}

impl RiskAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskAction::Allow => "allow",
            RiskAction::StepUp => "step_up",
            RiskAction::Hold => "hold",
            RiskAction::Block => "block",
        }
    }

    pub fn parse(text: &str) -> Option<RiskAction> {
        [
            RiskAction::Allow,
            RiskAction::StepUp,
            RiskAction::Hold,
            RiskAction::Block,
        ]
        .into_iter()
        .find(|a| a.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RiskReason {
    /// Stable rule id, e.g. `velocity`, `new_device`, `amount_spike`.
    pub rule_id: String,
    /// Readable by the user, in the request's language.
    pub message: String,
}

/// The risk engine's verdict on one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RiskDecision {
    pub action: RiskAction,
    /// The rule that decided the action (`none` when nothing stood out).
    pub rule_id: String,
    /// 0–100-ish sum of the signals' weights.
    pub score: u32,
    /// Every signal that contributed, most severe first.
    pub reasons: Vec<RiskReason>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    Pending,
    Released,
    Rejected,
}

impl HoldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Pending => "pending",
            HoldStatus::Released => "released",
            HoldStatus::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<HoldStatus> {
        [
            HoldStatus::Pending,
            HoldStatus::Released,
            HoldStatus::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// An operation held for risk review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RiskHold {
    pub id: String,
    pub transaction_id: String,
    pub status: HoldStatus,
    pub decision: RiskDecision,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<i64>,
}

/// Pushed when the risk engine did anything but allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RiskAlert {
    pub decision: RiskDecision,
    /// The operation's history entry, when one was created (not for blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    pub at: i64,
}

/// `POST /v1/risk/not-me`: "this wasn't me".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NotMeRequest {
    /// The transaction the user does not recognise, if the report is about one.
    #[serde(default)]
    pub transaction_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NotMeResult {
    pub frozen: bool,
    /// What happens next, in the request's language.
    pub message: String,
}

/// `PUT /v1/devices/current/signing-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SigningKeyRequest {
    /// Base64 of the SEC1 uncompressed P-256 public point (65 bytes, starting 0x04).
    pub public_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ScaOperation {
    Transfer,
    MerchantPayment,
    TopUp,
    Withdrawal,
    FxConversion,
}

impl ScaOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            ScaOperation::Transfer => "transfer",
            ScaOperation::MerchantPayment => "merchant_payment",
            ScaOperation::TopUp => "top_up",
            ScaOperation::Withdrawal => "withdrawal",
            ScaOperation::FxConversion => "fx_conversion",
        }
    }

    pub fn parse(text: &str) -> Option<ScaOperation> {
        [
            ScaOperation::Transfer,
            ScaOperation::MerchantPayment,
            ScaOperation::TopUp,
            ScaOperation::Withdrawal,
            ScaOperation::FxConversion,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }
}

/// What a confirmation binds. `operation_id` is the `Idempotency-Key` of the money request that
/// will carry the confirmation; `payee` is the recipient's account id (transfers), the merchant
/// id (merchant payments), the card id (top-ups, withdrawals) or the user's own account id (FX
/// conversions); `amount` is the request's amount (merchant payments: in the merchant's
/// currency; FX conversions: the quote's `total_debit`). `sca_required` errors say exactly what
/// to put here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ScaChallengeRequest {
    pub operation: ScaOperation,
    pub operation_id: String,
    pub amount: Money,
    pub payee: String,
}

/// A single-use challenge to sign with the device key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ScaChallenge {
    pub challenge_id: String,
    /// Random, base64url.
    pub challenge: String,
    pub operation: ScaOperation,
    pub operation_id: String,
    pub amount: Money,
    pub payee: String,
    pub expires_at: i64,
    /// Hex of `ScaPayload::canonical_bytes` — exactly the bytes to sign.
    pub payload_hex: String,
}

/// `data` of an `sca_required` problem: what to confirm and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ScaRequirement {
    pub operation: ScaOperation,
    pub operation_id: String,
    pub amount: Money,
    pub payee: String,
    /// Why: `high_amount`, `new_payee` and/or `risk_step_up`.
    pub reasons: Vec<String>,
    /// The risk decision, when the risk engine asked for the step-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<RiskDecision>,
}
