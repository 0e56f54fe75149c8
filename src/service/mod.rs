//! Use cases: what a principal can do with the exchange, independent of HTTP. Each takes the
//! application state and an already-authenticated [`crate::policy::Principal`], asks the
//! policy, and does the work.

pub mod api_keys;
pub mod download;
pub mod keys;
pub mod mailbox;
pub mod organisations;
pub mod upload;

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
    #[error("a valid API key is needed: send it as 'Authorization: Bearer <key>'")]
    Unauthenticated,
    #[error("no such transfer, or it is not yours to see")]
    NotFound,
    #[error("{0}")]
    Gone(String),
    #[error("this needs a permission you do not have")]
    Forbidden,
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

impl ServiceError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(e) => ServiceError::Unavailable(e.context("database")),
            StoreError::Conflict(m) => ServiceError::Conflict {
                code: "conflict",
                message: m,
            },
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
            BlobError::Unavailable(e) => ServiceError::Unavailable(e.context("object store")),
        }
    }
}
