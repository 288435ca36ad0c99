//! Savings (理财): moving money in and out (idempotent, never negative, through the ledger),
//! daily interest by the mock clock checked to the fen against an independent computation,
//! the yield history, published rates, and what the app hears.

mod common;
mod money_kit;

use std::time::Duration;

use common::{Resp, TestServer};
use futures_util::StreamExt;
use money_kit::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const DAY_MS: i64 = 86_400_000;
const CHINA_OFFSET_MS: i64 = 8 * 3_600_000;

fn china_day(ms: i64) -> i64 {
    (ms + CHINA_OFFSET_MS).div_euclid(DAY_MS)
}

async fn now(s: &TestServer) -> i64 {
    s.get("/__mock/clock", None).await.body["now"]
        .as_i64()
        .unwrap()
}

/// Moves the clock to just after the next 12:00 China time, so whole-day advances land at noon
/// and never on a midnight.
async fn to_china_noon(s: &TestServer) {
    let t = now(s).await;
    let mut noon = china_day(t) * DAY_MS - CHINA_OFFSET_MS + 12 * 3_600_000;
    if noon <= t {
        noon += DAY_MS;
    }
    advance(s, (noon - t) / 1000 + 1).await;
}

async fn deposit(s: &TestServer, token: &str, key: &str, amount: Value) -> Resp {
    s.post_idem(
        "/v1/savings/deposits",
        token,
        key,
        json!({ "amount": amount }),
    )
    .await
}

async fn withdraw(s: &TestServer, token: &str, key: &str, amount: Value) -> Resp {
    s.post_idem(
        "/v1/savings/withdrawals",
        token,
        key,
        json!({ "amount": amount }),
    )
    .await
}

/// The savings entry of `currency` in `GET /v1/savings`.
async fn savings(s: &TestServer, token: &str, currency: &str) -> Value {
    let r = s.get("/v1/savings", Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["currency"] == currency)
        .cloned()
        .expect("a savings product")
}

