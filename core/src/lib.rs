//! The uPay wallet core: everything of the apps that is not pixels. Exported to Kotlin and Swift
//! through uniffi; see `docs/ARCHITECTURE.md`, `docs/offline-sync.md` and `docs/security.md`.
//!
//! Module map: [`config`] (checked client configuration), [`error`] (the public error and its
//! stable codes), [`crypto`] (envelopes, data key, canary, blind tags), [`keystore`] (the
//! platform key store trait and the file implementation), [`store`] (schema, migrations,
//! mirror tables, outbox, search postings), [`api`] (HTTP, TLS, retries), [`core`] (the client
//! state, tokens and refresh), [`session`], [`sync`] (pull, push, worker), [`payments`],
//! [`qr`], [`history`], [`insights`], [`events`] (listeners), [`logging`], [`help`] (the
//! offline help center), [`notices`] (announcements, status, version check, contact
//! channels), [`netcheck`] (网络检查), [`chat`], [`chat_live`] and [`chat_tickets`] (support
//! chat), [`screenshots`] (sealed images queued with chat messages and feedback), [`feedback`]
//! (product feedback and surveys), [`ffi`] (the exported objects).

uniffi::setup_scaffolding!();

pub mod api;
pub mod chat;
pub mod chat_live;
pub mod chat_tickets;
pub mod config;
pub mod core;
pub mod crypto;
pub mod error;
pub mod events;
pub mod feedback;
pub mod ffi;
pub mod help;
pub mod history;
pub mod insights;
pub mod keystore;
pub mod live;
pub mod logging;
pub mod model;
pub mod netcheck;
pub mod notices;
pub mod paycode;
pub mod payments;
pub mod qr;
pub mod savings;
pub mod screenshots;
pub mod session;
pub mod store;
pub mod sync;
pub mod text;

pub use config::ClientConfig;
pub use error::{CoreError, ErrorCode};
pub use ffi::WalletClient;

/// The core's version, for diagnostics and the app's "about" screen.
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
