//! Fixed-window rate limiting per client (bearer token, else peer address) within a sandbox,
//! with the IETF `RateLimit-*` headers on every API response.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use upay_protocol::error::ErrorCode;

use crate::error::ApiError;
use crate::state::Sandbox;

/// The peer address of a connection, inserted by the server loop.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

struct Decision {
    allowed: bool,
    limit: u32,
    remaining: u32,
    reset_secs: u64,
    window_secs: u32,
}

impl RateLimiter {
    fn check(&self, client: String, now_ms: i64, limit: u32, window_secs: u32) -> Decision {
        let window_ms = i64::from(window_secs.max(1)) * 1000;
        let window_start = now_ms - now_ms.rem_euclid(window_ms);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > 100_000 {
            // Stale windows of clients long gone; dropping them only forgives a few requests.
            windows.retain(|_, (start, _)| *start == window_start);
        }
        let entry = windows.entry(client).or_insert((window_start, 0));
        if entry.0 != window_start {
            *entry = (window_start, 0);
        }
        let allowed = entry.1 < limit;
        if allowed {
            entry.1 += 1;
        }
        Decision {
            allowed,
            limit,
            remaining: limit - entry.1.min(limit),
            reset_secs: ((window_start + window_ms - now_ms + 999) / 1000) as u64,
            window_secs,
        }
    }
}

fn client_key(headers: &HeaderMap, peer: Option<PeerAddr>) -> String {
    match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(auth) => format!("t:{}", crate::auth::token_hash_hex(auth)),
        None => format!(
            "ip:{}",
            peer.map(|p| p.0.ip().to_string()).unwrap_or_default()
        ),
    }
}

pub async fn limit(req: Request, next: Next) -> Response {
    let Some(sb) = req.extensions().get::<Arc<Sandbox>>().cloned() else {
        return next.run(req).await;
    };
    let settings = sb.settings();
    if settings.rate_limit_per_window == 0 {
        return next.run(req).await;
    }
    let key = client_key(req.headers(), req.extensions().get::<PeerAddr>().copied());
    let d = sb.limiter.check(
        key,
        sb.clock.now_ms(),
        settings.rate_limit_per_window,
        settings.rate_limit_window_secs,
    );
    let mut resp = if d.allowed {
        next.run(req).await
    } else {
        ApiError::new(ErrorCode::RateLimited)
            .retry_after(d.reset_secs)
            .into_response()
    };
    let h = resp.headers_mut();
    h.insert("RateLimit-Limit", HeaderValue::from(d.limit));
    h.insert("RateLimit-Remaining", HeaderValue::from(d.remaining));
    h.insert("RateLimit-Reset", HeaderValue::from(d.reset_secs));
    if let Ok(v) = HeaderValue::from_str(&format!("{};w={}", d.limit, d.window_secs)) {
        h.insert("RateLimit-Policy", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_and_resets() {
        let rl = RateLimiter::default();
        let t0 = 1_000_000_000;
        assert!(rl.check("a".into(), t0, 2, 10).allowed);
        let d = rl.check("a".into(), t0 + 1, 2, 10);
        assert!(d.allowed && d.remaining == 0);
        assert!(!rl.check("a".into(), t0 + 2, 2, 10).allowed);
        assert!(rl.check("b".into(), t0 + 2, 2, 10).allowed);
        assert!(rl.check("a".into(), t0 + 10_000, 2, 10).allowed);
    }
}
