//! Getting in and staying in, in process with a clock the tests move: passwords, second
//! factors, access and refresh tokens, lockout, the account rules of `policy::can_login`,
//! pending steps, credential headers and API keys.

use crate::support::app::TestApp;
use crate::support::router::{totp_code_at, Harness, Reply, Session, TestUser, PASSWORD, SCHOOL_A, SCHOOL_B, TEAM};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use pigeonpost::crypto::Keyring;
use pigeonpost::domain::Role;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::Duration;

/// A harness with the standard organisations and an LA administrator who is logged in.
struct Fixture {
    h: Harness,
    admin: TestUser,
    admin_token: String,
}

impl Fixture {
    async fn new() -> Self {
        Self::with_settings(|_| {}).await
    }

    async fn with_settings(tweak: impl FnOnce(&mut pigeonpost::config::Settings)) -> Self {
        let h = TestApp::builder().settings(tweak).router().await;
        h.standard_orgs().await;
        let admin = h.user(TEAM, "la.admin", Role::LaAdmin).await;
        let admin_token = h.login(&admin).await.access;
        Self { h, admin, admin_token }
    }

    /// A request as the LA administrator, logging them in again if their token has lapsed.
    async fn as_admin(&mut self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let probe = self.h.get("/api/v1/session", &self.admin_token).await;
        if probe.status == StatusCode::UNAUTHORIZED {
            self.admin_token = self.h.login(&self.admin).await.access;
        }
        self.h.request(method, path, Some(&self.admin_token), body).await
    }
}

fn login_json(username: &str, password: &str) -> Value {
    json!({ "username": username, "password": password })
}

async fn try_login(h: &Harness, body: Value) -> Reply {
    h.request(Method::POST, "/api/v1/session", None, Some(body)).await
}

/// A 401 with its own code and a message to act on.
fn assert_refused(reply: &Reply, code: &str, what: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}: {}", reply.json);
    assert_eq!(reply.error(), code, "{what}: {}", reply.json);
    assert!(reply.json["message"].as_str().is_some_and(|m| m.len() > 20), "{what}: {}", reply.json);
    assert_eq!(reply.header("www-authenticate"), Some("Bearer realm=\"pigeonpost\""), "{what}");
}

/// A six-digit code that is not valid for `user` now (nor a step either side).
fn wrong_code(h: &Harness, user: &TestUser) -> String {
    let secret = user.totp_secret.as_ref().expect("second factor");
    let now = h.now();
    let valid: Vec<String> = (-1..=1).map(|s| totp_code_at(secret, now + Duration::seconds(30 * s))).collect();
    (10..)
        .map(|s| totp_code_at(secret, now + Duration::seconds(30 * s)))
        .find(|c| !valid.contains(c))
        .expect("some code is wrong")
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON claims")
}

fn b64_json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("JSON"))
}

/// The key the harness's server signs session tokens with (derived from its keyring).
fn real_token_key() -> [u8; 32] {
    let keyring = Keyring::from_keys("k1", vec![("k1".into(), [7u8; 32])]);
    let derived = keyring.derived_keys("session tokens");
    assert_eq!(derived[0].0, "k1");
    *derived[0].1
}

fn sign_hs256(claims: &Value, kid: &str, key: &[u8]) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key)).expect("sign")
}

async fn status_with(h: &Harness, token: &str) -> StatusCode {
    h.get("/api/v1/session", token).await.status
}

// ----- passwords and second factors -----

#[tokio::test]
async fn a_wrong_password_is_refused_with_401_and_a_message_that_does_not_say_what_was_wrong() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let reply = try_login(&h, login_json(&user.username, "Not-The-Password-42")).await;
    assert_refused(&reply, "wrong_username_or_password", "wrong password");
    let message = reply.json["message"].as_str().unwrap_or_default().to_lowercase();
    assert!(!message.contains("password is"), "the message says which part failed: {message}");
    assert!(reply.json.get("access_token").is_none());
}

#[tokio::test]
async fn an_unknown_username_gets_exactly_the_same_answer_as_a_wrong_password() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let wrong_password = try_login(&h, login_json(&user.username, "Not-The-Password-42")).await;
    let unknown = try_login(&h, login_json("nobody.here", "Not-The-Password-42")).await;
    let unparseable = try_login(&h, login_json("x", "Not-The-Password-42")).await;
    assert_refused(&unknown, "wrong_username_or_password", "unknown username");
    assert_eq!(unknown.json, wrong_password.json, "the bodies differ");
    assert_eq!(unknown.body, wrong_password.body, "the bytes differ");
    assert_eq!(unparseable.body, wrong_password.body, "an invalid username is answered differently");
}

