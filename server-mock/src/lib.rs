//! `server-mock`: a stateful, contract-true mock of the uPay backend for mobile developers.
//! See `docs/mock-server.md` for how to use it and `docs/ARCHITECTURE.md` for how it is built.

pub mod auth;
pub mod clock;
pub mod config;
pub mod context;
pub mod control;
pub mod db;
pub mod demo;
pub mod engage;
pub mod error;
pub mod events;
pub mod extract;
pub mod faults;
pub mod help;
pub mod idempotency;
pub mod ledger;
pub mod openapi;
pub mod paycode;
pub mod ratelimit;
pub mod risk;
pub mod routes;
pub mod savings;
pub mod sca;
pub mod serve;
pub mod state;
pub mod support;
pub mod sync;
pub mod tls;

pub use config::Config;
pub use serve::{RunningServer, start};
