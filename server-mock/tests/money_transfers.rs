//! Transfers between accounts: paths to the payee, refusals, idempotency (dropped responses,
//! reused keys, concurrent duplicates) and concurrency against one balance.

mod common;
mod money_kit;

use common::{LI, LI_ID, MAGIC_ID, TestServer, ZHANG, ZHANG_ID};
use money_kit::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use upay_protocol::money::{Currency, Money};
use upay_protocol::qr::{MerchantCode, PersonalCode, QrPayload};

#[tokio::test]
async fn transfer_moves_money_and_both_sides_see_it() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let li = s.login(LI).await;
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567);
    assert_eq!(available(&s, &li, "CNY").await, 300_000);
    let versions_before = balances(&s, &zhang).await;

    let r = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-basic",
        Some("risk=allow"),
        json!({"to": {"account_id": LI_ID}, "amount": money(1234, "CNY"), "note": "奶茶钱 tea"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["kind"], "transfer_out");
    assert_eq!(r.body["status"], "settled");
    assert_eq!(r.body["amount"], money(-1234, "CNY"));
    assert_eq!(r.body["counterparty"]["id"], LI_ID);
    assert_eq!(r.body["counterparty"]["name"], "李娜");
    assert_eq!(r.body["note"], "奶茶钱 tea");
    assert_eq!(r.body["category"], "transfer");
    let id = r.body["id"].as_str().unwrap().to_owned();

    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 - 1234);
    assert_eq!(available(&s, &li, "CNY").await, 300_000 + 1234);
    let after = balances(&s, &zhang).await;
    let v = |b: &Vec<(String, i64, i64, i64)>| b.iter().find(|x| x.0 == "CNY").unwrap().3;
    assert!(
        v(&after) > v(&versions_before),
        "the balance version moves on"
    );

    let detail = s.get(&format!("/v1/transactions/{id}"), Some(&zhang)).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(detail.body["id"], id.as_str());
    // Li Na has her own row for the same operation; Zhang's row is not hers to read.
    assert_eq!(
        s.get(&format!("/v1/transactions/{id}"), Some(&li))
            .await
            .code(),
        "not_found"
    );
    let incoming = history(&s, &li, "&kind=transfer_in").await;
    let row = &incoming[0];
    assert_eq!(row["amount"], money(1234, "CNY"));
    assert_eq!(row["counterparty"]["id"], ZHANG_ID);
    assert_eq!(row["note"], "奶茶钱 tea");
    assert_ne!(row["id"], id.as_str());
    s.assert_audit().await;
}

fn personal_qr(account: &str, amount: Option<i64>) -> String {
    QrPayload::Personal(PersonalCode {
        account_id: account.to_owned(),
        amount: amount.map(|m| Money::new(m, Currency::CNY).unwrap()),
        name: Some("李娜".to_owned()),
    })
    .encode()
}

#[tokio::test]
async fn transfer_by_phone_and_by_scanned_code() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let by_phone = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-phone",
        Some("risk=allow"),
        json!({"to": {"phone": "+86 139 0013 9000"}, "amount": money(500, "CNY")}),
    )
    .await;
    assert_eq!(by_phone.status, StatusCode::CREATED, "{}", by_phone.body);
    assert_eq!(by_phone.body["counterparty"]["id"], LI_ID);

    // A code with a fixed amount pays that amount when none is given...
    let qr = personal_qr(LI_ID, Some(888));
    let r = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-qr",
        Some("risk=allow"),
        json!({"to": {"qr": qr}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["amount"], money(-888, "CNY"));
    // ...and refuses a different one.
    let r = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-qr-2",
        None,
        json!({"to": {"qr": qr}, "amount": money(999, "CNY")}),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert_eq!(r.body["errors"][0]["code"], "mismatch");
    // A code without an amount needs one.
    let open = personal_qr(LI_ID, None);
    let r = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-qr-3",
        None,
        json!({"to": {"qr": open}}),
    )
    .await;
    assert_eq!(r.body["errors"][0]["field"], "amount");

    let merchant = QrPayload::Merchant(MerchantCode {
        merchant_id: "M0000000001".to_owned(),
        name: "瑞幸咖啡".to_owned(),
        currency: Currency::CNY,
        amount: None,
    })
    .encode();
    let r = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-qr-4",
        None,
        json!({"to": {"qr": merchant}, "amount": money(1, "CNY")}),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "qr_invalid")
    );
    assert_eq!(r.body["errors"][0]["code"], "merchant_code");
    let mut broken = open.clone();
    broken.replace_range(10..11, "9");
    let r = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-qr-5",
        None,
        json!({"to": {"qr": broken}, "amount": money(1, "CNY")}),
    )
    .await;
    assert_eq!(r.code(), "qr_invalid");
    assert!(
        r.body["errors"][0]["code"]
            .as_str()
            .unwrap()
            .starts_with("qr_")
    );
    assert!(
        !r.body.to_string().contains(&broken),
        "the scanned text is not echoed"
    );

    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 - 500 - 888);
    s.assert_audit().await;
}

