//! Operations held for risk review: their money is reserved by a pending posting until the
//! control API releases (posts) or rejects (voids) them. A held withdrawal, once released,
//! goes on to its normal settlement.

use rusqlite::{Connection, OptionalExtension, params};
use upay_protocol::api::money::{
    FailureCode, HoldStatus, RiskDecision, RiskHold, TransactionStatus,
};
use upay_protocol::error::ErrorCode;

use super::{funding, records, store};
use crate::error::{ApiError, ApiResult};
use crate::events::ServerEvent;
use crate::state::Sandbox;

pub fn create(
    conn: &Connection,
    id: &str,
    user_id: &str,
    transaction_id: &str,
    posting_id: i64,
    decision: &RiskDecision,
    now: i64,
) -> ApiResult<()> {
    let decision = serde_json::to_string(decision).map_err(ApiError::internal)?;
    conn.prepare_cached(
        "INSERT INTO risk_holds (id, user_id, transaction_id, posting_id, status, decision, created_at)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6)",
    )?
    .execute(params![id, user_id, transaction_id, posting_id, decision, now])?;
    Ok(())
}

struct HoldRow {
    hold: RiskHold,
    user_id: String,
    posting_id: i64,
}

fn load(conn: &Connection, user_id: Option<&str>, id: &str) -> ApiResult<Option<HoldRow>> {
    let row = conn
        .prepare_cached(
            "SELECT id, user_id, transaction_id, posting_id, status, decision, created_at, resolved_at
             FROM risk_holds WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)",
        )?
        .query_row(params![id, user_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, Option<i64>>(7)?,
            ))
        })
        .optional()?;
    let Some((id, user_id, transaction_id, posting_id, status, decision, created_at, resolved_at)) =
        row
    else {
        return Ok(None);
    };
    Ok(Some(HoldRow {
        hold: RiskHold {
            id,
            transaction_id,
            status: HoldStatus::parse(&status)
                .ok_or_else(|| ApiError::internal("bad hold status"))?,
            decision: serde_json::from_str(&decision).map_err(ApiError::internal)?,
            created_at,
            resolved_at,
        },
        user_id,
        posting_id,
    }))
}

/// A hold, optionally only if it belongs to `user_id`.
pub fn get(conn: &Connection, user_id: Option<&str>, id: &str) -> ApiResult<Option<RiskHold>> {
    Ok(load(conn, user_id, id)?.map(|h| h.hold))
}

/// Releases (`release = true`) or rejects a pending hold and publishes the changes.
pub fn resolve(sb: &Sandbox, id: &str, release: bool) -> ApiResult<RiskHold> {
    let now = sb.clock.now_ms();
    let (hold, events) = sb.write(|tx| {
        let row = load(tx, None, id)?.ok_or_else(ApiError::not_found)?;
        if row.hold.status != HoldStatus::Pending {
            return Err(ErrorCode::HoldNotPending.into());
        }
        let status = if release {
            HoldStatus::Released
        } else {
            HoldStatus::Rejected
        };
        tx.prepare_cached("UPDATE risk_holds SET status = ?2, resolved_at = ?3 WHERE id = ?1")?
            .execute(params![id, status.as_str(), now])?;
        let mut events = Vec::new();
        if funding::is_withdrawal(tx, row.posting_id)? {
            funding::on_hold_resolved(tx, row.posting_id, release, now, &mut events)?;
        } else {
            let changes = store::resolve(tx, row.posting_id, release, now)?;
            let (status, failure) = if release {
                (TransactionStatus::Settled, None)
            } else {
                (TransactionStatus::Failed, Some(FailureCode::RiskRejected))
            };
            let rows = records::set_status(tx, row.posting_id, status, failure, now)?;
            if !release {
                refund_limit(tx, &row.user_id, &rows)?;
            }
            super::ops::push_changes(&mut events, changes, &rows, false);
        }
        let hold = RiskHold {
            status,
            resolved_at: Some(now),
            ..row.hold
        };
        Ok((hold, events))
    })?;
    publish(sb, events);
    Ok(hold)
}

/// Gives back the daily limit used by the user's outgoing row among `rows`.
pub fn refund_limit(
    conn: &Connection,
    user_id: &str,
    rows: &[(String, upay_protocol::api::money::Transaction)],
) -> ApiResult<()> {
    for (owner, t) in rows {
        if owner == user_id && t.amount.minor < 0 {
            let spent = t
                .amount
                .negate()
                .checked_add(t.fee)
                .map_err(ApiError::internal)?;
            crate::risk::refund_spend(
                conn,
                user_id,
                crate::sca::cny_equivalent(spent),
                t.created_at,
            )?;
        }
    }
    Ok(())
}

pub fn publish(sb: &Sandbox, events: Vec<ServerEvent>) {
    for e in events {
        sb.publish(e);
    }
}
