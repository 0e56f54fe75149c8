//! Signing in and out in a browser, the steps a person owes first, and who may reach which page:
//! the cookies and forms a browser would send, through the router.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode, Version};
use secrecy::SecretString;
use serde_json::json;

use crate::support::app::TestApp;
use crate::support::router::web::WebSession;
use crate::support::router::{
    secret_from_uri, totp_code_at, Harness, Reply, TestUser, PASSWORD, SCHOOL_A, SCHOOL_B, TEAM,
};
use pigeonpost::audit::{Actor, AuditEvent};
use pigeonpost::domain::Role;
use pigeonpost::identity::password::hash_password;
use pigeonpost::web::session::COOKIE;

/// A form's fields, or the headers that say where it came from.
type Fields<'a> = Vec<(&'a str, &'a str)>;

const PENDING: &str = "__Host-pigeonpost-sign-in";
const HOST: &str = "pigeonpost.test";

/// A browser: the cookies it holds, sent the way a browser sends them.
#[derive(Default, Clone)]
struct Browser {
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn with_session(s: &WebSession) -> Self {
        Self { cookies: vec![(COOKIE.into(), s.cookie.clone())] }
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Keeps what the reply's `Set-Cookie` headers give and forgets what they clear.
    fn take(&mut self, reply: &Reply) {
        for set in reply.headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let Some((name, rest)) = set.split_once('=') else { continue };
            let value = rest.split(';').next().unwrap_or_default().to_owned();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() && !set.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value));
            }
        }
    }

    fn header(&self) -> Option<String> {
        (!self.cookies.is_empty())
            .then(|| self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; "))
    }

    async fn get(&mut self, h: &Harness, path: &str) -> Reply {
        let mut b = Request::builder().method(Method::GET).uri(path).header(header::HOST, HOST);
        if let Some(c) = self.header() {
            b = b.header(header::COOKIE, c);
        }
        let reply = h.send(b.body(Body::empty()).expect("request")).await;
        self.take(&reply);
        reply
    }

    /// A same-origin form post with exactly these fields.
    async fn post(&mut self, h: &Harness, path: &str, fields: &[(&str, &str)]) -> Reply {
        self.post_from(h, path, fields, &[("origin", "https://pigeonpost.test"), ("sec-fetch-site", "same-origin")])
            .await
    }

    async fn post_from(&mut self, h: &Harness, path: &str, fields: &[(&str, &str)], site: &[(&str, &str)]) -> Reply {
        let body = fields
            .iter()
            .map(|(k, v)| {
                use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
                format!("{}={}", utf8_percent_encode(k, NON_ALPHANUMERIC), utf8_percent_encode(v, NON_ALPHANUMERIC))
            })
            .collect::<Vec<_>>()
            .join("&");
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::HOST, HOST)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in site {
            b = b.header(*name, *value);
        }
        if let Some(c) = self.header() {
            b = b.header(header::COOKIE, c);
        }
        let reply = h.send(b.body(Body::from(body)).expect("request")).await;
        self.take(&reply);
        reply
    }
}

fn location(reply: &Reply) -> &str {
    reply.header("location").unwrap_or_default()
}

fn assert_redirect(reply: &Reply, to: &str, what: &str) {
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{what}: {}", reply.text());
    assert_eq!(location(reply), to, "{what}");
}

/// The value of a hidden field on a page.
fn field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {name} field in {page}")) + marker.len();
    page[start..].split('"').next().unwrap_or_default().to_owned()
}

/// Signs in through the first page and, for a person with a second factor, the code page.
async fn sign_in(h: &Harness, user: &TestUser, next: &str) -> (Browser, Reply) {
    let mut b = Browser::default();
    let first =
        b.post(h, "/sign-in", &[("username", &user.username), ("password", &user.password), ("next", next)]).await;
    if user.totp_secret.is_none() {
        return (b, first);
    }
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.text());
    assert!(location(&first).starts_with("/sign-in/code"), "{}", location(&first));
    let page = b.get(h, location(&first)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    h.fresh_totp_step(user);
    let code = h.totp_code(user);
    let csrf = field(&page.text(), "csrf");
    let next = field(&page.text(), "next");
    let reply = b.post(h, "/sign-in/code", &[("csrf", &csrf), ("code", &code), ("next", &next)]).await;
    h.spend_step(user);
    (b, reply)
}

