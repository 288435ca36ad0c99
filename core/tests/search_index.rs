//! The search index trails the rows: rows it does not cover yet (a crash between a page and its
//! postings, a migration) are still found, and the next sync catches the index up.

mod common;

use common::*;
use upay_core::history::HistoryFilter;
use upay_core::store::search;

fn ids(client: &upay_core::WalletClient, filter: HistoryFilter) -> Vec<String> {
    client
        .history()
        .page(filter, None, 100)
        .unwrap()
        .items
        .into_iter()
        .map(|t| t.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn unindexed_rows_are_found_and_the_next_sync_indexes_them() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let client = open_client(&mock.base, dir.path(), "device-index-1");
    sign_in(&client, &mock, ZHANG).await;
    client.sync().sync_now().await.unwrap();
    let by_text = HistoryFilter {
        query: Some("李娜".into()),
        ..Default::default()
    };
    let by_counterparty = HistoryFilter {
        counterparty_id: Some(LI_ID.into()),
        ..Default::default()
    };
    let (text_before, cp_before) = (
        ids(&client, by_text.clone()),
        ids(&client, by_counterparty.clone()),
    );
    assert!(!text_before.is_empty() && !cp_before.is_empty());

    // The index is lost (as after a crash before its transaction, or a migration).
    let store = &client.core().store;
    store.write(|tx| Ok(search::clear(tx)?)).unwrap();
    assert_eq!(store.read(|c| Ok(search::watermark(c)?)).unwrap(), 0);
    assert_eq!(ids(&client, by_text.clone()), text_before);
    assert_eq!(ids(&client, by_counterparty.clone()), cp_before);

    // The next sync rebuilds it from the cached rows.
    client.sync().sync_now().await.unwrap();
    let (upto, max): (i64, i64) = store
        .read(|c| {
            Ok((
                search::watermark(c)?,
                c.query_row("SELECT max(rowid) FROM transactions", [], |r| r.get(0))?,
            ))
        })
        .unwrap();
    assert_eq!(upto, max);
    assert_eq!(ids(&client, by_text), text_before);
    assert_eq!(ids(&client, by_counterparty), cp_before);
}
