//! Support-chat benchmark: message round trip (a user's `PUT …/messages/{id}` → the agent's
//! socket sees it, loopback) and holding 1,000 open chat sockets, beside the floor of a bare
//! HTTP round trip measured in the same run.
//!
//! Run (release build; the figures in docs/support-protocol.md come from this):
//!
//!     cargo run --release -p server-mock --example chat_bench
//!
//! Server and clients share one process and the machine's cores, as on a developer's laptop.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use server_mock::Config;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const ROUND_TRIPS: usize = 5000;
const WARM_UP: usize = 300;
const SOCKETS: usize = 1000;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Bench {
    http: reqwest::Client,
    base: String,
}

impl Bench {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("request");
        let status = r.status().as_u16();
        let bytes = r.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Registers a magic-number user (SMS code always 246810) and returns its access token.
    async fn register(&self, n: usize) -> String {
        let phone = format!("1990000{n:04}");
        let (s, b) = self
            .call(
                reqwest::Method::POST,
                "/v1/auth/otp",
                None,
                Some(json!({"phone": phone, "purpose": "register"})),
            )
            .await;
        assert_eq!(s, 200, "otp: {b}");
        let (s, b) = self
            .call(
                reqwest::Method::POST,
                "/v1/auth/register",
                None,
                Some(json!({"phone": phone, "code": "246810", "password": "Bench1234x",
                    "full_name": format!("Bench {n}"), "id_last4": "0000",
                    "device": {"device_id": format!("bench-device-{n}"), "name": "Bench", "platform": "android"}})),
            )
            .await;
        assert_eq!(s, 201, "register: {b}");
        b["tokens"]["access_token"].as_str().unwrap().to_owned()
    }

    async fn socket(&self, path: &str, token: &str) -> Ws {
        let url = format!("{}{path}", self.base.replacen("http", "ws", 1));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse().unwrap());
        // Like a phone's client: a small read buffer, since chat frames are small.
        let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
        tokio_tungstenite::connect_async_with_config(req, Some(config), false)
            .await
            .expect("socket")
            .0
    }
}

async fn next_text(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).unwrap(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, mut d: Vec<Duration>) {
    d.sort();
    let mean = d.iter().sum::<Duration>() / d.len() as u32;
    println!(
        "{name:<46} n={:<5} p50={:>8.1?} p99={:>8.1?} mean={:>8.1?} max={:>8.1?}",
        d.len(),
        percentile(&d, 0.50),
        percentile(&d, 0.99),
        mean,
        d[d.len() - 1]
    );
}