async fn school_user_with_totp(h: &Harness, name: &str) -> TestUser {
    let mut user = h.user_without_totp(SCHOOL_A, name, Role::SchoolUser).await;
    h.enrol_totp(&mut user).await;
    user
}

/// Makes the user's password one they were given, to be replaced at their next sign-in.
async fn give_one_time_password(h: &Harness, user: &TestUser) {
    let phc = hash_password(&SecretString::from(PASSWORD)).expect("hash");
    let audit = AuditEvent::new(h.now(), Actor::operator(), "user.set_password");
    h.state.repo().set_password(user.id, &phc, true, h.now(), &audit).await.expect("set password");
}

#[tokio::test]
async fn signing_in_with_password_and_code_lands_home_with_a_host_only_secure_session_cookie() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = school_user_with_totp(&h, "amy.code").await;

    let mut b = Browser::default();
    let first = b.post(&h, "/sign-in", &[("username", &user.username), ("password", PASSWORD)]).await;
    assert!(location(&first).starts_with("/sign-in/code"), "a second factor is asked for: {}", location(&first));
    assert!(b.cookie(COOKIE).is_none(), "the password alone gives no session");
    assert!(b.cookie(PENDING).is_some(), "the browser holds proof that the password was right");
    assert_redirect(
        &b.clone().get(&h, "/account/terms").await,
        "/sign-in?next=%2Faccount%2Fterms",
        "not yet signed in",
    );

    let (b, reply) = sign_in(&h, &user, "").await;
    assert_redirect(&reply, "/", "signed in");
    let set: Vec<&str> = reply.headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
    let session = set.iter().find(|c| c.starts_with(&format!("{COOKIE}="))).expect("a session cookie");
    for part in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.split("; ").any(|p| p == part), "{part} in {session}");
    }
    assert!(!session.to_ascii_lowercase().contains("domain"), "a host-only cookie: {session}");
    assert!(COOKIE.starts_with("__Host-"));
    assert!(b.cookie(PENDING).is_none(), "the proof is forgotten once used");
    let terms = b.clone().get(&h, "/account/terms").await;
    assert_eq!(terms.status, StatusCode::OK, "{}", terms.text());
    assert!(terms.text().contains("amy.code"), "the page names who is signed in");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_username_get_the_same_page() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user_without_totp(SCHOOL_A, "ben.same", Role::SchoolUser).await;
    let wrong = Browser::default()
        .post(&h, "/sign-in", &[("username", &user.username), ("password", "Not-The-Password-1")])
        .await;
    let unknown = Browser::default()
        .post(&h, "/sign-in", &[("username", "nobody.here"), ("password", "Not-The-Password-1")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, unknown.status);
    assert!(wrong.text().contains("Enter a correct username and password"), "{}", wrong.text());
    assert_eq!(wrong.text().replace("ben.same", "NAME"), unknown.text().replace("nobody.here", "NAME"));
    assert!(wrong.header("set-cookie").is_none_or(|c| !c.starts_with(&format!("{COOKIE}="))));
}

