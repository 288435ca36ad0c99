//! Cursor pull. Each page (transactions, balances with versions, outcomes of this user's
//! money requests) is applied in one transaction together with its cursor, so a crash leaves
//! the cache at a page boundary and the next sync continues from there. `cursor_expired` wipes
//! the mirror tables (never the outbox) and starts again.

use reqwest::Method;
use rusqlite::OptionalExtension;
use upay_protocol::api::sync::{OperationStatus, SyncPage};
use upay_protocol::error::ErrorCode as WireCode;

use super::SyncReport;
use std::sync::Arc;

use crate::api::{NetError, decode, query_value};
use crate::core::Core;
use crate::crypto::Cipher;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::events::WalletEvent;
use crate::model::now_ms;
use crate::store::{self, Store, mirror, outbox, search};

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

/// Applies one page atomically (transactions, balances, outbox outcomes and the cursor in one
/// transaction) and stages the search postings of its new rows in `index`, which writes them
/// in a transaction of their own every [`search::STAGE_ROWS`] rows; call [`finish_index`] after
/// the last page.
pub fn apply_page(
    store: &Store,
    cipher: &Cipher,
    user: &str,
    offset_ms: i64,
    page: &SyncPage,
    index: &mut search::Indexer,
) -> CoreResult<Applied> {
    apply_pages(
        store,
        cipher,
        user,
        offset_ms,
        std::slice::from_ref(page),
        index,
    )
}

/// [`apply_page`] for consecutive pages in one transaction (the cursor of the last one is
/// stored): a crash still leaves the cache at a page boundary, and B-tree leaves that every
/// page touches (random transaction ids) are written once per batch rather than once per page.
pub fn apply_pages(
    store: &Store,
    cipher: &Cipher,
    user: &str,
    offset_ms: i64,
    pages: &[SyncPage],
    index: &mut search::Indexer,
) -> CoreResult<Applied> {
    let Some(last) = pages.last() else {
        return Ok(Applied::default());
    };
    let now = now_ms();
    let owner = cipher.tag("user", user).to_be_bytes();
    let (applied, new_rows) = store.write(|tx| {
        // Pages fetched for one user must not land in a mirror another user signed in to
        // meanwhile (signing in as someone else empties it and takes it over).
        if store::meta_get(tx, "mirror_owner")?.is_some_and(|o| o != owner) {
            return Err(CoreError::client(ErrorCode::NotSignedIn));
        }
        let mut ingest = mirror::Ingest::new(cipher, user, offset_ms);
        let mut applied = Applied::default();
        let mut new_rows: Vec<search::Row<'_>> =
            Vec::with_capacity(pages.iter().map(|p| p.transactions.len()).sum());
        // Only transactions this device is waiting for can reconcile anything: look those up
        // once per batch (not per page, nor per row), adding the ids the batch's own outcomes
        // give to items as it goes.
        let mut waiting = outbox::awaited_transactions(tx)?;
        for page in pages {
            for t in &page.transactions {
                if let Some(rowid) = ingest.add(tx, t)? {
                    new_rows.push((rowid, t.created_at, search::Texts::of(t)));
                }
                applied.transactions += 1;
            }
            mirror::put_balances(tx, &page.balances)?;
            for op in &page.operations {
                let code = op
                    .error_code
                    .and_then(|c| serde_json::to_value(c).ok())
                    .and_then(|v| v.as_str().map(str::to_owned));
                let succeeded = op.status == OperationStatus::Succeeded;
                let n = outbox::reconcile_by_key(
                    tx,
                    &op.idempotency_key,
                    succeeded,
                    op.transaction_id.as_deref(),
                    code.as_deref(),
                    now,
                )?;
                if n > 0
                    && succeeded
                    && let Some(id) = &op.transaction_id
                {
                    waiting.insert(id.clone());
                }
                applied.reconciled += n as u32;
            }
            if !waiting.is_empty() {
                for t in page.transactions.iter().filter(|t| waiting.contains(&t.id)) {
                    applied.reconciled +=
                        outbox::reconcile_by_transaction(tx, &t.id, t.status.as_str(), now)?
                            as u32;
                }
            }
        }
        tx.execute(
            "INSERT INTO sync_state (id, cursor, synced_at) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET cursor = excluded.cursor, synced_at = excluded.synced_at",
            rusqlite::params![last.next_cursor, now],
        )?;
        new_rows.sort_unstable_by_key(|r| r.0);
        Ok((applied, new_rows))
    })?;
    index.stage(cipher, &new_rows);
    if index.staged_rows() >= search::STAGE_ROWS {
        store.write(|tx| index.catch_up(tx, cipher, user))?;
    }
    Ok(applied)
}

/// Writes the postings still staged (and indexes any row the index does not cover yet).
pub fn finish_index(
    store: &Store,
    cipher: &Cipher,
    user: &str,
    index: &mut search::Indexer,
) -> CoreResult<()> {
    store.write(|tx| index.catch_up(tx, cipher, user))?;
    Ok(())
}

/// Pages decoded ahead of the one being applied (bounds memory: a decoded page of 1,000
/// transactions is well under a megabyte).
const AHEAD: usize = 8;
/// Most pages applied in one transaction, when that many have arrived.
const BATCH: usize = 8;

type Fetched = Result<SyncPage, NetError>;

