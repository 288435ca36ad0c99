//! The in-store payment code (付款码): an 18-digit number a merchant's scanner reads from the
//! phone, derived on the device with no network from a secret provisioned while online.
//!
//! Layout (18 decimal digits): `28` + 6-digit slot + 10-digit one-time value.
//! - `28` marks a uPay payment code (scanners route on the prefix, as with other wallets).
//! - The slot is the public number the server assigned to this device's secret at provisioning;
//!   it lets the server find the secret without trying every one.
//! - The one-time value is HMAC-SHA256(secret, slot as u32 BE || counter as u64 BE), where
//!   counter = floor(unix seconds / 60); the first 8 bytes of the MAC read as a big-endian u64,
//!   reduced modulo 10^10 (the bias of reducing a 64-bit value modulo 10^10 is below 10^-9).
//!
//! The server accepts a code whose counter is within `skew_steps` of its own clock and never the
//! same (slot, counter) twice, so each code pays once and goes stale within minutes.

use ring::hmac;

/// Seconds a code is shown before the next one.
pub const STEP_SECS: i64 = 60;
/// Digits of a code.
pub const CODE_LEN: usize = 18;
pub const PREFIX: &str = "28";
/// Bytes of a provisioned secret.
pub const SECRET_LEN: usize = 32;
const OTP_MODULUS: u64 = 10_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PaycodeError {
    #[error("not an 18-digit uPay payment code")]
    Malformed,
}

/// The time step a moment falls in.
pub fn counter_at(unix_ms: i64) -> u64 {
    (unix_ms.div_euclid(1000).div_euclid(STEP_SECS)).max(0) as u64
}

fn otp(secret: &[u8], slot: u32, counter: u64) -> u64 {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut msg = [0u8; 12];
    msg[..4].copy_from_slice(&slot.to_be_bytes());
    msg[4..].copy_from_slice(&counter.to_be_bytes());
    let tag = hmac::sign(&key, &msg);
    let mut first = [0u8; 8];
    first.copy_from_slice(&tag.as_ref()[..8]);
    u64::from_be_bytes(first) % OTP_MODULUS
}

/// The code for one time step.
pub fn code_for_counter(secret: &[u8], slot: u32, counter: u64) -> String {
    format!(
        "{PREFIX}{:06}{:010}",
        slot % 1_000_000,
        otp(secret, slot, counter)
    )
}

/// The code to show at `unix_ms`.
pub fn code_at(secret: &[u8], slot: u32, unix_ms: i64) -> String {
    code_for_counter(secret, slot, counter_at(unix_ms))
}

/// Seconds until the code shown at `unix_ms` is replaced.
pub fn seconds_left(unix_ms: i64) -> i64 {
    STEP_SECS - unix_ms.div_euclid(1000).rem_euclid(STEP_SECS)
}

/// The slot of a scanned code, after checking its shape.
pub fn parse_slot(code: &str) -> Result<u32, PaycodeError> {
    let ok = code.len() == CODE_LEN
        && code.starts_with(PREFIX)
        && code.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err(PaycodeError::Malformed);
    }
    code[2..8].parse().map_err(|_| PaycodeError::Malformed)
}

/// The counter a scanned code was made for, if it matches within `skew_steps` of `now_ms`.
/// Comparison is constant-time per candidate.
pub fn verify(secret: &[u8], code: &str, now_ms: i64, skew_steps: u64) -> Option<u64> {
    let slot = parse_slot(code).ok()?;
    let now = counter_at(now_ms);
    let mut found = None;
    for counter in now.saturating_sub(skew_steps)..=now + skew_steps {
        let expected = code_for_counter(secret, slot, counter);
        let same = expected
            .bytes()
            .zip(code.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if same {
            found = Some(counter);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; SECRET_LEN] = [7u8; SECRET_LEN];

    #[test]
    fn codes_have_the_documented_shape() {
        let code = code_at(&SECRET, 42, 1_790_000_000_000);
        assert_eq!(code.len(), CODE_LEN);
        assert!(code.starts_with("28000042"));
        assert_eq!(parse_slot(&code), Ok(42));
    }

    #[test]
    fn a_fixed_vector_stays_stable() {
        // Computed independently (Python's hmac) from the layout in the module docs; a change
        // here breaks every provisioned device.
        assert_eq!(
            code_for_counter(&SECRET, 42, 29_833_333),
            "280000422615047821"
        );
        let a = code_for_counter(&SECRET, 42, 29_833_333);
        let b = code_for_counter(&SECRET, 42, 29_833_334);
        let c = code_for_counter(&[8u8; SECRET_LEN], 42, 29_833_333);
        assert!(a != b && a != c);
    }

    #[test]
    fn verifies_within_the_skew_window_only() {
        let t = 1_790_000_000_000;
        let code = code_at(&SECRET, 9, t);
        let counter = counter_at(t);
        assert_eq!(verify(&SECRET, &code, t, 1), Some(counter));
        assert_eq!(verify(&SECRET, &code, t + 60_000, 1), Some(counter));
        assert_eq!(verify(&SECRET, &code, t - 60_000, 1), Some(counter));
        assert_eq!(verify(&SECRET, &code, t + 3 * 60_000, 1), None);
        assert_eq!(verify(&[1u8; SECRET_LEN], &code, t, 1), None);
        let mut tampered = code.clone().into_bytes();
        tampered[17] = if tampered[17] == b'9' {
            b'0'
        } else {
            tampered[17] + 1
        };
        assert_eq!(
            verify(&SECRET, std::str::from_utf8(&tampered).unwrap(), t, 1),
            None
        );
    }

    #[test]
    fn rejects_malformed_codes() {
        for bad in [
            "",
            "28",
            "1800000100000000000",
            "29000042123456789",
            "28000042123456789a",
            "２８0000421234567890",
        ] {
            assert_eq!(parse_slot(bad), Err(PaycodeError::Malformed), "{bad}");
        }
        assert_eq!(seconds_left(1_790_000_000_000), 60 - (1_790_000_000 % 60));
    }
}
