//! Authorization, systematically: every endpoint that takes the id of something a user owns —
//! in the path or in the body — is called by another user with the owner's real id. The answer
//! must be "not found" (never the thing itself, never "forbidden", which would confirm it
//! exists), and the owner's things must be unchanged afterwards.
//!
//! The test also reads the OpenAPI document: every `/v1` path with a parameter must be covered
//! here or in `support_access.rs` (support conversations, tickets, attachments, feedback), or be
//! listed as not user-owned. A new endpoint with an id fails this test until it is covered.

mod common;
mod money_kit;

use std::collections::BTreeSet;

use common::{LI, LI_ID, TestServer, ZHANG, ZHANG_ID};
use money_kit::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Path templates whose owner checks live in `support_access.rs`.
const COVERED_IN_SUPPORT_ACCESS: &[&str] = &[
    "/v1/feedback/{feedback_id}",
    "/v1/support/attachments/{id}",
    "/v1/support/attachments/{id}/meta",
    "/v1/support/conversations/{id}",
    "/v1/support/conversations/{id}/close",
    "/v1/support/conversations/{id}/events",
    "/v1/support/conversations/{id}/messages",
    "/v1/support/conversations/{id}/messages/{client_msg_id}",
    "/v1/support/conversations/{id}/receipts",
    "/v1/support/conversations/{id}/socket",
    "/v1/support/conversations/{id}/transcript",
    "/v1/support/conversations/{id}/transcript/text",
    "/v1/support/conversations/{id}/typing",
    "/v1/support/tickets/{id}",
    "/v1/support/tickets/{id}/comments",
];

/// Path parameters that name nothing a user owns.
const NOT_USER_OWNED: &[(&str, &str)] = &[
    ("/v1/help/articles/{id}", "public help content"),
    (
        "/v1/surveys/{id}/response",
        "surveys are published to everyone; the answer is the caller's own",
    ),
];

fn card(number: &str) -> Value {
    json!({"number": number, "expiry_month": 12, "expiry_year": 2040, "holder_name": "ZHANG WEI", "cvv": "123"})
}

/// What Zhang owns, created through the API.
struct Owned {
    transaction: String,
    card: String,
    quote: String,
    withdrawal: String,
    hold: String,
    device: String,
}

async fn zhangs_things(s: &TestServer, zhang: &str) -> Owned {
    let t = transfer(s, zhang, "own-t", LI_ID, 1_234).await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.body);
    let c = s
        .post("/v1/cards", Some(zhang), card("5555 5555 5555 4444"))
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
    let q = s
        .post(
            "/v1/fx/quotes",
            Some(zhang),
            json!({"from": "CNY", "to": "USD", "sell": money(10_000, "CNY")}),
        )
        .await;
    assert_eq!(q.status, StatusCode::CREATED, "{}", q.body);
    let w = post_money(
        s,
        "/v1/withdrawals",
        zhang,
        "own-w",
        Some("risk=allow"),
        json!({"amount": money(1_000, "CNY")}),
    )
    .await;
    assert_eq!(w.status, StatusCode::CREATED, "{}", w.body);
    let held = post_money(
        s,
        "/v1/withdrawals",
        zhang,
        "own-h",
        Some("risk=hold"),
        json!({"amount": money(2_000, "CNY")}),
    )
    .await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.body);
    let txn = s
        .get(
            &format!(
                "/v1/transactions/{}",
                held.body["transaction_id"].as_str().unwrap()
            ),
            Some(zhang),
        )
        .await;
    let devices = s.get("/v1/devices", Some(zhang)).await;
    let device = devices.body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["current"] == true)
        .unwrap()["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    Owned {
        transaction: t.body["id"].as_str().unwrap().to_owned(),
        card: c.body["id"].as_str().unwrap().to_owned(),
        quote: q.body["id"].as_str().unwrap().to_owned(),
        withdrawal: w.body["id"].as_str().unwrap().to_owned(),
        hold: txn.body["hold_id"].as_str().unwrap().to_owned(),
        device,
    }
}

/// One attempt by the other user: the template it covers, the request, and the codes that
/// count as "not found" for it.
struct Attempt {
    template: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    idempotent: bool,
    not_found: &'static [&'static str],
}

