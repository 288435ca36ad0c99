//! Offline behaviour against the live mock: queueing with no network and sending exactly once
//! when it returns, lost answers retried with the same key, a client killed mid-way.

mod common;

use std::time::Duration;

use common::*;
use upay_core::history::HistoryFilter;
use upay_core::model::OutboxState;
use upay_core::payments::{PayeeInput, PaymentOutcome};

fn li() -> PayeeInput {
    PayeeInput::AccountId {
        account_id: LI_ID.into(),
    }
}

/// Server-side transactions of Zhang carrying `note`.
async fn server_count(mock: &Mock, note: &str) -> usize {
    mock.server_transactions(ZHANG, "checker-device-1")
        .await
        .iter()
        .filter(|t| t["note"] == note)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transfer_made_offline_is_sent_once_when_the_network_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start_with(Some(dir.path().join("mock.db")), None).await;
    let client = open_client(&mock.base, dir.path(), "device-offline-1");
    sign_in(&client, &mock, ZHANG).await;
    client.sync().sync_now().await.unwrap();
    let cny_before = client
        .home_snapshot()
        .unwrap()
        .balances
        .iter()
        .find(|b| b.currency == "CNY")
        .unwrap()
        .displayed
        .minor;

    mock.stop().await;
    let out = client
        .payments()
        .transfer(li(), Some(cny(2_500)), Some("offline-1 房租".into()))
        .await
        .unwrap();
    let item = match out {
        PaymentOutcome::Queued { item } => item,
        other => panic!("expected queued: {other:?}"),
    };
    // Queued when no attempt can have reached the server. An attempt written on a connection
    // the stopping server was closing may have been read: the core cannot know, so the item
    // is unknown (it goes again with the same key). Either way it is sent once.
    assert!(
        matches!(item.state, OutboxState::Queued | OutboxState::Unknown),
        "{:?}",
        item.state
    );
    // Offline, the cache still answers: balance net of the pending item, history, search.
    let home = client.home_snapshot().unwrap();
    assert!(home.offline);
    let bal = home.balances.iter().find(|b| b.currency == "CNY").unwrap();
    assert_eq!(bal.displayed.minor, cny_before - 2_500);
    assert_eq!(home.pending.len(), 1);
    assert!(!home.recent.is_empty());
    let page = client
        .history()
        .page(HistoryFilter::default(), None, 50)
        .unwrap();
    assert_eq!(page.items.len(), 50);
    // Sending again while offline changes nothing.
    client.sync().flush_outbox().await.unwrap();
    assert_eq!(outbox_state(&client, &item.id), item.state);

    mock.restart().await;
    client.network_changed(true);
    eventually(
        "the queued transfer settles",
        Duration::from_secs(20),
        || outbox_state(&client, &item.id) == OutboxState::Settled,
    )
    .await;
    assert_eq!(server_count(&mock, "offline-1 房租").await, 1);
    // Once the sync brought the server balance, the item is not subtracted twice.
    client.sync().sync_now().await.unwrap();
    let bal = client
        .home_snapshot()
        .unwrap()
        .balances
        .into_iter()
        .find(|b| b.currency == "CNY")
        .unwrap();
    assert_eq!(bal.displayed.minor, cny_before - 2_500);
    assert_eq!(bal.unconfirmed_out.minor, 0);
    mock.assert_audit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_resumes_by_itself_when_the_server_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start_with(Some(dir.path().join("mock.db")), None).await;
    let client = open_client(&mock.base, dir.path(), "device-offline-2");
    sign_in(&client, &mock, ZHANG).await;
    mock.stop().await;
    let out = client
        .payments()
        .transfer(li(), Some(cny(300)), Some("offline-2".into()))
        .await
        .unwrap();
    let PaymentOutcome::Queued { item } = out else {
        panic!("{out:?}")
    };
    mock.restart().await;
    // No call from the app: the worker's retry timer finds the network again.
    eventually("the worker sends the item", Duration::from_secs(40), || {
        outbox_state(&client, &item.id) == OutboxState::Settled
    })
    .await;
    assert_eq!(server_count(&mock, "offline-2").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_after_the_server_committed_does_not_pay_twice() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&mock.base, dir.path(), "device-offline-3");
    sign_in(&client, &mock, ZHANG).await;
    mock.fault(
        Some("/v1/transfers"),
        serde_json::json!({"kind": "drop_response"}),
        Some(1),
    )
    .await;
    let out = client
        .payments()
        .transfer(li(), Some(cny(777)), Some("lost-answer".into()))
        .await
        .unwrap();
    // The first answer was lost; the in-call retry with the same key got the stored answer,
    // or the item is left unknown for the worker. Either way: one payment.
    let item = match out {
        PaymentOutcome::Completed { item, .. } => item,
        PaymentOutcome::Queued { item } => {
            assert_eq!(item.state, OutboxState::Unknown);
            client.sync().flush_outbox().await.unwrap();
            item
        }
        other => panic!("{other:?}"),
    };
    eventually("settled", Duration::from_secs(10), || {
        outbox_state(&client, &item.id) == OutboxState::Settled
    })
    .await;
    assert_eq!(server_count(&mock, "lost-answer").await, 1);

    // Dropped connections on every route until cleared, then the same key goes through once.
    mock.fault(None, serde_json::json!({"kind": "drop_connection"}), None)
        .await;
    let out = client
        .payments()
        .transfer(li(), Some(cny(778)), Some("dropped".into()))
        .await
        .unwrap();
    let PaymentOutcome::Queued { item } = out else {
        panic!("{out:?}")
    };
    assert!(
        matches!(item.state, OutboxState::Unknown | OutboxState::Queued),
        "{item:?}"
    );
    mock.clear_faults().await;
    client.network_changed(true);
    client.sync().flush_outbox().await.unwrap();
    eventually("settled", Duration::from_secs(20), || {
        outbox_state(&client, &item.id) == OutboxState::Settled
    })
    .await;
    assert_eq!(server_count(&mock, "dropped").await, 1);
    mock.assert_audit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_killed_between_queued_and_accepted_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start_with(Some(dir.path().join("mock.db")), None).await;
    let base = mock.base.clone();
    let ids;
    {
        let client = open_client(&base, dir.path(), "device-offline-4");
        sign_in(&client, &mock, ZHANG).await;
        mock.stop().await;
        let a = client
            .payments()
            .transfer(li(), Some(cny(101)), Some("killed-a".into()))
            .await
            .unwrap();
        let b = client
            .payments()
            .transfer(li(), Some(cny(102)), Some("killed-b".into()))
            .await
            .unwrap();
        let (PaymentOutcome::Queued { item: a }, PaymentOutcome::Queued { item: b }) = (a, b)
        else {
            panic!("both queued")
        };
        ids = (a.id, b.id);
        // The process dies here: no shutdown, nothing flushed by the app.
    }
    // And one item was mid-send when it died: the row says `sending`.
    let db = dir.path().join("cache").join("wallet.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute(
            "UPDATE outbox SET state = 'sending', attempts = 1 WHERE id = ?1",
            [&ids.1],
        )
        .unwrap();
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }
    mock.restart().await;
    let client = open_client(&base, dir.path(), "device-offline-4");
    // Reopened: the interrupted one is `unknown` (it may have left), the other still queued.
    assert_eq!(outbox_state(&client, &ids.1), OutboxState::Unknown);
    client.sync().flush_outbox().await.unwrap();
    eventually("both settle", Duration::from_secs(20), || {
        outbox_state(&client, &ids.0) == OutboxState::Settled
            && outbox_state(&client, &ids.1) == OutboxState::Settled
    })
    .await;
    assert_eq!(server_count(&mock, "killed-a").await, 1);
    assert_eq!(server_count(&mock, "killed-b").await, 1);
    mock.assert_audit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_items_can_be_cancelled_but_not_after_sending() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start_with(Some(dir.path().join("mock.db")), None).await;
    let client = open_client(&mock.base, dir.path(), "device-offline-5");
    sign_in(&client, &mock, ZHANG).await;
    mock.stop().await;
    // A failed sync uses up the pooled connection the stopping server closed (a payment
    // written on it could not be known unread: `unknown`, which cannot be cancelled).
    assert!(client.sync().sync_now().await.is_err());
    let PaymentOutcome::Queued { item } = client
        .payments()
        .transfer(li(), Some(cny(55)), Some("cancel-me".into()))
        .await
        .unwrap()
    else {
        panic!()
    };
    let c = client.payments().cancel(item.id.clone()).unwrap();
    assert_eq!(c.state, OutboxState::Cancelled);
    mock.restart().await;
    client.sync().flush_outbox().await.unwrap();
    assert_eq!(outbox_state(&client, &item.id), OutboxState::Cancelled);
    assert_eq!(server_count(&mock, "cancel-me").await, 0);
}

