//! The router harness: the installation [`super::setup`] makes (on the embedded SQLite by
//! default, or the backends the builder names) under a [`ManualClock`], answered through
//! `pigeonpost::web::router` with `tower::ServiceExt::oneshot`, so no socket, port or TLS is
//! involved and time moves only when a test moves it. Made by `TestApp::builder().router()`.
//!
//! Its keyring file is written before the state is built: one key, `k1` = `[7; 32]`, which the
//! start-up reads as it would read a deployment's, so a test can sign tokens with the same key.
#![allow(dead_code)]

pub mod register;
pub mod web;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use secrecy::SecretString;
use serde_json::{json, Value};
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};
use tower::ServiceExt;

use pigeonpost::audit::{Actor, AuditEvent};
use pigeonpost::config::Settings;
use pigeonpost::crypto::KeySource;
use pigeonpost::domain::clock::ManualClock;
use pigeonpost::domain::{OrgKind, Organisation, Role, UserId, UserStatus, Username};
use pigeonpost::identity::password::hash_password;
use pigeonpost::service::api_keys;
use pigeonpost::service::AppState;
use pigeonpost::store::meta::{KeyScope, NewUser};

use super::postgres::TestDatabase;
use super::setup;
pub use super::setup::{secret_from_uri, totp_code_at, PASSWORD, SCHOOL_A, SCHOOL_B, TEAM};

pub const FINANCE: &str = "finance";
pub const SYSTEM: &str = "system";

/// Where every harness clock starts: 2026-03-02T09:00:05Z, five seconds into a TOTP step.
pub const T0_UNIX: i64 = 1_772_442_005;

pub fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0_UNIX).expect("valid start time")
}

/// An answer: status, headers, the raw body and the body as JSON (Null when it is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub json: Value,
}

impl Reply {
    /// The `error` code of an error body.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A person created for a test, with what is needed to log them in.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: UserId,
    pub username: String,
    pub password: String,
    pub role: Role,
    pub org: String,
    /// The raw TOTP secret once a second factor is enrolled.
    pub totp_secret: Option<Vec<u8>>,
    pub recovery_codes: Vec<String>,
}

impl TestUser {
    pub fn id_str(&self) -> String {
        self.id.0.to_string()
    }
}

/// What a successful login or refresh hands back.
#[derive(Debug, Clone)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub pending: Vec<String>,
    pub json: Value,
}

/// An API key as issued: its id and the token to present.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub token: String,
}

pub struct Harness {
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    router: axum::Router,
    /// TOTP step last spent per user, so `login` can move the clock to a fresh step.
    spent_steps: Mutex<HashMap<i64, u64>>,
    counter: Mutex<u64>,
    pub dir: TempDir,
    /// Dropped after the state, so nothing is connected to it by then.
    _database: Option<TestDatabase>,
}

impl Harness {
    /// The state on `settings` (made for `dir` by [`setup::settings`]) under a clock at [`t0`].
    pub(crate) async fn build(settings: Settings, dir: TempDir, database: Option<TestDatabase>) -> Self {
        write_keyring_file(dir.path());
        let source = KeySource { data_dir: dir.path().to_path_buf(), master_key: None, retired_keys: None };
        let clock = Arc::new(ManualClock::new(t0()));
        let state = setup::build_state(settings, source, clock.clone())
            .await
            .unwrap_or_else(|e| panic!("build the router harness: {e:#}"));
        let router = pigeonpost::web::router(state.clone());
        Self {
            state,
            clock,
            router,
            spent_steps: Mutex::new(HashMap::new()),
            counter: Mutex::new(0),
            dir,
            _database: database,
        }
    }

    // ----- time -----

