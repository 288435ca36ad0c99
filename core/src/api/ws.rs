//! WebSocket connections to the backend (live wallet events, live chat): the same TLS set-up,
//! extra CA and certificate pins as [`super::http`], the bearer token and the app's language.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::UrlError;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::core::Core;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type Socket = WebSocketStream<Box<dyn Io>>;

/// Opens `path_and_query` (e.g. `/v1/events`) as a WebSocket on the configured backend.
pub async fn connect(core: &Core, path_and_query: &str, token: &str) -> Result<Socket, WsError> {
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
