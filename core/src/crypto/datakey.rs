//! The data key: 256 random bits, only ever in zeroizing memory, at rest only wrapped by the
//! platform key store. A canary sealed at set-up tells "this key is not the one the cache was
//! written with" (reinstall, restore to a new phone, key store reset) apart from corruption of
//! one value: the first means "start the cache again and re-sync", the second "skip the row".

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::{Cipher, CryptoError, Place};

/// What the canary envelope holds.
pub const CANARY_PLAINTEXT: &[u8] = b"upay-canary-v1";

pub struct DataKey {
    bytes: Zeroizing<[u8; 32]>,
    id: u32,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

impl DataKey {
    pub fn generate() -> Result<DataKey, CryptoError> {
        let rng = SystemRandom::new();
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill(bytes.as_mut()).map_err(|_| CryptoError::Random)?;
        let mut id = [0u8; 4];
        rng.fill(&mut id).map_err(|_| CryptoError::Random)?;
        Ok(DataKey {
            bytes,
            id: u32::from_be_bytes(id),
        })
    }

    /// Rebuilds a key unwrapped by the key store; `raw` is wiped when dropped.
    pub fn from_raw(raw: &[u8], id: u32) -> Result<DataKey, CryptoError> {
        let arr: [u8; 32] = raw.try_into().map_err(|_| CryptoError::KeyLost)?;
        Ok(DataKey {
            bytes: Zeroizing::new(arr),
            id,
        })
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }
}

fn canary_place() -> Place<'static> {
    Place::new("meta", "canary", "", "")
}

/// Seals the canary with a fresh cipher.
pub fn seal_canary(cipher: &Cipher) -> Result<Vec<u8>, CryptoError> {
    cipher.seal(&canary_place(), CANARY_PLAINTEXT)
}

/// What opening the cache's key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// The key opens the canary: the cache is readable.
    Valid,
    /// The key is not the one the cache was written with.
    Lost,
}

/// Checks the canary. Any failure means the key changed: the canary is written once, in the
/// same transaction as the wrapped key, and never again.
pub fn check_canary(cipher: &Cipher, canary: &[u8]) -> KeyState {
    match cipher.open(&canary_place(), canary) {
        Ok(p) if &p[..] == CANARY_PLAINTEXT => KeyState::Valid,
        _ => KeyState::Lost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_tells_a_changed_key() {
        let key = DataKey::generate().unwrap();
        let canary = seal_canary(&Cipher::new(&key)).unwrap();
        let same = DataKey::from_raw(key.bytes(), key.id()).unwrap();
        assert_eq!(check_canary(&Cipher::new(&same), &canary), KeyState::Valid);
        let other = DataKey::generate().unwrap();
        assert_eq!(check_canary(&Cipher::new(&other), &canary), KeyState::Lost);
        // Same id, different bytes (a restored backup of the id only): still lost.
        let forged = DataKey::from_raw(&[7u8; 32], key.id()).unwrap();
        assert_eq!(check_canary(&Cipher::new(&forged), &canary), KeyState::Lost);
        assert!(!format!("{key:?}").contains(&format!("{:?}", key.bytes())));
    }
}
