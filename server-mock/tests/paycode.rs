//! The in-store payment code (付款码): provisioning, codes derived on the "device" with no
//! network (this test computes them with `upay_protocol::paycode`, as the phone does), the
//! merchant terminal's redemption, single use, the skew window, revocation by signing out,
//! the limits under concurrency, the risk engine, misuse, and the secret never resting in
//! clear or reaching a log.

mod common;
mod money_kit;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{LI, Resp, TestServer, ZHANG};
use futures_util::StreamExt;
use money_kit::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use upay_protocol::paycode::{SECRET_LEN, code_at};

const FAMILYMART: (&str, &str, &str) = ("tk_test_familymart_0701", "M0000000007", "T0000000701");
const LUCKIN: (&str, &str, &str) = ("tk_test_luckin_0101", "M0000000001", "T0000000101");
const BLOCKED: (&str, &str, &str) = ("tk_test_blocked_3201", "M0000000032", "T0000003201");
const DAY_MS: i64 = 86_400_000;
const CHINA_OFFSET_MS: i64 = 8 * 3_600_000;

/// What a device keeps after provisioning.
struct Device {
    secret: Vec<u8>,
    slot: u32,
}

impl Device {
    /// The code the phone shows at mock time `at` — computed locally, no request.
    fn code(&self, at: i64) -> String {
        code_at(&self.secret, self.slot, at)
    }
}

async fn now(s: &TestServer) -> i64 {
    s.get("/__mock/clock", None).await.body["now"]
        .as_i64()
        .unwrap()
}

/// Moves the mock clock to just after the next 12:00 China time: a fresh 60-second step (so
/// codes made now stay in the window for the whole test), far from midnight (the daily limit
/// resets then) and from the risk engine's odd hours. Sign in afterwards: tokens expire.
async fn to_china_noon(s: &TestServer) {
    let t = now(s).await;
    let day = (t + CHINA_OFFSET_MS).div_euclid(DAY_MS);
    let mut noon = day * DAY_MS - CHINA_OFFSET_MS + 12 * 3_600_000;
    if noon <= t {
        noon += DAY_MS;
    }
    advance(s, (noon - t) / 1000 + 1).await;
    let secs_into_step = (now(s).await / 1000).rem_euclid(60);
    assert!(secs_into_step < 5, "{secs_into_step} s into the step");
}

async fn provision(s: &TestServer, token: &str, key: &str) -> Resp {
    s.send(
        s.req(Method::POST, "/v1/paycode/provision")
            .bearer_auth(token)
            .header("Idempotency-Key", key),
    )
    .await
}

