//! Test harness: each test starts its own in-process mock (fresh database with the demo data)
//! on a loopback port and drives the core through its public API over real HTTP.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use server_mock::{Config, RunningServer};
use upay_core::WalletClient;
use upay_core::config::{ClientConfig, Settings};
use upay_core::keystore::{FileKeyStore, KeyStore};
use upay_core::model::Amount;
use upay_core::session::LoginResult;

pub const PASSWORD: &str = "Demo1234";
pub const ZHANG: &str = "13800138000";
pub const ZHANG_ID: &str = "U0000000001";
pub const LI: &str = "13900139000";
pub const LI_ID: &str = "U0000000002";

pub fn cny(minor: i64) -> Amount {
    Amount {
        minor,
        currency: "CNY".into(),
    }
}

pub struct Mock {
    pub server: Option<RunningServer>,
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    db: Option<PathBuf>,
}

impl Mock {
    pub async fn start() -> Mock {
        Mock::start_with(None, None).await
    }

    /// A mock whose default sandbox lives in `db` (so it survives a restart) on `addr`.
    pub async fn start_with(db: Option<PathBuf>, addr: Option<SocketAddr>) -> Mock {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = Config::for_tests();
        config.db = db.clone();
        if let Some(a) = addr {
            config.listen = a;
        }
        let server = server_mock::start(config).await.expect("mock starts");
        let addr = server.addr;
        Mock {
            base: server.base_url(),
            server: Some(server),
            addr,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            db,
        }
    }

    /// A handle on a mock started by the caller (e.g. with TLS); `http` must trust it.
    pub fn over(server: RunningServer, http: reqwest::Client) -> Mock {
        Mock {
            base: server.base_url(),
            addr: server.addr,
            server: Some(server),
            http,
            db: None,
        }
    }

