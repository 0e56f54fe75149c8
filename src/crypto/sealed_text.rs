//! Short text stored beside a transfer (the sender's message), sealed with the transfer's own
//! data key so that it is never plain in the database or its log, and so that destroying the
//! wrapped data key (withdrawal, purge) shreds the text with the file.
//!
//! Format: `version(1) = 1 || nonce(24) || XChaCha20-Poly1305(K, nonce, aad, text) || tag(16)`
//! where `K = HMAC-SHA256(DEK, "pigeonpost sealed text v1")` and `aad` is the object id. The
//! text key is derived rather than the DEK used directly so that the file's segment cipher and
//! this one never share a key, whatever their nonces; the nonce is random, which XChaCha20's
//! 24 bytes make safe.

use std::fmt;

use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

use super::{DataKey, ObjectId};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const LABEL: &[u8] = b"pigeonpost sealed text v1";

/// Sealed text as the database stores it. Its `Debug` shows the length only.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedText(Vec<u8>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TextError {
    #[error("sealed text is too short or of an unknown version")]
    Malformed,
    #[error("sealed text failed authentication (wrong key, wrong transfer, or altered)")]
    Authentication,
    #[error("sealed text is not UTF-8")]
    NotUtf8,
}

impl SealedText {
    /// Seals `text` for the object `object_id` under its data key.
    pub fn seal(dek: &DataKey, object_id: &ObjectId, text: &str) -> SealedText {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let sealed = cipher(dek)
            .encrypt(GenericArray::from_slice(&nonce), aead(text.as_bytes(), object_id))
            .expect("XChaCha20-Poly1305 encrypts any text under the AEAD's size limit");
        let mut bytes = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        bytes.push(VERSION);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        SealedText(bytes)
    }

    /// The text, if it was sealed for `object_id` under `dek` and not altered since.
    pub fn open(&self, dek: &DataKey, object_id: &ObjectId) -> Result<String, TextError> {
        let bytes = &self.0;
        if bytes.len() < 1 + NONCE_LEN + TAG_LEN || bytes[0] != VERSION {
            return Err(TextError::Malformed);
        }
        let (nonce, sealed) = bytes[1..].split_at(NONCE_LEN);
        let plain = Zeroizing::new(
            cipher(dek)
                .decrypt(GenericArray::from_slice(nonce), aead(sealed, object_id))
                .map_err(|_| TextError::Authentication)?,
        );
        String::from_utf8(plain.to_vec()).map_err(|_| TextError::NotUtf8)
    }

    /// The bytes as read back from the database.
    pub fn from_stored(bytes: Vec<u8>) -> SealedText {
        SealedText(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SealedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedText({} bytes)", self.0.len())
    }
}

fn cipher(dek: &DataKey) -> XChaCha20Poly1305 {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(dek.expose_secret()).expect("HMAC takes any key length");
    mac.update(LABEL);
    let key = Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
    XChaCha20Poly1305::new(GenericArray::from_slice(key.as_ref()))
}

fn aead<'a>(msg: &'a [u8], object_id: &'a ObjectId) -> chacha20poly1305::aead::Payload<'a, 'a> {
    chacha20poly1305::aead::Payload { msg, aad: object_id }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBJECT: ObjectId = [7; 16];

    #[test]
    fn sealed_text_opens_with_its_key_and_object_only() {
        let dek = DataKey::from_bytes([1; 32]);
        let sealed = SealedText::seal(&dek, &OBJECT, "Please see the attached return — Mrs Ó Briain");
        assert!(!sealed.as_bytes().windows(6).any(|w| w == b"attach"));
        assert_eq!(sealed.open(&dek, &OBJECT).unwrap(), "Please see the attached return — Mrs Ó Briain");
        assert_eq!(sealed.open(&DataKey::from_bytes([2; 32]), &OBJECT), Err(TextError::Authentication));
        assert_eq!(sealed.open(&dek, &[8; 16]), Err(TextError::Authentication));
    }

    #[test]
    fn altered_or_truncated_text_is_refused() {
        let dek = DataKey::from_bytes([1; 32]);
        let sealed = SealedText::seal(&dek, &OBJECT, "hello");
        let mut bytes = sealed.as_bytes().to_vec();
        *bytes.last_mut().unwrap() ^= 1;
        assert_eq!(SealedText::from_stored(bytes).open(&dek, &OBJECT), Err(TextError::Authentication));
        let short = SealedText::from_stored(sealed.as_bytes()[..20].to_vec());
        assert_eq!(short.open(&dek, &OBJECT), Err(TextError::Malformed));
        let mut other_version = sealed.as_bytes().to_vec();
        other_version[0] = 2;
        assert_eq!(SealedText::from_stored(other_version).open(&dek, &OBJECT), Err(TextError::Malformed));
    }

    #[test]
    fn the_same_text_seals_differently_each_time() {
        let dek = DataKey::from_bytes([1; 32]);
        assert_ne!(SealedText::seal(&dek, &OBJECT, "same"), SealedText::seal(&dek, &OBJECT, "same"));
    }
}
