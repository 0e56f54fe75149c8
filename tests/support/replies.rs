//! Checks on what the server answers: status and JSON error bodies, headers, digests, and the
//! `Content-Disposition` a download carries.

use base64::Engine as _;
use futures_util::StreamExt;
use reqwest::header::HeaderMap;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub async fn expect_json(resp: Response, status: StatusCode) -> Value {
    let got = resp.status();
    let url = resp.url().clone();
    let text = resp.text().await.expect("response body");
    assert_eq!(got, status, "{url}: unexpected status, body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: body is not JSON ({e}): {text}"))
}

/// Assert status and that the body is `{"error": code, "message": "..."}`.
pub async fn expect_error(resp: Response, status: StatusCode, code: Option<&str>) -> Value {
    let v = expect_json(resp, status).await;
    let err = v["error"].as_str().unwrap_or_else(|| panic!("no string `error` in {v}"));
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "no non-empty `message` in {v}");
    if let Some(code) = code {
        assert_eq!(err, code, "error code in {v}");
    }
    v
}

pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().expect("header is visible ASCII"))
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// `sha-256=:<base64>:` for the given SHA-256 hex digest.
pub fn digest_header_from_hex(hex_digest: &str) -> String {
    format!("sha-256=:{}:", b64(&hex::decode(hex_digest).expect("hex")))
}

/// Stream a response body through SHA-256; returns (length, hex digest).
pub async fn hash_response(resp: Response) -> (u64, String) {
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("body chunk");
        n += chunk.len() as u64;
        hasher.update(&chunk);
    }
    (n, hex::encode(hasher.finalize()))
}

/// Percent-decode an RFC 8187 ext-value payload.
pub fn percent_decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

/// Parse `attachment; filename="..."; filename*=UTF-8''...` strictly enough to catch
/// unescaped quotes or missing parts. Returns (quoted filename unescaped, decoded filename*).
pub fn parse_content_disposition(v: &str) -> (String, String) {
    let rest = v
        .strip_prefix("attachment; filename=\"")
        .unwrap_or_else(|| panic!("Content-Disposition must start with attachment; filename=\": {v}"));
    let mut quoted = String::new();
    let mut chars = rest.char_indices();
    let end = loop {
        match chars.next() {
            Some((_, '\\')) => {
                let (_, c) = chars.next().expect("dangling backslash");
                quoted.push(c);
            }
            Some((i, '"')) => break i,
            Some((_, c)) => {
                assert!(!c.is_control(), "control char in quoted filename: {v:?}");
                quoted.push(c);
            }
            None => panic!("unterminated quoted filename: {v}"),
        }
    };
    let after = &rest[end + 1..];
    let ext = after
        .strip_prefix("; filename*=UTF-8''")
        .or_else(|| after.strip_prefix("; filename*=utf-8''"))
        .unwrap_or_else(|| panic!("missing ; filename*=UTF-8'' in Content-Disposition: {v}"));
    assert!(
        ext.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~%".contains(&b)),
        "filename* contains characters outside RFC 8187 attr-char: {v}"
    );
    let decoded = String::from_utf8(percent_decode(ext)).expect("filename* decodes to UTF-8");
    (quoted, decoded)
}