async fn provisioned(s: &TestServer, token: &str, key: &str) -> Device {
    let r = provision(s, token, key).await;
    assert_eq!(r.status, StatusCode::CREATED, "provision: {}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    let secret = STANDARD.decode(r.body["secret"].as_str().unwrap()).unwrap();
    assert_eq!(secret.len(), SECRET_LEN);
    Device {
        secret,
        slot: r.body["slot"].as_u64().unwrap() as u32,
    }
}

/// A terminal's redemption, with its own idempotency key and optional scenario.
async fn redeem(
    s: &TestServer,
    terminal: (&str, &str, &str),
    key: &str,
    code: &str,
    minor: i64,
    scenario: Option<&str>,
) -> Resp {
    let (tk, merchant, term) = terminal;
    let mut rb = s
        .req(Method::POST, "/v1/terminal/redeem")
        .header("X-Terminal-Key", tk)
        .header("Idempotency-Key", key)
        .json(&json!({"code": code, "amount": money(minor, "CNY"), "merchant_id": merchant, "terminal_id": term}));
    if let Some(sc) = scenario {
        rb = rb.header("X-Mock-Scenario", sc);
    }
    s.send(rb).await
}

async fn status(s: &TestServer, token: &str) -> Value {
    let r = s.get("/v1/paycode", Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// Syncs from `cursor` to the end: (transactions, last cursor).
async fn sync_to_end(s: &TestServer, token: &str, cursor: Option<String>) -> (Vec<Value>, String) {
    let (mut txs, mut cursor) = (Vec::new(), cursor);
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/sync?limit=1000&cursor={c}"),
            None => "/v1/sync?limit=1000".to_owned(),
        };
        let r = s.get(&path, Some(token)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        txs.extend(r.body["transactions"].as_array().unwrap().iter().cloned());
        cursor = Some(r.body["next_cursor"].as_str().unwrap().to_owned());
        if r.body["has_more"] == false {
            return (txs, cursor.unwrap());
        }
    }
}

async fn events_socket(
    s: &TestServer,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = (s.base.replace("http://", "ws://") + "/v1/events")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket")
        .0
}

#[tokio::test]
async fn an_offline_code_pays_once_and_reaches_the_app() {
    let s = TestServer::start().await;
    to_china_noon(&s).await;
    let zhang = s.login(ZHANG).await;
    let before = status(&s, &zhang).await;
    assert_eq!(before["provisioned"], false);
    assert_eq!(before["remaining_today"], money(200_000, "CNY"));

    let device = provisioned(&s, &zhang, "prov-1").await;
    let st = status(&s, &zhang).await;
    assert_eq!(st["provisioned"], true);
    assert_eq!(st["slot"], device.slot);
    assert_eq!(
        (
            &st["per_code_limit"],
            &st["daily_limit"],
            &st["step_secs"],
            &st["skew_steps"]
        ),
        (
            &money(100_000, "CNY"),
            &money(200_000, "CNY"),
            &json!(60),
            &json!(1)
        )
    );
    let mut socket = events_socket(&s, &zhang).await;
    let balance = available(&s, &zhang, "CNY").await;
    let cursor = sync_to_end(&s, &zhang, None).await.1;

    // From here the phone needs no network: it derives the code from the secret and the time.
    let code = device.code(now(&s).await);
    assert_eq!(code.len(), 18);
    let paid = redeem(&s, FAMILYMART, "till-1", &code, 2_350, None).await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.body);
    assert_eq!(paid.body["amount"], money(2_350, "CNY"));
    assert_eq!(paid.body["merchant_id"], FAMILYMART.1);
    let receipt = paid.body["id"].as_str().unwrap().to_owned();
    assert!(receipt.starts_with("pcr_"));
    assert_eq!(available(&s, &zhang, "CNY").await, balance - 2_350);

    // The same code again, as a new payment: refused, nothing charged.
    let again = redeem(&s, FAMILYMART, "till-2", &code, 2_350, None).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "paycode_used")
    );
    let elsewhere = redeem(&s, LUCKIN, "till-3", &code, 100, None).await;
    assert_eq!(elsewhere.code(), "paycode_used");
    // The terminal retrying the accepted request (its answer was lost) gets the same receipt.
    let retry = redeem(&s, FAMILYMART, "till-1", &code, 2_350, None).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.body["id"], receipt.as_str());
    assert_eq!(retry.headers["Idempotent-Replayed"], "true");
    assert_eq!(available(&s, &zhang, "CNY").await, balance - 2_350);

    // The app hears of it at once...
    let mut seen = (false, false, false);
    while !(seen.0 && seen.1 && seen.2) {
        let msg = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("an event")
            .unwrap()
            .unwrap();
        let Message::Text(text) = msg else { continue };
        let event: Value = serde_json::from_str(&text).unwrap();
        match event["type"].as_str().unwrap() {
            "paycode_redeemed" => {
                let r = &event["redemption"];
                assert_eq!(r["id"], receipt.as_str());
                assert_eq!(r["amount"], money(2_350, "CNY"));
                assert_eq!(r["merchant"]["name"], "全家便利店");
                assert_eq!(r["terminal_id"], FAMILYMART.2);
                assert_eq!(r["remaining_today"], money(200_000 - 2_350, "CNY"));
                seen.0 = true;
            }
            "transaction_created" => {
                assert_eq!(event["transaction"]["kind"], "merchant_payment");
                seen.1 = true;
            }
            "balance_changed" => {
                assert_eq!(
                    event["balance"]["available"]["minor"],
                    json!(balance - 2_350)
                );
                seen.2 = true;
            }
            other => panic!("unexpected event {other}"),
        }
    }
    // ...and through sync, as a merchant payment at the terminal's merchant.
    let (synced, _) = sync_to_end(&s, &zhang, Some(cursor)).await;
    let rows: Vec<&Value> = synced.iter().collect();
    assert_eq!(rows.len(), 1, "one new history entry: {synced:?}");
    assert_eq!(rows[0]["counterparty"]["id"], FAMILYMART.1);
    assert_eq!(rows[0]["amount"], money(-2_350, "CNY"));
    assert_eq!(rows[0]["kind"], "merchant_payment");
    assert_eq!(rows[0]["status"], "settled");
    assert_eq!(rows[0]["merchant"]["merchant_id"], FAMILYMART.1);

    let st = status(&s, &zhang).await;
    assert_eq!(st["spent_today"], money(2_350, "CNY"));
    assert_eq!(st["remaining_today"], money(200_000 - 2_350, "CNY"));
    s.assert_audit().await;
}

