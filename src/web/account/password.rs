//! Changing a password: forced, for a person signing in with a one-time password they were
//! given, or by choice. Changing it ends every session of the person (as through the API); the
//! browser that changed it is given a new one, so the person carries on.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{after_step, error_for, out_of_turn};
use crate::policy::PendingStep;
use crate::service::{web_sign_in, AppState, ServiceError};
use crate::web::chrome::{Chrome, Section};
use crate::web::error::{FieldError, PageError};
use crate::web::session::{self, Owing, SignedIn};

#[derive(Template, WebTemplate)]
#[template(path = "account/password.html")]
struct PasswordPage {
    chrome: Chrome,
    forced: bool,
    errors: Vec<FieldError>,
}

impl PasswordPage {
    fn error(&self, field: &str) -> Option<&str> {
        error_for(&self.errors, field)
    }
}

fn forced(who: &SignedIn) -> bool {
    who.pending().contains(&PendingStep::ChangePassword)
}

pub async fn form(State(state): State<AppState>, Owing(who): Owing) -> Response {
    if let Some(first) = out_of_turn(&who, PendingStep::ChangePassword) {
        return first;
    }
    let chrome = Chrome::signed_in(&state, &who, Section::Account);
    PasswordPage { chrome, forced: forced(&who), errors: Vec::new() }.into_response()
}

fn empty() -> SecretString {
    SecretString::from(String::new())
}

#[derive(Deserialize)]
pub struct Change {
    #[serde(default)]
    csrf: String,
    #[serde(default = "empty")]
    current_password: SecretString,
    #[serde(default = "empty")]
    new_password: SecretString,
    #[serde(default = "empty")]
    confirm_password: SecretString,
}

pub async fn submit(State(state): State<AppState>, Owing(who): Owing, Form(form): Form<Change>) -> Response {
    if let Err(refused) = who.check_form_token(&state, Some(form.csrf.as_str())) {
        return refused.into_response();
    }
    if let Some(first) = out_of_turn(&who, PendingStep::ChangePassword) {
        return first;
    }
    let again = |errors: Vec<FieldError>| {
        let page =
            PasswordPage { chrome: Chrome::signed_in(&state, &who, Section::Account), forced: forced(&who), errors };
        (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
    };
    let mut errors = Vec::new();
    if form.current_password.expose_secret().is_empty() {
        errors.push(FieldError::new("current_password", "Enter your current password"));
    }
    if form.new_password.expose_secret().is_empty() {
        errors.push(FieldError::new("new_password", "Enter a new password"));
    } else if form.new_password.expose_secret() != form.confirm_password.expose_secret() {
        errors.push(FieldError::new("confirm_password", "The two new passwords are not the same"));
    }
    if !errors.is_empty() {
        return again(errors);
    }
    match web_sign_in::change_password(&state, &who.principal, &form.current_password, &form.new_password).await {
        Ok(session) => {
            let cookie = session::set_cookie(session.refresh_token.expose_secret());
            ([cookie], after_step(&session.pending, None, "/")).into_response()
        }
        Err(e @ (ServiceError::BadRequest { .. } | ServiceError::Unprocessable { .. } | ServiceError::Busy)) => {
            let field = match &e {
                ServiceError::Unprocessable { code: "wrong_password", .. } => "current_password",
                _ => "new_password",
            };
            again(vec![FieldError::new(field, sentence(&e))])
        }
        Err(e) => PageError::from(e).into_response(),
    }
}

/// The service's message (the API's words) as a sentence on the page.
fn sentence(e: &ServiceError) -> String {
    let message = e.to_string();
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => message,
    }
}
