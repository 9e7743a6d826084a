//! Secrets at rest: AES-256-GCM for OAuth tokens and channel secrets, SHA-256 for API keys.
//!
//! An encrypted value is stored as `keyid:nonce:ciphertext`, the last two in standard
//! base64. The key id is the first 8 hex digits of SHA-256 of the key, so after a key
//! rotation the values still encrypted under an old key can be found and re-encrypted.
//! Each value gets a fresh random 96-bit nonce.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The environment variable holding the base64 encoding of the 32-byte key.
pub const ENCRYPTION_KEY_VAR: &str = "SLOTWISE_ENCRYPTION_KEY";

/// Why a secret could not be encrypted or decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The key is not the base64 encoding of exactly 32 bytes.
    #[error("{ENCRYPTION_KEY_VAR} must be the base64 encoding of 32 bytes")]
    InvalidKey,
    /// The variable is not set.
    #[error("{ENCRYPTION_KEY_VAR} is not set")]
    MissingKey,
    /// The value was encrypted under a key this cipher does not hold.
    #[error("value was encrypted with key {key_id}, which {ENCRYPTION_KEY_VAR} does not provide")]
    UnknownKey {
        /// The key id stored with the value.
        key_id: String,
    },
    /// The stored text is not `keyid:nonce:ciphertext`.
    #[error("malformed encrypted value")]
    Malformed,
    /// Authentication failed: the value was tampered with or the key is wrong.
    #[error("decryption failed (wrong key or tampered value)")]
    Decrypt,
}

struct KeyEntry {
    id: String,
    cipher: Aes256Gcm,
}

/// Encrypts and decrypts secrets with AES-256-GCM.
///
/// Holds the current key (used to encrypt) and optionally older keys (used only to
/// decrypt values written before a rotation). `Debug` shows key ids, never keys.
#[derive(Clone)]
pub struct TokenCipher {
    keys: std::sync::Arc<Vec<KeyEntry>>,
}

impl fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCipher").field("key_ids", &self.keys.iter().map(|k| &k.id).collect::<Vec<_>>()).finish()
    }
}

/// The key id of raw key bytes: the first 8 hex digits of their SHA-256.
fn key_id(key: &[u8]) -> String {
    sha256_hex(key)[..8].to_owned()
}

fn decode_key(base64_key: &str) -> Result<KeyEntry, CryptoError> {
    let bytes = STANDARD.decode(base64_key.trim()).map_err(|_| CryptoError::InvalidKey)?;
    if bytes.len() != 32 {
        return Err(CryptoError::InvalidKey);
    }
    Ok(KeyEntry { id: key_id(&bytes), cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)) })
}

impl TokenCipher {
    /// A cipher from the base64 encoding of a 32-byte key.
    pub fn from_base64_key(key: &SecretString) -> Result<Self, CryptoError> {
        Ok(Self { keys: std::sync::Arc::new(vec![decode_key(key.expose_secret())?]) })
    }

    /// A cipher from [`ENCRYPTION_KEY_VAR`].
    pub fn from_env() -> Result<Self, CryptoError> {
        let key = std::env::var(ENCRYPTION_KEY_VAR).map_err(|_| CryptoError::MissingKey)?;
        Self::from_base64_key(&SecretString::from(key))
    }

    /// A fresh random key, base64-encoded (for set-up scripts and tests).
    pub fn generate_key() -> SecretString {
        let key = Aes256Gcm::generate_key(OsRng);
        SecretString::from(STANDARD.encode(key))
    }

    /// Adds an older key that may still be needed to decrypt stored values.
    pub fn with_previous_key(self, key: &SecretString) -> Result<Self, CryptoError> {
        let mut keys: Vec<KeyEntry> =
            self.keys.iter().map(|k| KeyEntry { id: k.id.clone(), cipher: k.cipher.clone() }).collect();
        keys.push(decode_key(key.expose_secret())?);
        Ok(Self { keys: std::sync::Arc::new(keys) })
    }

    /// The id of the key new values are encrypted with.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Encrypts `plaintext` under the current key with a fresh nonce.
    pub fn encrypt(&self, plaintext: &str) -> Result<String, CryptoError> {
        let key = &self.keys[0];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = key.cipher.encrypt(&nonce, plaintext.as_bytes()).map_err(|_| CryptoError::Decrypt)?;
        Ok(format!("{}:{}:{}", key.id, STANDARD.encode(nonce), STANDARD.encode(ciphertext)))
    }

