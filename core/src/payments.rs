//! Payments: every money-moving request becomes an outbox item first (its idempotency key is
//! persisted before the first send), then is sent at once when there is a network, or later by
//! the worker. Risk decisions come back as typed outcomes, never as generic errors: step-up
//! (confirm on this device), hold (with the reason), block.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::Method;
use ring::rand::{SecureRandom, SystemRandom};
use upay_protocol::api::auth::normalize_phone;
use upay_protocol::api::money::{
    Card, CardList, FxConversionRequest, FxQuote, FxQuoteRequest, LinkCardRequest, MerchantCheck,
    MerchantPaymentRequest, NotMeRequest, NotMeResult, Payee, PayeeRef, ScaChallenge,
    ScaChallengeRequest, ScaProof, TopUpRequest, TransferRequest, WithdrawalList,
    WithdrawalRequest,
};
use upay_protocol::money::{Currency, Money};
use upay_protocol::qr::{QrPayload, is_account_id};
use upay_protocol::sca::ScaPayload;

use crate::api::{NetError, decode, query_value};
use crate::core::{Core, net};
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::events::WalletEvent;
use crate::model::{
    Amount, CardView, ConfirmationNeeded, FxQuoteView, OutboxItem, OutboxState, PaymentKind,
    RiskInfo, TransactionView, now_ms,
};
use crate::store::outbox::{self, OutboxRow};
use crate::store::{mirror, outbox::NewItem};
use crate::sync::push::{self, ItemAction, ItemBody, action_place, body_place};

/// Who to pay.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PayeeInput {
    /// A uPay account id (`U` + 10 digits).
    AccountId { account_id: String },
    /// A mobile number.
    Phone { phone: String },
    /// The text of a scanned personal code.
    Qr { text: String },
}

/// What became of a payment the user just made.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PaymentOutcome {
    /// The server accepted it (settled, or pending settlement).
    Completed {
        item: OutboxItem,
        transaction: Option<TransactionView>,
    },
    /// Accepted but held for risk review; the money is reserved meanwhile.
    Held {
        item: OutboxItem,
        risk: Option<RiskInfo>,
    },
    /// No network (or no answer yet): it waits in the outbox and is sent automatically.
    Queued { item: OutboxItem },
    /// The user must confirm on this device (`confirm_payment`).
    ConfirmationRequired {
        item: OutboxItem,
        confirmation: ConfirmationNeeded,
    },
    /// Blocked by the risk engine.
    Blocked {
        item: OutboxItem,
        risk: Option<RiskInfo>,
    },
    /// Definitely refused.
    Failed {
        item: OutboxItem,
        code: ErrorCode,
        message: String,
    },
    /// The FX quote expired; `new_quote` is the current rate to offer.
    QuoteExpired {
        item: OutboxItem,
        new_quote: Option<FxQuoteView>,
    },
}

