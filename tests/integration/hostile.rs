//! What a hostile stranger tried against the release build (issue 19), each kept as a test: a
//! flood of refusals that must not grow the audit trail without limit, transfer codings we do
//! not speak, names that are not UTF-8, and the answers the HTTP layer gives on its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use pigeonpost::http::request_context::ClientAddr;
use pigeonpost::service::audit;
use pigeonpost::store::meta::AuditRecord;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::support::app::TestApp;
use crate::support::router::{Harness, Reply};

/// `POST /api/v1/session` with a body that is not JSON, as the tester sent it, from `from`.
async fn bad_login(h: &Harness, from: SocketAddr) -> Reply {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/session")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("not json"))
        .expect("request");
    request.extensions_mut().insert(ClientAddr(from));
    h.send(request).await
}

async fn events_after(h: &Harness, seq: u64) -> Vec<AuditRecord> {
    let mut all = Vec::new();
    let mut after = seq;
    loop {
        let page = h.state.repo().audit_from(after, 1000).await.expect("events");
        let Some(last) = page.last() else { return all };
        after = last.stored.seq;
        all.extend(page);
    }
}

/// Every refusal the events stand for: one each, plus the repeats each count carries.
fn refusals_accounted(events: &[AuditRecord]) -> u64 {
    events
        .iter()
        .map(|e| match e.stored.event.action.as_str() {
            "request.refused" => 1,
            "request.refused.repeated" => e.stored.event.details["repeats"].as_u64().expect("a count"),
            other => panic!("an anonymous flood wrote {other}"),
        })
        .sum()
}

async fn assert_chain_holds(h: &Harness) {
    let v = audit::verify(&h.state, None).await.expect("verify");
    assert!(v.holds(), "the audit chain holds: {v:?}");
}

#[tokio::test]
async fn a_flood_of_bad_anonymous_logins_leaves_a_few_events_that_count_them_all() {
    let h = TestApp::builder().router().await;
    let before = h.state.repo().audit_head().await.expect("head").0;
    let from: SocketAddr = "198.51.100.7:40000".parse().expect("address");
    for _ in 0..10_000 {
        let reply = bad_login(&h, from).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    }
    let during = events_after(&h, before).await;
    assert_eq!(during.len(), 1, "only the first refusal of the window is written at once");
    let first = &during[0].stored.event;
    assert_eq!(first.action, "request.refused");
    assert_eq!(first.actor.client_addr.as_deref(), Some("198.51.100.7"));

    // Once the window has passed, the next refusal writes the count of the last window first.
    h.advance_secs(61);
    assert_eq!(bad_login(&h, from).await.status, StatusCode::BAD_REQUEST);
    let events = events_after(&h, before).await;
    let actions: Vec<&str> = events.iter().map(|e| e.stored.event.action.as_str()).collect();
    assert_eq!(actions, ["request.refused", "request.refused.repeated", "request.refused"]);
    let count = &events[1].stored.event;
    assert_eq!(count.details["repeats"], 9_999);
    assert_eq!(count.details["route"], "/api/v1/session");
    assert_eq!(count.details["status"], 400);
    assert_eq!(count.actor.client_addr.as_deref(), Some("198.51.100.7"));
    assert_eq!(count.details["summary"], "9999 more refusals of this kind from this source");
    assert_eq!(refusals_accounted(&events), 10_001, "every refusal is accounted for");
    assert_chain_holds(&h).await;
}

#[tokio::test]
async fn a_flood_spread_over_many_addresses_is_bounded_by_the_sources_tallied() {
    let h = TestApp::builder().settings(|s| s.audit.anonymous_refusal_sources = 16).router().await;
    let before = h.state.repo().audit_head().await.expect("head").0;
    for n in 0..10_000u32 {
        let from = SocketAddr::from(([10, (n >> 16) as u8, (n >> 8) as u8, n as u8], 40000));
        assert_eq!(bad_login(&h, from).await.status, StatusCode::BAD_REQUEST);
    }
    // Shutting down writes the counts still open.
    audit::flush_refusals(&h.state, true).await;
    let events = events_after(&h, before).await;
    assert_eq!(events.len(), 16 + 1 + 1, "one per source tallied, the first beyond them, and one count");
    let overflow = events.last().expect("the count");
    assert_eq!(overflow.stored.event.action, "request.refused.repeated");
    assert_eq!(overflow.stored.event.details["repeats"], 10_000 - 17);
    assert_eq!(overflow.stored.event.actor.client_addr, None);
    assert_eq!(refusals_accounted(&events), 10_000);
    assert_chain_holds(&h).await;
}