    /// Decrypts a value written by [`encrypt`](Self::encrypt) under any key this cipher holds.
    pub fn decrypt(&self, stored: &str) -> Result<SecretString, CryptoError> {
        let mut parts = stored.splitn(3, ':');
        let (Some(id), Some(nonce), Some(ciphertext)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CryptoError::Malformed);
        };
        let key =
            self.keys.iter().find(|k| k.id == id).ok_or_else(|| CryptoError::UnknownKey { key_id: id.to_owned() })?;
        let nonce = STANDARD.decode(nonce).map_err(|_| CryptoError::Malformed)?;
        if nonce.len() != 12 {
            return Err(CryptoError::Malformed);
        }
        let ciphertext = STANDARD.decode(ciphertext).map_err(|_| CryptoError::Malformed)?;
        let plaintext =
            key.cipher.decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice()).map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plaintext).map(SecretString::from).map_err(|_| CryptoError::Decrypt)
    }

    /// Whether a stored value was encrypted under an older key and should be rewritten.
    pub fn needs_reencryption(&self, stored: &str) -> bool {
        stored.split(':').next() != Some(self.current_key_id())
    }
}

/// Lower-case hex SHA-256 of `bytes` (API-key hashes, request hashes for idempotency).
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    Sha256::digest(bytes.as_ref()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A new tenant API key: `sw_` and 32 random bytes, URL-safe base64.
///
/// Keys are high-entropy random tokens, so a plain SHA-256 is a sufficient hash: there
/// is nothing to brute-force that a slow password hash would protect.
pub fn generate_api_key() -> SecretString {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(format!("sw_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The stored form of an API key.
pub fn hash_api_key(key: &SecretString) -> String {
    sha256_hex(key.expose_secret().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fresh_nonce() {
        let cipher = TokenCipher::from_base64_key(&TokenCipher::generate_key()).unwrap();
        let a = cipher.encrypt("ya29.token").unwrap();
        let b = cipher.encrypt("ya29.token").unwrap();
        assert_ne!(a, b, "each value gets its own nonce");
        assert!(!a.contains("ya29"));
        assert_eq!(cipher.decrypt(&a).unwrap().expose_secret(), "ya29.token");
        assert!(a.starts_with(cipher.current_key_id()));
    }

    #[test]
    fn wrong_key_is_a_typed_error() {
        let one = TokenCipher::from_base64_key(&TokenCipher::generate_key()).unwrap();
        let two = TokenCipher::from_base64_key(&TokenCipher::generate_key()).unwrap();
        let stored = one.encrypt("secret").unwrap();
        assert!(matches!(two.decrypt(&stored), Err(CryptoError::UnknownKey { .. })));
        // Same key id but different key material (a forged id) fails authentication.
        let forged = stored.replacen(one.current_key_id(), two.current_key_id(), 1);
        assert_eq!(two.decrypt(&forged).unwrap_err(), CryptoError::Decrypt);
    }

    #[test]
    fn rotation_decrypts_old_values() {
        let old_key = TokenCipher::generate_key();
        let old = TokenCipher::from_base64_key(&old_key).unwrap();
        let stored = old.encrypt("refresh").unwrap();
        let new =
            TokenCipher::from_base64_key(&TokenCipher::generate_key()).unwrap().with_previous_key(&old_key).unwrap();
        assert!(new.needs_reencryption(&stored));
        assert_eq!(new.decrypt(&stored).unwrap().expose_secret(), "refresh");
    }

    #[test]
    fn bad_keys_are_rejected() {
        for key in ["", "not base64!", "AAAA"] {
            assert_eq!(TokenCipher::from_base64_key(&SecretString::from(key)).unwrap_err(), CryptoError::InvalidKey);
        }
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = TokenCipher::generate_key();
        let cipher = TokenCipher::from_base64_key(&key).unwrap();
        let debug = format!("{cipher:?}");
        assert!(!debug.contains(key.expose_secret()));
        assert!(debug.contains(cipher.current_key_id()));
    }
}
