//! Every refused request is an audit event: a denied download, a 422 upload, a guess at another
//! school's transfer id. Recorded here, once, for every route, so no handler can forget to.
//! Refusals of requests without credentials are bounded per source (see `audit::tally`).

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use super::error::ErrorCode;
use super::request_context::{ClientAddr, PrincipalSlot};
use crate::audit::tally::RefusalKind;

use crate::service::audit;
use crate::service::AppState;

/// Refusals worth a record. Not 401 (a stranger without credentials; failed logins are recorded
/// by the login itself) and not 5xx (the server's failure, not a refusal; it goes to the log).
fn recorded(status: StatusCode) -> bool {
    status.is_client_error() && status != StatusCode::UNAUTHORIZED
}

pub async fn record_refusals(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let slot = PrincipalSlot::default();
    request.extensions_mut().insert(slot.clone());
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let client = request.extensions().get::<ClientAddr>().map(ClientAddr::ip);
    let response = next.run(request).await;
    let status = response.status();
    if !recorded(status) {
        return response;
    }
    let code = response.extensions().get::<ErrorCode>().map(|ErrorCode(c)| *c);
    let kind = RefusalKind { method, route, status: status.as_u16(), code };
    match slot.take() {
        Some(who) => audit::record_refusal(&state, &who, kind, path).await,
        // Anyone can send these, as fast as they like: counted per source rather than one by one.
        None => audit::record_anonymous_refusal(&state, client, kind, path).await,
    }
    response
}
