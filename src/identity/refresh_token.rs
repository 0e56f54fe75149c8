//! Refresh tokens: opaque random strings that a client exchanges for new access tokens.
//!
//! They are long-lived, so they carry no meaning of their own (revoking one is deleting a row)
//! and the server stores only their SHA-256 hash: someone who reads the database cannot use
//! what they find. A fast hash is right here, unlike for passwords, because the token has 256
//! random bits and cannot be guessed from its hash. The `ppr_` prefix makes a leaked token easy
//! to recognise, for people and for secret scanners.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const PREFIX: &str = "ppr_";
/// Random bytes per token: 256 bits.
const RANDOM_BYTES: usize = 32;
/// Base64url without padding of [`RANDOM_BYTES`].
const ENCODED_LEN: usize = 43;

/// A newly issued refresh token: `token` goes to the client once; `hash` goes in the database.
pub struct IssuedRefreshToken {
    /// `ppr_` followed by 43 base64url characters.
    pub token: SecretString,
    /// SHA-256 of the whole token string, as returned by [`hash_refresh_token`].
    pub hash: [u8; 32],
}

impl fmt::Debug for IssuedRefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedRefreshToken")
            .field("token", &"[REDACTED]")
            .field("hash", &hex::encode(self.hash))
            .finish()
    }
}

/// A fresh token from 32 bytes of operating-system randomness, and its hash.
#[must_use]
pub fn issue_refresh_token() -> IssuedRefreshToken {
    let mut bytes = Zeroizing::new([0u8; RANDOM_BYTES]);
    OsRng.fill_bytes(bytes.as_mut());
    let mut token = Zeroizing::new(String::with_capacity(PREFIX.len() + ENCODED_LEN));
    token.push_str(PREFIX);
    URL_SAFE_NO_PAD.encode_string(bytes.as_ref(), &mut token);
    let hash = sha256(&token);
    IssuedRefreshToken {
        // Capacity is exact, so the conversion to `Box<str>` does not copy.
        token: SecretString::from(std::mem::take(&mut *token)),
        hash,
    }
}

/// The hash to look a presented token up by, or `None` if `token` is not of our shape (so
/// rubbish is refused without a database query).
#[must_use]
pub fn hash_refresh_token(token: &str) -> Option<[u8; 32]> {
    let body = token.strip_prefix(PREFIX)?;
    if body.len() != ENCODED_LEN {
        return None;
    }
    // Decoding also rejects non-canonical final characters, so each token has one spelling.
    let mut decoded = Zeroizing::new([0u8; RANDOM_BYTES + 3]);
    match URL_SAFE_NO_PAD.decode_slice(body, decoded.as_mut()) {
        Ok(RANDOM_BYTES) => Some(sha256(token)),
        _ => None,
    }
}

fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_token_is_ppr_and_43_base64url_characters() {
        let issued = issue_refresh_token();
        let token = issued.token.expose_secret();
        assert_eq!(token.len(), 47);
        let body = token.strip_prefix("ppr_").expect("prefix");
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn the_issued_hash_is_what_hashing_the_token_gives() {
        let issued = issue_refresh_token();
        assert_eq!(hash_refresh_token(issued.token.expose_secret()), Some(issued.hash));
        let expected: [u8; 32] = Sha256::digest(issued.token.expose_secret().as_bytes()).into();
        assert_eq!(issued.hash, expected);
    }

    #[test]
    fn tokens_differ_each_time() {
        let a = issue_refresh_token();
        let b = issue_refresh_token();
        assert_ne!(a.token.expose_secret(), b.token.expose_secret());
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn strings_not_of_our_shape_have_no_hash() {
        let issued = issue_refresh_token();
        let good = issued.token.expose_secret();
        let body = &good[4..];
        for bad in [
            String::new(),
            "ppr_".to_string(),
            body.to_string(),
            format!("ppx_{body}"),
            format!("PPR_{body}"),
            format!("{good}A"),
            good[..46].to_string(),
            format!("ppr_{}+", &body[..42]),
            format!("ppr_{}=", &body[..42]),
            format!(" {good}"),
            format!("ppr_{}", "é".repeat(21)),
        ] {
            assert_eq!(hash_refresh_token(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_non_canonical_final_character_is_refused() {
        // 43 characters carry 258 bits; the last 2 must be zero. 'B' sets one of them.
        let token = format!("ppr_{}B", "A".repeat(42));
        assert_eq!(hash_refresh_token(&token), None);
        let canonical = format!("ppr_{}E", "A".repeat(42));
        assert!(hash_refresh_token(&canonical).is_some());
    }

    #[test]
    fn debug_output_does_not_show_the_token() {
        let issued = issue_refresh_token();
        let shown = format!("{issued:?}");
        assert!(!shown.contains(&issued.token.expose_secret()[4..]));
        assert!(shown.contains("[REDACTED]"));
    }
}
