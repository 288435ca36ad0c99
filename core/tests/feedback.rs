//! Product feedback and surveys against the live mock: feedback written offline (with a
//! screenshot) is filed once when the network returns, even when an answer is lost; staff
//! status changes and replies reach the cached list, readable offline; feedback text and images
//! rest sealed; a survey is answered once per cycle.

mod common;

use std::sync::Arc;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use upay_core::WalletClient;
use upay_core::chat::ChatMessageState;
use upay_core::feedback::{
    FeedbackCategory, FeedbackSendState, FeedbackStatus, SurveyAnswerInput, SurveyQuestionKindView,
};

fn quick_client(base: &str, dir: &std::path::Path) -> Arc<WalletClient> {
    let mut s = settings(base, dir, "feedback-device");
    s.retry.attempts = 1;
    // The test steps through the queue itself: no background sends between its steps.
    s.retry.queue_retry_first = None;
    WalletClient::with_settings(s, key_store(dir)).expect("client opens")
}

async fn server_feedback(mock: &Mock) -> Vec<Value> {
    let v = mock.zhang_get("/v1/feedback").await;
    v["feedback"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn feedback_written_offline_is_filed_once_and_staff_replies_show() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start_with(Some(dir.path().join("mock.db")), None).await;
    let client = quick_client(&mock.base, dir.path());
    sign_in(&client, &mock, ZHANG).await;
    let fb = client.feedback();

    mock.stop().await;
    let first = fb
        .submit(
            FeedbackCategory::Bug,
            "The QR scanner freezes FEEDBACK-SECRET-3141".into(),
            vec![png_with(b"FEEDBACK-IMAGE-2718")],
        )
        .await
        .unwrap();
    assert!(matches!(
        first.send_state,
        FeedbackSendState::Pending | FeedbackSendState::FailedRetryable
    ));
    assert_eq!(first.status, None);
    assert_eq!(first.screenshots, 1);
    let second = fb
        .submit(
            FeedbackCategory::FeatureRequest,
            "Please add dark mode".into(),
            Vec::new(),
        )
        .await
        .unwrap();
    assert!(fb.flush().await.is_err());
    // Offline the list shows both, unsent, newest first.
    let ids: Vec<String> = fb.list().unwrap().into_iter().map(|f| f.id).collect();
    assert_eq!(ids, [second.id.clone(), first.id.clone()]);
    assert!(!cache_contains(dir.path(), b"FEEDBACK-SECRET-3141"));
    assert!(!cache_contains(dir.path(), b"FEEDBACK-IMAGE-2718"));
    // Bad input is refused before it is stored.
    assert!(
        fb.submit(FeedbackCategory::Other, "   ".into(), Vec::new())
            .await
            .is_err()
    );
    assert_eq!(fb.list().unwrap().len(), 2);

    mock.restart().await;
    // The first filing's answer is lost after the server stored it: the resend under the same
    // id returns the same feedback instead of filing it again.
    mock.control(
        Method::POST,
        "/__mock/faults",
        Some(json!({"route": "/v1/feedback/", "method": "PUT",
                    "fault": {"kind": "drop_response"}, "times": 1})),
    )
    .await;
    assert!(fb.flush().await.is_err());
    // A refresh meanwhile brings the filed copy: the list still shows each item once.
    let ids: Vec<String> = fb
        .refresh()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&first.id) && ids.contains(&second.id));
    assert_eq!(fb.flush().await.unwrap(), 2);
    assert_eq!(fb.flush().await.unwrap(), 0);
    let on_server = server_feedback(&mock).await;
    assert_eq!(on_server.len(), 2, "{on_server:?}");
    let filed = on_server
        .iter()
        .find(|f| f["id"] == json!(first.id))
        .unwrap();
    assert_eq!(filed["category"], "bug");
    assert_eq!(filed["attachment_ids"].as_array().unwrap().len(), 1);
    let list = fb.list().unwrap();
    assert!(list.iter().all(|f| f.send_state == FeedbackSendState::Sent));
    assert!(
        list.iter()
            .all(|f| f.status == Some(FeedbackStatus::Received))
    );

    // Staff answer; the user refreshes and then sees it offline too.
    mock.control(
        Method::POST,
        &format!("/__mock/feedback/{}/status", first.id),
        Some(json!({"user_id": ZHANG_ID, "status": "planned",
                    "reply": "Thanks, a fix is planned for the next release."})),
    )
    .await;
    let list = fb.refresh().await.unwrap();
    let f = list.iter().find(|f| f.id == first.id).unwrap();
    assert_eq!(f.status, Some(FeedbackStatus::Planned));
    let reply = f.replies.last().expect("staff reply");
    assert_eq!(reply.status, FeedbackStatus::Planned);
    assert_eq!(
        reply.text.as_deref(),
        Some("Thanks, a fix is planned for the next release.")
    );
    mock.stop().await;
    drop((fb, client));
    let client = quick_client(&mock.base, dir.path());
    let offline = client.feedback().list().unwrap();
    assert_eq!(offline, list);
    assert!(!cache_contains(dir.path(), b"FEEDBACK-SECRET-3141"));
    assert!(!cache_contains(dir.path(), b"a fix is planned"));
}

