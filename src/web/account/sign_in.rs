//! The two sign-in pages: the username and password, then (for a person with a second factor)
//! the code from their authenticator app or one of their recovery codes.
//!
//! The first form carries no token: before it there is nothing to bind one to, and a forged
//! post could only sign the browser into the forger's own account. It is protected by the
//! origin check every form action has (`csrf::refuse_cross_origin`) and by SameSite cookies.
//! The code form carries a token bound to the proof that the password was right.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{after_step, error_for, local_path, pending};
use crate::http::request_context::ClientAddr;
use crate::service::sessions::IssuedSession;
use crate::service::web_sign_in::{self, PasswordStep};
use crate::service::{AppState, CredentialRefusal as Why, ServiceError};
use crate::web::chrome::Chrome;
use crate::web::error::{FieldError, PageError};
use crate::web::session;

#[derive(Deserialize, Default)]
pub struct Arrival {
    next: Option<String>,
    #[serde(rename = "signed-out")]
    signed_out: Option<String>,
    #[serde(rename = "start-again")]
    start_again: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "account/sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    username: String,
    next: String,
    banner: Option<&'static str>,
    errors: Vec<FieldError>,
}

impl SignInPage {
    fn error(&self, field: &str) -> Option<&str> {
        error_for(&self.errors, field)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "account/code.html")]
struct CodePage {
    chrome: Chrome,
    csrf: String,
    next: String,
    recovery: bool,
    errors: Vec<FieldError>,
}

impl CodePage {
    fn error(&self, field: &str) -> Option<&str> {
        error_for(&self.errors, field)
    }
}

pub async fn form(State(state): State<AppState>, Query(arrival): Query<Arrival>) -> Response {
    let banner = if arrival.signed_out.is_some() {
        Some("You have signed out.")
    } else if arrival.start_again.is_some() {
        Some("Signing in took too long, so you need to start again.")
    } else {
        None
    };
    let page = SignInPage {
        chrome: Chrome::anonymous(&state),
        username: String::new(),
        next: local_path(arrival.next.as_deref()).to_owned(),
        banner,
        errors: Vec::new(),
    };
    ([pending::clear()], page).into_response()
}

#[derive(Deserialize)]
pub struct Credentials {
    #[serde(default)]
    username: String,
    #[serde(default = "no_password")]
    password: SecretString,
    #[serde(default)]
    next: String,
}

fn no_password() -> SecretString {
    SecretString::from(String::new())
}

pub async fn submit(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    Form(form): Form<Credentials>,
) -> Response {
    let next = local_path(Some(&form.next)).to_owned();
    let again = |status: StatusCode, errors: Vec<FieldError>| {
        let page = SignInPage {
            chrome: Chrome::anonymous(&state),
            username: form.username.trim().chars().take(64).collect(),
            next: next.clone(),
            banner: None,
            errors,
        };
        (status, page).into_response()
    };
    let mut errors = Vec::new();
    if form.username.trim().is_empty() {
        errors.push(FieldError::new("username", "Enter your username"));
    }
    if form.password.expose_secret().is_empty() {
        errors.push(FieldError::new("password", "Enter your password"));
    }
    if !errors.is_empty() {
        return again(StatusCode::UNPROCESSABLE_ENTITY, errors);
    }
    let client_addr = client.map(|Extension(addr)| addr.ip());
    match web_sign_in::password_step(&state, &form.username, &form.password, client_addr).await {
        Ok(PasswordStep::SignedIn(session)) => signed_in(*session, &next),
        Ok(PasswordStep::CodeNeeded(user)) => match pending::issue(&state, user) {
            Some(cookie) => {
                let to = format!(
                    "/sign-in/code?next={}",
                    percent_encoding::utf8_percent_encode(&next, percent_encoding::NON_ALPHANUMERIC)
                );
                ([cookie], Redirect::to(&to)).into_response()
            }
            None => PageError::from(ServiceError::Internal(anyhow::anyhow!("no key to sign the sign-in with")))
                .into_response(),
        },
        Err(e) => match refusal(e, "username") {
            Ok((status, error)) => again(status, vec![error]),
            Err(page) => page.into_response(),
        },
    }
}

#[derive(Deserialize, Default)]
pub struct CodeArrival {
    next: Option<String>,
    #[serde(rename = "recovery")]
    recovery: Option<String>,
}

