//! Security paths against the live mock: TLS with the development CA and SPKI pinning, the
//! inactivity app lock, and the lost-key reset from end to end.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use upay_core::WalletClient;
use upay_core::config::{ClientConfig, Settings};
use upay_core::error::ErrorCode;
use upay_core::history::HistoryFilter;
use upay_core::keystore::{FileKeyStore, KeyStore};
use upay_core::payments::{PayeeInput, PaymentOutcome};

fn tls_client(
    base: &str,
    dir: &std::path::Path,
    ca: Option<&str>,
    pins: Vec<String>,
) -> Arc<WalletClient> {
    let mut config = ClientConfig::new(base, dir.join("cache").to_str().unwrap(), "device-tls-01");
    config.locale = "en".into();
    config.extra_ca_pem = ca.map(str::to_owned);
    config.spki_pins = pins;
    let mut s = Settings::from_config(&config).expect("valid config");
    s.retry.attempts = 1;
    WalletClient::with_settings(s, key_store(dir)).expect("client opens")
}

fn code_of(e: upay_core::error::CoreError) -> ErrorCode {
    e.code()
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_trusts_the_dev_ca_checks_pins_and_refuses_plain_http_off_device() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls_dir = tempfile::tempdir().unwrap();
    let mut config = server_mock::Config::for_tests();
    config.tls = true;
    config.tls_dir = tls_dir.path().to_path_buf();
    let server = server_mock::start(config).await.expect("mock starts");
    let base = server.base_url();
    assert!(base.starts_with("https://"), "{base}");
    let ca_pem = std::fs::read_to_string(tls_dir.path().join("dev-ca.pem")).unwrap();
    let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap();
    let ca_pin = upay_core::api::tls::spki_pin_of(&ca_der).expect("a pin");
    let tls = upay_core::api::tls::client_config(Some(&ca_pem), &[]).unwrap();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .unwrap();
    let mut mock = Mock::over(server, http);

    // Trusted CA and a matching pin (the CA's key, which the server sends in its chain).
    let dir = tempfile::tempdir().unwrap();
    let good = tls_client(&base, dir.path(), Some(&ca_pem), vec![ca_pin.clone()]);
    sign_in(&good, &mock, ZHANG).await;
    good.sync().sync_now().await.unwrap();
    assert!(!good.home_snapshot().unwrap().balances.is_empty());

    // The right CA but a pin naming another key: refused as a TLS failure, nothing sent.
    let dir = tempfile::tempdir().unwrap();
    let wrong_pin = base64_of(&[7u8; 32]);
    let pinned = tls_client(&base, dir.path(), Some(&ca_pem), vec![wrong_pin]);
    let err = pinned
        .session()
        .login(ZHANG.into(), PASSWORD.into())
        .await
        .unwrap_err();
    assert_eq!(code_of(err), ErrorCode::TlsFailure);

    // Without the development CA the chain is untrusted.
    let dir = tempfile::tempdir().unwrap();
    let untrusted = tls_client(&base, dir.path(), None, Vec::new());
    let err = untrusted
        .session()
        .login(ZHANG.into(), PASSWORD.into())
        .await
        .unwrap_err();
    assert_eq!(code_of(err), ErrorCode::TlsFailure);

    // Plain HTTP to another host is refused at construction, even in developer mode.
    let dir = tempfile::tempdir().unwrap();
    let mut plain = ClientConfig::new(
        "http://api.upay.example",
        dir.path().join("cache").to_str().unwrap(),
        "device-tls-02",
    );
    plain.developer_mode = true;
    let refused = WalletClient::new(plain, key_store(dir.path()), None);
    assert_eq!(
        code_of(refused.err().expect("refused")),
        ErrorCode::InsecureConnection
    );
    mock.stop().await;
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_locks_after_inactivity_and_unlocks_with_the_device_key() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let mut s = settings(&mock.base, dir.path(), "device-lock-01");
    s.app_lock_after = Some(Duration::from_millis(300));
    let client = WalletClient::with_settings(s, key_store(dir.path())).unwrap();
    sign_in(&client, &mock, ZHANG).await;
    client.sync().sync_now().await.unwrap();
    let history = client.history();
    history.page(HistoryFilter::default(), None, 20).unwrap();
    assert!(!client.session().is_app_locked());

    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(client.session().is_app_locked());
    let err = history
        .page(HistoryFilter::default(), None, 20)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::AppLocked);

    // Every read of the user's data and every change is refused while locked.
    let locked = |r: Result<(), upay_core::CoreError>| {
        assert_eq!(r.unwrap_err().code(), ErrorCode::AppLocked);
    };
    let tx_id = "T-any".to_owned();
    locked(history.get(tx_id).map(drop));
    locked(client.payments().outbox(10).map(drop));
    locked(client.payments().cancel("item-any".into()).map(drop));
    locked(client.payments().recent_payees(5).map(drop));
    locked(client.receive_code(None).map(drop));
    locked(client.insights().reminders().map(drop));
    locked(
        client
            .insights()
            .spending_by_category(0, i64::MAX, "CNY".into())
            .map(drop),
    );
    locked(client.savings().cached().map(drop));
    locked(client.savings().yields(None, 10).map(drop));
    locked(client.paycode().info().map(drop));

    // The platform checked PIN/biometrics: the device key signs a fresh challenge.
    client
        .session()
        .unlock_app("Unlock uPay".into())
        .await
        .unwrap();
    assert!(!client.session().is_app_locked());
    assert!(
        !history
            .page(HistoryFilter::default(), None, 20)
            .unwrap()
            .items
            .is_empty()
    );

    // Locking by hand (the app went to the background) works the same way.
    client.session().lock_app();
    assert!(client.session().is_app_locked());
    assert_eq!(
        history
            .page(HistoryFilter::default(), None, 20)
            .unwrap_err()
            .code(),
        ErrorCode::AppLocked
    );
    client
        .session()
        .unlock_app("Unlock uPay".into())
        .await
        .unwrap();
    history.page(HistoryFilter::default(), None, 20).unwrap();

    // Signed out, the cache kept for the next sign-in is not analysed for whoever holds the
    // phone.
    client.session().logout().await.unwrap();
    let signed_out = |r: Result<(), upay_core::CoreError>| {
        assert_eq!(r.unwrap_err().code(), ErrorCode::NotSignedIn);
    };
    signed_out(
        client
            .insights()
            .spending_by_category(0, i64::MAX, "CNY".into())
            .map(drop),
    );
    signed_out(
        client
            .insights()
            .monthly(202001, 203012, "CNY".into())
            .map(drop),
    );
}

