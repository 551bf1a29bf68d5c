//! Secrets at rest: broker tokens are sealed with AES-256-GCM (ring) under the key from the
//! configuration (`secret_key`, 32 bytes), with a fresh random nonce per seal and the owning
//! account's id as associated data, so a sealed token copied to another account's row does not
//! open.
//!
//! A [`Secret`] never prints: its `Debug` is redacted and it has no `Display` and no `Serialize`.
//! The database only ever sees [`SealedSecret`] text; the key never goes near it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Deserializer};

/// Key length in bytes.
pub const KEY_LEN: usize = 32;

/// The version prefix of sealed text, so the format (or key) can change later.
const SEALED_PREFIX: &str = "v1.";

/// Why a key or a sealed secret is unusable.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The configured key is not 32 bytes in hex or base64.
    #[error(
        "secret_key must be 32 random bytes written as 64 hex digits or as base64 \
         (for example the output of `openssl rand -hex 32`)"
    )]
    BadKey,
    /// Sealed text is not in the expected format, or does not open under this key and account:
    /// tampered with, moved to another account, or sealed under another key.
    #[error("the stored secret cannot be opened: wrong secret_key, or the value was altered")]
    CannotOpen,
    /// The system's random generator failed.
    #[error("no randomness available to seal a secret")]
    NoRandomness,
}

/// A plaintext secret in memory (a broker token). Never printed, never serialised.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a plaintext secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The plaintext, for the one place that must send it (the broker's `auth-token` header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A secret as stored: `v1.` then base64 of nonce, ciphertext and tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSecret(String);

impl SealedSecret {
    /// Sealed text read back from the database.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The text to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key secrets are sealed under. Never printed.
#[derive(Clone)]
pub struct SecretKey([u8; KEY_LEN]);

impl SecretKey {
    /// Reads a key written as 64 hex digits or as base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| SecretError::BadKey)?
        } else {
            BASE64.decode(text).map_err(|_| SecretError::BadKey)?
        };
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| SecretError::BadKey)?;
        Ok(Self(key))
    }

    fn aead(&self) -> Result<LessSafeKey, SecretError> {
        UnboundKey::new(&AES_256_GCM, &self.0)
            .map(LessSafeKey::new)
            .map_err(|_| SecretError::BadKey)
    }

    /// Seals `secret` for `context` (the owning account's id), with a fresh random nonce.
    pub fn seal(&self, context: &str, secret: &Secret) -> Result<SealedSecret, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SecretError::NoRandomness)?;
        let mut in_out = secret.0.as_bytes().to_vec();
        self.aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| SecretError::CannotOpen)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + in_out.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        Ok(SealedSecret(format!(
            "{SEALED_PREFIX}{}",
            BASE64.encode(sealed)
        )))
    }

    /// Opens what [`SecretKey::seal`] sealed for the same `context`.
    pub fn open(&self, context: &str, sealed: &SealedSecret) -> Result<Secret, SecretError> {
        let bytes = sealed
            .0
            .strip_prefix(SEALED_PREFIX)
            .and_then(|text| BASE64.decode(text).ok())
            .ok_or(SecretError::CannotOpen)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::CannotOpen);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::CannotOpen)?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .aead()?
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| SecretError::CannotOpen)?;
        String::from_utf8(plain.to_vec())
            .map(Secret)
            .map_err(|_| SecretError::CannotOpen)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for SecretKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn keys_are_read_from_hex_or_base64_and_never_printed() {
        let key = SecretKey::parse(HEX).expect("hex");
        let base64 = BASE64.encode((0u8..32).collect::<Vec<_>>());
        let same = SecretKey::parse(&base64).expect("base64");
        assert_eq!(key.0, same.0);
        assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
        for bad in [
            "",
            "00",
            &HEX[..62],
            &format!("{HEX}00"),
            "not a key at all!",
        ] {
            assert_eq!(
                SecretKey::parse(bad).err(),
                Some(SecretError::BadKey),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_account() {
        let key = SecretKey::parse(HEX).expect("key");
        let token = Secret::new("metaapi-token-123");
        let sealed = key.seal("acc-1", &token).expect("seal");
        assert!(!sealed.as_str().contains("metaapi-token-123"));
        assert!(sealed.as_str().starts_with("v1."));
        assert_eq!(key.open("acc-1", &sealed).expect("open"), token);
        assert_ne!(
            key.seal("acc-1", &token).expect("seal"),
            sealed,
            "a fresh nonce every time"
        );

        let other = SecretKey::parse(&"ab".repeat(32)).expect("key");
        let mut tampered = sealed.as_str().to_owned();
        let last = tampered
            .pop()
            .map_or('A', |c| if c == 'A' { 'B' } else { 'A' });
        tampered.push(last);
        for (key, account, sealed) in [
            (&other, "acc-1", sealed.clone()),
            (&key, "acc-2", sealed.clone()),
            (&key, "acc-1", SealedSecret::from_stored(tampered)),
            (&key, "acc-1", SealedSecret::from_stored("v1.AAAA".into())),
            (
                &key,
                "acc-1",
                SealedSecret::from_stored("plain-token".into()),
            ),
        ] {
            assert_eq!(
                key.open(account, &sealed).err(),
                Some(SecretError::CannotOpen)
            );
        }
        assert_eq!(format!("{token:?}"), "Secret(<redacted>)");
    }
}
