//! Encryption at rest: AES-256-GCM envelopes (ring) bound to where a value lives, the data key
//! and its canary, and the blind-index tags that let history search work without plaintext.
//!
//! Envelope layout, version 1:
//!
//! | bytes | content                                  |
//! |-------|------------------------------------------|
//! | 1     | version `0x01`                           |
//! | 4     | key id, big-endian                       |
//! | 12    | random nonce                             |
//! | n+16  | ciphertext and GCM tag                   |
//!
//! The associated data is `"upay-aad-v1\0"`, the version byte, the key id, then table, column,
//! row and user, each length-prefixed. So a ciphertext copied into another row, column, table or
//! another user's cache fails to open instead of showing the wrong value, and the header cannot
//! be altered without detection.

mod datakey;

pub use datakey::{CANARY_PLAINTEXT, DataKey, KeyState, check_canary, seal_canary};

use ring::aead::{AES_256_GCM, Aad as RingAad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

pub const ENVELOPE_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("envelope is malformed")]
    Malformed,
    #[error("envelope was sealed with another key")]
    OtherKey,
    #[error("envelope failed authentication")]
    Authentication,
    #[error("the data key was lost or changed")]
    KeyLost,
    #[error("no system randomness")]
    Random,
}

/// Where a value lives: what its associated data binds.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row: &'a str,
    pub user: &'a str,
}

impl<'a> Place<'a> {
    pub fn new(table: &'a str, column: &'a str, row: &'a str, user: &'a str) -> Place<'a> {
        Place {
            table,
            column,
            row,
            user,
        }
    }
}

fn aad_bytes(version: u8, key_id: u32, place: &Place<'_>, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(b"upay-aad-v1\0");
    out.push(version);
    out.extend_from_slice(&key_id.to_be_bytes());
    for part in [place.table, place.column, place.row, place.user] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
}

/// Random nonces drawn from the system in blocks: one `getrandom` call per 1,024 envelopes
/// instead of one per envelope. Each nonce is handed out once (96 random bits, as with
/// [`Cipher::seal`]); nonces are public, so the block needs no wiping.
#[derive(Default)]
pub struct Nonces {
    block: Vec<u8>,
    used: usize,
}

const NONCE_BLOCK: usize = 1024;

impl Nonces {
    fn next(&mut self, rng: &SystemRandom) -> Result<[u8; NONCE_LEN], CryptoError> {
        if self.used + NONCE_LEN > self.block.len() {
            self.block.resize(NONCE_BLOCK * NONCE_LEN, 0);
            rng.fill(&mut self.block).map_err(|_| CryptoError::Random)?;
            self.used = 0;
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&self.block[self.used..self.used + NONCE_LEN]);
        self.used += NONCE_LEN;
        Ok(nonce)
    }
}

/// Seals and opens values with keys derived from the data key, and computes blind-index tags.
pub struct Cipher {
    key_id: u32,
    aead: LessSafeKey,
    index: hmac::Key,
    rng: SystemRandom,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cipher")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(key: &DataKey, info: &[u8]) -> Zeroizing<[u8; 32]> {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"upay-data-key-v1");
    let prk = salt.extract(key.bytes());
    let mut out = Zeroizing::new([0u8; 32]);
    prk.expand(&[info], Len(32))
        .and_then(|okm| okm.fill(out.as_mut()))
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

impl Cipher {
    /// Separate subkeys for encryption and for the blind index, so a tag never reveals anything
    /// about the encryption key and the two uses cannot interfere.
    pub fn new(key: &DataKey) -> Cipher {
        let enc = derive(key, b"aes-256-gcm envelope");
        let idx = derive(key, b"hmac-sha256 blind index");
        Cipher {
            key_id: key.id(),
            aead: LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, enc.as_ref()).expect("32-byte AES-256 key"),
            ),
            index: hmac::Key::new(hmac::HMAC_SHA256, idx.as_ref()),
            rng: SystemRandom::new(),
        }
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn seal(&self, place: &Place<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        let mut aad = Vec::with_capacity(64);
        self.seal_with_nonce(nonce, place, plaintext, &mut aad, &mut out)?;
        Ok(out)
    }

    /// [`Cipher::seal`] for bulk work (a sync page): the nonce comes from `nonces`, and the
    /// envelope is written into `out` (cleared first); `aad` is scratch space.
    pub fn seal_into(
        &self,
        nonces: &mut Nonces,
        place: &Place<'_>,
        plaintext: &[u8],
        aad: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let nonce = nonces.next(&self.rng)?;
        self.seal_with_nonce(nonce, place, plaintext, aad, out)
    }

