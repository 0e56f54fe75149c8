//! Managing people: accounts as LAs run them. An LA administrator creates accounts directly;
//! a school administrator's new account is a request an LA administrator approves. Leavers are
//! disabled on a date set in advance, cover for an absent colleague lapses by itself, and each
//! school confirms its list of users once a year.
//!
//! `who` is None when the operator acts from the server's own command line, which is trusted.

use secrecy::SecretString;
use time::{Duration, OffsetDateTime};
use tracing::info;

use super::authority::enforce;
use super::sessions::totp_binding;
use super::ServiceError;
use crate::audit::{Actor, AuditEvent};
use crate::crypto::DataKey;
use crate::domain::records::{NewUser, UserRecord};
use crate::domain::{FunctionSlug, OrgKind, OrgRef, Organisation, Role, UserId, UserStatus, Username};
use crate::identity::password::{generate_password, hash_password};
use crate::identity::password_policy::PasswordPolicy;
use crate::identity::recovery_codes::{generate_recovery_codes, hash_recovery_code};
use crate::identity::totp::{otpauth_uri, TotpSecret};
use crate::policy::{self, Action, Decision, Principal};
use crate::service::AppState;
use crate::store::{Repository, StoreError};

fn check(who: Option<&Principal>, action: Action<'_>) -> Result<(), ServiceError> {
    match who {
        None => Ok(()),
        Some(who) => enforce(policy::decide(who, action)),
    }
}

pub struct NewUserRequest {
    pub org: OrgRef,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// None: generate one and hand it back once.
    pub password: Option<SecretString>,
}

pub struct CreatedUser {
    pub user: UserRecord,
    pub initial_password: Option<SecretString>,
}

pub async fn find_org(repo: &dyn Repository, reference: &OrgRef) -> Result<Organisation, ServiceError> {
    repo.find_organisation(reference).await?.ok_or_else(|| {
        ServiceError::unprocessable("unknown_organisation", format!("there is no organisation {reference}"))
    })
}

pub fn check_password(password: &SecretString, username: &str) -> Result<(), ServiceError> {
    use secrecy::ExposeSecret;
    PasswordPolicy::default()
        .check(password.expose_secret(), username)
        .map_err(|v| ServiceError::bad_request("weak_password", v.to_string()))
}

pub async fn create(
    state: &AppState,
    who: Option<&Principal>,
    req: NewUserRequest,
) -> Result<CreatedUser, ServiceError> {
    let org = find_org(state.repo(), &req.org).await?;
    if let Some(principal) = who {
        match policy::decide(principal, Action::CreateUser { org: &org, role: req.role }) {
            Decision::Invalid(_) => return Err(role_mismatch(req.role, &org)),
            decision => enforce(decision)?,
        }
    } else if req.role.is_school_role() != (org.kind == OrgKind::School) && req.role != Role::SystemAdmin {
        return Err(role_mismatch(req.role, &org));
    }
    if !org.status.can_receive() {
        return Err(ServiceError::unprocessable(
            "organisation_closed",
            format!("{} is closed: it can have no new users", org.reference),
        ));
    }
    let username: Username = req.username.parse().map_err(|e: crate::domain::user::InvalidUsername| {
        ServiceError::bad_request("invalid_username", e.to_string())
    })?;
    let display_name = super::printable_name(&req.display_name, 200, "the person's name")?;
    let (password, generated) = match req.password {
        Some(p) => {
            check_password(&p, username.as_str())?;
            (p, false)
        }
        None => (generate_password(), true),
    };
    // A school administrator's new colleague waits for the LA to approve the account.
    let status = match who.and_then(|w| w.role()) {
        Some(Role::SchoolAdmin) => UserStatus::Requested,
        _ => UserStatus::Active,
    };
    let new = NewUser {
        org: org.id,
        username: username.clone(),
        display_name: display_name.to_owned(),
        role: req.role,
        status,
        password_hash: Some(hash_password(&password)?),
        requested_by: who.and_then(|w| w.user_id()),
        // A generated password is handed over by someone else: the person replaces it first.
        password_change_required: generated,
    };
    let audit = AuditEvent::new(state.now(), Actor::of_opt(who), "user.create")
        .concerning(&org.reference)
        .detail("username", username.as_str())
        .detail("role", req.role.as_str())
        .detail("status", status.as_str());
    let user = state.repo().create_user(&new, state.now(), &audit).await.map_err(|e| match e {
        StoreError::Conflict(_) => ServiceError::Conflict {
            code: "username_taken",
            message: format!("the username {username} is taken: choose another"),
        },
        other => other.into(),
    })?;
    info!(user = %user.username, org = %user.org.reference, role = %user.role, status = user.status.as_str(), "user created");
    Ok(CreatedUser { user, initial_password: generated.then_some(password) })
}

