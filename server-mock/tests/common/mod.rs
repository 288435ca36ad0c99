//! Test harness: each test starts its own in-process mock server on a free loopback port (fresh
//! in-memory database with the demo data, cheap password hashing, no rate limit) and talks to it
//! over real HTTP.
#![allow(dead_code)]

pub mod contract;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use server_mock::{Config, RunningServer};
use upay_protocol::api::auth::{LoginResponse, Session};

pub const PASSWORD: &str = "Demo1234";
pub const ZHANG: &str = "13800138000";
pub const ZHANG_ID: &str = "U0000000001";
pub const LI: &str = "13900139000";
pub const LI_ID: &str = "U0000000002";
pub const MAGIC: &str = "19900000001";
pub const MAGIC_ID: &str = "U1990000001";

pub struct TestServer {
    pub server: RunningServer,
    pub client: reqwest::Client,
    pub base: String,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    /// The stable error code of a problem body.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("unexpected body {}: {e}", self.body))
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::with_config(Config::for_tests()).await
    }

    pub async fn with_config(config: Config) -> TestServer {
        install_crypto_provider();
        let server = server_mock::start(config)
            .await
            .expect("mock server starts");
        let base = server.base_url();
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        TestServer {
            server,
            client,
            base,
        }
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
    }

    /// Sends a request and checks the answer against the OpenAPI contract.
    pub async fn send(&self, rb: RequestBuilder) -> Resp {
        let request = rb.build().expect("request builds");
        let (method, path) = (
            request.method().to_string(),
            request.url().path().to_owned(),
        );
        let resp = self.client.execute(request).await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        contract::check(&method, &path, status.as_u16(), &body);
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let mut rb = self.req(Method::GET, path);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        self.send(rb).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        let mut rb = self.req(Method::POST, path).json(&body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        self.send(rb).await
    }

    /// POST with an `Idempotency-Key`.
    pub async fn post_idem(&self, path: &str, token: &str, key: &str, body: Value) -> Resp {
        self.send(
            self.req(Method::POST, path)
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&body),
        )
        .await
    }

    /// The newest SMS code sent to `phone`.
    pub async fn last_code(&self, phone: &str) -> String {
        let r = self.get(&format!("/__mock/sms?phone={phone}"), None).await;
        let msgs = r.body["messages"].as_array().expect("sms list").clone();
        msgs.iter()
            .rev()
            .find(|m| !m["code"].as_str().unwrap_or("").is_empty())
            .expect("an SMS code")["code"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Signs in on `device_id`, answering the SMS step if asked. Returns the access token.
    pub async fn login_on(&self, phone: &str, device_id: &str) -> Session {
        let r = self
            .post(
                "/v1/auth/login",
                None,
                login_body(phone, PASSWORD, device_id),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "login: {}", r.body);
        match r.json::<LoginResponse>() {
            LoginResponse::SignedIn(s) => s,
            LoginResponse::OtpRequired(c) => {
                let code = self.last_code(phone).await;
                let r = self
                    .post(
                        "/v1/auth/login/otp",
                        None,
                        json!({"login_ticket": c.login_ticket, "code": code}),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::OK, "otp: {}", r.body);
                r.json()
            }
        }
    }

    pub async fn login(&self, phone: &str) -> String {
        self.login_on(phone, "test-device-1")
            .await
            .tokens
            .access_token
    }

    /// Asserts the ledger conserves money (control API audit).
    pub async fn assert_audit(&self) {
        let r = self.get("/__mock/audit", None).await;
        assert_eq!(r.status, StatusCode::OK, "audit: {}", r.body);
        assert_eq!(
            r.body["balanced"],
            json!(true),
            "ledger audit failed: {}",
            r.body
        );
    }
}

pub fn login_body(phone: &str, password: &str, device_id: &str) -> Value {
    json!({"phone": phone, "password": password, "device": {"device_id": device_id, "name": "Test Phone", "platform": "android"}})
}

/// reqwest is built without a bundled crypto provider (ring is the project's one).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
