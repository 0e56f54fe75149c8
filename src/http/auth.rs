//! Authentication extractors. A handler that takes a [`Principal`] is reachable only with
//! valid credentials; there is no other gate.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use secrecy::SecretString;

use super::error::ApiError;
use super::request_context::{ClientAddr, PrincipalSlot};
use crate::policy::{PendingStep, Principal};
use crate::service::AppState;
use crate::service::{api_keys, sessions, ServiceError};

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // A repeated header never gets here: `guard::refuse_ambiguous_credentials` refuses it first.
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ServiceError::Unauthenticated.into());
        };
        let value = value.to_str().map_err(|_| ApiError::from(ServiceError::Unauthenticated))?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(ServiceError::Unauthenticated.into()),
        };
        // Keys for jobs carry their own prefix; everything else must be a session's access token.
        let mut principal = if token.starts_with("pp_") {
            api_keys::authenticate(state, &SecretString::from(token.to_owned())).await?
        } else {
            sessions::authenticate(state, token).await?
        };
        principal.client_addr = parts.extensions.get::<ClientAddr>().map(ClientAddr::ip);
        if let Some(slot) = parts.extensions.get::<PrincipalSlot>() {
            slot.fill(&principal);
        }
        tracing::Span::current().record("principal", principal.describe());
        // A password chosen for the person opens one door only, whatever the route asks of
        // the policy (some, such as reading one's own session, ask nothing).
        let must_change = principal.user().is_some_and(|u| u.pending.contains(&PendingStep::ChangePassword));
        if must_change && !(parts.method == Method::POST && parts.uri.path() == CHANGE_PASSWORD) {
            return Err(ServiceError::StepRequired(PendingStep::ChangePassword).into());
        }
        Ok(principal)
    }
}

/// The one route open to a person who must first replace a password chosen for them.
const CHANGE_PASSWORD: &str = "/api/v1/session/password";