#[tokio::test]
async fn the_sixth_attempt_is_locked_out_and_the_code_step_counts_against_the_same_limit() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let guessed = h.user_without_totp(SCHOOL_A, "cat.guess", Role::SchoolUser).await;
    for _ in 0..5 {
        let reply = Browser::default()
            .post(&h, "/sign-in", &[("username", &guessed.username), ("password", "Wrong-Guess-Here-1")])
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let sixth =
        Browser::default().post(&h, "/sign-in", &[("username", &guessed.username), ("password", PASSWORD)]).await;
    assert_eq!(sixth.status, StatusCode::TOO_MANY_REQUESTS, "{}", sixth.text());
    assert!(sixth.text().contains("Wait 15 minutes"), "{}", sixth.text());

    let user = school_user_with_totp(&h, "dan.codes").await;
    let mut b = Browser::default();
    b.post(&h, "/sign-in", &[("username", &user.username), ("password", PASSWORD)]).await;
    let page = b.get(&h, "/sign-in/code").await;
    let csrf = field(&page.text(), "csrf");
    for _ in 0..5 {
        let reply = b.post(&h, "/sign-in/code", &[("csrf", &csrf), ("code", "000000")]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text());
        assert!(reply.text().contains("That code is not right"), "{}", reply.text());
    }
    h.fresh_totp_step(&user);
    let right = b.post(&h, "/sign-in/code", &[("csrf", &csrf), ("code", &h.totp_code(&user))]).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS, "even the right code waits: {}", right.text());
    assert!(b.cookie(COOKIE).is_none());
    let api = h.request(Method::POST, "/api/v1/session", None, Some(h.login_body(&user))).await;
    assert_eq!(api.status, StatusCode::TOO_MANY_REQUESTS, "the API counts the same failures");
}

#[tokio::test]
async fn the_code_page_wants_a_password_accepted_in_the_last_five_minutes_and_takes_a_recovery_code() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = school_user_with_totp(&h, "eve.late").await;
    let mut b = Browser::default();
    assert_redirect(&b.get(&h, "/sign-in/code").await, "/sign-in?start-again", "no password yet");
    b.post(&h, "/sign-in", &[("username", &user.username), ("password", PASSWORD)]).await;
    let page = b.get(&h, "/sign-in/code").await;
    assert!(page.text().contains("use a recovery code"), "{}", page.text());
    let csrf = field(&page.text(), "csrf");
    h.advance_secs(301);
    let late = b.post(&h, "/sign-in/code", &[("csrf", &csrf), ("code", &h.totp_code(&user))]).await;
    assert_redirect(&late, "/sign-in?start-again", "too late");

    b.post(&h, "/sign-in", &[("username", &user.username), ("password", PASSWORD)]).await;
    let page = b.get(&h, "/sign-in/code?recovery").await;
    assert!(page.text().contains("Recovery code"), "{}", page.text());
    let csrf = field(&page.text(), "csrf");
    let code = user.recovery_codes[0].clone();
    assert_redirect(&b.post(&h, "/sign-in/code", &[("csrf", &csrf), ("recovery_code", &code)]).await, "/", "in");
    let mut again = Browser::default();
    again.post(&h, "/sign-in", &[("username", &user.username), ("password", PASSWORD)]).await;
    let csrf = field(&again.get(&h, "/sign-in/code?recovery").await.text(), "csrf");
    let reused = again.post(&h, "/sign-in/code", &[("csrf", &csrf), ("recovery_code", &code)]).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED, "a recovery code works once");
}

#[tokio::test]
async fn the_account_state_is_named_in_plain_words_only_after_the_right_password() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let pending = h.victim(SCHOOL_A, Role::SchoolUser, pigeonpost::domain::UserStatus::Requested).await;
    let pending = h.state.repo().get_user(pending).await.expect("get").expect("user");
    let right = Browser::default()
        .post(&h, "/sign-in", &[("username", pending.username.as_str()), ("password", PASSWORD)])
        .await;
    assert!(right.text().contains("waiting for approval"), "{}", right.text());
    let wrong = Browser::default()
        .post(&h, "/sign-in", &[("username", pending.username.as_str()), ("password", "Not-The-Password-1")])
        .await;
    assert!(!wrong.text().contains("approval"), "{}", wrong.text());
    assert!(wrong.text().contains("Enter a correct username and password"));
}