/// An event about a change to `user`'s account.
fn user_event(state: &AppState, who: Option<&Principal>, action: &str, user: &UserRecord) -> AuditEvent {
    AuditEvent::new(state.now(), Actor::of_opt(who), action)
        .target("user", user.id.0)
        .concerning(&user.org.reference)
        .detail("username", user.username.as_str())
}

fn role_mismatch(role: Role, org: &Organisation) -> ServiceError {
    ServiceError::unprocessable(
        "role_does_not_fit",
        format!(
            "a {} cannot belong to {} ({}): school roles go with schools, LA roles with teams, and system \
             administrators with the system organisation",
            role,
            org.reference,
            org.kind.as_str()
        ),
    )
}

pub async fn get(state: &AppState, who: Option<&Principal>, id: UserId) -> Result<UserRecord, ServiceError> {
    let user = state.repo().get_user(id).await?.ok_or(ServiceError::NotFound)?;
    match who {
        None => Ok(user),
        Some(w) => match policy::decide(w, Action::ManageUser(&user)) {
            Decision::Allow => Ok(user),
            Decision::StepRequired(step) => Err(ServiceError::StepRequired(step)),
            Decision::Forbidden if user.org.id == w.org_id() => Err(ServiceError::Forbidden),
            _ => Err(ServiceError::NotFound),
        },
    }
}

pub async fn find(state: &AppState, username: &str) -> Result<UserRecord, ServiceError> {
    let name: Username = username.parse().map_err(|_| ServiceError::NotFound)?;
    state.repo().find_user(&name).await?.ok_or(ServiceError::NotFound)
}

pub async fn list(
    state: &AppState,
    who: Option<&Principal>,
    org: Option<&OrgRef>,
) -> Result<Vec<UserRecord>, ServiceError> {
    let org = match org {
        Some(r) => Some(find_org(state.repo(), r).await?),
        None => None,
    };
    check(who, Action::ListUsers(org.as_ref()))?;
    Ok(state.repo().list_users(org.map(|o| o.id)).await?)
}

pub async fn approve(state: &AppState, who: Option<&Principal>, id: UserId) -> Result<UserRecord, ServiceError> {
    let user = state.repo().get_user(id).await?.ok_or(ServiceError::NotFound)?;
    check(who, Action::ApproveUser(&user))?;
    if user.status != UserStatus::Requested {
        return Err(ServiceError::Conflict {
            code: "not_requested",
            message: format!("{} is {}, not waiting for approval", user.username, user.status.as_str()),
        });
    }
    let audit = user_event(state, who, "user.approve", &user);
    state
        .repo()
        .set_user_status(id, UserStatus::Active, None, who.and_then(|w| w.user_id()), state.now(), &audit)
        .await?;
    get(state, None, id).await
}

pub async fn set_active(
    state: &AppState,
    who: Option<&Principal>,
    id: UserId,
    active: bool,
    reason: &str,
) -> Result<UserRecord, ServiceError> {
    let user = get(state, who, id).await?;
    if !active {
        may_disable(who, &user)?;
    }
    let status = if active { UserStatus::Active } else { UserStatus::Disabled };
    if active && user.status == UserStatus::Requested {
        return Err(ServiceError::Conflict {
            code: "not_approved",
            message: "approve the account request instead".into(),
        });
    }
    let action = if active { "user.enable" } else { "user.disable" };
    let audit = user_event(state, who, action, &user).detail("reason", reason);
    state.repo().set_user_status(id, status, Some(reason), who.and_then(|w| w.user_id()), state.now(), &audit).await?;
    info!(user = %user.username, active, reason, "user status changed");
    get(state, None, id).await
}

