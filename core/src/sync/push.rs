//! Sending outbox items. The state is persisted as `sending` before the request leaves, so a
//! crash mid-send is recovered as `unknown`; the item's idempotency key goes with every attempt,
//! so a retry after a lost answer gets the server's stored answer instead of paying twice.

use std::time::Duration;

use reqwest::Method;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use upay_protocol::api::money::{
    FxQuote, RiskDecision, ScaProof, ScaRequirement, Transaction, TransactionStatus, Withdrawal,
};
use upay_protocol::api::savings::SavingsMove;
use upay_protocol::error::ErrorCode as WireCode;
use upay_protocol::money::Money;

use crate::api::{NetError, decode};
use crate::core::Core;
use crate::crypto::Place;
use crate::error::CoreResult;
use crate::events::WalletEvent;
use crate::model::{OutboxState, PaymentKind, RiskInfo, now_ms};
use crate::store::mirror;
use crate::store::outbox::{self, OutboxRow};

/// The sealed body of an outbox row.
#[derive(Serialize, Deserialize)]
pub struct ItemBody {
    /// The request body, without the confirmation.
    pub request: serde_json::Value,
    /// For display.
    pub payee_label: String,
    #[serde(default)]
    pub note: Option<String>,
    /// What the user agreed to pay, in the currency the confirmation binds (the merchant's
    /// for merchant payments, the quote's total debit for conversions).
    #[serde(default)]
    pub confirm_amount: Option<Money>,
    /// The payee the user chose, when known before the server resolves it (account ids,
    /// merchant ids, card ids).
    #[serde(default)]
    pub confirm_payee: Option<String>,
}

/// The sealed `action` of an outbox row: what the server asked for or decided.
#[derive(Serialize, Deserialize, Default)]
pub struct ItemAction {
    #[serde(default)]
    pub confirmation: Option<ScaRequirement>,
    #[serde(default)]
    pub risk: Option<RiskDecision>,
    #[serde(default)]
    pub new_quote: Option<FxQuote>,
}

pub fn body_place<'a>(id: &'a str, user: &'a str) -> Place<'a> {
    Place::new("outbox", "body", id, user)
}

pub fn action_place<'a>(id: &'a str, user: &'a str) -> Place<'a> {
    Place::new("outbox", "action", id, user)
}

/// When to try an item again after `attempts` failed tries: exponential, jittered, capped.
fn retry_at(attempts: u32, now: i64) -> i64 {
    let base = Duration::from_secs(2)
        .saturating_mul(1 << attempts.min(8))
        .min(Duration::from_secs(300));
    let mut b = [0u8; 2];
    let _ = SystemRandom::new().fill(&mut b);
    let frac = f64::from(u16::from_be_bytes(b)) / f64::from(u16::MAX);
    now + base.mul_f64(0.5 + frac / 2.0).as_millis() as i64
}

/// Longest `Retry-After` an item waits for; a larger (or absurd) value is read as this.
const MAX_RETRY_AFTER_SECS: u64 = 3600;

/// When the server's `Retry-After` lets the item go again.
fn retry_after_at(retry_after: Option<u64>, now: i64) -> Option<i64> {
    retry_after.map(|secs| now.saturating_add(secs.min(MAX_RETRY_AFTER_SECS) as i64 * 1000))
}

/// What a send attempt produced, besides the row's new state.
#[derive(Default)]
pub struct Sent {
    pub transaction: Option<Transaction>,
}

fn seal_action(
    core: &Core,
    row: &OutboxRow,
    user: &str,
    action: &ItemAction,
) -> CoreResult<Vec<u8>> {
    Ok(core
        .cipher
        .seal_json(&action_place(&row.id, user), action)?)
}

/// Leaves a claimed item `unknown` if the sending future is dropped half-way (Kotlin
/// cancellation drops it): the request may have left, so only a keyed retry is safe.
struct SendingGuard<'a> {
    core: &'a Core,
    id: &'a str,
    armed: bool,
}