#[tokio::test]
async fn a_one_time_password_must_be_replaced_before_anything_else() {
    let h = TestApp::builder().settings(|s| s.identity.terms_version = 1).router().await;
    h.standard_orgs().await;
    let user = h.user_without_totp(SCHOOL_A, "fay.onetime", Role::SchoolUser).await;
    give_one_time_password(&h, &user).await;
    let (mut b, reply) = sign_in(&h, &user, "/account/terms").await;
    assert_redirect(&reply, "/account/password", "the change comes first");
    let old_cookie = b.cookie(COOKIE).expect("signed in").to_owned();
    let owed_elsewhere = b.get(&h, "/account/terms").await;
    assert_redirect(&owed_elsewhere, "/account/password", "the terms wait");
    assert_redirect(&b.get(&h, "/account/second-factor").await, "/account/password", "so does enrolment");
    for page in pigeonpost::web::pages().iter().filter(|p| !p.public && p.method == Method::GET) {
        if page.path.starts_with("/account/") || page.path.contains('{') {
            continue;
        }
        let reply = b.get(&h, page.path).await;
        assert_redirect(&reply, "/account/password", page.path);
    }

    let form = b.get(&h, "/account/password").await;
    assert!(form.text().contains("Choose a new password"), "{}", form.text());
    let csrf = field(&form.text(), "csrf");
    let weak = b
        .post(
            &h,
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.text().contains("govuk-error-summary"), "{}", weak.text());
    assert!(weak.text().contains("href=\"#new_password\""), "{}", weak.text());
    let new = "Velvet-Harbour-Compass-93";
    let changed = b
        .post(
            &h,
            "/account/password",
            &[("csrf", &csrf), ("current_password", PASSWORD), ("new_password", new), ("confirm_password", new)],
        )
        .await;
    assert_redirect(&changed, "/account/terms", "on to the next step");
    assert_ne!(b.cookie(COOKIE), Some(old_cookie.as_str()), "a new session after the change");
    let old = Browser { cookies: vec![(COOKIE.into(), old_cookie)] }.get(&h, "/account/terms").await;
    assert!(location(&old).starts_with("/sign-in"), "the old session ended: {}", location(&old));
    assert_eq!(b.get(&h, "/account/terms").await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_terms_are_shown_when_due_and_accepting_them_moves_on() {
    let dir = tempfile::tempdir().expect("dir");
    let terms = dir.path().join("terms.txt");
    std::fs::write(&terms, "Use this service only for school business.\n\nKeep pupil data safe.").expect("terms");
    let h = TestApp::builder()
        .settings(|s| {
            s.identity.terms_version = 2;
            s.identity.terms_path = terms.clone();
        })
        .router()
        .await;
    h.standard_orgs().await;
    let user = h.user_without_totp(SCHOOL_A, "gus.terms", Role::SchoolUser).await;
    let (mut b, reply) = sign_in(&h, &user, "/").await;
    assert_redirect(&reply, "/account/terms", "terms due");
    let page = b.get(&h, "/account/terms").await;
    assert!(page.text().contains("Keep pupil data safe."), "{}", page.text());
    assert_eq!(field(&page.text(), "version"), "2");
    let csrf = field(&page.text(), "csrf");
    assert_redirect(&b.post(&h, "/account/terms", &[("csrf", &csrf), ("version", "2")]).await, "/", "accepted");
    assert_eq!(h.state.repo().accepted_terms_version(user.id).await.expect("terms"), Some(2));
    assert!(b.get(&h, "/account/terms").await.text().contains("You have accepted these terms"));
}

#[tokio::test]
async fn enrolling_a_second_factor_shows_an_svg_qr_code_then_the_recovery_codes_once() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user_without_totp(TEAM, "hal.enrol", Role::LaUser).await;
    let (mut b, reply) = sign_in(&h, &user, "/").await;
    assert_redirect(&reply, "/account/second-factor", "an LA role must enrol");
    let start = b.get(&h, "/account/second-factor").await;
    let csrf = field(&start.text(), "csrf");
    let scan = b.post(&h, "/account/second-factor", &[("csrf", &csrf)]).await;
    assert_eq!(scan.status, StatusCode::OK, "{}", scan.text());
    let text = scan.text();
    assert!(text.contains("<svg") && text.contains("</svg>"), "{text}");
    assert!(!text.contains("<?xml"), "the SVG sits inside the page");
    let secret_start = text.find("id=\"secret\">").expect("the secret as text") + "id=\"secret\">".len();
    let secret: String = text[secret_start..].split('<').next().unwrap_or_default().replace(' ', "");
    let secret = secret_from_uri(&format!("otpauth://totp/x?secret={secret}"));
    let sealed = field(&text, "sealed");

    let wrong = b.post(&h, "/account/second-factor", &[("csrf", &csrf), ("sealed", &sealed), ("code", "12345")]).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.text().contains("<svg"), "the code is shown again to try once more");
    let code = totp_code_at(&secret, h.now());
    let done = b.post(&h, "/account/second-factor", &[("csrf", &csrf), ("sealed", &sealed), ("code", &code)]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert!(done.text().contains("They will not be shown again"), "{}", done.text());
    let codes: Vec<String> =
        done.text().split("<li><code>").skip(1).map(|s| s.split('<').next().unwrap_or_default().to_owned()).collect();
    assert_eq!(codes.len(), 10, "{}", done.text());
    let again = b.post(&h, "/account/second-factor", &[("csrf", &csrf), ("sealed", &sealed), ("code", &code)]).await;
    assert!(!again.text().contains(&codes[0]), "the codes are shown once");
    assert!(again.text().contains("already set up"), "{}", again.text());
    let login = h
        .request(
            Method::POST,
            "/api/v1/session",
            None,
            Some(json!({"username": user.username, "password": PASSWORD, "recovery_code": codes[3]})),
        )
        .await;
    assert_eq!(login.status, StatusCode::CREATED, "the codes shown are the ones in force: {}", login.json);
}

#[tokio::test]
async fn signing_out_ends_the_session_for_the_browser_and_the_api() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user_without_totp(SCHOOL_A, "ida.out", Role::SchoolUser).await;
    let session = h.login(&user).await;
    let web = h.web_session(&user).await;
    let mut b = Browser::with_session(&web);
    assert_eq!(b.get(&h, "/account/terms").await.status, StatusCode::OK);
    let out = b.post(&h, "/sign-out", &[("csrf", &web.csrf)]).await;
    assert_redirect(&out, "/sign-in?signed-out", "signed out");
    assert!(b.cookie(COOKIE).is_none(), "the browser forgets the cookie");
    assert!(b.get(&h, "/sign-in?signed-out").await.text().contains("You have signed out"));
    let old = Browser::with_session(&web).get(&h, "/account/terms").await;
    assert!(location(&old).starts_with("/sign-in"), "{}", location(&old));
    let refresh = h.refresh(&web.cookie).await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED, "the session is over on the API side too");
    assert_eq!(h.get("/api/v1/session", &session.access).await.status, StatusCode::OK, "other sessions go on");
}

