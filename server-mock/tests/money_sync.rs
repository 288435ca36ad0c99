//! Reading money: history pages and filters, the sync feed for the offline cache (pages,
//! operation outcomes, expired cursors, bulk), and live events over the WebSocket.

mod common;
mod money_kit;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{LI, LI_ID, TestServer, ZHANG};
use futures_util::StreamExt;
use money_kit::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn history_pages_through_everything_once() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let first = s.get("/v1/transactions", Some(&zhang)).await;
    assert_eq!(
        first.body["items"].as_array().unwrap().len(),
        20,
        "default page size"
    );
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut last_time = i64::MAX;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/transactions?limit=37&cursor={c}"),
            None => "/v1/transactions?limit=37".to_owned(),
        };
        let r = s.get(&path, Some(&zhang)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for t in r.body["items"].as_array().unwrap() {
            assert!(
                seen.insert(t["id"].as_str().unwrap().to_owned()),
                "no duplicates"
            );
            let at = t["created_at"].as_i64().unwrap();
            assert!(at <= last_time, "newest first");
            last_time = at;
        }
        pages += 1;
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert!(seen.len() >= 180, "months of demo history: {}", seen.len());
    assert_eq!(pages, seen.len().div_ceil(37));
    for bad in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "cursor=%%%",
        "cursor=aGVsbG8",
        "kind=bogus",
        "min_minor=-1",
        "min_minor=5&max_minor=4",
        "q=",
    ] {
        let r = s
            .get(&format!("/v1/transactions?{bad}"), Some(&zhang))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (422, "validation_failed"),
            "{bad}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn history_filters_and_search_in_both_languages() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let all = |q: &'static str| {
        let (s, zhang) = (&s, &zhang);
        async move { history(s, zhang, q).await }
    };
    let luckin_zh = all("&q=%E7%91%9E%E5%B9%B8").await; // 瑞幸
    let luckin_en = all("&q=LUCKIN").await;
    assert!(!luckin_zh.is_empty());
    assert_eq!(
        luckin_zh.len(),
        luckin_en.len(),
        "Chinese and English names find the same merchant"
    );
    assert!(
        luckin_zh
            .iter()
            .all(|t| t["merchant"]["merchant_id"] == "M0000000001")
    );
    let notes = all("&q=%E6%88%BF%E7%A7%9F").await; // 房租 (a transfer note)
    assert!(
        notes
            .iter()
            .all(|t| t["note"].as_str().unwrap().contains("房租"))
    );
    assert!(!notes.is_empty());

    let pays = all("&kind=merchant_payment").await;
    assert!(pays.iter().all(|t| t["kind"] == "merchant_payment"));
    let pending = all("&status=pending").await;
    assert!(
        pending.len() >= 2,
        "the held payment and the withdrawal on its way"
    );
    assert!(pending.iter().all(|t| t["status"] == "pending"));
    let with_li = all("&counterparty=U0000000002").await;
    assert!(!with_li.is_empty() && with_li.iter().all(|t| t["counterparty"]["id"] == LI_ID));
    let usd = all("&currency=USD").await;
    assert!(!usd.is_empty() && usd.iter().all(|t| t["amount"]["currency"] == "USD"));
    let mid = all("&min_minor=10000&max_minor=20000").await;
    assert!(
        mid.iter()
            .all(|t| (10_000..=20_000).contains(&t["amount"]["minor"].as_i64().unwrap().abs()))
    );
    let food = all("&category=food").await;
    assert!(!food.is_empty() && food.iter().all(|t| t["category"] == "food"));
    let now = s.get("/__mock/clock", None).await.body["now"]
        .as_i64()
        .unwrap();
    let week = all(Box::leak(
        format!("&from={}&to={}", now - 7 * 86_400_000, now).into_boxed_str(),
    ))
    .await;
    assert!(
        week.iter()
            .all(|t| t["created_at"].as_i64().unwrap() >= now - 7 * 86_400_000)
    );
    assert!(week.len() < all("").await.len());
    // Filters combine.
    let combined = all("&kind=merchant_payment&currency=HKD").await;
    assert!(!combined.is_empty() && combined.iter().all(|t| t["merchant"]["country"] == "HK"));
}

/// Every history id of the user, through the cursor pages.
async fn history_ids(s: &TestServer, token: &str) -> HashSet<String> {
    let (mut ids, mut cursor) = (HashSet::new(), String::new());
    loop {
        let r = s
            .get(&format!("/v1/transactions?limit=100{cursor}"), Some(token))
            .await;
        ids.extend(
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned()),
        );
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return ids,
        }
    }
}

