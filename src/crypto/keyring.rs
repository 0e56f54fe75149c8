//! Key-encryption keys (KEKs) and the wrapping of per-object data keys under them.
//!
//! A wrapped key is `nonce(24) || XChaCha20-Poly1305(KEK, nonce, aad, DEK)(32) || tag(16)`,
//! stored in the object's database row next to the id of the KEK that wrapped it. The 24-byte
//! nonce is random: XChaCha20's extended nonce makes random nonces safe for as many wraps as a
//! server will ever do, so no counter has to survive restarts or be shared between processes.
//!
//! The associated data binds a domain label, the KEK id and the object id, so a wrapped key
//! copied into another row (to make one transfer decrypt with another's key) or relabelled with
//! a different KEK id fails to unwrap instead of yielding a key.

mod env;
mod file;
#[cfg(all(test, unix))]
mod file_tests;
mod private_fs;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::{AeadInPlace, KeyInit, XChaCha20Poly1305};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::SecretString;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::data_key::DataKey;
use super::segment::ObjectId;

/// Length of the random XChaCha20 nonce at the start of a wrapped key.
pub const WRAP_NONCE_LEN: usize = 24;
/// Length of [`WrappedKey::bytes`]: nonce, encrypted 32-byte DEK, Poly1305 tag.
pub const WRAPPED_KEY_LEN: usize = WRAP_NONCE_LEN + 32 + 16;
/// Domain label at the start of the wrapping associated data. Versioned so a future wrapping
/// scheme can never accept a v1 wrapped key by accident (or the reverse).
pub const WRAP_AAD_LABEL: &[u8] = b"pigeonpost dek v1";
/// Length of a KEK's check value (see [`Keyring::check_values`]).
pub const CHECK_VALUE_LEN: usize = 16;
/// Longest KEK id accepted; ids are length-prefixed with one byte in the associated data.
const MAX_KEK_ID_LEN: usize = 64;

/// Where a keyring's keys came from, which decides whether it can rotate itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyringSource {
    /// A `keyring.json` file (this is its path) that the server owns and may rewrite.
    File(PathBuf),
    /// Keys handed in from outside (PIGEONPOST_MASTER_KEY, or [`Keyring::from_keys`]): the
    /// server cannot persist new keys there, so rotation is the operator's job.
    Environment,
}

/// A data key wrapped under one KEK, as stored in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub kek_id: String,
    /// `nonce(24) || ciphertext(32) || tag(16)`; not secret without the KEK.
    pub bytes: Vec<u8>,
}

/// Why a wrapped key could not be used. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "data key is wrapped under KEK {0:?}, which is not in the keyring \
         (was a retired key removed from PIGEONPOST_RETIRED_MASTER_KEYS or keyring.json?)"
    )]
    UnknownKek(String),
    #[error(
        "wrapped data key failed authentication \
         (wrong KEK, wrapped for another object, or the stored row is corrupted)"
    )]
    Unwrap,
    #[error("wrapped data key is {0} bytes, expected {WRAPPED_KEY_LEN}")]
    BadLength(usize),
}

/// One key-encryption key.
struct Kek {
    id: String,
    /// Kept for the keyring file; environment keys have no creation time we could know.
    created_at: Option<OffsetDateTime>,
    key: Zeroizing<[u8; 32]>,
}

/// Key-encryption keys (KEKs). Each has a short string id (e.g. "k1", "k2", or for an
/// environment key "env-<8 hex of sha256>").
///
/// New data keys are always wrapped under the primary KEK; the others stay only so that rows
/// wrapped before a rotation still open until `pigeonpost keys rewrap` has moved them.
/// Not `Clone` or `Serialize`; `Debug` lists ids only.
pub struct Keyring {
    source: KeyringSource,
    /// Index into `keys`; an index rather than an id so a missing primary is unrepresentable.
    primary: usize,
    keys: Vec<Kek>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("source", &self.source)
            .field("primary", &self.primary_id())
            .field("ids", &self.ids())
            .finish()
    }
}

/// KEK ids end up in database rows, error messages and log lines: keep them short and boring
/// so they never need escaping.
fn valid_kek_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEK_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `label || u8 len(kek_id) || kek_id || object_id`. The length prefix keeps the encoding
/// unambiguous; ids are validated to at most 64 bytes so it always fits.
fn wrap_aad(kek_id: &str, object_id: &ObjectId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_AAD_LABEL.len() + 1 + kek_id.len() + object_id.len());
    aad.extend_from_slice(WRAP_AAD_LABEL);
    aad.push(kek_id.len() as u8);
    aad.extend_from_slice(kek_id.as_bytes());
    aad.extend_from_slice(object_id);
    aad
}

