//! Payment confirmation (SCA with dynamic linking) and the risk engine's outcomes: step-up,
//! hold and review, block, limits, velocity, "this wasn't me".

mod common;
mod money_kit;

use common::{LI, LI_ID, MAGIC_ID, TestServer, ZHANG};
use money_kit::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn big(to: &str) -> Value {
    json!({"to": {"account_id": to}, "amount": money(250_000, "CNY")})
}

fn with_sca(mut body: Value, sca: &Value) -> Value {
    body["sca"] = sca.clone();
    body
}

#[tokio::test]
async fn a_large_transfer_needs_a_confirmation_bound_to_amount_payee_and_key() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let device = DeviceKey::generate();
    device.enroll(&s, &zhang).await;
    let send = |key: &'static str, body: Value| {
        let (s, zhang) = (&s, &zhang);
        async move { post_money(s, "/v1/transfers", zhang, key, Some("risk=allow"), body).await }
    };

    let r = send("k-big", big(LI_ID)).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, "sca_required"),
        "{}",
        r.body
    );
    let need = r.body["data"].clone();
    assert_eq!(need["operation"], "transfer");
    assert_eq!(need["operation_id"], "k-big");
    assert_eq!(need["amount"], money(250_000, "CNY"));
    assert_eq!(need["payee"], LI_ID);
    assert_eq!(need["reasons"], json!(["high_amount"]));
    let sca = device.confirm(&s, &zhang, &need).await;

    // One minor unit more, another payee, another key's signature, another operation id.
    let mut more = big(LI_ID);
    more["amount"]["minor"] = json!(250_001);
    let r = send("k-big", with_sca(more, &sca)).await;
    assert_eq!(r.code(), "sca_invalid", "{}", r.body);
    let r = send("k-big", with_sca(big(MAGIC_ID), &sca)).await;
    assert_eq!(r.code(), "sca_invalid");
    let forged = DeviceKey::generate().confirm(&s, &zhang, &need).await;
    let r = send("k-big", with_sca(big(LI_ID), &forged)).await;
    assert_eq!(r.code(), "sca_invalid");
    let r = send("k-other", with_sca(big(LI_ID), &sca)).await;
    assert_eq!(
        r.code(),
        "sca_invalid",
        "the signature names the operation id"
    );
    let garbage = json!({"challenge_id": sca["challenge_id"], "signature": "not base64!"});
    assert_eq!(
        send("k-big", with_sca(big(LI_ID), &garbage)).await.code(),
        "sca_invalid"
    );
    let unknown = json!({"challenge_id": "ch_nope", "signature": sca["signature"]});
    assert_eq!(
        send("k-big", with_sca(big(LI_ID), &unknown)).await.code(),
        "sca_invalid"
    );
    assert_eq!(
        available(&s, &zhang, "CNY").await,
        1_234_567,
        "nothing moved yet"
    );

    let ok = send("k-big", with_sca(big(LI_ID), &sca)).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    // The same request again is the idempotent replay, not a second payment...
    let replay = send("k-big", with_sca(big(LI_ID), &sca)).await;
    assert_eq!(
        (replay.status, &replay.body["id"]),
        (StatusCode::CREATED, &ok.body["id"])
    );
    assert_eq!(replay.headers["Idempotent-Replayed"], "true");
    // ...while the used challenge on any other request is refused, even correctly signed.
    let need2 = send("k-big-2", big(LI_ID)).await.body["data"].clone();
    assert_eq!(need2["operation_id"], "k-big-2");
    let r = send("k-big-2", with_sca(big(LI_ID), &sca)).await;
    assert_eq!(r.code(), "sca_invalid");
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 - 250_000);
    s.assert_audit().await;
}

