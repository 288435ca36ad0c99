//! The backend API client: [`http`] is the transport with retries, [`tls`] the rustls set-up.
//! Authentication (bearer tokens, refresh on `401`) lives in [`crate::session`], which owns
//! the tokens.

pub mod http;
pub mod tls;
pub mod ws;

pub use http::{Answer, Call, Conditional, Http, NetError};

use serde::de::DeserializeOwned;

/// Decodes a JSON answer body.
pub fn decode<T: DeserializeOwned>(answer: &Answer) -> Result<T, NetError> {
    serde_json::from_slice(&answer.body).map_err(|_| {
        tracing::warn!(status = answer.status.as_u16(), "undecodable answer");
        NetError::BadResponse
    })
}

/// Percent-encodes one query value.
pub fn query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