/// Every yield, newest first, read `page` at a time.
async fn all_yields(s: &TestServer, token: &str, page: u32) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/savings/yields?currency=CNY&limit={page}&cursor={c}"),
            None => format!("/v1/savings/yields?currency=CNY&limit={page}"),
        };
        let r = s.get(&path, Some(token)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= page as usize);
        out.extend(items.iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// One day of the published rule, computed here independently: floor(balance × 0.0185 / 365)
/// in integers (0.0185 = 185 / 10,000).
fn day_interest_cny(balance: i64) -> i64 {
    (i128::from(balance) * 185 / (10_000 * 365)) as i64
}

#[tokio::test]
async fn thirty_days_of_interest_match_the_rate_to_the_fen() {
    let s = TestServer::start().await;
    to_china_noon(&s).await;
    let phone = "13600136001";
    let (_, token) = seeded_user(&s, phone, json!([money(10_000_000, "CNY")]), 0).await;
    let start = now(&s).await;

    let r = deposit(&s, &token, "dep-1", money(5_234_567, "CNY")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["transaction"]["kind"], "savings_deposit");
    assert_eq!(r.body["transaction"]["amount"], money(-5_234_567, "CNY"));
    assert_eq!(r.body["savings"]["balance"], money(5_234_567, "CNY"));
    assert_eq!(r.body["savings"]["annual_rate"], "0.0185");
    assert_eq!(available(&s, &token, "CNY").await, 10_000_000 - 5_234_567);

    // Ten days, then a withdrawal at noon, then twenty more days: thirty midnights in all.
    advance(&s, 10 * 86_400).await;
    let token = s.login(phone).await;
    let mid = now(&s).await;
    let r = withdraw(&s, &token, "wd-1", money(1_000_001, "CNY")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["transaction"]["kind"], "savings_withdrawal");
    advance(&s, 20 * 86_400).await;
    let token = s.login(phone).await;
    let end = now(&s).await;
    assert_eq!(china_day(mid) - china_day(start), 10);
    assert_eq!(china_day(end) - china_day(start), 30);

    // The expected yields, day by day, each on the balance the previous ones left.
    let mut balance = 5_234_567_i64;
    let mut expected = Vec::new();
    for day in 0..30 {
        if day == 10 {
            balance -= 1_000_001;
        }
        let interest = day_interest_cny(balance);
        expected.push((balance, interest));
        balance += interest;
    }
    let total: i64 = expected.iter().map(|e| e.1).sum();
    assert!(total > 0);

    let view = savings(&s, &token, "CNY").await;
    assert_eq!(view["balance"], money(balance, "CNY"));
    assert_eq!(view["cumulative_yield"], money(total, "CNY"));
    assert_eq!(view["yesterday_yield"], money(expected[29].1, "CNY"));
    assert_eq!(
        view["next_accrual_at"],
        (china_day(end) + 1) * DAY_MS - CHINA_OFFSET_MS
    );

    // The history, newest first, read in pages of seven.
    let yields = all_yields(&s, &token, 7).await;
    assert_eq!(yields.len(), 30);
    for (i, y) in yields.iter().rev().enumerate() {
        let (bal, interest) = expected[i];
        assert_eq!(y["balance"], money(bal, "CNY"), "day {i}");
        assert_eq!(y["amount"], money(interest, "CNY"), "day {i}");
        assert_eq!(y["annual_rate"], "0.0185");
        let credited_at = y["credited_at"].as_i64().unwrap();
        assert_eq!(china_day(credited_at), china_day(start) + i as i64 + 1);
        assert_eq!(
            credited_at,
            china_day(credited_at) * DAY_MS - CHINA_OFFSET_MS
        );
        assert!(y["transaction_id"].is_string());
    }
    assert_ne!(yields[0]["date"], yields[1]["date"]);

    // Every yield is an `interest` entry in the history; the wallet is untouched by them.
    let interest_rows = history(&s, &token, "&kind=interest").await;
    assert_eq!(interest_rows.len(), 30);
    let sum: i64 = interest_rows
        .iter()
        .map(|t| t["amount"]["minor"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, total);
    assert!(
        interest_rows
            .iter()
            .all(|t| t["counterparty"]["kind"] == "own")
    );
    assert_eq!(
        available(&s, &token, "CNY").await,
        10_000_000 - 5_234_567 + 1_000_001
    );
    s.assert_audit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_are_idempotent_and_never_negative() {
    let s = TestServer::start().await;
    let (_, token) = seeded_user(&s, "13600136002", json!([money(100_000, "CNY")]), 0).await;

    let a = deposit(&s, &token, "dep-a", money(60_000, "CNY")).await;
    let b = deposit(&s, &token, "dep-a", money(60_000, "CNY")).await;
    assert_eq!(b.status, StatusCode::CREATED);
    assert_eq!(b.headers["Idempotent-Replayed"], "true");
    assert_eq!(a.body["transaction"]["id"], b.body["transaction"]["id"]);
    assert_eq!(
        deposit(&s, &token, "dep-a", money(1, "CNY")).await.code(),
        "idempotency_key_reused"
    );
    assert_eq!(
        savings(&s, &token, "CNY").await["balance"],
        money(60_000, "CNY")
    );
    assert_eq!(available(&s, &token, "CNY").await, 40_000);

    // Neither side goes below zero.
    let r = deposit(&s, &token, "dep-too-much", money(40_001, "CNY")).await;
    assert_eq!(r.code(), "insufficient_funds");
    let r = withdraw(&s, &token, "wd-too-much", money(60_001, "CNY")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "savings_insufficient")
    );
    for (key, amount, code) in [
        ("bad-zero", money(0, "CNY"), "invalid_amount"),
        ("bad-negative", money(-5, "CNY"), "invalid_amount"),
        ("bad-jpy", money(100, "JPY"), "unsupported_currency"),
    ] {
        assert_eq!(deposit(&s, &token, key, amount).await.code(), code, "{key}");
    }
    let r = withdraw(&s, &token, "wd-usd", money(1, "USD")).await;
    assert_eq!(r.code(), "savings_insufficient", "nothing saved in USD");
    let r = s
        .send(
            s.req(Method::POST, "/v1/savings/deposits")
                .bearer_auth(&token)
                .json(&json!({"amount": money(1, "CNY")})),
        )
        .await;
    assert_eq!(r.code(), "idempotency_key_missing");

    // Ten concurrent withdrawals of CNY 180.00 from CNY 600.00: exactly three fit.
    let attempts = (0..10).map(|i| {
        let (s, token) = (&s, &token);
        async move { withdraw(s, token, &format!("wd-par-{i}"), money(18_000, "CNY")).await }
    });
    let results = futures_util::future::join_all(attempts).await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let short = results
        .iter()
        .filter(|r| r.code() == "savings_insufficient")
        .count();
    assert_eq!((ok, short), (3, 7));
    assert_eq!(
        savings(&s, &token, "CNY").await["balance"],
        money(6_000, "CNY")
    );
    assert_eq!(available(&s, &token, "CNY").await, 40_000 + 54_000);
    // Everything back out: exactly zero is fine.
    let r = withdraw(&s, &token, "wd-rest", money(6_000, "CNY")).await;
    assert_eq!(r.body["savings"]["balance"], money(0, "CNY"));
    assert_eq!(available(&s, &token, "CNY").await, 100_000);

    // A frozen account moves nothing.
    let r = s
        .send(
            s.req(Method::POST, "/v1/risk/not-me")
                .bearer_auth(&token)
                .json(&json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = deposit(&s, &token, "dep-frozen", money(100, "CNY")).await;
    assert_eq!((r.status, r.code()), (StatusCode::LOCKED, "account_frozen"));
    s.assert_audit().await;
}

#[tokio::test]
async fn money_saved_after_midnight_waits_for_the_next_one() {
    let s = TestServer::start().await;
    to_china_noon(&s).await;
    let phone = "13600136003";
    let (_, token) = seeded_user(&s, phone, json!([money(5_000_000, "CNY")]), 0).await;
    let r = deposit(&s, &token, "dep-1", money(1_000_000, "CNY")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let fresh = savings(&s, &token, "CNY").await;
    assert_eq!(fresh["yesterday_yield"], money(0, "CNY"));
    assert!(fresh.get("accrued_through").is_none());
    assert!(all_yields(&s, &token, 10).await.is_empty());

    // Eleven hours later (23:00): no midnight yet.
    advance(&s, 11 * 3600).await;
    let token = s.login(phone).await;
    assert_eq!(
        savings(&s, &token, "CNY").await["cumulative_yield"],
        money(0, "CNY")
    );
    // 23:30: a deposit just before midnight earns the whole night's interest at 00:00.
    advance(&s, 1800).await;
    let token = s.login(phone).await;
    deposit(&s, &token, "dep-2", money(1_000_000, "CNY")).await;
    advance(&s, 3600).await;
    let token = s.login(phone).await;
    let one = savings(&s, &token, "CNY").await;
    let first = day_interest_cny(2_000_000);
    assert_eq!(first, 101, "2,000,000 × 0.0185 / 365 = 101.37 fen");
    assert_eq!(one["yesterday_yield"], money(first, "CNY"));
    assert_eq!(one["balance"], money(2_000_000 + first, "CNY"));
    assert!(one["accrued_through"].is_string());

    // A withdrawal of everything leaves nothing to earn on.
    let r = withdraw(&s, &token, "wd-all", money(2_000_000 + first, "CNY")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    advance(&s, 3 * 86_400).await;
    let token = s.login(phone).await;
    let after = savings(&s, &token, "CNY").await;
    assert_eq!(after["balance"], money(0, "CNY"));
    assert_eq!(after["cumulative_yield"], money(first, "CNY"));
    assert_eq!(after["yesterday_yield"], money(0, "CNY"));
    assert_eq!(all_yields(&s, &token, 10).await.len(), 1);
    s.assert_audit().await;
}

#[tokio::test]
async fn a_new_rate_applies_from_the_next_midnight() {
    let s = TestServer::start().await;
    to_china_noon(&s).await;
    let phone = "13600136004";
    let (_, token) = seeded_user(
        &s,
        phone,
        json!([money(3_000_000, "CNY"), money(100_000, "USD")]),
        0,
    )
    .await;
    let rates = s.get("/__mock/savings/rates", None).await;
    assert_eq!(rates.status, StatusCode::OK);
    deposit(&s, &token, "dep-cny", money(3_000_000, "CNY")).await;
    let usd = deposit(&s, &token, "dep-usd", money(100_000, "USD")).await;
    assert_eq!(usd.body["savings"]["annual_rate"], "0.04");
    advance(&s, 86_400).await;

    let r = s
        .send(
            s.req(Method::PUT, "/__mock/savings/rates")
                .json(&json!({"currency": "CNY", "annual_rate": "0.0365"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for bad in [
        json!({"currency": "CNY", "annual_rate": "1.01"}),
        json!({"currency": "CNY", "annual_rate": "0"}),
        json!({"currency": "CNY", "annual_rate": 0.02}),
    ] {
        let r = s
            .send(s.req(Method::PUT, "/__mock/savings/rates").json(&bad))
            .await;
        assert_eq!(r.code(), "validation_failed", "{bad}");
    }
    let r = s
        .send(
            s.req(Method::PUT, "/__mock/savings/rates")
                .json(&json!({"currency": "JPY", "annual_rate": "0.01"})),
        )
        .await;
    assert_eq!(r.code(), "unsupported_currency");
    advance(&s, 86_400).await;
    let token = s.login(phone).await;

    let day1 = day_interest_cny(3_000_000);
    // 0.0365 / 365 = 0.0001 a day exactly.
    let day2 = (3_000_000 + day1) / 10_000;
    let yields = all_yields(&s, &token, 10).await;
    assert_eq!(yields.len(), 2);
    assert_eq!(
        (&yields[1]["annual_rate"], &yields[1]["amount"]),
        (&json!("0.0185"), &money(day1, "CNY"))
    );
    assert_eq!(
        (&yields[0]["annual_rate"], &yields[0]["amount"]),
        (&json!("0.0365"), &money(day2, "CNY"))
    );
    // USD earns its own rate in its own currency: 100,000 × 0.04 / 365 = 10.96 cents.
    let usd = savings(&s, &token, "USD").await;
    assert_eq!(usd["yesterday_yield"], money(10, "USD"));
    assert_eq!(usd["balance"], money(100_020, "USD"));
    s.assert_audit().await;
}

#[tokio::test]
async fn the_app_hears_of_moves_and_interest_and_sync_carries_them() {
    let s = TestServer::start().await;
    to_china_noon(&s).await;
    let phone = "13600136005";
    let (_, token) = seeded_user(&s, phone, json!([money(1_000_000, "CNY")]), 0).await;
    let mut request = (s.base.replace("http://", "ws://") + "/v1/events")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket");
    let first = s.get("/v1/sync?limit=1000", Some(&token)).await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();

    deposit(&s, &token, "dep-live", money(500_000, "CNY")).await;
    advance(&s, 86_400).await;

    let mut seen = Vec::new();
    while !seen.iter().any(|k: &String| k == "interest") {
        let msg = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("an event")
            .unwrap()
            .unwrap();
        let Message::Text(text) = msg else { continue };
        let event: Value = serde_json::from_str(&text).unwrap();
        match event["type"].as_str().unwrap() {
            "savings_changed" => {
                seen.push(format!("savings {}", event["savings"]["balance"]["minor"]))
            }
            "transaction_created" => {
                seen.push(event["transaction"]["kind"].as_str().unwrap().to_owned())
            }
            "balance_changed" => seen.push("balance".to_owned()),
            other => panic!("unexpected event {other}"),
        }
    }
    let interest = day_interest_cny(500_000);
    assert_eq!(
        seen,
        ["balance", "savings_deposit", "savings 500000", "interest"]
    );
    let next = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("an event")
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_str(next.to_text().unwrap()).unwrap();
    assert_eq!(event["type"], "savings_changed");
    assert_eq!(
        event["savings"]["balance"],
        money(500_000 + interest, "CNY")
    );

    let token = s.login(phone).await;
    let page = s
        .get(
            &format!("/v1/sync?limit=1000&cursor={cursor}"),
            Some(&token),
        )
        .await;
    let kinds: Vec<&str> = page.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["savings_deposit", "interest"]);
    let ops = page.body["operations"].as_array().unwrap();
    assert!(
        ops.iter()
            .any(|o| o["idempotency_key"] == "dep-live" && o["status"] == "succeeded")
    );
    s.assert_audit().await;
}
