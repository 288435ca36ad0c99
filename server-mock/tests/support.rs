//! Support chat over HTTP: idempotent writes, gap-free seqs under concurrency, paging, the bot's
//! handoff and queue, the agent's side, tickets, ratings, transcripts and the console page.

mod common;
mod support_kit;

use std::collections::HashSet;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support_kit::*;

async fn events(s: &TestServer, token: &str, conv: &str, after: u64) -> Vec<Value> {
    let r = s
        .get(
            &format!("/v1/support/conversations/{conv}/events?after_event_seq={after}&wait_secs=0"),
            Some(token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["events"].as_array().unwrap().clone()
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn messages(s: &TestServer, token: &str, conv: &str, query: &str) -> Value {
    let r = s
        .get(
            &format!("/v1/support/conversations/{conv}/messages?{query}"),
            Some(token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test]
async fn resending_the_same_client_msg_id_five_times_makes_one_message() {
    let s = TestServer::start().await;
    let token = s.login(ZHANG).await;
    let conv = open_conversation(&s, &token, "zh-CN").await;
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(say(&s, &token, &conv, "msg-1", "zh-CN", "提现多久到账").await);
    }
    assert_eq!(answers[0].status, StatusCode::CREATED);
    for a in &answers[1..] {
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(
            a.body, answers[0].body,
            "a resend returns the same message and replies"
        );
    }
    assert_eq!(answers[0].body["message"]["client_msg_id"], "msg-1");
    assert_eq!(answers[0].body["message"]["seq"], 1);
    let page = messages(&s, &token, &conv, "").await;
    let all = page["messages"].as_array().unwrap();
    let users: Vec<&Value> = all.iter().filter(|m| m["sender"] == "user").collect();
    assert_eq!(users.len(), 1, "one user message: {page}");
    assert_eq!(all.len(), 2, "the message and the bot's one answer");
    // The same id with other content is a client bug, not a new message.
    let reused = say(&s, &token, &conv, "msg-1", "zh-CN", "别的内容").await;
    assert_eq!(
        (reused.status, reused.code()),
        (StatusCode::CONFLICT, "client_id_reused")
    );
    let bad = say(&s, &token, &conv, "bad id!", "zh-CN", "hi").await;
    assert_eq!(bad.code(), "validation_failed");
    let empty = say(&s, &token, &conv, "msg-2", "zh-CN", "   ").await;
    assert_eq!(empty.code(), "validation_failed");
}

#[tokio::test]
async fn concurrent_senders_get_strictly_increasing_gap_free_seqs() {
    let s = TestServer::start().await;
    let user = s.login(ZHANG).await;
    let phone2 = s.login_on(ZHANG, "test-device-2").await.tokens.access_token;
    let agent = agent_login(&s, "A001").await;
    let conv = open_conversation(&s, &user, "en").await;
    // With an agent on it, the bot stays quiet and only the senders write.
    let pick = s
        .post(
            &format!("/v1/support/agent/conversations/{conv}/pick"),
            Some(&agent),
            json!({}),
        )
        .await;
    assert_eq!(pick.status, StatusCode::OK, "{}", pick.body);
    let before = pick.body["conversation"]["last_seq"].as_u64().unwrap();

    let mut tasks = Vec::new();
    for i in 0..60 {
        let (path, token) = match i % 3 {
            0 => (
                format!("/v1/support/conversations/{conv}/messages/u1-{i}"),
                user.clone(),
            ),
            1 => (
                format!("/v1/support/conversations/{conv}/messages/u2-{i}"),
                phone2.clone(),
            ),
            _ => (
                format!("/v1/support/agent/conversations/{conv}/messages/a-{i}"),
                agent.clone(),
            ),
        };
        let client = s.client.clone();
        let url = format!("{}{}", s.base, path);
        tasks.push(tokio::spawn(async move {
            let r = client
                .put(url)
                .bearer_auth(token)
                .json(&json!({"text": format!("message {i}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let v: Value = r.json().await.unwrap();
            v["message"]["seq"].as_u64().unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    let unique: HashSet<u64> = seqs.iter().copied().collect();
    assert_eq!(unique.len(), 60, "every sender got its own seq");
    let mut sorted = seqs.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ((before + 1)..=(before + 60)).collect::<Vec<_>>(),
        "no gaps"
    );
    // The stored order is the seq order, with nothing in between.
    let page = messages(&s, &user, &conv, "limit=200").await;
    let stored: Vec<u64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(stored, (1..=before + 60).collect::<Vec<_>>());
    // Events are gap-free too.
    let evs = events(&s, &user, &conv, 0).await;
    let ev_seqs: Vec<u64> = evs
        .iter()
        .map(|e| e["event_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(ev_seqs, (1..=ev_seqs.len() as u64).collect::<Vec<_>>());
}

#[tokio::test]
async fn paging_backwards_and_catching_up() {
    let s = TestServer::start().await;
    let user = s.login(ZHANG).await;
    let conv = open_conversation(&s, &user, "en").await;
    set_agent_online(&s, "A001", true).await;
    let r = s
        .post(
            &format!("/__mock/support/conversations/{conv}/agent-reply"),
            None,
            json!({"text": "Hello, how can I help?"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    for i in 0..30 {
        let r = say(
            &s,
            &user,
            &conv,
            &format!("p{i}"),
            "en",
            &format!("line {i}"),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let newest = messages(&s, &user, &conv, "limit=10").await;
    let seqs = |v: &Value| -> Vec<u64> {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect()
    };
    let last = seqs(&newest)[9];
    assert_eq!(seqs(&newest), ((last - 9)..=last).collect::<Vec<_>>());
    assert_eq!(newest["has_more"], true);
    let older = messages(
        &s,
        &user,
        &conv,
        &format!("before_seq={}&limit=10", last - 9),
    )
    .await;
    assert_eq!(
        seqs(&older),
        ((last - 19)..=(last - 10)).collect::<Vec<_>>()
    );
    let tail = messages(
        &s,
        &user,
        &conv,
        &format!("after_seq={}&limit=100", last - 3),
    )
    .await;
    assert_eq!(seqs(&tail), ((last - 2)..=last).collect::<Vec<_>>());
    assert_eq!(tail["has_more"], false);
    let first = messages(&s, &user, &conv, "before_seq=3").await;
    assert_eq!(seqs(&first), vec![1, 2]);
    assert_eq!(first["has_more"], false);
    let bad = s
        .get(
            &format!("/v1/support/conversations/{conv}/messages?limit=0"),
            Some(&user),
        )
        .await;
    assert_eq!(bad.code(), "validation_failed");
}

#[tokio::test]
async fn handoff_with_no_agent_online_says_so_and_offers_a_ticket() {
    let s = TestServer::start().await;
    let user = s.login(ZHANG).await;
    let conv = open_conversation(&s, &user, "zh-CN").await;
    let r = say(&s, &user, &conv, "m1", "zh-CN", "转人工").await;
    let replies = r.body["replies"].as_array().unwrap();
    assert_eq!(replies[0]["sender"], "bot");
    assert_eq!(replies[0]["bot"]["handoff"], "requested");
    assert_eq!(replies[1]["sender"], "system");
    assert!(
        replies[1]["text"]
            .as_str()
            .unwrap()
            .contains("暂无人工客服在线")
    );
    assert!(
        replies[1]["actions"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "create_ticket"}))
    );
    let c = s
        .get(&format!("/v1/support/conversations/{conv}"), Some(&user))
        .await;
    assert_eq!(c.body["status"], "queued");
    assert_eq!(c.body["queue_position"], 1);
    let evs = events(&s, &user, &conv, 0).await;
    let queue = evs
        .iter()
        .find(|e| e["event"]["type"] == "queue_position")
        .unwrap();
    assert_eq!(queue["event"]["agents_online"], 0);
    // English speakers get it in English.
    let li = s.login(LI).await;
    let conv2 = open_conversation(&s, &li, "en").await;
    let r = say(&s, &li, &conv2, "m1", "en", "I want to talk to a human").await;
    assert!(
        r.body["replies"][1]["text"]
            .as_str()
            .unwrap()
            .contains("No agent is online")
    );
    assert!(
        r.body["replies"][1]["text"]
            .as_str()
            .unwrap()
            .contains("position 2")
    );

    // Taking the offer: the bot opens a ticket while the user waits.
    let r = say(&s, &user, &conv, "m2", "zh-CN", "帮我提交工单").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let tickets = s.get("/v1/support/tickets", Some(&user)).await;
    let t = &tickets.body["tickets"][0];
    assert_eq!(t["created_by"], "bot");
    assert_eq!(t["status"], "open");
    assert_eq!(t["conversation_id"], conv.as_str());
    assert_eq!(t["subject"], "转人工");

    // An agent coming online is announced to everyone waiting.
    let after = c.body["last_event_seq"].as_u64().unwrap();
    set_agent_online(&s, "A002", true).await;
    let evs = events(&s, &user, &conv, after).await;
    let q = evs
        .iter()
        .rev()
        .find(|e| e["event"]["type"] == "queue_position")
        .unwrap();
    assert_eq!(q["event"]["agents_online"], 1);
}

#[tokio::test]
async fn queue_positions_move_when_an_agent_picks_up() {
    let s = TestServer::start().await;
    set_agent_online(&s, "A001", true).await;
    let zhang = s.login(ZHANG).await;
    let li = s.login(LI).await;
    let c1 = open_conversation(&s, &zhang, "zh-CN").await;
    let c2 = open_conversation(&s, &li, "en").await;
    let r = say(&s, &zhang, &c1, "a", "zh-CN", "我被骗了，钱被转走了").await;
    assert_eq!(r.body["replies"][0]["bot"]["handoff"], "sensitive_topic");
    assert!(
        r.body["replies"][1]["text"]
            .as_str()
            .unwrap()
            .contains("第 1 位")
    );
    let r = say(&s, &li, &c2, "a", "en", "agent please").await;
    assert!(
        r.body["replies"][1]["text"]
            .as_str()
            .unwrap()
            .contains("position 2")
    );
    let seen = s
        .get(&format!("/v1/support/conversations/{c2}"), Some(&li))
        .await;
    let mark = seen.body["last_event_seq"].as_u64().unwrap();

    let agent = agent_login(&s, "A002").await;
    let queue = s.get("/v1/support/agent/queue", Some(&agent)).await;
    let waiting: Vec<&str> = queue.body["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["conversation"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        waiting,
        [c1.as_str(), c2.as_str()],
        "first come, first served"
    );
    assert_eq!(queue.body["waiting"][0]["preview"], "我被骗了，钱被转走了");
    let pick = s
        .post(
            &format!("/v1/support/agent/conversations/{c1}/pick"),
            Some(&agent),
            json!({}),
        )
        .await;
    assert_eq!(pick.status, StatusCode::OK);
    let evs = events(&s, &li, &c2, mark).await;
    let q = evs
        .iter()
        .rev()
        .find(|e| e["event"]["type"] == "queue_position")
        .unwrap();
    assert_eq!(q["event"]["position"], 1);
    let evs = events(&s, &zhang, &c1, 0).await;
    let k = kinds(&evs);
    assert!(k.contains(&"agent_joined".to_owned()), "{k:?}");
    let joined = evs
        .iter()
        .find(|e| e["event"]["type"] == "agent_joined")
        .unwrap();
    assert_eq!(joined["event"]["agent"]["name"], "Alex");
    // Someone else cannot take it now.
    let other = agent_login(&s, "A001").await;
    let r = s
        .post(
            &format!("/v1/support/agent/conversations/{c1}/pick"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "conversation_taken")
    );
    let r = s
        .get(
            &format!("/v1/support/agent/conversations/{c1}"),
            Some(&other),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn agent_flow_reply_typing_receipts_ticket_resolve_and_rating() {
    let s = TestServer::start().await;
    let user = s.login(ZHANG).await;
    let agent = agent_login(&s, "A001").await;
    let conv = open_conversation(&s, &user, "zh-CN").await;
    say(&s, &user, &conv, "m1", "zh-CN", "人工客服").await;
    // An agent's token is not a user's: the user's socket refuses it.
    assert_eq!(
        try_socket(
            &s,
            &format!("/v1/support/conversations/{conv}/socket"),
            &agent
        )
        .await
        .err(),
        Some(401)
    );
    let mut user_ws = socket(
        &s,
        &format!("/v1/support/conversations/{conv}/socket"),
        &user,
    )
    .await;
    let mut last = 0;
    while let Some(e) = next_json(&mut user_ws, 300).await {
        last = e["event_seq"].as_u64().unwrap();
    }
    let mut agent_ws = socket(&s, "/v1/support/agent/socket", &agent).await;
    let hello = next_json(&mut agent_ws, 2000).await.unwrap();
    assert_eq!(hello, json!({"type": "queue_changed", "waiting": 1}));

    // Pick up: the customer panel shows the account and its history.
    let view = s
        .post(
            &format!("/v1/support/agent/conversations/{conv}/pick"),
            Some(&agent),
            json!({}),
        )
        .await;
    assert_eq!(view.status, StatusCode::OK, "{}", view.body);
    assert_eq!(view.body["customer"]["user_id"], ZHANG_ID);
    assert_eq!(view.body["customer"]["account_status"], "active");
    assert_eq!(view.body["customer"]["phone_masked"], "138****8000");

    // Agent typing reaches the user live and is never stored.
    let r = s
        .post(
            &format!("/v1/support/agent/conversations/{conv}/typing"),
            Some(&agent),
            json!({"typing": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let mut saw_typing = false;
    while let Some(e) = next_json(&mut user_ws, 500).await {
        if e["event"]["type"] == "typing" {
            assert_eq!(e["event"]["by"], "agent");
            assert!(e.get("event_seq").is_none());
            saw_typing = true;
            break;
        }
        last = e["event_seq"].as_u64().unwrap();
    }
    assert!(saw_typing);
    // The user typing over the socket reaches the agent.
    send_json(&mut user_ws, json!({"type": "typing", "typing": true})).await;
    let mut agent_saw_typing = false;
    while let Some(f) = next_json(&mut agent_ws, 1000).await {
        if f["type"] == "event" && f["event"]["event"]["type"] == "typing" {
            assert_eq!(f["event"]["event"]["by"], "user");
            agent_saw_typing = true;
            break;
        }
    }
    assert!(agent_saw_typing);

    // The agent replies; the user's socket gets it.
    let r = s
        .send(
            s.req(
                Method::PUT,
                &format!("/v1/support/agent/conversations/{conv}/messages/r1"),
            )
            .bearer_auth(&agent)
            .json(&json!({"text": "您好，我是小美，请问遇到了什么问题？"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let reply_seq = r.body["message"]["seq"].as_u64().unwrap();
    let mut got = None;
    while let Some(e) = next_json(&mut user_ws, 1000).await {
        let seq = e["event_seq"].as_u64();
        if let Some(seq) = seq {
            assert_eq!(seq, last + 1, "events arrive in order without gaps");
            last = seq;
        }
        if e["event"]["type"] == "message" && e["event"]["message"]["sender"] == "agent" {
            got = Some(e);
            break;
        }
    }
    let got = got.expect("agent reply on the user's socket");
    assert_eq!(got["event"]["message"]["sender_name"], "小美");

    // Read receipts: the user reads up to the reply over the socket; the agent sees it.
    send_json(
        &mut user_ws,
        json!({"type": "read", "up_to_seq": reply_seq}),
    )
    .await;
    let mut read = None;
    while let Some(f) = next_json(&mut agent_ws, 1000).await {
        if f["event"]["event"]["type"] == "read" {
            read = Some(f);
            break;
        }
    }
    let read = read.expect("read receipt reaches the agent");
    assert_eq!(read["event"]["event"]["by"], "user");
    assert_eq!(read["event"]["event"]["up_to_seq"], reply_seq);
    let c = s
        .get(&format!("/v1/support/conversations/{conv}"), Some(&user))
        .await;
    assert_eq!(c.body["receipts"]["user_read_seq"], reply_seq);
    assert_eq!(c.body["receipts"]["user_delivered_seq"], reply_seq);
    // Markers never move back nor beyond the newest message.
    let r = s
        .post(
            &format!("/v1/support/conversations/{conv}/receipts"),
            Some(&user),
            json!({"read_up_to_seq": 1}),
        )
        .await;
    assert_eq!(r.body["receipts"]["user_read_seq"], reply_seq);
    let r = s
        .post(
            &format!("/v1/support/conversations/{conv}/receipts"),
            Some(&user),
            json!({"read_up_to_seq": 999}),
        )
        .await;
    assert_eq!(r.code(), "validation_failed");

    // Transfer to the technical team.
    let t = s
        .post(
            &format!("/v1/support/agent/conversations/{conv}/ticket"),
            Some(&agent),
            json!({"subject": "APP 闪退", "note": "Android 14, 打开账单即闪退"}),
        )
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.body);
    assert_eq!(t.body["status"], "in_progress");
    assert_eq!(t.body["team"], "technical");
    let ticket_id = t.body["id"].as_str().unwrap().to_owned();
    let mine = s.get("/v1/support/tickets", Some(&user)).await;
    assert_eq!(mine.body["tickets"][0]["id"], ticket_id.as_str());
    // The technical team needs more from the user, who answers.
    let r = s
        .post(
            &format!("/__mock/support/tickets/{ticket_id}/status"),
            None,
            json!({"status": "waiting_for_user", "note": "请提供手机型号"}),
        )
        .await;
    assert_eq!(r.body["status"], "waiting_for_user");
    let r = s
        .post(
            &format!("/v1/support/tickets/{ticket_id}/comments"),
            Some(&user),
            json!({"text": "小米 14"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "in_progress");
    let history: Vec<&str> = r.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["in_progress", "waiting_for_user", "in_progress"]);

    // Resolve: the user is asked to rate, once.
    let r = s
        .post(
            &format!("/v1/support/agent/conversations/{conv}/resolve"),
            Some(&agent),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "resolved");
    assert_eq!(r.body["csat_pending"], 1);
    let mut csat_request = false;
    while let Some(e) = next_json(&mut user_ws, 1000).await {
        if e["event"]["type"] == "csat_request" {
            assert_eq!(e["event"]["resolution"], 1);
            csat_request = true;
            break;
        }
    }
    assert!(csat_request);
    let rate = |cmid: &'static str, score: u8| {
        let s = &s;
        let user = user.clone();
        let conv = conv.clone();
        async move {
            s.send(
                s.req(
                    Method::PUT,
                    &format!("/v1/support/conversations/{conv}/messages/{cmid}"),
                )
                .bearer_auth(&user)
                .json(&json!({"csat": {"resolution": 1, "score": score, "comment": "很快解决了"}})),
            )
            .await
        }
    };
    let first = rate("rate-1", 5).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["message"]["csat"]["score"], 5);
    let again = rate("rate-1", 5).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);
    let twice = rate("rate-2", 1).await;
    assert_eq!(
        (twice.status, twice.code()),
        (StatusCode::CONFLICT, "csat_already_given")
    );
    let c = s
        .get(&format!("/v1/support/conversations/{conv}"), Some(&user))
        .await;
    assert_eq!(c.body["status"], "resolved", "a rating does not reopen");
    assert!(c.body.get("csat_pending").is_none());
    let wrong = s
        .send(
            s.req(
                Method::PUT,
                &format!("/v1/support/conversations/{conv}/messages/rate-3"),
            )
            .bearer_auth(&user)
            .json(&json!({"csat": {"resolution": 7, "score": 3}})),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::CONFLICT, "csat_not_requested")
    );
    let bad = s
        .send(
            s.req(
                Method::PUT,
                &format!("/v1/support/conversations/{conv}/messages/rate-4"),
            )
            .bearer_auth(&user)
            .json(&json!({"csat": {"resolution": 1, "score": 6}})),
        )
        .await;
    assert_eq!(bad.code(), "validation_failed");

    // Writing again reopens the conversation with the bot, history kept.
    let r = say(&s, &user, &conv, "m9", "zh-CN", "又闪退了").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["replies"][0]["bot"]["article_id"], "app-crash");
    let c = s
        .get(&format!("/v1/support/conversations/{conv}"), Some(&user))
        .await;
    assert_eq!(c.body["status"], "bot");
    assert_eq!(c.body["resolutions"], 1);
    let list = s.get("/v1/support/conversations", Some(&user)).await;
    assert_eq!(list.body["conversations"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_user_can_open_a_ticket_and_gets_the_same_one_twice() {
    let s = TestServer::start().await;
    let user = s.login(LI).await;
    let conv = open_conversation(&s, &user, "en").await;
    say(
        &s,
        &user,
        &conv,
        "m1",
        "en",
        "my withdrawal has not arrived",
    )
    .await;
    let body = json!({"conversation_id": conv, "subject": "Withdrawal missing", "description": "Since Monday"});
    let first = s
        .post("/v1/support/tickets", Some(&user), body.clone())
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["status"], "open");
    assert_eq!(first.body["created_by"], "user");
    let second = s.post("/v1/support/tickets", Some(&user), body).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body["id"], first.body["id"]);
    let id = first.body["id"].as_str().unwrap();
    let got = s
        .get(&format!("/v1/support/tickets/{id}"), Some(&user))
        .await;
    assert_eq!(got.body["subject"], "Withdrawal missing");
    let evs = events(&s, &user, &conv, 0).await;
    assert!(kinds(&evs).contains(&"ticket_status".to_owned()));
    let r = s
        .post(
            &format!("/__mock/support/tickets/{id}/status"),
            None,
            json!({"status": "resolved", "note": "Refunded"}),
        )
        .await;
    assert_eq!(r.body["status"], "resolved");
    let closed = s
        .post(
            &format!("/v1/support/tickets/{id}/comments"),
            Some(&user),
            json!({"text": "thanks"}),
        )
        .await;
    assert_eq!(
        (closed.status, closed.code()),
        (StatusCode::CONFLICT, "ticket_closed")
    );
}

#[tokio::test]
async fn the_bot_threshold_is_steerable() {
    let s = TestServer::start().await;
    let user = s.login(ZHANG).await;
    let r = s
        .send(
            s.req(Method::PUT, "/__mock/support/bot")
                .json(&json!({"threshold": 1.0})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let conv = open_conversation(&s, &user, "en").await;
    let r = say(&s, &user, &conv, "m1", "en", "How do I top up my wallet?").await;
    assert_eq!(r.body["replies"][0]["bot"]["handoff"], "low_confidence");
    assert_eq!(r.body["replies"][0]["bot"]["article_id"], "topup-how");
    let bad = s
        .send(
            s.req(Method::PUT, "/__mock/support/bot")
                .json(&json!({"threshold": 2})),
        )
        .await;
    assert_eq!(bad.code(), "validation_failed");
    // A greeting is not a question: the bot asks for one instead of handing off.
    s.send(
        s.req(Method::PUT, "/__mock/support/bot")
            .json(&json!({"threshold": 0.3})),
    )
    .await;
    let li = s.login(LI).await;
    let conv = open_conversation(&s, &li, "zh-CN").await;
    let r = say(&s, &li, &conv, "m1", "zh-CN", "你好").await;
    assert!(r.body["replies"][0]["bot"].is_null());
    assert!(
        r.body["replies"][0]["text"]
            .as_str()
            .unwrap()
            .contains("小U")
    );
}

#[tokio::test]
async fn transcripts_redact_card_account_and_phone_numbers() {
    let s = TestServer::start().await;
    let user = s.login(ZHANG).await;
    let conv = open_conversation(&s, &user, "zh-CN").await;
    set_agent_online(&s, "A001", true).await;
    s.post(
        &format!("/__mock/support/conversations/{conv}/agent-reply"),
        None,
        json!({"text": "请问转账给哪个账户？"}),
    )
    .await;
    let secrets = [
        "6222 0212 3456 7890 123",
        "4111-1111-1111-1111",
        "U0000000002",
        "13900139000",
        "+86 138 0013 8000",
    ];
    let text = format!(
        "我的卡 {} 和 {} 被扣款，转给 {}，对方电话 {}，我的电话 {}",
        secrets[0], secrets[1], secrets[2], secrets[3], secrets[4]
    );
    let r = say(&s, &user, &conv, "m1", "zh-CN", &text).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let json = s
        .get(
            &format!("/v1/support/conversations/{conv}/transcript"),
            Some(&user),
        )
        .await;
    assert_eq!(json.status, StatusCode::OK);
    let plain = s
        .send(
            s.req(
                Method::GET,
                &format!("/v1/support/conversations/{conv}/transcript/text"),
            )
            .bearer_auth(&user)
            .header("Accept-Language", "zh-CN"),
        )
        .await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(
        plain.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text_doc = s
        .client
        .get(format!(
            "{}/v1/support/conversations/{conv}/transcript/text",
            s.base
        ))
        .bearer_auth(&user)
        .header("Accept-Language", "zh-CN")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let json_doc = json.body.to_string();
    for doc in [&text_doc, &json_doc] {
        for secret in secrets {
            assert!(!doc.contains(secret), "{secret} leaked into {doc}");
        }
        assert!(doc.contains("[card number removed]"));
        assert!(doc.contains("[account id removed]"));
        assert!(doc.contains("[phone number removed]"));
    }
    assert!(text_doc.starts_with("U钱包客服聊天记录"));
    assert!(text_doc.contains("客服 小美：请问转账给哪个账户？"));
    // The stored conversation itself is unchanged for the user.
    let page = messages(&s, &user, &conv, "").await;
    assert!(page.to_string().contains("U0000000002"));
}

#[tokio::test]
async fn only_one_open_conversation_and_closing() {
    let s = TestServer::start().await;
    let user = s.login(ZHANG).await;
    let a = call(
        &s,
        Method::POST,
        "/v1/support/conversations",
        Some(&user),
        "en",
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let b = call(
        &s,
        Method::POST,
        "/v1/support/conversations",
        Some(&user),
        "en",
        None,
    )
    .await;
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(a.body["id"], b.body["id"]);
    let id = a.body["id"].as_str().unwrap();
    let closed = s
        .post(
            &format!("/v1/support/conversations/{id}/close"),
            Some(&user),
            json!({}),
        )
        .await;
    assert_eq!(closed.body["status"], "resolved");
    let again = s
        .post(
            &format!("/v1/support/conversations/{id}/close"),
            Some(&user),
            json!({}),
        )
        .await;
    assert_eq!(again.code(), "conversation_closed");
    let c = call(
        &s,
        Method::POST,
        "/v1/support/conversations",
        Some(&user),
        "en",
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::CREATED);
    assert_ne!(c.body["id"], a.body["id"]);
    // The old one cannot be reopened while a new one is open.
    let r = say(&s, &user, id, "late", "en", "hello?").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "conversation_closed")
    );
}

#[tokio::test]
async fn the_console_page_is_served() {
    let s = TestServer::start().await;
    let r = s
        .client
        .get(format!("{}/console", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("客服工作台"));
    for asset in ["/console/console.js", "/console/console.css"] {
        let r = s
            .client
            .get(format!("{}{asset}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }
    let magic = s.get("/__mock/magic", None).await;
    assert!(magic.body.to_string().contains("A001 / Agent1234"));
    let agents = s.get("/__mock/support/agents", None).await;
    assert_eq!(agents.body["agents"].as_array().unwrap().len(), 2);
    let wrong = s
        .post(
            "/v1/support/agent/sessions",
            None,
            json!({"agent_id": "A001", "password": "nope"}),
        )
        .await;
    assert_eq!(wrong.code(), "invalid_credentials");
    let unknown = s
        .post(
            "/v1/support/agent/sessions",
            None,
            json!({"agent_id": "A999", "password": "nope"}),
        )
        .await;
    assert_eq!(unknown.code(), "invalid_credentials");
    let token = agent_login(&s, "A002").await;
    let me = s.get("/v1/support/agent/me", Some(&token)).await;
    assert_eq!(me.body["online"], true);
    let out = s
        .send(
            s.req(Method::DELETE, "/v1/support/agent/sessions")
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let me = s.get("/v1/support/agent/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    let agents = s.get("/__mock/support/agents", None).await;
    assert_eq!(agents.body["agents"][1]["online"], false);
}
