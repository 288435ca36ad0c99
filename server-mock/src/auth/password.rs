//! Password hashing: PBKDF2-HMAC-SHA256 (ring) with a random 16-byte salt; the parameters are
//! stored with the hash as `pbkdf2-sha256$ITERATIONS$SALT$HASH` (base64, no padding).

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};

const ALGORITHM: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;
const PREFIX: &str = "pbkdf2-sha256";

pub fn hash(password: &str, iterations: u32) -> String {
    let iterations = NonZeroU32::new(iterations.max(1)).unwrap_or(NonZeroU32::MIN);
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .expect("system randomness");
    let mut out = [0u8; 32];
    pbkdf2::derive(ALGORITHM, iterations, &salt, password.as_bytes(), &mut out);
    format!(
        "{PREFIX}${iterations}${}${}",
        B64.encode(salt),
        B64.encode(out)
    )
}

/// Constant-time check of `password` against a stored hash; a malformed record never matches.
pub fn verify(stored: &str, password: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some(PREFIX), Some(iter), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Some(iterations), Ok(salt), Ok(hash)) = (
        iter.parse().ok().and_then(NonZeroU32::new),
        B64.decode(salt),
        B64.decode(hash),
    ) else {
        return false;
    };
    pbkdf2::verify(ALGORITHM, iterations, &salt, password.as_bytes(), &hash).is_ok()
}

/// Spends the same time as a real check, so an unknown phone number answers like a wrong
/// password.
pub fn verify_dummy(iterations: u32) {
    let _ = verify(
        &format!(
            "{PREFIX}${}$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            iterations.max(1)
        ),
        "x",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_carry_parameters() {
        let h = hash("Secur3pass", 1000);
        assert!(h.starts_with("pbkdf2-sha256$1000$"));
        assert!(verify(&h, "Secur3pass"));
        assert!(!verify(&h, "Secur3pasS"));
        assert_ne!(h, hash("Secur3pass", 1000), "salt must be random");
        assert!(!verify("garbage", "x"));
        assert!(!verify("pbkdf2-sha256$0$AA$AA", "x"));
    }
}
