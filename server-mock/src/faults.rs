//! Fault injection: latency, 5xx, 429 with `Retry-After`, dropped connections and dropped
//! responses (the request is processed, the answer never arrives). Faults come from sandbox rules
//! set through the control API (global or per route, optionally for the next N requests or a
//! percentage of them) or from one request's `X-Mock-Scenario` header. The header also carries
//! domain scenarios (forced risk decision, card decline, withdrawal failure) that handlers read.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use upay_protocol::error::ErrorCode;

use crate::error::ApiError;
use crate::state::Sandbox;

pub const SCENARIO_HEADER: &str = "X-Mock-Scenario";

/// A transport-level fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Delay the request by `ms` milliseconds, then handle it normally.
    Latency { ms: u64 },
    /// Answer with this 5xx status without handling the request.
    Error { status: u16 },
    /// Answer 429 with `Retry-After: retry_after_secs`.
    RateLimit { retry_after_secs: u64 },
    /// Close the connection without handling the request.
    DropConnection,
    /// Handle the request (and commit it), then close the connection instead of answering.
    DropResponse,
}

/// A fault rule of a sandbox.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FaultRule {
    /// Assigned by the server.
    #[serde(default)]
    pub id: u64,
    /// Path prefix the rule applies to (e.g. `/v1/transfers`); every API route when absent.
    #[serde(default)]
    pub route: Option<String>,
    /// HTTP method the rule applies to; every method when absent.
    #[serde(default)]
    pub method: Option<String>,
    pub fault: Fault,
    /// Apply to the next `times` matching requests, then remove the rule; forever when absent.
    #[serde(default)]
    pub times: Option<u32>,
    /// Apply to this percentage (1–100) of matching requests; all when absent.
    #[serde(default)]
    pub percent: Option<u8>,
}

/// Everything the `X-Mock-Scenario` header asked for, e.g.
/// `latency=300, status=503, drop_response, risk=hold, card=declined`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scenario {
    pub faults: Vec<Fault>,
    /// Forced risk decision: `allow`, `step_up`, `hold` or `block`.
    pub risk: Option<String>,
    /// Forced card outcome: `declined`.
    pub card: Option<String>,
    /// Forced withdrawal outcome: `fail`.
    pub withdrawal: Option<String>,
}

impl Scenario {
    pub fn parse(text: &str) -> Result<Scenario, String> {
        let mut s = Scenario::default();
        for part in text
            .split([',', ';'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (part, None),
            };
            let number = |v: Option<&str>| {
                v.and_then(|v| v.parse::<u64>().ok())
                    .ok_or(format!("`{key}` needs a number"))
            };
            match key {
                "latency" => s.faults.push(Fault::Latency {
                    ms: number(value)?.min(60_000),
                }),
                "status" => {
                    let status = number(value)?;
                    if !(500..=599).contains(&status) {
                        return Err("`status` must be a 5xx code".into());
                    }
                    s.faults.push(Fault::Error {
                        status: status as u16,
                    });
                }
                "rate_limit" => s.faults.push(Fault::RateLimit {
                    retry_after_secs: number(value)?,
                }),
                "drop" => s.faults.push(Fault::DropConnection),
                "drop_response" => s.faults.push(Fault::DropResponse),
                "risk" => {
                    s.risk = Some(one_of(value, &["allow", "step_up", "hold", "block"], key)?)
                }
                "card" => s.card = Some(one_of(value, &["declined"], key)?),
                "withdrawal" => s.withdrawal = Some(one_of(value, &["fail"], key)?),
                _ => return Err(format!("unknown scenario `{key}`")),
            }
        }
        Ok(s)
    }
}

fn one_of(value: Option<&str>, allowed: &[&str], key: &str) -> Result<String, String> {
    value
        .filter(|v| allowed.contains(v))
        .map(str::to_owned)
        .ok_or_else(|| format!("`{key}` must be one of {}", allowed.join(", ")))
}

/// Lets a handler close its own connection. Inserted per connection by the server loop.
#[derive(Clone)]
pub struct ConnectionKill(pub Arc<Notify>);

impl Sandbox {
    /// The faults that apply to this request, consuming counted rules.
    fn matching_faults(&self, method: &str, path: &str) -> Vec<Fault> {
        let mut rules = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let mut hits = Vec::new();
        rules.retain_mut(|rule| {
            let route_ok = rule.route.as_deref().is_none_or(|r| path.starts_with(r));
            let method_ok = rule
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            let chance_ok = rule
                .percent
                .is_none_or(|p| rand::random_range(0..100u8) < p);
            if !(route_ok && method_ok && chance_ok) {
                return true;
            }
            hits.push(rule.fault.clone());
            match &mut rule.times {
                Some(n) => {
                    *n = n.saturating_sub(1);
                    *n > 0
                }
                None => true,
            }
        });
        hits
    }
}

/// Middleware on the API routes: applies the sandbox's rules and the request's scenario.
pub async fn inject(mut req: Request, next: Next) -> Response {
    let scenario = match req
        .headers()
        .get(SCENARIO_HEADER)
        .map(|v| v.to_str().map(Scenario::parse))
    {
        None => Scenario::default(),
        Some(Ok(Ok(s))) => s,
        Some(Ok(Err(why))) => {
            return ApiError::field(SCENARIO_HEADER, "invalid", &why).into_response();
        }
        Some(Err(_)) => {
            return ApiError::field(SCENARIO_HEADER, "invalid", "not ASCII").into_response();
        }
    };
    let mut faults = scenario.faults.clone();
    if let Some(sb) = req.extensions().get::<Arc<Sandbox>>() {
        faults.extend(sb.matching_faults(req.method().as_str(), req.uri().path()));
    }
    let kill = req.extensions().get::<ConnectionKill>().cloned();
    req.extensions_mut().insert(scenario);

    let mut drop_response = false;
    for fault in faults {
        match fault {
            Fault::Latency { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
            Fault::Error { status } => return error_status(status),
            Fault::RateLimit { retry_after_secs } => {
                return ApiError::new(ErrorCode::RateLimited)
                    .retry_after(retry_after_secs)
                    .into_response();
            }
            Fault::DropConnection => return kill_connection(kill).await,
            Fault::DropResponse => drop_response = true,
        }
    }
    let resp = next.run(req).await;
    if drop_response {
        return kill_connection(kill).await;
    }
    resp
}

fn error_status(status: u16) -> Response {
    let code = if status == 500 {
        ErrorCode::Internal
    } else {
        ErrorCode::ServiceUnavailable
    };
    let mut e = ApiError::new(code).detail("injected fault");
    e.status = Some(status);
    if status == 503 {
        e = e.retry_after(1);
    }
    e.into_response()
}

async fn kill_connection(kill: Option<ConnectionKill>) -> Response {
    match kill {
        Some(ConnectionKill(notify)) => {
            notify.notify_one();
            // The connection task drops this future together with the socket.
            std::future::pending().await
        }
        // Not served through our accept loop (in-process calls): the closest honest answer.
        None => error_status(502),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scenarios() {
        let s = Scenario::parse("latency=300, status=503; drop_response, risk=hold").unwrap();
        assert_eq!(
            s.faults,
            vec![
                Fault::Latency { ms: 300 },
                Fault::Error { status: 503 },
                Fault::DropResponse
            ]
        );
        assert_eq!(s.risk.as_deref(), Some("hold"));
        assert!(Scenario::parse("status=404").is_err());
        assert!(Scenario::parse("risk=maybe").is_err());
        assert!(Scenario::parse("explode").is_err());
        assert_eq!(Scenario::parse("").unwrap(), Scenario::default());
    }
}
