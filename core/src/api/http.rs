//! The transport: one reqwest client (rustls on ring), the locale header, retries with
//! jittered exponential backoff honouring `Retry-After`, and a classification of failures that
//! the outbox relies on: *not sent* (nothing reached the server: safe to retry anything) versus
//! *no answer* (the server may have acted: only a request with an idempotency key may be
//! repeated, and the item becomes `unknown`).

use std::time::Duration;

use reqwest::header::{
    ACCEPT, ACCEPT_LANGUAGE, CONTENT_TYPE, ETAG, HeaderValue, IF_NONE_MATCH, RETRY_AFTER,
};
use reqwest::{Method, StatusCode, Url};
use ring::rand::{SecureRandom, SystemRandom};
use upay_protocol::api::IDEMPOTENCY_KEY_HEADER;
use upay_protocol::error::{ErrorCode as WireCode, Problem};

use crate::config::{RetryPolicy, Settings};
use crate::error::{CoreError, ErrorCode};

#[derive(Debug)]
pub enum NetError {
    /// The request never reached the server (no route, refused, DNS, proxy).
    NotSent,
    /// The TLS handshake failed (untrusted certificate, pin mismatch): nothing was sent.
    Tls,
    /// The request may have reached the server but no complete answer came back.
    NoAnswer,
    /// An earlier attempt of this call may have been acted on (no answer came back), and the
    /// last one did not reach the server at all: in doubt like [`NetError::NoAnswer`], but the
    /// network is down now.
    Unconfirmed,
    /// The server answered with a problem document (or a bare error status).
    Problem {
        problem: Box<Problem>,
        retry_after: Option<u64>,
    },
    /// The answer could not be understood.
    BadResponse,
}

impl NetError {
    /// Whether this attempt was turned away before the server acted on it: no connection, no
    /// TLS, or a rate limit.
    pub fn refused_before_processing(&self) -> bool {
        match self {
            NetError::NotSent | NetError::Tls => true,
            NetError::Problem { problem, .. } => {
                matches!(problem.code, WireCode::RateLimited)
                    || (problem.code == WireCode::Unknown && problem.status == 429)
            }
            NetError::NoAnswer | NetError::BadResponse | NetError::Unconfirmed => false,
        }
    }

    /// Whether the attempt that failed last reached the server (any answer counts): what the
    /// core's online/offline state follows.
    pub fn reached_server(&self) -> bool {
        !matches!(self, NetError::NotSent | NetError::Unconfirmed)
    }

    /// Whether the server may have acted on this attempt without saying so: no (complete)
    /// answer, a server error, or the same key still being processed.
    pub fn may_have_been_applied(&self) -> bool {
        match self {
            NetError::NoAnswer | NetError::BadResponse | NetError::Unconfirmed => true,
            NetError::Problem { problem, .. } => {
                matches!(
                    problem.code,
                    WireCode::Internal
                        | WireCode::ServiceUnavailable
                        | WireCode::IdempotencyInFlight
                ) || (problem.code == WireCode::Unknown && problem.status >= 500)
            }
            NetError::NotSent | NetError::Tls => false,
        }
    }

    pub fn into_core(self, zh: bool) -> CoreError {
        match self {
            NetError::NotSent => CoreError::client(ErrorCode::Offline),
            NetError::Tls => CoreError::client(ErrorCode::TlsFailure),
            NetError::NoAnswer => CoreError::client(ErrorCode::Timeout),
            NetError::Unconfirmed => CoreError::client(ErrorCode::Offline),
            NetError::BadResponse => CoreError::client(ErrorCode::BadResponse),
            NetError::Problem {
                problem,
                retry_after,
            } => CoreError::from_problem(&problem, retry_after),
        }
        .localized(zh)
    }

    pub fn code(&self) -> Option<WireCode> {
        match self {
            NetError::Problem { problem, .. } => Some(problem.code),
            _ => None,
        }
    }
}

/// The content type of request bodies unless a call says otherwise.
const JSON: &str = "application/json";