#[tokio::test]
async fn a_wrong_or_missing_totp_code_is_refused_even_with_the_right_password() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(TEAM, "lara", Role::LaUser).await;
    let wrong = wrong_code(&h, &user);
    let with_wrong = try_login(&h, json!({ "username": user.username, "password": PASSWORD, "totp": wrong })).await;
    assert_refused(&with_wrong, "wrong_second_factor", "wrong TOTP code");
    let without = try_login(&h, login_json(&user.username, PASSWORD)).await;
    assert_refused(&without, "second_factor_required", "no TOTP code");
    let malformed = try_login(&h, json!({ "username": user.username, "password": PASSWORD, "totp": "12ab56" })).await;
    assert_refused(&malformed, "wrong_second_factor", "malformed TOTP code");
    // The right code still works: the refusals were about the code.
    h.login(&user).await;
}

#[tokio::test]
async fn a_totp_code_used_once_is_refused_the_second_time_within_its_step() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(TEAM, "lara", Role::LaUser).await;
    let code = h.totp_code(&user);
    let body = json!({ "username": user.username, "password": PASSWORD, "totp": code });
    let first = try_login(&h, body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.json);
    h.advance_secs(10);
    assert_eq!(h.totp_code(&user), code, "still the same step");
    let replay = try_login(&h, body).await;
    assert_refused(&replay, "wrong_second_factor", "replayed TOTP code");
}

#[tokio::test]
async fn a_totp_code_two_steps_old_is_refused_while_one_step_old_is_still_accepted() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(TEAM, "lara", Role::LaUser).await;
    let secret = user.totp_secret.clone().expect("second factor");
    let two_old = totp_code_at(&secret, h.now() - Duration::seconds(60));
    let one_old = totp_code_at(&secret, h.now() - Duration::seconds(30));
    assert_ne!(two_old, h.totp_code(&user), "test needs distinct codes");
    let refused = try_login(&h, json!({ "username": user.username, "password": PASSWORD, "totp": two_old })).await;
    assert_refused(&refused, "wrong_second_factor", "TOTP code two steps old");
    let accepted = try_login(&h, json!({ "username": user.username, "password": PASSWORD, "totp": one_old })).await;
    assert_eq!(accepted.status, StatusCode::CREATED, "clock drift of one step: {}", accepted.json);
}

#[tokio::test]
async fn a_recovery_code_logs_in_once_and_only_once() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(TEAM, "lara", Role::LaUser).await;
    assert_eq!(user.recovery_codes.len(), 10);
    let code = user.recovery_codes[0].clone();
    let body = json!({ "username": user.username, "password": PASSWORD, "recovery_code": code });
    let first = try_login(&h, body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.json);
    let again = try_login(&h, body).await;
    assert_refused(&again, "wrong_second_factor", "reused recovery code");
    let other = try_login(
        &h,
        json!({ "username": user.username, "password": PASSWORD, "recovery_code": user.recovery_codes[1].to_uppercase() }),
    )
    .await;
    assert_eq!(other.status, StatusCode::CREATED, "another code, typed in capitals: {}", other.json);
}

// ----- access tokens -----

#[tokio::test]
async fn an_access_token_is_refused_once_its_lifetime_and_30_seconds_of_leeway_have_passed() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let session = h.login(&user).await;
    let ttl = h.state.settings().identity.access_token_ttl_secs as i64;
    assert_eq!(session.json["expires_in"].as_i64(), Some(ttl));
    h.advance_secs(ttl + 30);
    assert_eq!(status_with(&h, &session.access).await, StatusCode::OK, "within the leeway");
    h.advance_secs(1);
    assert_eq!(status_with(&h, &session.access).await, StatusCode::UNAUTHORIZED, "past the leeway");
    // The session itself lives on: a refresh gives a working token.
    let refreshed = h.refresh(&session.refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.json);
    let token = refreshed.json["access_token"].as_str().expect("access token");
    assert_eq!(status_with(&h, token).await, StatusCode::OK);
}

#[tokio::test]
async fn a_token_signed_with_another_key_under_a_known_kid_is_refused() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let session = h.login(&user).await;
    let claims = claims_of(&session.access);
    // Control: the same claims signed with the server's own key are accepted.
    let genuine = sign_hs256(&claims, "k1", &real_token_key());
    assert_eq!(status_with(&h, &genuine).await, StatusCode::OK, "the control token was refused");
    let forged = sign_hs256(&claims, "k1", b"an attacker's guess at the signing key");
    assert_eq!(status_with(&h, &forged).await, StatusCode::UNAUTHORIZED);
    let raw_kek = sign_hs256(&claims, "k1", &[7u8; 32]);
    assert_eq!(status_with(&h, &raw_kek).await, StatusCode::UNAUTHORIZED, "the master key itself signs nothing");
}

#[tokio::test]
async fn a_token_naming_an_unknown_key_id_is_refused_and_leaves_the_keyring_as_it_was() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let lara = h.user(TEAM, "lara", Role::LaUser).await;
    let session = h.login(&user).await;
    let claims = claims_of(&session.access);
    for kid in ["k9", "../keyring", ""] {
        let token = sign_hs256(&claims, kid, &real_token_key());
        assert_eq!(status_with(&h, &token).await, StatusCode::UNAUTHORIZED, "kid {kid:?}");
    }
    // The keyring was re-read, not replaced: tokens and second factors still open.
    assert_eq!(status_with(&h, &session.access).await, StatusCode::OK);
    h.login(&lara).await;
}

