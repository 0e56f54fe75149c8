//! The OpenAPI 3.1 description of the API, served at `/api/v1/openapi.json` and printed by
//! `pigeonpost openapi`.
//!
//! Each resource module describes its own handlers (`#[utoipa::path]` beside the handler, listed
//! in the module's `Api`); this module joins them and adds what the route table and the error
//! type decide for every operation alike: which operations need the bearer credential, the
//! error shape, and the errors any route may answer. An error response is written in an
//! annotation as `(status = 404, description = "`not_found`: why")`: the codes in backticks
//! become the `enum` of its `error` field.
//!
//! A route is added in three places, which `tests/integration/public_routes.rs` holds together: its
//! `Endpoint` in the module's `endpoints()`, a `#[utoipa::path]` on its handler, and the handler
//! in the module's `Api`; a JSON request body's type derives `ToSchema` with an example.

use std::sync::LazyLock;

use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use super::Endpoint;

pub const PATH: &str = "/api/v1/openapi.json";

pub fn endpoints() -> Vec<Endpoint> {
    // Public: it describes the API and holds no data, and clients read it before they have a key.
    vec![Endpoint::public(Method::GET, PATH, get(serve))]
}

/// The JSON shape of every error answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes `error::Body`, which is built elsewhere.
struct ErrorBody {
    /// A stable code a program can act on, e.g. `not_found`.
    error: String,
    /// What went wrong and what to do about it, for a person.
    message: String,
}

/// A file's bytes, as they are: an upload's body, a download's answer.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // Describes bodies that are streamed, never held in this type.
pub(super) struct FileBytes(Vec<u8>);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pigeonpost",
        description = "Secure file exchange between a local authority and its schools. Every \
                       route except the probes, login, refresh and this document takes \
                       `Authorization: Bearer <credential>`: an API key (`pp_...`) for automated \
                       jobs, or a session's access token for people. Errors are JSON \
                       `{\"error\": code, \"message\": text}`."
    ),
    paths(serve),
    components(schemas(ErrorBody))
)]
struct Base;

fn parts() -> [utoipa::openapi::OpenApi; 16] {
    use super::*;
    [
        Base::openapi(),
        health::Api::openapi(),
        channels::Api::openapi(),
        audit::Api::openapi(),
        channel_admin::Api::openapi(),
        unclaimed::Api::openapi(),
        collection::Api::openapi(),
        holds::Api::openapi(),
        session::Api::openapi(),
        transfers::Api::openapi(),
        messages::Api::openapi(),
        batches::Api::openapi(),
        quarantine::Api::openapi(),
        organisations::Api::openapi(),
        users::Api::openapi(),
        keys::Api::openapi(),
    ]
}

static DOCUMENT: LazyLock<Result<String, String>> =
    LazyLock::new(|| document().and_then(|d| serde_json::to_string_pretty(&d)).map_err(|e| e.to_string()));

/// The document as pretty-printed JSON.
pub fn json() -> Result<&'static str, String> {
    DOCUMENT.as_deref().map_err(Clone::clone)
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
async fn serve() -> Response {
    match json() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document could not be built");
            super::ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the API description could not be built: it has been logged; tell the LA",
            )
            .into_response()
        }
    }
}

/// The whole document, as served.
pub fn document() -> Result<Value, serde_json::Error> {
    let mut joined = Base::openapi();
    for part in parts().into_iter().skip(1) {
        joined.merge(part);
    }
    let mut doc = serde_json::to_value(joined)?;
    let table = super::endpoints();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, op) in item.iter_mut() {
                let public =
                    table.iter().any(|e| e.public && e.path == path && e.method.as_str().eq_ignore_ascii_case(method));
                if let Some(op) = op.as_object_mut() {
                    op.insert("operationId".into(), Value::String(operation_id(method, path)));
                    describe_shared(path, public, op);
                }
            }
        }
    }
    doc["components"]["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key for an automated job (`pp_...`, shown once when it is \
                            made), or the `access_token` of a session from `POST /api/v1/session`."
        }
    });
    Ok(doc)
}

/// Errors that come from the layers in front of every handler, not from the handler.
const ANY_ROUTE: &[(&str, &str)] = &[
    ("400", "`invalid_path`: the path has dot segments, encoded separators, ';' or '\\'"),
    ("400", "`ambiguous_credentials`: credentials were sent twice, or in a header other than Authorization"),
    ("400", "`invalid_encoding`: a query parameter is not UTF-8 once its %-escapes are decoded"),
    ("414", "`uri_too_long`: the path and query are longer than 8 KiB"),
    ("431", "`headers_too_large`: the headers come to more than 16 KiB"),
    ("501", "`unsupported_transfer_coding`: a transfer coding other than a single `chunked`"),
];
const WITH_CREDENTIALS: &[(&str, &str)] = &[(
    "401",
    "`credentials_required`: no `Authorization: Bearer` credential\n\n\
     `unknown_api_key`, `api_key_revoked`, `api_key_expired`, `api_key_suspended`: the API key is not accepted\n\n\
     `invalid_access_token`, `access_token_expired`, `session_ended`: log in again, or refresh the session\n\n\
     `organisation_closed`: the organisation is closed in the register\n\n\
     `account_disabled`, `account_ended`, `account_inactive`, `account_pending_approval`: the person's account does not work now",
)];
/// A person with a generated password may only change it until they do.
const UNTIL_PASSWORD_CHANGED: &[(&str, &str)] =
    &[("403", "`password_change_required`: change the generated password first (`POST /api/v1/session/password`)")];
