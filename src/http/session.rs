//! `/api/v1/session`: logging in and out, refreshing, and a person's own account.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::json::JsonBody;
use super::request_context::ClientAddr;
use super::views::{PrincipalView, UserView};
use super::Endpoint;
use crate::policy::{PendingStep, Principal};
use crate::service::sessions::{self, IssuedSession, LoginRequest};
use crate::service::AppState;
use crate::service::{account, users::TotpEnrolment};

#[derive(utoipa::OpenApi)]
#[openapi(paths(login, refresh, me, logout, terms, accept_terms, start_totp, confirm_totp, change_password))]
pub(super) struct Api;

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

/// A person's credentials: the password, and the second factor when their account has one
/// (the current TOTP code, or one of their recovery codes instead).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Login, examples(
    json!({"username": "j.smith", "password": "correct-horse-battery-staple", "totp": "492039"}),
    json!({"username": "j.smith", "password": "correct-horse-battery-staple", "recovery_code": "7kq2-m9xd-4hfp"}),
))]
pub(super) struct LoginBody {
    username: String,
    #[schema(value_type = String)]
    password: SecretString,
    /// The six digits the authenticator app shows now.
    totp: Option<String>,
    /// One of the recovery codes given at enrolment, in place of `totp`; each works once.
    recovery_code: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Session)]
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

/// Logs in: a short-lived access token to send as `Authorization: Bearer`, and a refresh token.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginBody, responses(
    (status = 201, description = "Logged in; `pending` names any step the account must take first", body = SessionView),
    (status = 400, description = "`invalid_body`: the body is not a login"),
    (status = 401, description = "`wrong_username_or_password`: one of them is wrong (which is not said)\n\n`account_pending_approval`, `account_disabled`, `account_ended`, `account_inactive`: the account's state, named only once the password was right\n\n`second_factor_required`: send `totp` or `recovery_code`\n\n`wrong_second_factor`: the code is wrong or was used already\n\n`organisation_closed`: the organisation is closed in the register"),
    (status = 429, description = "`too_many_attempts`: too many failures; wait as Retry-After says"),
    (status = 503, description = "`server_busy`: too many sign-ins at once; nothing was checked, but the attempt counts against the limits; try again after Retry-After"),
))]
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
        client_addr: client.map(|Extension(addr)| addr.ip()),
    };
    let session = sessions::login(&state, req).await?;
    Ok((StatusCode::CREATED, Json(session.into())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Refresh, examples(json!({"refresh_token": "rt_3q2JmZkS0v9xYb7QeL1n"})))]
pub(super) struct RefreshBody {
    /// The `refresh_token` of the session; each is used once and replaced.
    #[schema(value_type = String)]
    refresh_token: SecretString,
}

/// A new access token (and a new refresh token) for a refresh token.
#[utoipa::path(post, path = "/api/v1/session/refresh", tag = "session", request_body = RefreshBody, responses(
    (status = 200, description = "The session, renewed", body = SessionView),
    (status = 400, description = "`invalid_body`: the body is not a refresh"),
    (status = 401, description = "`invalid_refresh_token`: the refresh token is not valid, used, or expired: log in again"),
))]
async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Json<SessionView>, ApiError> {
    Ok(Json(sessions::refresh(&state, &body.refresh_token).await?.into()))
}

/// Who the caller is, as the server sees them.
#[utoipa::path(get, path = "/api/v1/session", tag = "session", responses(
    (status = 200, description = "The caller", body = PrincipalView),
))]
async fn me(who: Principal) -> Json<PrincipalView> {
    Json(PrincipalView::new(&who))
}

/// Logs out: the session's tokens stop working.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session", responses(
    (status = 204, description = "Logged out"),
    (status = 403, description = "`forbidden`: an API key has no session"),
))]
async fn logout(State(state): State<AppState>, who: Principal) -> Result<StatusCode, ApiError> {
    sessions::logout(&state, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Terms)]