#[tokio::test]
async fn a_token_with_alg_none_is_refused() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let session = h.login(&user).await;
    let payload = session.access.split('.').nth(1).expect("payload").to_owned();
    let signature = session.access.split('.').nth(2).expect("signature").to_owned();
    for alg in ["none", "None", "NONE"] {
        let header = b64_json(&json!({ "alg": alg, "typ": "JWT", "kid": "k1" }));
        for token in [format!("{header}.{payload}."), format!("{header}.{payload}.{signature}")] {
            assert_eq!(status_with(&h, &token).await, StatusCode::UNAUTHORIZED, "{alg}: {token}");
        }
    }
    let hs512 = b64_json(&json!({ "alg": "HS512", "typ": "JWT", "kid": "k1" }));
    assert_eq!(status_with(&h, &format!("{hs512}.{payload}.{signature}")).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_whose_payload_was_changed_is_refused() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let session = h.login(&user).await;
    assert_eq!(status_with(&h, &session.access).await, StatusCode::OK);
    let parts: Vec<&str> = session.access.split('.').collect();
    let mut claims = claims_of(&session.access);
    let other_org = h.find_org(SCHOOL_B).await.id.0;
    assert_ne!(claims["org"].as_i64(), Some(other_org));
    claims["org"] = json!(other_org);
    let tampered = format!("{}.{}.{}", parts[0], b64_json(&claims), parts[2]);
    assert_eq!(status_with(&h, &tampered).await, StatusCode::UNAUTHORIZED, "org changed");
    let mut longer = claims_of(&session.access);
    longer["exp"] = json!(longer["exp"].as_i64().expect("exp") + 86_400);
    let extended = format!("{}.{}.{}", parts[0], b64_json(&longer), parts[2]);
    assert_eq!(status_with(&h, &extended).await, StatusCode::UNAUTHORIZED, "expiry extended");
}

// ----- refresh tokens -----

#[tokio::test]
async fn a_refresh_token_is_refused_after_logout_and_so_is_the_access_token() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let session = h.login(&user).await;
    let out = h.request(Method::DELETE, "/api/v1/session", Some(&session.access), None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.json);
    assert_refused(&h.refresh(&session.refresh).await, "session_ended", "refresh after logout");
    assert_eq!(status_with(&h, &session.access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_refresh_token_used_twice_ends_the_session_and_every_token_it_gave_out() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let first = h.login(&user).await;
    let rotated = h.refresh(&first.refresh).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.json);
    let second = crate::support::router::session_from(&rotated.json);
    assert_ne!(second.refresh, first.refresh, "the refresh token rotates");
    assert_eq!(status_with(&h, &second.access).await, StatusCode::OK);
    // The old refresh token again: someone copied it.
    assert_refused(&h.refresh(&first.refresh).await, "session_ended", "reused refresh token");
    assert_eq!(status_with(&h, &second.access).await, StatusCode::UNAUTHORIZED, "the new access token lives on");
    assert_eq!(status_with(&h, &first.access).await, StatusCode::UNAUTHORIZED);
    assert_refused(&h.refresh(&second.refresh).await, "session_ended", "the new refresh token");
}

// ----- account rules -----

#[tokio::test]
async fn a_disabled_user_cannot_log_in_and_their_tokens_stop_working_at_once() {
    let mut f = Fixture::new().await;
    let user = f.h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let session = f.h.login(&user).await;
    let disabled = f.as_admin(Method::POST, &format!("/api/v1/users/{}/disable", user.id_str()), None).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.json);
    assert_eq!(disabled.json["status"], "disabled");
    assert_eq!(status_with(&f.h, &session.access).await, StatusCode::UNAUTHORIZED, "existing access token");
    assert_refused(&f.h.refresh(&session.refresh).await, "session_ended", "refresh of a disabled user");
    let login = try_login(&f.h, login_json(&user.username, PASSWORD)).await;
    assert_refused(&login, "account_disabled", "login of a disabled user");
    // Without the right password, nothing is said about the account.
    let wrong = try_login(&f.h, login_json(&user.username, "Not-The-Password-42")).await;
    assert_refused(&wrong, "wrong_username_or_password", "wrong password of a disabled user");
}

#[tokio::test]
async fn repeated_failures_lock_an_account_even_against_the_right_password_until_the_window_passes() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let identity = h.state.settings().identity.clone();
    for i in 0..identity.lockout_threshold {
        let r = try_login(&h, login_json(&user.username, &format!("Wrong-Password-{i}-xyz"))).await;
        assert_refused(&r, "wrong_username_or_password", "failure before the lock");
    }
    let locked = try_login(&h, login_json(&user.username, PASSWORD)).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS, "{}", locked.json);
    assert_eq!(locked.error(), "too_many_attempts");
    let retry_after: i64 = locked.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert_eq!(retry_after, identity.lockout_secs as i64);
    // Differently cased, the same account.
    let upper = try_login(&h, login_json(&user.username.to_uppercase(), PASSWORD)).await;
    assert_eq!(upper.status, StatusCode::TOO_MANY_REQUESTS, "the lock depends on the username's case");
    h.advance_secs(identity.lockout_window_secs as i64 - 1);
    let still = try_login(&h, login_json(&user.username, PASSWORD)).await;
    assert_eq!(still.status, StatusCode::TOO_MANY_REQUESTS, "unlocked before the window passed");
    h.advance_secs(2);
    let open = try_login(&h, login_json(&user.username, PASSWORD)).await;
    assert_eq!(open.status, StatusCode::CREATED, "still locked after the window: {}", open.json);
}

