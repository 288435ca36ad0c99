//! Support chat against the live mock: messages written offline go once and in order after
//! reconnect with their local echo replaced in place; live events are caught up exactly once
//! from the last applied `event_seq`; typing is throttled and never queued; read markers move
//! forward only; chat text is not readable in the cache file.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use upay_core::WalletClient;
use upay_core::chat::{
    ChatHandoff, ChatHandoffReason, ChatMessageState, ChatSender, ChatStatus, ChatTicketStatus,
    ChatTicketTeam,
};

fn quick_client(base: &str, dir: &std::path::Path) -> Arc<WalletClient> {
    let mut s = settings(base, dir, "chat-device");
    // One attempt per call: offline sends fail at once and stay queued.
    s.retry.attempts = 1;
    // The test steps through the queue itself: no background sends between its steps.
    s.retry.queue_retry_first = None;
    WalletClient::with_settings(s, key_store(dir)).expect("client opens")
}

#[tokio::test]
async fn messages_written_offline_arrive_once_in_order_after_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start_with(Some(dir.path().join("mock.db")), None).await;
    let client = quick_client(&mock.base, dir.path());
    sign_in(&client, &mock, ZHANG).await;
    let chat = client.chat();
    let conv = chat.open().await.unwrap();
    assert_eq!(conv.status, ChatStatus::Bot);

    // Online: the echo comes back already replaced by the server's copy, with the bot's reply.
    let first = chat
        .send_text("How long does a withdrawal take to arrive?".into())
        .await
        .unwrap();
    assert_eq!(first.state, ChatMessageState::Sent);
    let first_seq = first.seq.expect("stored");
    let list = chat.messages(50).unwrap();
    let reply = list
        .iter()
        .find(|m| m.in_reply_to == Some(first_seq) && m.sender == ChatSender::Bot)
        .expect("bot reply");
    assert_eq!(reply.sender, ChatSender::Bot);
    assert_eq!(reply.article_id.as_deref(), Some("withdraw-how"));

    mock.stop().await;
    let mut echoes = Vec::new();
    for i in 0..200 {
        let echo = chat.send_text(format!("离线消息 {i:03}")).await.unwrap();
        assert_eq!(echo.seq, None);
        assert!(
            matches!(
                echo.state,
                ChatMessageState::Pending | ChatMessageState::FailedRetryable
            ),
            "{echo:?}"
        );
        echoes.push(echo.local_id);
    }
    // Offline the list shows the echoes after the stored messages, in writing order.
    let list = chat.messages(1000).unwrap();
    let queued: Vec<&str> = list
        .iter()
        .filter(|m| m.seq.is_none())
        .map(|m| m.local_id.as_str())
        .collect();
    assert_eq!(
        queued,
        echoes.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(chat.flush().await.is_err());

    mock.restart().await;
    assert_eq!(chat.flush().await.unwrap(), 200);
    assert_eq!(chat.flush().await.unwrap(), 0);

    // The server has each text once, in order.
    let on_server: Vec<String> = mock
        .chat_messages(&conv.id)
        .await
        .iter()
        .filter(|m| m["sender"] == "user")
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    let mut want = vec!["How long does a withdrawal take to arrive?".to_owned()];
    want.extend((0..200).map(|i| format!("离线消息 {i:03}")));
    assert_eq!(on_server, want);

    // Locally: every echo was replaced in place (same local id, now with a seq), nothing twice.
    let list = chat.messages(1000).unwrap();
    let mine: Vec<_> = list
        .iter()
        .filter(|m| m.sender == ChatSender::User)
        .collect();
    assert_eq!(mine.len(), 201);
    assert!(
        mine.iter()
            .all(|m| m.state == ChatMessageState::Sent && m.seq.is_some())
    );
    let ids: Vec<&str> = mine[1..].iter().map(|m| m.local_id.as_str()).collect();
    assert_eq!(ids, echoes.iter().map(String::as_str).collect::<Vec<_>>());
    let seqs: Vec<u64> = list.iter().filter_map(|m| m.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(seqs.iter().collect::<HashSet<_>>().len(), seqs.len());

    // A reinstall: the newest page comes with `open`, the rest by paging backwards.
    let fresh = tempfile::tempdir().unwrap();
    let again = quick_client(&mock.base, fresh.path());
    sign_in(&again, &mock, ZHANG).await;
    let chat2 = again.chat();
    assert_eq!(chat2.open().await.unwrap().id, conv.id);
    assert!(chat2.messages(1000).unwrap().len() < list.len());
    let mut pages = 0;
    while chat2.load_older(100).await.unwrap() {
        pages += 1;
        assert!(pages < 20);
    }
    let restored = chat2.messages(1000).unwrap();
    let all: Vec<u64> = restored.iter().filter_map(|m| m.seq).collect();
    assert_eq!(all, (1..=all.len() as u64).collect::<Vec<_>>(), "gap-free");
    assert_eq!(all.len(), list.len());
    assert_eq!(
        restored.iter().map(|m| &m.text).collect::<Vec<_>>(),
        list.iter().map(|m| &m.text).collect::<Vec<_>>()
    );
    assert!(!chat2.load_older(100).await.unwrap());
}

#[tokio::test]
async fn bot_to_agent_to_resolution_and_a_rating_with_a_redacted_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let client = quick_client(&mock.base, dir.path());
    sign_in(&client, &mock, ZHANG).await;
    let chat = client.chat();
    let conv = chat.open().await.unwrap();
    let bot = chat.send_text("I forgot my password".into()).await.unwrap();
    chat.send_text("My card 6222 0212 3456 7890 was charged, call me on 13912345678".into())
        .await
        .unwrap();
    chat.send_text("human agent please".into()).await.unwrap();
    let r = chat.poll(0).await.unwrap();
    assert_eq!(r.conversation.status, ChatStatus::Queued);
    assert!(r.conversation.queue_position.is_some());
    let list = chat.messages(100).unwrap();
    assert!(list.iter().any(|m| m.sender == ChatSender::Bot
        && m.in_reply_to == bot.seq
        && m.article_id.as_deref() == Some("password-reset")));
    assert!(list.iter().any(|m| m.sender == ChatSender::System));

    // An agent signs in to the console, answers and resolves.
    let session: Value = mock
        .http
        .post(format!("{}/v1/support/agent/sessions", mock.base))
        .json(&json!({"agent_id": "A001", "password": "Agent1234"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let agent_token = session["token"].as_str().expect("agent token").to_owned();
    reply(&mock, &conv.id, 1).await;
    let r = chat.poll(0).await.unwrap();
    assert_eq!(r.conversation.status, ChatStatus::Assigned);
    assert!(r.conversation.agent_name.is_some());
    let resolved = mock
        .http
        .post(format!(
            "{}/v1/support/agent/conversations/{}/resolve",
            mock.base, conv.id
        ))
        .bearer_auth(&agent_token)
        .send()
        .await
        .unwrap();
    assert!(resolved.status().is_success(), "{}", resolved.status());
    let r = chat.poll(0).await.unwrap();
    assert_eq!(r.conversation.status, ChatStatus::Resolved);
    assert_eq!(r.conversation.agent_name, None);
    let resolution = r.conversation.csat_pending.expect("a rating is requested");

    let rating = chat
        .rate(resolution, 5, Some("很快解决了".into()))
        .await
        .unwrap();
    assert_eq!(rating.state, ChatMessageState::Sent);
    assert_eq!(chat.conversation().unwrap().unwrap().csat_pending, None);
    // A second rating of the same resolution is refused for good, not retried.
    let second = chat.rate(resolution, 1, None).await.unwrap();
    assert_eq!(second.state, ChatMessageState::FailedPermanent);
    assert_eq!(
        second.error_code,
        Some(upay_core::ErrorCode::CsatAlreadyGiven)
    );
    assert_eq!(chat.flush().await.unwrap(), 0);
    assert!(matches!(
        chat.rate(resolution, 6, None).await.unwrap_err(),
        upay_core::CoreError::Client { .. }
    ));

    let path = dir.path().join("transcript.txt");
    let size = chat
        .export_transcript(path.to_str().unwrap().into())
        .await
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(size as usize, text.len());
    assert!(text.contains("I forgot my password"), "{text}");
    assert!(text.contains("[card number removed]"), "{text}");
    assert!(text.contains("[phone number removed]"), "{text}");
    assert!(!text.contains("3456 7890") && !text.contains("13912345678"));
}

#[tokio::test]
async fn events_are_caught_up_exactly_once_and_typing_and_read_markers_behave() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let client = quick_client(&mock.base, dir.path());
    sign_in(&client, &mock, ZHANG).await;
    let chat = client.chat();
    let conv = chat.open().await.unwrap();

    let secret = "我的备注 ZQXJ-7781 不应明文落盘";
    let mine = chat.send_text(secret.into()).await.unwrap();
    let handoff = chat.send_text("转人工".into()).await.unwrap();
    assert!(handoff.seq > mine.seq);

    // Catch up everything so far, then an agent answers three times while we are not polling.
    let caught = chat.poll(0).await.unwrap();
    assert!(caught.applied > 0);
    assert_eq!(caught.conversation.status, ChatStatus::Queued);
    for i in 0..3 {
        mock.control(
            Method::POST,
            &format!("/__mock/support/conversations/{}/agent-reply", conv.id),
            Some(json!({"text": format!("客服回复 {i}")})),
        )
        .await;
    }
    let r = chat.poll(0).await.unwrap();
    assert!(r.applied >= 3, "{r:?}");
    assert_eq!(r.conversation.status, ChatStatus::Assigned);
    assert!(r.conversation.agent_name.is_some());
    assert!(r.conversation.last_event_seq > caught.conversation.last_event_seq);
    // The core acknowledged the agent's messages (delivered): that marker comes back as one
    // more event, applied once; then there is nothing new.
    let again = chat.poll(0).await.unwrap();
    assert_eq!(again.applied, 1);
    let idle = chat.poll(0).await.unwrap();
    assert_eq!(idle.applied, 0);
    assert_eq!(
        idle.conversation.last_event_seq,
        again.conversation.last_event_seq
    );

    let list = chat.messages(200).unwrap();
    let agent: Vec<&str> = list
        .iter()
        .filter(|m| m.sender == ChatSender::Agent)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(agent, vec!["客服回复 0", "客服回复 1", "客服回复 2"]);
    let seqs: Vec<u64> = list.iter().filter_map(|m| m.seq).collect();
    assert_eq!(seqs.iter().collect::<HashSet<_>>().len(), seqs.len());
    // Messages reached the device by the PUT answers and again as events: stored once.
    assert_eq!(list.iter().filter(|m| m.text == secret).count(), 1);

    // Read markers: forward only, never past what the device has.
    let last = *seqs.last().unwrap();
    assert_eq!(chat.mark_read(last + 50).await.unwrap(), last);
    assert_eq!(chat.mark_read(1).await.unwrap(), last);

    // Typing: renewed at most every 3 s, "stopped" only after "typing".
    assert!(chat.set_typing(true).await.unwrap());
    assert!(!chat.set_typing(true).await.unwrap());
    assert!(chat.set_typing(false).await.unwrap());
    assert!(!chat.set_typing(false).await.unwrap());

    // At rest the text is sealed: neither the database nor its WAL holds it.
    let cache = dir.path().join("cache");
    for entry in std::fs::read_dir(&cache).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes
                .windows("ZQXJ-7781".len())
                .any(|w| w == "ZQXJ-7781".as_bytes()),
            "chat text in the clear"
        );
    }

    // A reopened client shows the same conversation from its cache.
    drop((chat, client));
    let client = quick_client(&mock.base, dir.path());
    let cached = client.chat().conversation().unwrap().expect("cached");
    assert_eq!(cached.id, conv.id);
    assert_eq!(cached.last_event_seq, idle.conversation.last_event_seq);
    assert_eq!(client.chat().messages(200).unwrap(), list);
}