#[tokio::test]
async fn without_a_device_key_the_app_is_told_to_set_one_up() {
    let s = TestServer::start().await;
    let li = s.login(LI).await;
    let r = post_money(
        &s,
        "/v1/transfers",
        &li,
        "k-nokey",
        Some("risk=allow"),
        big(common::ZHANG_ID),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (409, "device_key_missing"),
        "{}",
        r.body
    );
    assert_eq!(r.body["data"]["reasons"], json!(["high_amount"]));
    let challenge = s
        .post(
            "/v1/sca/challenges",
            Some(&li),
            json!({"operation": "transfer", "operation_id": "k", "amount": money(1, "CNY"), "payee": "U0000000001"}),
        )
        .await;
    assert_eq!(challenge.code(), "device_key_missing");
    for bad in [
        "",
        "AAAA",
        "not base64",
        &base64_of(&[4u8; 64]),
        &base64_of(&[2u8; 65]),
    ] {
        let r = s
            .send(
                s.req(reqwest::Method::PUT, "/v1/devices/current/signing-key")
                    .bearer_auth(&li)
                    .json(&json!({ "public_key": bad })),
            )
            .await;
        assert_eq!(r.code(), "validation_failed", "{bad:?}");
    }
    let key = DeviceKey::generate();
    key.enroll(&s, &li).await;
    let devices = s.get("/v1/devices", Some(&li)).await;
    assert_eq!(devices.body["devices"][0]["has_signing_key"], true);
    assert_eq!(available(&s, &li, "CNY").await, 300_000);
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn challenges_expire_and_validate_their_input() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let device = DeviceKey::generate();
    device.enroll(&s, &zhang).await;
    let need = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-exp",
        Some("risk=allow"),
        big(LI_ID),
    )
    .await
    .body["data"]
        .clone();
    let sca = device.confirm(&s, &zhang, &need).await;
    advance(&s, 301).await;
    let r = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-exp",
        Some("risk=allow"),
        with_sca(big(LI_ID), &sca),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "challenge_expired"));
    let bad = s
        .post(
            "/v1/sca/challenges",
            Some(&zhang),
            json!({"operation": "transfer", "operation_id": "", "amount": money(0, "CNY"), "payee": ""}),
        )
        .await;
    assert_eq!(bad.code(), "validation_failed");
    assert_eq!(bad.body["errors"].as_array().unwrap().len(), 3);
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567);
}

#[tokio::test]
async fn a_first_transfer_to_someone_new_needs_a_confirmation_once() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let body = json!({"to": {"account_id": MAGIC_ID}, "amount": money(1000, "CNY")});
    let r = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-new",
        Some("risk=allow"),
        body.clone(),
    )
    .await;
    assert_eq!(r.code(), "device_key_missing");
    assert_eq!(r.body["data"]["reasons"], json!(["new_payee"]));
    let device = DeviceKey::generate();
    device.enroll(&s, &zhang).await;
    let r = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-new",
        Some("risk=allow"),
        body.clone(),
    )
    .await;
    assert_eq!(r.code(), "sca_required");
    let sca = device.confirm(&s, &zhang, &r.body["data"]).await;
    let ok = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-new",
        Some("risk=allow"),
        with_sca(body.clone(), &sca),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let again = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-new-2",
        Some("risk=allow"),
        body,
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "a known payee now: {}",
        again.body
    );
    s.assert_audit().await;
}

