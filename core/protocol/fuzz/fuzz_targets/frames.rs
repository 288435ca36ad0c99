#![no_main]

//! What the apps read from the network and from users beyond money and QR codes: live chat and
//! wallet frames, sync pages and problem documents (whatever deserialises must re-serialise to
//! the same JSON), scanned payment codes at the till, and help-search queries (never a panic).

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use upay_protocol::api::events::LiveEvent;
use upay_protocol::api::support::ChatEvent;
use upay_protocol::api::sync::SyncPage;
use upay_protocol::error::Problem;
use upay_protocol::{paycode, search_text};

/// Decode → encode → decode → encode gives the same bytes twice.
fn stable<T: Serialize + DeserializeOwned>(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        let once = serde_json::to_vec(&v).unwrap();
        let again: T = serde_json::from_slice(&once).unwrap();
        assert_eq!(serde_json::to_vec(&again).unwrap(), once);
    }
}

fuzz_target!(|data: &[u8]| {
    stable::<ChatEvent>(data);
    stable::<LiveEvent>(data);
    stable::<SyncPage>(data);
    stable::<Problem>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(slot) = paycode::parse_slot(text) {
            assert!(slot < 1_000_000);
        }
        let _ = paycode::verify(&[7u8; paycode::SECRET_LEN], text, 1_700_000_000_000, 1);
        let _ = search_text::terms(text);
        let _ = search_text::trailing_partial_word(text);
    }
});