/// The worker's own retries of a chat message the server keeps refusing are not use of the app:
/// the phone still locks after the idle time.
#[tokio::test(flavor = "multi_thread")]
async fn background_retries_of_the_support_queue_do_not_keep_the_app_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let mut s = settings(&mock.base, dir.path(), "device-lock-02");
    s.app_lock_after = Some(Duration::from_millis(800));
    s.retry.attempts = 1;
    s.retry.queue_retry_first = Some(Duration::from_millis(50));
    s.retry.queue_retry_max = Duration::from_millis(100);
    let client = WalletClient::with_settings(s, key_store(dir.path())).unwrap();
    sign_in(&client, &mock, ZHANG).await;
    let chat = client.chat();
    let conv = chat.open().await.unwrap();
    mock.control(
        reqwest::Method::POST,
        "/__mock/faults",
        Some(serde_json::json!({
            "route": format!("/v1/support/conversations/{}/messages", conv.id),
            "method": "PUT", "times": 1000,
            "fault": {"kind": "error", "status": 503}})),
    )
    .await;
    chat.send_text("still there?".into()).await.unwrap();
    let remaining = || async {
        let v = mock
            .control(reqwest::Method::GET, "/__mock/faults", None)
            .await;
        v["faults"][0]["times"].as_u64().unwrap()
    };
    let before = remaining().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // The worker kept trying meanwhile (each try used up one refusal) …
    assert!(remaining().await + 3 <= before, "the worker did not retry");
    // … and the app locked all the same.
    assert!(client.session().is_app_locked());
    assert_eq!(chat.messages(10).unwrap_err().code(), ErrorCode::AppLocked);
}

