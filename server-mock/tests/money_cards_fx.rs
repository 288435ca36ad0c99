//! Cards, top-ups, withdrawals and their settlement by the mock clock, FX quotes and
//! conversions, merchant codes and (international) merchant payments, reference lists.

mod common;
mod money_kit;

use common::{LI, TestServer, ZHANG};
use money_kit::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn card(number: &str) -> Value {
    json!({"number": number, "expiry_month": 12, "expiry_year": 2040, "holder_name": "ZHANG WEI", "cvv": "123"})
}

#[tokio::test]
async fn cards_are_tokenised_checked_and_managed() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let r = s
        .post("/v1/cards", Some(&zhang), card("5555 5555 5555 4444"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (&r.body["brand"], &r.body["last4"], &r.body["is_default"]),
        (&json!("mastercard"), &json!("4444"), &json!(false))
    );
    assert!(r.body["id"].as_str().unwrap().starts_with("card_"));
    let text = r.body.to_string();
    assert!(
        !text.contains("5555555555554444") && !text.contains("\"123\""),
        "no number, no CVV: {text}"
    );
    let new_id = r.body["id"].as_str().unwrap().to_owned();

    let list = s.get("/v1/cards", Some(&zhang)).await;
    let cards = list.body["cards"].as_array().unwrap().clone();
    assert_eq!(cards[0]["last4"], "4242", "the default first");
    assert_eq!(cards[0]["is_default"], true);
    assert!(
        cards
            .iter()
            .all(|c| c["last4"].as_str().unwrap().len() == 4)
    );
    assert!(!list.body.to_string().contains("4242424242424242"));

    let d = s
        .post(
            &format!("/v1/cards/{new_id}/default"),
            Some(&zhang),
            json!({}),
        )
        .await;
    assert_eq!(
        (d.status, &d.body["is_default"]),
        (StatusCode::OK, &json!(true))
    );
    let list = s.get("/v1/cards", Some(&zhang)).await;
    assert_eq!(list.body["cards"][0]["id"], new_id.as_str());
    assert_eq!(
        list.body["cards"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["is_default"] == true)
            .count(),
        1
    );

    // Another user's card does not exist for Li Na.
    let li = s.login(LI).await;
    assert_eq!(
        s.send(
            s.req(Method::DELETE, &format!("/v1/cards/{new_id}"))
                .bearer_auth(&li)
        )
        .await
        .code(),
        "card_not_found"
    );
    assert_eq!(
        s.post(&format!("/v1/cards/{new_id}/default"), Some(&li), json!({}))
            .await
            .code(),
        "card_not_found"
    );
    let r = post_money(
        &s,
        "/v1/top-ups",
        &li,
        "k-li-top",
        None,
        json!({"card_id": new_id, "amount": money(100, "CNY")}),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "card_not_found"));

    let del = s
        .send(
            s.req(Method::DELETE, &format!("/v1/cards/{new_id}"))
                .bearer_auth(&zhang),
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let list = s.get("/v1/cards", Some(&zhang)).await;
    assert!(
        list.body["cards"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != new_id.as_str())
    );
    assert_eq!(
        list.body["cards"][0]["is_default"], true,
        "a default remains"
    );
    let again = s
        .send(
            s.req(Method::DELETE, &format!("/v1/cards/{new_id}"))
                .bearer_auth(&zhang),
        )
        .await;
    assert_eq!(again.code(), "card_not_found");
}

