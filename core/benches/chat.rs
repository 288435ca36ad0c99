//! Chat send-to-echo latency: `ChatApi::send_text` online, from the call until the local echo
//! comes back replaced by the server's copy (queue insert, sealed at rest, idempotent PUT over
//! loopback HTTP to the in-process mock, the bot's answer in the same transaction, both stored
//! and read back). The conversation is handed to an agent first so the bot's retrieval does
//! not dominate the figure.
//!
//! Run: `cargo bench -p upay-core --bench chat`

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use upay_core::WalletClient;
use upay_core::config::{ClientConfig, Settings};
use upay_core::keystore::{FileKeyStore, KeyStore};
use upay_core::session::LoginResult;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (server, client) = rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server = server_mock::start(server_mock::Config::for_tests())
            .await
            .expect("mock");
        let mut config = ClientConfig::new(
            &server.base_url(),
            dir.path().join("cache").to_str().unwrap(),
            "chat-bench-device",
        );
        config.developer_mode = true;
        config.locale = "en".into();
        let settings = Settings::from_config(&config).expect("settings");
        let keys: Arc<dyn KeyStore> =
            Arc::new(FileKeyStore::open(dir.path().join("keys")).expect("keys"));
        let client = WalletClient::with_settings(settings, keys).expect("client");
        match client
            .session()
            .login("13800138000".into(), "Demo1234".into())
            .await
            .expect("login")
        {
            LoginResult::SignedIn { .. } => {}
            LoginResult::CodeRequired { .. } => {
                // A new device: read the SMS code from the mock's outbox.
                let sms: serde_json::Value = reqwest::Client::builder()
                    .no_proxy()
                    .build()
                    .expect("http")
                    .get(format!(
                        "{}/__mock/sms?phone=%2B8613800138000",
                        server.base_url()
                    ))
                    .send()
                    .await
                    .expect("sms")
                    .json()
                    .await
                    .expect("sms json");
                let code = sms["messages"]
                    .as_array()
                    .and_then(|m| m.iter().rev().find_map(|m| m["code"].as_str()))
                    .expect("a code")
                    .to_owned();
                client
                    .session()
                    .submit_login_code(code)
                    .await
                    .expect("code");
            }
        }
        client.chat().open().await.expect("open");
        client
            .chat()
            .send_text("agent please".into())
            .await
            .expect("handoff");
        (server, client)
    });
    let chat = client.chat();
    let mut g = c.benchmark_group("chat");
    g.measurement_time(Duration::from_secs(5));
    let mut i = 0u64;
    g.bench_function("send_to_echo", |b| {
        b.iter(|| {
            i += 1;
            let echo = rt
                .block_on(chat.send_text(format!("bench message {i}")))
                .expect("send");
            assert!(echo.seq.is_some(), "{echo:?}");
            echo
        })
    });
    g.finish();
    rt.block_on(server.stop());
}

criterion_group!(benches, bench);
criterion_main!(benches);
