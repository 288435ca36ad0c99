//! Sync end to end (QUALITY.md): 100,000 transactions from the mock over loopback into an empty
//! encrypted cache, through the real client (`sync_now`: HTTP pages, decode, encrypt, commit,
//! index). The mock runs in a child process (this binary again, serving only the mock), so the
//! peak RSS (`VmHWM`) printed is the client's alone; the mock's is printed beside it. The
//! history is seeded through the mock's control API (`POST /__mock/seed`). Prints transactions
//! per second (median of the runs).
//!
//! Run: `cargo bench -p upay-core --bench sync_e2e` (`SYNC_E2E_RUNS=n` to change the runs).

use std::io::{BufRead, Read};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use upay_core::WalletClient;
use upay_core::config::{ClientConfig, Settings};
use upay_core::core::StoredSession;
use upay_core::keystore::{FileKeyStore, KeyStore};

const TOTAL: u32 = 100_000;
const PHONE: &str = "13700137000";
const PASSWORD: &str = "Bench1234";

/// Set in the child process that serves the mock.
const MOCK_ROLE: &str = "UPAY_SYNC_E2E_MOCK";

/// The peak RSS of a process (`self` or a pid), in kB.
fn vm_hwm_kb_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn vm_hwm_kb() -> u64 {
    vm_hwm_kb_of("self")
}

/// The child: serves the mock on a free loopback port, prints its base URL, and stops when its
/// standard input closes (the parent finished or died).
fn serve_mock() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = server_mock::start(server_mock::Config::for_tests())
            .await
            .expect("mock starts");
        println!("{}", server.base_url());
        tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        })
        .await
        .unwrap();
        server.stop().await;
    });
}

/// Starts the mock in a child process; returns it and its base URL.
fn spawn_mock() -> (std::process::Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(MOCK_ROLE, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("mock process starts");
    let mut base = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut base)
        .unwrap();
    (child, base.trim().to_owned())
}

async fn control(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut rb = http.request(method, format!("{base}{path}"));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.expect("control call");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A client with a fresh cache and a session obtained over plain HTTP and stored directly: a
/// sign-in through the client would wake its background worker, whose own sync would race the
/// timed one.
async fn signed_in_client(
    base: &str,
    http: &reqwest::Client,
    dir: &std::path::Path,
) -> Arc<WalletClient> {
    let device = "bench-sync-device";
    let mut config = ClientConfig::new(base, dir.join("cache").to_str().unwrap(), device);
    config.developer_mode = true;
    config.app_lock_after_secs = 0;
    let settings = Settings::from_config(&config).unwrap();
    let ks: Arc<dyn KeyStore> = Arc::new(FileKeyStore::open(dir.join("keys")).unwrap());
    let client = WalletClient::with_settings(settings, ks).unwrap();
    let body = json!({"phone": PHONE, "password": PASSWORD,
        "device": {"device_id": device, "name": "Bench", "platform": "other"}});
    let mut v = control(
        http,
        base,
        reqwest::Method::POST,
        "/v1/auth/login",
        Some(body),
    )
    .await;
    if v["status"] != "signed_in" {
        let sms = control(
            http,
            base,
            reqwest::Method::GET,
            "/__mock/sms?phone=%2B8613700137000",
            None,
        )
        .await;
        let code = sms["messages"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find_map(|m| {
                m["code"]
                    .as_str()
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
            })
            .expect("an SMS code");
        let body = json!({"login_ticket": v["login_ticket"], "code": code});
        v = control(
            http,
            base,
            reqwest::Method::POST,
            "/v1/auth/login/otp",
            Some(body),
        )
        .await;
    }
    client
        .core()
        .set_session(StoredSession {
            tokens: serde_json::from_value(v["tokens"].clone()).expect("tokens"),
            user: serde_json::from_value(v["user"].clone()).expect("user"),
            signing_key_registered: false,
        })
        .unwrap();
    client
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if std::env::var_os(MOCK_ROLE).is_some() {
        return serve_mock();
    }
    let (mut mock, base) = spawn_mock();
    let mock_pid = mock.id().to_string();
    let runs: usize = std::env::var("SYNC_E2E_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let t = Instant::now();
        let seeded = control(
            &http,
            &base,
            reqwest::Method::POST,
            "/__mock/seed",
            Some(json!({
                "user": {"phone": PHONE, "password": PASSWORD, "full_name": "压测用户"},
                "balances": [{"minor": 100_000_000, "currency": "CNY"}],
                "transactions": TOTAL,
            })),
        )
        .await;
        eprintln!("seeded {} transactions in {:?}", seeded["transactions_created"], t.elapsed());

        // The transport alone (the mock building pages, HTTP, reading the body, finding the
        // cursor): the ceiling of what the client can reach with this page size.
        {
            #[derive(serde::Deserialize)]
            struct Cursor {
                next_cursor: String,
                has_more: bool,
            }
            let dir = tempfile::tempdir().unwrap();
            let client = signed_in_client(&base, &http, dir.path()).await;
            let token = client.core().auth().unwrap().session.tokens.access_token;
            let (start, mut cursor, mut pages, mut bytes) = (Instant::now(), None::<String>, 0, 0);
            loop {
                let mut url = format!("{base}/v1/sync?limit=1000");
                if let Some(c) = &cursor {
                    url.push_str(&format!("&cursor={c}"));
                }
                let body = http.get(url).bearer_auth(&token).send().await.unwrap().bytes().await.unwrap();
                let c: Cursor = serde_json::from_slice(&body).unwrap();
                pages += 1;
                bytes += body.len();
                if !c.has_more {
                    break;
                }
                cursor = Some(c.next_cursor);
            }
            let took = start.elapsed();
            eprintln!(
                "transport only: {pages} pages, {} MB in {took:?} = {:.0} tx/s ceiling ({:?} per page)",
                bytes / 1_000_000,
                f64::from(TOTAL) / took.as_secs_f64(),
                took / pages
            );
        }

        let mut rates = Vec::new();
        for run in 0..runs {
            let dir = tempfile::tempdir().unwrap();
            let client = signed_in_client(&base, &http, dir.path()).await;
            let before = vm_hwm_kb();
            let start = Instant::now();
            let report = client.sync().sync_now().await.unwrap();
            let took = start.elapsed();
            let after = vm_hwm_kb();
            assert!(report.transactions >= u64::from(TOTAL), "{report:?}");
            let rate = report.transactions as f64 / took.as_secs_f64();
            eprintln!(
                "run {run}: {} transactions in {} pages, {took:?} = {rate:.0} tx/s; client peak RSS {} kB, +{} kB during the sync",
                report.transactions,
                report.pages,
                after,
                after.saturating_sub(before)
            );
            rates.push(rate);
            drop(client);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        rates.sort_by(|a, b| a.total_cmp(b));
        println!(
            "sync_e2e_100k: median {:.0} tx/s over {runs} runs (target >= 100000); client peak RSS {} kB (target <= 65536); mock process {} kB",
            rates[rates.len() / 2],
            vm_hwm_kb(),
            vm_hwm_kb_of(&mock_pid)
        );
    });
    drop(mock.stdin.take());
    mock.wait().unwrap();
}
