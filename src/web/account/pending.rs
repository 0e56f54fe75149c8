//! Proof, held by the browser between the two sign-in pages, that a person's password was
//! right a moment ago: the user, the time and a random nonce, signed with a key used for
//! nothing else. It lasts five minutes, names no secret, and is useless on its own: the code
//! step still needs the second factor and is counted against the login limits. The nonce
//! also binds the code form's token, so that form cannot be posted from another site.

use axum::http::{header, HeaderMap, HeaderValue};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::UserId;
use crate::service::AppState;
use crate::web::csrf;

/// A second `__Host-` cookie, only for the code page.
pub const COOKIE: &str = "__Host-pigeonpost-sign-in";

const KEY_LABEL: &str = "web pending sign-in v1";
const LIFETIME_SECS: i64 = 300;

/// A password accepted for this user, not yet followed by the code.
pub struct Pending {
    pub user: UserId,
    nonce: String,
}

impl Pending {
    /// The token the code form carries.
    pub fn form_token(&self, state: &AppState) -> String {
        csrf::token(state, &self.binding())
    }

    pub fn form_token_ok(&self, state: &AppState, given: &str) -> bool {
        csrf::verify(state, &self.binding(), given)
    }

    fn binding(&self) -> String {
        format!("pending sign-in {}", self.nonce)
    }
}

fn mac(key: &[u8; 32], body: &str) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(body.as_bytes());
    m.finalize().into_bytes().into()
}

/// A new proof for `user`, as the header that gives it to the browser.
pub fn issue(state: &AppState, user: UserId) -> Option<(header::HeaderName, HeaderValue)> {
    let mut nonce = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let body = format!("{}.{}.{}", user.0, state.now().unix_timestamp(), hex::encode(nonce));
    let keys = state.keys().derived_keys(KEY_LABEL);
    let (_, key) = keys.first()?;
    let value = format!(
        "{COOKIE}={body}.{}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={LIFETIME_SECS}",
        hex::encode(mac(key, &body))
    );
    HeaderValue::from_str(&value).ok().map(|v| (header::SET_COOKIE, v))
}

/// The header that makes the browser forget the proof.
pub fn clear() -> (header::HeaderName, HeaderValue) {
    (
        header::SET_COOKIE,
        HeaderValue::from_static("__Host-pigeonpost-sign-in=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"),
    )
}

/// The proof the browser sent, if it is ours and not older than five minutes.
pub fn read(state: &AppState, headers: &HeaderMap) -> Option<Pending> {
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())?;
    let (body, given) = value.rsplit_once('.')?;
    let given = hex::decode(given).ok()?;
    let signed =
        state.keys().derived_keys(KEY_LABEL).iter().any(|(_, key)| bool::from(mac(key, body).ct_eq(&given[..])));
    if !signed {
        return None;
    }
    let mut parts = body.split('.');
    let user: i64 = parts.next()?.parse().ok()?;
    let issued: i64 = parts.next()?.parse().ok()?;
    let nonce = parts.next()?.to_owned();
    let age = state.now().unix_timestamp() - issued;
    (0..=LIFETIME_SECS).contains(&age).then_some(Pending { user: UserId(user), nonce })
}