#[tokio::test]
async fn codes_outside_the_skew_window_or_mistyped_are_refused() {
    let s = TestServer::start().await;
    to_china_noon(&s).await;
    let zhang = s.login(ZHANG).await;
    let device = provisioned(&s, &zhang, "prov-skew").await;
    let t = now(&s).await;
    let (previous, current, next) = (
        device.code(t - 60_000),
        device.code(t),
        device.code(t + 60_000),
    );
    let two_ahead = device.code(t + 120_000);
    // A phone whose clock is a step behind or ahead still pays.
    assert_eq!(
        redeem(&s, FAMILYMART, "k-prev", &previous, 100, None)
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        redeem(&s, FAMILYMART, "k-next", &next, 100, None)
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        redeem(&s, FAMILYMART, "k-two-ahead", &two_ahead, 100, None)
            .await
            .code(),
        "paycode_expired",
        "two steps ahead is outside ±1"
    );
    // Two minutes later the current code of then is stale.
    advance(&s, 121).await;
    let stale = redeem(&s, FAMILYMART, "k-stale", &current, 100, None).await;
    assert_eq!(
        (stale.status, stale.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "paycode_expired")
    );
    let zhang = s.login(ZHANG).await;
    let fresh = device.code(now(&s).await);
    // A misread digit is not the code: refused as wrong, not as stale.
    let mut typo = fresh.clone().into_bytes();
    typo[17] = if typo[17] == b'9' { b'0' } else { typo[17] + 1 };
    let typo = String::from_utf8(typo).unwrap();
    assert_eq!(
        redeem(&s, FAMILYMART, "k-typo", &typo, 100, None)
            .await
            .code(),
        "paycode_invalid"
    );
    for bad in [
        "",
        "28123",
        "2812345612345678901",
        "2912345612345678",
        "28abcdef1234567890",
    ] {
        let r = redeem(&s, FAMILYMART, &format!("k-bad-{bad}"), bad, 100, None).await;
        assert_eq!(r.code(), "paycode_malformed", "{bad:?}");
    }
    // An unknown slot is no code of anyone's.
    let nobody = format!(
        "28{:06}{}",
        if device.slot == 999_999 {
            100_000
        } else {
            device.slot + 1
        },
        &fresh[8..]
    );
    assert_eq!(
        redeem(&s, FAMILYMART, "k-nobody", &nobody, 100, None)
            .await
            .code(),
        "paycode_revoked"
    );
    let ok = redeem(&s, FAMILYMART, "k-fresh", &fresh, 100, None).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    assert_eq!(status(&s, &zhang).await["spent_today"], money(300, "CNY"));
    s.assert_audit().await;
}

