//! The accept loop: plain HTTP or TLS, HTTP/1.1 and HTTP/2, WebSocket upgrades, and a handle a
//! fault can use to close its own connection.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::config::Config;
use crate::faults::ConnectionKill;
use crate::ratelimit::PeerAddr;
use crate::state::AppState;

/// A running server; dropping it stops the server.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    /// PEM of the development CA when serving TLS.
    pub ca_pem: Option<String>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl RunningServer {
    pub fn base_url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting, closes open connections and waits for the loop to end.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    let tls = if config.tls {
        Some(crate::tls::load_or_create(&config.tls_dir)?)
    } else {
        None
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let state = AppState::new(config);
    // Create the default sandbox (and its demo data) before answering anything.
    state
        .sandbox("default")
        .await
        .map_err(|e| anyhow::anyhow!("seeding the default sandbox: {:?}", e.code))?;
    let router = crate::routes::router(state.clone());
    let (shutdown, shutdown_rx) = watch::channel(false);
    let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
    let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.server_config));
    let task = tokio::spawn(accept_loop(listener, router, acceptor, shutdown_rx));
    Ok(RunningServer {
        addr,
        state,
        ca_pem,
        shutdown,
        task: Some(task),
    })
}

async fn accept_loop(
    listener: TcpListener,
    router: axum::Router,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            peer,
            router.clone(),
            acceptor.clone(),
            shutdown.clone(),
        ));
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: axum::Router,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let kill = Arc::new(Notify::new());
    let conn_kill = ConnectionKill(kill.clone());
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(conn_kill.clone());
            req.extensions_mut().insert(PeerAddr(peer));
            router.clone().oneshot(req)
        });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let serve = async {
        match acceptor {
            Some(acceptor) => match acceptor.accept(stream).await {
                Ok(tls) => {
                    let _ = builder
                        .serve_connection_with_upgrades(TokioIo::new(tls), service)
                        .await;
                }
                Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
            },
            None => {
                let _ = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            }
        }
    };
    // Dropping `serve` closes the socket at once: that is how a fault drops a connection.
    tokio::select! {
        _ = serve => {}
        _ = kill.notified() => {}
        _ = shutdown.changed() => {}
    }
}
