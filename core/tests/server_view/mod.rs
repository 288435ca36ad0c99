//! What the chaos and crash suites compare: the server's truth (every transaction of a user,
//! paged; balances) next to a client's full outbox and cached history.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use upay_core::WalletClient;
use upay_core::history::HistoryFilter;
use upay_core::model::OutboxItem;

use crate::common::{Mock, PASSWORD};

/// Creates a user with `cny_minor` CNY (credited from outside); returns its account id.
pub async fn seed_user(mock: &Mock, phone: &str, name: &str, cny_minor: i64) -> String {
    let v = mock
        .control(
            reqwest::Method::POST,
            "/__mock/seed",
            Some(json!({
                "user": {"phone": phone, "password": PASSWORD, "full_name": name},
                "balances": [{"minor": cny_minor, "currency": "CNY"}],
            })),
        )
        .await;
    v["user_id"].as_str().expect("seeded user").to_owned()
}

async fn get(mock: &Mock, token: &str, path: &str) -> Value {
    let resp = mock
        .http
        .get(format!("{}{}", mock.base, path))
        .bearer_auth(token)
        .send()
        .await
        .expect("server view request");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).expect("JSON")
}

/// Every transaction of the token's user, newest first (all pages of `GET /v1/transactions`).
pub async fn all_transactions(mock: &Mock, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/v1/transactions?limit=100".to_owned();
        if let Some(c) = &cursor {
            path.push_str("&cursor=");
            path.push_str(c);
        }
        let page = get(mock, token, &path).await;
        out.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// The user's CNY balance on the server: (available, pending_out, pending_in).
pub async fn cny_balance(mock: &Mock, token: &str) -> (i64, i64, i64) {
    let v = get(mock, token, "/v1/balances").await;
    let b = v["balances"]
        .as_array()
        .expect("balances")
        .iter()
        .find(|b| b["currency"] == "CNY")
        .cloned()
        .expect("a CNY balance");
    (
        b["available"]["minor"].as_i64().unwrap(),
        b["pending_out"]["minor"].as_i64().unwrap(),
        b["pending_in"]["minor"].as_i64().unwrap(),
    )
}

/// A token for reading `phone`'s data, from a device of the checker's own.
pub async fn checker_token(mock: &Mock, phone: &str, device: &str) -> String {
    mock.raw_login(phone, device).await
}

/// The whole outbox of the signed-in user (the public call stops at 100), oldest first.
pub fn full_outbox(client: &WalletClient) -> Vec<OutboxItem> {
    let core = client.core();
    let auth = core.auth().expect("signed in");
    let rows = core
        .store
        .read(|c| {
            Ok(upay_core::store::outbox::list(
                c,
                auth.user_tag,
                false,
                u32::MAX,
            )?)
        })
        .expect("outbox rows");
    let mut items: Vec<OutboxItem> = rows
        .iter()
        .map(|r| {
            upay_core::payments::item_view(core, &auth.session.user.user_id, r)
                .unwrap_or_else(|| panic!("outbox row {} unreadable", r.id))
        })
        .collect();
    items.reverse();
    items
}

/// The cached history as id → (status, signed amount), every page.
pub fn cached_history(client: &WalletClient) -> BTreeMap<String, (String, i64)> {
    let h = client.history();
    let mut out = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = h
            .page(HistoryFilter::default(), cursor, 100)
            .expect("history page");
        for t in page.items {
            let status = upay_protocol::api::money::TransactionStatus::from(t.status);
            let dup = out.insert(t.id.clone(), (status.as_str().to_owned(), t.amount.minor));
            assert!(dup.is_none(), "transaction {} cached twice", t.id);
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            return out;
        }
    }
}

/// The server's history in the same shape as [`cached_history`].
pub fn server_history(txs: &[Value]) -> BTreeMap<String, (String, i64)> {
    txs.iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                (
                    t["status"].as_str().unwrap().to_owned(),
                    t["amount"]["minor"].as_i64().unwrap(),
                ),
            )
        })
        .collect()
}
