//! Single-use recovery codes, for a user who has lost the device with their authenticator app.
//!
//! Each code is 12 symbols from a 32-symbol alphabet (60 bits), shown as `xxxx-xxxx-xxxx`. The
//! user sees the codes once; the server stores only [`hash_recovery_code`] of each and deletes
//! a hash when its code is used. Codes are typed from paper, so the hash is taken over a
//! normalised form: case, dashes and spaces do not matter, and the letters the alphabet leaves
//! out because they look like digits (`o`, `i`, `l`) are read as those digits.
//!
//! A plain SHA-256 is enough here: 60 random bits cannot be found from a stolen hash by
//! guessing the way a password can, and a recovery code replaces only the second factor.

use std::collections::HashSet;

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// `n` distinct fresh codes, each `xxxx-xxxx-xxxx`.
#[must_use]
pub fn generate_recovery_codes(n: usize) -> Vec<SecretString> {
    let mut seen: HashSet<[u8; 32]> = HashSet::with_capacity(n);
    let mut codes = Vec::with_capacity(n);
    while codes.len() < n {
        let mut code = super::random_grouped(3, 4);
        // A repeat is astronomically unlikely at 60 bits, but costs nothing to rule out.
        if seen.insert(hash_recovery_code(&code)) {
            codes.push(SecretString::from(std::mem::take(&mut *code)));
        }
    }
    codes
}

/// SHA-256 of the normalised code (lower-case, dashes and whitespace removed, `o` read as `0`
/// and `i`/`l` as `1`), so users can type it loosely.
#[must_use]
pub fn hash_recovery_code(code: &str) -> [u8; 32] {
    let normalised: Zeroizing<String> = Zeroizing::new(
        code.chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .map(|c| match c {
                'o' => '0',
                'i' | 'l' => '1',
                other => other,
            })
            .collect(),
    );
    Sha256::digest(normalised.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn codes_are_three_groups_of_four_from_the_alphabet() {
        for code in generate_recovery_codes(10) {
            let code = code.expose_secret();
            assert_eq!(code.len(), 14, "{}", code.len());
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 3);
            for g in groups {
                assert_eq!(g.len(), 4);
                assert!(g.bytes().all(|b| super::super::UNAMBIGUOUS_ALPHABET.contains(&b)));
            }
        }
    }

    #[test]
    fn each_code_carries_at_least_60_bits() {
        let symbols = super::super::UNAMBIGUOUS_ALPHABET.len() as f64;
        assert!(12.0 * symbols.log2() >= 60.0);
    }

    #[test]
    fn codes_in_a_batch_are_unique() {
        let codes = generate_recovery_codes(100);
        assert_eq!(codes.len(), 100);
        let distinct: HashSet<&str> = codes.iter().map(|c| c.expose_secret()).collect();
        assert_eq!(distinct.len(), 100);
    }

    #[test]
    fn zero_codes_is_an_empty_batch() {
        assert!(generate_recovery_codes(0).is_empty());
    }

    #[test]
    fn case_dashes_and_spaces_do_not_change_the_hash() {
        let h = hash_recovery_code("abcdefghjkmn");
        assert_eq!(hash_recovery_code("ABCD-efgh-jkmn"), h);
        assert_eq!(hash_recovery_code(" abcd efgh jkmn\n"), h);
        assert_eq!(hash_recovery_code("abcd--efgh-JKMN"), h);
    }

    #[test]
    fn lookalike_letters_are_read_as_digits() {
        assert_eq!(hash_recovery_code("0011-ab0c-d1e1"), hash_recovery_code("oOiL-abOc-dIel"));
    }

    #[test]
    fn different_codes_hash_differently() {
        assert_ne!(hash_recovery_code("abcd-efgh-jkmn"), hash_recovery_code("abcd-efgh-jkmp"));
    }

    #[test]
    fn a_generated_code_hashes_to_the_same_value_however_it_is_typed() {
        let code = generate_recovery_codes(1).remove(0);
        let typed = code.expose_secret().to_uppercase().replace('-', " ");
        assert_eq!(hash_recovery_code(&typed), hash_recovery_code(code.expose_secret()));
    }

    #[test]
    fn the_hash_is_sha256_of_the_normalised_form() {
        assert_eq!(hex::encode(hash_recovery_code("ABCD-efgh-jkmn")), hex::encode(Sha256::digest(b"abcdefghjkmn")));
    }
}