#[tokio::test]
async fn codes_stop_when_the_device_is_signed_out_revoked_or_rotated() {
    let s = TestServer::start().await;
    to_china_noon(&s).await;
    let phone = s
        .login_on(ZHANG, "zhang-phone-01")
        .await
        .tokens
        .access_token;
    let tablet = s
        .login_on(ZHANG, "zhang-tablet-01")
        .await
        .tokens
        .access_token;
    let lost = provisioned(&s, &phone, "prov-phone").await;
    let kept = provisioned(&s, &tablet, "prov-tablet").await;
    assert_ne!(lost.slot, kept.slot);
    let t = now(&s).await;
    let lost_code = lost.code(t);

    // The phone is lost: signed out from the tablet. Its codes, made offline before, are dead.
    let r = s
        .send(
            s.req(Method::DELETE, "/v1/devices/zhang-phone-01")
                .bearer_auth(&tablet),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let refused = redeem(&s, FAMILYMART, "k-lost", &lost_code, 1_000, None).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "paycode_revoked")
    );
    assert_eq!(
        redeem(
            &s,
            FAMILYMART,
            "k-lost-next",
            &lost.code(t + 60_000),
            1_000,
            None
        )
        .await
        .code(),
        "paycode_revoked"
    );
    // Signing the phone in again does not bring the old secret back.
    let phone = s
        .login_on(ZHANG, "zhang-phone-01")
        .await
        .tokens
        .access_token;
    assert_eq!(status(&s, &phone).await["provisioned"], false);
    assert_eq!(
        redeem(&s, FAMILYMART, "k-lost-again", &lost_code, 1_000, None)
            .await
            .code(),
        "paycode_revoked"
    );
    // The tablet is unaffected.
    assert_eq!(
        redeem(&s, FAMILYMART, "k-kept", &kept.code(t), 1_000, None)
            .await
            .status,
        StatusCode::CREATED
    );

    // Rotation: provisioning again ends the previous secret.
    let first = provisioned(&s, &phone, "prov-phone-2").await;
    let second = provisioned(&s, &phone, "prov-phone-3").await;
    assert_ne!(first.secret, second.secret);
    assert_ne!(first.slot, second.slot);
    assert_eq!(
        redeem(&s, FAMILYMART, "k-rotated", &first.code(t), 1_000, None)
            .await
            .code(),
        "paycode_revoked"
    );
    assert_eq!(
        redeem(&s, FAMILYMART, "k-second", &second.code(t), 1_000, None)
            .await
            .status,
        StatusCode::CREATED
    );
    // Revoking by the user.
    let del = s
        .send(s.req(Method::DELETE, "/v1/paycode").bearer_auth(&phone))
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let del = s
        .send(s.req(Method::DELETE, "/v1/paycode").bearer_auth(&phone))
        .await;
    assert_eq!(del.code(), "not_found");
    assert_eq!(
        redeem(
            &s,
            FAMILYMART,
            "k-revoked",
            &second.code(t + 60_000),
            1_000,
            None
        )
        .await
        .code(),
        "paycode_revoked"
    );

    // Logging out, and "sign out other devices", end codes the same way.
    let third = provisioned(&s, &phone, "prov-phone-4").await;
    let r = s
        .send(s.req(Method::POST, "/v1/auth/logout").bearer_auth(&phone))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        redeem(&s, FAMILYMART, "k-logged-out", &third.code(t), 1_000, None)
            .await
            .code(),
        "paycode_revoked"
    );
    let r = s
        .send(
            s.req(Method::POST, "/v1/devices/sign-out-others")
                .bearer_auth(&phone_again(&s).await),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        redeem(
            &s,
            FAMILYMART,
            "k-tablet-out",
            &kept.code(t + 60_000),
            1_000,
            None
        )
        .await
        .code(),
        "paycode_revoked"
    );
    s.assert_audit().await;
}

async fn phone_again(s: &TestServer) -> String {
    s.login_on(ZHANG, "zhang-phone-01")
        .await
        .tokens
        .access_token
}

#[tokio::test]
async fn provisioning_is_idempotent_and_needs_a_key() {
    let s = TestServer::start().await;
    let zhang = s.login(ZHANG).await;
    let a = provision(&s, &zhang, "prov-same").await;
    let b = provision(&s, &zhang, "prov-same").await;
    assert_eq!(b.status, StatusCode::CREATED);
    assert_eq!(b.headers["Idempotent-Replayed"], "true");
    assert_eq!(
        (&a.body["secret"], &a.body["slot"]),
        (&b.body["secret"], &b.body["slot"])
    );
    // The same key from another device of the account is another request.
    let other = s
        .login_on(ZHANG, "zhang-other-01")
        .await
        .tokens
        .access_token;
    assert_eq!(
        provision(&s, &other, "prov-same").await.code(),
        "idempotency_key_reused"
    );
    // Once rotated, the old request's secret is gone for good.
    let c = provision(&s, &zhang, "prov-new").await;
    assert_ne!(c.body["secret"], a.body["secret"]);
    let gone = provision(&s, &zhang, "prov-same").await;
    assert_eq!(gone.code(), "paycode_revoked");
    let missing = s
        .send(
            s.req(Method::POST, "/v1/paycode/provision")
                .bearer_auth(&zhang),
        )
        .await;
    assert_eq!(missing.code(), "idempotency_key_missing");
    let anonymous = s
        .send(
            s.req(Method::POST, "/v1/paycode/provision")
                .header("Idempotency-Key", "prov-anon"),
        )
        .await;
    assert_eq!(anonymous.code(), "unauthorized");
    s.assert_audit().await;
}

