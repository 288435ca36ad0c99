//! Feedback with a trackable status, periodic surveys, announcements and system status, the app
//! version policy and contact channels.

mod common;
mod support_kit;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support_kit::*;

#[tokio::test]
async fn feedback_is_filed_once_and_its_status_can_be_followed() {
    let s = TestServer::start().await;
    let user = s.login(ZHANG).await;
    let shot = upload(&s, &user, "image/png", png(720, 1280)).await;
    let att = shot.body["id"].as_str().unwrap();
    let body = json!({"category": "feature_request", "text": "希望支持账单导出为 Excel", "attachment_ids": [att]});
    let put = |b: serde_json::Value| {
        s.send(
            s.req(Method::PUT, "/v1/feedback/fb-2026-000001")
                .bearer_auth(&user)
                .json(&b),
        )
    };
    let first = put(body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["status"], "received");
    let again = put(body.clone()).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);
    let changed = put(json!({"category": "bug", "text": "另一件事"})).await;
    assert_eq!(changed.code(), "client_id_reused");
    let bad_category = put(json!({"category": "nonsense", "text": "x"})).await;
    assert_eq!(bad_category.code(), "validation_failed");
    let short_id = s
        .send(
            s.req(Method::PUT, "/v1/feedback/abc")
                .bearer_auth(&user)
                .json(&body),
        )
        .await;
    assert_eq!(short_id.code(), "validation_failed");

    // Staff move it along and reply.
    for (status, reply) in [
        ("under_review", None),
        ("planned", Some("已排入下个版本计划，感谢建议！")),
    ] {
        let r = s
            .post(
                "/__mock/feedback/fb-2026-000001/status",
                None,
                json!({"user_id": ZHANG_ID, "status": status, "reply": reply}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let got = s.get("/v1/feedback/fb-2026-000001", Some(&user)).await;
    assert_eq!(got.body["status"], "planned");
    assert_eq!(got.body["replies"].as_array().unwrap().len(), 2);
    assert_eq!(
        got.body["replies"][1]["text"],
        "已排入下个版本计划，感谢建议！"
    );
    let list = s.get("/v1/feedback", Some(&user)).await;
    assert_eq!(list.body["feedback"][0]["id"], "fb-2026-000001");
    let wrong_user = s
        .post(
            "/__mock/feedback/fb-2026-000001/status",
            None,
            json!({"user_id": LI_ID, "status": "done"}),
        )
        .await;
    assert_eq!(wrong_user.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn surveys_are_answered_once_per_cycle() {
    let s = TestServer::start().await;
    let user = s.login(LI).await;
    let list = call(&s, Method::GET, "/v1/surveys", Some(&user), "zh-CN", None).await;
    let survey = &list.body["surveys"][0];
    assert_eq!(survey["id"], "quarterly-satisfaction");
    assert_eq!(survey["title"], "U钱包季度满意度调查");
    assert_eq!(survey["questions"][2]["options"][0], "付款码");
    let answer = json!({"answers": [
        {"question_id": "overall", "value": 4},
        {"question_id": "recommend", "value": 9},
        {"question_id": "most_used", "value": 0},
        {"question_id": "improve", "text": "希望境外支持更多国家"}
    ]});
    let path = "/v1/surveys/quarterly-satisfaction/response";
    let r = s
        .send(s.req(Method::PUT, path).bearer_auth(&user).json(&answer))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let again = s
        .send(s.req(Method::PUT, path).bearer_auth(&user).json(&answer))
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "survey_already_answered")
    );
    let list = s.get("/v1/surveys", Some(&user)).await;
    assert_eq!(list.body["surveys"], json!([]));
    for bad in [
        json!({"answers": [{"question_id": "overall", "value": 6}, {"question_id": "recommend", "value": 1}]}),
        json!({"answers": [{"question_id": "recommend", "value": 1}]}),
        json!({"answers": [{"question_id": "nope", "value": 1}]}),
    ] {
        let other = s.login(ZHANG).await;
        let r = s
            .send(s.req(Method::PUT, path).bearer_auth(&other).json(&bad))
            .await;
        assert_eq!(r.code(), "validation_failed", "{bad}");
    }
    let unknown = s
        .send(
            s.req(Method::PUT, "/v1/surveys/nope/response")
                .bearer_auth(&user)
                .json(&answer),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // A new cycle brings it back.
    let r = s
        .post(
            "/__mock/clock/advance",
            None,
            json!({"seconds": 91 * 24 * 3600}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let user = s.login(LI).await;
    let list = s.get("/v1/surveys", Some(&user)).await;
    assert_eq!(list.body["surveys"][0]["id"], "quarterly-satisfaction");
}

#[tokio::test]
async fn announcements_and_system_status() {
    let s = TestServer::start().await;
    // Every sandbox starts with an upcoming maintenance window.
    let zh = call(&s, Method::GET, "/v1/announcements", None, "zh-CN", None).await;
    let seeded = &zh.body["announcements"][0];
    assert_eq!(seeded["kind"], "maintenance");
    assert_eq!(seeded["title"], "系统维护通知");
    assert_eq!(seeded["active"], false);
    let status = s.get("/v1/status", None).await;
    assert_eq!(status.body["state"], "operational");

    let now = s.get("/__mock/clock", None).await.body["now"]
        .as_i64()
        .unwrap();
    let incident = s
        .post(
            "/__mock/announcements",
            None,
            json!({
                "kind": "incident", "severity": "warning",
                "title_zh": "部分用户转账延迟", "title_en": "Some transfers are delayed",
                "body_zh": "我们正在处理，资金安全不受影响。", "body_en": "We are on it; your money is safe.",
                "components": ["transfers"], "ends_at": now + 3_600_000
            }),
        )
        .await;
    assert_eq!(incident.status, StatusCode::CREATED, "{}", incident.body);
    let id = incident.body["id"].as_str().unwrap().to_owned();
    let en = call(&s, Method::GET, "/v1/announcements", None, "en", None).await;
    assert_eq!(
        en.body["announcements"][0]["title"], "Some transfers are delayed",
        "active first"
    );
    let status = call(&s, Method::GET, "/v1/status", None, "en", None).await;
    assert_eq!(status.body["state"], "degraded");
    let transfers = status.body["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "transfers")
        .unwrap()
        .clone();
    assert_eq!(transfers["state"], "degraded");
    assert_eq!(transfers["name"], "Transfers");
    let payments = status.body["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "payments")
        .unwrap()
        .clone();
    assert_eq!(payments["state"], "operational");

    // The maintenance window comes into force with the clock, then the incident ends.
    s.post(
        "/__mock/clock/advance",
        None,
        json!({"seconds": 48 * 3600 + 60}),
    )
    .await;
    let status = s.get("/v1/status", None).await;
    assert_eq!(status.body["state"], "maintenance");
    s.post("/__mock/clock/advance", None, json!({"seconds": 3 * 3600}))
        .await;
    let status = s.get("/v1/status", None).await;
    assert_eq!(status.body["state"], "operational");
    assert_eq!(
        s.get("/v1/announcements", None).await.body["announcements"],
        json!([])
    );

    let r = s
        .send(s.req(Method::DELETE, &format!("/__mock/announcements/{id}")))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = s
        .send(s.req(Method::DELETE, &format!("/__mock/announcements/{id}")))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let bad = s
        .post(
            "/__mock/announcements",
            None,
            json!({"kind": "incident", "severity": "critical", "title_zh": "", "title_en": "x",
                   "body_zh": "x", "body_en": "x", "components": ["moon"]}),
        )
        .await;
    assert_eq!(bad.code(), "validation_failed");
    assert_eq!(bad.body["errors"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn app_version_policy_per_platform() {
    let s = TestServer::start().await;
    let check = |platform: &'static str, version: &'static str| {
        let s = &s;
        async move {
            s.get(
                &format!("/v1/app/version?platform={platform}&version={version}"),
                None,
            )
            .await
        }
    };
    let r = check("android", "2.4.0").await;
    assert_eq!(
        (r.body["update"].as_str(), r.body["force_update"].as_bool()),
        (Some("none"), Some(false))
    );
    let r = check("android", "2.1").await;
    assert_eq!(r.body["update"], "optional");
    let r = check("ios", "1.9.9").await;
    assert_eq!(
        (r.body["update"].as_str(), r.body["force_update"].as_bool()),
        (Some("required"), Some(true))
    );
    assert!(r.body["store_url"].as_str().unwrap().contains("apple"));
    let r = check("android", "two").await;
    assert_eq!(r.code(), "validation_failed");

    let policy = json!({"latest": "3.0.0", "minimum_supported": "2.5.0",
        "release_notes_zh": "全新首页", "release_notes_en": "A new home screen",
        "store_url": "https://play.google.com/store/apps/details?id=example.upay"});
    let r = s
        .send(
            s.req(Method::PUT, "/__mock/app-version/android")
                .json(&policy),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = call(
        &s,
        Method::GET,
        "/v1/app/version?platform=android&version=2.4.0",
        None,
        "zh-CN",
        None,
    )
    .await;
    assert_eq!(r.body["update"], "required");
    assert_eq!(r.body["release_notes"], "全新首页");
    // iOS keeps its own policy.
    assert_eq!(check("ios", "2.4.0").await.body["update"], "none");
    let bad = s
        .send(s.req(Method::PUT, "/__mock/app-version/ios").json(
            &json!({"latest": "1.0", "minimum_supported": "2.0", "release_notes_zh": "x",
                              "release_notes_en": "x", "store_url": "http://insecure"}),
        ))
        .await;
    assert_eq!(bad.code(), "validation_failed");
}

#[tokio::test]
async fn contact_channels_follow_the_language() {
    let s = TestServer::start().await;
    let zh = call(&s, Method::GET, "/v1/support/channels", None, "zh-CN", None).await;
    let en = call(&s, Method::GET, "/v1/support/channels", None, "en", None).await;
    let zh = zh.body["channels"].as_array().unwrap().clone();
    let en = en.body["channels"].as_array().unwrap().clone();
    assert_eq!(zh.len(), en.len());
    let hotline = zh.iter().find(|c| c["kind"] == "hotline").unwrap();
    assert_eq!(hotline["label"], "客服热线");
    assert!(hotline["link"].as_str().unwrap().starts_with("tel:"));
    assert_eq!(hotline["always_open"], true);
    let email = en.iter().find(|c| c["kind"] == "email").unwrap();
    assert!(email["link"].as_str().unwrap().starts_with("mailto:"));
    assert!(en.iter().any(|c| c["kind"] == "social"));
    assert!(en.iter().all(|c| !c["hours"].as_str().unwrap().is_empty()));
}