/// One message round trip: the user's PUT, timed until the agent's socket delivers it.
async fn round_trips(
    b: &Bench,
    user: &str,
    conv: &str,
    agent_ws: &mut Ws,
    n: usize,
    tag: &str,
) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let cmid = format!("{tag}-{i}");
        let path = format!("/v1/support/conversations/{conv}/messages/{cmid}");
        let started = Instant::now();
        let put = b.call(
            reqwest::Method::PUT,
            &path,
            Some(user),
            Some(json!({"text": "测试消息 round trip"})),
        );
        let seen = async {
            loop {
                let f = next_text(agent_ws).await;
                if f["event"]["event"]["message"]["client_msg_id"] == cmid.as_str() {
                    return started.elapsed();
                }
            }
        };
        let ((status, _), elapsed) = tokio::join!(put, seen);
        assert_eq!(status, 201);
        out.push(elapsed);
    }
    out
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = server_mock::start(Config::for_tests())
        .await
        .expect("server starts");
    let b = Bench {
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        base: server.base_url(),
    };
    println!("support chat benchmark — release build, loopback, server and clients in one process");
    println!(
        "machine: {} cores\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let user = b.register(0).await;
    let (s, agent) = b
        .call(
            reqwest::Method::POST,
            "/v1/support/agent/sessions",
            None,
            Some(json!({"agent_id": "A001", "password": "Agent1234"})),
        )
        .await;
    assert_eq!(s, 201, "{agent}");
    let agent = agent["token"].as_str().unwrap().to_owned();
    let (_, conv) = b
        .call(
            reqwest::Method::POST,
            "/v1/support/conversations",
            Some(&user),
            None,
        )
        .await;
    let conv = conv["id"].as_str().unwrap().to_owned();
    let (s, _) = b
        .call(
            reqwest::Method::POST,
            &format!("/v1/support/agent/conversations/{conv}/pick"),
            Some(&agent),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 200);
    let mut agent_ws = b.socket("/v1/support/agent/socket", &agent).await;

    // The floor: a bare HTTP round trip on the same client and server.
    let mut floor = Vec::new();
    for i in 0..(WARM_UP + ROUND_TRIPS) {
        let t = Instant::now();
        let r = b
            .http
            .get(format!("{}/healthz", b.base))
            .send()
            .await
            .unwrap();
        r.bytes().await.unwrap();
        if i >= WARM_UP {
            floor.push(t.elapsed());
        }
    }
    round_trips(&b, &user, &conv, &mut agent_ws, WARM_UP, "warm").await;
    let rt = round_trips(&b, &user, &conv, &mut agent_ws, ROUND_TRIPS, "rt").await;
    summary("baseline: GET /healthz round trip", floor);
    summary("message round trip: user PUT → agent socket", rt);

    // Hold 1,000 open chat sockets: one per user and conversation, as 1,000 phones would.
    let rss_before = rss_mb();
    let started = Instant::now();
    let mut tokens = Vec::new();
    // Numbers 1990000 1001… are free (the demo user is 1990000 0001).
    for chunk in (1001..=1000 + SOCKETS).collect::<Vec<_>>().chunks(50) {
        let regs = chunk.iter().map(|&n| b.register(n));
        tokens.extend(futures_util::future::join_all(regs).await);
    }
    let registered = started.elapsed();
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(SOCKETS);
    let mut convs = Vec::with_capacity(SOCKETS);
    for token in &tokens {
        let (_, c) = b
            .call(
                reqwest::Method::POST,
                "/v1/support/conversations",
                Some(token),
                None,
            )
            .await;
        let id = c["id"].as_str().unwrap().to_owned();
        sockets.push(
            b.socket(&format!("/v1/support/conversations/{id}/socket"), token)
                .await,
        );
        convs.push(id);
    }
    let opened = started.elapsed();
    println!(
        "\n{SOCKETS} users registered in {registered:.1?}; {SOCKETS} conversations + sockets opened in {opened:.1?}"
    );
    // Every socket is live: an agent message to each arrives on its own socket.
    let started = Instant::now();
    for (i, id) in convs.iter().enumerate() {
        let (s, _) = b
            .call(
                reqwest::Method::POST,
                &format!("/__mock/support/conversations/{id}/agent-reply"),
                None,
                Some(json!({"agent_id": "A002", "text": "您好"})),
            )
            .await;
        assert_eq!(s, 201, "reply {i}");
    }
    let mut delivered = 0;
    for ws in sockets.iter_mut() {
        loop {
            let e = next_text(ws).await;
            if e["event"]["type"] == "message" && e["event"]["message"]["sender"] == "agent" {
                delivered += 1;
                break;
            }
        }
    }
    println!(
        "held {SOCKETS} sockets: {delivered}/{SOCKETS} received an agent message ({:.1?} for all); process RSS {:.0} MB (+{:.0} MB for users, conversations and both ends of the sockets)",
        started.elapsed(),
        rss_mb(),
        rss_mb() - rss_before
    );
    let rt = round_trips(&b, &user, &conv, &mut agent_ws, ROUND_TRIPS, "held").await;
    summary("round trip with 1,000 sockets open", rt);
    drop(sockets);
    server.stop().await;
}
