//! Helpers shared by the money test suites: balances, money requests with scenarios, a device
//! signing key (ring, P-256) and payment confirmation.
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::common::{Resp, TestServer};

/// Available minor units of `currency` (0 when the wallet has none).
pub async fn available(s: &TestServer, token: &str, currency: &str) -> i64 {
    let r = s.get("/v1/balances", Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "balances: {}", r.body);
    r.body["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["currency"] == currency)
        .map_or(0, |b| b["available"]["minor"].as_i64().unwrap())
}

/// Every balance as (currency, available, pending_out, version).
pub async fn balances(s: &TestServer, token: &str) -> Vec<(String, i64, i64, i64)> {
    let r = s.get("/v1/balances", Some(token)).await;
    r.body["balances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["currency"].as_str().unwrap().to_owned(),
                b["available"]["minor"].as_i64().unwrap(),
                b["pending_out"]["minor"].as_i64().unwrap(),
                b["version"].as_i64().unwrap(),
            )
        })
        .collect()
}

pub fn money(minor: i64, currency: &str) -> Value {
    json!({"minor": minor, "currency": currency})
}

/// A money `POST` with an idempotency key and an optional `X-Mock-Scenario`.
pub async fn post_money(
    s: &TestServer,
    path: &str,
    token: &str,
    key: &str,
    scenario: Option<&str>,
    body: Value,
) -> Resp {
    let mut rb = s
        .req(Method::POST, path)
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&body);
    if let Some(sc) = scenario {
        rb = rb.header("X-Mock-Scenario", sc);
    }
    s.send(rb).await
}

/// A transfer by account id, risk forced to allow (so only the rule under test decides).
pub async fn transfer(s: &TestServer, token: &str, key: &str, to: &str, minor: i64) -> Resp {
    post_money(
        s,
        "/v1/transfers",
        token,
        key,
        Some("risk=allow"),
        json!({"to": {"account_id": to}, "amount": money(minor, "CNY")}),
    )
    .await
}

pub async fn control(s: &TestServer, path: &str, body: Value) -> Resp {
    s.post(path, None, body).await
}

/// Moves the mock clock forward.
pub async fn advance(s: &TestServer, seconds: i64) {
    let r = control(s, "/__mock/clock/advance", json!({ "seconds": seconds })).await;
    assert_eq!(r.status, StatusCode::OK, "advance: {}", r.body);
}

/// A new user with balances (and generated history), signed in on `test-device-1`.
pub async fn seeded_user(
    s: &TestServer,
    phone: &str,
    balances: Value,
    transactions: u32,
) -> (String, String) {
    let r = control(
        s,
        "/__mock/seed",
        json!({"user": {"phone": phone, "password": crate::common::PASSWORD, "full_name": "王小明"},
               "balances": balances, "transactions": transactions}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "seed: {}", r.body);
    let user_id = r.body["user_id"].as_str().unwrap().to_owned();
    (user_id, s.login(phone).await)
}

/// A device's payment-confirmation key, as the phone's keystore would hold it.
pub struct DeviceKey {
    pair: EcdsaKeyPair,
}

impl DeviceKey {
    pub fn generate() -> DeviceKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        DeviceKey { pair }
    }

    pub fn public_b64(&self) -> String {
        STANDARD.encode(self.pair.public_key().as_ref())
    }

    pub fn sign(&self, payload: &[u8]) -> String {
        let sig = self.pair.sign(&SystemRandom::new(), payload).unwrap();
        STANDARD.encode(sig.as_ref())
    }

    /// Registers this key for the signed-in device.
    pub async fn enroll(&self, s: &TestServer, token: &str) {
        let r = s
            .send(
                s.req(Method::PUT, "/v1/devices/current/signing-key")
                    .bearer_auth(token)
                    .json(&json!({"public_key": self.public_b64()})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "enroll: {}", r.body);
    }

    /// Asks for a challenge for what `requirement` (an `sca_required` problem's `data`) names
    /// and signs it: the `sca` member of the retried request.
    pub async fn confirm(&self, s: &TestServer, token: &str, requirement: &Value) -> Value {
        let body = json!({
            "operation": requirement["operation"],
            "operation_id": requirement["operation_id"],
            "amount": requirement["amount"],
            "payee": requirement["payee"],
        });
        let r = s.post("/v1/sca/challenges", Some(token), body).await;
        assert_eq!(r.status, StatusCode::CREATED, "challenge: {}", r.body);
        let payload = hex(r.body["payload_hex"].as_str().unwrap());
        json!({"challenge_id": r.body["challenge_id"], "signature": self.sign(&payload)})
    }
}

pub fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Transactions of the signed-in user, newest first (one page of up to 100).
pub async fn history(s: &TestServer, token: &str, query: &str) -> Vec<Value> {
    let r = s
        .get(&format!("/v1/transactions?limit=100{query}"), Some(token))
        .await;
    assert_eq!(r.status, StatusCode::OK, "history: {}", r.body);
    r.body["items"].as_array().unwrap().clone()
}