impl Keyring {
    /// Loads `<data_dir>/keyring.json`, creating it (mode 0600, parent dir created, written
    /// atomically: temp file + fsync + rename + fsync dir) with one fresh KEK if absent. If
    /// `master_key` (base64 of exactly 32 bytes, from PIGEONPOST_MASTER_KEY) is Some, that key
    /// is the primary and NO file is created or required (an existing keyring.json is ignored);
    /// `retired_keys` (comma-separated base64 keys, from PIGEONPOST_RETIRED_MASTER_KEYS) are
    /// added as non-primary so rows wrapped under them still open. Returns whether a new keyring
    /// file was created.
    ///
    /// Refuses (clear error saying what to do) a keyring file readable by group/others, a
    /// malformed file, a bad base64 key, or retired keys without a master key.
    pub fn load_or_create(
        data_dir: &Path,
        master_key: Option<&SecretString>,
        retired_keys: Option<&SecretString>,
    ) -> anyhow::Result<(Keyring, bool)> {
        match master_key {
            Some(master) => Ok((env::from_environment(master, retired_keys)?, false)),
            None => {
                env::refuse_retired_without_master(retired_keys)?;
                file::load_or_create(data_dir)
            }
        }
    }

    /// The keyring the node already has, never a new one: from the environment when
    /// `master_key` is set, else `<data_dir>/keyring.json`, or None when there is no such file.
    /// Refuses what [`Keyring::load_or_create`] refuses.
    pub fn load_existing(
        data_dir: &Path,
        master_key: Option<&SecretString>,
        retired_keys: Option<&SecretString>,
    ) -> anyhow::Result<Option<Keyring>> {
        match master_key {
            Some(master) => Ok(Some(env::from_environment(master, retired_keys)?)),
            None => {
                env::refuse_retired_without_master(retired_keys)?;
                file::load_existing(data_dir)
            }
        }
    }

    /// The path of the keyring file a data directory holds (or would hold).
    pub fn file_path(data_dir: &Path) -> PathBuf {
        file::path_in(data_dir)
    }

    /// Builds a keyring from known keys, for tests and vectors. Its source is
    /// [`KeyringSource::Environment`]: the caller owns the keys, so nothing is persisted.
    ///
    /// # Panics
    /// If `primary_id` is not among `keys`, an id repeats, or an id is not 1-64 characters of
    /// `[A-Za-z0-9_-]`. These are programming errors in a test, not runtime conditions.
    pub fn from_keys(primary_id: &str, keys: Vec<(String, [u8; 32])>) -> Keyring {
        let keys: Vec<Kek> =
            keys.into_iter().map(|(id, key)| Kek { id, created_at: None, key: Zeroizing::new(key) }).collect();
        for (i, kek) in keys.iter().enumerate() {
            assert!(valid_kek_id(&kek.id), "invalid KEK id {:?}", kek.id);
            assert!(keys[..i].iter().all(|k| k.id != kek.id), "duplicate KEK id {:?}", kek.id);
        }
        let primary = keys
            .iter()
            .position(|k| k.id == primary_id)
            .unwrap_or_else(|| panic!("primary KEK {primary_id:?} is not among the keys"));
        Keyring { source: KeyringSource::Environment, primary, keys }
    }

    pub fn source(&self) -> &KeyringSource {
        &self.source
    }

    pub fn primary_id(&self) -> &str {
        &self.keys[self.primary].id
    }

    /// All KEK ids, in keyring order (file order; for environment keys the master first).
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    /// File keyrings only: adds a fresh KEK ("k<n+1>"), makes it primary, saves atomically.
    /// Environment keyrings -> Err explaining how to rotate the environment keys instead.
    ///
    /// If saving fails the keyring is left exactly as it was: a primary that never reached the
    /// disk would wrap keys nobody could unwrap after a restart. Refuses if the file changed on
    /// disk since it was loaded (another process rotated), rather than overwrite its new key.
    pub fn rotate(&mut self) -> anyhow::Result<String> {
        let path = match &self.source {
            KeyringSource::File(path) => path.clone(),
            KeyringSource::Environment => anyhow::bail!(
                "this keyring comes from PIGEONPOST_MASTER_KEY, which the server cannot change: \
                 to rotate, generate a new key (e.g. `openssl rand -base64 32`), set it as \
                 PIGEONPOST_MASTER_KEY, move the old value into PIGEONPOST_RETIRED_MASTER_KEYS \
                 (comma-separated), restart, then run `pigeonpost keys rewrap`"
            ),
        };
        const UNCHANGED: &str = "rotating the keyring failed; the keyring is unchanged";
        file::ensure_unchanged(&path, self).context(UNCHANGED)?;
        let id = file::next_kek_id(self.keys.iter().map(|k| k.id.as_str()));
        let previous_primary = self.primary;
        self.keys.push(file::fresh_kek(id.clone()));
        self.primary = self.keys.len() - 1;
        if let Err(err) = file::save(&path, self) {
            self.keys.pop();
            self.primary = previous_primary;
            return Err(err.context(UNCHANGED));
        }
        Ok(id)
    }

