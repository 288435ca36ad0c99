//! The in-store payment code through the core: turned on online, codes derived with the
//! network off, redeemed by the mock's merchant terminal once and only within the skew window,
//! refused after sign-out, the limits held under 20 concurrent redemptions, and the payment
//! reaching the app by sync.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use upay_core::error::{CoreError, ErrorCode};
use upay_core::events::{WalletEvent, WalletListener};
use upay_core::history::HistoryFilter;
use upay_core::model::TransactionKind;

const FAMILYMART: (&str, &str, &str) = ("tk_test_familymart_0701", "M0000000007", "T0000000701");
const LUCKIN: (&str, &str, &str) = ("tk_test_luckin_0101", "M0000000001", "T0000000101");

/// A terminal's redemption: (status, body).
async fn redeem(
    mock: &Mock,
    terminal: (&str, &str, &str),
    key: &str,
    code: &str,
    minor: i64,
) -> (u16, Value) {
    let (tk, merchant, term) = terminal;
    let r = mock
        .http
        .post(format!("{}/v1/terminal/redeem", mock.base))
        .header("X-Terminal-Key", tk)
        .header("Idempotency-Key", key)
        .header("X-Mock-Scenario", "risk=allow")
        .json(&json!({
            "code": code,
            "amount": {"minor": minor, "currency": "CNY"},
            "merchant_id": merchant,
            "terminal_id": term,
        }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn code_of(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_made_offline_pays_once_and_reaches_the_app_by_sync() {
    let mock = Mock::start().await;
    mock.to_china_noon().await;
    let dir = tempfile::tempdir().unwrap();
    let device = "device-paycode-1";
    let client = open_client(&mock.base, dir.path(), device);
    sign_in(&client, &mock, ZHANG).await;
    client.sync().sync_now().await.unwrap();
    let before = cny_displayed(&client);

    let pc = client.paycode();
    let not_yet = pc.current_code().unwrap_err();
    assert_eq!(not_yet.code(), ErrorCode::PaycodeNotEnabled);
    assert!(!pc.info().unwrap().enabled);
    let info = pc.enable().await.unwrap();
    assert!(info.enabled);
    assert_eq!(info.per_code_limit.as_ref().unwrap().minor, 100_000);
    assert_eq!(info.daily_limit.as_ref().unwrap().minor, 200_000);
    let slot = info.slot.unwrap();

    // No network from here on the phone's side.
    drop(pc);
    let client = reopen(client, &closed_port_base(), dir.path(), device);
    let pc = client.paycode();
    assert!(pc.info().unwrap().enabled, "kept across a restart");
    let shown = pc.current_code().unwrap();
    assert_eq!(shown.code.len(), 18);
    assert!(shown.code.starts_with("28"));
    assert_eq!(&shown.code[2..8], format!("{slot:06}"));
    assert_eq!(shown.display.replace(' ', ""), shown.code);
    assert!((1..=60).contains(&shown.refresh_in_secs));
    assert_eq!(shown.valid_until - shown.valid_from, 60_000);
    // Derived from the server's clock (the mock's is a day ahead): the same code the server
    // expects now, not the one for the phone's own time.
    let mock_time = mock.now().await;
    assert!(
        (shown.valid_from..shown.valid_until + 2_000).contains(&mock_time),
        "code step {}..{} vs server time {mock_time}",
        shown.valid_from,
        shown.valid_until
    );

    let (status, receipt) = redeem(&mock, FAMILYMART, "till-1", &shown.code, 2_350).await;
    assert_eq!(status, 201, "{receipt}");
    let (status, again) = redeem(&mock, LUCKIN, "till-2", &shown.code, 2_350).await;
    assert_eq!((status, code_of(&again)), (409, "paycode_used"));

    // Back online: the payment arrives by sync, once.
    drop(pc);
    drop(client);
    let client = open_client(&mock.base, dir.path(), device);
    client.sync().sync_now().await.unwrap();
    assert_eq!(cny_displayed(&client), before - 2_350);
    let page = client
        .history()
        .page(
            HistoryFilter {
                kinds: vec![TransactionKind::MerchantPayment],
                ..Default::default()
            },
            None,
            50,
        )
        .unwrap();
    let paid: Vec<_> = page
        .items
        .iter()
        .filter(|t| t.amount.minor == -2_350)
        .collect();
    assert_eq!(paid.len(), 1, "one history entry");
    assert_eq!(paid[0].merchant_name.as_deref(), Some("全家便利店"));
    let status = client.paycode().status().await.unwrap();
    assert!(status.enabled);
    assert_eq!(status.remaining_today.unwrap().minor, 200_000 - 2_350);
    mock.assert_audit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_outside_the_skew_window_is_refused() {
    let mock = Mock::start().await;
    mock.to_china_noon().await;
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&mock.base, dir.path(), "device-paycode-2");
    sign_in(&client, &mock, ZHANG).await;
    let pc = client.paycode();
    pc.enable().await.unwrap();
    let stale = pc.current_code().unwrap();
    // Three minutes later the server accepts the previous, current and next step only.
    mock.advance_clock(180).await;
    let (status, body) = redeem(&mock, FAMILYMART, "till-old", &stale.code, 1_000).await;
    assert_eq!((status, code_of(&body)), (422, "paycode_expired"), "{body}");
    // A code the phone would show five minutes from now is refused as well.
    let now = upay_core::model::now_ms();
    let early = upay_core::paycode::code_at_device_time(client.core(), now + 300_000).unwrap();
    let (_, body) = redeem(&mock, FAMILYMART, "till-early", &early.code, 1_000).await;
    assert_eq!(code_of(&body), "paycode_expired", "{body}");
    // The phone's clock now lags the server's by three minutes (the mock's clock jumped):
    // the next status check while online learns the difference, and the current code pays.
    pc.status().await.unwrap();
    let fresh = pc.current_code().unwrap();
    let (status, body) = redeem(&mock, FAMILYMART, "till-now", &fresh.code, 1_000).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn codes_of_a_signed_out_device_are_refused_and_forgotten() {
    let mock = Mock::start().await;
    mock.to_china_noon().await;
    let dir = tempfile::tempdir().unwrap();
    let lost = open_client(&mock.base, dir.path(), "device-paycode-lost");
    sign_in(&lost, &mock, ZHANG).await;
    lost.paycode().enable().await.unwrap();
    let code = lost.paycode().current_code().unwrap();

    // The phone is lost: the user signs it out from another phone.
    let other_dir = tempfile::tempdir().unwrap();
    let other = open_client(&mock.base, other_dir.path(), "device-paycode-new");
    sign_in(&other, &mock, ZHANG).await;
    let devices = other.session().devices().await.unwrap();
    let lost_entry = devices
        .iter()
        .find(|d| d.device_id == "device-paycode-lost")
        .expect("the lost phone is listed");
    other
        .session()
        .sign_out_device(lost_entry.device_id.clone())
        .await
        .unwrap();
    let (status, body) = redeem(&mock, FAMILYMART, "till-lost", &code.code, 1_000).await;
    assert_eq!((status, code_of(&body)), (422, "paycode_revoked"), "{body}");

    // A phone that signs out forgets its secret; one whose codes the server stopped accepting
    // forgets it at the next status check.
    let dir2 = tempfile::tempdir().unwrap();
    let phone = open_client(&mock.base, dir2.path(), "device-paycode-3");
    sign_in(&phone, &mock, ZHANG).await;
    phone.paycode().enable().await.unwrap();
    let code = phone.paycode().current_code().unwrap();
    phone.session().logout().await.unwrap();
    let (_, body) = redeem(&mock, FAMILYMART, "till-out", &code.code, 1_000).await;
    assert_eq!(code_of(&body), "paycode_revoked", "{body}");
    sign_in(&phone, &mock, ZHANG).await;
    let gone = phone.paycode().current_code().unwrap_err();
    assert_eq!(gone.code(), ErrorCode::PaycodeNotEnabled);

    phone.paycode().enable().await.unwrap();
    // Turning it off revokes on the server first.
    let code = phone.paycode().current_code().unwrap();
    phone.paycode().disable().await.unwrap();
    assert!(!phone.paycode().info().unwrap().enabled);
    let (_, body) = redeem(&mock, FAMILYMART, "till-off", &code.code, 1_000).await;
    assert_eq!(code_of(&body), "paycode_revoked", "{body}");

    // Rotated elsewhere (enable again from a second client on the same cache would rotate):
    // the status check forgets a secret the server no longer accepts.
    phone.paycode().enable().await.unwrap();
    let raw = mock.raw_login(ZHANG, "device-paycode-3").await;
    let r = mock
        .http
        .delete(format!("{}/v1/paycode", mock.base))
        .bearer_auth(&raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let after = phone.paycode().status().await.unwrap();
    assert!(!after.enabled);
    assert!(!phone.paycode().info().unwrap().enabled);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daily_cap_holds_under_20_concurrent_redemptions() {
    let mock = Mock::start().await;
    mock.to_china_noon().await;
    mock.control(
        Method::PUT,
        "/__mock/paycode/settings",
        Some(json!({
            "per_code_limit": {"minor": 50_000, "currency": "CNY"},
            "daily_limit": {"minor": 70_000, "currency": "CNY"},
            "skew_steps": 1,
        })),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&mock.base, dir.path(), "device-paycode-cap");
    sign_in(&client, &mock, ZHANG).await;
    client.sync().sync_now().await.unwrap();
    let before = cny_displayed(&client);
    client.paycode().enable().await.unwrap();
    let now = upay_core::model::now_ms();
    // The three codes the server accepts now (previous, current, next step), each raced by
    // several terminals: 20 redemptions of CNY 300.00 against a CNY 700.00 daily cap.
    let codes: Vec<String> = [-60_000, 0, 60_000]
        .iter()
        .map(|d| {
            upay_core::paycode::code_at_device_time(client.core(), now + d)
                .unwrap()
                .code
        })
        .collect();
    let attempts = (0..20).map(|i| {
        let mock = &mock;
        let code = codes[i % 3].clone();
        async move { redeem(mock, FAMILYMART, &format!("race-{i}"), &code, 30_000).await }
    });
    let results = futures_util::future::join_all(attempts).await;
    let ok = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(ok, 2, "two codes fit under the cap: {results:?}");
    for (s, body) in &results {
        if *s != 201 {
            assert!(
                ["paycode_used", "paycode_limit_exceeded"].contains(&code_of(body)),
                "{body}"
            );
        }
    }
    client.sync().sync_now().await.unwrap();
    assert_eq!(cny_displayed(&client), before - 60_000);
    let st = client.paycode().status().await.unwrap();
    assert_eq!(st.remaining_today.unwrap().minor, 10_000);
    mock.assert_audit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn turning_the_code_on_needs_the_network_and_an_unlocked_app() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let device = "device-paycode-5";
    let client = open_client(&mock.base, dir.path(), device);
    sign_in(&client, &mock, ZHANG).await;
    let client = reopen(client, &closed_port_base(), dir.path(), device);
    let err: CoreError = client.paycode().enable().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Offline);
    assert!(!client.paycode().info().unwrap().enabled);
    client.session().lock_app();
    let locked = client.paycode().current_code().unwrap_err();
    assert_eq!(locked.code(), ErrorCode::AppLocked);
}

/// Collects every event batch the core delivers.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<WalletEvent>>);

impl WalletListener for Recorder {
    fn on_events(&self, events: Vec<WalletEvent>) {
        self.0.lock().unwrap().extend(events);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_charge_at_the_till_reaches_the_app_live_and_the_balance_follows() {
    let mock = Mock::start().await;
    mock.to_china_noon().await;
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&mock.base, dir.path(), "device-paycode-live");
    sign_in(&client, &mock, ZHANG).await;
    client.sync().sync_now().await.unwrap();
    let before = cny_displayed(&client);
    let events = Arc::new(Recorder::default());
    let subscription = client.subscribe(events.clone());
    let live = client.start_live_events();
    eventually("the live connection is up", Duration::from_secs(10), || {
        events
            .0
            .lock()
            .unwrap()
            .contains(&WalletEvent::LiveConnectionChanged { connected: true })
    })
    .await;
    client.paycode().enable().await.unwrap();
    let code = client.paycode().current_code().unwrap();

    let (status, body) = redeem(&mock, FAMILYMART, "till-live", &code.code, 1_880).await;
    assert_eq!(status, 201, "{body}");
    eventually("the charge is announced", Duration::from_secs(10), || {
        events.0.lock().unwrap().iter().any(|e| {
            matches!(e, WalletEvent::PaycodeRedeemed { amount, merchant_name, remaining_today, .. }
                if amount.minor == 1_880 && merchant_name == "全家便利店"
                    && remaining_today.minor == 200_000 - 1_880)
        })
    })
    .await;
    // No sync call from the test: the event woke the worker, which synced.
    eventually("the balance follows", Duration::from_secs(10), || {
        cny_displayed(&client) == before - 1_880
    })
    .await;
    assert_eq!(
        client
            .paycode()
            .info()
            .unwrap()
            .remaining_today
            .unwrap()
            .minor,
        200_000 - 1_880
    );
    // A savings move is pushed too.
    client.savings().deposit(cny(1_000)).await.unwrap();
    eventually(
        "the savings change is announced",
        Duration::from_secs(10),
        || {
            events
                .0
                .lock()
                .unwrap()
                .iter()
                .any(|e| matches!(e, WalletEvent::SavingsChanged { currency } if currency == "CNY"))
        },
    )
    .await;
    live.stop();
    subscription.cancel();
}

/// Live events belong to the user the connection was opened for: after a sign-out and another
/// user's sign-in, the connection is opened again for the new user at once; the previous
/// user's events no longer reach this phone.
#[tokio::test(flavor = "multi_thread")]
async fn live_events_follow_the_signed_in_user() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = open_client(&mock.base, dir.path(), "device-live-switch");
    sign_in(&client, &mock, ZHANG).await;
    let events = Arc::new(Recorder::default());
    let subscription = client.subscribe(events.clone());
    let live = client.start_live_events();
    let connects = |events: &Recorder| {
        events
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| **e == WalletEvent::LiveConnectionChanged { connected: true })
            .count()
    };
    eventually("the live connection is up", Duration::from_secs(10), || {
        connects(&events) == 1
    })
    .await;

    client.session().logout().await.unwrap();
    sign_in(&client, &mock, LI).await;
    eventually(
        "the connection is opened again for Li",
        Duration::from_secs(5),
        || connects(&events) >= 2,
    )
    .await;
    events.0.lock().unwrap().clear();
    // Zhang signs in elsewhere, then Li does: only Li's notice reaches this phone.
    mock.raw_login(ZHANG, "zhang-tablet").await;
    mock.raw_login(LI, "li-tablet").await;
    let sign_ins = |events: &Recorder| -> Vec<String> {
        events
            .0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                WalletEvent::NewDeviceSignIn { device_name, .. } => Some(device_name.clone()),
                _ => None,
            })
            .collect()
    };
    eventually(
        "Li's new-device notice arrives",
        Duration::from_secs(10),
        || !sign_ins(&events).is_empty(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let names = sign_ins(&events);
    assert_eq!(names.len(), 1, "{names:?}");
    live.stop();
    subscription.cancel();
}