/// Items stay with their owner when another user signs in on the same phone: the other user
/// cannot cancel them, and the owner still can after signing in again.
#[tokio::test(flavor = "multi_thread")]
async fn another_user_on_the_phone_cannot_cancel_a_waiting_item() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let client = open_client(&mock.base, dir.path(), "device-offline-6");
    sign_in(&client, &mock, ZHANG).await;
    // A payee Zhang never paid: the transfer waits (queued) for his confirmation.
    let new_id = mock.register_magic("19900000066").await;
    let out = client
        .payments()
        .transfer(
            PayeeInput::AccountId { account_id: new_id },
            Some(cny(66)),
            None,
        )
        .await
        .unwrap();
    let PaymentOutcome::ConfirmationRequired { item, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(outbox_state(&client, &item.id), OutboxState::Queued);
    client.session().logout().await.unwrap();

    sign_in(&client, &mock, LI).await;
    let err = client.payments().cancel(item.id.clone()).unwrap_err();
    assert_eq!(err.code(), upay_core::ErrorCode::ItemNotFound);
    client.session().logout().await.unwrap();

    sign_in(&client, &mock, ZHANG).await;
    assert_eq!(outbox_state(&client, &item.id), OutboxState::Queued);
    let c = client.payments().cancel(item.id.clone()).unwrap();
    assert_eq!(c.state, OutboxState::Cancelled);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_client_closes_its_cache_while_the_worker_waits() {
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&closed_port_base(), dir.path(), "device-drop-1");
    let core = std::sync::Arc::downgrade(client.core());
    // Give the worker time to reach its wait (signed out: an hour), the case that matters.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(client);
    eventually("the core is dropped", Duration::from_secs(5), || {
        core.strong_count() == 0
    })
    .await;
    // Nothing holds the database: it opens with an exclusive lock, then as a client again.
    let db = rusqlite::Connection::open(dir.path().join("cache").join("wallet.db")).unwrap();
    db.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;")
        .unwrap();
    drop(db);
    let again = open_client(&closed_port_base(), dir.path(), "device-drop-1");
    assert!(!again.key_was_reset());
}
