//! Enrolling a second factor for the first time: a QR code of the authenticator app's setup
//! link (drawn here, as SVG), the secret as text for typing in, and a code to confirm it. The
//! recovery codes are shown once, on the page that confirms it.
//!
//! Starting is a form action, not a page load, so a link from elsewhere cannot restart an
//! enrolment under way. Between the two forms the browser carries the setup link and the
//! recovery codes sealed (encrypted and bound to the session), since the server keeps only
//! their hashes.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{error_for, out_of_turn};
use crate::policy::PendingStep;
use crate::service::{account, web_sign_in, AppState, ServiceError};
use crate::web::chrome::{Chrome, Section};
use crate::web::error::{FieldError, PageError};
use crate::web::session::{step_page, Owing, SignedIn};

const KEY_LABEL: &str = "web second factor enrolment v1";

#[derive(Template, WebTemplate)]
#[template(path = "account/second_factor_start.html")]
struct StartPage {
    chrome: Chrome,
    already: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "account/second_factor_scan.html")]
struct ScanPage {
    chrome: Chrome,
    /// Drawn here from the setup link alone; nothing in it came from a person.
    qr_svg: String,
    secret: String,
    sealed: String,
    errors: Vec<FieldError>,
}

impl ScanPage {
    fn error(&self, field: &str) -> Option<&str> {
        error_for(&self.errors, field)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "account/recovery_codes.html")]
struct RecoveryCodesPage {
    chrome: Chrome,
    codes: Vec<String>,
    next: &'static str,
}

pub async fn start_page(State(state): State<AppState>, Owing(who): Owing) -> Result<Response, PageError> {
    if let Some(first) = out_of_turn(&who, PendingStep::EnrolTotp) {
        return Ok(first);
    }
    let already = web_sign_in::second_factor_confirmed(&state, &who.principal).await?;
    Ok(StartPage { chrome: Chrome::signed_in(&state, &who, Section::Account), already }.into_response())
}

#[derive(Deserialize)]
pub struct Step {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    sealed: String,
}

/// Starts an enrolment (a form without `sealed`) or confirms the one the form carries.
pub async fn submit(State(state): State<AppState>, Owing(who): Owing, Form(form): Form<Step>) -> Response {
    if let Err(refused) = who.check_form_token(&state, Some(form.csrf.as_str())) {
        return refused.into_response();
    }
    if let Some(first) = out_of_turn(&who, PendingStep::EnrolTotp) {
        return first;
    }
    let result = if form.sealed.is_empty() { start(&state, &who).await } else { confirm(&state, &who, &form).await };
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn start(state: &AppState, who: &SignedIn) -> Result<Response, PageError> {
    let enrolment = account::start_totp(state, &who.principal).await?;
    let codes: Vec<String> = enrolment.recovery_codes.iter().map(|c| c.expose_secret().to_owned()).collect();
    let sealed = seal(state, who.session_id(), &enrolment.otpauth_uri, &codes)?;
    Ok(scan_page(state, who, &enrolment.otpauth_uri, sealed, Vec::new())?.into_response())
}

async fn confirm(state: &AppState, who: &SignedIn, form: &Step) -> Result<Response, PageError> {
    let Some((uri, codes)) = open(state, who.session_id(), &form.sealed) else {
        return Err(PageError::form_expired());
    };
    // Confirming twice must not show the codes twice.
    if web_sign_in::second_factor_confirmed(state, &who.principal).await? {
        return Ok(StartPage { chrome: Chrome::signed_in(state, who, Section::Account), already: true }.into_response());
    }
    let code: String = form.code.chars().filter(|c| !c.is_whitespace()).collect();
    let refused = |message: String| -> Result<Response, PageError> {
        let page = scan_page(state, who, &uri, form.sealed.clone(), vec![FieldError::new("code", message)])?;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return refused("Enter the 6-digit code your authenticator app shows".into());
    }
    match account::confirm_totp(state, &who.principal, &code).await {
        Ok(()) => {}
        Err(ServiceError::Unprocessable { code: "wrong_code", .. }) => {
            return refused(
                "That code is not right. Check the clock of your phone is right and enter the code the app shows now"
                    .into(),
            )
        }
        Err(e) => return Err(e.into()),
    }
    let next = who.pending().iter().find(|s| **s != PendingStep::EnrolTotp).map_or("/", |s| step_page(*s));
    Ok(RecoveryCodesPage { chrome: Chrome::signed_in(state, who, Section::Account), codes, next }.into_response())
}

fn scan_page(
    state: &AppState,
    who: &SignedIn,
    uri: &str,
    sealed: String,
    errors: Vec<FieldError>,
) -> Result<ScanPage, PageError> {
    Ok(ScanPage {
        chrome: Chrome::signed_in(state, who, Section::Account),
        qr_svg: qr_svg(uri)?,
        secret: secret_of(uri),
        sealed,
        errors,
    })
}

/// The setup link as an SVG QR code, without the XML prolog so it sits inside the page.
fn qr_svg(uri: &str) -> Result<String, PageError> {
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| PageError::from(ServiceError::Internal(anyhow::anyhow!("QR code of the setup link: {e}"))))?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).quiet_zone(true).build();
    Ok(svg.find("<svg").map_or(svg.clone(), |at| svg[at..].to_owned()))
}

/// The secret of the setup link in groups of four, for typing into an app by hand.
fn secret_of(uri: &str) -> String {
    let secret = uri
        .split_once('?')
        .and_then(|(_, query)| query.split('&').find_map(|kv| kv.strip_prefix("secret=")))
        .unwrap_or_default();
    secret.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

fn seal(state: &AppState, session_id: &str, uri: &str, codes: &[String]) -> Result<String, PageError> {
    let keys = state.keys().derived_keys(KEY_LABEL);
    let no_key = || PageError::from(ServiceError::Internal(anyhow::anyhow!("no key to seal the enrolment with")));
    let (_, key) = keys.first().ok_or_else(no_key)?;
    let mut nonce = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let plain = std::iter::once(uri.to_owned()).chain(codes.iter().cloned()).collect::<Vec<_>>().join("\n");
    let sealed = cipher(key)
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain.as_bytes(), aad: session_id.as_bytes() })
        .map_err(|_| no_key())?;
    Ok(hex::encode([&nonce[..], &sealed].concat()))
}

fn open(state: &AppState, session_id: &str, sealed: &str) -> Option<(String, Vec<String>)> {
    let bytes = hex::decode(sealed.trim()).ok()?;
    if bytes.len() < 24 {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(24);
    let plain = state.keys().derived_keys(KEY_LABEL).iter().find_map(|(_, key)| {
        cipher(key).decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: session_id.as_bytes() }).ok()
    })?;
    let plain = String::from_utf8(plain).ok()?;
    let mut lines = plain.lines().map(str::to_owned);
    let uri = lines.next()?;
    Some((uri, lines.collect()))
}
