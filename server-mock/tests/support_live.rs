//! Live chat events: a socket that drops and resumes from event N gets every later event
//! exactly once and in order, while writers keep writing; the long-poll serves the same events.

mod common;
mod support_kit;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support_kit::*;

/// A conversation of Zhang's that agent A001 has picked up (so the bot stays out of it).
async fn assigned_conversation(s: &TestServer) -> (String, String, String) {
    let user = s.login(ZHANG).await;
    let agent = agent_login(s, "A001").await;
    let conv = open_conversation(s, &user, "zh-CN").await;
    let r = s
        .post(
            &format!("/v1/support/agent/conversations/{conv}/pick"),
            Some(&agent),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (user, agent, conv)
}

async fn last_event_seq(s: &TestServer, token: &str, conv: &str) -> u64 {
    let r = s
        .get(&format!("/v1/support/conversations/{conv}"), Some(token))
        .await;
    r.body["last_event_seq"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_drops_and_resumes_gets_every_later_event_exactly_once() {
    let s = TestServer::start().await;
    let (user, agent, conv) = assigned_conversation(&s).await;

    // Two writers (the agent and the user on another path) keep producing events while the
    // socket drops and resumes: out-of-order publication and gaps are exercised for real.
    let writers: Vec<_> = [("agent", agent.clone()), ("user", user.clone())]
        .into_iter()
        .map(|(who, token)| {
            let client = s.client.clone();
            let base = s.base.clone();
            let conv = conv.clone();
            tokio::spawn(async move {
                for i in 0..60 {
                    let path = if who == "agent" {
                        format!("{base}/v1/support/agent/conversations/{conv}/messages/{who}-{i}")
                    } else {
                        format!("{base}/v1/support/conversations/{conv}/messages/{who}-{i}")
                    };
                    let r = client
                        .put(path)
                        .bearer_auth(&token)
                        .json(&json!({"text": format!("{who} {i}")}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            })
        })
        .collect();

    let mut received: Vec<u64> = Vec::new();
    let mut resume_from = 0;
    for round in 0..4 {
        let path = format!("/v1/support/conversations/{conv}/socket?after_event_seq={resume_from}");
        let mut ws = socket(&s, &path, &user).await;
        // Read a few events, then drop the connection mid-stream.
        let take = if round < 3 { 15 } else { usize::MAX };
        let mut n = 0;
        while n < take {
            let Some(e) = next_json(&mut ws, 1500).await else {
                break;
            };
            let Some(seq) = e["event_seq"].as_u64() else {
                continue;
            };
            received.push(seq);
            resume_from = seq;
            n += 1;
        }
        drop(ws);
        if round == 2 {
            for w in &writers {
                while !w.is_finished() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    let last = last_event_seq(&s, &user, &conv).await;
    assert!(last > 120, "the writers produced events ({last})");
    assert_eq!(
        received,
        (1..=last).collect::<Vec<_>>(),
        "every event exactly once, in order, across three drops"
    );
}

#[tokio::test]
async fn resuming_beyond_the_newest_event_is_refused() {
    let s = TestServer::start().await;
    let (user, _, conv) = assigned_conversation(&s).await;
    let last = last_event_seq(&s, &user, &conv).await;
    let refused = try_socket(
        &s,
        &format!(
            "/v1/support/conversations/{conv}/socket?after_event_seq={}",
            last + 5
        ),
        &user,
    )
    .await;
    assert_eq!(refused.err(), Some(422));
    let r = s
        .get(
            &format!(
                "/v1/support/conversations/{conv}/events?after_event_seq={}",
                last + 5
            ),
            Some(&user),
        )
        .await;
    assert_eq!(r.code(), "validation_failed");
}

#[tokio::test]
async fn the_long_poll_serves_the_same_events_and_waits_for_new_ones() {
    let s = TestServer::start().await;
    let (user, agent, conv) = assigned_conversation(&s).await;
    let all = s
        .get(
            &format!("/v1/support/conversations/{conv}/events?wait_secs=0"),
            Some(&user),
        )
        .await;
    let stored = all.body["events"].as_array().unwrap().clone();
    let last = all.body["last_event_seq"].as_u64().unwrap();
    assert_eq!(stored.len() as u64, last);
    // The socket sends exactly the same stored events.
    let mut ws = socket(
        &s,
        &format!("/v1/support/conversations/{conv}/socket"),
        &user,
    )
    .await;
    let mut from_socket = Vec::new();
    while from_socket.len() < stored.len() {
        from_socket.push(next_json(&mut ws, 1000).await.unwrap());
    }
    assert_eq!(from_socket, stored);

    // Nothing new: the poll waits, and wakes on the agent's reply.
    let poll = {
        let client = s.client.clone();
        let url = format!(
            "{}/v1/support/conversations/{conv}/events?after_event_seq={last}&wait_secs=10",
            s.base
        );
        let user = user.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let r = client.get(url).bearer_auth(user).send().await.unwrap();
            (started.elapsed(), r.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = s
        .send(
            s.req(
                reqwest::Method::PUT,
                &format!("/v1/support/agent/conversations/{conv}/messages/lp-1"),
            )
            .bearer_auth(&agent)
            .json(&json!({"text": "还在吗？"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let (waited, batch) = poll.await.unwrap();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(batch["events"][0]["event_seq"], last + 1);
    assert_eq!(batch["events"][0]["event"]["message"]["text"], "还在吗？");
    assert_eq!(batch["last_event_seq"], last + 1);
    // The socket got the same event.
    let e = next_json(&mut ws, 1000).await.unwrap();
    assert_eq!(e, batch["events"][0]);

    // Typing ends a wait too, but is never stored.
    let poll = {
        let client = s.client.clone();
        let url = format!(
            "{}/v1/support/conversations/{conv}/events?after_event_seq={}&wait_secs=10",
            s.base,
            last + 1
        );
        let user = user.clone();
        tokio::spawn(async move {
            client
                .get(url)
                .bearer_auth(user)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = s
        .post(
            &format!("/__mock/support/conversations/{conv}/agent-typing"),
            None,
            json!({"typing": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let batch = poll.await.unwrap();
    assert_eq!(batch["events"][0]["event"]["type"], "typing");
    assert_eq!(batch["last_event_seq"], last + 1);
    let stored = s
        .get(
            &format!(
                "/v1/support/conversations/{conv}/events?after_event_seq={}&wait_secs=0",
                last + 1
            ),
            Some(&user),
        )
        .await;
    assert_eq!(stored.body["events"], json!([]), "typing is never stored");

    // A quiet wait ends empty after wait_secs.
    let started = Instant::now();
    let r = s
        .get(
            &format!(
                "/v1/support/conversations/{conv}/events?after_event_seq={}&wait_secs=1",
                last + 1
            ),
            Some(&user),
        )
        .await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(r.body["events"], json!([]));
    assert_eq!(r.body["last_event_seq"], last + 1);
    let r = s
        .get(
            &format!("/v1/support/conversations/{conv}/events?wait_secs=31"),
            Some(&user),
        )
        .await;
    assert_eq!(r.code(), "validation_failed");
}
