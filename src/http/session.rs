//! `/api/v1/session`: logging in and out, refreshing, and a person's own account.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::auth::ClientAddr;
use super::error::ApiError;
use super::json::JsonBody;
use super::views::{PrincipalView, UserView};
use super::Endpoint;
use crate::app::AppState;
use crate::policy::{PendingStep, Principal};
use crate::service::sessions::{self, IssuedSession, LoginRequest};
use crate::service::{account, users::TotpEnrolment};

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::public(Method::POST, "/api/v1/session", post(login)),
        Endpoint::public(Method::POST, "/api/v1/session/refresh", post(refresh)),
        Endpoint::new(Method::GET, "/api/v1/session", get(me)),
        Endpoint::new(Method::DELETE, "/api/v1/session", delete(logout)),
        Endpoint::new(Method::GET, "/api/v1/session/terms", get(terms)),
        Endpoint::new(Method::POST, "/api/v1/session/terms", post(accept_terms)),
        Endpoint::new(Method::POST, "/api/v1/session/totp", post(start_totp)),
        Endpoint::new(Method::POST, "/api/v1/session/totp/confirm", post(confirm_totp)),
        Endpoint::new(Method::POST, "/api/v1/session/password", post(change_password)),
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: SecretString,
    totp: Option<String>,
    recovery_code: Option<String>,
}

#[derive(Serialize)]
struct SessionView {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    user: UserView,
    pending: Vec<PendingStep>,
}

impl From<IssuedSession> for SessionView {
    fn from(s: IssuedSession) -> Self {
        Self {
            access_token: s.access_token,
            token_type: "Bearer",
            expires_in: s.expires_in,
            refresh_token: s.refresh_token.expose_secret().to_owned(),
            user: UserView::new(&s.user, None),
            pending: s.pending,
        }
    }
}

async fn login(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let req = LoginRequest {
        username: body.username,
        password: body.password,
        totp: body.totp,
        recovery_code: body.recovery_code,
        client_addr: client.map(|Extension(ClientAddr(a))| a.ip().to_string()),
    };
    let session = sessions::login(&state, req).await?;
    Ok((StatusCode::CREATED, Json(session.into())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: SecretString,
}

async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Json<SessionView>, ApiError> {
    Ok(Json(sessions::refresh(&state, &body.refresh_token).await?.into()))
}

async fn me(who: Principal) -> Json<PrincipalView> {
    Json(PrincipalView::new(&who))
}

async fn logout(State(state): State<AppState>, who: Principal) -> Result<StatusCode, ApiError> {
    sessions::logout(&state, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize)]
struct TermsView {
    version: u32,
    #[serde(default)]
    text: String,
}

async fn terms(State(state): State<AppState>, _who: Principal) -> Json<TermsView> {
    let (version, text) = account::current_terms(&state);
    Json(TermsView { version, text })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptBody {
    version: u32,
}

async fn accept_terms(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(body): JsonBody<AcceptBody>,
) -> Result<StatusCode, ApiError> {
    account::accept_terms(&state, &who, body.version).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct EnrolmentView {
    pub otpauth_uri: String,
    pub recovery_codes: Vec<String>,
}

impl From<TotpEnrolment> for EnrolmentView {
    fn from(e: TotpEnrolment) -> Self {
        Self {
            otpauth_uri: e.otpauth_uri,
            recovery_codes: e.recovery_codes.iter().map(|c| c.expose_secret().to_owned()).collect(),
        }
    }
}

async fn start_totp(
    State(state): State<AppState>,
    who: Principal,
) -> Result<(StatusCode, Json<EnrolmentView>), ApiError> {
    Ok((StatusCode::CREATED, Json(account::start_totp(&state, &who).await?.into())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

async fn confirm_totp(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(body): JsonBody<CodeBody>,
) -> Result<StatusCode, ApiError> {
    account::confirm_totp(&state, &who, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current_password: SecretString,
    new_password: SecretString,
}

async fn change_password(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    account::change_password(&state, &who, &body.current_password, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}