    pub fn now(&self) -> OffsetDateTime {
        self.state.now()
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    pub fn advance_secs(&self, secs: i64) {
        self.clock.advance(Duration::seconds(secs));
    }

    /// A number unique within this harness, for names that must not repeat.
    pub fn unique(&self) -> u64 {
        let mut n = self.counter.lock().expect("counter");
        *n += 1;
        *n
    }

    // ----- organisations -----

    pub async fn org(&self, kind: OrgKind, reference: &str, name: &str) -> Organisation {
        setup::organisation(self.state.repo(), self.now(), kind, reference, name).await
    }

    /// Schools 825/2001 and 825/2002, teams smst and finance, and the system organisation.
    pub async fn standard_orgs(&self) {
        self.org(OrgKind::School, SCHOOL_A, "Example Primary").await;
        self.org(OrgKind::School, SCHOOL_B, "Other Primary").await;
        self.org(OrgKind::Team, TEAM, "School Management Support Team").await;
        self.org(OrgKind::Team, FINANCE, "Schools Finance").await;
        self.org(OrgKind::System, SYSTEM, "Pigeonpost administration").await;
    }

    pub async fn find_org(&self, reference: &str) -> Organisation {
        self.state
            .repo()
            .find_organisation(&reference.parse().expect("org ref"))
            .await
            .expect("find organisation")
            .expect("organisation exists")
    }

    // ----- people -----

    /// An active user created by the operator (no principal), with [`PASSWORD`]; LA roles and
    /// system administrators get a confirmed second factor, so they log in without pending steps.
    pub async fn user(&self, org: &str, username: &str, role: Role) -> TestUser {
        let mut user = self.user_without_totp(org, username, role).await;
        if role.requires_totp() {
            self.enrol_totp(&mut user).await;
        }
        user
    }

    /// As [`Harness::user`] but never enrols a second factor.
    pub async fn user_without_totp(&self, org: &str, username: &str, role: Role) -> TestUser {
        let (id, username) = setup::user(&self.state, org, username, role, PASSWORD).await;
        TestUser {
            id,
            username,
            password: PASSWORD.into(),
            role,
            org: org.into(),
            totp_secret: None,
            recovery_codes: Vec::new(),
        }
    }

    /// A user written straight to the store with a password hash computed once per test binary:
    /// for people who are only the object of a request and never log in, so a test can make
    /// hundreds without paying for Argon2 each time.
    pub async fn victim(&self, org: &str, role: Role, status: UserStatus) -> UserId {
        static HASH: OnceLock<String> = OnceLock::new();
        let hash = HASH.get_or_init(|| hash_password(&SecretString::from(PASSWORD)).expect("hash"));
        let org = self.find_org(org).await;
        let username: Username = format!("victim-{}", self.unique()).parse().expect("username");
        let new = NewUser {
            org: org.id,
            display_name: format!("Victim {username}"),
            username,
            role,
            status,
            password_hash: Some(hash.clone()),
            requested_by: None,
            password_change_required: false,
        };
        let audit = AuditEvent::new(self.now(), Actor::operator(), "user.create");
        self.state.repo().create_user(&new, self.now(), &audit).await.expect("create victim").id
    }

    /// Enrols (or re-enrols) a confirmed second factor as an administrator would.
    pub async fn enrol_totp(&self, user: &mut TestUser) {
        let (secret, codes) = setup::enrol_totp(&self.state, user.id).await;
        user.totp_secret = Some(secret);
        user.recovery_codes = codes;
        self.spent_steps.lock().expect("steps").remove(&user.id.0);
    }

    /// The TOTP code of `user` at the clock's time.
    pub fn totp_code(&self, user: &TestUser) -> String {
        let secret = user.totp_secret.as_ref().expect("user has a second factor");
        totp_code_at(secret, self.now())
    }

    fn step_now(&self) -> u64 {
        self.now().unix_timestamp() as u64 / 30
    }

    /// Marks the current step as spent for `user` (after a code was accepted outside `login`).
    pub fn spend_step(&self, user: &TestUser) {
        self.spent_steps.lock().expect("steps").insert(user.id.0, self.step_now());
    }

    /// Moves the clock to the next TOTP step if this user's code for the current one is spent.
    pub fn fresh_totp_step(&self, user: &TestUser) {
        let spent = self.spent_steps.lock().expect("steps").get(&user.id.0).copied();
        if spent.is_some_and(|s| s >= self.step_now()) {
            self.advance_secs(30);
        }
    }

    /// The JSON body that logs `user` in, with a fresh TOTP code when they have a second factor.
    pub fn login_body(&self, user: &TestUser) -> Value {
        match &user.totp_secret {
            Some(_) => {
                self.fresh_totp_step(user);
                json!({ "username": user.username, "password": user.password, "totp": self.totp_code(user) })
            }
            None => json!({ "username": user.username, "password": user.password }),
        }
    }

    /// Logs in through `POST /api/v1/session`; panics unless it answers 201.
    pub async fn login(&self, user: &TestUser) -> Session {
        let body = self.login_body(user);
        let reply = self.request(Method::POST, "/api/v1/session", None, Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "login of {} failed: {}", user.username, reply.json);
        if user.totp_secret.is_some() {
            self.spend_step(user);
        }
        session_from(&reply.json)
    }

    /// Trades a refresh token through `POST /api/v1/session/refresh`.
    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.request(Method::POST, "/api/v1/session/refresh", None, Some(json!({ "refresh_token": refresh_token })))
            .await
    }

