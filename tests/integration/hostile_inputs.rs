//! The hostile-input suite: every API operation, called by nobody, by a school's API key and by
//! an LA administrator's session, with hostile values (SQL, path traversal, markup, template and
//! lookup injections, control and direction characters, formula prefixes, huge and odd numbers,
//! long text) in each path parameter, in every query parameter the API reads and in every
//! body field. Each answer must be no 5xx, a refusal in the JSON error shape, nothing stored, and
//! the server still answering.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use pigeonpost::domain::Role;
use serde_json::{json, Map, Value};

use crate::support::app::TestApp;
use crate::support::router::{Harness, Reply, SCHOOL_A, TEAM};

const HOSTILE: &[&str] = &[
    "' OR '1'='1' --",
    "1; DROP TABLE transfers; --",
    "../../../../etc/passwd",
    "..%2F..%2Fkeyring.json",
    "<script>alert(document.cookie)</script>",
    "${jndi:ldap://127.0.0.1/a}",
    "{{7*7}}<%= 7*7 %>",
    "=HYPERLINK(\"http://127.0.0.1\",\"x\")",
    "a\u{202e}lmx.exe",
    "nul\u{0}byte\r\nX-Injected: 1",
    "-1",
    "9223372036854775808",
    "4294967295",
    "00000000-0000-0000-0000-000000000000",
];

/// Every parameter name the API's operations read from the query or a JSON body.
const FIELDS: &[&str] = &[
    "channel",
    "to",
    "from",
    "filename",
    "message",
    "reply_to",
    "cursor",
    "limit",
    "box",
    "state",
    "since",
    "org",
    "name",
    "kind",
    "slug",
    "dfe",
    "urn",
    "username",
    "password",
    "display_name",
    "role",
    "reason",
    "channels",
    "send",
    "receive",
    "expires_at",
    "scope",
    "target",
    "until",
    "on",
    "code",
    "totp",
    "recovery_code",
    "current_password",
    "new_password",
    "refresh_token",
    "format",
    "older_than_days",
    "recipient",
    "function",
    "q",
];

/// Long, but short enough that 40 query parameters of it still make an address a client can
/// send (the body carries it 40 times too).
fn long_value() -> String {
    "A".repeat(1_500)
}

/// Percent-encodes every byte but the unreserved ones, so the value arrives as written.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn path_with(template: &str, value: &str) -> String {
    template
        .split('/')
        .map(|part| if part.starts_with('{') { encode(value) } else { part.to_owned() })
        .collect::<Vec<_>>()
        .join("/")
}

fn query_with(value: &str) -> String {
    let v = encode(value);
    FIELDS.iter().map(|f| format!("{f}={v}")).collect::<Vec<_>>().join("&")
}

fn body_with(value: &str) -> Value {
    let mut body = Map::new();
    for field in FIELDS {
        body.insert((*field).to_owned(), json!(value));
    }
    Value::Object(body)
}

fn request(method: &Method, uri: &str, bearer: Option<&str>, body: Option<&Value>) -> Request<Body> {
    let mut builder = Request::builder().method(method.clone()).uri(uri);
    if let Some(token) = bearer {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    match body {
        Some(v) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(v).unwrap()))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

/// What the database holds, row counts per table that an answer could add to.
async fn stored(h: &Harness) -> Vec<(&'static str, i64)> {
    let url = format!("sqlite://{}", h.dir.path().join("pigeonpost.db").display());
    let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect(&url).await.unwrap();
    let mut counts = Vec::new();
    for table in ["transfers", "deliveries", "batches", "organisations", "users", "api_keys", "holds", "downloads"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&pool).await.unwrap();
        counts.push((table, n));
    }
    pool.close().await;
    counts
}

fn assert_answer(case: &str, reply: &Reply) {
    assert!(!reply.status.is_server_error(), "{case}: {} {}", reply.status, String::from_utf8_lossy(&reply.body));
    if reply.status.is_client_error() {
        let code = reply.json["error"].as_str().unwrap_or_default();
        let message = reply.json["message"].as_str().unwrap_or_default();
        assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{case}: {} without an error code: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        assert!(!message.is_empty(), "{case}: {} without a message", reply.status);
        assert!(
            !message.contains("sqlx") && !message.contains("SQLITE") && !message.contains("panicked"),
            "{case}: internals in {message}"
        );
    }
    if let Some(kind) = reply.headers.get(header::CONTENT_TYPE) {
        assert!(!kind.to_str().unwrap_or_default().starts_with("text/html"), "{case}: an API answer in HTML");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_in_every_parameter_of_every_operation_are_refused_cleanly_and_store_nothing() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let key = h.api_key(SCHOOL_A, Some(Harness::scope(&["*"], true, true))).await;
    let admin = h.user(TEAM, "la.admin", Role::LaAdmin).await;
    let session = h.login(&admin).await.access;
    let before = stored(&h).await;

    let operations: Vec<_> =
        pigeonpost::http::endpoints().into_iter().filter(|e| e.path.starts_with("/api/")).collect();
    let long = long_value();
    let values: Vec<&str> = HOSTILE.iter().copied().chain([long.as_str()]).collect();
    let mut cases = 0usize;
    for op in &operations {
        // Signing out or changing the password would end the session the later cases use.
        let ends_session =
            matches!(op.path, "/api/v1/session" | "/api/v1/session/password") && op.method != Method::GET;
        for value in &values {
            let uri = format!("{}?{}", path_with(op.path, value), query_with(value));
            let body = matches!(op.method, Method::POST | Method::PUT | Method::PATCH).then(|| body_with(value));
            for (who, bearer) in [
                ("nobody", None),
                ("a school's key", Some(key.token.as_str())),
                ("an LA admin", Some(session.as_str())),
            ] {
                if ends_session && who == "an LA admin" {
                    continue;
                }
                let case = format!("{} {} as {who} with {:?}", op.method, op.path, &value[..value.len().min(40)]);
                let reply = h.send(request(&op.method, &uri, bearer, body.as_ref())).await;
                assert_answer(&case, &reply);
                cases += 1;
            }
        }
        let health = h.request(Method::GET, "/healthz", None, None).await;
        assert_eq!(health.status, StatusCode::OK, "the server stopped answering after {} {}", op.method, op.path);
    }
    assert!(cases >= 300, "only {cases} cases");
    println!("{cases} hostile cases over {} operations", operations.len());
    assert_eq!(stored(&h).await, before, "a hostile request stored something");
    let me = h.get("/api/v1/session", &session).await;
    assert_eq!(me.status, StatusCode::OK, "the LA administrator's session survived: {}", me.json);
}