#[tokio::test]
async fn a_username_that_does_not_exist_is_locked_out_exactly_like_one_that_does() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let threshold = h.state.settings().identity.lockout_threshold;
    for name in [user.username.as_str(), "ghost.user"] {
        for i in 0..threshold {
            try_login(&h, login_json(name, &format!("Wrong-Password-{i}-xyz"))).await;
        }
    }
    let real = try_login(&h, login_json(&user.username, PASSWORD)).await;
    let ghost = try_login(&h, login_json("ghost.user", PASSWORD)).await;
    assert_eq!(ghost.status, StatusCode::TOO_MANY_REQUESTS, "{}", ghost.json);
    assert_eq!(ghost.body, real.body);
    assert_eq!(ghost.header("retry-after"), real.header("retry-after"));
    // Before the threshold, both answer 401 alike.
    let other = try_login(&h, login_json("someone.else", "Wrong-Password-xyz")).await;
    assert_refused(&other, "wrong_username_or_password", "first failure of another name");
}

#[tokio::test]
async fn the_people_and_keys_of_a_closed_school_are_refused() {
    let mut f = Fixture::new().await;
    let user = f.h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let session = f.h.login(&user).await;
    let key = f.h.api_key(SCHOOL_A, None).await;
    assert_eq!(status_with(&f.h, &key.token).await, StatusCode::OK);
    let closed = f.as_admin(Method::POST, "/api/v1/organisations/8252001/close", None).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.json);
    assert_eq!(closed.json["status"], "closed");
    assert_eq!(status_with(&f.h, &session.access).await, StatusCode::UNAUTHORIZED, "access token");
    assert_eq!(status_with(&f.h, &key.token).await, StatusCode::UNAUTHORIZED, "API key");
    assert_refused(&f.h.refresh(&session.refresh).await, "organisation_closed", "refresh");
    assert_refused(&try_login(&f.h, login_json(&user.username, PASSWORD)).await, "organisation_closed", "login");
}

#[tokio::test]
async fn a_leaver_cannot_log_in_or_use_a_token_once_their_leaving_time_has_passed() {
    let mut f = Fixture::new().await;
    let user = f.h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    // Within one access token's lifetime, so the token is refused for leaving, not for age.
    let on = (f.h.now() + Duration::minutes(5)).format(&Rfc3339).expect("time");
    let set =
        f.as_admin(Method::PUT, &format!("/api/v1/users/{}/leaver", user.id_str()), Some(json!({ "on": on }))).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.json);
    let session = f.h.login(&user).await;
    assert_eq!(status_with(&f.h, &session.access).await, StatusCode::OK, "before the leaving time");
    f.h.advance(Duration::minutes(5));
    assert_eq!(status_with(&f.h, &session.access).await, StatusCode::UNAUTHORIZED, "token of a leaver");
    assert_refused(&f.h.refresh(&session.refresh).await, "account_ended", "refresh of a leaver");
    assert_refused(&try_login(&f.h, login_json(&user.username, PASSWORD)).await, "account_ended", "login of a leaver");
}

#[tokio::test]
async fn an_account_unused_for_longer_than_inactivity_days_cannot_log_in_until_an_la_admin_enables_it() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    h.login(&user).await;
    let days = h.state.settings().identity.inactivity_days as i64;
    h.advance(Duration::days(days) - Duration::hours(1));
    h.login(&user).await; // a login within the period keeps the account alive
    h.advance(Duration::days(days) + Duration::hours(1));
    assert_refused(
        &try_login(&h, login_json(&user.username, PASSWORD)).await,
        "account_inactive",
        "login after inactivity",
    );
    // An administrator who has been active recently turns the account back on.
    let admin = h.user(TEAM, "la.admin", Role::LaAdmin).await;
    let token = h.login(&admin).await.access;
    let enabled = h.post(&format!("/api/v1/users/{}/enable", user.id_str()), &token, json!({})).await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.json);
    let back = try_login(&h, login_json(&user.username, PASSWORD)).await;
    assert_eq!(back.status, StatusCode::CREATED, "still refused after an LA admin enabled the account: {}", back.json);
}

// ----- pending steps -----

