//! A fault-injecting HTTP/1.1 proxy between wallet clients and the mock, for the chaos and
//! crash suites. Every request gets its own upstream connection (`connection: close`), so a
//! fault hits exactly one request. What happens to a request is drawn from a random generator
//! seeded by the run's seed and the connection's number: the same seed gives every connection
//! the same fate, whatever the timing.
//!
//! Faults (only on `/v1` routes outside `/v1/auth`: a lost refresh answer ends the session by
//! design — refresh-token reuse detection — which is not what these suites are about):
//! - on the wire: a delay; a reset before forwarding; a reset after half the request went
//!   upstream; a lost answer (the server handled it, the client gets a reset); a truncated
//!   answer; a duplicated request (sent upstream twice, the client gets the second answer);
//! - in the mock, through `X-Mock-Scenario`: a 500/503 without handling, `drop` (connection
//!   closed before the handler), `drop_response` (handler commits, no answer).
//!
//! Transfers also carry `risk=allow` (or, for a few, `risk=hold`): the suites measure delivery,
//! and the risk engine's velocity rules would otherwise step up every payment after the tenth
//! in ten minutes (`core/tests/online.rs` covers risk).
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// A generator for the `n`-th stream of `seed`.
    pub fn stream(seed: u64, n: u64) -> Rng {
        let mut r = Rng::new(seed ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }
}

/// What befalls one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Delay,
    ResetBeforeForward,
    ResetMidRequest,
    LostAnswer,
    TruncatedAnswer,
    Duplicate,
    Mock5xx,
    MockDrop,
    MockDropResponse,
}

const KINDS: [Fault; 10] = [
    Fault::None,
    Fault::Delay,
    Fault::ResetBeforeForward,
    Fault::ResetMidRequest,
    Fault::LostAnswer,
    Fault::TruncatedAnswer,
    Fault::Duplicate,
    Fault::Mock5xx,
    Fault::MockDrop,
    Fault::MockDropResponse,
];

/// Relative weights of the faults, in the order of [`Fault`].
#[derive(Debug, Clone, Copy)]
pub struct Mix(pub [u32; 10]);

impl Mix {
    /// About one request in four goes wrong, in every way the proxy knows.
    pub fn chaos() -> Mix {
        Mix([75, 5, 3, 3, 3, 2, 3, 2, 2, 2])
    }