impl Drop for SendingGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let now = now_ms();
            let _ = self.core.store.write(|tx| {
                Ok(outbox::transition(
                    tx,
                    self.id,
                    &[OutboxState::Sending],
                    OutboxState::Unknown,
                    now,
                )?)
            });
        }
    }
}

/// Sends one item (claiming it first). Returns the row as it is afterwards.
pub async fn send_item(
    core: &Core,
    row: &OutboxRow,
    sca: Option<ScaProof>,
) -> CoreResult<(OutboxRow, Sent)> {
    let (user, _) = core.user()?;
    let now = now_ms();
    let claimed = core
        .store
        .write(|tx| Ok(outbox::mark_sending(tx, &row.id, now)?))?;
    if !claimed {
        let current = core.store.read(|c| Ok(outbox::get(c, &row.id)?))?;
        return Ok((current.unwrap_or_else(|| row.clone()), Sent::default()));
    }
    let mut guard = SendingGuard {
        core,
        id: &row.id,
        armed: true,
    };
    let body: ItemBody = match core
        .cipher
        .open_json(&body_place(&row.id, &user), &row.body)
    {
        Ok(b) => b,
        Err(_) => {
            // Sealed for another user or with a lost key: this user cannot send it.
            core.store.write(|tx| {
                Ok(outbox::transition(
                    tx,
                    &row.id,
                    &[OutboxState::Sending],
                    row.state,
                    now,
                )?)
            })?;
            return Ok((row.clone(), Sent::default()));
        }
    };
    let mut request = body.request;
    if let (Some(proof), Some(obj)) = (sca, request.as_object_mut()) {
        obj.insert(
            "sca".into(),
            serde_json::to_value(proof).unwrap_or_default(),
        );
    }
    let payload = serde_json::to_vec(&request).unwrap_or_default();
    let result = core
        .send_authed(
            Method::POST,
            row.kind.route(),
            Some(payload),
            Some(&row.idempotency_key),
            core.interactive(),
        )
        .await;
    // From here every path records an outcome before returning.
    guard.armed = false;
    let now = now_ms();
    let attempts = row.attempts + 1;
    let mut sent = Sent::default();
    let mut action = ItemAction::default();
    let (state, code, next): (OutboxState, Option<String>, i64) = match result {
        Ok(answer) => {
            let mut savings = None;
            let parsed = if row.kind == PaymentKind::Withdrawal {
                decode::<Withdrawal>(&answer).map(|w| (w.transaction_id.clone(), w.status, None))
            } else if row.kind.is_savings_move() {
                decode::<SavingsMove>(&answer).map(|m| {
                    savings = Some(m.savings);
                    (
                        m.transaction.id.clone(),
                        m.transaction.status,
                        Some(m.transaction),
                    )
                })
            } else {
                decode::<Transaction>(&answer).map(|t| (t.id.clone(), t.status, Some(t)))
            };
            let Ok((txn_id, status, txn)) = parsed else {
                // Accepted, but unreadable: the next sync tells what happened (by key).
                let next = retry_at(attempts, now);
                core.store.write(|tx| {
                    outbox::record(
                        tx,
                        &row.id,
                        &outbox::Outcome {
                            state: OutboxState::Unknown,
                            transaction_id: None,
                            error_code: None,
                            action: None,
                            next_attempt_at: next,
                        },
                        now,
                    )?;
                    Ok(())
                })?;
                let refreshed = core
                    .store
                    .read(|c| Ok(outbox::get(c, &row.id)?))?
                    .unwrap_or_else(|| row.clone());
                return Ok((refreshed, sent));
            };
            let state = match status {
                TransactionStatus::Settled => OutboxState::Settled,
                TransactionStatus::Pending => OutboxState::Accepted,
                TransactionStatus::Failed => OutboxState::Failed,
            };
            if let Some(t) = &txn
                && let Some(hold) = &t.hold_id
            {
                action.risk = hold_decision(core, hold).await;
            }
            core.store.write(|tx| {
                if let Some(t) = &txn {
                    let mut ingest =
                        mirror::Ingest::new(&core.cipher, &user, core.settings.utc_offset_ms);
                    ingest.add(tx, t)?;
                }
                if let Some(balance) = &savings {
                    crate::savings::apply_move_answer(tx, core, &user, row.owner_tag, balance)?;
                }
                let sealed = match action.risk {
                    Some(_) => Some(seal_action(core, row, &user, &action)?),
                    None => None,
                };
                outbox::record(
                    tx,
                    &row.id,
                    &outbox::Outcome {
                        state,
                        transaction_id: Some(&txn_id),
                        error_code: None,
                        action: sealed.as_deref(),
                        next_attempt_at: 0,
                    },
                    now,
                )?;
                Ok(())
            })?;
            // Postings for the new row; search scans unindexed rows, so a failure only costs speed.
            if txn.is_some()
                && let Err(e) =
                    crate::store::search::catch_up_store(&core.store, &core.cipher, &user)
            {
                tracing::warn!(code = ?e.code(), "search index not caught up");
            }
            sent.transaction = txn;
            // The balances must catch up with this payment.
            core.wake.notify_one();
            let refreshed = core
                .store
                .read(|c| Ok(outbox::get(c, &row.id)?))?
                .unwrap_or_else(|| row.clone());
            return Ok((refreshed, sent));
        }
        Err(NetError::NotSent) | Err(NetError::Tls) => {
            // Nothing reached the server: the item keeps the state it had.
            (row.state, None, retry_at(attempts, now))
        }
        Err(NetError::NoAnswer) | Err(NetError::Unconfirmed) | Err(NetError::BadResponse) => {
            (OutboxState::Unknown, None, retry_at(attempts, now))
        }
        Err(NetError::Problem {
            problem,
            retry_after,
        }) => {
            let code_text = serde_json::to_value(problem.code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned));
            match problem.code {
                WireCode::ScaRequired
                | WireCode::DeviceKeyMissing
                | WireCode::ScaInvalid
                | WireCode::ChallengeExpired => {
                    action.confirmation = problem
                        .data
                        .as_ref()
                        .and_then(|d| serde_json::from_value::<ScaRequirement>(d.clone()).ok());
                    action.risk = action.confirmation.as_ref().and_then(|c| c.risk.clone());
                    if action.confirmation.is_none() {
                        (OutboxState::Failed, code_text, 0)
                    } else {
                        // Not executed: waits for the user to confirm on this device.
                        (OutboxState::Queued, Some("sca_required".to_owned()), 0)
                    }
                }
                WireCode::QuoteExpired => {
                    action.new_quote = problem
                        .data
                        .as_ref()
                        .and_then(|d| serde_json::from_value::<FxQuote>(d.clone()).ok());
                    (OutboxState::Expired, code_text, 0)
                }
                WireCode::RiskBlocked | WireCode::LimitExceeded => {
                    action.risk = problem
                        .data
                        .as_ref()
                        .and_then(|d| serde_json::from_value::<RiskDecision>(d.clone()).ok());
                    (OutboxState::Failed, code_text, 0)
                }
                WireCode::Unauthorized | WireCode::TokenExpired | WireCode::RefreshReused => {
                    // Refused before anything happened; waits for the next sign-in.
                    (row.state, None, retry_at(attempts, now))
                }
                // Turned away before processing: the item keeps its state.
                WireCode::RateLimited => (
                    row.state,
                    None,
                    retry_after_at(retry_after, now).unwrap_or_else(|| retry_at(attempts, now)),
                ),
                // The server is still working on this key: it has the request.
                WireCode::IdempotencyInFlight => (
                    OutboxState::Unknown,
                    None,
                    retry_after_at(retry_after, now).unwrap_or_else(|| retry_at(attempts, now)),
                ),
                WireCode::Internal | WireCode::ServiceUnavailable => {
                    (OutboxState::Unknown, None, retry_at(attempts, now))
                }
                // A code this build does not know: its status says whether it is final.
                WireCode::Unknown => match problem.status {
                    429 => (row.state, None, retry_at(attempts, now)),
                    408 | 500.. => (OutboxState::Unknown, None, retry_at(attempts, now)),
                    _ => (OutboxState::Failed, code_text, 0),
                },
                _ => (OutboxState::Failed, code_text, 0),
            }
        }
    };
    let sealed =
        if action.confirmation.is_some() || action.risk.is_some() || action.new_quote.is_some() {
            Some(seal_action(core, row, &user, &action)?)
        } else {
            None
        };
    core.store.write(|tx| {
        outbox::record(
            tx,
            &row.id,
            &outbox::Outcome {
                state,
                transaction_id: None,
                error_code: code.as_deref(),
                action: sealed.as_deref(),
                next_attempt_at: next,
            },
            now,
        )?;
        Ok(())
    })?;
    if let Some(risk) = &action.risk {
        core.events.emit(vec![WalletEvent::RiskAlert {
            item_id: Some(row.id.clone()),
            risk: RiskInfo::from(risk),
        }]);
    }
    tracing::info!(item = %row.id, state = state.as_str(), code = code.as_deref().unwrap_or("-"), "outbox item sent");
    let refreshed = core
        .store
        .read(|c| Ok(outbox::get(c, &row.id)?))?
        .unwrap_or_else(|| row.clone());
    Ok((refreshed, sent))
}