#[tokio::test]
async fn bad_cards_are_refused_without_echoing_them() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let declined = s
        .post("/v1/cards", Some(&zhang), card("4000000000000002"))
        .await;
    assert_eq!(
        (declined.status.as_u16(), declined.code()),
        (402, "card_declined")
    );
    let scenario = s
        .send(
            s.req(Method::POST, "/v1/cards")
                .bearer_auth(&zhang)
                .header("X-Mock-Scenario", "card=declined")
                .json(&card("4242424242424242")),
        )
        .await;
    assert_eq!(scenario.code(), "card_declined");
    let cases = [
        (card("4242424242424241"), "number", "checksum"),
        (card("4242"), "number", "invalid"),
        (card("4242-4242-4242-424x"), "number", "invalid"),
        (
            json!({"number": "4242424242424242", "expiry_month": 13, "expiry_year": 2040, "holder_name": "Z"}),
            "expiry_month",
            "invalid",
        ),
        (
            json!({"number": "4242424242424242", "expiry_month": 1, "expiry_year": 2001, "holder_name": "Z"}),
            "expiry_year",
            "expired",
        ),
        (
            json!({"number": "4242424242424242", "expiry_month": 1, "expiry_year": 2040, "holder_name": " "}),
            "holder_name",
            "invalid",
        ),
        (
            json!({"number": "4242424242424242", "expiry_month": 1, "expiry_year": 2040, "holder_name": "Z", "cvv": "12a"}),
            "cvv",
            "invalid",
        ),
        (
            json!({"number": "378282246310005", "expiry_month": 1, "expiry_year": 2040, "holder_name": "Z", "cvv": "123"}),
            "cvv",
            "invalid",
        ),
    ];
    for (body, field, code) in cases {
        let r = s.post("/v1/cards", Some(&zhang), body.clone()).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (422, "card_invalid"),
            "{body}"
        );
        assert_eq!(
            (&r.body["errors"][0]["field"], &r.body["errors"][0]["code"]),
            (&json!(field), &json!(code)),
            "{}",
            r.body
        );
        assert!(
            !r.body
                .to_string()
                .contains(body["number"].as_str().unwrap()),
            "the number is not echoed"
        );
    }
    let amex = s
        .post("/v1/cards", Some(&zhang), json!({"number": "378282246310005", "expiry_month": 1, "expiry_year": 2040, "holder_name": "Z", "cvv": "1234"}))
        .await;
    assert_eq!(
        (amex.status, &amex.body["brand"]),
        (StatusCode::CREATED, &json!("amex"))
    );
    assert_eq!(
        s.get("/v1/cards", Some(&zhang)).await.body["cards"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn top_ups_come_from_a_card() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let r = post_money(
        &s,
        "/v1/top-ups",
        &zhang,
        "k-top",
        Some("risk=allow"),
        json!({"amount": money(50_000, "CNY")}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (&r.body["kind"], &r.body["status"], &r.body["amount"]),
        (&json!("top_up"), &json!("settled"), &money(50_000, "CNY"))
    );
    assert_eq!(r.body["counterparty"]["name"], "VISA ****4242");
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 + 50_000);

    let poor = s
        .post("/v1/cards", Some(&zhang), card("4000000000009995"))
        .await;
    let id = poor.body["id"].as_str().unwrap();
    let r = post_money(
        &s,
        "/v1/top-ups",
        &zhang,
        "k-top-2",
        None,
        json!({"card_id": id, "amount": money(100, "CNY")}),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (402, "card_declined"));
    let r = post_money(
        &s,
        "/v1/top-ups",
        &zhang,
        "k-top-3",
        Some("card=declined"),
        json!({"amount": money(100, "CNY")}),
    )
    .await;
    assert_eq!(r.code(), "card_declined");
    let r = post_money(
        &s,
        "/v1/top-ups",
        &zhang,
        "k-top-4",
        None,
        json!({"amount": money(100, "KWD")}),
    )
    .await;
    assert_eq!(r.code(), "unsupported_currency");
    let r = post_money(
        &s,
        "/v1/top-ups",
        &zhang,
        "k-top-5",
        None,
        json!({"card_id": "card_nope", "amount": money(100, "CNY")}),
    )
    .await;
    assert_eq!(r.code(), "card_not_found");
    let r = post_money(
        &s,
        "/v1/top-ups",
        &zhang,
        "k-top-6",
        None,
        json!({"amount": money(100, "USD")}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 + 50_000);
    assert_eq!(available(&s, &zhang, "USD").await, 50_100);
    s.assert_audit().await;
}

#[tokio::test]
async fn withdrawals_settle_or_fail_by_the_clock() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let clock = s.get("/__mock/clock", None).await.body["now"]
        .as_i64()
        .unwrap();
    let r = post_money(
        &s,
        "/v1/withdrawals",
        &zhang,
        "k-wd",
        Some("risk=allow"),
        json!({"amount": money(10_000, "CNY")}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (&r.body["status"], &r.body["fee"]),
        (&json!("pending"), &money(10, "CNY"))
    );
    assert_eq!(r.body["card_label"], "VISA ****4242");
    let eta = r.body["expected_arrival_at"].as_i64().unwrap();
    assert!(
        (clock + 7_200_000..clock + 7_210_000).contains(&eta),
        "two hours: {eta} vs {clock}"
    );
    let ok_id = r.body["id"].as_str().unwrap().to_owned();
    let txn = r.body["transaction_id"].as_str().unwrap().to_owned();
    let failing = post_money(
        &s,
        "/v1/withdrawals",
        &zhang,
        "k-wd-13",
        Some("risk=allow"),
        json!({"amount": money(10_013, "CNY")}),
    )
    .await;
    let failing_id = failing.body["id"].as_str().unwrap().to_owned();
    let doomed = post_money(
        &s,
        "/v1/withdrawals",
        &zhang,
        "k-wd-f",
        Some("risk=allow, withdrawal=fail"),
        json!({"amount": money(5_000, "CNY")}),
    )
    .await;
    assert_eq!(doomed.status, StatusCode::CREATED);
    let spent = 10_010 + 10_024 + 5_005; // fees 0.1% rounded up
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 - spent);

    let li = s.login(LI).await;
    assert_eq!(
        s.get(&format!("/v1/withdrawals/{ok_id}"), Some(&li))
            .await
            .code(),
        "not_found"
    );
    let listed = s.get("/v1/withdrawals", Some(&zhang)).await;
    assert!(
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["status"] == "pending")
            .count()
            >= 3
    );

    advance(&s, 7_200).await;
    let zhang = s.login(ZHANG).await;
    let ok = s
        .get(&format!("/v1/withdrawals/{ok_id}"), Some(&zhang))
        .await;
    assert_eq!(ok.body["status"], "settled", "{}", ok.body);
    assert!(ok.body["settled_at"].is_i64());
    assert_eq!(
        s.get(&format!("/v1/transactions/{txn}"), Some(&zhang))
            .await
            .body["status"],
        "settled"
    );
    let failed = s
        .send(
            s.req(Method::GET, &format!("/v1/withdrawals/{failing_id}"))
                .bearer_auth(&zhang)
                .header("Accept-Language", "zh-CN"),
        )
        .await;
    assert_eq!(
        (&failed.body["status"], &failed.body["failure_code"]),
        (&json!("failed"), &json!("bank_rejected"))
    );
    assert_eq!(
        failed.body["failure_reason"],
        "收款银行拒绝入账，资金已退回余额"
    );
    let history = s.get("/v1/withdrawals", Some(&zhang)).await;
    let failures = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["status"] == "failed")
        .count();
    assert!(
        failures >= 3,
        "the demo's failed one, .13 and the scenario: {}",
        history.body
    );
    assert_eq!(
        available(&s, &zhang, "CNY").await,
        1_234_567 - 10_010,
        "failed ones gave the money back"
    );
    s.assert_audit().await;
}

