//! `/api/v1/users` and `/api/v1/functions`: people and what they do, for administrators.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, post, put};
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::{no_such_user, ApiError};
use super::json::{JsonBody, OptionalJsonBody};
use super::organisations::{org_ref, OrgFilter};
use super::session::EnrolmentView;
use super::views::{rfc3339, OrgView, UserView};
use super::Endpoint;
use crate::domain::{Role, UserId};
use crate::policy::Principal;
use crate::service::users::{self, NewUserRequest};
use crate::service::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list,
    create,
    show,
    approve,
    disable,
    enable,
    reset_password,
    reset_totp,
    leaver,
    grant,
    revoke,
    functions,
    define_function,
    confirm_list,
    confirmation_report
))]
pub(super) struct Api;

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
    raw.parse().map(UserId).map_err(|_| no_such_user(crate::service::ServiceError::NotFound))
}

pub(super) fn time_param(raw: Option<&str>, name: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    raw.map(|t| OffsetDateTime::parse(t, &Rfc3339)).transpose().map_err(|_| {
        ApiError::bad_request("invalid_time", format!("{name} must be an RFC 3339 time such as 2026-07-31T17:00:00Z"))
    })
}

async fn with_functions(state: &AppState, user: &crate::domain::records::UserRecord) -> Result<UserView, ApiError> {
    let functions = users::functions_of(state, user).await?;
    Ok(UserView::new(user, Some(&functions)))
}

/// People, for administrators (a school administrator sees their own school's).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(super::organisations::OrgFilterParams), responses(
    (status = 200, description = "The people", body = Vec<UserView>),
    (status = 400, description = "`invalid_query`: the org filter is not valid"),
    (status = 403, description = "`forbidden`: only administrators list people"),
    (status = 404, description = "`not_found`: no such organisation"),
    (status = 422, description = "`unknown_organisation`: the org filter names no organisation"),
))]
async fn list(
    State(state): State<AppState>,
    who: Principal,
    OrgFilter(org): OrgFilter,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let people = users::list(&state, Some(&who), org.as_ref()).await?;
    Ok(Json(people.iter().map(|u| UserView::new(u, None)).collect()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewUser, examples(json!({"org": "825/2001", "username": "a.jones", "display_name": "Alex Jones", "role": "school_user"})))]
pub(super) struct NewUserBody {
    /// The organisation: a DfE number or a team slug.
    pub(super) org: String,
    username: String,
    display_name: String,
    role: Role,
    /// A first password; when left out one is made and answered once, to be changed at first login.
    #[schema(value_type = Option<String>)]
    password: Option<SecretString>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = CreatedUser)]
struct CreatedView {
    user: UserView,
    #[serde(skip_serializing_if = "Option::is_none")]
    initial_password: Option<String>,
}

/// Adds a person (awaiting approval when a school administrator adds them).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserBody, responses(
    (status = 201, description = "Added; `initial_password` is shown once", body = CreatedView),
    (status = 400, description = "`invalid_body`: the body is not a person\n\n`invalid_org`, `invalid_username`, `weak_password`: a field is not valid"),
    (status = 403, description = "`forbidden`: only an administrator of the user's organisation, or of the LA, may"),
    (status = 409, description = "`username_taken`: choose another username"),
    (status = 422, description = "`unknown_organisation`: no such organisation\n\n`role_does_not_fit`: the role is not one the organisation's people may have"),
))]
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

/// One person, with their functions.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path, description = "The user's id")), responses(
    (status = 200, description = "The person", body = UserView),
    (status = 403, description = "`forbidden`: only an administrator of the user's organisation, or of the LA, may"),
    (status = 404, description = "`not_found`: no such user"),
))]
async fn show(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let user = users::get(&state, Some(&who), user_id(&id)?).await.map_err(no_such_user)?;
    Ok(Json(with_functions(&state, &user).await?))
}

/// Approves a person a school administrator added.
#[utoipa::path(post, path = "/api/v1/users/{id}/approve", tag = "users", params(("id" = i64, Path, description = "The user's id")), responses(
    (status = 200, description = "Approved", body = UserView),
    (status = 403, description = "`forbidden`: only an administrator of the user's organisation, or of the LA, may"),
    (status = 404, description = "`not_found`: no such user"),
    (status = 409, description = "`not_requested`: the account is not awaiting approval"),
))]
async fn approve(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::new(&users::approve(&state, Some(&who), user_id(&id)?).await.map_err(no_such_user)?, None)))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DisableReason, examples(json!({"reason": "on long-term leave until September"})))]
pub(super) struct ReasonBody {
    reason: Option<String>,
}

