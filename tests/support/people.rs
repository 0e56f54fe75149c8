//! People and keys for end-to-end tests: made through the service layer when the server runs in
//! this process, with the admin CLI when it is a process of its own; logged in over the API, LA
//! staff with their second factor enrolled as they would enrol it themselves.
#![allow(dead_code)]

use std::io::Write;
use std::process::Stdio;

use pigeonpost::audit::Actor;
use pigeonpost::domain::{OrgKind, OrgRef, Role};
use pigeonpost::identity::totp::{code_at, TotpSecret};
use pigeonpost::service::users::{self, NewUserRequest};
use pigeonpost::service::{api_keys, organisations};
use pigeonpost::store::meta::KeyScope;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::support::app::{expect_json, TestApp, TEAM};

pub const PASSWORD: &str = "Copper-Lantern-Orchard-58";

/// A key of `org` allowed on every channel, in both directions.
pub fn all_channels_key(app: &TestApp, org: &str, name: &str) -> String {
    if let Some(server) = app.in_process() {
        let org: OrgRef = org.parse().expect("organisation reference");
        let scope = KeyScope { channels: vec!["*".into()], can_send: true, can_receive: true, expires_at: None };
        let state = &server.state;
        let (_, token) = server
            .block_on(api_keys::create(state.repo(), state.now(), Actor::operator(), &org, name, scope))
            .unwrap_or_else(|e| panic!("create key {name}: {e}"));
        return token.expose_secret().to_owned();
    }
    app.cli_ok(&["admin", "key", "create", "--org", org, "--name", name, "--channels", "*"]).trim().to_owned()
}

/// A team with a key allowed on every channel.
pub fn team_with_key(app: &TestApp, slug: &str, name: &str) -> String {
    if let Some(server) = app.in_process() {
        let team: OrgRef = slug.parse().expect("team slug");
        let state = &server.state;
        server
            .block_on(organisations::create(state.repo(), state.now(), Actor::operator(), OrgKind::Team, team, name))
            .unwrap_or_else(|e| panic!("create team {slug}: {e}"));
        return all_channels_key(app, slug, &format!("{slug}-job"));
    }
    app.cli_ok(&["admin", "org", "add", "--kind", "team", "--slug", slug, "--name", name]);
    all_channels_key(app, slug, &format!("{slug}-job"))
}

pub fn add_user(app: &TestApp, org: &str, username: &str, role: &str) {
    if let Some(server) = app.in_process() {
        let request = NewUserRequest {
            org: org.parse().expect("organisation reference"),
            username: username.to_owned(),
            display_name: username.to_owned(),
            role: role.parse::<Role>().expect("role"),
            password: Some(SecretString::from(PASSWORD)),
        };
        server
            .block_on(users::create(&server.state, None, request))
            .unwrap_or_else(|e| panic!("adding {username}: {e}"));
        return;
    }
    let mut child = app
        .cli_command(&[
            "admin",
            "user",
            "add",
            "--org",
            org,
            "--username",
            username,
            "--role",
            role,
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pigeonpost admin user add");
    child.stdin.take().expect("stdin").write_all(format!("{PASSWORD}\n").as_bytes()).expect("write password");
    let out = child.wait_with_output().expect("wait for admin user add");
    assert!(out.status.success(), "adding {username}: {}", String::from_utf8_lossy(&out.stderr));
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
    let secret = TotpSecret::from_bytes(secret_from_uri(uri)).expect("usable TOTP secret");
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let confirm = app
        .request(Method::POST, token, "/api/v1/session/totp/confirm")
        .json(&json!({ "code": code_at(&secret, now) }))
        .send()
        .await
        .expect("confirm request");
    assert_eq!(confirm.status(), StatusCode::NO_CONTENT, "{}", confirm.text().await.unwrap_or_default());
}

fn secret_from_uri(uri: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let query = uri.split_once('?').expect("otpauth URI has a query").1;
    let b32 = query.split('&').find_map(|kv| kv.strip_prefix("secret=")).expect("otpauth URI has a secret");
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0);
    for c in b32.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c.to_ascii_uppercase()).expect("base32 character") as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}