#[tokio::test]
async fn an_api_logout_or_an_administrator_disabling_the_account_ends_the_web_session_at_once() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user_without_totp(SCHOOL_A, "jo.ended", Role::SchoolUser).await;
    let session = h.login(&user).await;
    let web = WebSession { cookie: session.refresh.clone(), csrf: String::new() };
    assert_eq!(Browser::with_session(&web).get(&h, "/account/terms").await.status, StatusCode::OK);
    assert_eq!(
        h.request(Method::DELETE, "/api/v1/session", Some(&session.access), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(location(&Browser::with_session(&web).get(&h, "/account/terms").await).starts_with("/sign-in"));

    let web = h.web_session(&user).await;
    assert_eq!(Browser::with_session(&web).get(&h, "/account/terms").await.status, StatusCode::OK);
    let admin = h.user(TEAM, "la.admin", Role::LaAdmin).await;
    let admin = h.login(&admin).await;
    let disabled = h.post(&format!("/api/v1/users/{}/disable", user.id_str()), &admin.access, json!({})).await;
    assert!(disabled.status.is_success(), "{}", disabled.json);
    assert!(location(&Browser::with_session(&web).get(&h, "/account/terms").await).starts_with("/sign-in"));
}

#[tokio::test]
async fn a_form_without_this_sessions_token_or_from_another_site_is_refused_and_changes_nothing() {
    let h = TestApp::builder().settings(|s| s.identity.terms_version = 1).router().await;
    h.standard_orgs().await;
    let user = h.user_without_totp(SCHOOL_A, "kim.forms", Role::SchoolUser).await;
    let other = h.user_without_totp(SCHOOL_B, "lee.other", Role::SchoolUser).await;
    let web = h.web_session(&user).await;
    let theirs = h.web_session(&other).await;
    let mut b = Browser::with_session(&web);
    let same_site = [("origin", "https://pigeonpost.test"), ("sec-fetch-site", "same-origin")];
    let attempts: Vec<(&str, Fields, Fields)> = vec![
        ("no token", vec![("version", "1")], same_site.to_vec()),
        ("another session's token", vec![("version", "1"), ("csrf", &theirs.csrf)], same_site.to_vec()),
        ("another origin", vec![("version", "1"), ("csrf", &web.csrf)], vec![("origin", "https://evil.example")]),
        ("cross-site", vec![("version", "1"), ("csrf", &web.csrf)], vec![("sec-fetch-site", "cross-site")]),
    ];
    for (what, fields, site) in &attempts {
        for path in ["/account/terms", "/sign-out", "/account/second-factor", "/account/password"] {
            let reply = b.post_from(&h, path, fields, site).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{what} to {path}: {}", reply.text());
        }
        let sign_in = Browser::default()
            .post_from(&h, "/sign-in", &[("username", &user.username), ("password", PASSWORD)], site)
            .await;
        if site.len() == 1 {
            assert_eq!(sign_in.status, StatusCode::FORBIDDEN, "{what}: the sign-in form too");
        }
    }
    assert_eq!(h.state.repo().accepted_terms_version(user.id).await.expect("terms"), None, "nothing accepted");
    assert_eq!(b.get(&h, "/account/terms").await.status, StatusCode::OK, "still signed in");

    let mut code = Browser::default();
    let with_totp = school_user_with_totp(&h, "max.code").await;
    code.post(&h, "/sign-in", &[("username", &with_totp.username), ("password", PASSWORD)]).await;
    h.fresh_totp_step(&with_totp);
    let forged = code.post(&h, "/sign-in/code", &[("code", &h.totp_code(&with_totp)), ("csrf", &web.csrf)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "the code form's token is bound to its sign-in");
    assert!(code.cookie(COOKIE).is_none());
}

#[tokio::test]
async fn only_a_path_on_this_site_is_followed_after_signing_in() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user_without_totp(SCHOOL_A, "ned.next", Role::SchoolUser).await;
    for (next, to) in [
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/account/terms?x=1", "/account/terms?x=1"),
    ] {
        let (_, reply) = sign_in(&h, &user, next).await;
        assert_redirect(&reply, to, next);
    }
    let page = Browser::default().get(&h, "/sign-in?next=%2F%2Fevil.example").await;
    assert!(!page.text().contains("evil.example"), "{}", page.text());
}

#[tokio::test]
async fn a_session_cookie_split_over_two_cookie_headers_on_http2_still_resolves() {
    let mut headers = HeaderMap::new();
    headers.append(header::COOKIE, HeaderValue::from_static("theme=dark"));
    headers.append(header::COOKIE, HeaderValue::from_str(&format!("{COOKIE}=abc123; lang=en")).expect("header"));
    assert_eq!(pigeonpost::web::session::session_token(&headers).as_deref(), Some("abc123"));

    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let user = h.user_without_totp(SCHOOL_A, "ola.split", Role::SchoolUser).await;
    let web = h.web_session(&user).await;
    let request = Request::builder()
        .uri("/account/terms")
        .version(Version::HTTP_2)
        .header(header::HOST, HOST)
        .header(header::COOKIE, "theme=dark")
        .header(header::COOKIE, format!("{COOKIE}={}", web.cookie))
        .body(Body::empty())
        .expect("request");
    assert_eq!(h.send(request).await.status, StatusCode::OK);
}

/// Every page route and form action, with each `{...}` filled in.
fn routes(id: &str) -> Vec<(Method, &'static str, String, bool)> {
    pigeonpost::web::pages()
        .iter()
        .map(|p| {
            let path = p
                .path
                .split('/')
                .map(|seg| if seg.starts_with('{') { id.to_owned() } else { seg.to_owned() })
                .collect::<Vec<_>>()
                .join("/");
            (p.method.clone(), p.path, path, p.public)
        })
        .collect()
}

const TEAM_ONLY: [&str; 7] =
    ["/collect", "/collection", "/batches", "/quarantine", "/fsm", "/unclaimed", "/distributions"];

#[tokio::test]
async fn every_page_and_form_needs_a_session_another_organisations_transfer_is_not_found_and_team_pages_refuse_schools()
{
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let sender = h.api_key(SCHOOL_A, None).await;
    let id = h.upload_ok(&sender.token, TEAM, "census.csv").await;
    let outsider = h.user_without_totp(SCHOOL_B, "pat.outside", Role::SchoolUser).await;
    let outsider = h.web_session(&outsider).await;
    let school = h.user_without_totp(SCHOOL_A, "quin.school", Role::SchoolUser).await;
    let school = h.web_session(&school).await;
    let marker = "census.csv";

    for (method, template, path, public) in routes(&id) {
        let what = format!("{method} {path}");
        let mut nobody = Browser::default();
        if !public {
            let reply = if method == Method::GET {
                nobody.get(&h, &path).await
            } else {
                nobody.post(&h, &path, &[("csrf", "x")]).await
            };
            assert!(!reply.status.is_success(), "{what} without a session: {}", reply.status);
            assert!(!reply.text().contains(marker) && !reply.text().contains(&id), "{what} shows nothing");
            if method == Method::GET {
                assert!(location(&reply).starts_with("/sign-in"), "{what}: {}", location(&reply));
            } else {
                assert!(
                    reply.status == StatusCode::FORBIDDEN || location(&reply).starts_with("/sign-in"),
                    "{what}: {} {}",
                    reply.status,
                    location(&reply)
                );
            }
        }
        if template.contains("{id}") {
            let mut b = Browser::with_session(&outsider);
            let reply = if method == Method::GET {
                b.get(&h, &path).await
            } else {
                b.post(&h, &path, &[("csrf", &outsider.csrf)]).await
            };
            // A team's page refuses a school before it looks at the id, the same for every id.
            let team_only = TEAM_ONLY.iter().any(|t| path.starts_with(&format!("{t}/")));
            let refused = reply.status == StatusCode::NOT_FOUND || (team_only && reply.status == StatusCode::FORBIDDEN);
            assert!(refused, "{what} for another organisation: {}", reply.status);
            assert!(!reply.text().contains(marker), "{what} shows nothing of it");
        }
        if TEAM_ONLY.iter().any(|t| path == *t || path.starts_with(&format!("{t}/"))) {
            let mut b = Browser::with_session(&school);
            let reply = if method == Method::GET {
                b.get(&h, &path).await
            } else {
                b.post(&h, &path, &[("csrf", &school.csrf)]).await
            };
            let refused = reply.status == StatusCode::FORBIDDEN || reply.status == StatusCode::NOT_FOUND;
            assert!(refused, "{what} for a school: {}", reply.status);
        }
    }
}