/// A new user with `balance` fen of CNY, signed in on `devices` devices, each provisioned.
async fn user_with_devices(
    s: &TestServer,
    phone: &str,
    balance: i64,
    devices: usize,
) -> (String, Vec<Device>) {
    let (_, token) = seeded_user(s, phone, json!([money(balance, "CNY")]), 0).await;
    let mut out = Vec::new();
    for i in 0..devices {
        let t = s
            .login_on(phone, &format!("cap-device-{i:02}"))
            .await
            .tokens
            .access_token;
        out.push(provisioned(s, &t, &format!("prov-cap-{i}")).await);
    }
    (token, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_limit_holds_under_20_concurrent_redemptions() {
    let s = TestServer::start().await;
    to_china_noon(&s).await;
    // Seven devices show three valid codes each (previous, current, next step): 21 codes.
    let (token, devices) = user_with_devices(&s, "13700137001", 1_000_000, 7).await;
    let t = now(&s).await;
    let codes: Vec<String> = devices
        .iter()
        .flat_map(|d| [d.code(t - 60_000), d.code(t), d.code(t + 60_000)])
        .take(20)
        .collect();
    // 20 × CNY 300.00 against the CNY 2,000.00 daily limit: exactly 6 fit.
    let attempts = codes.iter().enumerate().map(|(i, code)| {
        let s = &s;
        async move { redeem(s, FAMILYMART, &format!("k-cap-{i}"), code, 30_000, None).await }
    });
    let results = futures_util::future::join_all(attempts).await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let over: Vec<&Resp> = results
        .iter()
        .filter(|r| r.code() == "paycode_limit_exceeded")
        .collect();
    assert_eq!(
        (ok, over.len()),
        (6, 14),
        "{:?}",
        results.iter().map(|r| r.code()).collect::<Vec<_>>()
    );
    for r in &over {
        assert_eq!(r.body["data"]["scope"], "daily");
        assert_eq!(r.body["data"]["remaining"], money(20_000, "CNY"));
    }
    assert_eq!(available(&s, &token, "CNY").await, 1_000_000 - 6 * 30_000);
    let st = status(&s, &token).await;
    assert_eq!(st["spent_today"], money(180_000, "CNY"));
    assert_eq!(st["remaining_today"], money(20_000, "CNY"));
    // What is left still pays; a fen more does not (with the one code not raced above).
    let last = devices[6].code(t + 60_000);
    assert_eq!(
        redeem(&s, FAMILYMART, "k-cap-over", &last, 20_001, None)
            .await
            .code(),
        "paycode_limit_exceeded"
    );
    assert_eq!(
        redeem(&s, FAMILYMART, "k-cap-rest", &last, 20_000, None)
            .await
            .status,
        StatusCode::CREATED
    );
    // The next China-time day starts afresh.
    advance(&s, 24 * 3600).await;
    let token = s
        .login_on("13700137001", "cap-device-00")
        .await
        .tokens
        .access_token;
    assert_eq!(
        status(&s, &token).await["remaining_today"],
        money(200_000, "CNY")
    );
    s.assert_audit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_terminals_racing_one_code_charge_it_once() {
    let s = TestServer::start().await;
    to_china_noon(&s).await;
    let zhang = s.login(ZHANG).await;
    let device = provisioned(&s, &zhang, "prov-race").await;
    let balance = available(&s, &zhang, "CNY").await;
    let code = device.code(now(&s).await);
    let attempts = (0..20).map(|i| {
        let (s, code) = (&s, &code);
        let terminal = if i % 2 == 0 { FAMILYMART } else { LUCKIN };
        async move { redeem(s, terminal, &format!("k-race-{i}"), code, 1_500, None).await }
    });
    let results = futures_util::future::join_all(attempts).await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let used = results
        .iter()
        .filter(|r| r.code() == "paycode_used")
        .count();
    assert_eq!((ok, used), (1, 19));
    assert_eq!(available(&s, &zhang, "CNY").await, balance - 1_500);
    s.assert_audit().await;
}

#[tokio::test]
async fn per_code_limit_and_settings_from_the_control_api() {
    let s = TestServer::start().await;
    to_china_noon(&s).await;
    let zhang = s.login(ZHANG).await;
    let device = provisioned(&s, &zhang, "prov-limit").await;
    let code = device.code(now(&s).await);
    let over = redeem(&s, FAMILYMART, "k-over", &code, 100_001, None).await;
    assert_eq!(over.code(), "paycode_limit_exceeded");
    assert_eq!(over.body["data"]["scope"], "per_code");
    assert_eq!(over.body["data"]["limit"], money(100_000, "CNY"));

    let r = s
        .send(s.req(Method::PUT, "/__mock/paycode/settings").json(&json!({
            "per_code_limit": money(5_000, "CNY"), "daily_limit": money(8_000, "CNY"), "skew_steps": 2})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let st = status(&s, &zhang).await;
    assert_eq!(
        (&st["per_code_limit"], &st["daily_limit"], &st["skew_steps"]),
        (&money(5_000, "CNY"), &money(8_000, "CNY"), &json!(2))
    );
    assert_eq!(
        redeem(&s, FAMILYMART, "k-over-new", &code, 5_001, None)
            .await
            .code(),
        "paycode_limit_exceeded"
    );
    // A wider window accepts a code two steps old.
    let t = now(&s).await;
    assert_eq!(
        redeem(
            &s,
            FAMILYMART,
            "k-two-old",
            &device.code(t - 120_000),
            5_000,
            None
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let daily = redeem(&s, FAMILYMART, "k-daily", &code, 3_001, None).await;
    assert_eq!(daily.body["data"]["scope"], "daily");
    assert_eq!(daily.body["data"]["remaining"], money(3_000, "CNY"));
    for bad in [
        json!({"per_code_limit": money(0, "CNY"), "daily_limit": money(1, "CNY"), "skew_steps": 1}),
        json!({"per_code_limit": money(1, "USD"), "daily_limit": money(1, "CNY"), "skew_steps": 1}),
        json!({"per_code_limit": money(1, "CNY"), "daily_limit": money(1, "CNY"), "skew_steps": 11}),
    ] {
        let r = s
            .send(s.req(Method::PUT, "/__mock/paycode/settings").json(&bad))
            .await;
        assert_eq!(r.code(), "validation_failed", "{bad}");
    }
    let magic = s.get("/__mock/magic", None).await;
    let listed = magic.body["values"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["input"] == "X-Terminal-Key" && v["value"] == FAMILYMART.0);
    assert!(listed, "terminal keys are in the magic catalogue");
    s.assert_audit().await;
}

#[tokio::test]
async fn the_risk_engine_declines_at_the_till() {
    let s = TestServer::start().await;
    to_china_noon(&s).await;
    let zhang = s.login(ZHANG).await;
    let device = provisioned(&s, &zhang, "prov-risk").await;
    let balance = available(&s, &zhang, "CNY").await;
    let mut socket = events_socket(&s, &zhang).await;
    let code = device.code(now(&s).await);

    // The magic amount the risk engine blocks.
    let blocked = redeem(&s, FAMILYMART, "k-444", &code, 44_444, None).await;
    assert_eq!(
        (blocked.status, blocked.code()),
        (StatusCode::FORBIDDEN, "risk_blocked")
    );
    assert_eq!(blocked.body["data"]["action"], "block");
    assert_eq!(blocked.body["data"]["rule_id"], "magic_amount");
    // A merchant reported for fraud.
    let fraud = redeem(&s, BLOCKED, "k-fraud", &code, 1_000, None).await;
    assert_eq!(fraud.code(), "risk_blocked");
    assert_eq!(fraud.body["data"]["rule_id"], "merchant_blocked");
    // A till can neither wait for a review nor confirm on the phone: a hold declines too.
    let held = redeem(&s, FAMILYMART, "k-hold", &code, 1_000, Some("risk=hold")).await;
    assert_eq!(held.code(), "risk_blocked");
    assert_eq!(held.body["data"]["action"], "hold");
    assert_eq!(available(&s, &zhang, "CNY").await, balance);
    // The payer is told.
    let msg = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("an event")
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
    assert_eq!(event["type"], "risk_alert");
    assert_eq!(event["alert"]["decision"]["action"], "block");
    // A declined code was not spent.
    assert_eq!(
        redeem(&s, FAMILYMART, "k-fine", &code, 1_000, None)
            .await
            .status,
        StatusCode::CREATED
    );
    s.assert_audit().await;
}

#[tokio::test]
async fn terminals_and_users_cannot_misuse_codes() {
    let s = TestServer::start().await;
    to_china_noon(&s).await;
    let zhang = s.login(ZHANG).await;
    let li = s.login(LI).await;
    let z = provisioned(&s, &zhang, "prov-z").await;
    let l = provisioned(&s, &li, "prov-l").await;
    let t = now(&s).await;
    let code = z.code(t);
    let body = |merchant: &str, term: &str| json!({"code": code, "amount": money(100, "CNY"), "merchant_id": merchant, "terminal_id": term});
    let srv = &s;
    let send = move |key: Option<&'static str>, b: Value| {
        let mut rb = srv
            .req(Method::POST, "/v1/terminal/redeem")
            .header("Idempotency-Key", "k-misuse")
            .json(&b);
        if let Some(k) = key {
            rb = rb.header("X-Terminal-Key", k);
        }
        srv.send(rb)
    };
    // No key, a wrong key, a user's bearer token instead of a terminal key.
    assert_eq!(
        send(None, body(FAMILYMART.1, FAMILYMART.2)).await.code(),
        "terminal_unauthorized"
    );
    assert_eq!(
        send(
            Some("tk_test_familymart_0702"),
            body(FAMILYMART.1, FAMILYMART.2)
        )
        .await
        .code(),
        "terminal_unauthorized"
    );
    let bearer = s
        .send(
            s.req(Method::POST, "/v1/terminal/redeem")
                .bearer_auth(&zhang)
                .header("Idempotency-Key", "k-bearer")
                .json(&body(FAMILYMART.1, FAMILYMART.2)),
        )
        .await;
    assert_eq!(bearer.status, StatusCode::UNAUTHORIZED);
    // One merchant's terminal key paying into another merchant, or posing as another till.
    let wrong = send(Some(FAMILYMART.0), body(LUCKIN.1, FAMILYMART.2)).await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(
        send(Some(FAMILYMART.0), body(FAMILYMART.1, LUCKIN.2))
            .await
            .code(),
        "forbidden"
    );
    // Li Na's slot with a one-time value from Zhang Wei's secret is nobody's code.
    let forged = format!("28{:06}{}", l.slot, &code[8..]);
    assert_eq!(
        redeem(&s, FAMILYMART, "k-forged", &forged, 100, None)
            .await
            .code(),
        "paycode_invalid"
    );
    // A secret of one's own cannot make codes for another's slot either.
    let cross = code_at(&l.secret, z.slot, t);
    assert_eq!(
        redeem(&s, FAMILYMART, "k-cross", &cross, 100, None)
            .await
            .code(),
        "paycode_invalid"
    );
    // Each user sees and revokes only their own device's code.
    assert_eq!(status(&s, &li).await["slot"], l.slot);
    let del = s
        .send(s.req(Method::DELETE, "/v1/paycode").bearer_auth(&li))
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    // Nothing was charged by any of it; Zhang Wei's code still pays, once, to Zhang Wei.
    let li_before = available(&s, &li, "CNY").await;
    let zhang_before = available(&s, &zhang, "CNY").await;
    assert_eq!(
        redeem(&s, LUCKIN, "k-real", &code, 100, None).await.status,
        StatusCode::CREATED
    );
    // Each terminal has its own idempotency keys: another terminal may use the same one, but
    // a terminal reusing its own for another payment is refused.
    assert_eq!(
        redeem(&s, FAMILYMART, "k-real", &z.code(t + 60_000), 200, None)
            .await
            .status,
        StatusCode::CREATED
    );
    let reused = redeem(&s, LUCKIN, "k-real", &z.code(t - 60_000), 300, None).await;
    assert_eq!(reused.code(), "idempotency_key_reused");
    assert_eq!(available(&s, &zhang, "CNY").await, zhang_before - 300);
    assert_eq!(available(&s, &li, "CNY").await, li_before);
    s.assert_audit().await;
}

#[tokio::test]
async fn frozen_or_empty_accounts_cannot_pay() {
    let s = TestServer::start().await;
    to_china_noon(&s).await;
    let (_, token) = seeded_user(&s, "13700137002", json!([money(500, "CNY")]), 0).await;
    let device = provisioned(&s, &token, "prov-poor").await;
    let t = now(&s).await;
    let poor = redeem(&s, FAMILYMART, "k-poor", &device.code(t), 501, None).await;
    assert_eq!(poor.code(), "insufficient_funds");
    let usd = s
        .send(
            s.req(Method::POST, "/v1/terminal/redeem")
                .header("X-Terminal-Key", FAMILYMART.0)
                .header("Idempotency-Key", "k-usd")
                .json(&json!({"code": device.code(t), "amount": money(100, "USD"), "merchant_id": FAMILYMART.1, "terminal_id": FAMILYMART.2})),
        )
        .await;
    assert_eq!(usd.code(), "currency_mismatch");
    assert_eq!(
        redeem(&s, FAMILYMART, "k-zero", &device.code(t), 0, None)
            .await
            .code(),
        "invalid_amount"
    );
    let r = s
        .send(
            s.req(Method::POST, "/v1/risk/not-me")
                .bearer_auth(&token)
                .json(&json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let frozen = redeem(&s, FAMILYMART, "k-frozen", &device.code(t), 100, None).await;
    assert_eq!(
        (frozen.status, frozen.code()),
        (StatusCode::LOCKED, "account_frozen")
    );
    assert_eq!(available(&s, &token, "CNY").await, 500);
    s.assert_audit().await;
}

/// Every log line of this test binary (the server runs in-process).
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        buf
    })
    .clone()
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The secret as it could appear: raw, hex (both cases), base64 (standard and URL-safe, at
/// every alignment).
fn encodings(secret: &[u8]) -> Vec<Vec<u8>> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let mut out = vec![
        secret.to_vec(),
        hex.clone().into_bytes(),
        hex.to_uppercase().into_bytes(),
    ];
    for shift in 0..3 {
        let mut buf = vec![0u8; shift];
        buf.extend_from_slice(secret);
        for enc in [STANDARD.encode(&buf), URL_SAFE_NO_PAD.encode(&buf)] {
            let start = (shift * 4).div_ceil(3);
            let end = enc.trim_end_matches('=').len() - 2;
            out.push(enc.as_bytes()[start..end].to_vec());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_secret_never_rests_in_clear_nor_reaches_a_log() {
    let logs = captured_logs();
    tracing::info!("capture check: paycode secrets test");
    let s = TestServer::start().await;
    to_china_noon(&s).await;
    let zhang = s.login(ZHANG).await;
    let device = provisioned(&s, &zhang, "prov-secret").await;
    let _ = provision(&s, &zhang, "prov-secret").await;
    let t = now(&s).await;
    assert_eq!(
        redeem(&s, FAMILYMART, "k-secret", &device.code(t), 800, None)
            .await
            .status,
        StatusCode::CREATED
    );
    let _ = redeem(&s, FAMILYMART, "k-secret-2", &device.code(t), 800, None).await;
    let st = s.get("/v1/paycode", Some(&zhang)).await;
    let needles = encodings(&device.secret);

    // Not in any other answer, nor in the request log.
    assert!(st.body.get("secret").is_none());
    let log = s.get("/__mock/requests", None).await.body.to_string();
    assert!(
        log.contains("/v1/paycode/provision"),
        "the request log saw the calls"
    );
    for n in &needles {
        assert!(!contains(log.as_bytes(), n), "secret in the request log");
        assert!(!contains(st.body.to_string().as_bytes(), n));
    }

    // Not in any cell of any table of the sandbox's database.
    let sb = s.server.state.sandbox("default").await.unwrap();
    let cells = sb
        .read(|c| {
            let tables: Vec<String> = c
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut cells: Vec<Vec<u8>> = Vec::new();
            for t in tables {
                let mut stmt = c.prepare(&format!("SELECT * FROM \"{t}\""))?;
                let n = stmt.column_count();
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    for i in 0..n {
                        match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Text(b)
                            | rusqlite::types::ValueRef::Blob(b) => cells.push(b.to_vec()),
                            _ => {}
                        }
                    }
                }
            }
            Ok(cells)
        })
        .unwrap();
    let sealed_len: i64 = sb
        .read(|c| {
            Ok(c.query_row(
                "SELECT length(sealed_secret) FROM paycodes WHERE slot = ?1",
                [device.slot],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    // Version, nonce, the 32 bytes sealed, the tag.
    assert_eq!(sealed_len, 1 + 12 + 32 + 16);
    for cell in &cells {
        for n in &needles {
            assert!(!contains(cell, n), "secret in the database");
        }
    }

    // Not in any log line.
    let logs = logs.lock().unwrap().clone();
    assert!(contains(&logs, b"capture check"), "logs are captured");
    let slot_line = format!("slot={}", device.slot);
    assert!(
        contains(&logs, b"payment code provisioned") && contains(&logs, slot_line.as_bytes()),
        "the server's own lines are captured"
    );
    for n in &needles {
        assert!(!contains(&logs, n), "secret in the logs");
    }
    s.assert_audit().await;
}
