//! Organisations, people and keys for end-to-end tests: made through the service layer on the app's own
//! installation (see [`TestApp::with_state`]), whichever way its server runs; logged in over the
//! API, LA staff with their second factor enrolled as they would enrol it themselves.
#![allow(dead_code)]

use pigeonpost::domain::{OrgKind, Role};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::app::{expect_json, TestApp, TEAM};
use crate::support::setup;
pub use crate::support::setup::PASSWORD;
use pigeonpost::service::{api_keys, users};

/// A key of `org` on the default scope: the general channel, both directions.
pub fn key(app: &TestApp, org: &str, name: &str) -> String {
    let (org, name) = (org.to_owned(), name.to_owned());
    app.with_state(|state| async move {
        setup::api_key(state.repo(), state.now(), &org, &name, api_keys::default_scope()).await.1
    })
}

/// A key of `org` allowed on every channel, in both directions.
pub fn all_channels_key(app: &TestApp, org: &str, name: &str) -> String {
    let (org, name) = (org.to_owned(), name.to_owned());
    app.with_state(|state| async move {
        setup::api_key(state.repo(), state.now(), &org, &name, setup::all_channels()).await.1
    })
}

/// A team with a key allowed on every channel.
pub fn team_with_key(app: &TestApp, slug: &str, name: &str) -> String {
    organisation(app, OrgKind::Team, slug, name);
    all_channels_key(app, slug, &format!("{slug}-job"))
}

/// An organisation, made by the operator.
pub fn organisation(app: &TestApp, kind: OrgKind, reference: &str, name: &str) {
    let (reference, name) = (reference.to_owned(), name.to_owned());
    app.with_state(|state| async move {
        setup::organisation(state.repo(), state.now(), kind, &reference, &name).await;
    });
}

/// The register of schools from a GIAS export and its links export, as the operator imports it.
pub fn import_register(app: &TestApp, establishments: Vec<u8>, links: Option<Vec<u8>>) {
    app.with_state(|state| async move { setup::import_register(&state, &establishments, links.as_deref(), 825).await });
}

pub fn add_user(app: &TestApp, org: &str, username: &str, role: &str) {
    let (org, username) = (org.to_owned(), username.to_owned());
    let role: Role = role.parse().expect("role");
    app.with_state(|state| async move {
        setup::user(&state, &org, &username, role, PASSWORD).await;
    });
}

/// Gives `username` the function `function` for good, as the operator would.
pub fn grant_function(app: &TestApp, username: &str, function: &str) {
    let (username, function) = (username.to_owned(), function.to_owned());
    app.with_state(|state| async move {
        let user = users::find(&state, &username).await.unwrap_or_else(|e| panic!("find {username}: {e}"));
        users::grant_function(&state, None, user.id, &function, None)
            .await
            .unwrap_or_else(|e| panic!("grant {function} to {username}: {e}"));
    });
}

/// Defines a function the channels may route by, as the operator would.
pub fn define_function(app: &TestApp, slug: &str, name: &str) {
    let (slug, name) = (slug.to_owned(), name.to_owned());
    app.with_state(|state| async move {
        users::define_function(&state, None, &slug, &name).await.unwrap_or_else(|e| panic!("define {slug}: {e}"));
    });
}

/// Logs in with the password alone; answers the whole session JSON.
pub async fn login(app: &TestApp, username: &str) -> Value {
    let resp = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({ "username": username, "password": PASSWORD }))
        .send()
        .await
        .expect("login request");
    expect_json(resp, StatusCode::CREATED).await
}

/// A new person of `org` with `role`, logged in; answers their access token.
pub async fn person(app: &TestApp, org: &str, username: &str, role: &str) -> String {
    add_user(app, org, username, role);
    let session = login(app, username).await;
    let token = session["access_token"].as_str().expect("access token").to_owned();
    if session["pending"].as_array().is_some_and(|p| p.iter().any(|s| s == "enrol_totp")) {
        enrol_second_factor(app, &token).await;
    }
    token
}

/// A new LA administrator of the smst team, second factor enrolled.
pub async fn la_admin(app: &TestApp, username: &str) -> String {
    person(app, TEAM, username, "la_admin").await
}

/// Enrols a second factor for the session's person; the same token then works everywhere.
async fn enrol_second_factor(app: &TestApp, token: &str) {
    let started = app.request(Method::POST, token, "/api/v1/session/totp").send().await.expect("enrol request");
    let started = expect_json(started, StatusCode::CREATED).await;
    let uri = started["otpauth_uri"].as_str().expect("otpauth URI");
    let confirm = app
        .request(Method::POST, token, "/api/v1/session/totp/confirm")
        .json(&json!({ "code": setup::totp_code_at(&setup::secret_from_uri(uri), time::OffsetDateTime::now_utc()) }))
        .send()
        .await
        .expect("confirm request");
    assert_eq!(confirm.status(), StatusCode::NO_CONTENT, "{}", confirm.text().await.unwrap_or_default());
}