fn may_disable(who: Option<&Principal>, user: &UserRecord) -> Result<(), ServiceError> {
    match who.map(|w| policy::decide(w, Action::DisableUser(user))) {
        None => Ok(()),
        Some(Decision::Invalid("own_account")) => Err(ServiceError::unprocessable(
            "own_account",
            "you cannot disable your own account or set your own leaving date: ask another administrator",
        )),
        Some(decision) => enforce(decision),
    }
}

/// Sets a new password (generated when none is given) and ends every session of the user.
pub async fn reset_password(
    state: &AppState,
    who: Option<&Principal>,
    id: UserId,
    password: Option<SecretString>,
) -> Result<Option<SecretString>, ServiceError> {
    let user = get(state, who, id).await?;
    let (password, generated) = match password {
        Some(p) => {
            check_password(&p, user.username.as_str())?;
            (p, false)
        }
        None => (generate_password(), true),
    };
    let audit = user_event(state, who, "user.reset_password", &user);
    state.repo().set_password(id, &hash_password(&password)?, generated, state.now(), &audit).await?;
    info!(user = %user.username, "password reset; sessions revoked");
    Ok(generated.then_some(password))
}

pub struct TotpEnrolment {
    pub otpauth_uri: String,
    pub recovery_codes: Vec<SecretString>,
}

/// Gives the user a fresh TOTP secret and recovery codes. `confirmed`: in force at once (an
/// administrator enrolling on the user's behalf); otherwise the user confirms it with a code.
pub async fn new_totp(
    state: &AppState,
    user: &UserRecord,
    confirmed: bool,
    audit: AuditEvent,
) -> Result<TotpEnrolment, ServiceError> {
    let key = DataKey::generate();
    let secret = TotpSecret::from_bytes(key.expose_secret().to_vec())
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("TOTP secret: {e}")))?;
    let wrapped = state.keys().wrap(&key, &totp_binding(user.id));
    let codes = generate_recovery_codes(10);
    let hashes: Vec<[u8; 32]> =
        codes.iter().map(|c| hash_recovery_code(secrecy::ExposeSecret::expose_secret(c))).collect();
    state.repo().set_totp(user.id, Some(&wrapped), confirmed, &hashes, state.now(), &audit).await?;
    let uri = otpauth_uri(&secret, &state.settings().identity.totp_issuer, user.username.as_str());
    Ok(TotpEnrolment { otpauth_uri: uri, recovery_codes: codes })
}

pub async fn reset_totp(state: &AppState, who: Option<&Principal>, id: UserId) -> Result<TotpEnrolment, ServiceError> {
    let user = get(state, who, id).await?;
    let enrolment = new_totp(state, &user, true, user_event(state, who, "user.reset_second_factor", &user)).await?;
    state.repo().revoke_user_sessions(id, "second factor reset", state.now(), None).await?;
    info!(user = %user.username, "second factor reset by an administrator");
    Ok(enrolment)
}

/// A leaver's last day: the account stops working at this time by itself.
pub async fn set_leaver_date(
    state: &AppState,
    who: Option<&Principal>,
    id: UserId,
    on: Option<OffsetDateTime>,
) -> Result<UserRecord, ServiceError> {
    let user = get(state, who, id).await?;
    if on.is_some() {
        may_disable(who, &user)?;
    }
    let audit =
        user_event(state, who, "user.set_leaver_date", &user).detail("on", on.map(crate::domain::clock::to_millis));
    state.repo().set_disable_on(id, on, &audit).await?;
    get(state, None, id).await
}

pub async fn grant_function(
    state: &AppState,
    who: Option<&Principal>,
    id: UserId,
    function: &str,
    until: Option<OffsetDateTime>,
) -> Result<(), ServiceError> {
    let user = state.repo().get_user(id).await?.ok_or(ServiceError::NotFound)?;
    check(who, Action::GrantFunction { user: &user, temporary: until.is_some() })?;
    let slug = known_function(state, function).await?;
    if until.is_some_and(|u| u <= state.now()) {
        return Err(ServiceError::bad_request("invalid_until", "cover must end in the future"));
    }
    let audit = user_event(state, who, "user.grant_function", &user)
        .detail("function", slug.as_str())
        .detail("until", until.map(crate::domain::clock::to_millis));
    state.repo().grant_function(id, &slug, until, who.and_then(|w| w.user_id()), state.now(), &audit).await?;
    Ok(())
}