fn count(dir: &std::path::Path, sql: &str) -> i64 {
    let conn =
        rusqlite::Connection::open(dir.join("cache").join(upay_core::store::DB_FILE)).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_key_resets_the_cache_fails_queued_items_and_resyncs() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start_with(Some(dir.path().join("mock.db")), None).await;
    let client = open_client(&mock.base, dir.path(), "device-reset-1");
    sign_in(&client, &mock, ZHANG).await;
    client.sync().sync_now().await.unwrap();
    // The background worker may have synced first: count the cache, not the report.
    let synced = count(dir.path(), "SELECT count(*) FROM transactions");
    assert!(synced > 0);
    assert!(!client.key_was_reset());

    // A chat message that reached the server.
    client.chat().open().await.unwrap();
    client
        .chat()
        .send_text("reset-1 chat line".into())
        .await
        .unwrap();

    // A transfer queued offline: it never reached the server. (A failed sync first uses up the
    // pooled connection the stopping server closed: a payment attempt written on it could not
    // be known unread, and would be `unknown`, not `queued`.)
    mock.stop().await;
    assert!(client.sync().sync_now().await.is_err());
    let out = client
        .payments()
        .transfer(
            PayeeInput::AccountId {
                account_id: LI_ID.into(),
            },
            Some(cny(1_200)),
            Some("reset-1".into()),
        )
        .await
        .unwrap();
    assert!(matches!(out, PaymentOutcome::Queued { .. }), "{out:?}");
    client
        .feedback()
        .submit(
            upay_core::feedback::FeedbackCategory::Other,
            "reset-1 feedback written offline".into(),
            Vec::new(),
        )
        .await
        .unwrap();
    drop(client);

    // The platform key is gone (reinstall, biometrics reset): another key store.
    let other: Arc<dyn KeyStore> = Arc::new(FileKeyStore::open(dir.path().join("keys-2")).unwrap());
    let mut s = settings(&mock.base, dir.path(), "device-reset-1");
    s.retry.attempts = 1;
    let client = WalletClient::with_settings(s, other).unwrap();
    assert!(client.key_was_reset());
    assert!(client.session().profile().is_none(), "signed out");
    let p = dir.path();
    assert_eq!(
        count(p, "SELECT count(*) FROM transactions"),
        0,
        "mirror wiped"
    );
    assert_eq!(count(p, "SELECT count(*) FROM search_index"), 0);
    assert_eq!(count(p, "SELECT count(*) FROM balances"), 0);
    assert_eq!(count(p, "SELECT count(*) FROM session"), 0);
    assert_eq!(
        count(
            p,
            "SELECT count(*) FROM outbox WHERE state = 'failed' AND error_code = 'key_lost'"
        ),
        1,
        "the queued item failed visibly"
    );
    assert_eq!(
        count(p, "SELECT count(*) FROM outbox WHERE state = 'queued'"),
        0
    );
    // The support caches could not be read any more: wiped (fetched again); the unsent
    // feedback failed visibly, like the payment.
    assert_eq!(count(p, "SELECT count(*) FROM chat_messages"), 0);
    assert_eq!(count(p, "SELECT count(*) FROM chat_state"), 0);
    assert_eq!(
        count(
            p,
            "SELECT count(*) FROM feedback_outbox
             WHERE state = 'failed_permanent' AND error_code = 'key_lost'"
        ),
        1
    );

    // Back online: sign in again and the mirror refills; search works on the new key.
    mock.restart().await;
    sign_in(&client, &mock, ZHANG).await;
    client.sync().sync_now().await.unwrap();
    assert_eq!(count(p, "SELECT count(*) FROM transactions"), synced);
    let found = client
        .history()
        .page(
            HistoryFilter {
                query: Some("李娜".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .unwrap();
    assert!(!found.items.is_empty());
    // The conversation comes back from the server, with the line sent before the reset.
    client.chat().open().await.unwrap();
    let lines = client.chat().messages(50).unwrap();
    assert!(
        lines.iter().any(|m| m.text == "reset-1 chat line"),
        "chat history fetched again"
    );
    drop(client);

    // The new key opens the cache from now on: no second reset.
    let other: Arc<dyn KeyStore> = Arc::new(FileKeyStore::open(dir.path().join("keys-2")).unwrap());
    let client =
        WalletClient::with_settings(settings(&mock.base, dir.path(), "device-reset-1"), other)
            .unwrap();
    assert!(!client.key_was_reset());
    assert!(client.session().profile().is_some());
}
