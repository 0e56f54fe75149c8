//! Proving who someone is: the credential primitives behind sign-in. No I/O and no database
//! here; the service layer stores what these functions return and passes it back in.
//!
//! - [`password`]: Argon2id password hashes as PHC strings (OWASP parameters), a dummy
//!   verification so a login naming an unknown user takes as long as one naming a real user,
//!   and random initial passwords for administrators to hand over.
//! - [`password_policy`]: what a new password must satisfy. Length over complexity, as the NCSC
//!   and NIST SP 800-63B advise: composition rules push people to `Password1!`, while a
//!   minimum length plus a block-list of the commonest passwords stops the guesses that work.
//! - [`totp`]: RFC 6238 one-time codes for the second factor, with replay refused, because a
//!   code seen over a shoulder or phished must not open a second session.
//! - [`recovery_codes`]: single-use codes for a user who has lost their authenticator; stored
//!   only as hashes, and forgiving about case and dashes because they are typed from paper.
//! - [`access_token`]: short-lived HS256 JWTs that API requests carry. Verification checks each
//!   property explicitly (algorithm first, then key id, signature, time, issuer, audience),
//!   so a forged `alg: none` or algorithm-confusion token is refused before anything else.
//! - [`refresh_token`]: long-lived opaque random tokens that mint new access tokens; stored only
//!   as SHA-256 hashes so a leaked database does not leak live sessions.
//!
//! Secrets travel as [`secrecy::SecretString`] or in [`zeroize::Zeroizing`] buffers, and no
//! `Debug`, `Display` or error message in this module contains one.

pub mod access_token;
pub mod password;
pub mod password_policy;
pub mod recovery_codes;
pub mod refresh_token;
pub mod totp;

use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

/// 32 symbols, so each carries exactly 5 bits and a random byte maps onto one without bias:
/// Crockford's base32 alphabet in lower case. It has no `i`, `l`, `o` or `u`, so nothing a
/// person reads off a screen or paper can be mistaken for another symbol (`0`/`o`, `1`/`l`).
const UNAMBIGUOUS_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `groups` groups of `group_len` random symbols from [`UNAMBIGUOUS_ALPHABET`], joined by `-`.
/// Draws from the operating system's CSPRNG, as these are credentials.
fn random_grouped(groups: usize, group_len: usize) -> Zeroizing<String> {
    let mut bytes = Zeroizing::new(vec![0u8; groups * group_len]);
    OsRng.fill_bytes(&mut bytes);
    // Exactly the final length, so converting to `Box<str>` (as `SecretString` does) keeps this
    // allocation rather than copying and leaving an unzeroized original behind.
    let len = groups * group_len + groups.saturating_sub(1);
    let mut out = Zeroizing::new(String::with_capacity(len));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % group_len == 0 {
            out.push('-');
        }
        // 256 is a multiple of 32, so masking to 5 bits is uniform.
        out.push(char::from(UNAMBIGUOUS_ALPHABET[usize::from(b & 0x1f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alphabet_has_32_distinct_symbols_and_no_lookalikes() {
        let mut sorted = UNAMBIGUOUS_ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 32);
        for c in b"ilou" {
            assert!(!UNAMBIGUOUS_ALPHABET.contains(c));
        }
    }

    #[test]
    fn grouped_strings_have_the_requested_shape() {
        let s = random_grouped(3, 4);
        let groups: Vec<&str> = s.split('-').collect();
        assert_eq!(groups.len(), 3);
        assert!(groups.iter().all(|g| g.len() == 4));
        assert_eq!(s.capacity(), s.len(), "allocated exactly");
        assert!(s.bytes().filter(|&b| b != b'-').all(|b| UNAMBIGUOUS_ALPHABET.contains(&b)));
    }
}