/// Disables an account: it cannot log in, and its sessions end. The body is optional.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "users", params(("id" = i64, Path, description = "The user's id")), request_body = Option<ReasonBody>, responses(
    (status = 200, description = "Disabled", body = UserView),
    (status = 400, description = "`invalid_body`: the body is not a reason"),
    (status = 403, description = "`forbidden`: only an administrator of the user's organisation, or of the LA, may"),
    (status = 404, description = "`not_found`: no such user"),
    (status = 422, description = "`own_account`: ask another administrator to disable your account"),
))]
async fn disable(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<ReasonBody>,
) -> Result<Json<UserView>, ApiError> {
    let reason = body.and_then(|b| b.reason).unwrap_or_else(|| "disabled by an administrator".into());
    Ok(Json(UserView::new(
        &users::set_active(&state, Some(&who), user_id(&id)?, false, &reason).await.map_err(no_such_user)?,
        None,
    )))
}

/// Enables a disabled account.
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "users", params(("id" = i64, Path, description = "The user's id")), responses(
    (status = 200, description = "Enabled", body = UserView),
    (status = 403, description = "`forbidden`: only an administrator of the user's organisation, or of the LA, may"),
    (status = 404, description = "`not_found`: no such user"),
    (status = 409, description = "`not_approved`: approve the account instead"),
))]
async fn enable(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::new(
        &users::set_active(&state, Some(&who), user_id(&id)?, true, "enabled by an administrator")
            .await
            .map_err(no_such_user)?,
        None,
    )))
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = GeneratedPassword)]
struct PasswordView {
    password: String,
}

/// Sets a new one-time password, answered once; the person changes it at their next login.
#[utoipa::path(post, path = "/api/v1/users/{id}/reset-password", tag = "users", params(("id" = i64, Path, description = "The user's id")), responses(
    (status = 200, description = "The new password, shown once", body = PasswordView),
    (status = 403, description = "`forbidden`: only an administrator of the user's organisation, or of the LA, may"),
    (status = 404, description = "`not_found`: no such user"),
))]
async fn reset_password(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<PasswordView>, ApiError> {
    let generated = users::reset_password(&state, Some(&who), user_id(&id)?, None).await.map_err(no_such_user)?;
    let password = generated.map(|p| p.expose_secret().to_owned()).unwrap_or_default();
    Ok(Json(PasswordView { password }))
}

/// Replaces a person's second factor (a lost phone): the new secret and recovery codes, shown once.
#[utoipa::path(post, path = "/api/v1/users/{id}/reset-totp", tag = "users", params(("id" = i64, Path, description = "The user's id")), responses(
    (status = 200, description = "The new enrolment, for the person to confirm", body = EnrolmentView),
    (status = 403, description = "`forbidden`: only an administrator of the user's organisation, or of the LA, may"),
    (status = 404, description = "`not_found`: no such user"),
))]
async fn reset_totp(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<EnrolmentView>, ApiError> {
    Ok(Json(users::reset_totp(&state, Some(&who), user_id(&id)?).await.map_err(no_such_user)?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Leaver, examples(json!({"on": "2026-07-31T17:00:00Z"})))]
pub(super) struct LeaverBody {
    /// The moment the account stops working; null cancels a leaving date.
    pub(super) on: Option<String>,
}

/// Sets (or, with `"on": null`, cancels) the moment a leaver's account stops working.
#[utoipa::path(put, path = "/api/v1/users/{id}/leaver", tag = "users", params(("id" = i64, Path, description = "The user's id")), request_body = LeaverBody, responses(
    (status = 200, description = "Set", body = UserView),
    (status = 400, description = "`invalid_body`: the body is not a leaving date\n\n`invalid_time`: `on` is not an RFC 3339 time"),
    (status = 403, description = "`forbidden`: only an administrator of the user's organisation, or of the LA, may"),
    (status = 404, description = "`not_found`: no such user"),
    (status = 422, description = "`own_account`: ask another administrator to set your leaving date"),
))]
async fn leaver(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LeaverBody>,
) -> Result<Json<UserView>, ApiError> {
    let on = time_param(body.on.as_deref(), "on")?;
    Ok(Json(UserView::new(
        &users::set_leaver_date(&state, Some(&who), user_id(&id)?, on).await.map_err(no_such_user)?,
        None,
    )))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FunctionGrant, examples(json!({"until": "2026-04-30T17:00:00Z"})))]
