//! The mock's plumbing against a live server: request ids, problem bodies, locales, sandboxes,
//! fault injection, rate limiting, body limits, TLS, the control API and the binary itself.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use server_mock::Config;

#[tokio::test]
async fn every_response_has_a_request_id_and_errors_are_problems() {
    let s = TestServer::start().await;
    let ok = s.get("/healthz", None).await;
    let missing = s.get("/v1/nothing-here", None).await;
    let wrong_method = s.send(s.req(Method::DELETE, "/v1/auth/login")).await;
    let control = s.get("/__mock/clock", None).await;
    let mut ids = Vec::new();
    for r in [&ok, &missing, &wrong_method, &control] {
        let id = r
            .headers
            .get("request-id")
            .expect("Request-Id header")
            .to_str()
            .unwrap()
            .to_owned();
        assert!(id.starts_with("req_"));
        ids.push(id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 4, "request ids are unique");
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(missing.headers["content-type"], "application/problem+json");
    assert_eq!(missing.body["type"], "urn:upay:error:not_found");
    assert_eq!(
        missing.body["request_id"],
        missing.headers["request-id"].to_str().unwrap()
    );
    assert_eq!(
        (wrong_method.status, wrong_method.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

#[tokio::test]
async fn titles_follow_the_callers_language() {
    let s = TestServer::start().await;
    let zh = s
        .send(
            s.req(Method::GET, "/v1/me")
                .header("Accept-Language", "zh-CN,zh;q=0.9"),
        )
        .await;
    let en = s
        .send(
            s.req(Method::GET, "/v1/me")
                .header("Accept-Language", "en-US"),
        )
        .await;
    assert_eq!(zh.code(), en.code());
    assert_eq!(zh.body["title"], "请先登录");
    assert_eq!(en.body["title"], "Please sign in");
}

#[tokio::test]
async fn bad_bodies_get_stable_codes_and_never_echo_input() {
    let s = TestServer::start().await;
    let not_json = s
        .send(
            s.req(Method::POST, "/v1/auth/login")
                .header("content-type", "application/json")
                .body("{nope"),
        )
        .await;
    assert_eq!(
        (not_json.status, not_json.code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let wrong_type = s
        .send(
            s.req(Method::POST, "/v1/auth/login")
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
    assert_eq!(
        (wrong_type.status, wrong_type.code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    let missing = s
        .post("/v1/auth/login", None, json!({"phone": ZHANG}))
        .await;
    assert_eq!(missing.code(), "validation_failed");
    assert_eq!(missing.body["errors"][0]["field"], "password");
    assert_eq!(missing.body["errors"][0]["code"], "required");
    let secret = "4111111111111111";
    let wrong_shape = s
        .post(
            "/v1/auth/login",
            None,
            json!({"phone": 5, "password": secret}),
        )
        .await;
    assert_eq!(wrong_shape.code(), "validation_failed");
    assert!(!wrong_shape.body.to_string().contains(secret));
    let huge = "x".repeat(server_mock::routes::MAX_BODY_BYTES + 1);
    let big = s.post("/v1/auth/login", None, json!({"phone": huge})).await;
    assert_eq!(
        (big.status, big.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let bad_enum = s
        .post(
            "/v1/auth/otp",
            None,
            json!({"phone": ZHANG, "purpose": "everything"}),
        )
        .await;
    assert_eq!(bad_enum.body["errors"][0]["code"], "unknown_value");
}

#[tokio::test]
async fn sandboxes_are_isolated() {
    let s = TestServer::start().await;
    let in_sandbox = |name: &'static str, method: Method, path: &str| {
        s.req(method, path).header("X-Mock-Sandbox", name)
    };
    // A fault and a clock move in sandbox "a" ...
    let r = s
        .send(
            in_sandbox("a", Method::POST, "/__mock/faults")
                .json(&json!({"fault": {"kind": "error", "status": 503}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    s.send(in_sandbox("a", Method::POST, "/__mock/clock/advance").json(&json!({"seconds": 3600})))
        .await;
    // ... leave "b" and the default untouched.
    let a = s.send(in_sandbox("a", Method::GET, "/v1/me")).await;
    let b = s.send(in_sandbox("b", Method::GET, "/v1/me")).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(b.code(), "unauthorized");
    let clock_a = s.send(in_sandbox("a", Method::GET, "/__mock/clock")).await;
    let clock_b = s.send(in_sandbox("b", Method::GET, "/__mock/clock")).await;
    assert_eq!(clock_a.body["offset_ms"], 3_600_000);
    assert_eq!(clock_b.body["offset_ms"], 0);

    // Data too: a session from "b" means nothing in the default sandbox.
    let login = s
        .send(
            in_sandbox("b", Method::POST, "/v1/auth/login").json(&login_body(
                MAGIC,
                PASSWORD,
                "sandbox-dev-1",
            )),
        )
        .await;
    let ticket = login.body["login_ticket"].as_str().unwrap().to_owned();
    let otp = json!({"login_ticket": ticket, "code": server_mock::auth::MAGIC_OTP});
    let session = s
        .send(in_sandbox("b", Method::POST, "/v1/auth/login/otp").json(&otp))
        .await;
    let token = session.body["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.send(in_sandbox("b", Method::GET, "/v1/me").bearer_auth(&token))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(s.get("/v1/me", Some(&token)).await.code(), "unauthorized");

    let list = s.get("/__mock/sandboxes", None).await;
    assert_eq!(list.body["sandboxes"], json!(["a", "b", "default"]));
    let bad = s
        .send(
            s.req(Method::GET, "/healthz")
                .header("X-Mock-Sandbox", "no spaces"),
        )
        .await;
    assert_eq!(bad.code(), "validation_failed");
}

#[tokio::test]
async fn reset_wipes_data_clock_and_faults() {
    let s = TestServer::start().await;
    let token = s.login(ZHANG).await;
    s.post("/__mock/clock/advance", None, json!({"seconds": 60}))
        .await;
    s.post(
        "/__mock/faults",
        None,
        json!({"route": "/v1/devices", "fault": {"kind": "latency", "ms": 1}}),
    )
    .await;
    let r = s.post("/__mock/reset", None, json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(s.get("/v1/me", Some(&token)).await.code(), "unauthorized");
    assert_eq!(s.get("/__mock/clock", None).await.body["offset_ms"], 0);
    assert_eq!(
        s.get("/__mock/faults", None).await.body["faults"],
        json!([])
    );
    // Demo users are back.
    s.login(ZHANG).await;
}

#[tokio::test]
async fn scenario_header_injects_faults() {
    let s = TestServer::start().await;
    let with = |scenario: &str| {
        s.req(Method::GET, "/v1/me")
            .header("X-Mock-Scenario", scenario.to_owned())
    };
    let r = s.send(with("status=502")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_GATEWAY, "service_unavailable")
    );
    let r = s.send(with("rate_limit=7")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert_eq!(r.headers["retry-after"], "7");
    let r = s.send(with("latency=20")).await;
    assert_eq!(r.code(), "unauthorized", "latency only delays");
    let dropped = with("drop").send().await;
    assert!(
        dropped.is_err(),
        "the connection is closed without an answer"
    );
    let r = s.send(with("status=404")).await;
    assert_eq!(r.code(), "validation_failed");
    let log = s.get("/__mock/requests", None).await;
    let scenarios: Vec<_> = log.body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["scenario"].as_str())
        .collect();
    assert!(scenarios.contains(&"latency=20") && scenarios.contains(&"drop"));
}

#[tokio::test]
async fn a_dropped_response_still_commits_the_request() {
    let s = TestServer::start().await;
    let token = s.login(ZHANG).await;
    let rule = json!({"route": "/v1/auth/logout", "fault": {"kind": "drop_response"}, "times": 1});
    assert_eq!(
        s.post("/__mock/faults", None, rule).await.status,
        StatusCode::CREATED
    );
    let lost = s
        .req(Method::POST, "/v1/auth/logout")
        .bearer_auth(&token)
        .send()
        .await;
    assert!(lost.is_err(), "the answer never arrives");
    assert_eq!(
        s.get("/v1/me", Some(&token)).await.code(),
        "unauthorized",
        "but the logout happened"
    );
    assert_eq!(
        s.get("/__mock/faults", None).await.body["faults"],
        json!([]),
        "a counted rule removes itself"
    );
}

#[tokio::test]
async fn fault_rules_match_routes_and_can_be_removed() {
    let s = TestServer::start().await;
    let rule = s.post("/__mock/faults", None, json!({"route": "/v1/devices", "method": "GET", "fault": {"kind": "error", "status": 500}})).await;
    let id = rule.body["id"].as_u64().unwrap();
    let token = s.login(ZHANG).await;
    assert_eq!(
        s.get("/v1/devices", Some(&token)).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(s.get("/v1/me", Some(&token)).await.status, StatusCode::OK);
    assert_eq!(
        s.send(s.req(Method::DELETE, &format!("/__mock/faults/{id}")))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get("/v1/devices", Some(&token)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        s.send(s.req(Method::DELETE, &format!("/__mock/faults/{id}")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let bad = s
        .post(
            "/__mock/faults",
            None,
            json!({"fault": {"kind": "error", "status": 200}}),
        )
        .await;
    assert_eq!(bad.code(), "validation_failed");
}

#[tokio::test]
async fn rate_limit_answers_429_with_standard_headers() {
    let s = TestServer::start().await;
    let mut settings = s.get("/__mock/settings", None).await.body;
    settings["rate_limit_per_window"] = json!(3);
    settings["rate_limit_window_secs"] = json!(60);
    assert_eq!(
        s.send(s.req(Method::PUT, "/__mock/settings").json(&settings))
            .await
            .status,
        StatusCode::OK
    );
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let r = s.get("/v1/me", Some("at_someone")).await;
        statuses.push(r.status.as_u16());
        last = Some(r);
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    let last = last.unwrap();
    assert_eq!(last.headers["ratelimit-limit"], "3");
    assert_eq!(last.headers["ratelimit-remaining"], "0");
    assert!(
        last.headers.get("retry-after").is_some() && last.headers.get("ratelimit-reset").is_some()
    );
    // Another client has its own budget.
    assert_eq!(
        s.get("/v1/me", Some("at_someone_else")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn control_api_validates_its_input() {
    let s = TestServer::start().await;
    assert_eq!(
        s.post("/__mock/clock/advance", None, json!({"seconds": -5}))
            .await
            .code(),
        "validation_failed"
    );
    assert_eq!(
        s.post("/__mock/clock/advance", None, json!({"seconds": "soon"}))
            .await
            .code(),
        "validation_failed"
    );
    let magic = s.get("/__mock/magic", None).await;
    assert!(magic.body["values"].as_array().unwrap().len() >= 10);
    assert_eq!(magic.body["demo_users"][0]["phone"], ZHANG);
}

#[tokio::test]
async fn serves_https_with_a_reusable_development_ca() {
    install_crypto_provider();
    let dir = std::env::temp_dir().join(format!("upay-mock-tls-{}", std::process::id()));
    let mut config = Config::for_tests();
    config.tls = true;
    config.tls_dir = dir.clone();
    let server = server_mock::start(config.clone()).await.unwrap();
    let ca = server.ca_pem.clone().unwrap();
    assert!(server.base_url().starts_with("https://"));
    let client = |ca: &str| {
        reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
            .build()
            .unwrap()
    };
    let r = client(&ca)
        .get(format!("{}/healthz", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // An untrusting client is refused.
    let plain = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([])
        .build()
        .unwrap();
    assert!(
        plain
            .get(format!("{}/healthz", server.base_url()))
            .send()
            .await
            .is_err()
    );
    server.stop().await;
    // A restart keeps the CA, so clients trust it once.
    let again = server_mock::start(config).await.unwrap();
    assert_eq!(again.ca_pem.as_deref(), Some(ca.as_str()));
    let r = client(&ca)
        .get(format!("{}/healthz", again.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    again.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_binary_starts_prints_demo_users_and_answers_health() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_server-mock"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--pbkdf2-iterations",
            "1000",
            "--log",
            "warn",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("server-mock starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first.rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    let banner: Vec<String> = lines.by_ref().take(8).map(Result::unwrap).collect();
    assert!(
        banner
            .iter()
            .any(|l| l.contains(ZHANG) && l.contains("张伟")),
        "{banner:?}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();
}