pub async fn revoke_function(
    state: &AppState,
    who: Option<&Principal>,
    id: UserId,
    function: &str,
) -> Result<(), ServiceError> {
    let user = state.repo().get_user(id).await?.ok_or(ServiceError::NotFound)?;
    check(who, Action::GrantFunction { user: &user, temporary: false })?;
    let slug = known_function(state, function).await?;
    let audit = user_event(state, who, "user.revoke_function", &user).detail("function", slug.as_str());
    state.repo().revoke_function(id, &slug, &audit).await?;
    Ok(())
}

async fn known_function(state: &AppState, function: &str) -> Result<FunctionSlug, ServiceError> {
    let known = state.repo().list_functions().await?;
    known.into_iter().map(|(slug, _)| slug).find(|s| s.as_str() == function).ok_or_else(|| {
        ServiceError::unprocessable(
            "unknown_function",
            format!("there is no function '{function}': the LA defines functions first"),
        )
    })
}

pub async fn list_functions(state: &AppState, who: &Principal) -> Result<Vec<(FunctionSlug, String)>, ServiceError> {
    enforce(policy::decide(who, Action::ListFunctions))?;
    Ok(state.repo().list_functions().await?)
}

/// Functions a user holds now (lapsed cover left out).
pub async fn functions_of(
    state: &AppState,
    user: &UserRecord,
) -> Result<Vec<crate::domain::records::UserFunction>, ServiceError> {
    Ok(state.repo().user_functions(user.id, state.now()).await?)
}

pub async fn define_function(
    state: &AppState,
    who: Option<&Principal>,
    slug: &str,
    name: &str,
) -> Result<(), ServiceError> {
    check(who, Action::DefineFunctions)?;
    let slug = FunctionSlug::parse(slug).ok_or_else(|| {
        ServiceError::bad_request(
            "invalid_function",
            "use 2 to 40 lower-case letters, digits or hyphens, such as finance",
        )
    })?;
    let audit = AuditEvent::new(state.now(), Actor::of_opt(who), "function.define")
        .target("function", &slug)
        .detail("name", name.trim());
    state.repo().create_function(&slug, name.trim(), state.now(), &audit).await.map_err(|e| match e {
        StoreError::Conflict(_) => ServiceError::Conflict {
            code: "duplicate_function",
            message: format!("the function {slug} exists already"),
        },
        other => other.into(),
    })
}

pub async fn confirm_user_list(state: &AppState, who: &Principal) -> Result<(), ServiceError> {
    enforce(policy::decide(who, Action::ConfirmUserList(&who.org)))?;
    let by = who.user_id().ok_or(ServiceError::Forbidden)?;
    let audit = AuditEvent::by(who, state.now(), "user_list.confirm").concerning(&who.org.reference);
    state.repo().confirm_user_list(who.org_id(), by, state.now(), &audit).await?;
    Ok(())
}

pub struct ConfirmationStatus {
    pub org: Organisation,
    pub last_confirmed: Option<OffsetDateTime>,
    pub overdue: bool,
}

/// Which schools have not confirmed their list of users within the configured period.
pub async fn confirmation_report(state: &AppState, who: &Principal) -> Result<Vec<ConfirmationStatus>, ServiceError> {
    enforce(policy::decide(who, Action::ViewConfirmationReport))?;
    let period = Duration::days(state.settings().identity.user_list_confirmation_days as i64);
    let now = state.now();
    Ok(state
        .repo()
        .user_list_confirmations()
        .await?
        .into_iter()
        .map(|(org, last)| ConfirmationStatus {
            overdue: last.is_none_or(|t| now - t > period),
            org,
            last_confirmed: last,
        })
        .collect())
}

pub const SYSTEM_ORG: &str = "system";