#[derive(Default)]
struct Collect(std::sync::Mutex<Vec<upay_core::chat_live::ChatUpdate>>);

impl upay_core::chat_live::ChatListener for Collect {
    fn on_chat_update(&self, update: upay_core::chat_live::ChatUpdate) {
        self.0.lock().unwrap().push(update);
    }
}

impl Collect {
    fn texts(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .flat_map(|u| u.new_messages.iter().map(|m| m.text.clone()))
            .collect()
    }

    fn connects(&self) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|u| u.connected && u.applied == 0 && u.agent_typing.is_none())
            .count()
    }
}

#[tokio::test]
async fn the_live_socket_delivers_agent_replies_and_recovers_missed_events_once() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let client = quick_client(&mock.base, dir.path());
    sign_in(&client, &mock, ZHANG).await;
    let chat = client.chat();
    let conv = chat.open().await.unwrap();
    chat.send_text("转人工".into()).await.unwrap();

    let seen = Arc::new(Collect::default());
    let live = chat.live(seen.clone());
    let s = seen.clone();
    eventually("connected", std::time::Duration::from_secs(10), move || {
        s.connects() >= 1
    })
    .await;
    reply(&mock, &conv.id, 1).await;
    let s = seen.clone();
    eventually(
        "agent reply reaches the listener",
        std::time::Duration::from_secs(10),
        move || s.texts().contains(&"实时回复 1".to_owned()),
    )
    .await;

    // The connection is cut (the app left the chat) and the agent writes meanwhile; a new
    // connection catches up from the last applied event.
    live.stop();
    // The task closes its socket at once; give it that moment so the replies below can only
    // arrive by the catch-up.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = seen.texts().len();
    for i in 2..=3 {
        reply(&mock, &conv.id, i).await;
    }
    assert_eq!(
        seen.texts().len(),
        before,
        "nothing arrives while disconnected"
    );
    let live = chat.live(seen.clone());
    let s = seen.clone();
    eventually(
        "missed replies recovered",
        std::time::Duration::from_secs(10),
        move || s.texts().contains(&"实时回复 3".to_owned()),
    )
    .await;
    // A network change: the socket is replaced at once while the agent keeps writing.
    live.reconnect();
    reply(&mock, &conv.id, 4).await;
    let s = seen.clone();
    eventually(
        "reconnected",
        std::time::Duration::from_secs(10),
        move || s.connects() >= 3,
    )
    .await;
    reply(&mock, &conv.id, 5).await;
    let s = seen.clone();
    eventually(
        "every reply",
        std::time::Duration::from_secs(10),
        move || s.texts().contains(&"实时回复 5".to_owned()),
    )
    .await;
    live.stop();

    let want: Vec<String> = (1..=5).map(|i| format!("实时回复 {i}")).collect();
    let heard: Vec<String> = seen
        .texts()
        .into_iter()
        .filter(|t| t.starts_with("实时回复"))
        .collect();
    assert_eq!(heard, want, "each reply reported once, in order");
    let stored: Vec<String> = chat
        .messages(500)
        .unwrap()
        .into_iter()
        .filter(|m| m.sender == ChatSender::Agent)
        .map(|m| m.text)
        .collect();
    assert_eq!(stored, want);
    assert!(
        seen.0.lock().unwrap().iter().any(|u| !u.connected),
        "the kick was reported"
    );
}

