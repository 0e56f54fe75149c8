//! A person's own account: accepting the terms of use, enrolling a second factor, changing
//! their password.

use secrecy::{ExposeSecret, SecretString};
use tracing::info;

use super::authority::enforce;
use super::sessions::open_totp_secret;
use super::users::{check_password, new_totp, TotpEnrolment};
use super::{CredentialRefusal, ServiceError};
use crate::audit::AuditEvent;
use crate::domain::records::UserRecord;
use crate::identity::password::hash_password;
use crate::identity::totp::verify_totp;
use crate::policy::{self, Action, Principal};
use crate::service::AppState;

async fn me(state: &AppState, who: &Principal, action: Action<'_>) -> Result<UserRecord, ServiceError> {
    enforce(policy::decide(who, action))?;
    let id = who.user_id().ok_or(ServiceError::Forbidden)?;
    state.repo().get_user(id).await?.ok_or(ServiceError::CredentialsRefused(CredentialRefusal::SessionEnded))
}

/// The terms of use in force: their version and text (empty when no file is configured).
pub fn current_terms(state: &AppState) -> (u32, String) {
    let s = &state.settings().identity;
    let text = if s.terms_path.as_os_str().is_empty() {
        String::new()
    } else {
        std::fs::read_to_string(&s.terms_path).unwrap_or_default()
    };
    (s.terms_version, text)
}

pub async fn accept_terms(state: &AppState, who: &Principal, version: u32) -> Result<(), ServiceError> {
    let user = me(state, who, Action::OwnSession).await?;
    let (current, _) = current_terms(state);
    if version != current {
        return Err(ServiceError::unprocessable(
            "stale_terms",
            format!("the current terms are version {current}: read them and accept that version"),
        ));
    }
    let audit =
        AuditEvent::by(who, state.now(), "user.accept_terms").target("user", user.id.0).detail("version", version);
    state.repo().accept_terms(user.id, version, state.now(), &audit).await?;
    info!(user = %user.username, version, "terms of use accepted");
    Ok(())
}

/// Starts (or restarts) enrolment: a new secret and recovery codes, not yet in force. A person
/// who already has a confirmed second factor must have an administrator reset it instead, so a
/// stolen session cannot swap it.
pub async fn start_totp(state: &AppState, who: &Principal) -> Result<TotpEnrolment, ServiceError> {
    let user = me(state, who, Action::OwnSession).await?;
    if user.totp_confirmed {
        return Err(ServiceError::Conflict {
            code: "totp_already_enrolled",
            message: "a second factor is already set up: ask an administrator to reset it".into(),
        });
    }
    let audit = AuditEvent::by(who, state.now(), "user.start_second_factor").target("user", user.id.0);
    new_totp(state, &user, false, audit).await
}

pub async fn confirm_totp(state: &AppState, who: &Principal, code: &str) -> Result<(), ServiceError> {
    let user = me(state, who, Action::OwnSession).await?;
    if user.totp_confirmed {
        return Ok(());
    }
    let secret = open_totp_secret(state, &user)?.ok_or_else(|| {
        ServiceError::unprocessable("no_enrolment", "start enrolment first (POST /api/v1/session/totp)")
    })?;
    let now = state.now().unix_timestamp().max(0) as u64;
    let step = verify_totp(&secret, code.trim(), now, user.totp_last_step).map_err(|_| {
        ServiceError::unprocessable(
            "wrong_code",
            "that code is not right: check the clock of your device and try the next code",
        )
    })?;
    state.repo().advance_totp_step(user.id, step).await?;
    let audit = AuditEvent::by(who, state.now(), "user.enrol_second_factor").target("user", user.id.0);
    state.repo().confirm_totp(user.id, state.now(), &audit).await?;
    info!(user = %user.username, "second factor enrolled");
    Ok(())
}

/// Changes the password; every session ends, including this one, so the person logs in again.
pub async fn change_password(
    state: &AppState,
    who: &Principal,
    current: &SecretString,
    new: &SecretString,
) -> Result<(), ServiceError> {
    let user = me(state, who, Action::ChangeOwnPassword).await?;
    if !state.hashing().verify(current, user.password_hash.as_deref()).await? {
        return Err(ServiceError::unprocessable("wrong_password", "the current password is not right"));
    }
    check_password(new, user.username.as_str())?;
    if user.password_change_required && state.hashing().verify(new, user.password_hash.as_deref()).await? {
        return Err(ServiceError::unprocessable(
            "password_not_changed",
            "choose a password of your own, not the one you were given",
        ));
    }
    let audit = AuditEvent::by(who, state.now(), "user.change_password").target("user", user.id.0);
    let new = SecretString::from(new.expose_secret().to_owned());
    let phc = state.hashing().run(move || hash_password(&new)).await??;
    state.repo().set_password(user.id, &phc, false, state.now(), &audit).await?;
    info!(user = %user.username, "password changed; sessions revoked");
    Ok(())
}