pub async fn code_form(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<CodeArrival>) -> Response {
    let Some(proof) = pending::read(&state, &headers) else {
        return Redirect::to("/sign-in?start-again").into_response();
    };
    CodePage {
        chrome: Chrome::anonymous(&state),
        csrf: proof.form_token(&state),
        next: local_path(q.next.as_deref()).to_owned(),
        recovery: q.recovery.is_some(),
        errors: Vec::new(),
    }
    .into_response()
}

#[derive(Deserialize)]
pub struct Code {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
    #[serde(default)]
    next: String,
}

pub async fn code_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Option<Extension<ClientAddr>>,
    Form(form): Form<Code>,
) -> Response {
    let Some(proof) = pending::read(&state, &headers) else {
        return Redirect::to("/sign-in?start-again").into_response();
    };
    if !proof.form_token_ok(&state, &form.csrf) {
        return PageError::form_expired().into_response();
    }
    let next = local_path(Some(&form.next)).to_owned();
    let recovery = form.code.trim().is_empty() && !form.recovery_code.trim().is_empty();
    let field = if recovery { "recovery_code" } else { "code" };
    let again = |status: StatusCode, errors: Vec<FieldError>| {
        let page = CodePage {
            chrome: Chrome::anonymous(&state),
            csrf: proof.form_token(&state),
            next: next.clone(),
            recovery,
            errors,
        };
        (status, page).into_response()
    };
    if form.code.trim().is_empty() && form.recovery_code.trim().is_empty() {
        let message = "Enter the 6-digit code from your authenticator app";
        return again(StatusCode::UNPROCESSABLE_ENTITY, vec![FieldError::new("code", message)]);
    }
    let client_addr = client.map(|Extension(addr)| addr.ip());
    let (totp, recovery_code) =
        if recovery { (None, Some(form.recovery_code.as_str())) } else { (Some(form.code.as_str()), None) };
    match web_sign_in::code_step(&state, proof.user, totp, recovery_code, client_addr).await {
        Ok(session) => signed_in(session, &next),
        Err(e) => match refusal(e, field) {
            Ok((status, error)) => again(status, vec![error]),
            Err(page) => page.into_response(),
        },
    }
}

/// The browser holds the new session; it goes to the first step the person owes, or where it
/// was going.
fn signed_in(session: IssuedSession, next: &str) -> Response {
    let cookie = session::set_cookie(session.refresh_token.expose_secret());
    (AppendHeaders([cookie, pending::clear()]), after_step(&session.pending, None, next)).into_response()
}

/// A refused sign-in in plain words, on the form; anything else is an error page.
fn refusal(e: ServiceError, field: &'static str) -> Result<(StatusCode, FieldError), PageError> {
    let says = |status, message: &str| Ok((status, FieldError::new(field, message)));
    match e {
        ServiceError::CredentialsRefused(why) => {
            let message = match why {
                Why::WrongUsernameOrPassword => "Enter a correct username and password",
                Why::WrongSecondFactor if field == "recovery_code" => {
                    "That recovery code is not right, or it has been used already"
                }
                Why::WrongSecondFactor | Why::SecondFactorRequired => {
                    "That code is not right, or it has been used already. Enter the code your app shows now"
                }
                Why::PendingApproval => {
                    "Your account is waiting for approval. You can sign in once an administrator has approved it"
                }
                Why::AccountDisabled => "Your account has been disabled. Ask your administrator to enable it",
                Why::AccountLeft => "Your account has ended. Ask your administrator if you still need one",
                Why::AccountInactive => {
                    "Your account was locked because it had not been used for a long time. Ask your administrator to unlock it"
                }
                Why::OrganisationClosed => "Your organisation has closed, so its accounts can no longer sign in",
                _ => "Signing in did not work. Start again",
            };
            says(StatusCode::UNAUTHORIZED, message)
        }
        ServiceError::Throttled(secs) => {
            let minutes = secs.div_ceil(60).max(1);
            let message = format!(
                "There have been too many attempts to sign in. Wait {minutes} minute{} and try again",
                if minutes == 1 { "" } else { "s" }
            );
            Ok((StatusCode::TOO_MANY_REQUESTS, FieldError::new(field, message)))
        }
        ServiceError::Busy => says(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many people are signing in at the moment. Wait a minute and try again",
        ),
        other => Err(PageError::from(other)),
    }
}