#[tokio::test]
async fn refused_transfers_change_nothing() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let li = s.login(LI).await;
    let cases = [
        (
            json!({"to": {"account_id": ZHANG_ID}, "amount": money(100, "CNY")}),
            422,
            "self_transfer",
        ),
        (
            json!({"to": {"account_id": "U9999999999"}, "amount": money(100, "CNY")}),
            404,
            "payee_not_found",
        ),
        (
            json!({"to": {"phone": "13700000000"}, "amount": money(100, "CNY")}),
            404,
            "payee_not_found",
        ),
        (
            json!({"to": {"phone": "12"}, "amount": money(100, "CNY")}),
            422,
            "validation_failed",
        ),
        (
            json!({"to": {"account_id": "u123"}, "amount": money(100, "CNY")}),
            422,
            "validation_failed",
        ),
        (
            json!({"to": {"account_id": LI_ID}, "amount": money(1_234_568, "CNY")}),
            422,
            "insufficient_funds",
        ),
        (
            json!({"to": {"account_id": LI_ID}, "amount": money(100, "EUR")}),
            422,
            "insufficient_funds",
        ),
        (
            json!({"to": {"account_id": LI_ID}, "amount": money(100, "CNY"), "note": "长".repeat(141)}),
            422,
            "validation_failed",
        ),
        (
            json!({"to": {"account_id": LI_ID}, "amount": money(100, "CNY"), "note": "a\u{0007}b"}),
            422,
            "validation_failed",
        ),
    ];
    for (i, (body, status, code)) in cases.into_iter().enumerate() {
        let r = post_money(
            &s,
            "/v1/transfers",
            &zhang,
            &format!("k-refused-{i}"),
            Some("risk=allow"),
            body,
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (status, code),
            "case {i}: {}",
            r.body
        );
    }
    let note_ok = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-note-140",
        Some("risk=allow"),
        json!({"to": {"account_id": LI_ID}, "amount": money(1, "CNY"), "note": "长".repeat(140)}),
    )
    .await;
    assert_eq!(
        note_ok.status,
        StatusCode::CREATED,
        "140 characters are fine: {}",
        note_ok.body
    );
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 - 1);
    assert_eq!(available(&s, &li, "CNY").await, 300_001);
    s.assert_audit().await;
}

#[tokio::test]
async fn frozen_account_cannot_move_money_until_unfrozen() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let t = transfer(&s, &zhang, "k-before", LI_ID, 100).await;
    let txn = t.body["id"].as_str().unwrap().to_owned();
    // Reporting someone else's transaction is not possible.
    let li = s.login(LI).await;
    let r = s
        .post("/v1/risk/not-me", Some(&li), json!({"transaction_id": txn}))
        .await;
    assert_eq!(r.code(), "not_found");

    let r = s
        .post(
            "/v1/risk/not-me",
            Some(&zhang),
            json!({"transaction_id": txn}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["frozen"], true);
    let refused = transfer(&s, &zhang, "k-frozen", LI_ID, 100).await;
    assert_eq!(
        (refused.status.as_u16(), refused.code()),
        (423, "account_frozen")
    );
    // A retry of the operation accepted before the freeze still answers with its result.
    let replay = transfer(&s, &zhang, "k-before", LI_ID, 100).await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.body["id"], txn.as_str());
    let me = s.get("/v1/me", Some(&zhang)).await;
    assert_eq!(me.body["status"], "frozen");

    let r = s
        .post(
            &format!("/__mock/users/{ZHANG_ID}/unfreeze"),
            None,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.post("/__mock/users/U9999999999/unfreeze", None, json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let ok = transfer(&s, &zhang, "k-after", LI_ID, 100).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 - 200);
    s.assert_audit().await;
}