#[tokio::test]
async fn refusals_of_people_who_are_signed_in_are_still_written_one_by_one() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let key = h.api_key(crate::support::router::SCHOOL_A, None).await;
    let before = h.state.repo().audit_head().await.expect("head").0;
    for _ in 0..3 {
        let reply = h.get("/api/v1/transfers/not-an-id", &key.token).await;
        assert!(reply.status.is_client_error() && reply.status != StatusCode::UNAUTHORIZED, "{}", reply.status);
    }
    let events = events_after(&h, before).await;
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.stored.event.actor.id == key.id));
}

fn post_session_with(codings: &[&str]) -> Request<Body> {
    let mut builder =
        Request::builder().method(Method::POST).uri("/api/v1/session").header(header::CONTENT_TYPE, "application/json");
    for coding in codings {
        builder = builder.header(header::TRANSFER_ENCODING, *coding);
    }
    builder.body(Body::from("{}")).expect("request")
}

#[tokio::test]
async fn transfer_codings_other_than_one_chunked_are_refused_as_not_implemented() {
    let h = TestApp::builder().router().await;
    let refused: [&[&str]; 5] =
        [&["gzip, chunked"], &["chunked, chunked"], &["chunked", "chunked"], &["identity"], &["br"]];
    for codings in refused {
        let reply = h.send(post_session_with(codings)).await;
        assert_eq!(reply.status, StatusCode::NOT_IMPLEMENTED, "{codings:?}");
        assert_eq!(reply.error(), "unsupported_transfer_coding", "{codings:?}");
        assert!(reply.json["message"].as_str().is_some_and(|m| m.contains("chunked")), "{}", reply.json);
        assert_eq!(reply.header("connection"), Some("close"));
    }
    let read: [&[&str]; 3] = [&[], &["chunked"], &["Chunked"]];
    for codings in read {
        let reply = h.send(post_session_with(codings)).await;
        assert_ne!(reply.status, StatusCode::NOT_IMPLEMENTED, "{codings:?}: {}", reply.json);
    }
}

#[tokio::test]
async fn a_file_name_that_is_not_utf8_is_refused_and_nothing_is_stored() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let key = h.api_key(crate::support::router::SCHOOL_A, None).await;
    let team = crate::support::router::TEAM;
    for name in ["%FF.csv", "caf%E9.csv", "%C3.csv", "ok.csv&x%FE=1"] {
        let reply = h.upload(&key.token, team, name, b"upn,name\n").await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}: {}", reply.json);
        assert_eq!(reply.error(), "invalid_encoding", "{name}");
        let message = reply.json["message"].as_str().unwrap_or_default();
        assert!(message.contains("UTF-8") && message.contains("%C3%A9"), "{message}");
    }
    let sent = h.get("/api/v1/transfers?box=sent", &key.token).await;
    assert_eq!(sent.json["items"].as_array().map(Vec::len), Some(0), "nothing was stored: {}", sent.json);
    // A name that is UTF-8 is kept as it was written.
    let reply = h.upload(&key.token, team, "caf%C3%A9.csv", b"upn,name\n").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    assert_eq!(reply.json["filename"], "café.csv");
}

#[tokio::test]
async fn not_found_names_the_user_the_organisation_or_the_key_that_is_not_there() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let admin = h.user(crate::support::router::TEAM, "la.admin", pigeonpost::domain::Role::LaAdmin).await;
    let token = h.login(&admin).await.access;
    for (method, path, thing) in [
        (Method::GET, "/api/v1/users/999999", "no such user"),
        (Method::GET, "/api/v1/users/not-a-number", "no such user"),
        (Method::POST, "/api/v1/users/999999/disable", "no such user"),
        (Method::GET, "/api/v1/organisations/8259999", "no such organisation"),
        (Method::GET, "/api/v1/organisations/not%20a%20ref", "no such organisation"),
        (Method::DELETE, "/api/v1/keys/0123456789abcdef", "no such API key"),
    ] {
        let reply = h.request(method.clone(), path, Some(&token), None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}: {}", reply.json);
        let message = reply.json["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(thing), "{method} {path}: {message}");
        assert!(!message.contains("transfer"), "{method} {path}: {message}");
    }
}

