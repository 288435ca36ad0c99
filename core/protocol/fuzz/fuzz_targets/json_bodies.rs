#![no_main]

use libfuzzer_sys::fuzz_target;
use upay_protocol::money::Money;
use upay_protocol::qr::QrPayload;
use upay_protocol::rate::Rate;

fuzz_target!(|data: &[u8]| {
    // Whatever deserialises must serialise back to something that deserialises to the same value.
    if let Ok(m) = serde_json::from_slice::<Money>(data) {
        let json = serde_json::to_vec(&m).unwrap();
        assert_eq!(serde_json::from_slice::<Money>(&json).unwrap(), m);
    }
    if let Ok(r) = serde_json::from_slice::<Rate>(data) {
        let json = serde_json::to_vec(&r).unwrap();
        assert_eq!(serde_json::from_slice::<Rate>(&json).unwrap(), r);
    }
    if let Ok(p) = serde_json::from_slice::<QrPayload>(data) {
        let json = serde_json::to_vec(&p).unwrap();
        assert_eq!(serde_json::from_slice::<QrPayload>(&json).unwrap(), p);
    }
});