/// One request.
pub struct Call<'a> {
    pub method: Method,
    /// Path and query, already encoded, e.g. `/v1/sync?cursor=abc`.
    pub path: &'a str,
    pub body: Option<Vec<u8>>,
    pub idempotency_key: Option<&'a str>,
    pub bearer: Option<&'a str>,
    /// Interactive calls retry less and wait less than background ones.
    pub retry: RetryPolicy,
}

impl Call<'_> {
    /// Repeating it cannot apply it twice.
    fn repeatable(&self) -> bool {
        self.method == Method::GET
            || self.method == Method::DELETE
            || self.idempotency_key.is_some()
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

/// The answer to a conditional `GET` ([`Http::get_conditional`]).
pub enum Conditional {
    /// `304`: the copy whose `ETag` was sent is current.
    NotModified,
    /// A new representation with its `ETag` (unquoted), when the server sent one.
    Fresh { etag: Option<String>, body: Vec<u8> },
}

pub struct Http {
    client: reqwest::Client,
    base: Url,
    locale: HeaderValue,
    rng: SystemRandom,
}

fn is_tls_error(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<rustls::Error>() {
            return true;
        }
        // The connector nests I/O errors (`Other` around `InvalidData` around the rustls error),
        // and an I/O error's `source` skips its payload: look inside each layer.
        let mut io = e.downcast_ref::<std::io::Error>();
        while let Some(inner) = io.and_then(std::io::Error::get_ref) {
            if inner.is::<rustls::Error>() {
                return true;
            }
            io = inner.downcast_ref::<std::io::Error>();
        }
        source = e.source();
    }
    false
}

impl Http {
    pub fn new(settings: &Settings) -> Result<Http, CoreError> {
        crate::api::tls::install_provider();
        let tls =
            crate::api::tls::client_config(settings.extra_ca_pem.as_deref(), &settings.spki_pins)
                .map_err(|_| CoreError::invalid("extra_ca_pem"))?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(settings.retry.connect_timeout)
            .timeout(settings.retry.request_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("upay-core/", env!("CARGO_PKG_VERSION")))
            // Developer builds talk to loopback; a system proxy must not see wallet traffic.
            .no_proxy()
            .https_only(!settings.developer_mode)
            .build()
            .map_err(|_| CoreError::client(ErrorCode::TlsFailure))?;
        Ok(Http {
            client,
            base: settings.base_url.clone(),
            locale: HeaderValue::from_str(&settings.locale)
                .unwrap_or_else(|_| HeaderValue::from_static("zh-CN")),
            rng: SystemRandom::new(),
        })
    }

    fn jitter(&self, attempt: u32, policy: &RetryPolicy) -> Duration {
        let cap = policy
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(policy.max_delay);
        let mut b = [0u8; 4];
        let _ = self.rng.fill(&mut b);
        // Full jitter: uniformly in [cap/2, cap], so clients that failed together spread out.
        let frac = f64::from(u32::from_be_bytes(b)) / f64::from(u32::MAX);
        cap.mul_f64(0.5 + frac / 2.0)
    }

