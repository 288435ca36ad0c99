//! What every money operation does around its own posting: the order of the checks (frozen
//! account, funds, risk, confirmation), holding it for review when the risk engine says so,
//! counting it towards the daily limit, and the live events once it is committed.

use rusqlite::Connection;
use upay_protocol::api::money::{
    RiskAction, RiskDecision, ScaOperation, ScaProof, Transaction, TransactionStatus,
};
use upay_protocol::error::ErrorCode;
use upay_protocol::money::Money;

use super::store::{Phase, WalletChange};
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::events::{LiveEvent, ServerEvent};
use crate::faults::Scenario;
use crate::risk;
use crate::sca;

/// The caller and circumstances of one money request.
pub struct OpCtx<'a> {
    pub user: &'a AuthUser,
    /// The request's `Idempotency-Key`: also the operation id a confirmation signs.
    pub key: &'a str,
    pub now: i64,
    pub zh: bool,
    pub forced: Option<RiskAction>,
}

impl<'a> OpCtx<'a> {
    pub fn new(user: &'a AuthUser, key: &'a str, scenario: &Scenario) -> OpCtx<'a> {
        OpCtx {
            user,
            key,
            now: user.sandbox.clock.now_ms(),
            zh: super::zh(),
            forced: risk::forced(scenario),
        }
    }

    pub fn user_id(&self) -> &'a str {
        &self.user.user_id
    }
}

/// What is screened: the risk subject and what a confirmation would bind.
pub struct Screen<'a> {
    /// The request's amount.
    pub amount: Money,
    /// What leaves the wallet, fee included.
    pub debit: Money,
    pub outgoing: bool,
    pub new_payee_check: Option<&'a str>,
    pub foreign: bool,
    pub operation: ScaOperation,
    pub sca_amount: Money,
    pub sca_payee: &'a str,
    pub proof: Option<&'a ScaProof>,
}

/// The verdict an operation proceeds with.
pub struct Cleared {
    pub decision: RiskDecision,
    /// Money leaves the user's control: it counts towards the daily limit.
    pub outgoing: bool,
    pub amount_cny: i64,
    /// Set when the operation must be held for review: the hold's id.
    pub hold_id: Option<String>,
}

impl Cleared {
    pub fn phase(&self) -> Phase {
        if self.hold_id.is_some() {
            Phase::Pending
        } else {
            Phase::Posted
        }
    }

    /// History status of an operation that settles at once unless held.
    pub fn status(&self) -> TransactionStatus {
        if self.hold_id.is_some() {
            TransactionStatus::Pending
        } else {
            TransactionStatus::Settled
        }
    }
}

/// Fails with `account_frozen` for a frozen account.
pub fn require_active(ctx: &OpCtx<'_>) -> ApiResult<()> {
    ctx.user.require_active()
}

/// Fails with `insufficient_funds` unless the wallet has `needed` available.
pub fn require_funds(conn: &Connection, user_id: &str, needed: Money) -> ApiResult<()> {
    if super::store::available(conn, user_id, needed.currency)? < needed.minor {
        return Err(ErrorCode::InsufficientFunds.into());
    }
    Ok(())
}

/// Scores the operation, refuses it when blocked (a risk alert is still published), then
/// demands a confirmation when the amount, a new payee or the risk engine call for one.
pub fn screen(
    conn: &Connection,
    ctx: &OpCtx<'_>,
    s: &Screen<'_>,
    events: &mut Vec<ServerEvent>,
) -> ApiResult<Cleared> {
    let signals = risk::gather(
        conn,
        &risk::Subject {
            user_id: ctx.user_id(),
            device_id: &ctx.user.device_id,
            amount: s.amount,
            debit: s.debit,
            outgoing: s.outgoing,
            payee: s.new_payee_check,
            foreign: s.foreign,
        },
        ctx.now,
    )?;
    let decision = risk::assess(&signals, ctx.forced, ctx.zh);
    if decision.action == RiskAction::Block {
        events.push(risk::alert(ctx.user_id(), &decision, None, ctx.now));
        return Err(risk::refusal(&decision));
    }
    let need = sca::Need {
        operation: s.operation,
        operation_id: ctx.key,
        amount: s.sca_amount,
        payee: s.sca_payee,
        reasons: sca::Need::reasons_for(signals.amount_cny, signals.new_payee, &decision),
        risk: (decision.action == RiskAction::StepUp).then(|| decision.clone()),
    };
    sca::require(conn, ctx.user, &need, s.proof, ctx.now)?;
    let hold_id = (decision.action == RiskAction::Hold).then(|| super::new_id("hold_"));
    Ok(Cleared {
        decision,
        outgoing: s.outgoing,
        amount_cny: signals.amount_cny,
        hold_id,
    })
}

/// After the posting and rows are written: opens the hold (if any), counts outgoing money
/// towards the daily limit and queues the events.
pub fn finish(
    conn: &Connection,
    ctx: &OpCtx<'_>,
    cleared: &Cleared,
    posting_id: i64,
    created: &[(String, Transaction)],
    changes: Vec<WalletChange>,
    events: &mut Vec<ServerEvent>,
) -> ApiResult<()> {
    let own = created
        .iter()
        .find(|(u, _)| u == ctx.user_id())
        .map(|(_, t)| t.id.as_str());
    if let (Some(hold_id), Some(txn_id)) = (&cleared.hold_id, own) {
        super::holds::create(
            conn,
            hold_id,
            ctx.user_id(),
            txn_id,
            posting_id,
            &cleared.decision,
            ctx.now,
        )?;
        events.push(risk::alert(
            ctx.user_id(),
            &cleared.decision,
            Some(txn_id),
            ctx.now,
        ));
    }
    if cleared.outgoing {
        risk::record_spend(conn, ctx.user_id(), cleared.amount_cny, ctx.now)?;
    }
    push_changes(events, changes, created, true);
    Ok(())
}

/// Queues balance events (the last state of each wallet) and history events.
pub fn push_changes(
    events: &mut Vec<ServerEvent>,
    changes: Vec<WalletChange>,
    rows: &[(String, Transaction)],
    created: bool,
) {
    let mut latest: Vec<WalletChange> = Vec::new();
    for c in changes {
        match latest
            .iter_mut()
            .find(|l| l.user_id == c.user_id && l.balance.currency == c.balance.currency)
        {
            Some(l) => *l = c,
            None => latest.push(c),
        }
    }
    for c in latest {
        events.push(ServerEvent {
            user_id: c.user_id,
            event: LiveEvent::BalanceChanged { balance: c.balance },
        });
    }
    for (user_id, t) in rows {
        let event = if created {
            LiveEvent::TransactionCreated {
                transaction: t.clone(),
            }
        } else {
            LiveEvent::TransactionUpdated {
                transaction: t.clone(),
            }
        };
        events.push(ServerEvent {
            user_id: user_id.clone(),
            event,
        });
    }
}
