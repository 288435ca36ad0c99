//! Accounts and sessions against the live mock: registration, login with SMS codes, lockout and
//! unlock, password reset and change, token rotation and reuse detection, devices.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use upay_protocol::api::auth::{LoginResponse, Session, TokenPair};

fn device(id: &str) -> serde_json::Value {
    json!({"device_id": id, "name": "Test Phone", "platform": "ios"})
}

async fn register(s: &TestServer, phone: &str, password: &str) -> Session {
    let r = s
        .post(
            "/v1/auth/otp",
            None,
            json!({"phone": phone, "purpose": "register"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["resend_after_secs"], 60);
    let code = s.last_code(phone).await;
    let body = json!({"phone": phone, "code": code, "password": password, "full_name": "王芳",
        "id_last4": "123X", "device": device("reg-device-1")});
    let r = s.post("/v1/auth/register", None, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.json()
}

#[tokio::test]
async fn register_then_use_the_session() {
    let s = TestServer::start().await;
    let session = register(&s, "13700137000", "Secur3pass").await;
    assert!(session.user.user_id.starts_with('U') && session.user.user_id.len() == 11);
    assert_eq!(session.user.phone_masked, "137****7000");
    assert!(session.tokens.access_expires_in_secs <= 15 * 60);
    let me = s.get("/v1/me", Some(&session.tokens.access_token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["full_name"], "王芳");
    assert_eq!(me.body["status"], "active");

    // The number is taken now.
    let r = s
        .post(
            "/v1/auth/otp",
            None,
            json!({"phone": "13700137000", "purpose": "register"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "phone_taken"));
}

#[tokio::test]
async fn registration_checks_code_and_password_rules() {
    let s = TestServer::start().await;
    s.post(
        "/v1/auth/otp",
        None,
        json!({"phone": "13700137001", "purpose": "register"}),
    )
    .await;
    let good = s.last_code("13700137001").await;
    let wrong = if good == "000000" { "111111" } else { "000000" };
    let body = |code: &str, password: &str| {
        json!({"phone": "13700137001", "code": code, "password": password, "full_name": "A",
            "id_last4": "1234", "device": device("reg-device-2")})
    };
    let r = s
        .post("/v1/auth/register", None, body(&good, "short"))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert_eq!(r.body["errors"][0]["field"], "password");
    assert_eq!(r.body["errors"][0]["code"], "too_short");

    let r = s
        .post("/v1/auth/register", None, body(wrong, "Secur3pass"))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "otp_invalid")
    );
    // The failed attempt did not create the user; the right code still works once.
    let r = s
        .post("/v1/auth/register", None, body(&good, "Secur3pass"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = s
        .post("/v1/auth/register", None, body(&good, "Secur3pass"))
        .await;
    assert_eq!(r.code(), "phone_taken");
}

#[tokio::test]
async fn new_device_needs_sms_code_known_device_does_not() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "/v1/auth/login",
            None,
            login_body(ZHANG, PASSWORD, "phone-aaaa-1"),
        )
        .await;
    let LoginResponse::OtpRequired(challenge) = r.json() else {
        panic!("expected an SMS step: {}", r.body)
    };
    assert_eq!(challenge.reason, "new_device");
    assert_eq!(challenge.destination, "138****8000");

    let wrong = s
        .post(
            "/v1/auth/login/otp",
            None,
            json!({"login_ticket": challenge.login_ticket, "code": "12345"}),
        )
        .await;
    assert_eq!(wrong.code(), "otp_invalid");
    let code = s.last_code(ZHANG).await;
    let ok = s
        .post(
            "/v1/auth/login/otp",
            None,
            json!({"login_ticket": challenge.login_ticket, "code": code}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    // A ticket works once.
    let again = s
        .post(
            "/v1/auth/login/otp",
            None,
            json!({"login_ticket": challenge.login_ticket, "code": code}),
        )
        .await;
    assert_eq!(again.code(), "otp_invalid");

    // The new-device notice went out by SMS.
    let sms = s.get(&format!("/__mock/sms?phone={ZHANG}"), None).await;
    assert!(
        sms.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["purpose"] == "new_device_notice")
    );

    let r = s
        .post(
            "/v1/auth/login",
            None,
            login_body(ZHANG, PASSWORD, "phone-aaaa-1"),
        )
        .await;
    assert!(matches!(r.json(), LoginResponse::SignedIn(_)), "{}", r.body);

    // A forced risky login asks for a code even on a known device.
    let r = s
        .send(
            s.req(reqwest::Method::POST, "/v1/auth/login")
                .header("X-Mock-Scenario", "risk=step_up")
                .json(&login_body(ZHANG, PASSWORD, "phone-aaaa-1")),
        )
        .await;
    let LoginResponse::OtpRequired(c) = r.json() else {
        panic!("expected an SMS step: {}", r.body)
    };
    assert_eq!(c.reason, "risky_login");
}

#[tokio::test]
async fn magic_numbers_always_get_the_fixed_code() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "/v1/auth/login",
            None,
            login_body(MAGIC, PASSWORD, "magic-dev-1"),
        )
        .await;
    let LoginResponse::OtpRequired(c) = r.json() else {
        panic!("{}", r.body)
    };
    let r = s
        .post(
            "/v1/auth/login/otp",
            None,
            json!({"login_ticket": c.login_ticket, "code": server_mock::auth::MAGIC_OTP}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn five_wrong_codes_void_the_code_and_codes_expire() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "/v1/auth/login",
            None,
            login_body(ZHANG, PASSWORD, "phone-bbbb-1"),
        )
        .await;
    let LoginResponse::OtpRequired(c) = r.json() else {
        panic!()
    };
    let code = s.last_code(ZHANG).await;
    let wrong = if code == "999999" { "999998" } else { "999999" };
    let mut codes = Vec::new();
    for _ in 0..5 {
        let r = s
            .post(
                "/v1/auth/login/otp",
                None,
                json!({"login_ticket": c.login_ticket, "code": wrong}),
            )
            .await;
        codes.push(r.code().to_owned());
    }
    assert_eq!(
        codes,
        [
            "otp_invalid",
            "otp_invalid",
            "otp_invalid",
            "otp_invalid",
            "otp_exhausted"
        ]
    );
    let r = s
        .post(
            "/v1/auth/login/otp",
            None,
            json!({"login_ticket": c.login_ticket, "code": code}),
        )
        .await;
    assert_ne!(
        r.status,
        StatusCode::OK,
        "a voided code must not work: {}",
        r.body
    );

    // Resending is throttled for a minute.
    let r = s
        .post(
            "/v1/auth/login",
            None,
            login_body(ZHANG, PASSWORD, "phone-bbbb-1"),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the old code was voided, so a new one may be sent: {}",
        r.body
    );
    let r = s
        .post(
            "/v1/auth/login",
            None,
            login_body(ZHANG, PASSWORD, "phone-bbbb-1"),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "otp_throttled")
    );
    assert!(r.headers.get("retry-after").is_some());

    // Codes live five minutes.
    s.post("/__mock/clock/advance", None, json!({"seconds": 61}))
        .await;
    let r = s
        .post(
            "/v1/auth/login",
            None,
            login_body(ZHANG, PASSWORD, "phone-bbbb-1"),
        )
        .await;
    let LoginResponse::OtpRequired(c) = r.json() else {
        panic!("{}", r.body)
    };
    let code = s.last_code(ZHANG).await;
    s.post("/__mock/clock/advance", None, json!({"seconds": 301}))
        .await;
    let r = s
        .post(
            "/v1/auth/login/otp",
            None,
            json!({"login_ticket": c.login_ticket, "code": code}),
        )
        .await;
    assert_eq!(r.code(), "otp_expired");
}

#[tokio::test]
async fn five_wrong_passwords_lock_with_a_warning_and_unknown_phones_answer_alike() {
    let s = TestServer::start().await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..6 {
        let r = s
            .post(
                "/v1/auth/login",
                None,
                login_body(ZHANG, "Wrong1234", "phone-cccc-1"),
            )
            .await;
        known.push((
            r.status,
            r.code().to_owned(),
            r.body["attempts_remaining"].clone(),
        ));
        let r = s
            .post(
                "/v1/auth/login",
                None,
                login_body("13600136000", "Wrong1234", "phone-cccc-1"),
            )
            .await;
        unknown.push((
            r.status,
            r.code().to_owned(),
            r.body["attempts_remaining"].clone(),
        ));
    }
    assert_eq!(
        known, unknown,
        "an unknown number must answer exactly like a wrong password"
    );
    let remaining: Vec<_> = known
        .iter()
        .take(4)
        .map(|k| k.2.as_u64().unwrap())
        .collect();
    assert_eq!(remaining, [4, 3, 2, 1], "the last attempt is announced");
    assert_eq!(
        (known[4].0, known[4].1.as_str()),
        (StatusCode::from_u16(423).unwrap(), "account_locked")
    );
    assert_eq!(known[5].1, "account_locked");

    // Locked: even the right password is refused.
    let r = s
        .post(
            "/v1/auth/login",
            None,
            login_body(ZHANG, PASSWORD, "phone-cccc-1"),
        )
        .await;
    assert_eq!(r.code(), "account_locked");

    // Unlock by identity verification: code + name + id digits.
    let r = s
        .post(
            "/v1/auth/otp",
            None,
            json!({"phone": ZHANG, "purpose": "unlock"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let code = s.last_code(ZHANG).await;
    let r = s
        .post(
            "/v1/auth/unlock",
            None,
            json!({"phone": ZHANG, "code": code, "full_name": "李四", "id_last4": "1234"}),
        )
        .await;
    assert_eq!(r.code(), "identity_mismatch");
    let r = s
        .post(
            "/v1/auth/unlock",
            None,
            json!({"phone": ZHANG, "code": code, "full_name": "张伟", "id_last4": "1234"}),
        )
        .await;
    assert_eq!(
        r.code(),
        "otp_invalid",
        "a code is spent by any verification attempt, matching or not"
    );
    s.post(
        "/v1/auth/otp",
        None,
        json!({"phone": ZHANG, "purpose": "unlock"}),
    )
    .await;
    let code = s.last_code(ZHANG).await;
    let r = s
        .post(
            "/v1/auth/unlock",
            None,
            json!({"phone": ZHANG, "code": code, "full_name": "张伟", "id_last4": "1234"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    s.login_on(ZHANG, "phone-cccc-1").await;
}

#[tokio::test]
async fn unlock_restores_login_and_support_can_start_it() {
    let s = TestServer::start().await;
    for _ in 0..5 {
        s.post(
            "/v1/auth/login",
            None,
            login_body(LI, "Wrong1234", "phone-dddd-1"),
        )
        .await;
    }
    let r = s
        .post(
            "/v1/auth/login",
            None,
            login_body(LI, PASSWORD, "phone-dddd-1"),
        )
        .await;
    assert_eq!(r.code(), "account_locked");
    let r = s
        .post("/__mock/support/start-unlock", None, json!({"phone": LI}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let code = s.last_code(LI).await;
    let r = s
        .post(
            "/v1/auth/unlock",
            None,
            json!({"phone": LI, "code": code, "full_name": "李娜", "id_last4": "5678"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    s.login_on(LI, "phone-dddd-1").await;
}

#[tokio::test]
async fn forgot_password_resets_and_signs_out_everywhere() {
    let s = TestServer::start().await;
    let old = s.login(LI).await;
    let r = s
        .post(
            "/v1/auth/otp",
            None,
            json!({"phone": LI, "purpose": "reset_password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // An unknown number gets the same answer and no SMS.
    let r2 = s
        .post(
            "/v1/auth/otp",
            None,
            json!({"phone": "13600136001", "purpose": "reset_password"}),
        )
        .await;
    assert_eq!(
        (r2.status, r2.body["expires_in_secs"].clone()),
        (r.status, r.body["expires_in_secs"].clone())
    );
    assert!(
        s.get("/__mock/sms?phone=13600136001", None).await.body["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let code = s.last_code(LI).await;
    let r = s
        .post(
            "/v1/auth/password/reset",
            None,
            json!({"phone": LI, "code": code, "new_password": "N3wPassword"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(s.get("/v1/me", Some(&old)).await.code(), "unauthorized");
    let r = s
        .post(
            "/v1/auth/login",
            None,
            login_body(LI, PASSWORD, "test-device-1"),
        )
        .await;
    assert_eq!(r.code(), "invalid_credentials");
    let r = s
        .post(
            "/v1/auth/login",
            None,
            login_body(LI, "N3wPassword", "test-device-1"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn change_password_keeps_this_session_and_ends_the_others() {
    let s = TestServer::start().await;
    let here = s.login_on(ZHANG, "phone-eeee-1").await.tokens.access_token;
    let there = s.login_on(ZHANG, "phone-eeee-2").await.tokens.access_token;
    let r = s
        .post(
            "/v1/auth/password/change",
            Some(&here),
            json!({"current_password": "Wrong1234", "new_password": "An0therPass"}),
        )
        .await;
    assert_eq!(r.code(), "invalid_credentials");
    let r = s
        .post(
            "/v1/auth/password/change",
            Some(&here),
            json!({"current_password": PASSWORD, "new_password": "weak"}),
        )
        .await;
    assert_eq!(r.code(), "validation_failed");
    let r = s
        .post(
            "/v1/auth/password/change",
            Some(&here),
            json!({"current_password": PASSWORD, "new_password": "An0therPass"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(s.get("/v1/me", Some(&here)).await.status, StatusCode::OK);
    assert_eq!(s.get("/v1/me", Some(&there)).await.code(), "unauthorized");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let s = TestServer::start().await;
    let session = s.login_on(ZHANG, "phone-ffff-1").await;
    let r = s
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": session.tokens.refresh_token}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let second: TokenPair = r.json();
    assert_ne!(second.refresh_token, session.tokens.refresh_token);
    assert_eq!(
        s.get("/v1/me", Some(&second.access_token)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        s.get("/v1/me", Some(&session.tokens.access_token))
            .await
            .code(),
        "unauthorized",
        "the old access token ends with the rotation"
    );

    // The first refresh token again: a thief or a replay. Everything of this sign-in ends.
    let r = s
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": session.tokens.refresh_token}),
        )
        .await;
    assert_eq!(r.code(), "refresh_reused");
    assert_eq!(
        s.get("/v1/me", Some(&second.access_token)).await.code(),
        "unauthorized"
    );
    let r = s
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": second.refresh_token}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": "rt_made_up"}),
        )
        .await;
    assert_eq!(r.code(), "unauthorized");
}

#[tokio::test]
async fn access_tokens_expire_after_fifteen_minutes() {
    let s = TestServer::start().await;
    let session = s.login_on(ZHANG, "phone-gggg-1").await;
    s.post(
        "/__mock/clock/advance",
        None,
        json!({"seconds": 15 * 60 + 1}),
    )
    .await;
    assert_eq!(
        s.get("/v1/me", Some(&session.tokens.access_token))
            .await
            .code(),
        "token_expired"
    );
    let r = s
        .post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": session.tokens.refresh_token}),
        )
        .await;
    let fresh: TokenPair = r.json();
    assert_eq!(
        s.get("/v1/me", Some(&fresh.access_token)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn devices_list_and_sign_out() {
    let s = TestServer::start().await;
    let a = s.login_on(ZHANG, "phone-hhhh-1").await.tokens.access_token;
    let b = s.login_on(ZHANG, "phone-hhhh-2").await.tokens.access_token;
    let c = s.login_on(ZHANG, "phone-hhhh-3").await.tokens.access_token;
    let list = s.get("/v1/devices", Some(&a)).await;
    let devices = list.body["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 3);
    assert_eq!(devices.iter().filter(|d| d["current"] == true).count(), 1);
    assert!(devices.iter().all(|d| d["signed_in"] == true));

    let r = s
        .send(
            s.req(reqwest::Method::DELETE, "/v1/devices/phone-hhhh-2")
                .bearer_auth(&a),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(s.get("/v1/me", Some(&b)).await.code(), "unauthorized");
    // Forgotten: the next login from it needs a code again.
    let r = s
        .post(
            "/v1/auth/login",
            None,
            login_body(ZHANG, PASSWORD, "phone-hhhh-2"),
        )
        .await;
    assert_eq!(r.body["status"], "otp_required");
    // Another user's device id is simply not found.
    let li = s.login(LI).await;
    let r = s
        .send(
            s.req(reqwest::Method::DELETE, "/v1/devices/phone-hhhh-1")
                .bearer_auth(&li),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = s
        .post("/v1/devices/sign-out-others", Some(&a), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(s.get("/v1/me", Some(&c)).await.code(), "unauthorized");
    assert_eq!(s.get("/v1/me", Some(&a)).await.status, StatusCode::OK);

    let r = s.post("/v1/auth/logout", Some(&a), json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(s.get("/v1/me", Some(&a)).await.code(), "unauthorized");
}

#[tokio::test]
async fn missing_or_malformed_credentials_are_unauthorized() {
    let s = TestServer::start().await;
    assert_eq!(s.get("/v1/me", None).await.code(), "unauthorized");
    assert_eq!(
        s.get("/v1/me", Some("at_forged")).await.code(),
        "unauthorized"
    );
    let r = s
        .send(
            s.req(reqwest::Method::GET, "/v1/me")
                .header("Authorization", "Basic abc"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s
        .post(
            "/v1/auth/login",
            None,
            json!({"phone": "not a phone", "password": "x", "device": device("phone-iiii-1")}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let r = s
        .post(
            "/v1/auth/login",
            None,
            json!({"phone": ZHANG, "password": "x", "device": device("bad id!")}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["field"], "device.device_id");
}