    fn seal_with_nonce(
        &self,
        nonce: [u8; NONCE_LEN],
        place: &Place<'_>,
        plaintext: &[u8],
        aad: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        out.clear();
        out.push(ENVELOPE_VERSION);
        out.extend_from_slice(&self.key_id.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        aad_bytes(ENVELOPE_VERSION, self.key_id, place, aad);
        let tag = self
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                RingAad::from(aad.as_slice()),
                &mut out[HEADER_LEN..],
            )
            .map_err(|_| CryptoError::Malformed)?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    pub fn open(
        &self,
        place: &Place<'_>,
        envelope: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if envelope.len() < HEADER_LEN + TAG_LEN || envelope[0] != ENVELOPE_VERSION {
            return Err(CryptoError::Malformed);
        }
        let key_id = u32::from_be_bytes(envelope[1..5].try_into().expect("4 bytes"));
        if key_id != self.key_id {
            return Err(CryptoError::OtherKey);
        }
        let nonce = Nonce::try_assume_unique_for_key(&envelope[5..HEADER_LEN])
            .map_err(|_| CryptoError::Malformed)?;
        let mut aad = Vec::with_capacity(64);
        aad_bytes(envelope[0], key_id, place, &mut aad);
        let mut buf = Zeroizing::new(envelope[HEADER_LEN..].to_vec());
        let len = self
            .aead
            .open_in_place(nonce, RingAad::from(aad.as_slice()), buf.as_mut_slice())
            .map_err(|_| CryptoError::Authentication)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }

    /// Seals a serde value as JSON.
    pub fn seal_json<T: serde::Serialize>(
        &self,
        place: &Place<'_>,
        value: &T,
    ) -> Result<Vec<u8>, CryptoError> {
        let json = Zeroizing::new(serde_json::to_vec(value).map_err(|_| CryptoError::Malformed)?);
        self.seal(place, &json)
    }

    pub fn open_json<T: serde::de::DeserializeOwned>(
        &self,
        place: &Place<'_>,
        envelope: &[u8],
    ) -> Result<T, CryptoError> {
        let json = self.open(place, envelope)?;
        serde_json::from_slice(&json).map_err(|_| CryptoError::Malformed)
    }

    /// A blind-index tag: HMAC-SHA256 of `domain`, a 0 byte and the normalised token, truncated
    /// to 64 bits. Equal tokens give equal tags, so the cache can be searched; without the data
    /// key a tag says nothing about its token (beyond how often it occurs).
    pub fn tag(&self, domain: &str, token: &str) -> i64 {
        let mut ctx = hmac::Context::with_key(&self.index);
        ctx.update(domain.as_bytes());
        ctx.update(&[0]);
        ctx.update(token.as_bytes());
        let sig = ctx.sign();
        i64::from_be_bytes(
            sig.as_ref()[..8]
                .try_into()
                .expect("HMAC-SHA256 is 32 bytes"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> Cipher {
        Cipher::new(&DataKey::generate().unwrap())
    }

    #[test]
    fn round_trip_and_binding() {
        let c = cipher();
        let here = Place::new("transactions", "body", "tx_1", "U1");
        let env = c.seal(&here, b"secret note").unwrap();
        assert_eq!(&c.open(&here, &env).unwrap()[..], b"secret note");
        // Nonces are random: the same value never gives the same envelope.
        assert_ne!(env, c.seal(&here, b"secret note").unwrap());
        for other in [
            Place::new("cards", "body", "tx_1", "U1"),
            Place::new("transactions", "note", "tx_1", "U1"),
            Place::new("transactions", "body", "tx_2", "U1"),
            Place::new("transactions", "body", "tx_1", "U2"),
        ] {
            assert_eq!(
                c.open(&other, &env).unwrap_err(),
                CryptoError::Authentication
            );
        }
        let mut flipped = env.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(
            c.open(&here, &flipped).unwrap_err(),
            CryptoError::Authentication
        );
        assert_eq!(
            c.open(&here, &env[..10]).unwrap_err(),
            CryptoError::Malformed
        );
        assert_eq!(
            cipher().open(&here, &env).unwrap_err(),
            CryptoError::OtherKey
        );
    }

    #[test]
    fn pooled_nonces_are_never_reused() {
        let c = cipher();
        let here = Place::new("transactions", "body", "tx_1", "U1");
        let mut nonces = Nonces::default();
        let (mut aad, mut out) = (Vec::new(), Vec::new());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3 * NONCE_BLOCK {
            c.seal_into(&mut nonces, &here, b"note", &mut aad, &mut out)
                .unwrap();
            assert!(seen.insert(out[5..HEADER_LEN].to_vec()), "nonce reused");
            assert_eq!(&c.open(&here, &out).unwrap()[..], b"note");
        }
    }

    #[test]
    fn tags_are_keyed_and_domain_separated() {
        let key = DataKey::generate().unwrap();
        let (a, b) = (Cipher::new(&key), Cipher::new(&key));
        assert_eq!(a.tag("w", "coffee"), b.tag("w", "coffee"));
        assert_ne!(a.tag("w", "coffee"), a.tag("w", "coffe"));
        assert_ne!(a.tag("w", "coffee"), a.tag("cp", "coffee"));
        assert_ne!(a.tag("w", "coffee"), cipher().tag("w", "coffee"));
    }
}
