//! Signing out: the session ends on the server, as an API logout ends it, and the browser
//! forgets the cookie.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use crate::service::{sessions, AppState};
use crate::web::error::PageError;
use crate::web::session::{clear_cookie, Owing};

#[derive(Deserialize)]
pub struct SignOut {
    #[serde(default)]
    csrf: String,
}

pub async fn submit(State(state): State<AppState>, Owing(who): Owing, Form(form): Form<SignOut>) -> Response {
    if let Err(refused) = who.check_form_token(&state, Some(form.csrf.as_str())) {
        return refused.into_response();
    }
    if let Err(e) = sessions::logout(&state, &who.principal).await {
        return PageError::from(e).into_response();
    }
    ([clear_cookie()], Redirect::to("/sign-in?signed-out")).into_response()
}