async fn sync_page(s: &TestServer, token: &str, cursor: Option<&str>, limit: u32) -> Value {
    let path = match cursor {
        Some(c) => format!("/v1/sync?limit={limit}&cursor={c}"),
        None => format!("/v1/sync?limit={limit}"),
    };
    let r = s.get(&path, Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// Syncs until `has_more` is false; returns (transactions, operations, last cursor, pages).
async fn sync_all(
    s: &TestServer,
    token: &str,
    from: Option<String>,
    limit: u32,
) -> (Vec<Value>, Vec<Value>, String, usize) {
    let (mut txs, mut ops, mut cursor, mut pages) = (Vec::new(), Vec::new(), from, 0);
    loop {
        let page = sync_page(s, token, cursor.as_deref(), limit).await;
        pages += 1;
        let n = page["transactions"].as_array().unwrap().len()
            + page["operations"].as_array().unwrap().len();
        assert!(n <= limit as usize);
        txs.extend(page["transactions"].as_array().unwrap().iter().cloned());
        ops.extend(page["operations"].as_array().unwrap().iter().cloned());
        assert!(!page["balances"].as_array().unwrap().is_empty());
        cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
        if page["has_more"] == false {
            return (txs, ops, cursor.unwrap(), pages);
        }
    }
}

#[tokio::test]
async fn sync_pages_changes_and_reports_operation_outcomes() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let (txs, ops, cursor, pages) = sync_all(&s, &zhang, None, 50).await;
    assert!(pages >= 4, "{pages}");
    let seqs: Vec<i64> = txs
        .iter()
        .map(|t| t["change_seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "change order");
    let synced: HashSet<String> = txs
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        synced,
        history_ids(&s, &zhang).await,
        "sync and history agree"
    );
    assert!(ops.is_empty(), "the demo made no requests");
    let count = txs.len();

    let quiet = sync_page(&s, &zhang, Some(&cursor), 50).await;
    assert_eq!(
        (
            quiet["transactions"].as_array().unwrap().len(),
            &quiet["has_more"]
        ),
        (0, &json!(false))
    );
    let balances = quiet["balances"].as_array().unwrap();
    assert!(
        balances
            .iter()
            .any(|b| b["currency"] == "HKD" && b["version"].as_i64().unwrap() > 0)
    );

    let ok = transfer(&s, &zhang, "k-sync-ok", LI_ID, 1_000).await;
    let refused = transfer(&s, &zhang, "k-sync-broke", LI_ID, 99_999_999).await;
    assert_eq!(refused.code(), "insufficient_funds");
    let page = sync_page(&s, &zhang, Some(&cursor), 50).await;
    let txs: Vec<_> = page["transactions"].as_array().unwrap().clone();
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0]["id"], ok.body["id"]);
    let ops = page["operations"].as_array().unwrap();
    let find = |key: &str| {
        ops.iter()
            .find(|o| o["idempotency_key"] == key)
            .cloned()
            .unwrap()
    };
    let good = find("k-sync-ok");
    assert_eq!(
        (
            &good["status"],
            &good["transaction_id"],
            &good["http_status"]
        ),
        (&json!("succeeded"), &ok.body["id"], &json!(201))
    );
    let bad = find("k-sync-broke");
    assert_eq!(
        (&bad["status"], &bad["error_code"]),
        (&json!("failed"), &json!("insufficient_funds"))
    );
    let zhang_cny = page["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["currency"] == "CNY")
        .unwrap()
        .clone();
    assert_eq!(zhang_cny["available"]["minor"], 1_234_567 - 1_000);

    // Li sees her side, not Zhang's outcomes.
    let li = s.login(LI).await;
    let (li_txs, li_ops, _, _) = sync_all(&s, &li, None, 1000).await;
    assert!(
        li_txs
            .iter()
            .any(|t| t["kind"] == "transfer_in" && t["amount"]["minor"] == 1_000)
    );
    assert!(li_ops.is_empty());

    // A settlement changes a row that was synced already: it comes again, with a later number.
    let next = page["next_cursor"].as_str().unwrap().to_owned();
    advance(&s, 7_200).await;
    let zhang = s.login(ZHANG).await;
    let page = sync_page(&s, &zhang, Some(&next), 50).await;
    let settled: Vec<_> = page["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "withdrawal")
        .collect();
    assert_eq!(
        settled.len(),
        1,
        "the demo's withdrawal on its way: {}",
        page
    );
    assert_eq!(settled[0]["status"], "settled");
    assert!(count > 100);
    s.assert_audit().await;
}

#[tokio::test]
async fn bad_or_stale_cursors_expire() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let page = sync_page(&s, &zhang, None, 10).await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    for bad in ["garbage", "czE6YWJjOjE", "%20"] {
        let r = s.get(&format!("/v1/sync?cursor={bad}"), Some(&zhang)).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (410, "cursor_expired"),
            "{bad}"
        );
    }
    for bad in ["limit=0", "limit=1001", "limit=x"] {
        assert_eq!(
            s.get(&format!("/v1/sync?{bad}"), Some(&zhang)).await.code(),
            "validation_failed"
        );
    }
    assert_eq!(s.get("/v1/sync", None).await.code(), "unauthorized");
    // After a reset the old position means nothing.
    assert_eq!(
        s.post("/__mock/reset", None, json!({})).await.status,
        StatusCode::NO_CONTENT
    );
    let zhang = s.login(ZHANG).await;
    let r = s
        .get(&format!("/v1/sync?cursor={cursor}"), Some(&zhang))
        .await;
    assert_eq!(r.code(), "cursor_expired");
    assert_eq!(sync_page(&s, &zhang, None, 10).await["has_more"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_transactions_seed_and_sync() {
    let s = TestServer::start().await;
    let started = Instant::now();
    let (_, token) = seeded_user(
        &s,
        "13700000002",
        json!([money(100_000, "CNY"), money(5_000, "USD")]),
        100_000,
    )
    .await;
    let seeded = started.elapsed();
    assert_eq!(available(&s, &token, "CNY").await, 100_000);
    assert_eq!(available(&s, &token, "USD").await, 5_000);
    s.assert_audit().await;

    let started = Instant::now();
    let (txs, _, _, pages) = sync_all(&s, &token, None, 1000).await;
    let synced = started.elapsed();
    // The generated history plus the two opening credits.
    assert_eq!(txs.len(), 100_002);
    assert_eq!(pages, 101);
    let ids: HashSet<&str> = txs.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), txs.len());
    let net: i64 = txs
        .iter()
        .filter(|t| t["amount"]["currency"] == "CNY")
        .map(|t| t["amount"]["minor"].as_i64().unwrap())
        .sum();
    assert_eq!(net, 100_000, "the history adds up to the balance");
    println!("seeded 100,000 in {seeded:?}, synced in {synced:?} (debug build)");
    assert!(seeded < Duration::from_secs(60) && synced < Duration::from_secs(120));
}

#[tokio::test]
async fn live_events_follow_money() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let li = s.login(LI).await;
    let url = s.base.replace("http://", "ws://") + "/v1/events";
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {li}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket");
    let mut zreq = (s.base.replace("http://", "ws://") + "/v1/events")
        .into_client_request()
        .unwrap();
    zreq.headers_mut()
        .insert("Authorization", format!("Bearer {zhang}").parse().unwrap());
    let (mut zsocket, _) = tokio_tungstenite::connect_async(zreq)
        .await
        .expect("websocket");

    let sent = transfer(&s, &zhang, "k-live", LI_ID, 2_345).await;
    assert_eq!(sent.status, StatusCode::CREATED);
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let msg = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("an event")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = msg {
            let event: Value = serde_json::from_str(&text).unwrap();
            match event["type"].as_str().unwrap() {
                "balance_changed" => {
                    assert_eq!(event["balance"]["available"]["minor"], 300_000 + 2_345);
                    kinds.push("balance");
                }
                "transaction_created" => {
                    assert_eq!(event["transaction"]["kind"], "transfer_in");
                    kinds.push("transaction");
                }
                other => panic!("unexpected event {other}"),
            }
        }
    }
    // A hold alerts the payer.
    let held = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-live-hold",
        None,
        json!({"to": {"account_id": LI_ID}, "amount": money(66_666, "CNY")}),
    )
    .await;
    assert_eq!(held.body["status"], "pending");
    let mut alert = None;
    while alert.is_none() {
        let msg = tokio::time::timeout(Duration::from_secs(5), zsocket.next())
            .await
            .expect("an event")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = msg {
            let event: Value = serde_json::from_str(&text).unwrap();
            if event["type"] == "risk_alert" {
                alert = Some(event);
            }
        }
    }
    let alert = alert.unwrap();
    assert_eq!(alert["alert"]["decision"]["action"], "hold");
    assert_eq!(alert["alert"]["transaction_id"], held.body["id"]);

    // A block is refused and undone, but the payer is still alerted.
    let blocked = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-live-block",
        None,
        json!({"to": {"account_id": LI_ID}, "amount": money(44_444, "CNY")}),
    )
    .await;
    assert_eq!(blocked.code(), "risk_blocked");
    let mut action = None;
    while action.is_none() {
        let msg = tokio::time::timeout(Duration::from_secs(5), zsocket.next())
            .await
            .expect("a risk alert for the blocked transfer")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = msg {
            let event: Value = serde_json::from_str(&text).unwrap();
            if event["type"] == "risk_alert" {
                action = event["alert"]["decision"]["action"]
                    .as_str()
                    .map(str::to_owned);
            }
        }
    }
    assert_eq!(action.as_deref(), Some("block"));
}
