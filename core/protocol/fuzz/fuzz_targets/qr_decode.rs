#![no_main]

use libfuzzer_sys::fuzz_target;
use upay_protocol::qr::QrPayload;

/// Bitwise CRC-32/ISO-HDLC, written independently of the crate's table-driven one so the two
/// cross-check each other.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0_u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn check(text: &str) {
    if let Ok(payload) = QrPayload::decode(text) {
        // Canonical form: an accepted text is exactly what its payload encodes to.
        assert_eq!(payload.encode(), text);
        assert_eq!(payload.validate(), Ok(()));
    }
}

fuzz_target!(|data: &[u8]| {
    // Scanners hand over text; bytes that are not UTF-8 never reach the decoder.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(text);
    // A fuzzer almost never guesses a CRC, so also treat the input as a body and seal it:
    // that drives the field parser, escapes and validation behind the checksum.
    let sealed = format!("{text}*");
    let crc = crc32(sealed.as_bytes());
    check(&format!("{sealed}{crc:08X}"));
});
