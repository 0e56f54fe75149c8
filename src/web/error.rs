//! What a person sees when a page cannot be shown: a heading that says what happened and a
//! sentence that says what to do, with the status the API would give.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::headers::with_page_headers;
use crate::http::ApiError;
use crate::service::ServiceError;

#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub heading: String,
    pub message: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    heading: &'a str,
    message: &'a str,
}

impl PageError {
    pub fn new(status: StatusCode, heading: impl Into<String>, message: impl Into<String>) -> Self {
        Self { status, heading: heading.into(), message: message.into() }
    }

    /// A form posted without its page's token (an old page, another session's, or another
    /// site's): nothing it asked for was done.
    pub fn form_expired() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "Nothing was sent or changed. Go back to the page, reload it and try again.",
        )
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Page not found",
            "If you typed the web address, check it is correct. If you followed a link, the page or file may have been removed.",
        )
    }
}

/// One problem with a form, as the GOV.UK error summary (`templates/partials/error_summary.html`)
/// lists it: the id of the element it links to and what to do.
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// The summary's list for a page whose form has at most one problem.
    pub fn only(field: &str, message: &Option<String>) -> Vec<Self> {
        message.iter().map(|m| Self::new(field, m.as_str())).collect()
    }
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        let api = ApiError::from(e);
        let status = api.status();
        let heading = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "You cannot do this",
            StatusCode::UNAUTHORIZED => "You need to sign in",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            StatusCode::SERVICE_UNAVAILABLE => "Sorry, the service is busy",
            s if s.is_server_error() => "Sorry, there is a problem with the service",
            _ => "This cannot be done",
        };
        let mut message = api.message().to_owned();
        if let Some(first) = message.get(..1) {
            message = first.to_uppercase() + &message[1..];
        }
        if !message.ends_with('.') {
            message.push('.');
        }
        Self::new(status, heading, message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage { heading: &self.heading, message: &self.message };
        with_page_headers((self.status, page).into_response())
    }
}