/// The risk decision of a held payment, for the user to read.
async fn hold_decision(core: &Core, hold_id: &str) -> Option<RiskDecision> {
    let path = format!("/v1/risk/holds/{}", crate::api::query_value(hold_id));
    let answer = core
        .send_authed(Method::GET, &path, None, None, core.interactive())
        .await
        .ok()?;
    decode::<upay_protocol::api::money::RiskHold>(&answer)
        .ok()
        .map(|h| h.decision)
}

/// Sends every due item of the signed-in user, oldest first. Returns how many were tried.
pub async fn flush(core: &Core) -> CoreResult<usize> {
    let Some(auth) = core.auth() else {
        return Ok(0);
    };
    let _guard = core.send_lock.lock().await;
    let due = core
        .store
        .read(|c| Ok(outbox::due(c, auth.user_tag, now_ms())?))?;
    let mut changed = Vec::new();
    for row in &due {
        let (after, _) = send_item(core, row, None).await?;
        let offline = core.offline.load(std::sync::atomic::Ordering::Relaxed);
        changed.push(after);
        if offline {
            // No route to the server: the others would fail the same way.
            break;
        }
    }
    if !changed.is_empty() {
        let user = auth.session.user.user_id.clone();
        let items = changed
            .iter()
            .filter_map(|r| crate::payments::item_view(core, &user, r))
            .collect();
        core.events.emit(vec![
            WalletEvent::OutboxChanged { items },
            WalletEvent::BalancesChanged {
                balances: core.balance_views()?,
            },
        ]);
    }
    Ok(changed.len())
}

/// Sends the due items queued before `row` (the user's order is the sending order).
pub async fn flush_before(core: &Core, row: &OutboxRow) -> CoreResult<()> {
    let Some(auth) = core.auth() else {
        return Ok(());
    };
    let _guard = core.send_lock.lock().await;
    let due = core
        .store
        .read(|c| Ok(outbox::due(c, auth.user_tag, now_ms())?))?;
    for earlier in due
        .iter()
        .filter(|d| d.id != row.id && (d.created_at, &d.id) < (row.created_at, &row.id))
    {
        send_item(core, earlier, None).await?;
        if core.offline.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_honoured_up_to_an_hour_and_never_overflows() {
        let now = 1_700_000_000_000;
        assert_eq!(retry_after_at(None, now), None);
        assert_eq!(retry_after_at(Some(30), now), Some(now + 30_000));
        assert_eq!(retry_after_at(Some(u64::MAX), now), Some(now + 3_600_000));
        assert_eq!(retry_after_at(Some(10), i64::MAX), Some(i64::MAX));
    }
}