#[tokio::test]
async fn a_method_a_route_does_not_answer_gets_405_in_the_json_error_shape() {
    let h = TestApp::builder().router().await;
    for (method, path) in [(Method::DELETE, "/api/v1/openapi.json"), (Method::PUT, "/api/v1/session")] {
        let reply = h.request(method.clone(), path, None, None).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(reply.error(), "method_not_allowed", "{method} {path}: {:?}", reply.body);
        assert!(reply.header("allow").is_some_and(|a| a.contains("GET") || a.contains("POST")), "{:?}", reply.headers);
    }
}

#[tokio::test]
async fn a_long_address_or_a_large_head_gets_414_or_431_in_the_json_error_shape() {
    let h = TestApp::builder().router().await;
    let long = format!("/api/v1/openapi.json?pad={}", "a".repeat(9 * 1024));
    let reply = h.request(Method::GET, &long, None, None).await;
    assert_eq!(reply.status, StatusCode::URI_TOO_LONG);
    assert_eq!(reply.error(), "uri_too_long", "{:?}", reply.body);

    let padded = Request::builder()
        .uri("/api/v1/openapi.json")
        .header("x-padding", "b".repeat(17 * 1024))
        .body(Body::empty())
        .expect("request");
    let reply = h.send(padded).await;
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(reply.error(), "headers_too_large", "{:?}", reply.body);

    // Just under both, the route answers as usual.
    let fits = format!("/api/v1/openapi.json?pad={}", "a".repeat(7 * 1024));
    assert_eq!(h.request(Method::GET, &fits, None, None).await.status, StatusCode::OK);
}

/// A TLS connection to the served app offering only `alpn`, trusting its development certificate.
async fn tls_to(app: &TestApp, alpn: &[u8]) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &app.dev_cert_pem()[..]) {
        roots.add(cert.expect("a certificate")).expect("trust it");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(("127.0.0.1", app.port())).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("server name").to_owned();
    let tls = TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn), "the server speaks {}", String::from_utf8_lossy(alpn));
    tls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_hands_a_gzip_chunked_body_on_and_the_server_answers_501() {
    let app = TestApp::builder().serve();
    for coding in ["gzip, chunked", "chunked\r\nTransfer-Encoding: chunked"] {
        let mut tls = tls_to(&app, b"http/1.1").await;
        let request = format!(
            "POST /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: {coding}\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"
        );
        tls.write_all(request.as_bytes()).await.expect("send");
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 501"), "{coding:?}: {answer}");
        assert!(answer.contains("\"unsupported_transfer_coding\""), "{answer}");
    }
}

/// One HTTP/2 frame: length, type, flags, stream id, payload (RFC 9113 §4.1).
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend(payload);
    f
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;

