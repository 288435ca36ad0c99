//! Cursor pull. Each page (transactions, balances with versions, outcomes of this user's
//! money requests) is applied in one transaction together with its cursor, so a crash leaves
//! the cache at a page boundary and the next sync continues from there. `cursor_expired` wipes
//! the mirror tables (never the outbox) and starts again.

use reqwest::Method;
use rusqlite::OptionalExtension;
use upay_protocol::api::sync::{OperationStatus, SyncPage};
use upay_protocol::error::ErrorCode as WireCode;

use super::SyncReport;
use crate::api::{NetError, decode, query_value};
use crate::core::Core;
use crate::crypto::Cipher;
use crate::error::CoreResult;
use crate::events::WalletEvent;
use crate::model::now_ms;
use crate::store::{self, Store, mirror, outbox};

/// Changes per page asked of the server (its maximum).
pub const PAGE_LIMIT: u32 = 1000;

#[derive(Debug, Default, Clone, Copy)]
pub struct Applied {
    pub transactions: u64,
    pub reconciled: u32,
}

pub fn cursor(store: &Store) -> CoreResult<Option<String>> {
    store.read(|c| {
        Ok(
            c.query_row("SELECT cursor FROM sync_state WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?
            .flatten(),
        )
    })
}

pub fn synced_at(store: &Store) -> CoreResult<i64> {
    store.read(|c| {
        Ok(
            c.query_row("SELECT synced_at FROM sync_state WHERE id = 1", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .optional()?
            .flatten()
            .unwrap_or(0),
        )
    })
}

/// Applies one page atomically: transactions, balances, outbox outcomes and the cursor.
pub fn apply_page(
    store: &Store,
    cipher: &Cipher,
    user: &str,
    offset_ms: i64,
    page: &SyncPage,
) -> CoreResult<Applied> {
    let now = now_ms();
    store.write(|tx| {
        let mut ingest = mirror::Ingest::new(cipher, user, offset_ms);
        let mut applied = Applied::default();
        for t in &page.transactions {
            ingest.add(tx, t)?;
            applied.transactions += 1;
        }
        ingest.finish(tx)?;
        mirror::put_balances(tx, &page.balances)?;
        for op in &page.operations {
            let code = op
                .error_code
                .and_then(|c| serde_json::to_value(c).ok())
                .and_then(|v| v.as_str().map(str::to_owned));
            applied.reconciled += outbox::reconcile_by_key(
                tx,
                &op.idempotency_key,
                op.status == OperationStatus::Succeeded,
                op.transaction_id.as_deref(),
                code.as_deref(),
                now,
            )? as u32;
        }
        for t in &page.transactions {
            applied.reconciled += outbox::reconcile_by_transaction(tx, &t.id, t.status.as_str(), now)? as u32;
        }
        tx.execute(
            "INSERT INTO sync_state (id, cursor, synced_at) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET cursor = excluded.cursor, synced_at = excluded.synced_at",
            rusqlite::params![page.next_cursor, now],
        )?;
        Ok(applied)
    })
}

/// Pulls every page there is.
pub async fn sync_now(core: &Core) -> CoreResult<SyncReport> {
    let _guard = core.sync_lock.lock().await;
    let (user_id, _) = core.user()?;
    let mut report = SyncReport {
        pages: 0,
        transactions: 0,
        restarted: false,
        reconciled: 0,
    };
    loop {
        let mut path = format!("/v1/sync?limit={PAGE_LIMIT}");
        if let Some(c) = cursor(&core.store)? {
            path.push_str("&cursor=");
            path.push_str(&query_value(&c));
        }
        let answer = match core
            .send_authed(Method::GET, &path, None, None, core.interactive())
            .await
        {
            Ok(a) => a,
            Err(NetError::Problem { problem, .. })
                if problem.code == WireCode::CursorExpired && !report.restarted =>
            {
                tracing::info!("sync cursor expired; rebuilding the mirror");
                core.store.write(|tx| Ok(store::wipe_mirror(tx)?))?;
                report.restarted = true;
                continue;
            }
            Err(e) => return Err(e.into_core(core.zh())),
        };
        let page: SyncPage = decode(&answer).map_err(|e| e.into_core(core.zh()))?;
        let applied = apply_page(
            &core.store,
            &core.cipher,
            &user_id,
            core.settings.utc_offset_ms,
            &page,
        )?;
        report.pages += 1;
        report.transactions += applied.transactions;
        report.reconciled += applied.reconciled;
        if page.has_more {
            core.events.emit(vec![WalletEvent::SyncProgress {
                applied: report.transactions,
                done: false,
            }]);
        } else {
            break;
        }
    }
    let mut batch = vec![
        WalletEvent::BalancesChanged {
            balances: core.balance_views()?,
        },
        WalletEvent::SyncProgress {
            applied: report.transactions,
            done: true,
        },
    ];
    if report.transactions > 0 {
        batch.push(WalletEvent::TransactionsChanged {
            count: report.transactions.min(u64::from(u32::MAX)) as u32,
        });
    }
    if report.reconciled > 0 {
        batch.push(WalletEvent::OutboxChanged {
            items: core.pending_items(100)?,
        });
    }
    core.events.emit(batch);
    tracing::info!(
        pages = report.pages,
        transactions = report.transactions,
        "sync done"
    );
    Ok(report)
}
