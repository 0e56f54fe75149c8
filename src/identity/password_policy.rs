//! What a new password must satisfy: length over complexity, following the NCSC's password
//! guidance and NIST SP 800-63B.
//!
//! There are deliberately no composition rules ("one upper-case letter, one symbol"): they push
//! people towards `Password1!`, which every guessing tool tries early. Instead a password must
//! be long enough, must not be one of the commonest passwords (also with the usual trailing
//! digits and symbols removed), and must not contain the username. Any printable character,
//! including spaces and non-Latin scripts, is allowed, so passphrases work.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The commonest passwords, one per line, lower-case.
const COMMON_PASSWORDS: &str = include_str!("../../config/common-passwords.txt");

/// Usernames shorter than this are not searched for inside passwords: a two-letter username
/// would forbid too many good passwords for no gain.
const MIN_USERNAME_CHARS_TO_CHECK: usize = 3;

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON_PASSWORDS.lines().map(str::trim).filter(|l| !l.is_empty()).collect())
}

/// Length limits, counted in characters (Unicode scalar values), not bytes, so a password in
/// any script gets the same allowance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// At least 12: long enough that only the block-listed passwords are guessable online.
    pub min_chars: usize,
    /// At most 128: generous for passphrases and password managers, while bounding the work
    /// one login request can cause.
    pub max_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_chars: 12, max_chars: 128 }
    }
}

/// Why a password was refused. The messages are written for the person choosing the password
/// and never include the password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyViolation {
    #[error("use at least {min} characters; a phrase of three or four random words is easy to remember")]
    TooShort { min: usize },
    #[error("use no more than {max} characters")]
    TooLong { max: usize },
    #[error(
        "this password is one of the most commonly used and is among the first that attackers \
         try; choose something less predictable, such as three or four random words"
    )]
    Common,
    #[error("do not include your username in your password")]
    ContainsUsername,
    #[error("remove invisible characters such as tabs or line breaks from your password")]
    ControlCharacters,
}

impl PasswordPolicy {
    /// Checks `password` for a user called `username`, returning the first problem found.
    pub fn check(&self, password: &str, username: &str) -> Result<(), PolicyViolation> {
        if password.chars().any(char::is_control) {
            return Err(PolicyViolation::ControlCharacters);
        }
        let chars = password.chars().count();
        if chars < self.min_chars {
            return Err(PolicyViolation::TooShort { min: self.min_chars });
        }
        if chars > self.max_chars {
            return Err(PolicyViolation::TooLong { max: self.max_chars });
        }
        let lower = password.to_lowercase();
        if is_common(&lower) {
            return Err(PolicyViolation::Common);
        }
        if contains_username(&lower, username) {
            return Err(PolicyViolation::ContainsUsername);
        }
        Ok(())
    }
}

/// `lower` is in the list as it stands, or once the trailing digits, punctuation and spaces
/// that people tack on to satisfy old rules are removed (`password123!` -> `password`), or is a
/// repetition or run that no list needs to spell out (`aaaaaaaaaaaa`, `123456789012`).
fn is_common(lower: &str) -> bool {
    let set = common_passwords();
    if set.contains(lower) || is_repetitive_or_sequential(lower) {
        return true;
    }
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace());
    !stem.is_empty() && set.contains(stem)
}

/// A short unit (up to 4 characters) repeated to fill the password (`abcabcabcabc`), or one
/// unbroken ascending or descending run of digits (wrapping 9 to 0) or letters.
fn is_repetitive_or_sequential(lower: &str) -> bool {
    let chars: Vec<char> = lower.chars().collect();
    let repeated =
        (1..=4).any(|unit| chars.len() > unit && chars.iter().enumerate().all(|(i, c)| *c == chars[i % unit]));
    let step = |a: char, b: char| -> Option<i32> {
        match (a.to_digit(10), b.to_digit(10)) {
            (Some(x), Some(y)) => match (y + 10 - x) % 10 {
                1 => Some(1),
                9 => Some(-1),
                _ => None,
            },
            _ if a.is_ascii_lowercase() && b.is_ascii_lowercase() => {
                Some(i32::from(b as u8) - i32::from(a as u8)).filter(|d| d.abs() == 1)
            }
            _ => None,
        }
    };
    let steps: Vec<Option<i32>> = chars.windows(2).map(|w| step(w[0], w[1])).collect();
    let sequential = steps.first().is_some_and(|first| first.is_some() && steps.iter().all(|s| s == first));
    repeated || sequential
}

