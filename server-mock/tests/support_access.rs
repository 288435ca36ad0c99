//! Who may see what: another user's conversation, ticket, attachment or feedback is "not found"
//! on every endpoint; and screenshot uploads (types, sizes, damaged files).

mod common;
mod support_kit;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support_kit::*;

#[tokio::test]
async fn user_b_cannot_read_send_to_or_export_user_as_things() {
    let s = TestServer::start().await;
    let a = s.login(ZHANG).await;
    let b = s.login(LI).await;
    let conv = open_conversation(&s, &a, "zh-CN").await;
    say(&s, &a, &conv, "m1", "zh-CN", "我的提现没到账").await;
    let shot = upload(&s, &a, "image/png", png(1080, 2400)).await;
    assert_eq!(shot.status, StatusCode::CREATED, "{}", shot.body);
    let att = shot.body["id"].as_str().unwrap().to_owned();
    let ticket = s
        .post(
            "/v1/support/tickets",
            Some(&a),
            json!({"conversation_id": conv, "subject": "提现未到账"}),
        )
        .await;
    let ticket = ticket.body["id"].as_str().unwrap().to_owned();
    let fb = s
        .send(
            s.req(Method::PUT, "/v1/feedback/fb-zhang-0001")
                .bearer_auth(&a)
                .json(&json!({"category": "bug", "text": "账单页闪退", "attachment_ids": [att]})),
        )
        .await;
    assert_eq!(fb.status, StatusCode::CREATED, "{}", fb.body);

    let c = format!("/v1/support/conversations/{conv}");
    let attempts: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, c.clone(), None),
        (Method::GET, format!("{c}/messages"), None),
        (
            Method::PUT,
            format!("{c}/messages/b-1"),
            Some(json!({"text": "hi"})),
        ),
        (Method::GET, format!("{c}/events?wait_secs=0"), None),
        (
            Method::POST,
            format!("{c}/receipts"),
            Some(json!({"read_up_to_seq": 1})),
        ),
        (
            Method::POST,
            format!("{c}/typing"),
            Some(json!({"typing": true})),
        ),
        (Method::POST, format!("{c}/close"), Some(json!({}))),
        (Method::GET, format!("{c}/transcript"), None),
        (Method::GET, format!("{c}/transcript/text"), None),
        (Method::GET, format!("/v1/support/tickets/{ticket}"), None),
        (
            Method::POST,
            format!("/v1/support/tickets/{ticket}/comments"),
            Some(json!({"text": "x"})),
        ),
        (
            Method::POST,
            "/v1/support/tickets".to_owned(),
            Some(json!({"conversation_id": conv, "subject": "x"})),
        ),
        (Method::GET, format!("/v1/support/attachments/{att}"), None),
        (
            Method::GET,
            format!("/v1/support/attachments/{att}/meta"),
            None,
        ),
        (Method::GET, "/v1/feedback/fb-zhang-0001".to_owned(), None),
    ];
    for (method, path, body) in attempts {
        let mut rb = s.req(method.clone(), &path).bearer_auth(&b);
        if let Some(body) = body {
            rb = rb.json(&body);
        }
        let r = s.send(rb).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{method} {path}: {}",
            r.body
        );
    }
    assert_eq!(
        try_socket(&s, &format!("{c}/socket"), &b).await.err(),
        Some(404)
    );
    // B cannot attach A's screenshot to B's own message or feedback either.
    let own = open_conversation(&s, &b, "en").await;
    let r = s
        .send(
            s.req(
                Method::PUT,
                &format!("/v1/support/conversations/{own}/messages/b-2"),
            )
            .bearer_auth(&b)
            .json(&json!({"text": "look", "attachment_ids": [att]})),
        )
        .await;
    assert_eq!(r.code(), "validation_failed");
    assert_eq!(r.body["errors"][0]["code"], "not_found");
    let r = s
        .send(
            s.req(Method::PUT, "/v1/feedback/fb-li-000001")
                .bearer_auth(&b)
                .json(&json!({"category": "bug", "text": "x", "attachment_ids": [att]})),
        )
        .await;
    assert_eq!(r.code(), "validation_failed");
    // B's lists hold none of A's things.
    for path in [
        "/v1/support/conversations",
        "/v1/support/tickets",
        "/v1/feedback",
    ] {
        let r = s.get(path, Some(&b)).await;
        assert!(!r.body.to_string().contains(&conv), "{path}");
        assert!(!r.body.to_string().contains(&ticket), "{path}");
        assert!(!r.body.to_string().contains("fb-zhang-0001"), "{path}");
    }
    // And nothing changed for A.
    let mine = s.get(&c, Some(&a)).await;
    assert_eq!(mine.body["status"], "bot");
    // No token at all is 401, not 404.
    let r = s.get(&c, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn screenshots_are_validated_and_served_to_their_owner_and_agent_only() {
    let s = TestServer::start().await;
    let user = s.login(ZHANG).await;
    let ok = upload(&s, &user, "image/png", png(1080, 2400)).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    assert_eq!(ok.body["content_type"], "image/png");
    assert_eq!(
        (ok.body["width"].as_u64(), ok.body["height"].as_u64()),
        (Some(1080), Some(2400))
    );
    let id = ok.body["id"].as_str().unwrap().to_owned();
    let bytes = s
        .client
        .get(format!("{}/v1/support/attachments/{id}", s.base))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(bytes.headers()["content-type"], "image/png");
    assert_eq!(bytes.headers()["x-content-type-options"], "nosniff");
    assert_eq!(bytes.bytes().await.unwrap().to_vec(), png(1080, 2400));

    // The declared type does not matter; the bytes do.
    let sneaky = upload(
        &s,
        &user,
        "image/png",
        b"<html><script>alert(1)</script></html>".to_vec(),
    )
    .await;
    assert_eq!(
        (sneaky.status, sneaky.code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let pdf = upload(
        &s,
        &user,
        "application/pdf",
        b"%PDF-1.7 not an image".to_vec(),
    )
    .await;
    assert_eq!(pdf.code(), "unsupported_media_type");
    let text = upload(&s, &user, "text/plain", png(10, 10)).await;
    assert_eq!(
        text.code(),
        "unsupported_media_type",
        "only image types may be declared"
    );
    let mut broken = png(100, 100);
    broken.truncate(30);
    let broken = upload(&s, &user, "image/png", broken).await;
    assert_eq!(
        (broken.status, broken.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "image_invalid")
    );
    let huge_pixels = upload(&s, &user, "image/png", png(50_000, 10)).await;
    assert_eq!(huge_pixels.code(), "image_invalid");

    // 20 MB is refused cleanly, with our problem body, not a dropped connection or a 5xx.
    let mut big = png(1000, 1000);
    big.resize(20 * 1024 * 1024, 0);
    let r = upload(&s, &user, "image/png", big).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let mut just_over = png(1000, 1000);
    just_over.resize(5 * 1024 * 1024 + 1, 0);
    let r = upload(&s, &user, "image/png", just_over).await;
    assert_eq!(r.code(), "payload_too_large");
    let none = s
        .send(
            s.req(Method::POST, "/v1/support/attachments")
                .header("content-type", "image/png")
                .body(png(5, 5)),
        )
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);

    // Referenced by a message, the agent on the conversation can open it.
    let conv = open_conversation(&s, &user, "en").await;
    let r = s
        .send(
            s.req(
                Method::PUT,
                &format!("/v1/support/conversations/{conv}/messages/shot"),
            )
            .bearer_auth(&user)
            .json(&json!({"text": "see the error", "attachment_ids": [id]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["message"]["attachment_ids"][0], id.as_str());
    let agent = agent_login(&s, "A001").await;
    let other = agent_login(&s, "A002").await;
    let before = s
        .client
        .get(format!("{}/v1/support/agent/attachments/{id}", s.base))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(
        before.status(),
        404,
        "not before the agent has the conversation"
    );
    s.post(
        &format!("/v1/support/agent/conversations/{conv}/pick"),
        Some(&agent),
        json!({}),
    )
    .await;
    let seen = s
        .client
        .get(format!("{}/v1/support/agent/attachments/{id}", s.base))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(seen.status(), 200);
    let not_theirs = s
        .client
        .get(format!("{}/v1/support/agent/attachments/{id}", s.base))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(not_theirs.status(), 404);
    let too_many = s
        .send(
            s.req(
                Method::PUT,
                &format!("/v1/support/conversations/{conv}/messages/many"),
            )
            .bearer_auth(&user)
            .json(&json!({"attachment_ids": [&id, &id, &id, &id, &id]})),
        )
        .await;
    assert_eq!(too_many.code(), "validation_failed");
}
