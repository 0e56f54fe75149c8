//! Signing in from a browser, where the password and the second factor are asked on two pages:
//! the same checks, limits and audit as `sessions::login`, taken a step at a time. Between the
//! steps the browser holds proof that the password was right (made and checked by the web
//! layer); the code step is counted against the same limits as a whole login.

use secrecy::SecretString;

use super::sessions::{self, IssuedSession};
use super::{account, CredentialRefusal as Why, ServiceError};
use crate::domain::UserId;
use crate::policy::Principal;
use crate::service::AppState;

/// What the password step leads to.
pub enum PasswordStep {
    /// No second factor to ask for: signed in.
    SignedIn(Box<IssuedSession>),
    /// The password was right; the person's code is asked next.
    CodeNeeded(UserId),
}

/// The first page: the username and password. Refused alike for an unknown name and a wrong
/// password; the account's state is named only once the password was right.
pub async fn password_step(
    state: &AppState,
    username: &str,
    password: &SecretString,
    client_addr: Option<String>,
) -> Result<PasswordStep, ServiceError> {
    let attempt = sessions::begin_attempt(state, username, client_addr.clone()).await?;
    let user = match sessions::check_password(state, username, password).await? {
        Ok(user) => user,
        Err((why, detail)) => return Err(attempt.failed(state, why, detail).await),
    };
    // A right password is not a failure: the code step counts an attempt of its own.
    attempt.succeeded(state).await?;
    if user.totp_confirmed {
        return Ok(PasswordStep::CodeNeeded(user.id));
    }
    Ok(PasswordStep::SignedIn(Box::new(sessions::start_session(state, user, client_addr).await?)))
}

/// The second page: the code from the authenticator app, or a recovery code, for the person
/// whose password was accepted a moment ago. The account's state is checked again, in case it
/// was disabled in between.
pub async fn code_step(
    state: &AppState,
    user: UserId,
    totp: Option<&str>,
    recovery_code: Option<&str>,
    client_addr: Option<String>,
) -> Result<IssuedSession, ServiceError> {
    let Some(user) = state.repo().get_user(user).await? else {
        return Err(ServiceError::CredentialsRefused(Why::SessionEnded));
    };
    let attempt = sessions::begin_attempt(state, user.username.as_str(), client_addr.clone()).await?;
    let user = match sessions::may_login(state, user) {
        Ok(user) => user,
        Err((why, detail)) => return Err(attempt.failed(state, why, detail).await),
    };
    if let Err((why, detail)) = sessions::check_second_factor(state, &user, totp, recovery_code).await? {
        return Err(attempt.failed(state, why, detail).await);
    }
    attempt.succeeded(state).await?;
    sessions::start_session(state, user, client_addr).await
}

/// Changes the password as `account::change_password` does (which ends every session of the
/// person, this one too), then gives the browser a new session, so a person who has just
/// proved their password in a live session is not asked to sign in again.
pub async fn change_password(
    state: &AppState,
    who: &Principal,
    current: &SecretString,
    new: &SecretString,
) -> Result<IssuedSession, ServiceError> {
    account::change_password(state, who, current, new).await?;
    let id = who.user_id().ok_or(ServiceError::Forbidden)?;
    let Some(user) = state.repo().get_user(id).await? else {
        return Err(ServiceError::CredentialsRefused(Why::SessionEnded));
    };
    let user = sessions::may_login(state, user).map_err(|(why, _)| ServiceError::CredentialsRefused(why))?;
    sessions::start_session(state, user, who.client_addr.clone()).await
}

/// Whether the person has a confirmed second factor already, so the recovery codes of an
/// enrolment are shown only by the confirmation that put it in force.
pub async fn second_factor_confirmed(state: &AppState, who: &Principal) -> Result<bool, ServiceError> {
    let id = who.user_id().ok_or(ServiceError::Forbidden)?;
    Ok(state.repo().get_user(id).await?.is_some_and(|u| u.totp_confirmed))
}
