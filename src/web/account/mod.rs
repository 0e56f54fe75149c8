//! Getting in and out: signing in with a password and a second factor, the steps a person may
//! owe first (a new password, the terms of use, enrolling a second factor), and signing out.

mod password;
mod pending;
mod second_factor;
mod sign_in;
mod sign_out;
mod terms;

use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::error::FieldError;
use super::session::{step_page, SignedIn};
use super::Page;
use crate::policy::PendingStep;

pub fn pages() -> Vec<Page> {
    vec![
        Page::public(Method::GET, "/sign-in", get(sign_in::form)),
        Page::public(Method::POST, "/sign-in", post(sign_in::submit)),
        Page::public(Method::GET, "/sign-in/code", get(sign_in::code_form)),
        Page::public(Method::POST, "/sign-in/code", post(sign_in::code_submit)),
        Page::new(Method::POST, "/sign-out", post(sign_out::submit)),
        Page::new(Method::GET, "/account/password", get(password::form)),
        Page::new(Method::POST, "/account/password", post(password::submit)),
        Page::new(Method::GET, "/account/terms", get(terms::page)),
        Page::new(Method::POST, "/account/terms", post(terms::accept)),
        Page::new(Method::GET, "/account/second-factor", get(second_factor::start_page)),
        Page::new(Method::POST, "/account/second-factor", post(second_factor::submit)),
    ]
}

/// Where a sign-in may send the browser afterwards: a path on this site only. `//host` and
/// `/\host` are other sites to a browser, and a browser drops tabs and newlines from a URL, so
/// anything but plain printable characters is refused too.
pub fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p)
            if p.starts_with('/') && !p.starts_with("//") && p.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            p
        }
        _ => "/",
    }
}

/// The next step a person owes after `done`, or `then` when there is none.
fn after_step(pending: &[PendingStep], done: Option<PendingStep>, then: &str) -> Response {
    match pending.iter().find(|s| Some(**s) != done) {
        Some(step) => Redirect::to(step_page(*step)).into_response(),
        None => Redirect::to(then).into_response(),
    }
}

/// The page of the step a person owes first, when it is not `this` one: steps are taken in
/// order, so a one-time password is replaced before anything else.
fn out_of_turn(who: &SignedIn, this: PendingStep) -> Option<Response> {
    who.pending().first().filter(|first| **first != this).map(|first| Redirect::to(step_page(*first)).into_response())
}

/// The error (if any) of one field, for the template.
fn error_for<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_a_path_on_this_site_is_a_place_to_go_back_to() {
        assert_eq!(local_path(Some("/inbox?page=2")), "/inbox?page=2");
        for other in ["//evil.example", "/\\evil.example", "https://evil.example", "evil", "/\t/evil.example", ""] {
            assert_eq!(local_path(Some(other)), "/", "{other:?}");
        }
        assert_eq!(local_path(None), "/");
    }
}