impl PaymentOutcome {
    /// The outbox item every outcome carries.
    pub fn item(&self) -> &OutboxItem {
        match self {
            PaymentOutcome::Completed { item, .. }
            | PaymentOutcome::Held { item, .. }
            | PaymentOutcome::Queued { item }
            | PaymentOutcome::ConfirmationRequired { item, .. }
            | PaymentOutcome::Blocked { item, .. }
            | PaymentOutcome::Failed { item, .. }
            | PaymentOutcome::QuoteExpired { item, .. } => item,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MerchantInfo {
    pub merchant_id: String,
    /// The registered name (not the one printed in the code).
    pub name: String,
    pub currency: String,
    pub country: String,
    pub supported: bool,
    /// Why not, when not supported.
    pub reason: Option<String>,
    pub fixed_amount: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PayeeView {
    pub account_id: String,
    pub masked_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WithdrawalView {
    pub id: String,
    pub transaction_id: String,
    pub card_label: String,
    pub amount: Amount,
    pub fee: Amount,
    pub status: crate::model::TransactionStatus,
    pub expected_arrival_at: i64,
    pub failure_reason: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NotMeOutcome {
    pub frozen: bool,
    pub message: String,
}

pub(crate) fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 16];
    SystemRandom::new().fill(&mut b).expect("system randomness");
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{prefix}{hex}")
}

fn code_from_text(text: &str) -> ErrorCode {
    match text {
        "key_lost" => ErrorCode::KeyLost,
        "transaction_failed" => ErrorCode::Unknown,
        other => serde_json::from_value::<upay_protocol::error::ErrorCode>(
            serde_json::Value::String(other.to_owned()),
        )
        .map(ErrorCode::from)
        .unwrap_or(ErrorCode::Unknown),
    }
}

/// The app's view of an outbox row; `None` when it is not readable by `user`.
pub fn item_view(core: &Core, user: &str, row: &OutboxRow) -> Option<OutboxItem> {
    let zh = core.zh();
    let body: Option<ItemBody> = core
        .cipher
        .open_json(&body_place(&row.id, user), &row.body)
        .ok();
    // Items that lost their key still show state and amount.
    if body.is_none() && row.error_code.as_deref() != Some("key_lost") {
        return None;
    }
    let action: ItemAction = row
        .action
        .as_ref()
        .and_then(|a| core.cipher.open_json(&action_place(&row.id, user), a).ok())
        .unwrap_or_default();
    let code = row
        .error_code
        .as_deref()
        .filter(|c| *c != "sca_required")
        .map(code_from_text);
    let message = code.map(|c| match (row.error_code.as_deref(), &row.transaction_id) {
        (Some("transaction_failed"), Some(id)) => core
            .store
            .read(|c| {
                Ok(c.query_row(
                    &format!(
                        "SELECT {} FROM transactions WHERE id = ?1",
                        mirror::TX_COLUMNS
                    ),
                    [id],
                    |r| mirror::tx_from_row(&core.cipher, user, zh, r),
                )
                .ok()
                .flatten()
                .and_then(|t| t.failure_reason))
            })
            .ok()
            .flatten()
            .unwrap_or_else(|| c.message(zh)),
        _ => c.message(zh),
    });
    Some(OutboxItem {
        id: row.id.clone(),
        kind: row.kind,
        state: row.state,
        amount: Amount {
            minor: row.amount,
            currency: row.currency.clone(),
        },
        payee_label: body
            .as_ref()
            .map(|b| b.payee_label.clone())
            .unwrap_or_default(),
        note: body.and_then(|b| b.note),
        attempts: row.attempts,
        transaction_id: row.transaction_id.clone(),
        error_code: code,
        error_message: message,
        confirmation: action
            .confirmation
            .filter(|_| row.state == OutboxState::Queued)
            .map(|c| ConfirmationNeeded {
                reasons: c.reasons.clone(),
                risk: c.risk.as_ref().map(RiskInfo::from),
            }),
        risk: action.risk.as_ref().map(RiskInfo::from),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn outcome(
    core: &Core,
    user: &str,
    row: &OutboxRow,
    sent: push::Sent,
) -> CoreResult<PaymentOutcome> {
    let item = item_view(core, user, row).ok_or_else(|| CoreError::client(ErrorCode::Storage))?;
    let action: ItemAction = row
        .action
        .as_ref()
        .and_then(|a| core.cipher.open_json(&action_place(&row.id, user), a).ok())
        .unwrap_or_default();
    let zh = core.zh();
    Ok(match row.state {
        OutboxState::Accepted | OutboxState::Settled => {
            let held = sent
                .transaction
                .as_ref()
                .is_some_and(|t| t.hold_id.is_some())
                || action
                    .risk
                    .as_ref()
                    .is_some_and(|r| r.action == upay_protocol::api::money::RiskAction::Hold);
            if held {
                PaymentOutcome::Held {
                    risk: action.risk.as_ref().map(RiskInfo::from),
                    item,
                }
            } else {
                let transaction = match &row.transaction_id {
                    Some(id) => crate::history::by_id(core, id)?,
                    None => None,
                };
                PaymentOutcome::Completed { item, transaction }
            }
        }
        OutboxState::Queued if item.confirmation.is_some() => {
            PaymentOutcome::ConfirmationRequired {
                confirmation: item.confirmation.clone().expect("checked"),
                item,
            }
        }
        OutboxState::Queued | OutboxState::Sending | OutboxState::Unknown => {
            PaymentOutcome::Queued { item }
        }
        OutboxState::Expired => PaymentOutcome::QuoteExpired {
            new_quote: match action.new_quote {
                Some(q) => {
                    remember_quote(core, user, &q)?;
                    Some(FxQuoteView::from(&q))
                }
                None => None,
            },
            item,
        },
        OutboxState::Failed | OutboxState::Cancelled => {
            let code = item.error_code.unwrap_or(ErrorCode::Unknown);
            if matches!(code, ErrorCode::RiskBlocked) {
                PaymentOutcome::Blocked {
                    risk: action.risk.as_ref().map(RiskInfo::from),
                    item,
                }
            } else {
                PaymentOutcome::Failed {
                    message: code.message(zh),
                    code,
                    item,
                }
            }
        }
    })
}

struct Draft {
    kind: PaymentKind,
    request: serde_json::Value,
    /// What the item moves (its direction is the kind's: see [`PaymentKind::is_outgoing`]).
    amount: Money,
    payee_label: String,
    note: Option<String>,
    confirm_amount: Option<Money>,
    confirm_payee: Option<String>,
}

/// Persists the item (and its idempotency key) before anything is sent, then sends what is due.
async fn submit(core: &Core, draft: Draft) -> CoreResult<PaymentOutcome> {
    core.ensure_unlocked()?;
    let (user, owner) = core.user()?;
    let id = random_id("ob_");
    let key = random_id("idem_");
    let body = core.cipher.seal_json(
        &body_place(&id, &user),
        &ItemBody {
            request: draft.request,
            payee_label: draft.payee_label,
            note: draft.note,
            confirm_amount: draft.confirm_amount,
            confirm_payee: draft.confirm_payee,
        },
    )?;
    let now = now_ms();
    core.store.write(|tx| {
        outbox::insert(
            tx,
            &NewItem {
                id: &id,
                idempotency_key: &key,
                owner_tag: owner,
                kind: draft.kind,
                currency: draft.amount.currency.code(),
                amount: draft.amount.minor,
                body: &body,
                now,
            },
        )?;
        Ok(())
    })?;
    tracing::info!(item = %id, kind = draft.kind.as_str(), "payment queued");
    let row = core
        .store
        .read(|c| Ok(outbox::get(c, &id)?))?
        .ok_or_else(|| CoreError::client(ErrorCode::Storage))?;
    // Earlier due items go first: the user's order is the sending order.
    let _ = push::flush_before(core, &row).await;
    let (after, sent) = {
        let _guard = core.send_lock.lock().await;
        let current = core
            .store
            .read(|c| Ok(outbox::get(c, &id)?))?
            .unwrap_or(row);
        if matches!(current.state, OutboxState::Queued | OutboxState::Unknown) {
            push::send_item(core, &current, None).await?
        } else {
            (current, push::Sent::default())
        }
    };
    let result = outcome(core, &user, &after, sent)?;
    emit_item(core, &user, &after)?;
    // The worker recomputes when to try waiting items again.
    core.wake.notify_one();
    Ok(result)
}

/// Queues and sends a move between the user's own balances (wallet ⇄ savings): an outbox
/// item like a payment, with no payee to confirm.
pub(crate) async fn submit_own_move(
    core: &Core,
    kind: PaymentKind,
    request: serde_json::Value,
    amount: Money,
    label: String,
) -> CoreResult<PaymentOutcome> {
    submit(
        core,
        Draft {
            kind,
            request,
            amount,
            payee_label: label,
            note: None,
            confirm_amount: None,
            confirm_payee: None,
        },
    )
    .await
}

fn emit_item(core: &Core, user: &str, row: &OutboxRow) -> CoreResult<()> {
    let mut batch = vec![WalletEvent::BalancesChanged {
        balances: core.balance_views()?,
    }];
    if let Some(item) = item_view(core, user, row) {
        batch.push(WalletEvent::OutboxChanged { items: vec![item] });
    }
    core.events.emit(batch);
    Ok(())
}

fn check_note(core: &Core, note: &Option<String>) -> CoreResult<()> {
    if note.as_ref().is_some_and(|n| n.chars().count() > 140) {
        return Err(CoreError::invalid("note").localized(core.zh()));
    }
    Ok(())
}

fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".to_owned(),
        n if chars.iter().any(|c| crate::text::is_cjk(*c)) => {
            format!("{}{}", "*".repeat(n - 1), chars[n - 1])
        }
        n => format!(
            "{}{}{}",
            chars[0],
            "*".repeat(n.saturating_sub(2)),
            chars[n - 1]
        ),
    }
}

pub fn mask_name_for_display(name: &str) -> String {
    mask_name(name)
}

/// Transfer to another uPay account, by account id, phone number or scanned personal code.
pub async fn transfer(
    core: &Core,
    to: PayeeInput,
    amount: Option<Amount>,
    note: Option<String>,
) -> CoreResult<PaymentOutcome> {
    check_note(core, &note)?;
    let zh = core.zh();
    let (payee, label, fixed, confirm_payee) = match to {
        PayeeInput::AccountId { account_id } => {
            if !is_account_id(&account_id) {
                return Err(CoreError::invalid("account_id").localized(zh));
            }
            let label = account_id.clone();
            (
                PayeeRef::AccountId(account_id.clone()),
                label,
                None,
                Some(account_id),
            )
        }
        PayeeInput::Phone { phone } => {
            let e164 =
                normalize_phone(&phone).ok_or_else(|| CoreError::invalid("phone").localized(zh))?;
            let label = upay_protocol::api::auth::mask_phone(&e164);
            (PayeeRef::Phone(e164), label, None, None)
        }
        PayeeInput::Qr { text } => match QrPayload::decode(&text) {
            Ok(QrPayload::Personal(code)) => {
                let label = code
                    .name
                    .as_deref()
                    .map(mask_name)
                    .unwrap_or_else(|| code.account_id.clone());
                (
                    PayeeRef::Qr(text),
                    label,
                    code.amount,
                    Some(code.account_id),
                )
            }
            _ => return Err(CoreError::client(ErrorCode::QrInvalid).localized(zh)),
        },
    };
    let amount = match (amount, fixed) {
        (Some(a), Some(f)) => {
            let a = a.to_positive("amount")?;
            if a != f {
                return Err(CoreError::invalid("amount").localized(zh));
            }
            a
        }
        (Some(a), None) => a.to_positive("amount").map_err(|e| e.localized(zh))?,
        (None, Some(f)) => f,
        (None, None) => return Err(CoreError::invalid("amount").localized(zh)),
    };
    let request = TransferRequest {
        to: payee,
        amount: Some(amount),
        note: note.clone(),
        sca: None,
    };
    submit(
        core,
        Draft {
            kind: PaymentKind::Transfer,
            request: serde_json::to_value(&request).unwrap_or_default(),
            amount,
            payee_label: label,
            note,
            confirm_amount: Some(amount),
            confirm_payee,
        },
    )
    .await
}

/// Looks a payee up before paying (shows the masked name to confirm).
pub async fn lookup_payee(core: &Core, to: PayeeInput) -> CoreResult<PayeeView> {
    core.ensure_unlocked()?;
    let zh = core.zh();
    let query = match to {
        PayeeInput::AccountId { account_id } if is_account_id(&account_id) => {
            format!("account_id={}", query_value(&account_id))
        }
        PayeeInput::Phone { phone } => {
            let e164 =
                normalize_phone(&phone).ok_or_else(|| CoreError::invalid("phone").localized(zh))?;
            format!("phone={}", query_value(&e164))
        }
        PayeeInput::Qr { text } => match QrPayload::decode(&text) {
            Ok(QrPayload::Personal(c)) => format!("account_id={}", query_value(&c.account_id)),
            _ => return Err(CoreError::client(ErrorCode::QrInvalid).localized(zh)),
        },
        PayeeInput::AccountId { .. } => return Err(CoreError::invalid("account_id").localized(zh)),
    };
    let answer = core
        .send_authed(
            Method::GET,
            &format!("/v1/payees/lookup?{query}"),
            None,
            None,
            core.interactive(),
        )
        .await
        .map_err(net(core))?;
    let payee: Payee = decode(&answer).map_err(net(core))?;
    let (user, _) = core.user()?;
    core.store
        .write(|tx| mirror::put_payee(tx, &core.cipher, &user, &payee, now_ms()))?;
    Ok(PayeeView {
        account_id: payee.account_id,
        masked_name: payee.masked_name,
    })
}

/// "Is this merchant supported?" for a scanned merchant code (needs the network: the server's
/// registry is the truth, the name printed in a code is not trusted).
pub async fn check_merchant(core: &Core, qr: &str) -> CoreResult<MerchantInfo> {
    core.ensure_unlocked()?;
    match QrPayload::decode(qr) {
        Ok(QrPayload::Merchant(_)) => {}
        _ => return Err(CoreError::client(ErrorCode::QrInvalid).localized(core.zh())),
    }
    let answer = core
        .send_authed(
            Method::GET,
            &format!("/v1/merchants/check?qr={}", query_value(qr)),
            None,
            None,
            core.interactive(),
        )
        .await
        .map_err(net(core))?;
    let m: MerchantCheck = decode(&answer).map_err(net(core))?;
    Ok(MerchantInfo {
        merchant_id: m.merchant_id,
        name: m.name,
        currency: m.currency.code().to_owned(),
        country: m.country,
        supported: m.supported,
        reason: m.reason,
        fixed_amount: m.amount.map(Amount::from),
    })
}

/// Pays a merchant code, in the merchant's currency, or from another currency with an FX
/// quote whose `buy` is the amount (international payment).
pub async fn pay_merchant(
    core: &Core,
    qr: String,
    amount: Option<Amount>,
    fx_quote_id: Option<String>,
    note: Option<String>,
) -> CoreResult<PaymentOutcome> {
    check_note(core, &note)?;
    let zh = core.zh();
    let code = match QrPayload::decode(&qr) {
        Ok(QrPayload::Merchant(m)) => m,
        _ => return Err(CoreError::client(ErrorCode::QrInvalid).localized(zh)),
    };
    let amount = match (amount, code.amount) {
        (Some(a), Some(f)) if a.to_positive("amount")? != f => {
            return Err(CoreError::invalid("amount").localized(zh));
        }
        (_, Some(f)) => f,
        (Some(a), None) => a.to_positive("amount").map_err(|e| e.localized(zh))?,
        (None, None) => return Err(CoreError::invalid("amount").localized(zh)),
    };
    if amount.currency != code.currency {
        return Err(CoreError::client(ErrorCode::CurrencyMismatch).localized(zh));
    }
    let debit = match &fx_quote_id {
        Some(id) => {
            let (user, _) = core.user()?;
            let (q, _) = core
                .store
                .read(|c| mirror::quote(c, &core.cipher, &user, id))?
                .ok_or_else(|| CoreError::client(ErrorCode::QuoteNotFound).localized(zh))?;
            if q.to != code.currency || q.buy != amount {
                return Err(CoreError::client(ErrorCode::CurrencyMismatch).localized(zh));
            }
            q.total_debit
        }
        None => amount,
    };
    let request = MerchantPaymentRequest {
        qr: qr.clone(),
        amount: Some(amount),
        fx_quote_id,
        note: note.clone(),
        sca: None,
    };
    submit(
        core,
        Draft {
            kind: PaymentKind::MerchantPayment,
            request: serde_json::to_value(&request).unwrap_or_default(),
            amount: debit,
            payee_label: code.name.clone(),
            note,
            confirm_amount: Some(amount),
            confirm_payee: Some(code.merchant_id),
        },
    )
    .await
}

pub async fn top_up(
    core: &Core,
    card_id: Option<String>,
    amount: Amount,
) -> CoreResult<PaymentOutcome> {
    card_operation(core, PaymentKind::TopUp, card_id, amount).await
}

pub async fn withdraw(
    core: &Core,
    card_id: Option<String>,
    amount: Amount,
) -> CoreResult<PaymentOutcome> {
    card_operation(core, PaymentKind::Withdrawal, card_id, amount).await
}

/// A top-up from or a withdrawal to a linked card (the default card when `card_id` is absent):
/// the two requests have the same shape and are confirmed against the card.
async fn card_operation(
    core: &Core,
    kind: PaymentKind,
    card_id: Option<String>,
    amount: Amount,
) -> CoreResult<PaymentOutcome> {
    let amount = amount
        .to_positive("amount")
        .map_err(|e| e.localized(core.zh()))?;
    let label = card_label(core, card_id.as_deref())?;
    let request = match kind {
        PaymentKind::TopUp => serde_json::to_value(TopUpRequest {
            card_id: card_id.clone(),
            amount,
            sca: None,
        }),
        _ => serde_json::to_value(WithdrawalRequest {
            card_id: card_id.clone(),
            amount,
            sca: None,
        }),
    };
    submit(
        core,
        Draft {
            kind,
            request: request.unwrap_or_default(),
            amount,
            payee_label: label,
            note: None,
            confirm_amount: Some(amount),
            confirm_payee: card_id,
        },
    )
    .await
}

fn card_label(core: &Core, card_id: Option<&str>) -> CoreResult<String> {
    let (user, _) = core.user()?;
    let cards = core.store.read(|c| mirror::cards(c, &core.cipher, &user))?;
    let card = match card_id {
        Some(id) => cards.iter().find(|c| c.id == id),
        None => cards.iter().find(|c| c.is_default),
    };
    Ok(card
        .map(|c| CardView::from(c).label)
        .unwrap_or_else(|| if core.zh() { "银行卡" } else { "Bank card" }.to_owned()))
}

fn remember_quote(core: &Core, user: &str, q: &FxQuote) -> CoreResult<()> {
    // The server's clock may differ from the phone's: keep the validity as a duration from
    // receipt for the local pre-check; the server's answer stays the final word.
    let deadline = now_ms() + (q.expires_at - q.created_at).max(0);
    core.store
        .write(|tx| mirror::put_quote(tx, &core.cipher, user, q, deadline))
}

/// Gets an FX quote: exactly one of `sell` (in `from`) and `buy` (in `to`).
pub async fn fx_quote(
    core: &Core,
    from: String,
    to: String,
    sell: Option<Amount>,
    buy: Option<Amount>,
) -> CoreResult<FxQuoteView> {
    core.ensure_unlocked()?;
    let zh = core.zh();
    let from = Currency::parse(&from).map_err(|_| CoreError::invalid("from").localized(zh))?;
    let to = Currency::parse(&to).map_err(|_| CoreError::invalid("to").localized(zh))?;
    let (sell, buy) = match (sell, buy) {
        (Some(s), None) => (
            Some(s.to_positive("sell").map_err(|e| e.localized(zh))?),
            None,
        ),
        (None, Some(b)) => (
            None,
            Some(b.to_positive("buy").map_err(|e| e.localized(zh))?),
        ),
        _ => return Err(CoreError::invalid("sell").localized(zh)),
    };
    let body = serde_json::to_vec(&FxQuoteRequest {
        from,
        to,
        sell,
        buy,
    })
    .ok();
    let answer = core
        .send_authed(
            Method::POST,
            "/v1/fx/quotes",
            body,
            None,
            core.interactive(),
        )
        .await
        .map_err(net(core))?;
    let q: FxQuote = decode(&answer).map_err(net(core))?;
    let (user, _) = core.user()?;
    remember_quote(core, &user, &q)?;
    Ok(FxQuoteView::from(&q))
}

/// Converts between own balances at a quote, if it is still valid. An expired quote is
/// refused and the outcome carries the new rate to offer.
pub async fn convert(core: &Core, quote_id: String) -> CoreResult<PaymentOutcome> {
    let zh = core.zh();
    let (user, _) = core.user()?;
    let (q, _deadline) = core
        .store
        .read(|c| mirror::quote(c, &core.cipher, &user, &quote_id))?
        .ok_or_else(|| CoreError::client(ErrorCode::QuoteNotFound).localized(zh))?;
    let request = FxConversionRequest {
        quote_id: quote_id.clone(),
        sca: None,
    };
    submit(
        core,
        Draft {
            kind: PaymentKind::FxConversion,
            request: serde_json::to_value(&request).unwrap_or_default(),
            amount: q.total_debit,
            payee_label: format!("{} → {}", q.from.code(), q.to.code()),
            note: None,
            confirm_amount: Some(q.total_debit),
            confirm_payee: Some(user.clone()),
        },
    )
    .await
}

/// Confirms a payment that needs strong customer authentication: fetches a single-use
/// challenge, checks it binds exactly what the user agreed to, has the key store sign the
/// canonical payload (PIN or biometrics on phones), and sends the item with the proof.
pub async fn confirm_payment(
    core: &Core,
    item_id: &str,
    reason: &str,
) -> CoreResult<PaymentOutcome> {
    core.ensure_unlocked()?;
    let zh = core.zh();
    let (user, _) = core.user()?;
    let row = core
        .store
        .read(|c| Ok(outbox::get(c, item_id)?))?
        .ok_or_else(|| CoreError::client(ErrorCode::ItemNotFound).localized(zh))?;
    let action: ItemAction = row
        .action
        .as_ref()
        .and_then(|a| core.cipher.open_json(&action_place(&row.id, &user), a).ok())
        .unwrap_or_default();
    let (Some(need), OutboxState::Queued) = (action.confirmation, row.state) else {
        return Err(CoreError::client(ErrorCode::ItemNotFound).localized(zh));
    };
    let body: ItemBody = core
        .cipher
        .open_json(&body_place(&row.id, &user), &row.body)?;
    // Dynamic linking: never sign what the user did not see.
    let mismatch = need.operation_id != row.idempotency_key
        || row.kind.sca_operation() != Some(need.operation)
        || body.confirm_amount.is_some_and(|a| a != need.amount)
        || body
            .confirm_payee
            .as_ref()
            .is_some_and(|p| p != &need.payee);
    if mismatch {
        tracing::warn!(item = %row.id, "confirmation request does not match the payment");
        return Err(CoreError::client(ErrorCode::ScaInvalid).localized(zh));
    }
    crate::session::ensure_signing_key(core).await?;
    let req = serde_json::to_vec(&ScaChallengeRequest {
        operation: need.operation,
        operation_id: need.operation_id.clone(),
        amount: need.amount,
        payee: need.payee.clone(),
    })
    .ok();
    let answer = core
        .send_authed(
            Method::POST,
            "/v1/sca/challenges",
            req,
            None,
            core.interactive(),
        )
        .await
        .map_err(net(core))?;
    let challenge: ScaChallenge = decode(&answer).map_err(net(core))?;
    let payload = ScaPayload {
        operation_id: &need.operation_id,
        amount: need.amount,
        payee: &need.payee,
        challenge: &challenge.challenge,
    }
    .canonical_bytes();
    let server_hex = challenge.payload_hex.to_ascii_lowercase();
    let local_hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    if server_hex != local_hex {
        tracing::warn!(item = %row.id, "challenge payload differs from the payment");
        return Err(CoreError::client(ErrorCode::ScaInvalid).localized(zh));
    }
    let reason = reason.to_owned();
    let signature = crate::session::sign_with_device_key(core, payload, reason).await?;
    let proof = ScaProof {
        challenge_id: challenge.challenge_id,
        signature: B64.encode(signature),
    };
    core.store
        .write(|tx| Ok(outbox::clear_action(tx, &row.id)?))?;
    let row = core
        .store
        .read(|c| Ok(outbox::get(c, &row.id)?))?
        .unwrap_or(row);
    let (after, sent) = {
        let _guard = core.send_lock.lock().await;
        push::send_item(core, &row, Some(proof)).await?
    };
    emit_item(core, &user, &after)?;
    outcome(core, &user, &after, sent)
}

/// Cancels an item that has not been sent (only `queued` items can be cancelled).
pub fn cancel(core: &Core, item_id: &str) -> CoreResult<OutboxItem> {
    let (user, tag) = core.unlocked_user()?;
    let now = now_ms();
    // `queued` means no attempt can have been applied by the server: an attempt without a
    // definite answer moves an item to `unknown`, and `unknown` never returns to `queued`.
    // Another user's item on this phone is not there for this one.
    let ok = core.store.write(|tx| {
        if outbox::get(tx, item_id)?.is_none_or(|r| r.owner_tag != tag) {
            return Ok(None);
        }
        Ok(Some(outbox::transition(
            tx,
            item_id,
            &[OutboxState::Queued],
            OutboxState::Cancelled,
            now,
        )?))
    })?;
    let Some(ok) = ok else {
        return Err(CoreError::client(ErrorCode::ItemNotFound).localized(core.zh()));
    };
    if !ok {
        return Err(CoreError::client(ErrorCode::NotCancellable).localized(core.zh()));
    }
    let row = core
        .store
        .read(|c| Ok(outbox::get(c, item_id)?))?
        .ok_or_else(|| CoreError::client(ErrorCode::ItemNotFound))?;
    emit_item(core, &user, &row)?;
    item_view(core, &user, &row).ok_or_else(|| CoreError::client(ErrorCode::Storage))
}

pub fn outbox_items(core: &Core, limit: u32) -> CoreResult<Vec<OutboxItem>> {
    let Some(auth) = core.auth() else {
        return Ok(Vec::new());
    };
    core.ensure_unlocked()?;
    let rows = core
        .store
        .read(|c| Ok(outbox::list(c, auth.user_tag, false, limit.min(100))?))?;
    Ok(rows
        .iter()
        .filter_map(|r| item_view(core, &auth.session.user.user_id, r))
        .collect())
}

/// Cards from the cache; `refresh` fetches them first (falls back to the cache offline).
pub async fn cards(core: &Core, refresh: bool) -> CoreResult<Vec<CardView>> {
    core.ensure_unlocked()?;
    let (user, _) = core.user()?;
    if refresh {
        match core
            .send_authed(Method::GET, "/v1/cards", None, None, core.interactive())
            .await
        {
            Ok(answer) => {
                let list: CardList = decode(&answer).map_err(net(core))?;
                core.store
                    .write(|tx| mirror::put_cards(tx, &core.cipher, &user, &list.cards))?;
            }
            Err(NetError::NotSent) => {}
            Err(e) => return Err(e.into_core(core.zh())),
        }
    }
    let cards = core.store.read(|c| mirror::cards(c, &core.cipher, &user))?;
    Ok(cards.iter().map(CardView::from).collect())
}

/// Links a card: the number and CVV go to the server (which tokenizes) and are never stored
/// or logged here; only the token, brand, last 4 and expiry are kept.
pub async fn link_card(
    core: &Core,
    number: String,
    expiry_month: u8,
    expiry_year: u16,
    holder_name: String,
    cvv: Option<String>,
) -> CoreResult<CardView> {
    core.ensure_unlocked()?;
    let request = zeroize::Zeroizing::new(
        serde_json::to_vec(&LinkCardRequest {
            number,
            expiry_month,
            expiry_year,
            holder_name,
            cvv,
        })
        .unwrap_or_default(),
    );
    let answer = core
        .send_authed(
            Method::POST,
            "/v1/cards",
            Some(request.to_vec()),
            None,
            core.interactive(),
        )
        .await
        .map_err(net(core))?;
    let card: Card = decode(&answer).map_err(net(core))?;
    cards(core, true).await?;
    Ok(CardView::from(&card))
}

pub async fn remove_card(core: &Core, card_id: &str) -> CoreResult<()> {
    core.ensure_unlocked()?;
    core.send_authed(
        Method::DELETE,
        &format!("/v1/cards/{}", query_value(card_id)),
        None,
        None,
        core.interactive(),
    )
    .await
    .map_err(net(core))?;
    cards(core, true).await?;
    Ok(())
}

pub async fn set_default_card(core: &Core, card_id: &str) -> CoreResult<()> {
    core.ensure_unlocked()?;
    core.send_authed(
        Method::POST,
        &format!("/v1/cards/{}/default", query_value(card_id)),
        None,
        None,
        core.interactive(),
    )
    .await
    .map_err(net(core))?;
    cards(core, true).await?;
    Ok(())
}

pub async fn withdrawals(core: &Core) -> CoreResult<Vec<WithdrawalView>> {
    core.ensure_unlocked()?;
    let answer = core
        .send_authed(
            Method::GET,
            "/v1/withdrawals",
            None,
            None,
            core.interactive(),
        )
        .await
        .map_err(net(core))?;
    let list: WithdrawalList = decode(&answer).map_err(net(core))?;
    Ok(list
        .items
        .into_iter()
        .map(|w| WithdrawalView {
            id: w.id,
            transaction_id: w.transaction_id,
            card_label: w.card_label,
            amount: w.amount.into(),
            fee: w.fee.into(),
            status: w.status.into(),
            expected_arrival_at: w.expected_arrival_at,
            failure_reason: w.failure_reason,
            created_at: w.created_at,
        })
        .collect())
}

/// "This wasn't me": freezes the account and opens the way to support.
pub async fn not_me(core: &Core, transaction_id: Option<String>) -> CoreResult<NotMeOutcome> {
    let body = serde_json::to_vec(&NotMeRequest { transaction_id }).ok();
    let answer = core
        .send_authed(
            Method::POST,
            "/v1/risk/not-me",
            body,
            None,
            core.interactive(),
        )
        .await
        .map_err(net(core))?;
    let r: NotMeResult = decode(&answer).map_err(net(core))?;
    Ok(NotMeOutcome {
        frozen: r.frozen,
        message: r.message,
    })
}
