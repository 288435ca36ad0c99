//! Plants known secrets (password, SMS code, card number and CVV, tokens, names, phone, notes,
//! support chat text, a screenshot's bytes and feedback;
//! the cache's data key and the payment-code secret as handed to the key store, and a shown
//! payment code), runs the flows that touch them, then searches the cache file, its WAL and every captured
//! log line for each secret in plain text, hex and base64: there must be no hit.

mod common;

use std::sync::{Arc, Mutex};

use base64::Engine;
use common::*;
use upay_core::WalletClient;
use upay_core::history::HistoryFilter;
use upay_core::keystore::{KeyStore, KeyStoreError};
use upay_core::logging::{LogLevel, set_logger};
use upay_core::payments::{PayeeInput, PaymentOutcome};

fn encodings(secret: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![("plain".to_owned(), secret.to_vec())];
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    out.push(("hex".into(), hex.clone().into_bytes()));
    out.push(("HEX".into(), hex.to_uppercase().into_bytes()));
    // Base64 at every alignment: drop the characters that depend on neighbouring bytes.
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for shift in 0..3 {
            let mut buf = vec![0u8; shift];
            buf.extend_from_slice(secret);
            let enc = engine.encode(&buf);
            let start = (shift * 4).div_ceil(3);
            let end = enc.trim_end_matches('=').len().saturating_sub(2);
            if end > start + 4 {
                out.push((
                    format!("base64+{shift}"),
                    enc.as_bytes()[start..end].to_vec(),
                ));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `needle` as a token of its own (not inside a longer run of letters and digits): how a
/// short secret such as a CVV would appear in a log line, without false hits inside random ids
/// and durations.
fn contains_token(hay: &[u8], needle: &[u8]) -> bool {
    let n = needle.len();
    hay.windows(n).enumerate().any(|(i, w)| {
        w == needle
            && (i == 0 || !hay[i - 1].is_ascii_alphanumeric())
            && hay.get(i + n).is_none_or(|b| !b.is_ascii_alphanumeric())
    })
}

/// The platform key store, recording every key it is given to wrap (the cache's data key and
/// the payment-code secret): the test then searches for those too.
struct RecordingKeyStore {
    inner: Arc<dyn KeyStore>,
    wrapped: Mutex<Vec<Vec<u8>>>,
}

impl KeyStore for RecordingKeyStore {
    fn wrap_data_key(&self, data_key: Vec<u8>) -> Result<Vec<u8>, KeyStoreError> {
        self.wrapped.lock().unwrap().push(data_key.clone());
        self.inner.wrap_data_key(data_key)
    }
    fn unwrap_data_key(&self, wrapped: Vec<u8>) -> Result<Vec<u8>, KeyStoreError> {
        self.inner.unwrap_data_key(wrapped)
    }
    fn signing_public_key(&self) -> Result<Vec<u8>, KeyStoreError> {
        self.inner.signing_public_key()
    }
    fn sign(&self, payload: Vec<u8>, reason: String) -> Result<Vec<u8>, KeyStoreError> {
        self.inner.sign(payload, reason)
    }
    fn delete_signing_key(&self) -> Result<(), KeyStoreError> {
        self.inner.delete_signing_key()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_rests_in_the_cache_wal_or_logs() {
    let logs = Arc::new(CapturedLogs::default());
    set_logger(logs.clone(), LogLevel::Trace);
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(RecordingKeyStore {
        inner: key_store(dir.path()),
        wrapped: Mutex::new(Vec::new()),
    });
    let client = WalletClient::with_settings(
        settings(&mock.base, dir.path(), "device-secrets-1"),
        keys.clone(),
    )
    .unwrap();
    let s = client.session();

    let phone = "19900000123";
    let password = "Sekr3tPassw0rd";
    let new_password = "Geheim9Wort";
    let full_name = "欧阳秘密";
    let holder = "OUYANG MIMI";
    let card_number = "6200000000000005";
    let cvv = "739";
    let note_transfer = "机密备注SECRETNOTE";
    let note_merchant = "wedding gift for Xiaohong";
    let chat_text = "我的支付密码是 PLANTEDCHAT42";
    let screenshot_note = "PLANTEDIMAGE77";
    let feedback_text = "feedback PLANTEDFEEDBACK19 about my account";

    s.send_register_code(phone.into()).await.unwrap();
    s.register(
        phone.into(),
        "246810".into(),
        password.into(),
        full_name.into(),
        "7788".into(),
    )
    .await
    .unwrap();
    let p = client.payments();
    let card = p
        .link_card(card_number.into(), 3, 2031, holder.into(), Some(cvv.into()))
        .await
        .unwrap();
    let mut done = p.top_up(Some(card.id.clone()), cny(300_000)).await.unwrap();
    if let PaymentOutcome::ConfirmationRequired { item, .. } = done {
        done = p.confirm_payment(item.id, "confirm".into()).await.unwrap();
    }
    assert!(matches!(done, PaymentOutcome::Completed { .. }), "{done:?}");
    let mut t = p
        .transfer(
            PayeeInput::Phone { phone: LI.into() },
            Some(cny(1_000)),
            Some(note_transfer.into()),
        )
        .await
        .unwrap();
    if let PaymentOutcome::ConfirmationRequired { item, .. } = t {
        t = p.confirm_payment(item.id, "confirm".into()).await.unwrap();
    }
    assert!(matches!(t, PaymentOutcome::Completed { .. }), "{t:?}");
    let magic = mock
        .control(reqwest::Method::GET, "/__mock/magic", None)
        .await;
    let merchant = magic["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["input"] == "merchant code" && e["effect"].as_str().unwrap().contains("CNY"))
        .map(|e| e["value"].as_str().unwrap().to_owned())
        .unwrap();
    p.pay_merchant(merchant, Some(cny(2_000)), None, Some(note_merchant.into()))
        .await
        .unwrap();
    let q = p
        .fx_quote("CNY".into(), "USD".into(), Some(cny(1_000)), None)
        .await
        .unwrap();
    let _ = p.convert(q.id).await.unwrap();
    p.withdraw(Some(card.id.clone()), cny(500)).await.unwrap();
    // The payment code: its secret goes through the key store; a code is shown; savings move.
    client.paycode().enable().await.unwrap();
    let paycode = client.paycode().current_code().unwrap().code;
    client.paycode().status().await.unwrap();
    client.savings().deposit(cny(10_000)).await.unwrap();
    client.savings().refresh().await.unwrap();
    client.sync().sync_now().await.unwrap();

    // A refresh (after the access token expired) rotates both tokens; keep all of them.
    let mut tokens = Vec::new();
    let auth = client.core().auth().unwrap();
    tokens.push(auth.session.tokens.access_token.clone());
    tokens.push(auth.session.tokens.refresh_token.clone());
    mock.advance_clock(16 * 60).await;
    s.refresh_profile().await.unwrap();
    let auth = client.core().auth().unwrap();
    tokens.push(auth.session.tokens.access_token.clone());
    tokens.push(auth.session.tokens.refresh_token.clone());

    // Read everything back (history, search, insights), then forget and reset the password.
    let page = client
        .history()
        .page(
            HistoryFilter {
                query: Some("机密".into()),
                ..Default::default()
            },
            None,
            20,
        )
        .unwrap();
    assert_eq!(
        page.items.len(),
        1,
        "search finds the note without storing it"
    );
    let page = client
        .history()
        .page(
            HistoryFilter {
                query: Some("wedding".into()),
                ..Default::default()
            },
            None,
            20,
        )
        .unwrap();
    assert_eq!(page.items.len(), 1);
    client
        .insights()
        .add_reminder(
            "房租 rent to 李娜".into(),
            5,
            Some(cny(300_000)),
            "CNY".into(),
        )
        .unwrap();
    client.home_snapshot().unwrap();
    // Support: a chat message and a screenshot, and feedback with one (their answers too).
    let chat = client.chat();
    chat.open().await.unwrap();
    chat.send_text(chat_text.into()).await.unwrap();
    chat.send_screenshots(vec![png_with(screenshot_note.as_bytes())], String::new())
        .await
        .unwrap();
    chat.poll(0).await.unwrap();
    let fb = client.feedback();
    fb.submit(
        upay_core::feedback::FeedbackCategory::Bug,
        feedback_text.into(),
        vec![png_with(screenshot_note.as_bytes())],
    )
    .await
    .unwrap();
    fb.refresh().await.unwrap();
    s.logout().await.unwrap();
    s.send_reset_code(phone.into()).await.unwrap();
    s.reset_password(phone.into(), "246810".into(), new_password.into())
        .await
        .unwrap();
    s.login(phone.into(), new_password.into()).await.unwrap();

    let otp_login = {
        // One more: a real random SMS code for a new-device login of Zhang.
        let other = tempfile::tempdir().unwrap();
        let c2 = open_client(&mock.base, other.path(), "device-secrets-2");
        c2.session()
            .login(ZHANG.into(), PASSWORD.into())
            .await
            .unwrap();
        let code = mock.last_code(ZHANG).await;
        c2.session().submit_login_code(code.clone()).await.unwrap();
        code
    };

    let cache = dir.path().join("cache");
    let mut files = Vec::new();
    for name in ["wallet.db", "wallet.db-wal"] {
        if let Ok(bytes) = std::fs::read(cache.join(name)) {
            files.push((name.to_owned(), bytes));
        }
    }
    assert!(
        files
            .iter()
            .any(|(n, b)| n == "wallet.db-wal" && !b.is_empty()),
        "the WAL is searched too"
    );
    let log_text = logs.0.lock().unwrap().join("\n").into_bytes();
    assert!(!log_text.is_empty(), "the core logged something to search");
    files.push(("logs".into(), log_text));

    // The scan itself works: clear columns are found.
    assert!(files.iter().any(|(_, b)| contains(b, b"transfer_out")));

    let mut secrets: Vec<(&str, String)> = vec![
        ("password", password.into()),
        ("new password", new_password.into()),
        ("card number", card_number.into()),
        ("card number (spaced)", "6200 0000 0000 0005".into()),
        ("cvv", cvv.to_owned()),
        ("holder", holder.into()),
        ("full name", full_name.into()),
        ("payee name", "李娜".into()),
        ("phone", phone.into()),
        ("payee phone", LI.into()),
        ("note", note_transfer.into()),
        ("note", note_merchant.into()),
        ("reminder", "房租 rent".into()),
        ("chat text", "PLANTEDCHAT42".into()),
        ("screenshot bytes", screenshot_note.into()),
        ("feedback text", "PLANTEDFEEDBACK19".into()),
        ("login code", otp_login),
        ("card token", card.id.clone()),
    ];
    for t in tokens {
        secrets.push(("token", t));
    }
    let wrapped = keys.wrapped.lock().unwrap().clone();
    assert_eq!(wrapped.len(), 2, "the data key and the payment-code secret");
    let mut binary: Vec<(&str, Vec<u8>)> = vec![
        ("data key", wrapped[0].clone()),
        ("payment-code secret", wrapped[1].clone()),
    ];
    binary.extend(
        secrets
            .iter()
            .map(|(what, s)| (*what, s.as_bytes().to_vec())),
    );
    binary.push(("payment code", paycode.into_bytes()));
    let mut hits = Vec::new();
    for (what, secret) in &binary {
        // A 3-digit CVV is too short to search without false hits in random bytes (ids, hex,
        // durations): it is looked for in the logs, as a token of its own.
        let short = secret.len() < 6;
        for (enc, needle) in encodings(secret) {
            if short && enc != "plain" {
                continue;
            }
            for (file, bytes) in &files {
                if short && file != "logs" {
                    continue;
                }
                let found = if short {
                    contains_token(bytes, &needle)
                } else {
                    contains(bytes, &needle)
                };
                if found {
                    hits.push(format!("{what} ({enc}) in {file}"));
                }
            }
        }
    }
    assert!(hits.is_empty(), "secrets found: {hits:#?}");
}
