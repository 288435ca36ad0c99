//! Helpers of the support, help and engagement tests: chat calls with a language, agents,
//! sockets and test images.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::{Resp, TestServer};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn call(
    s: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    lang: &str,
    body: Option<Value>,
) -> Resp {
    let mut rb = s.req(method, path).header("Accept-Language", lang);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    s.send(rb).await
}

/// The user's open conversation (started if needed); returns its id.
pub async fn open_conversation(s: &TestServer, token: &str, lang: &str) -> String {
    let r = call(
        s,
        Method::POST,
        "/v1/support/conversations",
        Some(token),
        lang,
        None,
    )
    .await;
    assert!(r.status.is_success(), "start conversation: {}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

pub async fn say(
    s: &TestServer,
    token: &str,
    conv: &str,
    cmid: &str,
    lang: &str,
    text: &str,
) -> Resp {
    call(
        s,
        Method::PUT,
        &format!("/v1/support/conversations/{conv}/messages/{cmid}"),
        Some(token),
        lang,
        Some(json!({ "text": text })),
    )
    .await
}

pub async fn agent_login(s: &TestServer, agent_id: &str) -> String {
    let r = s
        .post(
            "/v1/support/agent/sessions",
            None,
            json!({"agent_id": agent_id, "password": "Agent1234"}),
        )
        .await;
    assert_eq!(r.status, 201, "agent login: {}", r.body);
    r.body["token"].as_str().unwrap().to_owned()
}

pub async fn set_agent_online(s: &TestServer, agent_id: &str, online: bool) {
    let r = s
        .send(
            s.req(Method::PUT, &format!("/__mock/support/agents/{agent_id}"))
                .json(&json!({ "online": online })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Opens a WebSocket, or returns the HTTP status that refused it.
pub async fn try_socket(s: &TestServer, path: &str, token: &str) -> Result<Socket, u16> {
    let url = format!("{}{}", s.base.replacen("http", "ws", 1), path);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("socket: {e}"),
    }
}

/// Opens a WebSocket on the test server with a bearer token.
pub async fn socket(s: &TestServer, path: &str, token: &str) -> Socket {
    let url = format!("{}{}", s.base.replacen("http", "ws", 1), path);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("socket opens");
    ws
}

/// The next JSON text frame (pings skipped), or None after `ms` of silence.
pub async fn next_json(ws: &mut Socket, ms: u64) -> Option<Value> {
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_millis(ms), ws.next())
            .await
            .ok()??
            .ok()?;
        match frame {
            Message::Text(t) => return Some(serde_json::from_str(&t).unwrap()),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

pub async fn send_json(ws: &mut Socket, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// A structurally valid PNG of the given size (CRCs are not checked by the server, but are
/// right anyway so any viewer accepts it).
pub fn png(width: u32, height: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut d = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut d, b"IHDR", &ihdr);
    chunk(
        &mut d,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    chunk(&mut d, b"IEND", &[]);
    d
}

pub async fn upload(s: &TestServer, token: &str, content_type: &str, data: Vec<u8>) -> Resp {
    s.send(
        s.req(Method::POST, "/v1/support/attachments")
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(data),
    )
    .await
}