async fn reply(mock: &Mock, conv: &str, i: u32) {
    mock.control(
        Method::POST,
        &format!("/__mock/support/conversations/{conv}/agent-reply"),
        Some(json!({"text": format!("实时回复 {i}")})),
    )
    .await;
}

#[tokio::test]
async fn when_the_socket_cannot_open_updates_come_by_long_poll() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let client = quick_client(&mock.base, dir.path());
    sign_in(&client, &mock, ZHANG).await;
    let chat = client.chat();
    let conv = chat.open().await.unwrap();
    chat.send_text("转人工".into()).await.unwrap();
    chat.poll(0).await.unwrap();
    // Every socket upgrade is refused; plain requests still work.
    mock.fault(
        Some(&format!("/v1/support/conversations/{}/socket", conv.id)),
        json!({"kind": "error", "status": 503}),
        None,
    )
    .await;
    let seen = Arc::new(Collect::default());
    let live = chat.live(seen.clone());
    for i in 1..=2 {
        reply(&mock, &conv.id, i).await;
        let s = seen.clone();
        let want = format!("实时回复 {i}");
        eventually(
            "a reply by long-poll",
            std::time::Duration::from_secs(15),
            move || s.texts().contains(&want),
        )
        .await;
    }
    live.stop();
    assert_eq!(seen.connects(), 0, "no socket was ever open");
    let heard: Vec<String> = seen
        .texts()
        .into_iter()
        .filter(|t| t.starts_with("实时回复"))
        .collect();
    assert_eq!(heard, vec!["实时回复 1", "实时回复 2"]);
}