/// `lower` contains the username, or the part of an email-style username before the `@`,
/// ignoring case.
fn contains_username(lower: &str, username: &str) -> bool {
    let username = username.trim().to_lowercase();
    let local = username.split('@').next().unwrap_or_default();
    [username.as_str(), local]
        .iter()
        .any(|candidate| candidate.chars().count() >= MIN_USERNAME_CHARS_TO_CHECK && lower.contains(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str) -> Result<(), PolicyViolation> {
        PasswordPolicy::default().check(password, "jsmith")
    }

    #[test]
    fn the_defaults_are_12_to_128_characters() {
        let p = PasswordPolicy::default();
        assert_eq!((p.min_chars, p.max_chars), (12, 128));
    }

    #[test]
    fn a_twelve_character_passphrase_passes() {
        assert_eq!(check("otter lamp q"), Ok(()));
        assert_eq!(check("otter lamp quietly"), Ok(()));
    }

    #[test]
    fn a_short_password_is_too_short() {
        assert_eq!(check("otter lamp"), Err(PolicyViolation::TooShort { min: 12 }));
        assert_eq!(check(""), Err(PolicyViolation::TooShort { min: 12 }));
    }

    #[test]
    fn a_long_password_is_too_long() {
        let long = "otter lamp quietly ".repeat(7);
        assert_eq!(check(&long[..128]), Ok(()));
        assert_eq!(check(&long[..129]), Err(PolicyViolation::TooLong { max: 128 }));
    }

    #[test]
    fn unicode_is_counted_by_characters_not_bytes() {
        // 11 characters, 22 bytes: too short even though the bytes would pass.
        assert_eq!(check(&"é".repeat(11)), Err(PolicyViolation::TooShort { min: 12 }));
        // 12 characters of a non-Latin script pass.
        assert_eq!(check("日本語のパスフレーズです"), Ok(()));
        // 128 characters of more than 128 bytes are within the limit; 129 are not.
        let phrase: String = "grüße aus köln über brücken".chars().cycle().take(128).collect();
        assert!(phrase.len() > 128);
        assert_eq!(check(&phrase), Ok(()));
        assert_eq!(check(&format!("{phrase}ü")), Err(PolicyViolation::TooLong { max: 128 }));
    }

    #[test]
    fn password123_with_a_bang_is_common() {
        assert_eq!(check("Password123!"), Err(PolicyViolation::Common));
    }

    #[test]
    fn common_passwords_are_caught_in_any_case_and_with_trailing_digits() {
        for pw in [
            "qwertyuiop12",
            "QWERTYUIOP!!",
            "Liverpool1892",
            "Summer2024!!",
            "correcthorsebatterystaple",
            "Football 2025!",
            "iloveyou1234",
        ] {
            assert_eq!(check(pw), Err(PolicyViolation::Common), "{pw}");
        }
    }

    #[test]
    fn repeated_and_sequential_characters_are_common() {
        for pw in [
            "aaaaaaaaaaaa",
            "abcabcabcabc",
            "123412341234",
            "123456789012",
            "210987654321",
            "abcdefghijklm",
            "zyxwvutsrqpon",
        ] {
            assert_eq!(check(pw), Err(PolicyViolation::Common), "{pw}");
        }
        assert_eq!(check("otterotterotter"), Ok(()));
    }

    #[test]
    fn a_password_containing_the_username_is_refused() {
        assert_eq!(check("my name is JSmith ok"), Err(PolicyViolation::ContainsUsername));
        let p = PasswordPolicy::default();
        assert_eq!(p.check("j.smith likes otters", "J.Smith@school.sch.uk"), Err(PolicyViolation::ContainsUsername));
        // Very short usernames are not searched for.
        assert_eq!(p.check("otter lamp quietly", "al"), Ok(()));
    }

    #[test]
    fn control_characters_are_refused() {
        for pw in ["otter\nlamp quietly", "otter\tlamp quietly", "otter lamp\0quietly"] {
            assert_eq!(check(pw), Err(PolicyViolation::ControlCharacters), "{pw:?}");
        }
    }

    #[test]
    fn messages_are_actionable_and_do_not_echo_the_password() {
        assert_eq!(
            PolicyViolation::TooShort { min: 12 }.to_string(),
            "use at least 12 characters; a phrase of three or four random words is easy to remember"
        );
        let err = check("Password123!").expect_err("common");
        assert!(!err.to_string().to_lowercase().contains("password123"));
    }

    #[test]
    fn the_common_list_is_large_lower_case_and_clean() {
        let lines: Vec<&str> = COMMON_PASSWORDS.lines().collect();
        assert!(lines.len() >= 1_000, "{}", lines.len());
        assert_eq!(common_passwords().len(), lines.len(), "no duplicates");
        for l in lines {
            assert!(!l.is_empty());
            assert_eq!(l, l.trim());
            assert_eq!(l, l.to_lowercase());
        }
        for pw in ["123456", "password", "qwerty", "letmein", "arsenal", "summer2024"] {
            assert!(common_passwords().contains(pw), "{pw}");
        }
    }
}
