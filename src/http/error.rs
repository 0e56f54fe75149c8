//! One error type for every response that is not a success: JSON `{"error", "message"}` with
//! the status that fits. Internal causes go to the log, never to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tracing::error;

use crate::service::ServiceError;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

/// The error code of a refused request, for the audit trail to read without parsing the body.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), headers: Vec::new() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The sentence for the person or job that asked.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn with_header(mut self, name: header::HeaderName, value: String) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value) {
            self.headers.push((name, v));
        }
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(Body { error: self.code, message: &self.message })).into_response();
        response.extensions_mut().insert(ErrorCode(self.code));
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// What a route is about, so its 404 names that thing: the service's `NotFound` speaks of
/// transfers, its most common subject. Hidden and absent things get the same answer, so the
/// message reveals nothing about what exists.
pub struct Missing {
    thing: &'static str,
    look: &'static str,
}

const USER: Missing = Missing { thing: "user", look: "GET /api/v1/users lists the people you may see" };
const ORGANISATION: Missing = Missing {
    thing: "organisation",
    look: "name a school by its DfE number without the slash (8252001) or a team by its slug (smst)",
};
const KEY: Missing = Missing { thing: "API key", look: "GET /api/v1/keys lists the keys you may manage" };

impl Missing {
    /// `e` as the route answers it, naming this thing if it was not found.
    fn or(&self, e: ServiceError) -> ApiError {
        match e {
            ServiceError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no such {}, or not one you may see: {}", self.thing, self.look),
            ),
            e => e.into(),
        }
    }
}

/// For routes about a user: a `NotFound` names the user.
pub fn no_such_user(e: ServiceError) -> ApiError {
    USER.or(e)
}

/// For routes about an organisation: a `NotFound` names the organisation.
pub fn no_such_organisation(e: ServiceError) -> ApiError {
    ORGANISATION.or(e)
}

/// For routes about an API key: a `NotFound` names the key.
pub fn no_such_key(e: ServiceError) -> ApiError {
    KEY.or(e)
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        let message = e.to_string();
        match e {
            E::BadRequest { code, .. } => Self::new(StatusCode::BAD_REQUEST, code, message),
            E::Unprocessable { code, .. } => Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message),
            E::Conflict { code, .. } => Self::new(StatusCode::CONFLICT, code, message),
            E::Unauthenticated => Self::new(StatusCode::UNAUTHORIZED, "credentials_required", message)
                .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"pigeonpost\"".into()),
            E::CredentialsRefused(why) => Self::new(StatusCode::UNAUTHORIZED, why.code(), message)
                .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"pigeonpost\"".into()),
            E::NotFound | E::Unknown(_) => Self::new(StatusCode::NOT_FOUND, "not_found", message),
            E::Gone(_) => Self::new(StatusCode::GONE, "gone", message),
            E::Forbidden => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            E::Refused { code, .. } => Self::new(StatusCode::FORBIDDEN, code, message),
            E::UnsupportedType(_) => Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "type_not_allowed", message),
            E::StepRequired(step) => Self::new(
                StatusCode::FORBIDDEN,
                match step {
                    crate::policy::PendingStep::ChangePassword => "password_change_required",
                    crate::policy::PendingStep::AcceptTerms => "terms_not_accepted",
                    crate::policy::PendingStep::EnrolTotp => "totp_enrolment_required",
                },
                message,
            ),
            E::Throttled(secs) => Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message)
                .with_header(header::RETRY_AFTER, secs.to_string()),
            E::Busy => Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_busy", message)
                .with_header(header::RETRY_AFTER, "1".into()),
            E::TooLarge { limit } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the file is larger than the {limit}-byte limit: nothing was kept; split it or ask the LA to raise the limit"),
            ),
            E::RangeNotSatisfiable { size } => Self::new(StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable", message)
                .with_header(header::CONTENT_RANGE, format!("bytes */{size}")),
            E::BodyAborted(_) => Self::new(StatusCode::BAD_REQUEST, "upload_incomplete", format!("{message}; nothing was kept, send the file again")),
            E::Unavailable(cause) => {
                error!(error = format!("{cause:#}"), "backend unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the service is briefly unavailable: nothing was changed; try again in a minute")
                    .with_header(header::RETRY_AFTER, "30".into())
            }
            E::Internal(cause) => {
                error!(error = format!("{cause:#}"), "internal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong on the server: it has been logged; try again, and tell the LA if it persists")
            }
        }
    }
}
