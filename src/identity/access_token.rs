//! Access tokens: short-lived JWTs (minutes) that API requests carry, signed with HS256.
//!
//! Only the server issues and checks them, so a shared-key MAC is all that is needed, and
//! accepting nothing but HS256 removes the classic JWT forgeries: `alg: none`, and algorithm
//! confusion where a public key is used as an HMAC key. Verification is written out step by
//! step, in this order, each step with its own error and test:
//!
//! 1. the header's `alg` is exactly `HS256` (checked before anything else is trusted);
//! 2. the header has a `kid` naming a key we hold (keys rotate: the newest signs, older ones
//!    still verify until removed);
//! 3. the signature (by `jsonwebtoken`, which compares in constant time);
//! 4. every claim is present; `exp` has not passed and `iat` is not in the future, each with
//!    30 seconds' leeway for clock differences, measured against the caller's `now_unix`
//!    rather than the system clock, so tests control time;
//! 5. `iss` and `aud` are exactly ours, so a token minted for something else is refused.
//!
//! Revocation is by short lifetime plus the session id (`sid`), which the caller can check
//! against its session table.

use std::collections::{HashMap, HashSet};
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::{Zeroize, Zeroizing};

/// The `iss` claim of every token we issue.
pub const ISSUER: &str = "pigeonpost";
/// The `aud` claim of every token we issue.
pub const AUDIENCE: &str = "pigeonpost-api";
/// Allowance for clock differences between machines when checking `exp` and `iat`.
const LEEWAY_SECS: i64 = 30;
/// Our tokens are a few hundred bytes; refusing anything much larger bounds the work an
/// unauthenticated request can cause.
const MAX_TOKEN_LEN: usize = 4096;

/// What an access token says. `sub` is the user id in decimal, as JWT subjects are strings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Organisation id.
    pub org: i64,
    /// Session id, so the caller can refuse tokens of a session that has been ended.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    /// Token id (a random UUID), for audit records.
    pub jti: String,
}

/// The claims as they arrive, each optional, so a missing one gets a precise error.
#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    aud: Option<String>,
    sub: Option<String>,
    org: Option<i64>,
    sid: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
    jti: Option<String>,
    nbf: Option<i64>,
}

/// What a keyring's keys are derived under to sign session tokens.
pub const KEY_LABEL: &str = "session tokens";

/// Signing keys by id (the caller derives them from the server keyring; the id is the `kid`).
/// Debug shows ids only.
pub struct TokenKeys {
    primary: String,
    keys: HashMap<String, Zeroizing<[u8; 32]>>,
}

impl TokenKeys {
    /// `primary` names the key that signs new tokens; every key in `keys` verifies. If a kid
    /// appears twice the last one wins. If `primary` is not among `keys`, verification still
    /// works and [`issue_access_token`] returns an error. The caller's copies of the key bytes
    /// in `keys` are wiped.
    #[must_use]
    pub fn new(primary: &str, mut keys: Vec<(String, [u8; 32])>) -> Self {
        let mut map = HashMap::with_capacity(keys.len());
        for (kid, key) in &mut keys {
            map.insert(kid.clone(), Zeroizing::new(*key));
            key.zeroize();
        }
        Self { primary: primary.to_owned(), keys: map }
    }

    /// Keys derived from a keyring under [`KEY_LABEL`], primary first: the first signs.
    #[must_use]
    pub fn primary_first(keys: Vec<(String, [u8; 32])>) -> Self {
        let primary = keys.first().map(|(id, _)| id.clone()).unwrap_or_default();
        Self::new(&primary, keys)
    }
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        f.debug_struct("TokenKeys").field("primary", &self.primary).field("kids", &kids).finish()
    }
}

/// Why a token was refused. Safe to log: no message contains a key or the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("access token is malformed")]
    Malformed,
    #[error("access token uses an algorithm other than HS256")]
    WrongAlgorithm,
    #[error("access token header has no key id")]
    MissingKid,
    #[error("access token names an unknown key id")]
    UnknownKid,
    #[error("access token signature does not verify")]
    BadSignature,
    #[error("access token has expired")]
    Expired,
    #[error("access token is not valid yet")]
    NotYetValid,
    #[error("access token was issued by someone else")]
    WrongIssuer,
    #[error("access token is meant for another audience")]
    WrongAudience,
    #[error("access token lacks the `{0}` claim")]
    MissingClaim(&'static str),
}