#[tokio::test]
async fn with_terms_version_1_a_new_login_must_accept_the_terms_before_using_transfers() {
    let h = TestApp::builder().settings(|s| s.identity.terms_version = 1).router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let session = h.login(&user).await;
    assert_eq!(session.pending, vec!["accept_terms".to_owned()]);
    let list = h.get("/api/v1/transfers", &session.access).await;
    assert_eq!(list.status, StatusCode::FORBIDDEN, "{}", list.json);
    assert_eq!(list.error(), "terms_not_accepted");
    let upload = h.upload(&session.access, TEAM, "census.csv", b"x").await;
    assert_eq!(upload.status, StatusCode::FORBIDDEN, "{}", upload.json);
    assert_eq!(upload.error(), "terms_not_accepted");
    let terms = h.get("/api/v1/session/terms", &session.access).await;
    assert_eq!(terms.json["version"], 1);
    let stale = h.post("/api/v1/session/terms", &session.access, json!({ "version": 0 })).await;
    assert_eq!(stale.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", stale.json);
    let accepted = h.post("/api/v1/session/terms", &session.access, json!({ "version": 1 })).await;
    assert_eq!(accepted.status, StatusCode::NO_CONTENT, "{}", accepted.json);
    let list = h.get("/api/v1/transfers", &session.access).await;
    assert_eq!(list.status, StatusCode::OK, "same token after accepting: {}", list.json);
    let next = h.login(&user).await;
    assert!(next.pending.is_empty(), "{:?}", next.pending);
}

#[tokio::test]
async fn a_new_la_user_enrols_a_second_factor_and_then_logs_in_with_no_pending_steps() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let mut user = h.user_without_totp(TEAM, "new.la", Role::LaUser).await;
    let session = h.login(&user).await;
    assert_eq!(session.pending, vec!["enrol_totp".to_owned()]);
    let blocked = h.get("/api/v1/transfers", &session.access).await;
    assert_eq!(blocked.status, StatusCode::FORBIDDEN);
    assert_eq!(blocked.error(), "totp_enrolment_required");
    let started = h.request(Method::POST, "/api/v1/session/totp", Some(&session.access), None).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.json);
    let uri = started.json["otpauth_uri"].as_str().expect("otpauth URI");
    assert_eq!(started.json["recovery_codes"].as_array().map(Vec::len), Some(10));
    user.totp_secret = Some(crate::support::router::secret_from_uri(uri));
    let wrong = h.post("/api/v1/session/totp/confirm", &session.access, json!({ "code": wrong_code(&h, &user) })).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", wrong.json);
    let code = h.totp_code(&user);
    let confirmed = h.post("/api/v1/session/totp/confirm", &session.access, json!({ "code": code })).await;
    assert_eq!(confirmed.status, StatusCode::NO_CONTENT, "{}", confirmed.json);
    h.spend_step(&user);
    assert_eq!(h.get("/api/v1/transfers", &session.access).await.status, StatusCode::OK, "same token after enrolling");
    // From now on the second factor is required, and nothing is pending.
    h.advance_secs(30);
    assert_refused(
        &try_login(&h, login_json(&user.username, PASSWORD)).await,
        "second_factor_required",
        "login without a code",
    );
    let next = h.login(&user).await;
    assert!(next.pending.is_empty(), "{:?}", next.pending);
}

#[tokio::test]
async fn a_user_a_school_admin_creates_is_requested_and_cannot_log_in_until_an_la_admin_approves() {
    let mut f = Fixture::new().await;
    let school_admin = f.h.user(SCHOOL_A, "head", Role::SchoolAdmin).await;
    let token = f.h.login(&school_admin).await.access;
    let body = json!({
        "org": SCHOOL_A, "username": "new.teacher", "display_name": "New Teacher",
        "role": "school_user", "password": PASSWORD
    });
    let created = f.h.post("/api/v1/users", &token, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    assert_eq!(created.json["user"]["status"], "requested");
    let id = created.json["user"]["id"].as_i64().expect("id");
    assert_refused(
        &try_login(&f.h, login_json("new.teacher", PASSWORD)).await,
        "account_pending_approval",
        "login before approval",
    );
    let approved = f.as_admin(Method::POST, &format!("/api/v1/users/{id}/approve"), None).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.json);
    assert_eq!(approved.json["status"], "active");
    let login = try_login(&f.h, login_json("new.teacher", PASSWORD)).await;
    assert_eq!(login.status, StatusCode::CREATED, "{}", login.json);
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let this: Session = h.login(&user).await;
    let other: Session = h.login(&user).await;
    let new_password = "Amber-Meadow-Compass-91";
    let changed = h
        .post(
            "/api/v1/session/password",
            &this.access,
            json!({ "current_password": PASSWORD, "new_password": new_password }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.json);
    assert_eq!(status_with(&h, &other.access).await, StatusCode::UNAUTHORIZED, "the other session's token");
    assert_refused(&h.refresh(&other.refresh).await, "session_ended", "the other session's refresh token");
    // As documented on `account::change_password`, this session ends too.
    assert_eq!(status_with(&h, &this.access).await, StatusCode::UNAUTHORIZED, "the session that changed it");
    assert_refused(
        &try_login(&h, login_json(&user.username, PASSWORD)).await,
        "wrong_username_or_password",
        "old password",
    );
    let login = try_login(&h, login_json(&user.username, new_password)).await;
    assert_eq!(login.status, StatusCode::CREATED, "{}", login.json);
}

// ----- credential headers -----

#[tokio::test]
async fn a_duplicated_authorization_header_is_refused_with_400() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let key = h.api_key(SCHOOL_A, None).await;
    let other = h.api_key(SCHOOL_B, None).await;
    for path in ["/api/v1/transfers", "/healthz"] {
        for second in [&key.token, &other.token] {
            let request = Request::builder()
                .uri(path)
                .header(header::AUTHORIZATION, format!("Bearer {}", key.token))
                .header(header::AUTHORIZATION, format!("Bearer {second}"))
                .body(Body::empty())
                .expect("request");
            let reply = h.send(request).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}: {}", reply.json);
            assert_eq!(reply.error(), "ambiguous_credentials");
        }
    }
}