/// A person who has not accepted the terms or enrolled a second factor may manage only their
/// own session until they do.
const OUTSIDE_OWN_SESSION: &[(&str, &str)] =
    &[("403", "`terms_not_accepted`, `totp_enrolment_required`: finish the step the session names in `pending` first")];
const BACKED: &[(&str, &str)] = &[
    ("500", "`internal`: something went wrong on the server; it has been logged"),
    ("503", "`unavailable`: the database or the object store is not answering; try again shortly"),
];

/// `get_users_id`, `post_session_totp_confirm`: unique, as a method and path are, where the
/// handlers' own names (`list`, `show`) repeat from module to module.
fn operation_id(method: &str, path: &str) -> String {
    let words =
        path.trim_start_matches("/api/v1").split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty());
    std::iter::once(method).chain(words).collect::<Vec<_>>().join("_")
}

fn describe_shared(path: &str, public: bool, op: &mut Map<String, Value>) {
    let mut shared: Vec<(&str, &str)> = ANY_ROUTE.to_vec();
    if !public {
        op.insert("security".into(), json!([{ "bearer": [] }]));
        shared.extend(WITH_CREDENTIALS);
        if path != "/api/v1/session/password" {
            shared.extend(UNTIL_PASSWORD_CHANGED);
        }
        if !path.starts_with("/api/v1/session") {
            shared.extend(OUTSIDE_OWN_SESSION);
        }
    }
    if path.starts_with("/api/v1/") && path != PATH {
        shared.extend(BACKED);
    }
    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    for (status, text) in shared {
        let response = responses.entry(status).or_insert_with(|| json!({ "description": "" }));
        let description = response["description"].as_str().unwrap_or_default();
        response["description"] =
            Value::String(if description.is_empty() { text.to_owned() } else { format!("{description}\n\n{text}") });
    }
    for (status, response) in responses.iter_mut() {
        if status.as_str() >= "400" {
            describe_error(status, response);
        }
    }
}

/// Gives an error response the error shape, narrowed to the codes its description names.
fn describe_error(status: &str, response: &mut Value) {
    if response.get("content").is_none() {
        let codes = codes(response["description"].as_str().unwrap_or_default());
        let schema = if codes.is_empty() {
            json!({ "$ref": "#/components/schemas/ErrorBody" })
        } else {
            json!({ "allOf": [
                { "$ref": "#/components/schemas/ErrorBody" },
                { "type": "object", "properties": { "error": { "type": "string", "enum": codes } } }
            ] })
        };
        response["content"] = json!({ "application/json": { "schema": schema } });
        let header = match status {
            "401" => Some(("WWW-Authenticate", "`Bearer realm=\"pigeonpost\"`")),
            "429" | "503" => Some(("Retry-After", "Seconds to wait before trying again")),
            _ => None,
        };
        if let Some((name, description)) = header {
            response["headers"][name] = json!({ "description": description, "schema": { "type": "string" } });
        }
    }
}

/// The words in backticks at the start of each paragraph of a description.
fn codes(description: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for paragraph in description.split("\n\n") {
        let head = paragraph.split(':').next().unwrap_or_default();
        for code in head.split('`').skip(1).step_by(2) {
            if !code.is_empty()
                && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                && !found.iter().any(|c| c == code)
            {
                found.push(code.to_owned());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::codes;

    #[test]
    fn the_codes_of_an_error_are_the_backticked_words_before_each_colon() {
        let text = "`not_found`: no such `thing` here\n\n`too_large`, `too_many_files`: smaller\n\n`not_found`: again";
        assert_eq!(codes(text), ["not_found", "too_large", "too_many_files"]);
    }

    #[test]
    fn an_operation_is_named_by_its_method_and_path() {
        assert_eq!(super::operation_id("post", "/api/v1/users/{id}/reset-password"), "post_users_id_reset_password");
        assert_eq!(super::operation_id("get", "/healthz"), "get_healthz");
    }

    #[test]
    fn the_document_is_openapi_3_1_and_names_the_bearer_scheme() {
        let doc = super::document().expect("document");
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }
}