#[tokio::test]
async fn payee_lookup_shows_a_masked_name() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let r = s
        .get("/v1/payees/lookup?phone=13900139000", Some(&zhang))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"account_id": LI_ID, "masked_name": "*娜"}));
    let r = s
        .get(
            &format!("/v1/payees/lookup?account_id={MAGIC_ID}"),
            Some(&zhang),
        )
        .await;
    assert_eq!(r.body["masked_name"], "T*** M****");
    assert_eq!(
        s.get("/v1/payees/lookup?phone=13700000000", Some(&zhang))
            .await
            .code(),
        "payee_not_found"
    );
    assert_eq!(
        s.get("/v1/payees/lookup", Some(&zhang)).await.code(),
        "validation_failed"
    );
    let both = s
        .get(
            &format!("/v1/payees/lookup?phone=13900139000&account_id={LI_ID}"),
            Some(&zhang),
        )
        .await;
    assert_eq!(both.code(), "validation_failed");
    assert_eq!(
        s.get("/v1/payees/lookup?account_id=nope", Some(&zhang))
            .await
            .code(),
        "validation_failed"
    );
    assert_eq!(
        s.get("/v1/payees/lookup?phone=13900139000", None)
            .await
            .code(),
        "unauthorized"
    );
}

#[tokio::test]
async fn a_retry_after_a_dropped_response_debits_once() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let rule = json!({"route": "/v1/transfers", "fault": {"kind": "drop_response"}, "times": 1});
    assert_eq!(
        control(&s, "/__mock/faults", rule).await.status,
        StatusCode::CREATED
    );
    let body =
        json!({"to": {"account_id": LI_ID}, "amount": money(4321, "CNY"), "note": "retry me"});
    let first = s
        .client
        .post(format!("{}/v1/transfers", s.base))
        .bearer_auth(&zhang)
        .header("Idempotency-Key", "k-dropped")
        .header("X-Mock-Scenario", "risk=allow")
        .json(&body)
        .send()
        .await;
    assert!(first.is_err(), "the response was dropped");

    let retry = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-dropped",
        Some("risk=allow"),
        body.clone(),
    )
    .await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert_eq!(retry.headers["Idempotent-Replayed"], "true");
    let again = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-dropped",
        Some("risk=allow"),
        body,
    )
    .await;
    assert_eq!(
        again.body, retry.body,
        "replays are byte for byte the first answer"
    );

    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 - 4321);
    let li = s.login(LI).await;
    let arrived: Vec<_> = history(&s, &li, "&kind=transfer_in")
        .await
        .into_iter()
        .filter(|t| t["note"] == "retry me")
        .collect();
    assert_eq!(arrived.len(), 1, "one transfer arrived");
    let sent = history(&s, &zhang, "&kind=transfer_out").await;
    assert_eq!(sent.iter().filter(|t| t["note"] == "retry me").count(), 1);
    s.assert_audit().await;
}

#[tokio::test]
async fn keys_are_checked_and_scoped_per_user() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let li = s.login(LI).await;
    let missing = s
        .send(
            s.req(Method::POST, "/v1/transfers")
                .bearer_auth(&zhang)
                .json(&json!({"to": {"account_id": LI_ID}, "amount": money(100, "CNY")})),
        )
        .await;
    assert_eq!(
        (missing.status.as_u16(), missing.code()),
        (400, "idempotency_key_missing")
    );
    let long = "k".repeat(256);
    let r = transfer(&s, &zhang, &long, LI_ID, 100).await;
    assert_eq!(r.code(), "validation_failed");

    let first = transfer(&s, &zhang, "k-shared", LI_ID, 100).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let other_body = transfer(&s, &zhang, "k-shared", LI_ID, 101).await;
    assert_eq!(
        (other_body.status.as_u16(), other_body.code()),
        (422, "idempotency_key_reused")
    );
    let other_route = post_money(
        &s,
        "/v1/top-ups",
        &zhang,
        "k-shared",
        None,
        json!({"amount": money(100, "CNY")}),
    )
    .await;
    assert_eq!(other_route.code(), "idempotency_key_reused");
    // Li's keys are her own.
    let li_same_key = transfer(&s, &li, "k-shared", ZHANG_ID, 100).await;
    assert_eq!(
        li_same_key.status,
        StatusCode::CREATED,
        "{}",
        li_same_key.body
    );
    assert_ne!(li_same_key.body["id"], first.body["id"]);

    // A definite refusal is stored and replayed too; a fixable one is not.
    let broke = transfer(&s, &zhang, "k-broke", LI_ID, 99_999_999).await;
    assert_eq!(broke.code(), "insufficient_funds");
    let replay = transfer(&s, &zhang, "k-broke", LI_ID, 99_999_999).await;
    assert_eq!(replay.code(), "insufficient_funds");
    assert_eq!(replay.headers["Idempotent-Replayed"], "true");
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 - 100 + 100);
    s.assert_audit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transfers_never_overdraw() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    // 50 × CNY 400.00 against CNY 12,345.67: exactly 30 fit.
    let attempts = (0..50).map(|i| {
        let (s, zhang) = (&s, &zhang);
        async move { transfer(s, zhang, &format!("k-par-{i}"), LI_ID, 40_000).await }
    });
    let results = futures_util::future::join_all(attempts).await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let broke = results
        .iter()
        .filter(|r| r.code() == "insufficient_funds")
        .count();
    assert_eq!(
        (ok, broke),
        (30, 20),
        "{:?}",
        results.iter().map(|r| r.code()).collect::<Vec<_>>()
    );
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 - 30 * 40_000);
    let li = s.login(LI).await;
    assert_eq!(available(&s, &li, "CNY").await, 300_000 + 30 * 40_000);
    s.assert_audit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_of_one_key_debit_once() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let attempts = (0..20).map(|_| {
        let (s, zhang) = (&s, &zhang);
        async move { transfer(s, zhang, "k-same", LI_ID, 777).await }
    });
    let results = futures_util::future::join_all(attempts).await;
    let ids: std::collections::BTreeSet<_> = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .map(|r| r.body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "every success is the same transfer");
    for r in &results {
        assert!(
            r.status == StatusCode::CREATED || r.code() == "idempotency_in_flight",
            "{}",
            r.body
        );
    }
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 - 777);
    s.assert_audit().await;
}