#[tokio::test]
async fn an_x_api_key_header_is_refused_with_400_alone_or_beside_authorization() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let key = h.api_key(SCHOOL_A, None).await;
    for with_authorization in [false, true] {
        let mut builder = Request::builder().uri("/api/v1/transfers").header("x-api-key", &key.token);
        if with_authorization {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {}", key.token));
        }
        let reply = h.send(builder.body(Body::empty()).expect("request")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "with Authorization: {with_authorization}: {}", reply.json);
        assert_eq!(reply.error(), "ambiguous_credentials");
    }
}

// ----- API keys -----

#[tokio::test]
async fn an_api_key_past_its_expiry_is_refused() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let mut scope = Harness::default_scope();
    scope.expires_at = Some(h.now() + Duration::hours(1));
    let key = h.api_key(SCHOOL_A, Some(scope)).await;
    assert_eq!(h.get("/api/v1/transfers", &key.token).await.status, StatusCode::OK);
    h.advance(Duration::hours(1));
    let reply = h.get("/api/v1/transfers", &key.token).await;
    assert_refused(&reply, "api_key_expired", "expired key");
}

#[tokio::test]
async fn a_revoked_api_key_is_refused_at_once() {
    let mut f = Fixture::new().await;
    let key = f.h.api_key(SCHOOL_A, None).await;
    assert_eq!(f.h.get("/api/v1/transfers", &key.token).await.status, StatusCode::OK);
    let revoked = f.as_admin(Method::DELETE, &format!("/api/v1/keys/{}", key.id), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.json);
    assert_refused(&f.h.get("/api/v1/transfers", &key.token).await, "api_key_revoked", "revoked key");
}

#[tokio::test]
async fn a_receive_only_key_cannot_upload_but_can_download() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let receiver = h.api_key(SCHOOL_A, Some(Harness::scope(&["general"], false, true))).await;
    let team = h.api_key(TEAM, None).await;
    let refused = h.upload(&receiver.token, TEAM, "returns.csv", b"a,b\n").await;
    assert_eq!((refused.status, refused.error()), (StatusCode::FORBIDDEN, "key_cannot_send"), "{}", refused.json);
    let content = b"upn,name\nA123,Pupil\n";
    let sent = h.upload(&team.token, SCHOOL_A, "for-the-school.csv", content).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.json);
    let id = sent.json["id"].as_str().expect("id");
    let download = h.get(&format!("/api/v1/transfers/{id}/content"), &receiver.token).await;
    assert_eq!(download.status, StatusCode::OK, "{}", download.json);
    assert_eq!(&download.body[..], &content[..]);
}

// ----- functions -----

#[tokio::test]
async fn temporary_cover_shows_in_the_session_until_it_lapses() {
    let mut f = Fixture::new().await;
    let user = f.h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let defined =
        f.as_admin(Method::POST, "/api/v1/functions", Some(json!({ "slug": "finance", "name": "Finance" }))).await;
    assert_eq!(defined.status, StatusCode::CREATED, "{}", defined.json);
    let until = (f.h.now() + Duration::minutes(10)).format(&Rfc3339).expect("time");
    let path = format!("/api/v1/users/{}/functions/finance", user.id_str());
    let granted = f.as_admin(Method::PUT, &path, Some(json!({ "until": until }))).await;
    assert_eq!(granted.status, StatusCode::NO_CONTENT, "{}", granted.json);
    let token = f.h.login(&user).await.access;
    let me = f.h.get("/api/v1/session", &token).await;
    assert_eq!(me.json["functions"], json!(["finance"]), "{}", me.json);
    f.h.advance(Duration::minutes(10) + Duration::seconds(1));
    let me = f.h.get("/api/v1/session", &token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.json);
    assert_eq!(me.json["functions"], json!([]), "cover outlived its end: {}", me.json);
}

