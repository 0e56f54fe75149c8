//! `/api/v1/users` and `/api/v1/functions`: people and what they do, for administrators.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, post, put};
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::ApiError;
use super::json::{JsonBody, OptionalJsonBody};
use super::organisations::{org_ref, OrgFilter};
use super::session::EnrolmentView;
use super::views::{rfc3339, OrgView, UserView};
use super::Endpoint;
use crate::app::AppState;
use crate::domain::{Role, UserId};
use crate::policy::Principal;
use crate::service::users::{self, NewUserRequest};

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::GET, "/api/v1/users", get(list)),
        Endpoint::new(Method::POST, "/api/v1/users", post(create)),
        Endpoint::new(Method::GET, "/api/v1/users/{id}", get(show)),
        Endpoint::new(Method::POST, "/api/v1/users/{id}/approve", post(approve)),
        Endpoint::new(Method::POST, "/api/v1/users/{id}/disable", post(disable)),
        Endpoint::new(Method::POST, "/api/v1/users/{id}/enable", post(enable)),
        Endpoint::new(Method::POST, "/api/v1/users/{id}/reset-password", post(reset_password)),
        Endpoint::new(Method::POST, "/api/v1/users/{id}/reset-totp", post(reset_totp)),
        Endpoint::new(Method::PUT, "/api/v1/users/{id}/leaver", put(leaver)),
        Endpoint::new(Method::PUT, "/api/v1/users/{id}/functions/{function}", put(grant)),
        Endpoint::new(Method::DELETE, "/api/v1/users/{id}/functions/{function}", delete(revoke)),
        Endpoint::new(Method::GET, "/api/v1/functions", get(functions)),
        Endpoint::new(Method::POST, "/api/v1/functions", post(define_function)),
        Endpoint::new(Method::POST, "/api/v1/user-list-confirmations", post(confirm_list)),
        Endpoint::new(Method::GET, "/api/v1/reports/user-list-confirmations", get(confirmation_report)),
    ]
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    raw.parse().map(UserId).map_err(|_| crate::service::ServiceError::NotFound.into())
}

fn time_param(raw: Option<&str>, name: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    raw.map(|t| OffsetDateTime::parse(t, &Rfc3339)).transpose().map_err(|_| {
        ApiError::bad_request("invalid_time", format!("{name} must be an RFC 3339 time such as 2026-07-31T17:00:00Z"))
    })
}

async fn with_functions(state: &AppState, user: &crate::store::meta::UserRecord) -> Result<UserView, ApiError> {
    let functions = users::functions_of(state, user).await?;
    Ok(UserView::new(user, Some(&functions)))
}

async fn list(
    State(state): State<AppState>,
    who: Principal,
    OrgFilter(org): OrgFilter,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let people = users::list(&state, Some(&who), org.as_ref()).await?;
    Ok(Json(people.iter().map(|u| UserView::new(u, None)).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    org: String,
    username: String,
    display_name: String,
    role: Role,
    password: Option<SecretString>,
}

#[derive(Serialize)]
struct CreatedView {
    user: UserView,
    #[serde(skip_serializing_if = "Option::is_none")]
    initial_password: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(body): JsonBody<NewUserBody>,
) -> Result<(StatusCode, Json<CreatedView>), ApiError> {
    let req = NewUserRequest {
        org: org_ref(&body.org)
            .map_err(|_| ApiError::bad_request("invalid_org", "org must be a DfE number or a team slug"))?,
        username: body.username,
        display_name: body.display_name,
        role: body.role,
        password: body.password,
    };
    let created = users::create(&state, Some(&who), req).await?;
    let view = CreatedView {
        user: UserView::new(&created.user, None),
        initial_password: created.initial_password.map(|p| p.expose_secret().to_owned()),
    };
    Ok((StatusCode::CREATED, Json(view)))
}

async fn show(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let user = users::get(&state, Some(&who), user_id(&id)?).await?;
    Ok(Json(with_functions(&state, &user).await?))
}

async fn approve(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::new(&users::approve(&state, Some(&who), user_id(&id)?).await?, None)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: Option<String>,
}

async fn disable(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<ReasonBody>,
) -> Result<Json<UserView>, ApiError> {
    let reason = body.and_then(|b| b.reason).unwrap_or_else(|| "disabled by an administrator".into());
    Ok(Json(UserView::new(&users::set_active(&state, Some(&who), user_id(&id)?, false, &reason).await?, None)))
}

async fn enable(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::new(
        &users::set_active(&state, Some(&who), user_id(&id)?, true, "enabled by an administrator").await?,
        None,
    )))
}

#[derive(Serialize)]
struct PasswordView {
    password: String,
}

async fn reset_password(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<PasswordView>, ApiError> {
    let generated = users::reset_password(&state, Some(&who), user_id(&id)?, None).await?;
    let password = generated.map(|p| p.expose_secret().to_owned()).unwrap_or_default();
    Ok(Json(PasswordView { password }))
}

async fn reset_totp(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<EnrolmentView>, ApiError> {
    Ok(Json(users::reset_totp(&state, Some(&who), user_id(&id)?).await?.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaverBody {
    /// The moment the account stops working; null cancels a leaving date.
    on: Option<String>,
}

async fn leaver(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LeaverBody>,
) -> Result<Json<UserView>, ApiError> {
    let on = time_param(body.on.as_deref(), "on")?;
    Ok(Json(UserView::new(&users::set_leaver_date(&state, Some(&who), user_id(&id)?, on).await?, None)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    /// For temporary cover: when it lapses.
    until: Option<String>,
}

async fn grant(
    State(state): State<AppState>,
    who: Principal,
    Path((id, function)): Path<(String, String)>,
    OptionalJsonBody(body): OptionalJsonBody<GrantBody>,
) -> Result<StatusCode, ApiError> {
    let until = time_param(body.as_ref().and_then(|b| b.until.as_deref()), "until")?;
    users::grant_function(&state, Some(&who), user_id(&id)?, &function, until).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke(
    State(state): State<AppState>,
    who: Principal,
    Path((id, function)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    users::revoke_function(&state, Some(&who), user_id(&id)?, &function).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionBody {
    slug: String,
    name: String,
}

async fn functions(State(state): State<AppState>, who: Principal) -> Result<Json<Vec<FunctionBody>>, ApiError> {
    let all = users::list_functions(&state, &who).await?;
    Ok(Json(all.into_iter().map(|(slug, name)| FunctionBody { slug: slug.to_string(), name }).collect()))
}

async fn define_function(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(body): JsonBody<FunctionBody>,
) -> Result<StatusCode, ApiError> {
    users::define_function(&state, Some(&who), &body.slug, &body.name).await?;
    Ok(StatusCode::CREATED)
}

async fn confirm_list(State(state): State<AppState>, who: Principal) -> Result<StatusCode, ApiError> {
    users::confirm_user_list(&state, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct ConfirmationView {
    org: OrgView,
    last_confirmed: Option<String>,
    overdue: bool,
}

async fn confirmation_report(
    State(state): State<AppState>,
    who: Principal,
) -> Result<Json<Vec<ConfirmationView>>, ApiError> {
    let report = users::confirmation_report(&state, &who).await?;
    Ok(Json(
        report
            .iter()
            .map(|c| ConfirmationView {
                org: (&c.org).into(),
                last_confirmed: c.last_confirmed.map(rfc3339),
                overdue: c.overdue,
            })
            .collect(),
    ))
}