    // ----- API keys -----

    /// The scope a key gets by default: the general channel, both directions, no expiry.
    pub fn default_scope() -> KeyScope {
        api_keys::default_scope()
    }

    pub fn scope(channels: &[&str], send: bool, receive: bool) -> KeyScope {
        KeyScope {
            channels: channels.iter().map(|c| c.to_string()).collect(),
            can_send: send,
            can_receive: receive,
            expires_at: None,
        }
    }

    /// A key for `org` created by the operator; `scope` None takes the default scope.
    pub async fn api_key(&self, org: &str, scope: Option<KeyScope>) -> ApiKey {
        let name = format!("test key {}", self.unique());
        let (id, token) =
            setup::api_key(self.state.repo(), self.now(), org, &name, scope.unwrap_or_else(api_keys::default_scope))
                .await;
        ApiKey { id, token }
    }

    // ----- requests -----

    /// Sends one request through the router.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Reply { status: parts.status, headers: parts.headers, body, json }
    }

    /// `method path` with an optional bearer token and an optional JSON body.
    pub async fn request(&self, method: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> Reply {
        self.send(build_request(method, path, bearer, body)).await
    }

    pub async fn get(&self, path: &str, bearer: &str) -> Reply {
        self.request(Method::GET, path, Some(bearer), None).await
    }

    pub async fn post(&self, path: &str, bearer: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(bearer), Some(body)).await
    }

    /// `POST /api/v1/transfers` of `content` to `to` on the general channel.
    pub async fn upload(&self, bearer: &str, to: &str, filename: &str, content: &[u8]) -> Reply {
        let path = format!("/api/v1/transfers?channel=general&to={to}&filename={filename}");
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, content.len())
            .body(Body::from(content.to_vec()))
            .expect("valid request");
        self.send(request).await
    }

    /// Uploads and returns the new transfer's id; panics unless it answers 201.
    pub async fn upload_ok(&self, bearer: &str, to: &str, filename: &str) -> String {
        let reply = self.upload(bearer, to, filename, b"pupil data, but not really").await;
        assert_eq!(reply.status, StatusCode::CREATED, "upload to {to} failed: {}", reply.json);
        reply.json["id"].as_str().expect("transfer id").to_owned()
    }
}

/// `keyring.json` holding the harness's one key, readable by the owner only.
fn write_keyring_file(dir: &std::path::Path) {
    use base64::Engine as _;
    use std::os::unix::fs::OpenOptionsExt;
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let contents = json!({
        "version": 1,
        "primary": "k1",
        "keys": [{ "id": "k1", "created_at": "2026-01-01T00:00:00Z", "key": key }]
    });
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join("keyring.json"))
        .expect("create keyring.json");
    std::io::Write::write_all(&mut file, contents.to_string().as_bytes()).expect("write keyring.json");
}

/// A request with an optional bearer token and an optional JSON body.
pub fn build_request(method: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = bearer {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    match body {
        Some(v) => builder
            .header(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Body::from(serde_json::to_vec(&v).expect("JSON")))
            .expect("valid request"),
        None => builder.body(Body::empty()).expect("valid request"),
    }
}

pub fn session_from(json: &Value) -> Session {
    Session {
        access: json["access_token"].as_str().expect("access_token").to_owned(),
        refresh: json["refresh_token"].as_str().expect("refresh_token").to_owned(),
        pending: json["pending"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        json: json.clone(),
    }
}