#[tokio::test]
async fn money_can_arrive_from_outside_and_be_seeded() {
    let s = TestServer::start().await;
    let li = s.login(LI).await;
    let r = control(
        &s,
        "/__mock/incoming-transfer",
        json!({"to": LI, "amount": money(88_800, "CNY"), "sender_name": "Acme Payroll", "note": "工资 salary"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (&r.body["kind"], &r.body["counterparty"]["kind"]),
        (&json!("transfer_in"), &json!("external"))
    );
    assert_eq!(available(&s, &li, "CNY").await, 300_000 + 88_800);
    assert_eq!(history(&s, &li, "&q=acme").await.len(), 1);
    let usd = control(
        &s,
        "/__mock/incoming-transfer",
        json!({"to": LI_ID, "amount": money(1_000, "USD"), "sender_name": "Mom"}),
    )
    .await;
    assert_eq!(usd.status, StatusCode::CREATED);
    assert_eq!(
        available(&s, &li, "USD").await,
        1_000,
        "a new currency opens on first credit"
    );
    for (body, code) in [
        (
            json!({"to": "U9999999999", "amount": money(1, "CNY"), "sender_name": "x"}),
            "payee_not_found",
        ),
        (
            json!({"to": LI_ID, "amount": money(-1, "CNY"), "sender_name": "x"}),
            "invalid_amount",
        ),
        (
            json!({"to": LI_ID, "amount": money(1, "CNY"), "sender_name": ""}),
            "validation_failed",
        ),
    ] {
        assert_eq!(
            control(&s, "/__mock/incoming-transfer", body).await.code(),
            code
        );
    }

    // Generated history for an existing user leaves the balance as it was.
    let before = history(&s, &li, "").await.len();
    let r = control(
        &s,
        "/__mock/seed",
        json!({"user_id": LI_ID, "transactions": 10}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(available(&s, &li, "CNY").await, 300_000 + 88_800);
    assert!(history(&s, &li, "").await.len() >= before + 10);
    assert_eq!(
        control(&s, "/__mock/seed", json!({"user_id": "U9999999999"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let taken = json!({"user": {"phone": LI, "password": "Demo1234", "full_name": "x"}});
    assert_eq!(
        control(&s, "/__mock/seed", taken).await.code(),
        "phone_taken"
    );
    assert_eq!(
        control(&s, "/__mock/seed", json!({})).await.code(),
        "validation_failed"
    );

    let audit = s.get("/__mock/audit", None).await;
    let cny = audit.body["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["currency"] == "CNY")
        .unwrap()
        .clone();
    assert_eq!(cny["posted_sum"], 0);
    assert_eq!(cny["pending_debits"], cny["pending_credits"]);
    assert!(audit.body["problems"].as_array().unwrap().is_empty());
    s.assert_audit().await;
}
