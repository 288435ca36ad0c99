//! Hostile and broken input to every money endpoint: malformed, oversized, negative, zero,
//! overflowing and wrong-currency amounts. Each gets a 4xx with a stable code — never a 5xx —
//! and nothing is written: balances and the ledger stay exactly as they were.

mod common;
mod money_kit;

use common::{LI_ID, TestServer, ZHANG};
use money_kit::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn luckin() -> String {
    upay_protocol::qr::QrPayload::Merchant(upay_protocol::qr::MerchantCode {
        merchant_id: "M0000000001".to_owned(),
        name: "瑞幸咖啡".to_owned(),
        currency: upay_protocol::money::Currency::CNY,
        amount: None,
    })
    .encode()
}

/// Builds a request body around the given `amount` value.
type BodyWith = Box<dyn Fn(Value) -> Value>;

/// (path, a body with `amount` replaced by the given value).
fn endpoints() -> Vec<(&'static str, BodyWith)> {
    let qr = luckin();
    vec![
        (
            "/v1/transfers",
            Box::new(|a| json!({"to": {"account_id": LI_ID}, "amount": a})),
        ),
        (
            "/v1/merchant-payments",
            Box::new(move |a| json!({"qr": qr.clone(), "amount": a})),
        ),
        ("/v1/top-ups", Box::new(|a| json!({"amount": a}))),
        ("/v1/withdrawals", Box::new(|a| json!({"amount": a}))),
        (
            "/v1/fx/quotes",
            Box::new(|a| json!({"from": "CNY", "to": "USD", "sell": a})),
        ),
    ]
}

/// Amounts no endpoint may accept, with the code they must get.
fn bad_amounts() -> Vec<(Value, &'static [&'static str])> {
    const SHAPE: &[&str] = &["validation_failed"];
    const AMOUNT: &[&str] = &["invalid_amount"];
    vec![
        (money(-100, "CNY"), AMOUNT),
        (money(0, "CNY"), AMOUNT),
        (money(i64::MIN, "CNY"), SHAPE),
        (
            json!({"minor": 1_000_000_000_000_001i64, "currency": "CNY"}),
            SHAPE,
        ),
        (
            json!({"minor": 9_223_372_036_854_775_808u64, "currency": "CNY"}),
            SHAPE,
        ),
        (
            json!({"minor": 99_999_999_999_999_999_999.0, "currency": "CNY"}),
            SHAPE,
        ),
        (json!({"minor": 1.5, "currency": "CNY"}), SHAPE),
        (json!({"minor": "100", "currency": "CNY"}), SHAPE),
        (json!({"minor": 100, "currency": "XXX"}), SHAPE),
        (json!({"minor": 100, "currency": "cny"}), SHAPE),
        (json!({"minor": 100}), SHAPE),
        (json!({"currency": "CNY"}), SHAPE),
        (json!([100, "CNY"]), SHAPE),
        (json!("100.00 CNY"), SHAPE),
    ]
}

async fn ledger_state(s: &TestServer, token: &str) -> (Vec<(String, i64, i64, i64)>, Value) {
    let audit = s.get("/__mock/audit", None).await.body;
    (
        balances(s, token).await,
        json!([audit["postings"], audit["legs"]]),
    )
}

#[tokio::test]
async fn broken_amounts_get_stable_codes_and_write_nothing() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let before = ledger_state(&s, &zhang).await;
    let mut n = 0;
    for (path, body) in endpoints() {
        for (amount, codes) in bad_amounts() {
            n += 1;
            let r = post_money(
                &s,
                path,
                &zhang,
                &format!("k-bad-{n}"),
                Some("risk=allow"),
                body(amount.clone()),
            )
            .await;
            assert!(
                r.status.is_client_error(),
                "{path} {amount}: {} {}",
                r.status,
                r.body
            );
            assert!(codes.contains(&r.code()), "{path} {amount}: got {}", r.body);
        }
    }
    assert_eq!(
        ledger_state(&s, &zhang).await,
        before,
        "nothing was written"
    );
    s.assert_audit().await;
}

#[tokio::test]
async fn wrong_currencies_are_refused() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let before = ledger_state(&s, &zhang).await;
    let cases: [(&str, Value, &str); 5] = [
        (
            "/v1/transfers",
            json!({"to": {"account_id": LI_ID}, "amount": money(100, "KWD")}),
            "unsupported_currency",
        ),
        (
            "/v1/top-ups",
            json!({"amount": money(100, "BHD")}),
            "unsupported_currency",
        ),
        (
            "/v1/withdrawals",
            json!({"amount": money(100, "KWD")}),
            "unsupported_currency",
        ),
        (
            "/v1/withdrawals",
            json!({"amount": money(100, "GBP")}),
            "insufficient_funds",
        ),
        (
            "/v1/merchant-payments",
            json!({"qr": luckin(), "amount": money(100, "USD")}),
            "currency_mismatch",
        ),
    ];
    for (i, (path, body, code)) in cases.into_iter().enumerate() {
        let r = post_money(
            &s,
            path,
            &zhang,
            &format!("k-ccy-{i}"),
            Some("risk=allow"),
            body,
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (422, code),
            "{path}: {}",
            r.body
        );
    }
    assert_eq!(ledger_state(&s, &zhang).await, before);
    s.assert_audit().await;
}