    /// No faults (transfers still carry the risk scenario).
    pub fn none() -> Mix {
        Mix([1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    /// Only delays, on half the requests: widens the window in which a process dies mid-request.
    pub fn slow() -> Mix {
        Mix([50, 50, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    fn pick(&self, rng: &mut Rng) -> Fault {
        let total: u32 = self.0.iter().sum();
        let mut x = rng.below(u64::from(total)) as u32;
        for (w, kind) in self.0.iter().zip(KINDS) {
            if x < *w {
                return kind;
            }
            x -= w;
        }
        Fault::None
    }
}

pub struct Config {
    pub seed: u64,
    pub mix: Mix,
    /// Percent of transfers sent with `risk=hold` instead of `risk=allow` while faults are on.
    pub hold_percent: u64,
}

#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    by_kind: [AtomicU64; 10],
    unsupported: AtomicU64,
    holds: AtomicU64,
}

struct Inner {
    upstream: SocketAddr,
    config: Config,
    faults_on: AtomicBool,
    connections: AtomicU64,
    stats: Stats,
}

pub struct Proxy {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    accept: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// The port while offline: bound, not listening.
    parked: std::sync::Mutex<Option<TcpSocket>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`; faults start off.
    pub async fn start(upstream: SocketAddr, config: Config) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner {
            upstream,
            config,
            faults_on: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            stats: Stats::default(),
        });
        let task = tokio::spawn(accept_loop(listener, inner.clone()));
        Proxy {
            addr,
            inner,
            accept: std::sync::Mutex::new(Some(task)),
            parked: std::sync::Mutex::new(None),
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_faults(&self, on: bool) {
        self.inner.faults_on.store(on, Ordering::SeqCst);
    }

    /// Stops listening: new connections are refused, as on a phone without network. The port
    /// stays bound (not listening), so nothing else can take it before [`Proxy::go_online`].
    pub async fn go_offline(&self) {
        let Some(task) = self.accept.lock().unwrap().take() else {
            return;
        };
        task.abort();
        let _ = task.await;
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind(self.addr).expect("the proxy keeps its port");
        *self.parked.lock().unwrap() = Some(socket);
    }

    /// Listens again on the same port.
    pub async fn go_online(&self) {
        let Some(socket) = self.parked.lock().unwrap().take() else {
            return;
        };
        let listener = socket.listen(1024).expect("listen");
        let task = tokio::spawn(accept_loop(listener, self.inner.clone()));
        *self.accept.lock().unwrap() = Some(task);
    }

    /// Requests seen and how many met each fault.
    pub fn stats(&self) -> String {
        let s = &self.inner.stats;
        let kinds: Vec<String> = KINDS
            .iter()
            .zip(&s.by_kind)
            .filter(|(k, _)| **k != Fault::None)
            .map(|(k, n)| format!("{k:?} {}", n.load(Ordering::Relaxed)))
            .collect();
        format!(
            "{} requests; {}; risk=hold {}",
            s.requests.load(Ordering::Relaxed),
            kinds.join(", "),
            s.holds.load(Ordering::Relaxed)
        )
    }

    pub fn faulted(&self, kind: Fault) -> u64 {
        let i = KINDS.iter().position(|k| *k == kind).unwrap();
        self.inner.stats.by_kind[i].load(Ordering::Relaxed)
    }

    /// Requests the proxy could not frame (chunked bodies, upgrades): must stay 0.
    pub fn unsupported(&self) -> u64 {
        self.inner.stats.unsupported.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let n = inner.connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve(inner.clone(), stream, n));
    }
}

struct Request {
    method: String,
    path: String,
    /// The request line and headers, without `connection` and the blank line.
    head: Vec<String>,
    body: Vec<u8>,
}

impl Request {
    fn encode(&self, scenario: &[&str]) -> Vec<u8> {
        let mut out = String::new();
        for line in &self.head {
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.push_str("connection: close\r\n");
        if !scenario.is_empty() {
            out.push_str("x-mock-scenario: ");
            out.push_str(&scenario.join(", "));
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

enum Read {
    Closed,
    Unsupported,
    Request(Request),
}

async fn read_request(s: &mut TcpStream) -> io::Result<Read> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Read::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 1 << 20 {
            return Ok(Read::Unsupported);
        }
    };
    let text = String::from_utf8_lossy(&buf[..head_end - 4]).into_owned();
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default().to_owned();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut head = vec![first.clone()];
    let mut length = 0usize;
    for line in lines {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("transfer-encoding:") || lower.starts_with("upgrade:") {
            return Ok(Read::Unsupported);
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") || lower.starts_with("x-mock-scenario:") {
            continue;
        }
        head.push(line.to_owned());
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Read::Closed);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(Read::Request(Request {
        method,
        path,
        head,
        body,
    }))
}

/// Sends `bytes` on a new upstream connection and reads the whole answer (the server closes
/// after it: `connection: close`). An empty answer means the server closed without one.
async fn exchange(upstream: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let attempt = async {
        let mut up = TcpStream::connect(upstream).await?;
        up.set_nodelay(true)?;
        up.write_all(bytes).await?;
        let mut answer = Vec::new();
        // A reset after part of an answer still returns what came.
        let mut chunk = [0u8; 16384];
        loop {
            match up.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
        io::Result::Ok(answer)
    };
    match tokio::time::timeout(Duration::from_secs(20), attempt).await {
        Ok(Ok(answer)) => answer,
        _ => Vec::new(),
    }
}

/// Closes with a TCP reset rather than an orderly close.
fn reset(s: TcpStream) {
    let _ = s.set_zero_linger();
    drop(s);
}

async fn serve(inner: Arc<Inner>, mut client: TcpStream, n: u64) {
    let mut rng = Rng::stream(inner.config.seed, n);
    let req = match tokio::time::timeout(Duration::from_secs(20), read_request(&mut client)).await {
        Ok(Ok(Read::Request(r))) => r,
        Ok(Ok(Read::Unsupported)) => {
            inner.stats.unsupported.fetch_add(1, Ordering::Relaxed);
            return reset(client);
        }
        _ => return,
    };
    inner.stats.requests.fetch_add(1, Ordering::Relaxed);
    let chaos = inner.faults_on.load(Ordering::SeqCst)
        && req.path.starts_with("/v1/")
        && !req.path.starts_with("/v1/auth/");
    // Always drawn, so a connection's fate does not depend on whether faults were on.
    let drawn = inner.config.mix.pick(&mut rng);
    let hold = rng.below(100) < inner.config.hold_percent;
    let delay = Duration::from_millis(rng.range(20, 250));
    let fault = if chaos { drawn } else { Fault::None };
    let i = KINDS.iter().position(|k| *k == fault).unwrap();
    inner.stats.by_kind[i].fetch_add(1, Ordering::Relaxed);
    let mut scenario: Vec<&str> = Vec::new();
    if req.method == "POST" && req.path.starts_with("/v1/transfers") {
        if chaos && hold {
            inner.stats.holds.fetch_add(1, Ordering::Relaxed);
            scenario.push("risk=hold");
        } else {
            scenario.push("risk=allow");
        }
    }
    match fault {
        Fault::Mock5xx => scenario.push(if n % 2 == 0 {
            "status=503"
        } else {
            "status=500"
        }),
        Fault::MockDrop => scenario.push("drop"),
        Fault::MockDropResponse => scenario.push("drop_response"),
        _ => {}
    }
    let bytes = req.encode(&scenario);
    let upstream = inner.upstream;
    match fault {
        Fault::ResetBeforeForward => reset(client),
        Fault::ResetMidRequest => {
            if let Ok(mut up) = TcpStream::connect(upstream).await {
                let _ = up.write_all(&bytes[..bytes.len() / 2]).await;
                reset(up);
            }
            reset(client);
        }
        Fault::LostAnswer => {
            let _ = exchange(upstream, &bytes).await;
            reset(client);
        }
        Fault::TruncatedAnswer => {
            let answer = exchange(upstream, &bytes).await;
            let _ = client.write_all(&answer[..answer.len() / 2]).await;
            reset(client);
        }
        Fault::Duplicate => {
            let first = exchange(upstream, &bytes).await;
            let second = exchange(upstream, &bytes).await;
            let answer = if second.is_empty() { first } else { second };
            answer_client(client, &answer).await;
        }
        Fault::Delay => {
            tokio::time::sleep(delay).await;
            let answer = exchange(upstream, &bytes).await;
            answer_client(client, &answer).await;
        }
        Fault::None | Fault::Mock5xx | Fault::MockDrop | Fault::MockDropResponse => {
            let answer = exchange(upstream, &bytes).await;
            answer_client(client, &answer).await;
        }
    }
}

async fn answer_client(mut client: TcpStream, answer: &[u8]) {
    if answer.is_empty() {
        // The server closed without answering (stopped, or a mock-side drop).
        return reset(client);
    }
    if client.write_all(answer).await.is_ok() {
        let _ = client.shutdown().await;
    }
}