/// Reads frames until the connection ends (or `limit` passes), answering their types.
async fn frames_until_closed(tls: &mut TlsStream<TcpStream>, limit: Duration) -> Vec<(u8, Vec<u8>)> {
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(limit, tls.read_to_end(&mut bytes)).await;
    let mut frames = Vec::new();
    let mut at = 0;
    while at + 9 <= bytes.len() {
        let len = u32::from_be_bytes([0, bytes[at], bytes[at + 1], bytes[at + 2]]) as usize;
        let end = (at + 9 + len).min(bytes.len());
        frames.push((bytes[at + 3], bytes[at + 9..end].to_vec()));
        at += 9 + len;
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rapid_reset_flood_over_http2_gets_the_connection_closed() {
    let app = TestApp::builder().serve();
    let mut tls = tls_to(&app, b"h2").await;
    let mut burst = PREFACE.to_vec();
    burst.extend(frame(SETTINGS, 0, 0, &[]));
    // GET / over https, from HPACK's static table; each stream cancelled at once.
    for n in 0..1000u32 {
        let stream = 2 * n + 1;
        burst.extend(frame(HEADERS, 0x4 | 0x1, stream, &[0x82, 0x87, 0x84]));
        burst.extend(frame(RST_STREAM, 0, stream, &8u32.to_be_bytes()));
    }
    tls.write_all(&burst).await.expect("send the burst");
    let frames = frames_until_closed(&mut tls, Duration::from_secs(20)).await;
    let goaway = frames.iter().find(|(kind, _)| *kind == GOAWAY).expect("the server sends GOAWAY");
    let reason = u32::from_be_bytes(goaway.1[4..8].try_into().expect("an error code"));
    assert_eq!(reason, 0xb, "ENHANCE_YOUR_CALM, after {} frames", frames.len());
    assert_eq!(app.client.get(app.url("/healthz")).send().await.expect("healthz").status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settings_and_ping_flood_over_http2_stalls_only_its_own_connection() {
    let app = TestApp::builder().serve();
    let tls = tls_to(&app, b"h2").await;
    let (mut reader, mut writer) = tokio::io::split(tls);
    let mut chunk = Vec::new();
    for n in 0..1000u64 {
        chunk.extend(frame(PING, 0, 0, &n.to_be_bytes()));
        chunk.extend(frame(SETTINGS, 0, 0, &[]));
    }
    // The client sends 2,000,000 frames (26 MB) and reads none of the answers. No setting limits
    // how many SETTINGS or PING frames hyper answers, but h2 writes each answer before it reads
    // the next frame: once the unread answers fill the socket, the server stops reading this
    // connection and holds no more than a socket's worth of it, however long the flood.
    let mut flood = tokio::spawn(async move {
        writer.write_all(PREFACE).await?;
        for _ in 0..1000 {
            writer.write_all(&chunk).await?;
        }
        writer.flush().await
    });
    let sent_all = tokio::time::timeout(Duration::from_secs(5), &mut flood).await.is_ok();
    assert!(!sent_all, "the flood is held back once its answers are not read");
    // Everyone else is answered meanwhile.
    for _ in 0..20 {
        assert_eq!(app.client.get(app.url("/healthz")).send().await.expect("healthz").status(), 200);
    }
    // And the flooding connection is still served, in order, once it reads.
    let mut first = [0u8; 9];
    reader.read_exact(&mut first).await.expect("the server's answers");
    assert_eq!(first[3], SETTINGS, "the server's own settings come first");
    flood.abort();
}

#[tokio::test]
async fn an_administrator_cannot_disable_their_own_account_or_set_their_own_leaving_date() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let admin = h.user(crate::support::router::TEAM, "la.admin", pigeonpost::domain::Role::LaAdmin).await;
    let other = h.user(crate::support::router::TEAM, "la.other", pigeonpost::domain::Role::LaAdmin).await;
    let token = h.login(&admin).await.access;
    let me = format!("/api/v1/users/{}", admin.id.0);
    let disable = h.post(&format!("{me}/disable"), &token, serde_json::json!({"reason": "x"})).await;
    assert_eq!(
        (disable.status, disable.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "own_account"),
        "{}",
        disable.json
    );
    let leaver = h
        .request(
            Method::PUT,
            &format!("{me}/leaver"),
            Some(&token),
            Some(serde_json::json!({"on": "2030-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!((leaver.status, leaver.error()), (StatusCode::UNPROCESSABLE_ENTITY, "own_account"), "{}", leaver.json);
    assert_eq!(h.get("/api/v1/session", &token).await.status, StatusCode::OK, "still signed in and active");
    // Another administrator may.
    let theirs = h.post(&format!("/api/v1/users/{}/disable", other.id.0), &token, serde_json::json!({})).await;
    assert_eq!(theirs.status, StatusCode::OK, "{}", theirs.json);
}

#[tokio::test]
async fn a_handler_that_panics_answers_500_in_the_json_shape_and_the_server_serves_on() {
    use tower::ServiceExt;
    let h = TestApp::builder().router().await;
    let routes = axum::Router::new().route(
        "/api/v1/boom",
        axum::routing::get(|| async {
            if std::hint::black_box(true) {
                panic!("a handler bug");
            }
        }),
    );
    let app = pigeonpost::http::finish(routes, h.state.clone());
    let boom = Request::builder().uri("/api/v1/boom").body(Body::empty()).unwrap();
    let reply = app.clone().oneshot(boom).await.unwrap();
    assert_eq!(reply.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = axum::body::to_bytes(reply.into_body(), 1 << 16).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"], "internal", "{json}");
    assert!(
        !json["message"].as_str().unwrap_or_default().contains("a handler bug"),
        "the panic's text stays in the log"
    );
    let again = Request::builder().uri("/api/v1/boom").body(Body::empty()).unwrap();
    assert_eq!(app.oneshot(again).await.unwrap().status(), StatusCode::INTERNAL_SERVER_ERROR);
}
