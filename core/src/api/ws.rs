//! WebSocket connections to the backend (live wallet events, live chat): the same TLS set-up,
//! extra CA and certificate pins as [`super::http`], the bearer token and the app's language.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::UrlError;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::core::Core;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type Socket = WebSocketStream<Box<dyn Io>>;

/// Opens `path_and_query` (e.g. `/v1/events`) as a WebSocket on the configured backend. The
/// whole opening (TCP, TLS, upgrade) gives up after the request timeout: a network that takes
/// the connection and then stalls (a captive portal) must not hold the caller forever.
pub async fn connect(core: &Core, path_and_query: &str, token: &str) -> Result<Socket, WsError> {
    tokio::time::timeout(
        core.settings.retry.request_timeout,
        open(core, path_and_query, token),
    )
    .await
    .map_err(|_| WsError::Io(std::io::ErrorKind::TimedOut.into()))?
}

async fn open(core: &Core, path_and_query: &str, token: &str) -> Result<Socket, WsError> {
    let base = &core.settings.base_url;
    let host = base.host_str().unwrap_or_default().to_owned();
    let port = base.port_or_known_default().unwrap_or(443);
    let tls = base.scheme() == "https";
    let mut url = base.clone();
    let _ = url.set_scheme(if tls { "wss" } else { "ws" });
    let url = url
        .join(path_and_query)
        .map_err(|_| WsError::Url(UrlError::NoHostName))?;
    let timeout = core.settings.retry.connect_timeout;
    let tcp = tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| WsError::Io(std::io::ErrorKind::TimedOut.into()))??;
    let stream: Box<dyn Io> = if tls {
        let config = super::tls::client_config(
            core.settings.extra_ca_pem.as_deref(),
            &core.settings.spki_pins,
        )
        .map_err(|_| WsError::Io(std::io::ErrorKind::InvalidInput.into()))?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| WsError::Io(std::io::ErrorKind::InvalidInput.into()))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let mut req = url.as_str().into_client_request()?;
    let headers = req.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
        headers.insert("authorization", v);
    }
    if let Ok(v) = HeaderValue::from_str(&core.settings.locale) {
        headers.insert("accept-language", v);
    }
    let (ws, _) = tokio_tungstenite::client_async(req, stream).await?;
    Ok(ws)
}

/// A connection silent this long is dead (the server pings every 25 s).
pub const SILENCE: Duration = Duration::from_secs(60);
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// The wait before reconnect attempt number `failures` (1, 2, …): 0.5 s doubling, capped at
/// 30 s, jittered into [cap/2, cap] so clients cut off together do not come back together.
pub fn reconnect_delay(failures: u32) -> Duration {
    let cap = BACKOFF_BASE
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    let mut b = [0u8; 4];
    let _ = SystemRandom::new().fill(&mut b);
    cap.mul_f64(0.5 + f64::from(u32::from_be_bytes(b)) / f64::from(u32::MAX) / 2.0)
}

/// What waiting for the next frame of a live connection gave.
pub enum Next {
    Text(String),
    /// The owner asked to stop (the socket was closed politely).
    Stopped,
    /// The owner asked for a fresh connection (the socket was closed politely).
    Kicked,
    /// Closed by the server, broken, or silent for [`SILENCE`].
    Dropped,
}

/// The next text frame; pings are answered by the socket itself and other frames skipped.
pub async fn next_text(ws: &mut Socket, stop: &mut watch::Receiver<bool>, kick: &Notify) -> Next {
    loop {
        let frame = tokio::select! {
            _ = stop.changed() => {
                let _ = ws.close(None).await;
                return Next::Stopped;
            }
            _ = kick.notified() => {
                let _ = ws.close(None).await;
                return Next::Kicked;
            }
            f = tokio::time::timeout(SILENCE, ws.next()) => f,
        };
        match frame {
            Ok(Some(Ok(Message::Text(t)))) => return Next::Text(t.as_str().to_owned()),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                return Next::Dropped;
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}