#[tokio::test]
async fn the_risk_engine_can_ask_for_a_step_up() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let device = DeviceKey::generate();
    device.enroll(&s, &zhang).await;
    let body = json!({"to": {"account_id": LI_ID}, "amount": money(500, "CNY")});
    let r = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-step",
        Some("risk=step_up"),
        body.clone(),
    )
    .await;
    assert_eq!(r.code(), "sca_required");
    assert_eq!(r.body["data"]["reasons"], json!(["risk_step_up"]));
    assert_eq!(r.body["data"]["risk"]["action"], "step_up");
    let sca = device.confirm(&s, &zhang, &r.body["data"]).await;
    let ok = post_money(
        &s,
        "/v1/transfers",
        &zhang,
        "k-step",
        Some("risk=step_up"),
        with_sca(body, &sca),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    // The magic amount 222.22 asks for a step-up without any scenario.
    let magic = json!({"to": {"account_id": LI_ID}, "amount": money(22_222, "CNY")});
    let r = post_money(&s, "/v1/transfers", &zhang, "k-magic-step", None, magic).await;
    assert_eq!(r.code(), "sca_required", "{}", r.body);
    assert!(
        r.body["data"]["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("risk_step_up"))
    );
    s.assert_audit().await;
}

#[tokio::test]
async fn velocity_steps_up_after_ten_payments_in_ten_minutes() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    for i in 0..10 {
        let body = json!({"to": {"account_id": LI_ID}, "amount": money(100, "CNY")});
        let r = post_money(
            &s,
            "/v1/transfers",
            &zhang,
            &format!("k-vel-{i}"),
            None,
            body,
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{i}: {}", r.body);
    }
    let body = json!({"to": {"account_id": LI_ID}, "amount": money(100, "CNY")});
    let r = post_money(&s, "/v1/transfers", &zhang, "k-vel-10", None, body.clone()).await;
    assert_eq!(r.code(), "device_key_missing", "{}", r.body);
    assert_eq!(r.body["data"]["risk"]["rule_id"], "velocity");
    // Ten minutes later the window has passed (sign in again: tokens last 15 minutes).
    advance(&s, 601).await;
    let r = post_money(&s, "/v1/transfers", &zhang, "k-vel-11", None, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 - 1100);
    s.assert_audit().await;
}

#[tokio::test]
async fn held_payments_wait_for_review() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let li = s.login(LI).await;
    let pending_before = balances(&s, &zhang)
        .await
        .iter()
        .find(|b| b.0 == "CNY")
        .unwrap()
        .2;
    let body = json!({"to": {"account_id": LI_ID}, "amount": money(66_666, "CNY")});
    let r = post_money(&s, "/v1/transfers", &zhang, "k-hold", None, body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "pending");
    let hold_id = r.body["hold_id"].as_str().unwrap().to_owned();
    let txn_id = r.body["id"].as_str().unwrap().to_owned();

    let hold = s
        .get(&format!("/v1/risk/holds/{hold_id}"), Some(&zhang))
        .await;
    assert_eq!(hold.status, StatusCode::OK);
    assert_eq!(
        (&hold.body["status"], &hold.body["decision"]["action"]),
        (&json!("pending"), &json!("hold"))
    );
    assert_eq!(hold.body["transaction_id"], txn_id.as_str());
    assert!(
        !hold.body["decision"]["reasons"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.get(&format!("/v1/risk/holds/{hold_id}"), Some(&li))
            .await
            .code(),
        "not_found"
    );
    let b = balances(&s, &zhang).await;
    let cny = b.iter().find(|b| b.0 == "CNY").unwrap();
    assert_eq!(
        (cny.1, cny.2),
        (1_234_567 - 66_666, pending_before + 66_666),
        "reserved, not gone"
    );
    assert_eq!(
        available(&s, &li, "CNY").await,
        300_000,
        "not spendable by the payee yet"
    );
    let listed = s.get("/__mock/risk/holds", None).await;
    assert!(
        listed.body["holds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["id"] == hold_id.as_str())
    );

    let released = control(
        &s,
        &format!("/__mock/risk/holds/{hold_id}/release"),
        json!({}),
    )
    .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    assert_eq!(released.body["status"], "released");
    let again = control(
        &s,
        &format!("/__mock/risk/holds/{hold_id}/reject"),
        json!({}),
    )
    .await;
    assert_eq!(
        (again.status.as_u16(), again.code()),
        (409, "hold_not_pending")
    );
    assert_eq!(
        s.get(&format!("/v1/transactions/{txn_id}"), Some(&zhang))
            .await
            .body["status"],
        "settled"
    );
    assert_eq!(available(&s, &li, "CNY").await, 300_000 + 66_666);

    let r = post_money(&s, "/v1/transfers", &zhang, "k-hold-2", None, body).await;
    let hold2 = r.body["hold_id"].as_str().unwrap().to_owned();
    let rejected = control(&s, &format!("/__mock/risk/holds/{hold2}/reject"), json!({})).await;
    assert_eq!(rejected.body["status"], "rejected");
    let t = s
        .get(
            &format!("/v1/transactions/{}", r.body["id"].as_str().unwrap()),
            Some(&zhang),
        )
        .await;
    assert_eq!(
        (&t.body["status"], &t.body["failure_code"]),
        (&json!("failed"), &json!("risk_rejected"))
    );
    let li_side = history(&s, &li, "&status=failed").await;
    assert_eq!(li_side.len(), 1, "the payee's pending entry failed too");
    assert!(
        li_side[0].get("hold_id").is_none(),
        "the review is the payer's"
    );
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 - 66_666);
    assert_eq!(
        control(&s, "/__mock/risk/holds/hold_nope/release", json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    s.assert_audit().await;
}

#[tokio::test]
async fn blocked_payments_are_refused_with_the_decision() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let body = json!({"to": {"account_id": LI_ID}, "amount": money(44_444, "CNY")});
    let r = post_money(&s, "/v1/transfers", &zhang, "k-block", None, body.clone()).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "risk_blocked"));
    assert_eq!(r.body["data"]["action"], "block");
    let replay = post_money(&s, "/v1/transfers", &zhang, "k-block", None, body).await;
    assert_eq!(
        replay.code(),
        "risk_blocked",
        "a block is a definite answer"
    );
    let zh = s
        .send(
            s.req(reqwest::Method::POST, "/v1/transfers")
                .bearer_auth(&zhang)
                .header("Idempotency-Key", "k-block-zh")
                .header("X-Mock-Scenario", "risk=block")
                .header("Accept-Language", "zh-CN")
                .json(&json!({"to": {"account_id": LI_ID}, "amount": money(100, "CNY")})),
        )
        .await;
    assert_eq!(zh.code(), "risk_blocked");
    assert_eq!(zh.body["data"]["rule_id"], "scenario");
    assert_eq!(
        zh.body["data"]["reasons"][0]["message"],
        "测试场景指定的风控结果"
    );
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567);
    s.assert_audit().await;
}