    /// Keys for another purpose (signing session tokens, say), derived from every KEK as
    /// HMAC-SHA256(KEK, label). Every node that shares the keyring derives the same keys, and a
    /// rotation rotates them too; each comes with its KEK's id so a verifier can pick the right
    /// one. The primary's comes first.
    pub fn derived_keys(&self, label: &str) -> Vec<(String, Zeroizing<[u8; 32]>)> {
        use hmac::{Hmac, Mac};
        let derive = |kek: &Kek| {
            let mut mac =
                <Hmac<sha2::Sha256> as Mac>::new_from_slice(kek.key.as_slice()).expect("HMAC takes any key length");
            mac.update(b"pigeonpost derived key v1\0");
            mac.update(label.as_bytes());
            let out: [u8; 32] = mac.finalize().into_bytes().into();
            (kek.id.clone(), Zeroizing::new(out))
        };
        let primary = &self.keys[self.primary];
        std::iter::once(derive(primary)).chain(self.keys.iter().filter(|k| k.id != primary.id).map(derive)).collect()
    }

    /// Each KEK's id with its check value: HMAC-SHA256(KEK, label) cut to 16 bytes. A database
    /// records these to tell, without holding any key, whether a node's key of a given id is
    /// the one its data was sealed under. The primary's comes first.
    pub fn check_values(&self) -> Vec<(String, [u8; CHECK_VALUE_LEN])> {
        self.derived_keys("master key check")
            .into_iter()
            .map(|(id, key)| {
                let mut check = [0u8; CHECK_VALUE_LEN];
                check.copy_from_slice(&key[..CHECK_VALUE_LEN]);
                (id, check)
            })
            .collect()
    }

    /// Wraps under the primary KEK with XChaCha20-Poly1305 and a random 24-byte nonce.
    pub fn wrap(&self, dek: &DataKey, object_id: &ObjectId) -> WrappedKey {
        let mut nonce = [0u8; WRAP_NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        self.wrap_with_nonce(dek, object_id, nonce)
    }

    /// Wraps with a chosen nonce. For test vectors only: a repeated nonce under one KEK leaks
    /// the XOR of the two data keys.
    pub fn wrap_with_nonce(&self, dek: &DataKey, object_id: &ObjectId, nonce: [u8; WRAP_NONCE_LEN]) -> WrappedKey {
        let kek = &self.keys[self.primary];
        let cipher = XChaCha20Poly1305::new(GenericArray::from_slice(kek.key.as_ref()));
        let mut sealed = Zeroizing::new(*dek.expose_secret());
        let tag = cipher
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce), &wrap_aad(&kek.id, object_id), sealed.as_mut())
            .expect("XChaCha20-Poly1305 encrypts 32 bytes without error");
        let mut bytes = Vec::with_capacity(WRAPPED_KEY_LEN);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(sealed.as_ref());
        bytes.extend_from_slice(&tag);
        WrappedKey { kek_id: kek.id.clone(), bytes }
    }

    /// Unwraps a data key with whichever KEK `wrapped.kek_id` names, checking that it was
    /// wrapped for `object_id`.
    pub fn unwrap(&self, wrapped: &WrappedKey, object_id: &ObjectId) -> Result<DataKey, KeyError> {
        let kek = self
            .keys
            .iter()
            .find(|k| k.id == wrapped.kek_id)
            .ok_or_else(|| KeyError::UnknownKek(wrapped.kek_id.clone()))?;
        if wrapped.bytes.len() != WRAPPED_KEY_LEN {
            return Err(KeyError::BadLength(wrapped.bytes.len()));
        }
        let (nonce, rest) = wrapped.bytes.split_at(WRAP_NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(32);
        let cipher = XChaCha20Poly1305::new(GenericArray::from_slice(kek.key.as_ref()));
        let mut dek = Zeroizing::new([0u8; 32]);
        dek.copy_from_slice(ciphertext);
        cipher
            .decrypt_in_place_detached(
                GenericArray::from_slice(nonce),
                &wrap_aad(&kek.id, object_id),
                dek.as_mut(),
                GenericArray::from_slice(tag),
            )
            .map_err(|_| KeyError::Unwrap)?;
        Ok(DataKey::from_bytes(*dek))
    }

    /// Unwraps with whatever KEK it was under and wraps again under the primary.
    pub fn rewrap(&self, wrapped: &WrappedKey, object_id: &ObjectId) -> Result<WrappedKey, KeyError> {
        let dek = self.unwrap(wrapped, object_id)?;
        Ok(self.wrap(&dek, object_id))
    }
}