#[tokio::test]
async fn removing_the_card_fails_its_pending_withdrawal() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let c = s
        .post("/v1/cards", Some(&zhang), card("6200000000000005"))
        .await;
    let id = c.body["id"].as_str().unwrap().to_owned();
    let w = post_money(
        &s,
        "/v1/withdrawals",
        &zhang,
        "k-wd-rm",
        Some("risk=allow"),
        json!({"card_id": id, "amount": money(2_000, "CNY")}),
    )
    .await;
    assert_eq!(w.status, StatusCode::CREATED, "{}", w.body);
    assert_eq!(
        s.send(
            s.req(Method::DELETE, &format!("/v1/cards/{id}"))
                .bearer_auth(&zhang)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    advance(&s, 7_200).await;
    let zhang = s.login(ZHANG).await;
    let r = s
        .get(
            &format!("/v1/withdrawals/{}", w.body["id"].as_str().unwrap()),
            Some(&zhang),
        )
        .await;
    assert_eq!(r.body["failure_code"], "card_removed");
    s.assert_audit().await;
}

#[tokio::test]
async fn fx_quotes_and_conversions() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let q = s
        .post(
            "/v1/fx/quotes",
            Some(&zhang),
            json!({"from": "CNY", "to": "USD", "sell": money(100_000, "CNY")}),
        )
        .await;
    assert_eq!(q.status, StatusCode::CREATED, "{}", q.body);
    assert!(
        q.body["rate"].is_string(),
        "rates are exact decimal strings"
    );
    assert_eq!(q.body["sell"], money(100_000, "CNY"));
    assert_eq!(q.body["fee"], money(300, "CNY"));
    assert_eq!(q.body["total_debit"], money(100_300, "CNY"));
    let buy = q.body["buy"]["minor"].as_i64().unwrap();
    assert!((13_000..15_000).contains(&buy), "about USD 140: {buy}");
    assert_eq!(
        q.body["expires_at"].as_i64().unwrap() - q.body["created_at"].as_i64().unwrap(),
        30_000
    );
    let id = q.body["id"].as_str().unwrap().to_owned();

    let li = s.login(LI).await;
    assert_eq!(
        s.get(&format!("/v1/fx/quotes/{id}"), Some(&li))
            .await
            .code(),
        "quote_not_found"
    );
    let r = post_money(
        &s,
        "/v1/fx/conversions",
        &li,
        "k-li-fx",
        None,
        json!({"quote_id": id}),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "quote_not_found"));

    let usd_before = available(&s, &zhang, "USD").await;
    let c = post_money(
        &s,
        "/v1/fx/conversions",
        &zhang,
        "k-fx",
        Some("risk=allow"),
        json!({"quote_id": id}),
    )
    .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
    assert_eq!(
        (&c.body["kind"], &c.body["amount"], &c.body["fee"]),
        (
            &json!("fx_conversion"),
            &money(-100_000, "CNY"),
            &money(300, "CNY")
        )
    );
    assert_eq!(c.body["fx"]["counter_amount"], money(buy, "USD"));
    assert_eq!(c.body["fx"]["rate"], q.body["rate"]);
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 - 100_300);
    assert_eq!(available(&s, &zhang, "USD").await, usd_before + buy);
    let reuse = post_money(
        &s,
        "/v1/fx/conversions",
        &zhang,
        "k-fx-2",
        Some("risk=allow"),
        json!({"quote_id": id}),
    )
    .await;
    assert_eq!((reuse.status.as_u16(), reuse.code()), (409, "quote_used"));

    // A buy-side quote that expires: refused, with a fresh one for the same amount.
    let q = s
        .post(
            "/v1/fx/quotes",
            Some(&zhang),
            json!({"from": "USD", "to": "HKD", "buy": money(10_000, "HKD")}),
        )
        .await;
    assert_eq!(q.body["buy"], money(10_000, "HKD"));
    advance(&s, 31).await;
    let r = post_money(
        &s,
        "/v1/fx/conversions",
        &zhang,
        "k-fx-old",
        Some("risk=allow"),
        json!({"quote_id": q.body["id"]}),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (409, "quote_expired"),
        "{}",
        r.body
    );
    let fresh = r.body["data"].clone();
    assert_ne!(fresh["id"], q.body["id"]);
    assert_eq!(fresh["buy"], money(10_000, "HKD"));
    assert!(fresh["expires_at"].as_i64().unwrap() > q.body["expires_at"].as_i64().unwrap());
    let ok = post_money(
        &s,
        "/v1/fx/conversions",
        &zhang,
        "k-fx-new",
        Some("risk=allow"),
        json!({"quote_id": fresh["id"]}),
    )
    .await;
    assert_eq!(
        ok.status,
        StatusCode::CREATED,
        "the offered quote works: {}",
        ok.body
    );
    assert_eq!(
        s.get(
            &format!("/v1/fx/quotes/{}", fresh["id"].as_str().unwrap()),
            Some(&zhang)
        )
        .await
        .status,
        StatusCode::OK
    );

    let kwd = s
        .post(
            "/v1/fx/quotes",
            Some(&zhang),
            json!({"from": "CNY", "to": "KWD", "sell": money(10_000, "CNY")}),
        )
        .await;
    assert_eq!(kwd.status, StatusCode::CREATED);
    let r = post_money(
        &s,
        "/v1/fx/conversions",
        &zhang,
        "k-fx-kwd",
        Some("risk=allow"),
        json!({"quote_id": kwd.body["id"]}),
    )
    .await;
    assert_eq!(
        r.code(),
        "unsupported_currency",
        "quoted, but not held by wallets"
    );
    for bad in [
        json!({"from": "CNY", "to": "CNY", "sell": money(100, "CNY")}),
        json!({"from": "CNY", "to": "USD", "sell": money(100, "USD")}),
        json!({"from": "CNY", "to": "USD", "buy": money(100, "CNY")}),
        json!({"from": "CNY", "to": "USD", "sell": money(100, "CNY"), "buy": money(100, "USD")}),
        json!({"from": "CNY", "to": "USD"}),
        json!({"from": "CNY", "to": "XXX", "sell": money(100, "CNY")}),
    ] {
        assert_eq!(
            s.post("/v1/fx/quotes", Some(&zhang), bad.clone())
                .await
                .code(),
            "validation_failed",
            "{bad}"
        );
    }
    let dust = s
        .post(
            "/v1/fx/quotes",
            Some(&zhang),
            json!({"from": "JPY", "to": "USD", "sell": money(1, "JPY")}),
        )
        .await;
    assert_eq!(dust.code(), "invalid_amount");
    let zero = s
        .post(
            "/v1/fx/quotes",
            Some(&zhang),
            json!({"from": "CNY", "to": "USD", "sell": money(0, "CNY")}),
        )
        .await;
    assert_eq!(zero.code(), "invalid_amount");
    s.assert_audit().await;
}