async fn agent_token(mock: &Mock) -> String {
    let session: Value = mock
        .http
        .post(format!("{}/v1/support/agent/sessions", mock.base))
        .json(&json!({"agent_id": "A001", "password": "Agent1234"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["token"].as_str().expect("agent token").to_owned()
}

#[tokio::test]
async fn screenshots_queued_offline_go_once_in_order_and_rest_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start_with(Some(dir.path().join("mock.db")), None).await;
    let client = quick_client(&mock.base, dir.path());
    sign_in(&client, &mock, ZHANG).await;
    let chat = client.chat();
    let conv = chat.open().await.unwrap();
    let image = png_with(b"SCREENSHOT-SECRET-5521");

    mock.stop().await;
    let before = chat
        .send_text("before the screenshot".into())
        .await
        .unwrap();
    let shot = chat
        .send_screenshots(vec![image.clone()], "the error screen".into())
        .await
        .unwrap();
    let after = chat.send_text("after the screenshot".into()).await.unwrap();
    assert_eq!(shot.seq, None);
    assert!(matches!(
        shot.state,
        ChatMessageState::Pending | ChatMessageState::FailedRetryable
    ));
    assert_eq!(shot.attachments.len(), 1);
    assert!(shot.attachments[0].on_device && shot.attachments[0].attachment_id.is_none());
    // Queued, the image is sealed: its bytes are not in the database or its WAL.
    assert!(!cache_contains(dir.path(), b"SCREENSHOT-SECRET-5521"));
    assert_eq!(
        chat.screenshot(shot.local_id.clone(), 0).await.unwrap(),
        Some(image.clone())
    );

    // An oversized image is refused at once, before anything is queued.
    let big = vec![0u8; 5 * 1024 * 1024 + 1];
    let err = chat
        .send_screenshots(vec![big], String::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), upay_core::ErrorCode::PayloadTooLarge);

    mock.restart().await;
    // Answers lost after the server acted: the upload's, then the message write's. Each flush
    // stops there and the next one goes on; the message is still written once.
    let drop_once = |route: String, method: &str| json!({"route": route, "method": method, "fault": {"kind": "drop_response"}, "times": 1});
    mock.control(
        Method::POST,
        "/__mock/faults",
        Some(drop_once("/v1/support/attachments".into(), "POST")),
    )
    .await;
    assert!(chat.flush().await.is_err());
    mock.control(
        Method::POST,
        "/__mock/faults",
        Some(drop_once(
            format!("/v1/support/conversations/{}/messages", conv.id),
            "PUT",
        )),
    )
    .await;
    assert!(chat.flush().await.is_err());
    assert_eq!(chat.flush().await.unwrap(), 2);
    assert_eq!(chat.flush().await.unwrap(), 0);
    let on_server: Vec<Value> = mock
        .chat_messages(&conv.id)
        .await
        .into_iter()
        .filter(|m| m["sender"] == "user")
        .collect();
    let texts: Vec<&str> = on_server
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "before the screenshot",
            "the error screen",
            "after the screenshot"
        ]
    );
    let ids = on_server[1]["attachment_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 1);
    let list = chat.messages(100).unwrap();
    let sent = list.iter().find(|m| m.local_id == shot.local_id).unwrap();
    assert_eq!(sent.state, ChatMessageState::Sent);
    assert_eq!(
        sent.attachments[0].attachment_id.as_deref(),
        ids[0].as_str()
    );
    assert!(
        list.iter()
            .any(|m| m.local_id == before.local_id && m.seq.is_some())
    );
    assert!(
        list.iter()
            .any(|m| m.local_id == after.local_id && m.seq.is_some())
    );
    // The stored copy on the server is the same image.
    let token = mock.raw_login(ZHANG, "chat-checker").await;
    let served = mock
        .http
        .get(format!(
            "{}/v1/support/attachments/{}",
            mock.base,
            ids[0].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(served.as_ref(), image.as_slice());
    assert!(!cache_contains(dir.path(), b"SCREENSHOT-SECRET-5521"));

    // On another phone the history shows the screenshot; its bytes come from the server once
    // and then rest sealed there too.
    let other_dir = tempfile::tempdir().unwrap();
    let other = WalletClient::with_settings(
        settings(&mock.base, other_dir.path(), "chat-device-2"),
        key_store(other_dir.path()),
    )
    .unwrap();
    sign_in(&other, &mock, ZHANG).await;
    other.chat().open().await.unwrap();
    let there = other.chat().messages(100).unwrap();
    let copy = there.iter().find(|m| m.local_id == shot.local_id).unwrap();
    assert!(!copy.attachments[0].on_device);
    assert_eq!(
        other
            .chat()
            .screenshot(shot.local_id.clone(), 0)
            .await
            .unwrap(),
        Some(image.clone())
    );
    let copy = other.chat().messages(100).unwrap();
    let copy = copy.iter().find(|m| m.local_id == shot.local_id).unwrap();
    assert!(copy.attachments[0].on_device);
    assert!(!cache_contains(other_dir.path(), b"SCREENSHOT-SECRET-5521"));

    // A file that is not an image, and a damaged PNG, fail for good with the server's code;
    // the queue goes on behind them.
    let not_image = chat
        .send_screenshots(
            vec![b"just some text, not a picture".to_vec()],
            String::new(),
        )
        .await
        .unwrap();
    assert_eq!(not_image.state, ChatMessageState::FailedPermanent);
    assert_eq!(
        not_image.error_code,
        Some(upay_core::ErrorCode::UnsupportedMediaType)
    );
    let mut damaged = image.clone();
    damaged.truncate(20);
    let broken = chat
        .send_screenshots(vec![damaged], String::new())
        .await
        .unwrap();
    assert_eq!(broken.state, ChatMessageState::FailedPermanent);
    assert_eq!(broken.error_code, Some(upay_core::ErrorCode::ImageInvalid));
    let next = chat.send_text("still going".into()).await.unwrap();
    assert_eq!(next.state, ChatMessageState::Sent);
    // Retry puts it back; the server's verdict is the same.
    assert!(chat.retry(broken.local_id.clone()).unwrap());
    assert_eq!(chat.flush().await.unwrap(), 0);
    let again = chat.messages(200).unwrap();
    let b = again
        .iter()
        .find(|m| m.local_id == broken.local_id)
        .unwrap();
    assert_eq!(b.state, ChatMessageState::FailedPermanent);
}

#[tokio::test]
async fn a_seq_gap_is_filled_before_showing_and_nothing_shows_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let client = quick_client(&mock.base, dir.path());
    sign_in(&client, &mock, ZHANG).await;
    let chat = client.chat();
    let conv = chat.open().await.unwrap();
    chat.send_text("hello there".into()).await.unwrap();
    // An agent writes while this device does not listen.
    reply(&mock, &conv.id, 1).await;
    reply(&mock, &conv.id, 2).await;
    // Our next message's seq jumps over the agent's: the core fetches what is in between.
    let mine = chat.send_text("are you there?".into()).await.unwrap();
    let list = chat.messages(200).unwrap();
    let seqs: Vec<u64> = list.iter().filter_map(|m| m.seq).collect();
    let top = mine.seq.unwrap();
    assert_eq!(seqs, (1..=top).collect::<Vec<_>>(), "no hole, no repeat");
    assert!(list.iter().any(|m| m.text == "实时回复 1"));
    assert!(list.iter().any(|m| m.text == "实时回复 2"));
    // The same messages arriving again as events are not shown twice.
    chat.poll(0).await.unwrap();
    let again = chat.messages(200).unwrap();
    let mut unique = HashSet::new();
    assert!(again.iter().all(|m| unique.insert(m.local_id.clone())));
    assert_eq!(
        again.iter().filter_map(|m| m.seq).collect::<Vec<_>>(),
        (1..=top).collect::<Vec<_>>()
    );
    // The agent's messages reached the device: the core told the server (delivered, not read).
    let server = mock
        .zhang_get(&format!("/v1/support/conversations/{}", conv.id))
        .await;
    assert_eq!(server["receipts"]["user_delivered_seq"], json!(top));
    assert_eq!(server["receipts"]["user_read_seq"], json!(0));
    assert_eq!(chat.mark_read(top).await.unwrap(), top);
    let server = mock
        .zhang_get(&format!("/v1/support/conversations/{}", conv.id))
        .await;
    assert_eq!(server["receipts"]["user_read_seq"], json!(top));
}

#[tokio::test]
async fn bot_to_waiting_to_agent_to_ticket_to_resolution_and_rating() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let client = quick_client(&mock.base, dir.path());
    sign_in(&client, &mock, ZHANG).await;
    let chat = client.chat();
    let conv = chat.open().await.unwrap();
    assert_eq!(conv.handoff, ChatHandoff::Bot);
    assert_eq!(conv.handoff_reason, None);

    chat.send_text("转人工".into()).await.unwrap();
    let r = chat.poll(0).await.unwrap();
    let ChatHandoff::Waiting { queue_position } = r.conversation.handoff else {
        panic!("{:?}", r.conversation.handoff)
    };
    assert_eq!(queue_position, Some(1));
    assert_eq!(
        r.conversation.handoff_reason,
        Some(ChatHandoffReason::Requested)
    );

    let agent = agent_token(&mock).await;
    reply(&mock, &conv.id, 1).await;
    let r = chat.poll(0).await.unwrap();
    let ChatHandoff::Agent { name } = &r.conversation.handoff else {
        panic!("{:?}", r.conversation.handoff)
    };
    assert!(!name.is_empty());

    // The agent hands it to the technical team: a ticket the user can follow.
    let t: Value = mock
        .http
        .post(format!(
            "{}/v1/support/agent/conversations/{}/ticket",
            mock.base, conv.id
        ))
        .bearer_auth(&agent)
        .json(&json!({"subject": "Withdrawal stuck", "note": "bank reference missing"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ticket_id = t["id"].as_str().unwrap().to_owned();
    let r = chat.poll(0).await.unwrap();
    let ticket = r.conversation.ticket.clone().expect("ticket shown");
    assert_eq!(ticket.id, ticket_id);
    assert_eq!(ticket.status, ChatTicketStatus::InProgress);
    assert_eq!(ticket.team, ChatTicketTeam::Technical);

    let resolved = mock
        .http
        .post(format!(
            "{}/v1/support/agent/conversations/{}/resolve",
            mock.base, conv.id
        ))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert!(resolved.status().is_success());
    let r = chat.poll(0).await.unwrap();
    assert_eq!(r.conversation.status, ChatStatus::Resolved);
    assert_eq!(
        r.conversation.handoff,
        ChatHandoff::Ticket {
            ticket_id: ticket_id.clone(),
            status: ChatTicketStatus::InProgress
        }
    );
    let resolution = r.conversation.csat_pending.expect("rating requested");

    // The technical team resolves the ticket (control API).
    mock.control(
        Method::POST,
        &format!("/__mock/support/tickets/{ticket_id}/status"),
        Some(json!({"status": "resolved", "note": "refunded"})),
    )
    .await;
    let r = chat.poll(0).await.unwrap();
    assert_eq!(r.conversation.handoff, ChatHandoff::Resolved);
    assert_eq!(
        r.conversation.ticket.as_ref().map(|t| t.status),
        Some(ChatTicketStatus::Resolved)
    );
    assert_eq!(chat.tickets().unwrap().len(), 1);

    let rating = chat.rate(resolution, 4, None).await.unwrap();
    assert_eq!(rating.state, ChatMessageState::Sent);
    assert_eq!(chat.conversation().unwrap().unwrap().csat_pending, None);

    // Offline, the header still knows the ticket.
    drop((chat, client));
    let client = quick_client(&closed_port_base(), dir.path());
    let cached = client.chat().conversation().unwrap().unwrap();
    assert_eq!(cached.ticket.map(|t| t.id), Some(ticket_id));
}

#[tokio::test]
async fn the_json_transcript_is_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let client = quick_client(&mock.base, dir.path());
    sign_in(&client, &mock, ZHANG).await;
    let chat = client.chat();
    chat.open().await.unwrap();
    chat.send_text("Card 6222-0212-3456-7890 and phone +44 7700 900123 or 13912345678".into())
        .await
        .unwrap();
    let path = dir.path().join("transcript.json");
    let size = chat
        .export_transcript_json(path.to_str().unwrap().into())
        .await
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(size as usize, bytes.len());
    let t: upay_protocol::api::support::Transcript = serde_json::from_slice(&bytes).unwrap();
    let mine = t
        .messages
        .iter()
        .find(|m| m.sender == upay_protocol::api::support::SenderRole::User)
        .unwrap();
    assert!(mine.text.contains("[card number removed]"), "{}", mine.text);
    assert!(
        mine.text.contains("[phone number removed]"),
        "{}",
        mine.text
    );
    let raw = String::from_utf8(bytes).unwrap();
    assert!(!raw.contains("3456-7890") && !raw.contains("13912345678") && !raw.contains("900123"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_live_connection_sends_the_queue_and_acknowledges_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Mock::start_with(Some(dir.path().join("mock.db")), None).await;
    let client = quick_client(&mock.base, dir.path());
    sign_in(&client, &mock, ZHANG).await;
    let chat = client.chat();
    let conv = chat.open().await.unwrap();

    mock.stop().await;
    for i in 0..3 {
        chat.send_text(format!("queued while offline {i}"))
            .await
            .unwrap();
    }
    mock.restart().await;
    // No flush call: the connection sends what waited, in order.
    let seen = Arc::new(Collect::default());
    let live = chat.live(seen.clone());
    let c = chat.clone();
    eventually(
        "the queue is sent",
        std::time::Duration::from_secs(10),
        move || c.messages(100).unwrap().iter().all(|m| m.seq.is_some()),
    )
    .await;
    let texts: Vec<String> = mock
        .chat_messages(&conv.id)
        .await
        .iter()
        .filter(|m| m["sender"] == "user")
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        texts,
        (0..3)
            .map(|i| format!("queued while offline {i}"))
            .collect::<Vec<_>>()
    );

    // An agent's message reaches the listener, and the core tells the server it was delivered
    // (not read: nothing was shown yet).
    reply(&mock, &conv.id, 1).await;
    let s = seen.clone();
    eventually(
        "agent reply reaches the listener",
        std::time::Duration::from_secs(10),
        move || s.texts().contains(&"实时回复 1".to_owned()),
    )
    .await;
    let agent_seq = chat
        .messages(100)
        .unwrap()
        .iter()
        .filter(|m| m.sender == ChatSender::Agent)
        .filter_map(|m| m.seq)
        .max()
        .unwrap();
    let mut delivered = 0;
    for _ in 0..100 {
        let server = mock
            .zhang_get(&format!("/v1/support/conversations/{}", conv.id))
            .await;
        delivered = server["receipts"]["user_delivered_seq"].as_u64().unwrap();
        if delivered >= agent_seq {
            assert_eq!(server["receipts"]["user_read_seq"], json!(0));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(delivered >= agent_seq, "{delivered} < {agent_seq}");
    live.stop();
}

#[tokio::test]
async fn a_ticket_the_user_opens_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let client = quick_client(&mock.base, dir.path());
    sign_in(&client, &mock, ZHANG).await;
    let chat = client.chat();
    chat.open().await.unwrap();
    chat.send_text("My top-up failed twice".into())
        .await
        .unwrap();

    let t = chat
        .create_ticket("Top-up failed".into(), "Twice with the same card".into())
        .await
        .unwrap();
    assert_eq!(t.status, ChatTicketStatus::Open);
    assert_eq!(t.team, ChatTicketTeam::Support);
    // Asking again returns the same unresolved ticket.
    let again = chat
        .create_ticket("Top-up failed".into(), String::new())
        .await
        .unwrap();
    assert_eq!(again.id, t.id);
    let r = chat.poll(0).await.unwrap();
    assert_eq!(
        r.conversation.handoff,
        ChatHandoff::Ticket {
            ticket_id: t.id.clone(),
            status: ChatTicketStatus::Open
        }
    );

    // The team asks the user something; the user answers; the ticket goes back to the team.
    mock.control(
        Method::POST,
        &format!("/__mock/support/tickets/{}/status", t.id),
        Some(json!({"status": "waiting_for_user", "note": "Which card?"})),
    )
    .await;
    let r = chat.poll(0).await.unwrap();
    assert_eq!(
        r.conversation.ticket.as_ref().map(|t| t.status),
        Some(ChatTicketStatus::WaitingForUser)
    );
    let answered = chat
        .comment_ticket(t.id.clone(), "The card ending 0005".into())
        .await
        .unwrap();
    assert_eq!(answered.status, ChatTicketStatus::InProgress);
    assert_eq!(
        chat.tickets().unwrap()[0].status,
        ChatTicketStatus::InProgress
    );
    assert!(
        chat.comment_ticket("T../x".into(), "hi".into())
            .await
            .is_err()
    );
}
