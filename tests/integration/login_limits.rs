//! The login limits hold against attempts sent all at once: each attempt is counted before its
//! password is checked, so no more passwords are checked than the limits allow, however many
//! requests arrive together.

use crate::support::app::TestApp;
use crate::support::router::{build_request, Harness, Reply, PASSWORD, SCHOOL_A};
use axum::http::{Method, StatusCode};
use futures_util::future::join_all;
use pigeonpost::domain::Role;
use pigeonpost::http::request_context::ClientAddr;
use serde_json::json;

async fn login_from(h: &Harness, addr: Option<&str>, username: &str, password: &str) -> Reply {
    let mut request = build_request(
        Method::POST,
        "/api/v1/session",
        None,
        Some(json!({ "username": username, "password": password })),
    );
    if let Some(addr) = addr {
        let addr = format!("{addr}:40000").parse().expect("socket address");
        request.extensions_mut().insert(ClientAddr(addr));
    }
    h.send(request).await
}

fn count(replies: &[Reply], status: StatusCode) -> usize {
    replies.iter().filter(|r| r.status == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_logins_sent_together_for_one_user_check_no_more_wrong_passwords_than_the_limit() {
    // Room for every attempt in the hashing queue, so only the login limits refuse any.
    let h = TestApp::builder().settings(|s| s.identity.hash_queue = Some(1000)).router().await;
    h.standard_orgs().await;
    let user = h.user(SCHOOL_A, "alice", Role::SchoolUser).await;
    let limit = h.state.settings().identity.lockout_threshold as usize;
    let attempts = (0..40).map(|i| {
        let password = if i == 20 { PASSWORD.to_owned() } else { format!("Wrong-Password-{i}-xyz") };
        let (h, username) = (&h, user.username.clone());
        async move { login_from(h, None, &username, &password).await }
    });
    let replies = join_all(attempts).await;
    let wrong = count(&replies, StatusCode::UNAUTHORIZED);
    let accepted = count(&replies, StatusCode::CREATED);
    let throttled = count(&replies, StatusCode::TOO_MANY_REQUESTS);
    assert!(wrong <= limit, "{wrong} wrong passwords were checked, the limit is {limit}");
    assert_eq!(wrong + accepted + throttled, 40, "every attempt is answered as checked or throttled");
    for r in replies.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS) {
        assert_eq!(r.error(), "too_many_attempts", "{}", r.json);
        assert!(r.header("retry-after").is_some(), "a throttled login says when to try again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_failures_sent_together_from_one_address_check_no_more_than_its_limit() {
    // Room for every attempt in the hashing queue, so only the login limits refuse any.
    let h = TestApp::builder().settings(|s| s.identity.hash_queue = Some(1000)).router().await;
    h.standard_orgs().await;
    let limit = h.state.settings().identity.address_threshold as usize;
    let attempts = (0..200).map(|i| {
        let h = &h;
        async move { login_from(h, Some("192.0.2.9"), &format!("ghost.{i}"), "Wrong-Password-xyz").await }
    });
    let replies = join_all(attempts).await;
    let checked = count(&replies, StatusCode::UNAUTHORIZED);
    assert_eq!(checked, limit, "passwords checked from one address, against a limit of {limit}");
    assert_eq!(count(&replies, StatusCode::TOO_MANY_REQUESTS), 200 - limit, "the rest are throttled");
    // Another address is not held back by the first one's failures.
    let other = login_from(&h, Some("192.0.2.10"), "ghost.other", "Wrong-Password-xyz").await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED, "{}", other.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_beyond_the_hashing_queue_are_refused_as_busy_while_health_still_answers() {
    let h = TestApp::builder()
        .settings(|s| {
            s.identity.hash_concurrency = Some(1);
            s.identity.hash_queue = Some(2);
        })
        .router()
        .await;
    h.standard_orgs().await;
    let attempts =
        (0..40).map(|i| {
            let h = &h;
            async move {
                login_from(h, Some(&format!("192.0.2.{}", i + 20)), &format!("ghost.{i}"), "Wrong-Password-xyz").await
            }
        });
    let health = async {
        tokio::task::yield_now().await;
        h.send(build_request(Method::GET, "/healthz", None, None)).await
    };
    let (replies, health) = tokio::join!(join_all(attempts), health);
    assert_eq!(health.status, StatusCode::OK, "/healthz answers during a login flood: {}", health.json);
    let busy = count(&replies, StatusCode::SERVICE_UNAVAILABLE);
    assert!(busy > 0, "with one hash at a time and two waiting, some of 40 logins are refused as busy");
    assert!(count(&replies, StatusCode::UNAUTHORIZED) > 0, "the logins that got a turn were checked");
    assert_eq!(busy + count(&replies, StatusCode::UNAUTHORIZED), 40, "every login is checked or refused as busy");
    for r in replies.iter().filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE) {
        assert_eq!(r.error(), "server_busy", "{}", r.json);
        assert_eq!(r.header("retry-after"), Some("1"), "a busy refusal says when to try again");
    }
}