#[tokio::test]
async fn a_school_admin_may_grant_a_standing_function_but_not_temporary_cover() {
    let mut f = Fixture::new().await;
    let user = f.h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let head = f.h.user(SCHOOL_A, "head", Role::SchoolAdmin).await;
    let defined =
        f.as_admin(Method::POST, "/api/v1/functions", Some(json!({ "slug": "finance", "name": "Finance" }))).await;
    assert_eq!(defined.status, StatusCode::CREATED);
    let token = f.h.login(&head).await.access;
    let path = format!("/api/v1/users/{}/functions/finance", user.id_str());
    let until = (f.h.now() + Duration::days(7)).format(&Rfc3339).expect("time");
    let cover = f.h.request(Method::PUT, &path, Some(&token), Some(json!({ "until": until }))).await;
    assert_eq!(cover.status, StatusCode::FORBIDDEN, "{}", cover.json);
    let standing = f.h.request(Method::PUT, &path, Some(&token), None).await;
    assert_eq!(standing.status, StatusCode::NO_CONTENT, "{}", standing.json);
}

// ----- what each refusal says -----

#[tokio::test]
async fn each_refused_key_or_token_has_its_own_code() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let key = h.api_key(SCHOOL_A, None).await;
    let none = h.request(Method::GET, "/api/v1/transfers", None, None).await;
    assert_refused(&none, "credentials_required", "no Authorization header");
    let made_up = format!("pp_0123456789abcdef_{}", "a".repeat(43));
    assert_refused(&h.get("/api/v1/transfers", &made_up).await, "unknown_api_key", "a made-up key");
    // pp_ and a 16-hex-digit id, then the secret.
    let wrong_secret = format!("{}_{}", &key.token[..19], "b".repeat(43));
    let reply = h.get("/api/v1/transfers", &wrong_secret).await;
    assert_refused(&reply, "unknown_api_key", "a known key id with the wrong secret");
    assert_refused(&h.get("/api/v1/transfers", "pp_short").await, "unknown_api_key", "a malformed key");
    assert_refused(&h.get("/api/v1/transfers", "not.a.token").await, "invalid_access_token", "a malformed token");

    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let session = h.login(&user).await;
    let mut claims = claims_of(&session.access);
    claims["exp"] = json!(claims["exp"].as_i64().expect("exp") + 3600);
    let (header, _) = session.access.split_once('.').expect("JWT");
    let forged = format!("{header}.{}.{}", b64_json(&claims), session.access.rsplit('.').next().expect("signature"));
    assert_refused(&h.get("/api/v1/session", &forged).await, "invalid_access_token", "a tampered token");
    let ttl = h.state.settings().identity.access_token_ttl_secs as i64;
    h.advance_secs(ttl + 31);
    assert_refused(&h.get("/api/v1/session", &session.access).await, "access_token_expired", "an expired token");
    let fresh = h.refresh(&session.refresh).await;
    let fresh_access = fresh.json["access_token"].as_str().expect("refreshed").to_owned();
    let logout = h.request(Method::DELETE, "/api/v1/session", Some(&fresh_access), None).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{}", logout.json);
    assert_refused(&h.get("/api/v1/session", &fresh_access).await, "session_ended", "a token after logout");
    assert_refused(&h.refresh("not-a-refresh-token").await, "invalid_refresh_token", "a made-up refresh token");
}

#[tokio::test]
async fn an_unknown_username_never_learns_an_account_state_that_the_right_password_would_name() {
    let mut f = Fixture::new().await;
    let user = f.h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let disabled = f.as_admin(Method::POST, &format!("/api/v1/users/{}/disable", user.id_str()), None).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.json);
    let right = try_login(&f.h, login_json(&user.username, PASSWORD)).await;
    assert_refused(&right, "account_disabled", "the right password");
    let wrong = try_login(&f.h, login_json(&user.username, "Not-The-Password-42")).await;
    let unknown = try_login(&f.h, login_json("nobody.here", "Not-The-Password-42")).await;
    assert_refused(&wrong, "wrong_username_or_password", "the wrong password");
    assert_eq!(wrong.body, unknown.body, "a wrong password and an unknown name are told apart");
}

/// A channel the sender's organisation may not use and a key that lacks the channel are
/// different mistakes with different fixes.
#[tokio::test]
async fn a_sender_outside_a_channel_and_a_key_without_it_get_different_403s() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let census = "/api/v1/transfers?channel=census&filename=8252001_SC.xml";
    let general_only = h.api_key(SCHOOL_A, None).await;
    let reply = h.request(Method::POST, census, Some(&general_only.token), None).await;
    assert_eq!((reply.status, reply.error()), (StatusCode::FORBIDDEN, "key_lacks_channel"), "{}", reply.json);
    let team = h.api_key(TEAM, Some(Harness::scope(&["*"], true, true))).await;
    let reply = h.request(Method::POST, census, Some(&team.token), None).await;
    assert_eq!((reply.status, reply.error()), (StatusCode::FORBIDDEN, "channel_not_for_sender"), "{}", reply.json);
    assert!(reply.json["message"].as_str().is_some_and(|m| m.contains("GET /api/v1/channels")), "{}", reply.json);
}