    /// Takes the server down (the network is gone for clients).
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }

    /// Brings the server back on the same address with the same database.
    pub async fn restart(&mut self) {
        self.stop().await;
        let again = Mock::start_with(self.db.clone(), Some(self.addr)).await;
        self.server = again.server;
    }

    pub async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.expect("control call");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn advance_clock(&self, seconds: i64) {
        self.control(
            reqwest::Method::POST,
            "/__mock/clock/advance",
            Some(json!({ "seconds": seconds })),
        )
        .await;
    }

    pub async fn fault(&self, route: Option<&str>, fault: Value, times: Option<u32>) {
        let mut rule = json!({ "fault": fault });
        if let Some(r) = route {
            rule["route"] = json!(r);
        }
        if let Some(t) = times {
            rule["times"] = json!(t);
        }
        self.control(reqwest::Method::POST, "/__mock/faults", Some(rule))
            .await;
    }

    pub async fn clear_faults(&self) {
        self.control(reqwest::Method::DELETE, "/__mock/faults", None)
            .await;
    }

    pub async fn last_code(&self, phone: &str) -> String {
        let e164 = upay_protocol::api::auth::normalize_phone(phone).unwrap();
        let v = self
            .control(
                reqwest::Method::GET,
                &format!("/__mock/sms?phone={}", e164.replace('+', "%2B")),
                None,
            )
            .await;
        v["messages"]
            .as_array()
            .expect("sms list")
            .iter()
            .rev()
            .find_map(|m| {
                m["code"]
                    .as_str()
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
            })
            .expect("an SMS code")
    }

    pub async fn assert_audit(&self) {
        let v = self
            .control(reqwest::Method::GET, "/__mock/audit", None)
            .await;
        assert_eq!(v["balanced"], json!(true), "ledger audit: {v}");
    }

    /// `GET path` as the given token's user, the answer's JSON.
    pub async fn get_as(&self, token: &str, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET path` as Zhang, signed in on a second device of his.
    pub async fn zhang_get(&self, path: &str) -> Value {
        let token = self.raw_login(ZHANG, "zhang-checker").await;
        self.get_as(&token, path).await
    }

    /// Every transaction the server has for a user, via a fresh login of a second device.
    pub async fn server_transactions(&self, phone: &str, device: &str) -> Vec<Value> {
        let token = self.raw_login(phone, device).await;
        let v = self.get_as(&token, "/v1/transactions?limit=100").await;
        v["items"].as_array().cloned().unwrap_or_default()
    }

    /// Every message of a support conversation as the server stores it, in `seq` order, via a
    /// fresh login of a second device of Zhang's.
    pub async fn chat_messages(&self, conv: &str) -> Vec<Value> {
        let token = self.raw_login(ZHANG, "chat-checker").await;
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let v = self
                .get_as(
                    &token,
                    &format!(
                        "/v1/support/conversations/{conv}/messages?after_seq={after}&limit=200"
                    ),
                )
                .await;
            let page = v["messages"].as_array().cloned().unwrap_or_default();
            let Some(last) = page.last() else { break };
            after = last["seq"].as_u64().unwrap();
            all.extend(page);
            if v["has_more"] != json!(true) {
                break;
            }
        }
        all
    }

    /// Registers a test account on a magic number (SMS code 246810); returns its id.
    pub async fn register_magic(&self, phone: &str) -> String {
        self.http
            .post(format!("{}/v1/auth/otp", self.base))
            .json(&json!({"phone": phone, "purpose": "register"}))
            .send()
            .await
            .unwrap();
        let body = json!({"phone": phone, "code": "246810", "password": "Payee1234", "full_name": "赵六",
            "id_last4": "0000", "device": {"device_id": "payee-device", "name": "Payee", "platform": "other"}});
        let v: Value = self
            .http
            .post(format!("{}/v1/auth/register", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["user"]["user_id"]
            .as_str()
            .expect("registered")
            .to_owned()
    }

    pub async fn raw_login(&self, phone: &str, device: &str) -> String {
        let body = json!({"phone": phone, "password": PASSWORD,
            "device": {"device_id": device, "name": "Checker", "platform": "other"}});
        let v: Value = self
            .http
            .post(format!("{}/v1/auth/login", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["status"] == "signed_in" {
            return v["tokens"]["access_token"].as_str().unwrap().to_owned();
        }
        let code = self.last_code(phone).await;
        let v: Value = self
            .http
            .post(format!("{}/v1/auth/login/otp", self.base))
            .json(&json!({"login_ticket": v["login_ticket"], "code": code}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["tokens"]["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }
}

pub fn settings(base: &str, dir: &Path, device_id: &str) -> Settings {
    let mut config = ClientConfig::new(base, dir.join("cache").to_str().unwrap(), device_id);
    config.developer_mode = true;
    config.locale = "en".into();
    config.device_name = "Test Phone".into();
    let mut s = Settings::from_config(&config).expect("valid config");
    // Keep failing tests quick: short retries inside one call.
    s.retry.attempts = 2;
    s.retry.base_delay = Duration::from_millis(20);
    s.retry.max_delay = Duration::from_millis(100);
    s.retry.request_timeout = Duration::from_secs(5);
    s.retry.connect_timeout = Duration::from_secs(2);
    s
}

pub fn key_store(dir: &Path) -> Arc<dyn KeyStore> {
    Arc::new(FileKeyStore::open(dir.join("keys")).expect("key store"))
}

pub fn open_client(base: &str, dir: &Path, device_id: &str) -> Arc<WalletClient> {
    WalletClient::with_settings(settings(base, dir, device_id), key_store(dir))
        .expect("client opens")
}

/// Signs in, answering the SMS step from the mock's outbox.
pub async fn sign_in(client: &WalletClient, mock: &Mock, phone: &str) {
    match client
        .session()
        .login(phone.into(), PASSWORD.into())
        .await
        .expect("login")
    {
        LoginResult::SignedIn { .. } => {}
        LoginResult::CodeRequired { .. } => {
            let code = mock.last_code(phone).await;
            client
                .session()
                .submit_login_code(code)
                .await
                .expect("login code");
        }
    }
}

/// Waits until `check` holds (the background worker acts on its own schedule).
pub async fn eventually<F: FnMut() -> bool>(what: &str, timeout: Duration, mut check: F) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Collects the core's log records.
#[derive(Default)]
pub struct CapturedLogs(pub Mutex<Vec<String>>);

impl upay_core::logging::Logger for CapturedLogs {
    fn log(&self, record: upay_core::logging::LogRecord) {
        self.0.lock().unwrap().push(format!(
            "{:?} {} {}",
            record.level, record.target, record.message
        ));
    }
}

/// A base URL on a loopback port nothing listens on: every request fails as not sent, like a
/// phone without network.
pub fn closed_port_base() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A structurally valid PNG (1×1) carrying `note` in a `tEXt` chunk, so a test can search the
/// cache for the image's bytes.
pub fn png_with(note: &[u8]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut d = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = 1u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&1u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut d, b"IHDR", &ihdr);
    let mut text = b"Comment\0".to_vec();
    text.extend_from_slice(note);
    chunk(&mut d, b"tEXt", &text);
    chunk(
        &mut d,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    chunk(&mut d, b"IEND", &[]);
    d
}

/// Whether `needle` occurs in the cache database or its WAL under `dir`.
pub fn cache_contains(dir: &Path, needle: &[u8]) -> bool {
    let cache = dir.join("cache");
    std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(|e| std::fs::read(e.unwrap().path()).ok())
        .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
}

/// The CNY balance the home screen shows (server balance net of unconfirmed payments).
pub fn cny_displayed(client: &WalletClient) -> i64 {
    client
        .home_snapshot()
        .unwrap()
        .balances
        .iter()
        .find(|b| b.currency == "CNY")
        .expect("a CNY balance")
        .displayed
        .minor
}

/// Closes `client` (every handle to it must be gone) and opens its cache again against `base`:
/// the same phone after a restart, e.g. with the network gone (`closed_port_base()`).
pub fn reopen(
    client: Arc<WalletClient>,
    base: &str,
    dir: &Path,
    device: &str,
) -> Arc<WalletClient> {
    drop(client);
    open_client(base, dir, device)
}

/// The state of outbox item `id`.
pub fn outbox_state(client: &WalletClient, id: &str) -> upay_core::model::OutboxState {
    client
        .payments()
        .outbox(100)
        .unwrap()
        .into_iter()
        .find(|i| i.id == id)
        .expect("the outbox item")
        .state
}

impl Mock {
    /// The mock's clock (epoch ms).
    pub async fn now(&self) -> i64 {
        self.control(reqwest::Method::GET, "/__mock/clock", None)
            .await["now"]
            .as_i64()
            .unwrap()
    }

    /// Moves the mock clock to just after the next 12:00 China time: the start of a minute,
    /// far from midnight (daily limits and interest turn over then) and from the risk engine's
    /// odd hours. Sign in afterwards if tokens must be fresh.
    pub async fn to_china_noon(&self) {
        const DAY_MS: i64 = 86_400_000;
        const CHINA_OFFSET_MS: i64 = 8 * 3_600_000;
        let t = self.now().await;
        let day = (t + CHINA_OFFSET_MS).div_euclid(DAY_MS);
        let mut noon = day * DAY_MS - CHINA_OFFSET_MS + 12 * 3_600_000;
        if noon <= t {
            noon += DAY_MS;
        }
        self.advance_clock((noon - t) / 1000 + 1).await;
    }
}

/// A number from the environment (decimal or `0x` hex), for seeds and sizes of the long suites.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        }
        Err(_) => default,
    }
}
