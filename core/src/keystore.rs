//! The platform key store behind a narrow foreign trait: it wraps the cache's data key with a
//! key that never leaves secure hardware, and holds the device's ECDSA P-256 payment key (on
//! phones: Android Keystore / iOS Secure Enclave, usable only after PIN or biometrics). The
//! trait is synchronous and must never call back into the core.
//!
//! [`FileKeyStore`] is the desktop and test implementation: the same contract with keys in
//! files, protected only by the file system's permissions.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use zeroize::Zeroizing;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum KeyStoreError {
    /// The key does not exist (anymore): reinstall, restore to a new phone, biometrics changed.
    #[error("key not found")]
    KeyNotFound,
    /// The user dismissed the PIN or biometric prompt.
    #[error("user cancelled")]
    UserCancelled,
    /// The PIN or biometric check failed.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The key store cannot be used now (locked device, hardware error). `message` must not
    /// contain personal data.
    #[error("key store unavailable")]
    Unavailable { message: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for KeyStoreError {
    fn from(_: uniffi::UnexpectedUniFFICallbackError) -> KeyStoreError {
        KeyStoreError::Unavailable {
            message: "unexpected callback error".to_owned(),
        }
    }
}

#[uniffi::export(with_foreign)]
pub trait KeyStore: Send + Sync {
    /// Encrypts the cache's 32-byte data key with the platform key. The caller stores the
    /// result; the platform key itself never leaves the key store.
    fn wrap_data_key(&self, data_key: Vec<u8>) -> Result<Vec<u8>, KeyStoreError>;
    /// Reverses [`KeyStore::wrap_data_key`]; `KeyNotFound` when the platform key is gone.
    fn unwrap_data_key(&self, wrapped: Vec<u8>) -> Result<Vec<u8>, KeyStoreError>;
    /// The device payment key's public point (SEC1 uncompressed, 65 bytes), creating the key
    /// on first use.
    fn signing_public_key(&self) -> Result<Vec<u8>, KeyStoreError>;
    /// ECDSA P-256 SHA-256 signature (ASN.1 DER) over `payload`. On phones this asks for PIN or
    /// biometrics first, showing `reason`.
    fn sign(&self, payload: Vec<u8>, reason: String) -> Result<Vec<u8>, KeyStoreError>;
    /// Deletes the payment key (this device stops confirming payments).
    fn delete_signing_key(&self) -> Result<(), KeyStoreError>;
}

/// Runs a key store call off the async runtime. On phones `sign` waits for the user's PIN or
/// biometrics (seconds, or until the prompt is dismissed), and key creation can be slow: on a
/// runtime worker that would stall every other task of the core. Every export that may prompt
/// (`confirm_payment`, `unlock_app`) is async and comes through here; only opening the client
/// (no prompt: it unwraps the data key) calls the store on the caller's thread.
pub async fn off_runtime<T, F>(keystore: &Arc<dyn KeyStore>, call: F) -> Result<T, KeyStoreError>
where
    T: Send + 'static,
    F: FnOnce(&dyn KeyStore) -> Result<T, KeyStoreError> + Send + 'static,
{
    let keystore = keystore.clone();
    tokio::task::spawn_blocking(move || call(keystore.as_ref()))
        .await
        .unwrap_or_else(|_| Err(unavailable("key store call panicked")))
}

/// Keys in files under one directory: `master.key` (random, wraps the rest) and
/// `signing.key` (the payment key's PKCS#8, sealed with the master key).
pub struct FileKeyStore {
    dir: PathBuf,
    master: LessSafeKey,
    rng: SystemRandom,
    signing: Mutex<Option<Arc<EcdsaKeyPair>>>,
}

fn unavailable(what: &str) -> KeyStoreError {
    KeyStoreError::Unavailable {
        message: what.to_owned(),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyStoreError> {
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(&tmp)
        .map_err(|_| unavailable("cannot write key file"))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|_| unavailable("cannot write key file"))?;
    fs::rename(&tmp, path).map_err(|_| unavailable("cannot write key file"))
}

const WRAP_AAD: &[u8] = b"upay-file-keystore-wrap-v1";
const SIGNING_AAD: &[u8] = b"upay-file-keystore-signing-v1";

impl FileKeyStore {
    pub fn open(dir: impl Into<PathBuf>) -> Result<FileKeyStore, KeyStoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|_| unavailable("cannot create key directory"))?;
        let path = dir.join("master.key");
        let rng = SystemRandom::new();
        let bytes = match fs::read(&path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut fresh = Zeroizing::new(vec![0u8; 32]);
                rng.fill(&mut fresh)
                    .map_err(|_| unavailable("no randomness"))?;
                write_private(&path, &fresh)?;
                fresh
            }
            Err(_) => return Err(unavailable("cannot read key file")),
        };
        let master = UnboundKey::new(&AES_256_GCM, &bytes)
            .map(LessSafeKey::new)
            .map_err(|_| unavailable("corrupt key file"))?;
        Ok(FileKeyStore {
            dir,
            master,
            rng,
            signing: Mutex::new(None),
        })
    }

    fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| unavailable("no randomness"))?;
        let mut buf = plain.to_vec();
        self.master
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| unavailable("seal failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    fn open_sealed(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(KeyStoreError::KeyNotFound);
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[..NONCE_LEN])
            .map_err(|_| KeyStoreError::KeyNotFound)?;
        let mut buf = Zeroizing::new(sealed[NONCE_LEN..].to_vec());
        let len = self
            .master
            .open_in_place(nonce, Aad::from(aad), buf.as_mut_slice())
            // Sealed by another master key: for the caller that key is gone.
            .map_err(|_| KeyStoreError::KeyNotFound)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }

    fn signing_key(&self, create: bool) -> Result<Arc<EcdsaKeyPair>, KeyStoreError> {
        let mut slot = self.signing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = slot.as_ref() {
            return Ok(k.clone());
        }
        let path = self.dir.join("signing.key");
        let pkcs8 = match fs::read(&path) {
            Ok(sealed) => self.open_sealed(SIGNING_AAD, &sealed)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.rng)
                    .map_err(|_| unavailable("key generation failed"))?;
                write_private(&path, &self.seal(SIGNING_AAD, doc.as_ref())?)?;
                Zeroizing::new(doc.as_ref().to_vec())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyStoreError::KeyNotFound);
            }
            Err(_) => return Err(unavailable("cannot read key file")),
        };
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8, &self.rng)
            .map_err(|_| unavailable("corrupt signing key"))?;
        let pair = Arc::new(pair);
        *slot = Some(pair.clone());
        Ok(pair)
    }
}

