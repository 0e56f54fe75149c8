//! Password hashing with Argon2id, stored as PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
//!
//! Argon2id is memory-hard, so guessing a stolen hash on GPUs is slow and costly. The parameters
//! are OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): a login costs tens of
//! milliseconds, which is fine for people and ruinous for offline guessing. The PHC string
//! records the parameters and salt, so existing hashes keep verifying if the parameters are
//! raised later; [`needs_rehash`] tells the caller when to re-hash after a successful login.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

/// Memory cost in KiB (19 MiB).
const M_COST_KIB: u32 = 19_456;
/// Passes over memory.
const T_COST: u32 = 2;
/// Lanes: one, so a verification uses one core and a login flood cannot starve the server.
const P_COST: u32 = 1;

/// Checked at compile time, so there is no runtime failure path for our own constants.
const PARAMS: Params = match Params::new(M_COST_KIB, T_COST, P_COST, None) {
    Ok(p) => p,
    Err(_) => panic!("invalid Argon2 parameters"),
};

/// A hash of a random password nobody knows, made with [`PARAMS`]; [`verify_against_dummy`]
/// verifies against it. It is a constant rather than computed on first use, so the first
/// unknown-user login is not slower (and so distinguishable) either. A test checks that its
/// parameters match [`PARAMS`]; regenerate it if they change.
const DUMMY_PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$y4fQPdi4JbxxJ5HzQZcHnw$5ozuK6JH8SryiapjFCNI8lVEyb9OXlxSKrqlou94hVQ";

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, PARAMS)
}

/// Hashes `password` with Argon2id and a fresh 128-bit random salt.
pub fn hash_password(password: &SecretString) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("encoding password salt: {e}"))?;
    let hash = hasher()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        // argon2's errors describe parameters and lengths, never the password itself.
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    Ok(hash.to_string())
}

/// True if `password` matches the Argon2id PHC string `phc`. False for a wrong password and for
/// anything that is not a well-formed Argon2id PHC string, so a corrupt record cannot let
/// someone in. The comparison of hash outputs is constant-time.
#[must_use]
pub fn verify_password(password: &SecretString, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    // Verification uses the parameters recorded in `phc`, not `PARAMS`.
    hasher().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok()
}

/// Spends the same time as a real verification, for logins naming an unknown user, so timing
/// does not reveal which usernames exist.
pub fn verify_against_dummy(password: &SecretString) {
    // The result is meaningless; only the work matters. `black_box` stops the optimiser
    // from discarding it.
    std::hint::black_box(verify_password(password, DUMMY_PHC));
}

/// True if `phc` was not made with the current algorithm and parameters (or cannot be
/// parsed), so the caller should store a fresh [`hash_password`] after the next successful
/// login, when it has the password in hand.
#[must_use]
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() || parsed.version != Some(Version::V0x13.into()) {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(p) => {
            p.m_cost() != M_COST_KIB
                || p.t_cost() != T_COST
                || p.p_cost() != P_COST
                || p.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN) != Params::DEFAULT_OUTPUT_LEN
        }
        Err(_) => true,
    }
}

/// A random initial password for an administrator to hand over: 4 groups of 5 characters from
/// an unambiguous 32-symbol alphabet, e.g. `k7pqm-x3vte-9wzra-h2mcd` (100 bits). Easy to read
/// out or copy from paper; the user should replace it on first sign-in.
#[must_use]
pub fn generate_password() -> SecretString {
    let mut s = super::random_grouped(4, 5);
    // `random_grouped` allocates exactly, so the conversion to `Box<str>` does not reallocate
    // and leave an unzeroized copy behind.
    SecretString::from(std::mem::take(&mut *s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[test]
    fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let phc = hash_password(&secret("otter lamp quietly")).expect("hashing works");
        assert!(verify_password(&secret("otter lamp quietly"), &phc));
        assert!(!verify_password(&secret("otter lamp quietly "), &phc));
        assert!(!verify_password(&secret("Otter lamp quietly"), &phc));
        assert!(!verify_password(&secret(""), &phc));
    }

    #[test]
    fn the_phc_string_is_argon2id_with_the_owasp_parameters() {
        let phc = hash_password(&secret("otter lamp quietly")).expect("hashing works");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let parsed = PasswordHash::new(&phc).expect("parses");
        assert_eq!(parsed.salt.map(|s| s.len()), Some(22), "128-bit salt");
        assert!(!needs_rehash(&phc));
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        let a = hash_password(&secret("otter lamp quietly")).expect("hashing works");
        let b = hash_password(&secret("otter lamp quietly")).expect("hashing works");
        assert_ne!(a, b);
    }

    #[test]
    fn garbage_and_other_algorithms_never_verify() {
        let pw = secret("password");
        for phc in [
            "",
            "password",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$2b$12$abcdefghijklmnopqrstuu5Xjv3p9bD5hXQ4pGf3sB2yQ3w9fQy",
        ] {
            assert!(!verify_password(&pw, phc), "{phc:?}");
            assert!(needs_rehash(phc), "{phc:?}");
        }
    }

    #[test]
    fn an_argon2i_hash_of_the_right_password_is_still_refused() {
        let salt = SaltString::encode_b64(&[7u8; 16]).expect("salt");
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, PARAMS)
            .hash_password(b"password", &salt)
            .expect("hashing works")
            .to_string();
        assert!(!verify_password(&secret("password"), &argon2i));
    }

    #[test]
    fn a_hash_with_older_parameters_verifies_but_needs_rehash() {
        let salt = SaltString::encode_b64(&[7u8; 16]).expect("salt");
        let weak = Params::new(8 * 1024, 1, 1, None).expect("params");
        let old = Argon2::new(Algorithm::Argon2id, Version::V0x13, weak)
            .hash_password(b"otter lamp quietly", &salt)
            .expect("hashing works")
            .to_string();
        assert!(verify_password(&secret("otter lamp quietly"), &old));
        assert!(needs_rehash(&old));
    }

    #[test]
    fn dummy_verification_runs_with_the_current_parameters() {
        // Timing is not asserted (too noisy on CI); the constant must use the real parameters,
        // which is what makes the time comparable.
        assert!(!needs_rehash(DUMMY_PHC));
        verify_against_dummy(&secret("anything at all"));
    }

    #[test]
    fn generated_passwords_are_four_groups_of_five_and_differ() {
        let a = generate_password();
        let b = generate_password();
        assert_ne!(a.expose_secret(), b.expose_secret());
        let groups: Vec<&str> = a.expose_secret().split('-').collect();
        assert_eq!(groups.len(), 4);
        assert!(groups.iter().all(|g| g.len() == 5));
        assert!(a.expose_secret().bytes().all(|c| c == b'-' || super::super::UNAMBIGUOUS_ALPHABET.contains(&c)));
    }

    #[test]
    fn debug_output_does_not_show_a_generated_password() {
        let pw = generate_password();
        assert!(!format!("{pw:?}").contains(pw.expose_secret()));
    }
}
