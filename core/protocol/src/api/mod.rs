//! Request and response bodies of the HTTP API, grouped by area. Timestamps are Unix epoch
//! milliseconds (UTC) in fields ending in `_at`; durations are whole seconds in fields ending
//! in `_secs`.

pub mod auth;
pub mod engage;
pub mod events;
pub mod help;
pub mod money;
pub mod paycode;
pub mod savings;
pub mod support;
pub mod sync;

/// Header carrying the client's idempotency key on every money-moving request.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// Header carrying the server's request id on every response.
pub const REQUEST_ID_HEADER: &str = "Request-Id";