#[tokio::test]
async fn the_daily_limit_counts_what_left_today() {
    let s = TestServer::start().await;
    let (_, token) = seeded_user(&s, "13700000001", json!([money(10_000_000, "CNY")]), 0).await;
    let card = s
        .post(
            "/v1/cards",
            Some(&token),
            json!({"number": "4242424242424242", "expiry_month": 12, "expiry_year": 2040, "holder_name": "WANG XIAOMING"}),
        )
        .await;
    assert_eq!(card.status, StatusCode::CREATED, "{}", card.body);
    let device = DeviceKey::generate();
    device.enroll(&s, &token).await;
    let first = json!({"amount": money(3_000_000, "CNY")});
    let r = post_money(
        &s,
        "/v1/withdrawals",
        &token,
        "k-w1",
        Some("risk=allow"),
        first.clone(),
    )
    .await;
    assert_eq!(r.code(), "sca_required");
    let sca = device.confirm(&s, &token, &r.body["data"]).await;
    let ok = post_money(
        &s,
        "/v1/withdrawals",
        &token,
        "k-w1",
        None,
        with_sca(first, &sca),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let second = json!({"amount": money(2_000_000, "CNY")});
    let r = post_money(&s, "/v1/withdrawals", &token, "k-w2", None, second).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (422, "limit_exceeded"),
        "{}",
        r.body
    );
    assert_eq!(r.body["data"]["rule_id"], "daily_limit");
    assert_eq!(
        available(&s, &token, "CNY").await,
        10_000_000 - 3_000_000 - 3_000
    );
    s.assert_audit().await;
}

#[tokio::test]
async fn a_held_withdrawal_settles_only_after_release() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let body = json!({"amount": money(20_000, "CNY")});
    let held = post_money(
        &s,
        "/v1/withdrawals",
        &zhang,
        "k-wd-hold",
        Some("risk=hold"),
        body.clone(),
    )
    .await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.body);
    let rejected = post_money(
        &s,
        "/v1/withdrawals",
        &zhang,
        "k-wd-hold-2",
        Some("risk=hold"),
        body,
    )
    .await;
    let txn = s
        .get(
            &format!(
                "/v1/transactions/{}",
                held.body["transaction_id"].as_str().unwrap()
            ),
            Some(&zhang),
        )
        .await;
    let hold_id = txn.body["hold_id"].as_str().unwrap().to_owned();
    let txn2 = s
        .get(
            &format!(
                "/v1/transactions/{}",
                rejected.body["transaction_id"].as_str().unwrap()
            ),
            Some(&zhang),
        )
        .await;
    let hold2 = txn2.body["hold_id"].as_str().unwrap().to_owned();
    let spent = 2 * (20_000 + 20);

    advance(&s, 7_300).await;
    let zhang = s.login(ZHANG).await;
    let w = |id: &Value| format!("/v1/withdrawals/{}", id.as_str().unwrap());
    assert_eq!(
        s.get(&w(&held.body["id"]), Some(&zhang)).await.body["status"],
        "pending",
        "under review, not sent"
    );
    assert_eq!(
        control(
            &s,
            &format!("/__mock/risk/holds/{hold_id}/release"),
            json!({})
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        control(&s, &format!("/__mock/risk/holds/{hold2}/reject"), json!({}))
            .await
            .status,
        StatusCode::OK
    );
    let r = s.get(&w(&rejected.body["id"]), Some(&zhang)).await;
    assert_eq!(
        (&r.body["status"], &r.body["failure_code"]),
        (&json!("failed"), &json!("risk_rejected"))
    );
    assert_eq!(
        s.get(&w(&held.body["id"]), Some(&zhang)).await.body["status"],
        "pending",
        "on its way now"
    );
    advance(&s, 7_200).await;
    let zhang = s.login(ZHANG).await;
    assert_eq!(
        s.get(&w(&held.body["id"]), Some(&zhang)).await.body["status"],
        "settled"
    );
    assert_eq!(available(&s, &zhang, "CNY").await, 1_234_567 - spent / 2);
    s.assert_audit().await;
}
