//! uPay wire protocol: every body that crosses the network between the core and the backend
//! (and so the mock), plus the codecs both sides share. No IO lives here: this crate is what
//! both sides compile against so they cannot drift, and it is the natural fuzzing target.

pub mod api;
pub mod error;
pub mod money;
pub mod paycode;
pub mod qr;
pub mod rate;
pub mod sca;
pub mod search_index;
pub mod search_text;

pub use money::{Currency, Money, MoneyError};
pub use qr::QrPayload;
pub use rate::{Rate, Rounding};