#[tokio::test]
async fn a_send_only_key_reading_its_inbox_gets_403_with_a_reason_not_an_empty_list() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let sender = h.api_key(SCHOOL_A, Some(Harness::scope(&["general"], true, false))).await;
    let receiver = h.api_key(SCHOOL_A, Some(Harness::scope(&["general"], false, true))).await;
    let inbox = h.get("/api/v1/transfers?box=inbox", &sender.token).await;
    assert_eq!((inbox.status, inbox.error()), (StatusCode::FORBIDDEN, "key_cannot_receive"), "{}", inbox.json);
    assert!(inbox.json["message"].as_str().is_some_and(|m| m.contains("only send")), "{}", inbox.json);
    let sent = h.get("/api/v1/transfers?box=sent", &sender.token).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.json);
    let sent = h.get("/api/v1/transfers?box=sent", &receiver.token).await;
    assert_eq!((sent.status, sent.error()), (StatusCode::FORBIDDEN, "key_cannot_send"), "{}", sent.json);
    assert_eq!(h.get("/api/v1/transfers", &receiver.token).await.status, StatusCode::OK);
}

// ----- passwords chosen for the person -----

/// Logs in with a password handed over by someone else; the session owes a password change.
async fn login_with_given_password(h: &Harness, username: &str, password: &str) -> Session {
    let reply = try_login(h, login_json(username, password)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let session = crate::support::router::session_from(&reply.json);
    assert_eq!(session.pending, vec!["change_password".to_owned()]);
    session
}

fn assert_must_change(reply: &Reply, what: &str) {
    assert_eq!(
        (reply.status, reply.error()),
        (StatusCode::FORBIDDEN, "password_change_required"),
        "{what}: {}",
        reply.json
    );
    let message = reply.json["message"].as_str().unwrap_or_default();
    assert!(message.contains("POST /api/v1/session/password"), "{what}: the message names the route: {message}");
}

#[tokio::test]
async fn a_generated_password_opens_only_the_route_that_changes_it_until_it_is_changed() {
    let mut f = Fixture::new().await;
    let body =
        json!({ "org": SCHOOL_A, "username": "new.teacher", "display_name": "New Teacher", "role": "school_user" });
    let created = f.as_admin(Method::POST, "/api/v1/users", Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let given = created.json["initial_password"].as_str().expect("a generated password").to_owned();
    let session = login_with_given_password(&f.h, "new.teacher", &given).await;

    assert_must_change(&f.h.get("/api/v1/transfers", &session.access).await, "listing transfers");
    assert_must_change(&f.h.get("/api/v1/session", &session.access).await, "reading the session");
    assert_must_change(&f.h.get("/api/v1/session/terms", &session.access).await, "reading the terms");
    let upload = f.h.upload(&session.access, TEAM, "returns.csv", b"a,b\n").await;
    assert_must_change(&upload, "uploading");
    let same = json!({ "current_password": given, "new_password": given });
    let same = f.h.post("/api/v1/session/password", &session.access, same).await;
    assert_eq!(
        (same.status, same.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "password_not_changed"),
        "{}",
        same.json
    );

    let own = "Amber-Meadow-Compass-91";
    let change = json!({ "current_password": given, "new_password": own });
    let changed = f.h.post("/api/v1/session/password", &session.access, change).await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.json);
    assert_refused(&try_login(&f.h, login_json("new.teacher", &given)).await, "wrong_username_or_password", "given");
    let next = try_login(&f.h, login_json("new.teacher", own)).await;
    assert_eq!(next.status, StatusCode::CREATED, "{}", next.json);
    assert_eq!(next.json["pending"], json!([]));
    let token = next.json["access_token"].as_str().expect("access token");
    assert_eq!(f.h.get("/api/v1/transfers", token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_reset_password_and_an_operators_new_user_must_change_it_too_but_a_chosen_one_need_not() {
    let mut f = Fixture::new().await;
    let user = f.h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let fresh = try_login(&f.h, login_json(&user.username, PASSWORD)).await;
    assert_eq!(fresh.json["pending"], json!([]), "a password the person chose");
    let reset = f.as_admin(Method::POST, &format!("/api/v1/users/{}/reset-password", user.id_str()), None).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.json);
    let given = reset.json["password"].as_str().expect("a generated password");
    let session = login_with_given_password(&f.h, &user.username, given).await;
    assert_must_change(&f.h.get("/api/v1/transfers", &session.access).await, "after a reset");

    // The operator's command line (`admin user add`, and the first administrator) goes the same way.
    let request = pigeonpost::service::users::NewUserRequest {
        org: SCHOOL_B.parse().expect("org"),
        username: "bob".into(),
        display_name: "Bob".into(),
        role: Role::SchoolAdmin,
        password: None,
    };
    let created = pigeonpost::service::users::create(&f.h.state, None, request).await.expect("create");
    let given = secrecy::ExposeSecret::expose_secret(created.initial_password.as_ref().expect("generated")).to_owned();
    let session = login_with_given_password(&f.h, "bob", &given).await;
    assert_must_change(&f.h.get("/api/v1/users", &session.access).await, "an operator's new user");
}