fn merchant_qr(id: &str, name: &str, currency: &str, amount: Option<i64>) -> String {
    use upay_protocol::money::{Currency, Money};
    let currency = Currency::parse(currency).unwrap();
    upay_protocol::qr::QrPayload::Merchant(upay_protocol::qr::MerchantCode {
        merchant_id: id.to_owned(),
        name: name.to_owned(),
        currency,
        amount: amount.map(|m| Money::new(m, currency).unwrap()),
    })
    .encode()
}

fn check_path(qr: &str) -> String {
    format!("/v1/merchants/check?qr={}", url_escape(qr))
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn merchant_codes_are_checked() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let r = s
        .get(
            &check_path(&merchant_qr("M0000000001", "瑞幸", "CNY", Some(2_500))),
            Some(&zhang),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (&r.body["supported"], &r.body["name"]),
        (&json!(true), &json!("瑞幸咖啡")),
        "the registered name wins"
    );
    assert_eq!(r.body["amount"], money(2_500, "CNY"));
    let cases = [
        ("M0000000031", "merchant_not_supported"),
        ("M0000000032", "merchant_blocked"),
        ("M0000000099", "unknown_merchant"),
    ];
    for (id, reason) in cases {
        let r = s
            .get(
                &check_path(&merchant_qr(id, "Shop", "CNY", None)),
                Some(&zhang),
            )
            .await;
        assert_eq!(
            (&r.body["supported"], &r.body["reason"]),
            (&json!(false), &json!(reason)),
            "{id}"
        );
    }
    let hk = s
        .get(
            &check_path(&merchant_qr("M0000000021", "美心", "HKD", None)),
            Some(&zhang),
        )
        .await;
    assert_eq!(
        (&hk.body["currency"], &hk.body["country"]),
        (&json!("HKD"), &json!("HK"))
    );
    assert_eq!(
        s.get(&check_path("hello"), Some(&zhang)).await.code(),
        "qr_invalid"
    );
    let personal = upay_protocol::qr::QrPayload::Personal(upay_protocol::qr::PersonalCode {
        account_id: "U0000000002".to_owned(),
        amount: None,
        name: None,
    })
    .encode();
    let r = s.get(&check_path(&personal), Some(&zhang)).await;
    assert_eq!(
        (r.code(), &r.body["errors"][0]["code"]),
        ("qr_invalid", &json!("personal_code"))
    );
}