fn attempts(o: &Owned) -> Vec<Attempt> {
    let nf: &'static [&'static str] = &["not_found"];
    vec![
        Attempt {
            template: "/v1/transactions/{id}",
            method: Method::GET,
            path: format!("/v1/transactions/{}", o.transaction),
            body: None,
            idempotent: false,
            not_found: nf,
        },
        Attempt {
            template: "/v1/withdrawals/{id}",
            method: Method::GET,
            path: format!("/v1/withdrawals/{}", o.withdrawal),
            body: None,
            idempotent: false,
            not_found: nf,
        },
        Attempt {
            template: "/v1/fx/quotes/{id}",
            method: Method::GET,
            path: format!("/v1/fx/quotes/{}", o.quote),
            body: None,
            idempotent: false,
            not_found: &["not_found", "quote_not_found"],
        },
        Attempt {
            template: "/v1/risk/holds/{id}",
            method: Method::GET,
            path: format!("/v1/risk/holds/{}", o.hold),
            body: None,
            idempotent: false,
            not_found: nf,
        },
        Attempt {
            template: "/v1/cards/{id}",
            method: Method::DELETE,
            path: format!("/v1/cards/{}", o.card),
            body: None,
            idempotent: false,
            not_found: &["not_found", "card_not_found"],
        },
        Attempt {
            template: "/v1/cards/{id}/default",
            method: Method::POST,
            path: format!("/v1/cards/{}/default", o.card),
            body: Some(json!({})),
            idempotent: false,
            not_found: &["not_found", "card_not_found"],
        },
        Attempt {
            template: "/v1/devices/{device_id}",
            method: Method::DELETE,
            path: format!("/v1/devices/{}", o.device),
            body: None,
            idempotent: false,
            not_found: nf,
        },
        // Ids in bodies: paying with someone else's card, quote or transaction.
        Attempt {
            template: "body: top-up card_id",
            method: Method::POST,
            path: "/v1/top-ups".into(),
            body: Some(json!({"card_id": o.card, "amount": money(500, "CNY")})),
            idempotent: true,
            not_found: &["not_found", "card_not_found"],
        },
        Attempt {
            template: "body: withdrawal card_id",
            method: Method::POST,
            path: "/v1/withdrawals".into(),
            body: Some(json!({"card_id": o.card, "amount": money(500, "CNY")})),
            idempotent: true,
            not_found: &["not_found", "card_not_found"],
        },
        Attempt {
            template: "body: conversion quote_id",
            method: Method::POST,
            path: "/v1/fx/conversions".into(),
            body: Some(json!({"quote_id": o.quote})),
            idempotent: true,
            not_found: &["not_found", "quote_not_found"],
        },
        Attempt {
            template: "body: not-me transaction_id",
            method: Method::POST,
            path: "/v1/risk/not-me".into(),
            body: Some(json!({"transaction_id": o.transaction})),
            idempotent: false,
            not_found: nf,
        },
    ]
}

#[tokio::test]
async fn another_users_ids_are_not_found_anywhere() {
    let s = TestServer::start().await;
    // Device ids are the phone's own and unique per user only: Zhang's is one Li never used.
    let zhang = s.login_on(ZHANG, "zhang-phone").await.tokens.access_token;
    let li = s.login_on(LI, "li-phone").await.tokens.access_token;
    let owned = zhangs_things(&s, &zhang).await;
    let before = (
        balances(&s, &zhang).await,
        balances(&s, &li).await,
        s.get("/v1/cards", Some(&zhang)).await.body,
        s.get("/v1/devices", Some(&zhang)).await.body,
        s.get(&format!("/v1/fx/quotes/{}", owned.quote), Some(&zhang))
            .await
            .body,
        history(&s, &zhang, "").await.len(),
    );

    let mut covered = BTreeSet::new();
    for (i, a) in attempts(&owned).into_iter().enumerate() {
        let mut rb = s.req(a.method.clone(), &a.path).bearer_auth(&li);
        if a.idempotent {
            rb = rb
                .header("Idempotency-Key", format!("foreign-{i}"))
                .header("X-Mock-Scenario", "risk=allow");
        }
        if let Some(b) = &a.body {
            rb = rb.json(b);
        }
        let r = s.send(rb).await;
        assert!(
            a.not_found.contains(&r.code()),
            "{} {} as another user: {} {}",
            a.method,
            a.path,
            r.status,
            r.body
        );
        assert!(
            matches!(r.status.as_u16(), 404 | 422),
            "{} {}: {}",
            a.method,
            a.path,
            r.status
        );
        // Nothing of the owner's leaks into the refusal.
        let text = r.body.to_string();
        assert!(!text.contains(ZHANG_ID) && !text.contains("4444"), "{text}");
        covered.insert(a.template);
    }

    // Zhang's things are as they were; Li paid nothing, gained nothing.
    let after = (
        balances(&s, &zhang).await,
        balances(&s, &li).await,
        s.get("/v1/cards", Some(&zhang)).await.body,
        s.get("/v1/devices", Some(&zhang)).await.body,
        s.get(&format!("/v1/fx/quotes/{}", owned.quote), Some(&zhang))
            .await
            .body,
        history(&s, &zhang, "").await.len(),
    );
    assert_eq!(before, after);
    // The owner still uses them: the quote converts, the card is still the owner's.
    let conv = post_money(
        &s,
        "/v1/fx/conversions",
        &zhang,
        "own-conv",
        Some("risk=allow"),
        json!({"quote_id": owned.quote}),
    )
    .await;
    assert_eq!(conv.status, StatusCode::CREATED, "{}", conv.body);
    s.assert_audit().await;

    // Every path with an id in the document is covered somewhere.
    let doc = serde_json::to_value(server_mock::routes::openapi()).unwrap();
    let with_ids: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|p| p.starts_with("/v1/") && p.contains('{'))
        // Agent endpoints act on conversations assigned to agents, not on user-owned ids.
        .filter(|p| !p.starts_with("/v1/support/agent/"))
        .cloned()
        .collect();
    let missing: Vec<&String> = with_ids
        .iter()
        .filter(|p| {
            !covered.contains(p.as_str())
                && !COVERED_IN_SUPPORT_ACCESS.contains(&p.as_str())
                && !NOT_USER_OWNED.iter().any(|(n, _)| n == p)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "paths with ids not tried with another user's id: {missing:?}"
    );
}
