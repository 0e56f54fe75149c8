//! The pages through the router harness: a browser's session cookie and form token, and
//! requests that carry them as a same-origin browser would.

use axum::body::Body;
use axum::http::{header, Method, Request};
use base64::Engine as _;

use super::{Harness, Reply, TestUser};

/// What a browser holds after signing in: the cookie, and the token its forms carry.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub cookie: String,
    pub csrf: String,
}

impl Harness {
    /// Signs `user` in through the API and holds the session as a browser would: the cookie's
    /// value is the session's refresh secret, and the form token is bound to the session id.
    pub async fn web_session(&self, user: &TestUser) -> WebSession {
        let session = self.login(user).await;
        let claims = session.access.split('.').nth(1).expect("a JWT");
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).expect("JWT claims in base64url"),
        )
        .expect("JWT claims in JSON");
        let sid = claims["sid"].as_str().expect("a session id in the token");
        WebSession { cookie: session.refresh, csrf: pigeonpost::web::csrf::token(&self.state, sid) }
    }

    /// `GET path` as a browser with `session` (or none).
    pub async fn page(&self, path: &str, session: Option<&WebSession>) -> Reply {
        let mut builder = Request::builder().method(Method::GET).uri(path).header(header::HOST, "pigeonpost.test");
        if let Some(s) = session {
            builder = builder.header(header::COOKIE, format!("{}={}", pigeonpost::web::session::COOKIE, s.cookie));
        }
        self.send(builder.body(Body::empty()).expect("valid request")).await
    }

    /// Posts a form from this site's own page, with the session's token added as `csrf`
    /// unless the fields already name one.
    pub async fn submit(&self, path: &str, session: Option<&WebSession>, fields: &[(&str, &str)]) -> Reply {
        let mut fields: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if let Some(s) = session {
            if !fields.iter().any(|(k, _)| k == "csrf") {
                fields.push(("csrf".into(), s.csrf.clone()));
            }
        }
        let body = form_urlencoded(&fields);
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::HOST, "pigeonpost.test")
            .header(header::ORIGIN, "https://pigeonpost.test")
            .header("sec-fetch-site", "same-origin")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(s) = session {
            builder = builder.header(header::COOKIE, format!("{}={}", pigeonpost::web::session::COOKIE, s.cookie));
        }
        self.send(builder.body(Body::from(body)).expect("valid request")).await
    }
}

impl Reply {
    /// The body as text, for pages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn form_urlencoded(fields: &[(String, String)]) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    fields
        .iter()
        .map(|(k, v)| {
            format!("{}={}", utf8_percent_encode(k, NON_ALPHANUMERIC), utf8_percent_encode(v, NON_ALPHANUMERIC))
        })
        .collect::<Vec<_>>()
        .join("&")
}