#[tokio::test]
async fn refused_feedback_fails_for_good_and_does_not_block_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let client = quick_client(&mock.base, dir.path());
    sign_in(&client, &mock, ZHANG).await;
    let fb = client.feedback();
    let bad = fb
        .submit(
            FeedbackCategory::Bug,
            "see the picture".into(),
            vec![b"not an image at all".to_vec()],
        )
        .await
        .unwrap();
    assert_eq!(bad.send_state, FeedbackSendState::FailedPermanent);
    assert_eq!(
        bad.error_code,
        Some(upay_core::ErrorCode::UnsupportedMediaType)
    );
    let good = fb
        .submit(FeedbackCategory::Other, "works now".into(), Vec::new())
        .await
        .unwrap();
    assert_eq!(good.send_state, FeedbackSendState::Sent);
    // Kept (the user's intent), retried only on request.
    assert!(fb.retry(bad.id.clone()).unwrap());
    assert_eq!(fb.flush().await.unwrap(), 0);
    let still = fb.list().unwrap();
    assert!(
        still
            .iter()
            .any(|f| f.id == bad.id && f.send_state == FeedbackSendState::FailedPermanent)
    );
}

#[tokio::test]
async fn a_survey_is_answered_once_per_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let client = quick_client(&mock.base, dir.path());
    sign_in(&client, &mock, ZHANG).await;
    let fb = client.feedback();
    let surveys = fb.surveys().await.unwrap();
    let s = surveys
        .iter()
        .find(|s| s.id == "quarterly-satisfaction")
        .expect("the seeded survey");
    let answers: Vec<SurveyAnswerInput> = s
        .questions
        .iter()
        .map(|q| match q.kind {
            SurveyQuestionKindView::Rating => SurveyAnswerInput {
                question_id: q.id.clone(),
                value: Some(5),
                text: None,
            },
            SurveyQuestionKindView::Scale => SurveyAnswerInput {
                question_id: q.id.clone(),
                value: Some(9),
                text: None,
            },
            SurveyQuestionKindView::Choice => SurveyAnswerInput {
                question_id: q.id.clone(),
                value: Some(q.options.len() as u32 - 1),
                text: None,
            },
            SurveyQuestionKindView::Text => SurveyAnswerInput {
                question_id: q.id.clone(),
                value: None,
                text: Some("More merchants, please".into()),
            },
        })
        .collect();
    // An answer out of range names the field.
    let mut wrong = answers.clone();
    wrong[0].value = Some(6);
    match fb.answer_survey(s.id.clone(), wrong).await.unwrap_err() {
        upay_core::CoreError::Server { code, fields, .. } => {
            assert_eq!(code, upay_core::ErrorCode::ValidationFailed);
            assert!(!fields.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let receipt = fb
        .answer_survey(s.id.clone(), answers.clone())
        .await
        .unwrap();
    assert_eq!(receipt.survey_id, s.id);
    assert!(fb.surveys().await.unwrap().iter().all(|x| x.id != s.id));
    assert_eq!(
        fb.answer_survey(s.id.clone(), answers)
            .await
            .unwrap_err()
            .code(),
        upay_core::ErrorCode::SurveyAlreadyAnswered
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_and_feedback_written_offline_go_when_the_app_reports_the_network_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start_with(Some(dir.path().join("mock.db")), None).await;
    let client = open_client(&mock.base, dir.path(), "device-resume-support");
    sign_in(&client, &mock, ZHANG).await;
    let chat = client.chat();
    let conv = chat.open().await.unwrap();

    mock.stop().await;
    for i in 0..3 {
        let echo = chat.send_text(format!("resume line {i}")).await.unwrap();
        assert_eq!(echo.seq, None);
    }
    client
        .feedback()
        .submit(
            FeedbackCategory::Other,
            "written on the train".into(),
            Vec::new(),
        )
        .await
        .unwrap();

    // No flush call: the platform says the network is back, the core sends both queues.
    mock.restart().await;
    client.network_changed(true);
    eventually(
        "the chat queue is sent",
        std::time::Duration::from_secs(20),
        || {
            chat.messages(50)
                .unwrap()
                .iter()
                .filter(|m| m.text.starts_with("resume line"))
                .all(|m| m.seq.is_some())
        },
    )
    .await;
    let fb = client.feedback();
    eventually(
        "the feedback is filed",
        std::time::Duration::from_secs(20),
        || {
            fb.list()
                .unwrap()
                .iter()
                .all(|f| f.send_state == FeedbackSendState::Sent)
        },
    )
    .await;
    let lines = mock.chat_messages(&conv.id).await;
    let texts: Vec<&str> = lines
        .iter()
        .filter_map(|m| m["text"].as_str())
        .filter(|t| t.starts_with("resume line"))
        .collect();
    assert_eq!(texts, ["resume line 0", "resume line 1", "resume line 2"]);
    assert_eq!(server_feedback(&mock).await.len(), 1);
}

/// Sends the server refused for a passing reason (503) go again on the worker's own backoff
/// schedule: no flush call, no network or foreground signal, no chat socket.
#[tokio::test(flavor = "multi_thread")]
async fn chat_and_feedback_refused_for_a_passing_reason_go_later_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let mut s = settings(&mock.base, dir.path(), "device-retry-support");
    s.retry.attempts = 1;
    s.retry.queue_retry_first = Some(std::time::Duration::from_millis(200));
    s.retry.queue_retry_max = std::time::Duration::from_secs(1);
    let client = WalletClient::with_settings(s, key_store(dir.path())).unwrap();
    sign_in(&client, &mock, ZHANG).await;
    let chat = client.chat();
    let conv = chat.open().await.unwrap();

    // The next three writes of each queue are refused with 503: the app's own send and two
    // of the worker's retries fail, the third retry goes through.
    for route in [
        format!("/v1/support/conversations/{}/messages", conv.id),
        "/v1/feedback/".to_owned(),
    ] {
        mock.control(
            Method::POST,
            "/__mock/faults",
            Some(json!({"route": route, "method": "PUT", "times": 3,
                        "fault": {"kind": "error", "status": 503}})),
        )
        .await;
    }
    let echo = chat.send_text("Is my card blocked?".into()).await.unwrap();
    assert_eq!(echo.state, ChatMessageState::FailedRetryable, "{echo:?}");
    let fb = client.feedback();
    let filed = fb
        .submit(
            FeedbackCategory::Bug,
            "The statement page is blank".into(),
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(filed.send_state, FeedbackSendState::FailedRetryable);

    let timeout = std::time::Duration::from_secs(30);
    eventually("the worker sends the chat message", timeout, || {
        chat.messages(50)
            .unwrap()
            .iter()
            .any(|m| m.local_id == echo.local_id && m.state == ChatMessageState::Sent)
    })
    .await;
    eventually("the worker files the feedback", timeout, || {
        fb.list()
            .unwrap()
            .iter()
            .any(|f| f.id == filed.id && f.send_state == FeedbackSendState::Sent)
    })
    .await;
    // Every refusal was used up (the retries happened), and each item is on the server once.
    let rules = mock.control(Method::GET, "/__mock/faults", None).await;
    assert_eq!(rules["faults"], json!([]), "{rules}");
    let mine = mock
        .chat_messages(&conv.id)
        .await
        .iter()
        .filter(|m| m["text"] == "Is my card blocked?")
        .count();
    assert_eq!(mine, 1);
    assert_eq!(server_feedback(&mock).await.len(), 1);
}