/// Fetches and decodes pages one after the other on its own task, ahead of the applier, until
/// the last page or the first failure (which it passes on). Dropping it stops it.
struct Fetcher {
    pages: tokio::sync::mpsc::Receiver<Fetched>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fetcher {
    fn start(core: &Arc<Core>, cursor: Option<String>) -> Fetcher {
        let (tx, pages) = tokio::sync::mpsc::channel(AHEAD);
        let core = core.clone();
        let task = tokio::spawn(async move {
            let mut cursor = cursor;
            loop {
                let mut path = format!("/v1/sync?limit={PAGE_LIMIT}");
                if let Some(c) = &cursor {
                    path.push_str("&cursor=");
                    path.push_str(&query_value(c));
                }
                let fetched = match core
                    .send_authed(Method::GET, &path, None, None, core.interactive())
                    .await
                {
                    Ok(answer) => tokio::task::spawn_blocking(move || decode::<SyncPage>(&answer))
                        .await
                        .unwrap_or(Err(NetError::BadResponse)),
                    Err(e) => Err(e),
                };
                let next = match &fetched {
                    Ok(page) if page.has_more => Some(page.next_cursor.clone()),
                    _ => None,
                };
                if tx.send(fetched).await.is_err() || next.is_none() {
                    return;
                }
                cursor = next;
            }
        });
        Fetcher { pages, task }
    }
}

/// Pulls every page there is. Pages are fetched and decoded on their own task while earlier
/// ones are applied on a blocking thread; pages that are already waiting are applied together
/// (up to [`BATCH`], each batch one transaction with the last page's cursor).
pub async fn sync_now(core: &Arc<Core>) -> CoreResult<SyncReport> {
    let _guard = core.sync_lock.lock().await;
    let (user_id, _) = core.user()?;
    let mut report = SyncReport {
        pages: 0,
        transactions: 0,
        restarted: false,
        reconciled: 0,
    };
    // Rows left unindexed (a crash before their postings were written, a migration) first.
    let mut index = search::Indexer::default();
    core.store
        .write(|tx| index.catch_up(tx, &core.cipher, &user_id))?;
    let mut fetcher = Fetcher::start(core, cursor(&core.store)?);
    let mut carried: Option<Fetched> = None;
    loop {
        let fetched = match carried.take() {
            Some(f) => f,
            None => fetcher
                .pages
                .recv()
                .await
                .unwrap_or(Err(NetError::NoAnswer)),
        };
        let first = match fetched {
            Ok(page) => page,
            Err(NetError::Problem { problem, .. })
                if problem.code == WireCode::CursorExpired && !report.restarted =>
            {
                tracing::info!("sync cursor expired; rebuilding the mirror");
                drop(fetcher);
                core.store.write(|tx| Ok(store::wipe_mirror(tx)?))?;
                index = search::Indexer::default();
                report.restarted = true;
                fetcher = Fetcher::start(core, None);
                continue;
            }
            Err(e) => return Err(e.into_core(core.zh())),
        };
        let mut batch = vec![first];
        while batch.len() < BATCH && batch.last().is_some_and(|p| p.has_more) {
            match fetcher.pages.try_recv() {
                Ok(Ok(page)) => batch.push(page),
                Ok(Err(e)) => {
                    carried = Some(Err(e));
                    break;
                }
                Err(_) => break,
            }
        }
        let more = batch.last().is_some_and(|p| p.has_more);
        let pages = batch.len() as u32;
        let worker = core.clone();
        let user = user_id.clone();
        let (applied, returned) = tokio::task::spawn_blocking(move || {
            let applied = apply_pages(
                &worker.store,
                &worker.cipher,
                &user,
                worker.settings.utc_offset_ms,
                &batch,
                &mut index,
            );
            (applied, index)
        })
        .await
        .map_err(|_| CoreError::client(ErrorCode::Storage))?;
        index = returned;
        let applied = applied?;
        report.pages += pages;
        report.transactions += applied.transactions;
        report.reconciled += applied.reconciled;
        if !more {
            break;
        }
        core.events.emit(vec![WalletEvent::SyncProgress {
            applied: report.transactions,
            done: false,
        }]);
    }
    finish_index(&core.store, &core.cipher, &user_id, &mut index)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::{FileKeyStore, KeyStore};

    /// A batch fetched for one user while another signed in on the phone is refused whole:
    /// nothing of it, and not its cursor, is written.
    #[test]
    fn pages_of_a_user_who_is_no_longer_the_mirror_owner_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ks = FileKeyStore::open(dir.path().join("keys")).unwrap();
        let (store, cipher, _) =
            crate::core::open_cache(&dir.path().join("cache"), &ks as &dyn KeyStore).unwrap();
        let other = cipher.tag("user", "U-other").to_be_bytes();
        store
            .write(|tx| Ok(store::meta_set(tx, "mirror_owner", &other)?))
            .unwrap();
        let page = SyncPage {
            transactions: Vec::new(),
            balances: Vec::new(),
            operations: Vec::new(),
            next_cursor: "c-1".into(),
            has_more: false,
        };
        let mut index = search::Indexer::default();
        let err = apply_page(&store, &cipher, "U-first", 0, &page, &mut index).unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotSignedIn);
        assert_eq!(cursor(&store).unwrap(), None);
        // The owner's own pages go in.
        apply_page(&store, &cipher, "U-other", 0, &page, &mut index).unwrap();
        assert_eq!(cursor(&store).unwrap().as_deref(), Some("c-1"));
    }
}
