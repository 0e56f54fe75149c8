//! Use cases: what a principal can do with the exchange, independent of HTTP. Each takes the
//! application state and an already-authenticated [`crate::policy::Principal`], asks the
//! policy, and does the work.

pub mod account;
pub mod addressing;
pub mod api_keys;
pub mod audit;
pub mod authority;
pub mod batch;
pub mod bootstrap;
pub mod browse;
pub mod channel_admin;
pub mod channel_overrides;
pub mod channels;
pub mod collection;
pub mod download;
pub mod hashing;
pub mod holds;
pub mod keys;
pub mod mailbox;
pub mod messages;
pub mod organisations;
pub mod quarantine;
pub mod register;
pub mod reports;
pub mod routing_desk;
pub mod sessions;
pub mod startup;
pub mod state;
pub mod teams;
pub mod unclaimed;
pub mod upload;
pub mod users;
pub mod web_sign_in;

pub use state::AppState;

use crate::store::{BlobError, StoreError};

/// Why a use case did not do what was asked. The HTTP layer maps each to a status; the
/// messages are for the person or job that asked, so they say what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// No credentials came with the request, or not in a form we read.
    #[error(
        "send an API key, or the access token from logging in (POST /api/v1/session), as 'Authorization: Bearer <token>'"
    )]
    Unauthenticated,
    /// Credentials came but were not accepted, for this reason.
    #[error("{}", .0.message())]
    CredentialsRefused(CredentialRefusal),
    #[error("no such transfer, or it is not yours to see")]
    NotFound,
    /// Something other than a transfer is not there; the text names it.
    #[error("{0}")]
    Unknown(String),
    #[error("{0}")]
    Gone(String),
    #[error("this needs a permission you do not have")]
    Forbidden,
    /// Refused openly for a reason the caller can act on (a channel switched off for now).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// The person must first take a step (accept the terms, enrol a second factor).
    #[error("{}", step_message(*.0))]
    StepRequired(crate::policy::PendingStep),
    /// Too many failed logins for this account or address; try again after the given seconds.
    #[error("too many failed attempts: wait {0} seconds before trying again")]
    Throttled(u64),
    /// Too many password checks are running or waiting already; nothing was checked.
    #[error("too many people are signing in at once: try again in a moment")]
    Busy,
    #[error("{0}")]
    UnsupportedType(String),
    #[error("the file is larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("the requested range is outside the file's {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    /// The client stopped sending (disconnect, idle timeout); nothing was kept.
    #[error("the upload did not complete: {0}")]
    BodyAborted(String),
    #[error("a backend is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn step_message(step: crate::policy::PendingStep) -> &'static str {
    use crate::policy::PendingStep as S;
    match step {
        S::AcceptTerms => "accept the current terms of use first (POST /api/v1/session/terms)",
        S::EnrolTotp => "set up your second factor first (POST /api/v1/session/totp)",
        S::ChangePassword => {
            "choose your own password first: the one you were given works only for that \
             (POST /api/v1/session/password with current_password and new_password)"
        }
    }
}

/// Why credentials were not accepted. Each has its own code and says what to do. None tells a
/// stranger whether a username or key exists: the state of an account or key is named only
/// once its password or secret was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialRefusal {
    /// An API key that is not one of ours, or whose secret is wrong.
    UnknownKey,
    KeyRevoked,
    KeyExpired,
    KeySuspended,
    /// The organisation of the key or person has closed.
    OrganisationClosed,
    /// An access token that we did not issue, or that was altered.
    InvalidToken,
    TokenExpired,
    /// The session behind a token was ended: logged out, replaced, reset or timed out.
    SessionEnded,
    /// A refresh token that is not (or no longer) valid.
    InvalidRefreshToken,
    /// No such user, or the wrong password: which of the two is not said.
    WrongUsernameOrPassword,
    PendingApproval,
    AccountDisabled,
    AccountLeft,
    AccountInactive,
    SecondFactorRequired,
    WrongSecondFactor,
}

