//! Time-based one-time codes (RFC 6238) for the second factor: HMAC-SHA-1, 6 digits, 30-second
//! steps, the settings every authenticator app supports.
//!
//! A code is accepted for the current step and one step either side, to allow for clock drift
//! and the time it takes to type. The caller stores the step of the last accepted code and a
//! code for that step or an earlier one is refused as a replay, so a code seen over someone's
//! shoulder, or relayed by a phishing page, cannot be used a second time.

use std::fmt;

use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};
use zeroize::{Zeroize, Zeroizing};

/// Seconds per step.
const STEP_SECS: u64 = 30;
/// Digits per code.
const DIGITS: usize = 6;
/// Steps either side of the current one that are still accepted.
const SKEW_STEPS: u64 = 1;
/// Length of generated secrets: 160 bits, the length RFC 4226 recommends for HMAC-SHA-1.
const SECRET_LEN: usize = 20;
/// RFC 4226 requires at least 128 bits; 64 bytes (one SHA-1 block) is more than enough.
const MIN_SECRET_LEN: usize = 16;
const MAX_SECRET_LEN: usize = 64;

/// Why a code was not accepted. Messages are for the person entering the code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TotpError {
    #[error("enter the 6-digit code shown in your authenticator app")]
    Malformed,
    #[error("that code is not right; check the time on your device and try the current code")]
    Wrong,
    #[error("that code has already been used; wait for the next one")]
    Replayed,
    #[error("the stored authenticator secret is not valid")]
    BadSecret,
}

/// A user's shared TOTP secret. Zeroized on drop, not `Clone` (so copies cannot multiply), and
/// its `Debug` output is redacted.
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl TotpSecret {
    /// 20 fresh random bytes from the operating system.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_LEN]);
        OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A stored secret (after the caller has decrypted it). Refused unless 16 to 64 bytes long.
    pub fn from_bytes(b: Vec<u8>) -> Result<Self, TotpError> {
        let b = Zeroizing::new(b);
        if (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&b.len()) {
            Ok(Self(b))
        } else {
            Err(TotpError::BadSecret)
        }
    }

    /// The raw bytes, for the caller to encrypt and store.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

/// HOTP (RFC 4226) over `secret`, computed by totp-rs. We work out the RFC 6238 time step
/// ourselves, because replay protection needs to know which step matched, so the generator is
/// built with a one-second period and handed the step number as its "time". totp-rs keeps its
/// own copy of the secret in a plain `Vec`, which this wrapper wipes on drop.
struct Hotp(TOTP);

impl Hotp {
    fn new(secret: &TotpSecret) -> Self {
        Self(TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, 1, secret.expose_secret().to_vec(), None, String::new()))
    }

    fn code(&self, step: u64) -> Zeroizing<String> {
        Zeroizing::new(self.0.generate(step))
    }
}

impl Drop for Hotp {
    fn drop(&mut self) {
        self.0.secret.zeroize();
    }
}

/// The code for the step containing `unix` (seconds since the epoch).
#[must_use]
pub fn code_at(secret: &TotpSecret, unix: u64) -> String {
    let code = Hotp::new(secret).code(unix / STEP_SECS);
    code.as_str().to_owned()
}

/// Checks `code` at `now_unix`; `last_used_step` is the time step of the last accepted code for
/// this user (stored by the caller).
/// Returns the step that matched, which the caller stores; a code for a step <= `last_used_step`
/// is Replayed.
///
/// Spaces in `code` are ignored, as some apps show codes as `123 456`. Every candidate step is
/// computed and compared in constant time, so timing does not reveal which step was close.
pub fn verify_totp(
    secret: &TotpSecret,
    code: &str,
    now_unix: u64,
    last_used_step: Option<u64>,
) -> Result<u64, TotpError> {
    // Bound the work before normalising anything the client sent.
    if code.len() > 16 {
        return Err(TotpError::Malformed);
    }
    let code: Zeroizing<String> = Zeroizing::new(code.chars().filter(|c| *c != ' ').collect());
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Malformed);
    }

    let hotp = Hotp::new(secret);
    let current = now_unix / STEP_SECS;
    let first = current.saturating_sub(SKEW_STEPS);
    let last = current.saturating_add(SKEW_STEPS);
    let mut fresh_match: Option<u64> = None;
    let mut any_match = false;
    for step in first..=last {
        let matches = bool::from(hotp.code(step).as_bytes().ct_eq(code.as_bytes()));
        if matches {
            any_match = true;
            if last_used_step.is_none_or(|used| step > used) {
                fresh_match = Some(step);
            }
        }
    }
    match (fresh_match, any_match) {
        (Some(step), _) => Ok(step),
        (None, true) => Err(TotpError::Replayed),
        (None, false) => Err(TotpError::Wrong),
    }
}

/// The `otpauth://` URI that authenticator apps read from a QR code:
/// `otpauth://totp/Issuer:account?secret=BASE32&issuer=Issuer&algorithm=SHA1&digits=6&period=30`.
/// Issuer and account are percent-encoded. The URI contains the secret: show it once, at
/// enrolment, and never log it.
#[must_use]
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account: &str) -> String {
    let secret_b32 = Zeroizing::new(base32_no_pad(secret.expose_secret()));
    let issuer = percent_encode(issuer);
    let account = percent_encode(account);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        secret_b32.as_str()
    )
}

/// RFC 4648 base32 without padding, as the otpauth format expects.
fn base32_no_pad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u16 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u16::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[usize::from((buffer >> bits) & 0x1f)]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[usize::from((buffer << (5 - bits)) & 0x1f)]));
    }
    buffer.zeroize();
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so spaces, `@` and `:` in an
/// issuer or account name cannot break the URI's structure.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests;