/// Signs with the primary key, `kid` in the header, exp = now + ttl.
pub fn issue_access_token(
    keys: &TokenKeys,
    user_id: i64,
    org: i64,
    session_id: &str,
    now_unix: i64,
    ttl_secs: i64,
) -> anyhow::Result<String> {
    anyhow::ensure!(ttl_secs > 0, "access token lifetime must be positive");
    let key = keys
        .keys
        .get(&keys.primary)
        .ok_or_else(|| anyhow::anyhow!("primary token key {:?} is not among the token keys", keys.primary))?;
    let exp = now_unix.checked_add(ttl_secs).ok_or_else(|| anyhow::anyhow!("access token expiry overflows"))?;
    let claims = AccessClaims {
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: user_id.to_string(),
        org,
        sid: session_id.to_owned(),
        iat: now_unix,
        exp,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(keys.primary.clone());
    // jsonwebtoken keeps its own copy of the key bytes for the duration of this call.
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(key.as_ref()))
        .map_err(|e| anyhow::anyhow!("signing access token: {e}"))
}

/// Explicit checks, each tested: header alg must be exactly HS256 (refuse none/others before
/// anything else), kid present and known, signature, then exp (with 30 s leeway) and iat not in
/// the future beyond leeway checked against `now_unix` (not the system clock), iss and aud exact.
pub fn verify_access_token(keys: &TokenKeys, token: &str, now_unix: i64) -> Result<AccessClaims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let header = decode_header(header_b64)?;

    // 1. Algorithm, before anything else in the token is acted on.
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(TokenError::WrongAlgorithm);
    }
    // We implement no critical header extensions, so RFC 7515 says refuse any that are named.
    if header.contains_key("crit") {
        return Err(TokenError::Malformed);
    }

    // 2. Key id.
    let kid = match header.get("kid") {
        None | Some(Value::Null) => return Err(TokenError::MissingKid),
        Some(Value::String(kid)) => kid,
        Some(_) => return Err(TokenError::Malformed),
    };
    let key = keys.keys.get(kid).ok_or(TokenError::UnknownKid)?;

    // 3. Signature, and decoding the payload. jsonwebtoken's own time, issuer and audience
    // checks are all switched off: they use the system clock, and we do them below.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    validation.leeway = 0;
    let raw = jsonwebtoken::decode::<RawClaims>(token, &DecodingKey::from_secret(key.as_ref()), &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
            _ => TokenError::Malformed,
        })?
        .claims;

    // 4. Every claim present, then time.
    let claims = AccessClaims {
        iss: raw.iss.ok_or(TokenError::MissingClaim("iss"))?,
        aud: raw.aud.ok_or(TokenError::MissingClaim("aud"))?,
        sub: raw.sub.ok_or(TokenError::MissingClaim("sub"))?,
        org: raw.org.ok_or(TokenError::MissingClaim("org"))?,
        sid: raw.sid.ok_or(TokenError::MissingClaim("sid"))?,
        iat: raw.iat.ok_or(TokenError::MissingClaim("iat"))?,
        exp: raw.exp.ok_or(TokenError::MissingClaim("exp"))?,
        jti: raw.jti.ok_or(TokenError::MissingClaim("jti"))?,
    };
    if now_unix > claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(TokenError::Expired);
    }
    let latest_start = now_unix.saturating_add(LEEWAY_SECS);
    if claims.iat > latest_start || raw.nbf.is_some_and(|nbf| nbf > latest_start) {
        return Err(TokenError::NotYetValid);
    }

    // 5. Issuer and audience, exactly.
    if claims.iss != ISSUER {
        return Err(TokenError::WrongIssuer);
    }
    if claims.aud != AUDIENCE {
        return Err(TokenError::WrongAudience);
    }
    Ok(claims)
}

/// The JOSE header as a JSON object, read by us rather than by jsonwebtoken so that an
/// algorithm it does not know (such as `none`) is reported as the wrong algorithm.
fn decode_header(header_b64: &str) -> Result<Map<String, Value>, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(header_b64).map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests;