#[tokio::test]
async fn a_wallet_cannot_overflow() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let device = DeviceKey::generate();
    device.enroll(&s, &zhang).await;
    let before = ledger_state(&s, &zhang).await;
    let body = json!({"amount": money(1_000_000_000_000_000, "CNY")});
    let r = post_money(
        &s,
        "/v1/top-ups",
        &zhang,
        "k-max",
        Some("risk=allow"),
        body.clone(),
    )
    .await;
    assert_eq!(r.code(), "sca_required");
    let mut body = body;
    body["sca"] = device.confirm(&s, &zhang, &r.body["data"]).await;
    let r = post_money(&s, "/v1/top-ups", &zhang, "k-max", Some("risk=allow"), body).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (422, "limit_exceeded"),
        "{}",
        r.body
    );
    assert_eq!(ledger_state(&s, &zhang).await, before);
    s.assert_audit().await;
}

#[tokio::test]
async fn malformed_requests_never_reach_the_ledger() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let before = ledger_state(&s, &zhang).await;
    let paths = [
        "/v1/transfers",
        "/v1/merchant-payments",
        "/v1/top-ups",
        "/v1/withdrawals",
        "/v1/fx/conversions",
        "/v1/fx/quotes",
        "/v1/cards",
    ];
    let raw = |path: &str, key: String, ctype: &str, body: Vec<u8>| {
        s.req(Method::POST, path)
            .bearer_auth(&zhang)
            .header("Idempotency-Key", key)
            .header("Content-Type", ctype)
            .body(body)
    };
    for (i, path) in paths.into_iter().enumerate() {
        let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
            (
                "application/json",
                b"{\"amount\": ".to_vec(),
                400,
                "invalid_request",
            ),
            (
                "application/json",
                b"\xff\xfe{}".to_vec(),
                400,
                "invalid_request",
            ),
            ("application/json", b"[]".to_vec(), 422, "validation_failed"),
            ("application/json", b"{}".to_vec(), 422, "validation_failed"),
            ("text/plain", b"{}".to_vec(), 415, "unsupported_media_type"),
            (
                "application/json",
                format!("{{\"note\": \"{}\"}}", "x".repeat(70_000)).into_bytes(),
                413,
                "payload_too_large",
            ),
        ];
        for (j, (ctype, body, status, code)) in cases.into_iter().enumerate() {
            let r = s
                .send(raw(path, format!("k-raw-{i}-{j}"), ctype, body))
                .await;
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (status, code),
                "{path} case {j}: {}",
                r.body
            );
        }
        // Without a token nothing else is even looked at.
        let r = s.send(s.req(Method::POST, path).json(&json!({}))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let long_note = json!({"to": {"account_id": LI_ID}, "amount": money(100, "CNY"), "note": "n".repeat(5_000)});
    assert_eq!(
        post_money(&s, "/v1/transfers", &zhang, "k-long", None, long_note)
            .await
            .code(),
        "validation_failed"
    );
    let unknown_variant = json!({"to": {"email": "a@b.c"}, "amount": money(100, "CNY")});
    assert_eq!(
        post_money(
            &s,
            "/v1/transfers",
            &zhang,
            "k-variant",
            None,
            unknown_variant
        )
        .await
        .code(),
        "validation_failed"
    );
    let two_targets =
        json!({"to": {"account_id": LI_ID, "phone": "13900139000"}, "amount": money(100, "CNY")});
    // serde_json reports a second key in a tagged enum as a syntax error: still a stable 4xx.
    let two = post_money(&s, "/v1/transfers", &zhang, "k-two", None, two_targets).await;
    assert!(
        ["validation_failed", "invalid_request"].contains(&two.code()),
        "{}",
        two.body
    );
    for path in [
        "/v1/transactions/%00",
        "/v1/withdrawals/..%2F..",
        "/v1/risk/holds/x",
        "/v1/fx/quotes/q",
    ] {
        assert_eq!(
            s.get(path, Some(&zhang)).await.status.as_u16() / 100,
            4,
            "{path}"
        );
    }
    let long_id = format!("/v1/transactions/{}", "t".repeat(4_000));
    assert_eq!(s.get(&long_id, Some(&zhang)).await.code(), "not_found");
    assert_eq!(ledger_state(&s, &zhang).await, before);
    s.assert_audit().await;
}

#[tokio::test]
async fn every_money_read_needs_a_session() {
    let s = TestServer::start().await;
    for path in [
        "/v1/balances",
        "/v1/transactions",
        "/v1/transactions/tx_1",
        "/v1/withdrawals",
        "/v1/withdrawals/wd_1",
        "/v1/cards",
        "/v1/fx/quotes/q_1",
        "/v1/risk/holds/hold_1",
        "/v1/sync",
        "/v1/payees/lookup?phone=13900139000",
        "/v1/merchants/check?qr=x",
    ] {
        let r = s.get(path, Some("at_forged")).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (401, "unauthorized"),
            "{path}"
        );
    }
}
