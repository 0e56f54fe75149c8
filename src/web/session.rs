//! Who is signed in: the session cookie, and the extractors that make a page reachable only
//! to a live session. A page handler that takes [`SignedIn`] is the only gate, as a handler
//! that takes a `Principal` is for the API.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Redirect, Response};

use super::error::PageError;
use crate::http::request_context::{ClientAddr, PrincipalSlot};
use crate::policy::{PendingStep, Principal};
use crate::service::{sessions, AppState, ServiceError};

/// `__Host-` makes the browser keep it only if it was set over HTTPS, for this host alone and
/// for every path, so no other site or subdomain can plant or read it.
pub const COOKIE: &str = "__Host-pigeonpost";

/// The sign-in page, where a request without a live session is sent.
pub const SIGN_IN: &str = "/sign-in";

/// A person with a live session who owes nothing (a new password, the terms, a second
/// factor); one who owes a step is sent to it.
pub struct SignedIn {
    pub principal: Principal,
    /// The token each of this session's forms carries.
    pub csrf: String,
}

/// A person with a live session, whatever they still owe: the pages where those steps are
/// taken use this.
pub struct Owing(pub SignedIn);

impl SignedIn {
    pub fn session_id(&self) -> &str {
        self.principal.user().map(|u| u.session_id.as_str()).unwrap_or_default()
    }

    pub fn pending(&self) -> &[PendingStep] {
        self.principal.user().map(|u| u.pending.as_slice()).unwrap_or_default()
    }

    /// Refuses a posted form whose token is missing or not this session's, before anything
    /// it asks for is done. Every form action of the pages checks its token here.
    pub fn check_form_token(&self, state: &AppState, given: Option<&str>) -> Result<(), PageError> {
        match given {
            Some(token) if super::csrf::verify(state, self.session_id(), token) => Ok(()),
            _ => Err(PageError::form_expired()),
        }
    }
}

/// The page a pending step is taken on.
pub fn step_page(step: PendingStep) -> &'static str {
    match step {
        PendingStep::ChangePassword => "/account/password",
        PendingStep::AcceptTerms => "/account/terms",
        PendingStep::EnrolTotp => "/account/second-factor",
    }
}

/// The session cookie's value. Over HTTP/2 a browser may split its cookies over several
/// header fields, so every one is read.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The header that gives the browser a new session. No `Max-Age`: the cookie ends with the
/// browser, and the session itself ends on the server at the same time as an API session.
pub fn set_cookie(token: &str) -> (header::HeaderName, HeaderValue) {
    let value = format!("{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax");
    (header::SET_COOKIE, HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("")))
}

/// The header that makes the browser forget the session.
pub fn clear_cookie() -> (header::HeaderName, HeaderValue) {
    (
        header::SET_COOKIE,
        HeaderValue::from_static("__Host-pigeonpost=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"),
    )
}

/// Where to send someone who must sign in first: back here afterwards, for a page they asked
/// for; home, after a form (whose contents are not kept).
fn to_sign_in(parts: &Parts) -> Response {
    let back = match parts.method {
        Method::GET => parts.uri.path_and_query().map(|p| p.as_str()).filter(|p| *p != "/"),
        _ => None,
    };
    let target = match back {
        Some(back) => format!(
            "{SIGN_IN}?next={}",
            percent_encoding::utf8_percent_encode(back, percent_encoding::NON_ALPHANUMERIC)
        ),
        None => SIGN_IN.to_owned(),
    };
    ([clear_cookie()], Redirect::to(&target)).into_response()
}

async fn resolve(parts: &mut Parts, state: &AppState) -> Result<SignedIn, Response> {
    let Some(token) = session_token(&parts.headers) else { return Err(to_sign_in(parts)) };
    let mut principal = match sessions::authenticate_cookie(state, &token).await {
        Ok(p) => p,
        Err(ServiceError::CredentialsRefused(_)) => return Err(to_sign_in(parts)),
        Err(e) => return Err(PageError::from(e).into_response()),
    };
    principal.client_addr = parts.extensions.get::<ClientAddr>().map(ClientAddr::ip);
    if let Some(slot) = parts.extensions.get::<PrincipalSlot>() {
        slot.fill(&principal);
    }
    tracing::Span::current().record("principal", principal.describe());
    let session_id = principal.user().map(|u| u.session_id.clone()).unwrap_or_default();
    Ok(SignedIn { principal, csrf: super::csrf::token(state, &session_id) })
}

impl FromRequestParts<AppState> for Owing {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        resolve(parts, state).await.map(Owing)
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let signed_in = resolve(parts, state).await?;
        if let Some(step) = signed_in.pending().first() {
            return Err(Redirect::to(step_page(*step)).into_response());
        }
        Ok(signed_in)
    }
}