pub(super) struct GrantBody {
    /// For temporary cover: when it lapses.
    pub(super) until: Option<String>,
}

/// Gives a person a function (what they do: `finance`, `admissions`...), for good or, with `until`, as cover. The body is optional.
#[utoipa::path(put, path = "/api/v1/users/{id}/functions/{function}", tag = "users", params(("id" = i64, Path, description = "The user's id"), ("function" = String, Path, description = "The function, e.g. `finance`")), request_body = Option<GrantBody>, responses(
    (status = 204, description = "Given"),
    (status = 400, description = "`invalid_body`: the body is not a grant\n\n`invalid_time`, `invalid_until`: `until` is not a time in the future"),
    (status = 403, description = "`forbidden`: only an administrator of the user's organisation, or of the LA, may"),
    (status = 404, description = "`not_found`: no such user"),
    (status = 422, description = "`unknown_function`: the LA has not defined it"),
))]
async fn grant(
    State(state): State<AppState>,
    who: Principal,
    Path((id, function)): Path<(String, String)>,
    OptionalJsonBody(body): OptionalJsonBody<GrantBody>,
) -> Result<StatusCode, ApiError> {
    let until = time_param(body.as_ref().and_then(|b| b.until.as_deref()), "until")?;
    users::grant_function(&state, Some(&who), user_id(&id)?, &function, until).await.map_err(no_such_user)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes a function away from a person.
#[utoipa::path(delete, path = "/api/v1/users/{id}/functions/{function}", tag = "users", params(("id" = i64, Path, description = "The user's id"), ("function" = String, Path, description = "The function, e.g. `finance`")), responses(
    (status = 204, description = "Taken away"),
    (status = 403, description = "`forbidden`: only an administrator of the user's organisation, or of the LA, may"),
    (status = 404, description = "`not_found`: no such user"),
    (status = 422, description = "`unknown_function`: the LA has not defined it"),
))]
async fn revoke(
    State(state): State<AppState>,
    who: Principal,
    Path((id, function)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    users::revoke_function(&state, Some(&who), user_id(&id)?, &function).await.map_err(no_such_user)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Function, examples(json!({"slug": "send", "name": "Special educational needs"})))]
pub(super) struct FunctionBody {
    pub(super) slug: String,
    name: String,
}

/// The functions people can hold.
#[utoipa::path(get, path = "/api/v1/functions", tag = "users", responses(
    (status = 200, description = "The functions", body = Vec<FunctionBody>),
    (status = 403, description = "`forbidden`: only administrators see them"),
))]
async fn functions(State(state): State<AppState>, who: Principal) -> Result<Json<Vec<FunctionBody>>, ApiError> {
    let all = users::list_functions(&state, &who).await?;
    Ok(Json(all.into_iter().map(|(slug, name)| FunctionBody { slug: slug.to_string(), name }).collect()))
}

/// Defines a function.
#[utoipa::path(post, path = "/api/v1/functions", tag = "users", request_body = FunctionBody, responses(
    (status = 201, description = "Defined"),
    (status = 400, description = "`invalid_body`: the body is not a function\n\n`invalid_function`: the slug is not valid"),
    (status = 403, description = "`forbidden`: only LA administrators define functions"),
    (status = 409, description = "`duplicate_function`: it exists already"),
))]
async fn define_function(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(body): JsonBody<FunctionBody>,
) -> Result<StatusCode, ApiError> {
    users::define_function(&state, Some(&who), &body.slug, &body.name).await?;
    Ok(StatusCode::CREATED)
}

/// A school administrator confirms that their school's list of people is right, as the LA asks each term.
#[utoipa::path(post, path = "/api/v1/user-list-confirmations", tag = "users", responses(
    (status = 204, description = "Confirmed"),
    (status = 403, description = "`forbidden`: only a school administrator confirms"),
))]
async fn confirm_list(State(state): State<AppState>, who: Principal) -> Result<StatusCode, ApiError> {
    users::confirm_user_list(&state, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
struct ConfirmationView {
    org: OrgView,
    last_confirmed: Option<String>,
    overdue: bool,
}

/// Which schools have confirmed their list of people, and which are overdue.
#[utoipa::path(get, path = "/api/v1/reports/user-list-confirmations", tag = "reports", responses(
    (status = 200, description = "Every school, with its last confirmation", body = Vec<ConfirmationView>),
    (status = 403, description = "`forbidden`: only LA administrators see this report"),
))]
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
