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
pub mod channel_admin;
pub mod channel_overrides;
pub mod channels;
pub mod collection;
pub mod download;
pub mod holds;
pub mod keys;
pub mod mailbox;
pub mod messages;
pub mod organisations;
pub mod quarantine;
pub mod register;
pub mod reports;
pub mod sessions;
pub mod startup;
pub mod unclaimed;
pub mod upload;
pub mod users;

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
    /// The credentials are missing, malformed, unknown or revoked; which one is not said.
    #[error(
        "the credentials were not accepted: log in again, or check the API key sent as 'Authorization: Bearer <key>'"
    )]
    Unauthenticated,
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
    match step {
        crate::policy::PendingStep::AcceptTerms => "accept the current terms of use first (POST /api/v1/session/terms)",
        crate::policy::PendingStep::EnrolTotp => "set up your second factor first (POST /api/v1/session/totp)",
    }
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