struct TermsView {
    version: u32,
    #[serde(default)]
    text: String,
}

/// The terms of use in force.
#[utoipa::path(get, path = "/api/v1/session/terms", tag = "session", responses(
    (status = 200, description = "The current terms", body = TermsView),
))]
async fn terms(State(state): State<AppState>, _who: Principal) -> Json<TermsView> {
    let (version, text) = account::current_terms(&state);
    Json(TermsView { version, text })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AcceptTerms, examples(json!({"version": 1})))]
pub(super) struct AcceptBody {
    /// The `version` of the terms from `GET /api/v1/session/terms`.
    version: u32,
}

/// Accepts the terms of use.
#[utoipa::path(post, path = "/api/v1/session/terms", tag = "session", request_body = AcceptBody, responses(
    (status = 204, description = "Accepted"),
    (status = 400, description = "`invalid_body`: the body is not an acceptance"),
    (status = 403, description = "`forbidden`: an API key has no terms to accept"),
    (status = 422, description = "`stale_terms`: that is not the current version"),
))]
async fn accept_terms(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(body): JsonBody<AcceptBody>,
) -> Result<StatusCode, ApiError> {
    account::accept_terms(&state, &who, body.version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A second factor being enrolled: the URI for the authenticator app (show it as a QR code),
/// and recovery codes, each good for one login without the app. Shown once.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TotpEnrolment)]
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

/// Starts enrolling a second factor; `POST /api/v1/session/totp/confirm` finishes it.
#[utoipa::path(post, path = "/api/v1/session/totp", tag = "session", responses(
    (status = 201, description = "The secret and the recovery codes, shown once", body = EnrolmentView),
    (status = 403, description = "`forbidden`: an API key has no second factor"),
    (status = 409, description = "`totp_already_enrolled`: ask an administrator to reset it first"),
))]
async fn start_totp(
    State(state): State<AppState>,
    who: Principal,
) -> Result<(StatusCode, Json<EnrolmentView>), ApiError> {
    Ok((StatusCode::CREATED, Json(account::start_totp(&state, &who).await?.into())))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TotpConfirm, examples(json!({"code": "492039"})))]
pub(super) struct CodeBody {
    /// The six digits the authenticator app shows now.
    code: String,
}

/// Confirms a second factor with the first code from the authenticator app.
#[utoipa::path(post, path = "/api/v1/session/totp/confirm", tag = "session", request_body = CodeBody, responses(
    (status = 204, description = "Enrolled"),
    (status = 400, description = "`invalid_body`: the body is not a code"),
    (status = 403, description = "`forbidden`: an API key has no second factor"),
    (status = 409, description = "`totp_already_enrolled`: it is confirmed already"),
    (status = 422, description = "`no_enrolment`: start enrolment first\n\n`wrong_code`: the code is not right"),
))]
async fn confirm_totp(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(body): JsonBody<CodeBody>,
) -> Result<StatusCode, ApiError> {
    account::confirm_totp(&state, &who, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasswordChange, examples(json!({"current_password": "the-one-time-password-you-were-given", "new_password": "Amber-Kettle-Orchard-Sundial-17"})))]
pub(super) struct PasswordBody {
    #[schema(value_type = String)]
    current_password: SecretString,
    #[schema(value_type = String)]
    new_password: SecretString,
}

/// Changes the caller's password; every other session of theirs ends.
#[utoipa::path(post, path = "/api/v1/session/password", tag = "session", request_body = PasswordBody, responses(
    (status = 204, description = "Changed"),
    (status = 400, description = "`invalid_body`: the body is not a password change\n\n`weak_password`: the new one is too weak"),
    (status = 403, description = "`forbidden`: an API key has no password"),
    (status = 422, description = "`wrong_password`: the current password is not right"),
    (status = 503, description = "`server_busy`: too many password checks at once; nothing was changed; try again after Retry-After"),
))]
async fn change_password(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    account::change_password(&state, &who, &body.current_password, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}
