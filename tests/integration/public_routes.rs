//! Which routes answer without credentials, and that the route table's `public` flag and the
//! server's enforcement agree: every route not marked public answers 401 to a stranger.

use std::collections::BTreeSet;

use crate::support::app::TestApp;
use crate::support::router::Harness;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
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
fn the_public_routes_are_exactly_the_probes_login_refresh_and_the_api_description() {
    let public: BTreeSet<(String, String)> =
        endpoints().into_iter().filter(|e| e.public).map(|e| (e.method.to_string(), e.path.to_owned())).collect();
    // Update this list deliberately, in the same change that adds a public route, and say why
    // the route needs no credentials. The OpenAPI document describes the API and holds no data.
    let expected: BTreeSet<(String, String)> = [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("POST", "/api/v1/session"),
        ("POST", "/api/v1/session/refresh"),
        ("GET", "/api/v1/openapi.json"),
    ]
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
    let h = TestApp::builder().router().await;
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
    let h = TestApp::builder().router().await;
    for path in ["/healthz", "/readyz", "/api/v1/openapi.json"] {
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
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let key = h.api_key(crate::support::router::SCHOOL_A, None).await;
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

// ----- the OpenAPI document -----

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

async fn served_document(h: &Harness) -> serde_json::Value {
    let reply = h.request(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json["openapi"], "3.1.0");
    reply.json
}

/// Every (method, path, operation) of the document.
fn operations(doc: &serde_json::Value) -> Vec<(Method, String, serde_json::Value)> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method");
                found.push((method, path.clone(), op.clone()));
            }
        }
    }
    found
}

#[tokio::test]
async fn every_route_in_the_table_is_in_the_openapi_document_with_its_method_and_nothing_else_is() {
    let h = TestApp::builder().router().await;
    let doc = served_document(&h).await;
    let documented: BTreeSet<(String, String)> =
        operations(&doc).into_iter().map(|(m, p, _)| (m.to_string(), p)).collect();
    let table: BTreeSet<(String, String)> =
        endpoints().into_iter().map(|e| (e.method.to_string(), e.path.to_owned())).collect();
    let undocumented: Vec<_> = table.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&table).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes without a #[utoipa::path] in their module's Api: {undocumented:?}\n\
         documented operations the route table does not have: {unrouted:?}"
    );
    assert!(table.len() > 50, "only {} routes: is the route table empty?", table.len());
}

#[tokio::test]
async fn every_operation_says_whether_it_needs_the_bearer_credential_and_describes_its_errors_with_their_codes() {
    let h = TestApp::builder().router().await;
    let doc = served_document(&h).await;
    let public: BTreeSet<(String, String)> =
        endpoints().into_iter().filter(|e| e.public).map(|e| (e.method.to_string(), e.path.to_owned())).collect();
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let error_body = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error_body["required"], serde_json::json!(["error", "message"]), "{error_body}");
    let mut failures = Vec::new();
    for (method, path, op) in operations(&doc) {
        let here = format!("{method} {path}");
        let responses = op["responses"].as_object().expect("responses");
        if public.contains(&(method.to_string(), path.clone())) {
            if op.get("security").is_some() {
                failures.push(format!("{here}: public, but documented as needing a credential"));
            }
        } else {
            if op["security"] != serde_json::json!([{ "bearer": [] }]) {
                failures.push(format!("{here}: needs a credential, but the document does not say so"));
            }
            if !responses.contains_key("401") {
                failures.push(format!("{here}: no 401"));
            }
        }
        if !responses.keys().any(|s| s.starts_with('2')) {
            failures.push(format!("{here}: no success response"));
        }
        for (status, response) in responses.iter().filter(|(s, _)| s.as_str() >= "400") {
            if path == "/readyz" && status == "503" {
                continue; // the probe answers its own shape
            }
            let schema = &response["content"]["application/json"]["schema"];
            let codes = schema["allOf"][1]["properties"]["error"]["enum"].as_array().cloned().unwrap_or_default();
            if schema["allOf"][0]["$ref"] != "#/components/schemas/ErrorBody" || codes.is_empty() {
                failures.push(format!("{here}: the {status} names no error codes: {response}"));
            }
        }
    }
    assert!(failures.is_empty(), "operations described wrongly:\n{}", failures.join("\n"));
}

/// The `$ref` a request body's schema points at (through `oneOf` for an optional body).
fn referenced_schema<'a>(doc: &'a serde_json::Value, schema: &serde_json::Value) -> Option<&'a serde_json::Value> {
    let reference =
        schema.get("$ref").or_else(|| schema["oneOf"].as_array()?.iter().find_map(|s| s.get("$ref")))?.as_str()?;
    let name = reference.strip_prefix("#/components/schemas/")?;
    doc["components"]["schemas"].get(name)
}

/// Path parameters that name things that do not exist (a body is read before anything is
/// looked up), and for a channel the slug the channel example carries.
fn for_a_body(path: &str) -> String {
    let id = if path.starts_with("/api/v1/users") { "999999".to_owned() } else { id_for(path) };
    path.replace("{id}", &id)
        .replace("{org}", "8252001")
        .replace("{function}", "finance")
        .replace("{slug}", "governors")
}

#[tokio::test]
async fn every_documented_json_request_body_has_an_example_that_its_handler_accepts() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let admin = h.user(crate::support::router::TEAM, "la-admin", pigeonpost::domain::Role::LaAdmin).await;
    let session = h.login(&admin).await;
    let doc = served_document(&h).await;
    let public: BTreeSet<(String, String)> =
        endpoints().into_iter().filter(|e| e.public).map(|e| (e.method.to_string(), e.path.to_owned())).collect();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        let Some(content) = op["requestBody"]["content"].as_object() else { continue };
        let here = format!("{method} {path}");
        let Some(json) = content.get("application/json") else {
            for media in content.keys() {
                if !["application/octet-stream", "multipart/form-data", "application/zip"].contains(&media.as_str()) {
                    failures.push(format!("{here}: a {media} body, neither JSON nor a file"));
                }
            }
            continue;
        };
        let example = json.get("example").cloned().or_else(|| {
            referenced_schema(&doc, &json["schema"]).and_then(|s| s["examples"].as_array()?.first().cloned())
        });
        let Some(example) = example else {
            failures.push(format!("{here}: the request body has no example"));
            continue;
        };
        checked += 1;
        let is_public = public.contains(&(method.to_string(), path.clone()));
        let reply = h.request(method.clone(), &for_a_body(&path), Some(&session.access), Some(example.clone())).await;
        // Anything but a 400 means the body was read as the handler's type: the example may
        // still be refused for what it asks (404, 409, 422), which is not the point here.
        if reply.status == StatusCode::BAD_REQUEST || (!is_public && reply.status == StatusCode::UNAUTHORIZED) {
            failures.push(format!("{here}: the example {example} was answered {} {}", reply.status, reply.json));
        }
        // The handler reads the body strictly, so the acceptance above means something.
        let mut wrong = example.clone();
        if let Some(fields) = wrong.as_object_mut() {
            fields.insert("not_a_field".into(), serde_json::json!(true));
            let reply = h.request(method.clone(), &for_a_body(&path), Some(&session.access), Some(wrong)).await;
            if ![StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY].contains(&reply.status) {
                failures.push(format!("{here}: an unknown field was answered {} {}", reply.status, reply.json));
            }
        }
    }
    assert!(checked >= 15, "only {checked} JSON request bodies are documented");
    assert!(failures.is_empty(), "request bodies described wrongly:\n{}", failures.join("\n"));
}