impl KeyStore for FileKeyStore {
    fn wrap_data_key(&self, data_key: Vec<u8>) -> Result<Vec<u8>, KeyStoreError> {
        let data_key = Zeroizing::new(data_key);
        self.seal(WRAP_AAD, &data_key)
    }

    fn unwrap_data_key(&self, wrapped: Vec<u8>) -> Result<Vec<u8>, KeyStoreError> {
        // The caller moves the bytes into zeroizing memory at once.
        Ok(self.open_sealed(WRAP_AAD, &wrapped)?.to_vec())
    }

    fn signing_public_key(&self) -> Result<Vec<u8>, KeyStoreError> {
        Ok(self.signing_key(true)?.public_key().as_ref().to_vec())
    }

    fn sign(&self, payload: Vec<u8>, _reason: String) -> Result<Vec<u8>, KeyStoreError> {
        let key = self.signing_key(false)?;
        key.sign(&self.rng, &payload)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| unavailable("signing failed"))
    }

    fn delete_signing_key(&self) -> Result<(), KeyStoreError> {
        *self.signing.lock().unwrap_or_else(|p| p.into_inner()) = None;
        match fs::remove_file(self.dir.join("signing.key")) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(_) => Err(unavailable("cannot delete key file")),
        }
    }
}

/// A [`FileKeyStore`] in `dir`, for desktop builds and tests. Phones pass their own
/// implementation backed by Android Keystore or the iOS Keychain / Secure Enclave.
#[uniffi::export]
pub fn file_key_store(dir: String) -> Result<Arc<dyn KeyStore>, KeyStoreError> {
    Ok(Arc::new(FileKeyStore::open(dir)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};

    #[test]
    fn wraps_and_signs_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let ks = FileKeyStore::open(dir.path()).unwrap();
        let wrapped = ks.wrap_data_key(vec![9u8; 32]).unwrap();
        assert!(!wrapped.windows(32).any(|w| w == [9u8; 32]));
        assert_eq!(
            ks.sign(b"x".to_vec(), String::new()),
            Err(KeyStoreError::KeyNotFound)
        );
        let public = ks.signing_public_key().unwrap();
        assert_eq!((public.len(), public[0]), (65, 4));
        drop(ks);

        let ks = FileKeyStore::open(dir.path()).unwrap();
        assert_eq!(ks.unwrap_data_key(wrapped.clone()).unwrap(), vec![9u8; 32]);
        let sig = ks.sign(b"payload".to_vec(), "confirm".into()).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &public)
            .verify(b"payload", &sig)
            .unwrap();
        assert_eq!(ks.signing_public_key().unwrap(), public);

        // Another store (another phone) cannot unwrap this one's key.
        let other_dir = tempfile::tempdir().unwrap();
        let other = FileKeyStore::open(other_dir.path()).unwrap();
        assert_eq!(
            other.unwrap_data_key(wrapped),
            Err(KeyStoreError::KeyNotFound)
        );

        ks.delete_signing_key().unwrap();
        assert_eq!(
            ks.sign(b"x".to_vec(), String::new()),
            Err(KeyStoreError::KeyNotFound)
        );
    }
}