    /// One attempt; `if_none_match` makes it conditional (then `304` is an answer, not an
    /// error). Returns the `ETag` header too.
    async fn once_with(
        &self,
        call: &Call<'_>,
        if_none_match: Option<&str>,
        content_type: &str,
    ) -> Result<(Answer, Option<String>), NetError> {
        let url = self
            .base
            .join(call.path)
            .map_err(|_| NetError::BadResponse)?;
        let mut rb = self
            .client
            .request(call.method.clone(), url)
            .header(ACCEPT_LANGUAGE, self.locale.clone())
            .header(ACCEPT, "application/json");
        if let Some(t) = call.bearer {
            rb = rb.bearer_auth(t);
        }
        if let Some(k) = call.idempotency_key {
            rb = rb.header(IDEMPOTENCY_KEY_HEADER, k);
        }
        if let Some(tag) = if_none_match {
            rb = rb.header(IF_NONE_MATCH, format!("\"{tag}\""));
        }
        if let Some(body) = &call.body {
            rb = rb.header(CONTENT_TYPE, content_type).body(body.clone());
        }
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) if is_tls_error(&e) => return Err(NetError::Tls),
            Err(e) if e.is_connect() => return Err(NetError::NotSent),
            Err(_) => return Err(NetError::NoAnswer),
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let etag = resp
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.trim()
                    .trim_start_matches("W/")
                    .trim_matches('"')
                    .to_owned()
            });
        let body = resp.bytes().await.map_err(|_| NetError::NoAnswer)?.to_vec();
        if status.is_success() || (if_none_match.is_some() && status == StatusCode::NOT_MODIFIED) {
            return Ok((Answer { status, body }, etag));
        }
        let problem = serde_json::from_slice::<Problem>(&body)
            .unwrap_or_else(|_| bare_status_problem(status));
        Err(NetError::Problem {
            problem: Box::new(problem),
            retry_after,
        })
    }

    /// Sends `call`, retrying what may be retried.
    pub async fn send(&self, call: &Call<'_>) -> Result<Answer, NetError> {
        self.send_as(call, JSON).await
    }

    /// Sends `call` whose body is of `content_type` (raw bytes such as a screenshot, where
    /// every other body is JSON). Retries like [`Http::send`].
    pub async fn send_as(&self, call: &Call<'_>, content_type: &str) -> Result<Answer, NetError> {
        self.send_with(call, None, content_type)
            .await
            .map(|(a, _)| a)
    }

    /// A `GET` of a cacheable resource: sends `etag` as `If-None-Match` so an unchanged
    /// resource costs a `304` and no body. Retries like [`Http::send`].
    pub async fn get_conditional(
        &self,
        call: &Call<'_>,
        etag: Option<&str>,
    ) -> Result<Conditional, NetError> {
        let (answer, new_tag) = self.send_with(call, etag, JSON).await?;
        Ok(if answer.status == StatusCode::NOT_MODIFIED {
            Conditional::NotModified
        } else {
            Conditional::Fresh {
                etag: new_tag,
                body: answer.body,
            }
        })
    }

    async fn send_with(
        &self,
        call: &Call<'_>,
        if_none_match: Option<&str>,
        content_type: &str,
    ) -> Result<(Answer, Option<String>), NetError> {
        let policy = call.retry;
        let mut attempt = 0;
        // Whether an earlier attempt may have been acted on: then a later refusal that proves
        // only that *its* attempt was not (no connection, rate limit) must not be reported as
        // "not applied", or the outbox would treat a payment the server may hold as unsent.
        let mut maybe_applied = false;
        let settle = |err: NetError, maybe_applied: bool| {
            if !maybe_applied || !err.refused_before_processing() {
                err
            } else if err.reached_server() {
                // Rate limited after an unanswered attempt: the server is there.
                NetError::NoAnswer
            } else {
                NetError::Unconfirmed
            }
        };
        loop {
            let result = self.once_with(call, if_none_match, content_type).await;
            attempt += 1;
            let err = match result {
                Ok(a) => return Ok(a),
                Err(e) => e,
            };
            let wait = match &err {
                NetError::NotSent => Some(None),
                NetError::NoAnswer if call.repeatable() => Some(None),
                NetError::Problem {
                    problem,
                    retry_after,
                } => {
                    let retriable = match problem.code {
                        // Refused before processing: always safe to repeat.
                        WireCode::RateLimited => true,
                        WireCode::IdempotencyInFlight => true,
                        WireCode::ServiceUnavailable | WireCode::Internal => call.repeatable(),
                        // A code this build does not know: its status decides.
                        WireCode::Unknown => match problem.status {
                            408 | 429 => true,
                            500.. => call.repeatable(),
                            _ => false,
                        },
                        _ => false,
                    };
                    retriable.then_some(*retry_after)
                }
                _ => None,
            };
            maybe_applied |= err.may_have_been_applied();
            let Some(retry_after) = wait else {
                return Err(settle(err, maybe_applied));
            };
            if attempt >= policy.attempts {
                return Err(settle(err, maybe_applied));
            }
            let delay = match retry_after {
                Some(secs) if Duration::from_secs(secs) > policy.max_retry_after => {
                    return Err(settle(err, maybe_applied));
                }
                Some(secs) => Duration::from_secs(secs).max(self.jitter(attempt - 1, &policy)),
                None => self.jitter(attempt - 1, &policy),
            };
            tracing::debug!(
                attempt,
                delay_ms = delay.as_millis() as u64,
                "retrying request"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// The problem for an error status that came without a problem document (a proxy's or a load
/// balancer's page): the code its status means, and the real status kept, so that a `413` is
/// final and a `502` may be retried.
fn bare_status_problem(status: StatusCode) -> Problem {
    let code = match status.as_u16() {
        400 => WireCode::InvalidRequest,
        401 => WireCode::Unauthorized,
        403 => WireCode::Forbidden,
        404 => WireCode::NotFound,
        405 => WireCode::MethodNotAllowed,
        413 => WireCode::PayloadTooLarge,
        415 => WireCode::UnsupportedMediaType,
        422 => WireCode::ValidationFailed,
        429 => WireCode::RateLimited,
        503 => WireCode::ServiceUnavailable,
        500..=599 => WireCode::Internal,
        _ => WireCode::Unknown,
    };
    let mut problem = Problem::new(code, false);
    problem.status = status.as_u16();
    problem
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(base: &str, attempts: u32) -> (Http, RetryPolicy) {
        let mut config = crate::config::ClientConfig::new(base, "unused", "http-unit-test");
        config.developer_mode = true;
        let mut settings = Settings::from_config(&config).expect("settings");
        settings.retry.attempts = attempts;
        settings.retry.base_delay = Duration::from_millis(1);
        settings.retry.max_delay = Duration::from_millis(5);
        settings.retry.request_timeout = Duration::from_secs(5);
        let policy = settings.retry;
        (Http::new(&settings).expect("client"), policy)
    }

    /// A server that takes one request and hangs up without answering, then goes away: the
    /// retry finds nothing listening. The first attempt may have been acted on, so the result
    /// must not say "not sent".
    #[tokio::test]
    async fn a_refusal_after_an_unanswered_attempt_is_reported_as_unconfirmed() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            // Read the whole request head and body, then drop the socket and the listener.
            let _ = tokio::time::timeout(Duration::from_millis(300), async {
                while sock.read(&mut buf).await.map(|n| n > 0).unwrap_or(false) {}
            })
            .await;
        });
        let (http, retry) = http(&base, 3);
        let call = Call {
            method: Method::POST,
            path: "/v1/transfers",
            body: Some(b"{}".to_vec()),
            idempotency_key: Some("key-1"),
            bearer: None,
            retry,
        };
        let err = http.send(&call).await.err().expect("fails");
        server.await.unwrap();
        assert!(matches!(err, NetError::Unconfirmed), "{err:?}");
        assert!(err.may_have_been_applied() && !err.reached_server());
    }

    #[test]
    fn bare_statuses_keep_their_meaning() {
        let p = bare_status_problem(StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!((p.code, p.status), (WireCode::PayloadTooLarge, 413));
        let p = bare_status_problem(StatusCode::BAD_GATEWAY);
        assert_eq!((p.code, p.status), (WireCode::Internal, 502));
        let p = bare_status_problem(StatusCode::REQUEST_TIMEOUT);
        assert_eq!((p.code, p.status), (WireCode::Unknown, 408));
        let refused = NetError::Problem {
            problem: Box::new(bare_status_problem(StatusCode::TOO_MANY_REQUESTS)),
            retry_after: None,
        };
        assert!(refused.refused_before_processing());
        assert!(!refused.may_have_been_applied());
        let gateway = NetError::Problem {
            problem: Box::new(bare_status_problem(StatusCode::GATEWAY_TIMEOUT)),
            retry_after: None,
        };
        assert!(gateway.may_have_been_applied());
    }
}
