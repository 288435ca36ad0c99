//! Offline help-center search latency: the bundles (zh-CN and en) are synced once from an
//! in-process mock, the mock is stopped, and then every figure is measured with no network
//! through the exported `HelpApi`: a finished question (the support bot's test questions,
//! cycled), a suggestion for a question still being typed, and what the first search after a
//! start adds (decoding the cached bundle and building its index).
//!
//! Run: `cargo bench -p upay-core --bench help`

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use upay_core::WalletClient;
use upay_core::config::{ClientConfig, Settings};
use upay_core::keystore::{FileKeyStore, KeyStore};

/// Questions users ask, in both languages (a sample of the support bot's test table).
const QUESTIONS: &[(&str, &str)] = &[
    ("zh-CN", "支付失败了怎么办？"),
    ("zh-CN", "忘记密码了怎么找回"),
    ("zh-CN", "提现多久到账"),
    ("zh-CN", "U钱包支持哪些国家和地区"),
    ("zh-CN", "发现一笔不是我本人操作的交易"),
    ("zh-CN", "怎么设置账单支付提醒"),
    ("en", "Why did my payment fail?"),
    ("en", "How long does a withdrawal take to arrive?"),
    ("en", "What fee do you charge for currency exchange?"),
    ("en", "I'm not receiving the verification code"),
    ("en", "My top-up failed but the card was charged"),
    ("en", "How do I export my chat history?"),
];

const TYPING: &[(&str, &str)] = &[
    ("zh-CN", "提现多"),
    ("zh-CN", "忘记密"),
    ("en", "how do I withd"),
    ("en", "my top-up fai"),
];

fn open(base: &str, dir: &Path) -> Arc<WalletClient> {
    let mut config = ClientConfig::new(
        base,
        dir.join("cache").to_str().unwrap(),
        "help-bench-device",
    );
    config.developer_mode = true;
    config.locale = "en".into();
    let mut settings = Settings::from_config(&config).expect("settings");
    settings.retry.attempts = 1;
    let keys: Arc<dyn KeyStore> = Arc::new(FileKeyStore::open(dir.join("keys")).expect("keys"));
    WalletClient::with_settings(settings, keys).expect("client")
}

fn closed_port_base() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://127.0.0.1:{}", l.local_addr().expect("addr").port())
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server = server_mock::start(server_mock::Config::for_tests())
            .await
            .expect("mock");
        let client = open(&server.base_url(), dir.path());
        for locale in ["zh-CN", "en"] {
            client
                .help()
                .sync_bundle(Some(locale.into()))
                .await
                .expect("sync");
        }
        server.stop().await;
    });
    // Nothing listens on this port: any network use would fail the searches below.
    let client = open(&closed_port_base(), dir.path());
    let help = client.help();

    let mut g = c.benchmark_group("help_offline");
    g.measurement_time(Duration::from_secs(5));
    let mut i = 0;
    g.bench_function("search", |b| {
        b.iter(|| {
            let (locale, q) = QUESTIONS[i % QUESTIONS.len()];
            i += 1;
            let hits = help
                .search(q.into(), 5, Some(locale.into()))
                .expect("search");
            assert!(!hits.is_empty());
            hits
        })
    });
    let mut j = 0;
    g.bench_function("suggest", |b| {
        b.iter(|| {
            let (locale, q) = TYPING[j % TYPING.len()];
            j += 1;
            let s = help
                .suggest(q.into(), 5, Some(locale.into()))
                .expect("suggest");
            assert!(!s.is_empty());
            s
        })
    });
    // What the first search after a start adds: decoding the cached bundle and indexing it.
    let body: Vec<u8> = rusqlite::Connection::open(dir.path().join("cache").join("wallet.db"))
        .expect("db")
        .query_row(
            "SELECT body FROM help_bundles WHERE locale = 'zh-CN'",
            [],
            |r| r.get(0),
        )
        .expect("cached bundle");
    g.bench_function("load_and_index_zh_bundle", |b| {
        b.iter(|| {
            let bundle: upay_protocol::api::help::HelpBundle =
                serde_json::from_slice(&body).expect("bundle");
            upay_core::help::LoadedBundle::new(bundle, 0, 0)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
