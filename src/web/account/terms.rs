//! The terms of use: read them, and accept the version in force when it is due.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use super::{after_step, out_of_turn};
use crate::policy::PendingStep;
use crate::service::{account, AppState};
use crate::web::chrome::{Chrome, Section};
use crate::web::error::PageError;
use crate::web::session::Owing;

#[derive(Template, WebTemplate)]
#[template(path = "account/terms.html")]
struct TermsPage {
    chrome: Chrome,
    version: u32,
    paragraphs: Vec<String>,
    due: bool,
}

pub async fn page(State(state): State<AppState>, Owing(who): Owing) -> Response {
    if let Some(first) = out_of_turn(&who, PendingStep::AcceptTerms) {
        return first;
    }
    let (version, text) = account::current_terms(&state);
    let paragraphs = text
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    TermsPage {
        chrome: Chrome::signed_in(&state, &who, Section::Account),
        version,
        paragraphs,
        due: who.pending().contains(&PendingStep::AcceptTerms),
    }
    .into_response()
}

#[derive(Deserialize)]
pub struct Accept {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: u32,
}

pub async fn accept(State(state): State<AppState>, Owing(who): Owing, Form(form): Form<Accept>) -> Response {
    if let Err(refused) = who.check_form_token(&state, Some(form.csrf.as_str())) {
        return refused.into_response();
    }
    if let Some(first) = out_of_turn(&who, PendingStep::AcceptTerms) {
        return first;
    }
    match account::accept_terms(&state, &who.principal, form.version).await {
        Ok(()) => after_step(who.pending(), Some(PendingStep::AcceptTerms), "/"),
        Err(e) => PageError::from(e).into_response(),
    }
}