#[tokio::test]
async fn paying_merchants_at_home_and_abroad() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let pay = |key: &'static str, body: Value| {
        let (s, zhang) = (&s, &zhang);
        async move {
            post_money(
                s,
                "/v1/merchant-payments",
                zhang,
                key,
                Some("risk=allow"),
                body,
            )
            .await
        }
    };
    let luckin = merchant_qr("M0000000001", "瑞幸咖啡", "CNY", None);
    let r = pay(
        "k-m1",
        json!({"qr": luckin, "amount": money(2_900, "CNY"), "note": "生椰拿铁"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (&r.body["kind"], &r.body["category"], &r.body["amount"]),
        (
            &json!("merchant_payment"),
            &json!("food"),
            &money(-2_900, "CNY")
        )
    );
    assert_eq!(r.body["merchant"]["merchant_id"], "M0000000001");
    assert_eq!(r.body["counterparty"]["kind"], "merchant");
    let fixed = merchant_qr("M0000000001", "瑞幸咖啡", "CNY", Some(1_800));
    assert_eq!(
        pay("k-m2", json!({"qr": fixed})).await.body["amount"],
        money(-1_800, "CNY")
    );
    assert_eq!(
        pay("k-m3", json!({"qr": fixed, "amount": money(1_900, "CNY")}))
            .await
            .code(),
        "validation_failed"
    );
    assert_eq!(
        pay("k-m4", json!({"qr": luckin})).await.code(),
        "validation_failed"
    );
    let r = pay("k-m5", json!({"qr": merchant_qr("M0000000031", "街角小卖部", "CNY", None), "amount": money(100, "CNY")})).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (422, "merchant_not_supported")
    );
    let r = pay(
        "k-m6",
        json!({"qr": merchant_qr("M0000000032", "x", "CNY", None), "amount": money(100, "CNY")}),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.code(), &r.body["data"]["rule_id"]),
        (403, "risk_blocked", &json!("merchant_blocked"))
    );

    // Hong Kong: from the HKD balance, or from CNY through a quote.
    let maxims = merchant_qr("M0000000021", "美心西饼", "HKD", None);
    let hkd_before = available(&s, &zhang, "HKD").await;
    let r = pay(
        "k-hk1",
        json!({"qr": maxims, "amount": money(8_800, "HKD")}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(available(&s, &zhang, "HKD").await, hkd_before - 8_800);
    let r = pay(
        "k-hk2",
        json!({"qr": maxims, "amount": money(8_800, "CNY")}),
    )
    .await;
    assert_eq!(r.code(), "currency_mismatch");
    let q = s
        .post(
            "/v1/fx/quotes",
            Some(&zhang),
            json!({"from": "CNY", "to": "HKD", "buy": money(10_000, "HKD")}),
        )
        .await;
    let cny_before = available(&s, &zhang, "CNY").await;
    let wrong = pay(
        "k-hk3",
        json!({"qr": maxims, "amount": money(9_999, "HKD"), "fx_quote_id": q.body["id"]}),
    )
    .await;
    assert_eq!(
        wrong.code(),
        "validation_failed",
        "the quote must buy the amount"
    );
    let r = pay(
        "k-hk4",
        json!({"qr": maxims, "amount": money(10_000, "HKD"), "fx_quote_id": q.body["id"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["fx"]["counter_amount"], money(10_000, "HKD"));
    assert_eq!(
        r.body["amount"],
        q.body["sell"]
            .as_object()
            .map(
                |_| json!({"minor": -q.body["sell"]["minor"].as_i64().unwrap(), "currency": "CNY"})
            )
            .unwrap()
    );
    assert_eq!(
        available(&s, &zhang, "CNY").await,
        cny_before - q.body["total_debit"]["minor"].as_i64().unwrap()
    );
    assert_eq!(
        available(&s, &zhang, "HKD").await,
        hkd_before - 8_800,
        "HKD untouched"
    );
    // New York, in USD from the USD balance.
    let apple = merchant_qr(
        "M0000000022",
        "Apple Store Fifth Avenue",
        "USD",
        Some(2_900),
    );
    assert_eq!(
        pay("k-us", json!({"qr": apple})).await.status,
        StatusCode::CREATED
    );
    s.assert_audit().await;
}

#[tokio::test]
async fn reference_lists() {
    let s = TestServer::start().await;
    let c = s.get("/v1/countries", None).await;
    let countries = c.body["countries"].as_array().unwrap();
    let hk = countries.iter().find(|c| c["code"] == "HK").unwrap();
    assert_eq!(
        (&hk["currency"], &hk["name_zh"], &hk["payments_supported"]),
        (&json!("HKD"), &json!("中国香港"), &json!(true))
    );
    assert!(countries.iter().any(|c| c["payments_supported"] == false));
    let cur = s.get("/v1/currencies", None).await;
    let list = cur.body["currencies"].as_array().unwrap();
    let jpy = list.iter().find(|c| c["code"] == "JPY").unwrap();
    assert_eq!(
        (&jpy["exponent"], &jpy["name_en"]),
        (&json!(0), &json!("Japanese Yen"))
    );
    assert_eq!(
        list.iter().find(|c| c["code"] == "KWD").unwrap()["wallet_supported"],
        false
    );
    let magic = s.get("/__mock/magic", None).await;
    let text = magic.body.to_string();
    for v in [
        "4000000000000002",
        "4242424242424242",
        "666.66",
        "444.44",
        "UPAY1:M",
    ] {
        assert!(text.contains(v), "the catalogue lists {v}");
    }
}