impl CredentialRefusal {
    pub fn code(self) -> &'static str {
        use CredentialRefusal as R;
        match self {
            R::UnknownKey => "unknown_api_key",
            R::KeyRevoked => "api_key_revoked",
            R::KeyExpired => "api_key_expired",
            R::KeySuspended => "api_key_suspended",
            R::OrganisationClosed => "organisation_closed",
            R::InvalidToken => "invalid_access_token",
            R::TokenExpired => "access_token_expired",
            R::SessionEnded => "session_ended",
            R::InvalidRefreshToken => "invalid_refresh_token",
            R::WrongUsernameOrPassword => "wrong_username_or_password",
            R::PendingApproval => "account_pending_approval",
            R::AccountDisabled => "account_disabled",
            R::AccountLeft => "account_ended",
            R::AccountInactive => "account_inactive",
            R::SecondFactorRequired => "second_factor_required",
            R::WrongSecondFactor => "wrong_second_factor",
        }
    }

    pub fn message(self) -> &'static str {
        use CredentialRefusal as R;
        match self {
            R::UnknownKey => "this API key is not known: check that it was copied whole (it starts pp_), or ask an administrator for a new one",
            R::KeyRevoked => "this API key has been revoked: ask an administrator of your organisation or the LA for a new one",
            R::KeyExpired => "this API key has expired: ask an administrator of your organisation or the LA for a new one",
            R::KeySuspended => "this API key is suspended: ask the LA to lift the suspension",
            R::OrganisationClosed => "your organisation is closed in the register, so it can no longer use the exchange: ask the LA if this is wrong",
            R::InvalidToken => "this access token is not valid: log in again (POST /api/v1/session)",
            R::TokenExpired => "this access token has expired: get a new one with POST /api/v1/session/refresh, or log in again",
            R::SessionEnded => "this session has ended (logged out, replaced by a newer login, or reset): log in again",
            R::InvalidRefreshToken => "this refresh token is not valid or was already used: log in again",
            R::WrongUsernameOrPassword => "that username and password do not match an account: check both, or ask an administrator to reset your password",
            R::PendingApproval => "your account is waiting for the LA to approve it: you can log in once they have",
            R::AccountDisabled => "your account is disabled: ask an administrator of your organisation or the LA",
            R::AccountLeft => "your account ended on its leaving date: ask an administrator if you still need it",
            R::AccountInactive => "your account was locked after a long time unused: ask an administrator to reactivate it",
            R::SecondFactorRequired => "this account needs a second factor: send the code from your authenticator app as 'totp', or a recovery code as 'recovery_code'",
            R::WrongSecondFactor => "the second factor is not right: check the clock of your device and use the current code, or use an unused recovery code",
        }
    }
}

impl From<crate::policy::LoginRefusal> for CredentialRefusal {
    fn from(r: crate::policy::LoginRefusal) -> Self {
        use crate::policy::LoginRefusal as L;
        match r {
            L::PendingApproval => Self::PendingApproval,
            L::Disabled => Self::AccountDisabled,
            L::LeftOn => Self::AccountLeft,
            L::Inactive => Self::AccountInactive,
            L::OrganisationClosed => Self::OrganisationClosed,
            L::KeyRevoked => Self::KeyRevoked,
            L::KeySuspended => Self::KeySuspended,
            L::KeyExpired => Self::KeyExpired,
        }
    }
}

/// A listing or report named a channel the catalogue does not have (400: a mistyped name is
/// not read as "no files").
pub(crate) fn unknown_channel(slug: &str) -> ServiceError {
    ServiceError::bad_request(
        "unknown_channel",
        format!("there is no channel '{slug}': GET /api/v1/channels lists them"),
    )
}

/// A name shown to people (an organisation's, a key's, a person's): trimmed, 1 to `max` bytes,
/// no control characters. `what` completes "give ... of 1 to N printable characters".
pub(crate) fn printable_name<'a>(name: &'a str, max: usize, what: &str) -> Result<&'a str, ServiceError> {
    let name = name.trim();
    if name.is_empty() || name.len() > max || name.chars().any(char::is_control) {
        return Err(ServiceError::bad_request(
            "invalid_name",
            format!("give {what} of 1 to {max} printable characters"),
        ));
    }
    Ok(name)
}

impl ServiceError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable { code, message: message.into() }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(e) => {
                crate::metrics::global().backend_error("database");
                ServiceError::Unavailable(e.context("database"))
            }
            StoreError::Conflict(m) => ServiceError::Conflict { code: "conflict", message: m },
            StoreError::Other(e) => ServiceError::Internal(e),
        }
    }
}

impl From<BlobError> for ServiceError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound(key) => {
                ServiceError::Internal(anyhow::anyhow!("object {key} is missing from the store"))
            }
            BlobError::Unavailable(e) => {
                crate::metrics::global().backend_error("object_store");
                ServiceError::Unavailable(e.context("object store"))
            }
        }
    }
}
