//! Which routes answer without credentials, and that the route table's `public` flag and the
//! server's enforcement agree: every route not marked public answers 401 to a stranger.

mod inproc;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use inproc::Harness;
use pigeonpost::http::endpoints;

/// Fills the path parameters of a route template with values that would name something real.
fn plausible(path: &str) -> String {
    path.replace("{id}", &id_for(path)).replace("{org}", "8252001").replace("{function}", "finance")
}

fn id_for(path: &str) -> String {
    if path.starts_with("/api/v1/transfers") {
        "6f1c2c2e-8d4b-4a51-9c61-3b0d8f0f2a10".into()
    } else if path.starts_with("/api/v1/keys") {
        "0123456789abcdef".into()
    } else {
        "1".into()
    }
}

/// Fills them with values that name nothing and do not even parse.
fn implausible(path: &str) -> String {
    path.replace("{id}", "zzz").replace("{org}", "nowhere-at-all").replace("{function}", "NOPE")
}

#[test]
fn the_public_routes_are_exactly_the_probes_login_and_refresh() {
    let public: BTreeSet<(String, String)> =
        endpoints().into_iter().filter(|e| e.public).map(|e| (e.method.to_string(), e.path.to_owned())).collect();
    // Update this list deliberately, in the same change that adds a public route, and say why
    // the route needs no credentials.
    let expected: BTreeSet<(String, String)> =
        [("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/api/v1/session"), ("POST", "/api/v1/session/refresh")]
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
    assert_eq!(public, expected, "the public routes changed");
}

#[test]
fn no_method_and_path_appears_twice_in_the_route_table() {
    let mut seen = BTreeSet::new();
    for e in endpoints() {
        assert!(seen.insert((e.method.to_string(), e.path)), "{} {} is listed twice", e.method, e.path);
    }
}

fn request(method: &Method, path: &str, authorization: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(method.clone()).uri(path);
    if let Some(value) = authorization {
        builder = builder.header(header::AUTHORIZATION, value);
    }
    if *method == Method::GET || *method == Method::DELETE {
        builder.body(Body::empty()).expect("request")
    } else {
        builder.header(header::CONTENT_TYPE, "application/json").body(Body::from("{}")).expect("request")
    }
}

#[tokio::test]
async fn every_route_not_marked_public_answers_401_without_valid_credentials() {
    let h = Harness::new().await;
    h.standard_orgs().await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for e in endpoints().into_iter().filter(|e| !e.public) {
        for path in [plausible(e.path), implausible(e.path)] {
            for auth in [None, Some("Bearer not-a-token"), Some("Basic dXNlcjpwYXNzd29yZA=="), Some("Bearer pp_x_y")] {
                let reply = h.send(request(&e.method, &path, auth)).await;
                checked += 1;
                if reply.status != StatusCode::UNAUTHORIZED {
                    failures.push(format!("{} {path} with {auth:?}: {} {}", e.method, reply.status, reply.json));
                } else if reply.header("www-authenticate") != Some("Bearer realm=\"pigeonpost\"") {
                    failures.push(format!("{} {path}: 401 without the WWW-Authenticate challenge", e.method));
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} requests were made: is the route table empty?");
    assert!(failures.is_empty(), "routes that did not answer 401 to a stranger:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn the_public_routes_answer_without_credentials() {
    let h = Harness::new().await;
    for path in ["/healthz", "/readyz"] {
        let reply = h.request(Method::GET, path, None, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.json);
    }
    // Login and refresh are reachable (they say no to bad credentials, not to missing ones).
    let login = h
        .request(
            Method::POST,
            "/api/v1/session",
            None,
            Some(serde_json::json!({"username": "nobody", "password": "x"})),
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login.error(), "wrong_username_or_password");
    let refresh = h.refresh("not-a-refresh-token").await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn paths_with_dot_segments_encoded_dots_semicolons_backslashes_or_double_slashes_get_400_before_routing() {
    let h = Harness::new().await;
    h.standard_orgs().await;
    let key = h.api_key(inproc::SCHOOL_A, None).await;
    let odd = [
        // public routes
        (Method::GET, "/api/v1/../../healthz"),
        (Method::GET, "/api/%2e%2e/healthz"),
        (Method::GET, "/api/%2E%2E/readyz"),
        (Method::GET, "/healthz;x=1"),
        (Method::GET, "//healthz"),
        (Method::GET, "/api/v1/%5creadyz"),
        (Method::GET, "/api\\v1\\..\\..\\healthz"),
        (Method::POST, "/api/v1/session/../session"),
        (Method::POST, "/api/v1/session;jsessionid=1"),
        (Method::POST, "/api/v1//session"),
        (Method::POST, "/api/v1/session%2frefresh"),
        // routes that need credentials
        (Method::GET, "/api/v1/transfers/../organisations"),
        (Method::GET, "/api/v1/%2e%2e/v1/users"),
        (Method::GET, "/api/v1/transfers;a=b"),
        (Method::GET, "/api/v1//transfers"),
        (Method::GET, "/api/v1/transfers/./x"),
        (Method::GET, "/api/v1\\transfers"),
        (Method::POST, "/api/v1/users\\1\\disable"),
        (Method::DELETE, "/api/v1/keys/%2e%2e"),
        (Method::GET, "/api/v1/organisations/825%2f2001"),
        (Method::GET, "/api/v1/users/1%00"),
    ];
    let mut failures = Vec::new();
    for (method, path) in &odd {
        for auth in [None, Some(format!("Bearer {}", key.token))] {
            let reply = h.send(request(method, path, auth.as_deref())).await;
            if reply.status != StatusCode::BAD_REQUEST || reply.error() != "invalid_path" {
                failures.push(format!(
                    "{method} {path} (credentials: {}): {} {}",
                    auth.is_some(),
                    reply.status,
                    reply.json
                ));
            }
        }
    }
    assert!(failures.is_empty(), "odd paths that were not refused with 400 invalid_path:\n{}", failures.join("\n"));
}
