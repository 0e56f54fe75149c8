//! People getting in and staying in: password + second factor login, short-lived access tokens
//! with rotating refresh tokens, logout, and the steps a person may owe before anything else
//! (accepting new terms, enrolling a second factor).
//!
//! A refused login says what to fix, but never whether a username exists: an unknown name and
//! a wrong password get the same answer, and the state of the account (awaiting approval,
//! disabled, a second factor missing) is named only once the password was right.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use tracing::info;

use super::{CredentialRefusal as Why, ServiceError};
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::crypto::DataKey;
use crate::domain::records::UserRecord;
use crate::domain::{FunctionSlug, Username};
use crate::identity::access_token::{self, issue_access_token, verify_access_token, TokenError, TokenKeys};
use crate::identity::recovery_codes::hash_recovery_code;
use crate::identity::refresh_token::{hash_refresh_token, issue_refresh_token};
use crate::identity::totp::{verify_totp, TotpSecret};
use crate::policy::{can_login, Credential, LoginSubject, PendingStep, Principal, SessionPrincipal};
use crate::service::AppState;
use crate::store::meta::{NewSession, SessionRecord};

pub struct LoginRequest {
    pub username: String,
    pub password: SecretString,
    pub totp: Option<String>,
    pub recovery_code: Option<String>,
    pub client_addr: Option<String>,
}

pub struct IssuedSession {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: SecretString,
    pub user: UserRecord,
    pub pending: Vec<PendingStep>,
}

fn refused(why: Why) -> ServiceError {
    ServiceError::CredentialsRefused(why)
}

/// The object id a user's TOTP secret is wrapped under, so a wrapped secret cannot be moved to
/// another user's row.
pub fn totp_binding(user: crate::domain::UserId) -> [u8; 16] {
    let digest = Sha256::digest(format!("pigeonpost totp secret for user {}", user.0));
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

pub fn open_totp_secret(state: &AppState, user: &UserRecord) -> Result<Option<TotpSecret>, ServiceError> {
    let Some(wrapped) = &user.totp else { return Ok(None) };
    let key: DataKey = state.keys().unwrap(wrapped, &totp_binding(user.id))?;
    let secret = TotpSecret::from_bytes(key.expose_secret().to_vec())
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("stored TOTP secret is unusable: {e}")))?;
    Ok(Some(secret))
}

/// A person as the audit trail names them.
fn person(user: &UserRecord, client_addr: Option<String>) -> Actor {
    Actor { kind: "user", id: user.username.to_string(), org: Some(user.org.reference.to_string()), client_addr }
}

fn account_subject(username: &str) -> String {
    let name: String = username.trim().to_lowercase().chars().take(64).collect();
    format!("account:{name}")
}

/// Each subject with the number of failed attempts it may have in the window.
fn limits(state: &AppState, subjects: &[String]) -> Vec<(String, u64)> {
    let s = &state.settings().identity;
    let limit =
        |subject: &String| if subject.starts_with("account:") { s.lockout_threshold } else { s.address_threshold };
    subjects.iter().map(|subject| (subject.clone(), limit(subject))).collect()
}

pub async fn login(state: &AppState, req: LoginRequest) -> Result<IssuedSession, ServiceError> {
    let mut subjects = vec![account_subject(&req.username)];
    if let Some(addr) = &req.client_addr {
        subjects.push(format!("addr:{addr}"));
    }
    let failed = |reason: &str| {
        AuditEvent::new(state.now(), Actor::anonymous(req.client_addr.clone()), "session.login")
            .outcome(Outcome::Refused)
            .target("username", req.username.trim().chars().take(64).collect::<String>())
            .detail("reason", reason)
    };
    let s = &state.settings().identity;
    let attempted_at = state.now();
    let since = attempted_at - Duration::seconds(s.lockout_window_secs as i64);
    // The attempt is counted before the password is checked, so attempts sent together cannot
    // all pass the limit before any of them is recorded as a failure.
    if !state.repo().reserve_login_attempt(&limits(state, &subjects), since, attempted_at).await? {
        info!(subject = %subjects[0], "login refused: locked out after repeated failures");
        state.repo().append_audit(&failed("locked out after repeated failures")).await?;
        return Err(ServiceError::Throttled(s.lockout_secs));
    }
    match check_credentials(state, &req).await? {
        Ok(user) => {
            // Only this attempt is taken back: failures before it still count, or a success
            // among attempts sent together would free room for more guesses.
            for subject in &subjects {
                state.repo().release_login_attempt(subject, attempted_at).await?;
            }
            start_session(state, user, req.client_addr).await
        }
        Err((why, detail)) => {
            info!(subject = %subjects[0], reason = detail, "login failed");
            state.repo().append_audit(&failed(detail)).await?;
            Err(refused(why))
        }
    }
}

/// The user, or why not: what the client is told, and (for the trail) what happened.
async fn check_credentials(
    state: &AppState,
    req: &LoginRequest,
) -> Result<Result<UserRecord, (Why, &'static str)>, ServiceError> {
    let user = match req.username.trim().parse::<Username>() {
        Ok(name) => state.repo().find_user(&name).await?,
        Err(_) => None,
    };
    let Some(user) = user else {
        state.hashing().verify(&req.password, None).await?;
        return Ok(Err((Why::WrongUsernameOrPassword, "unknown username")));
    };
    // A user without a password is checked against the dummy too, so the time taken is the same.
    if !state.hashing().verify(&req.password, user.password_hash.as_deref()).await? {
        return Ok(Err((Why::WrongUsernameOrPassword, "wrong password")));
    }
    if let Err(refusal) = can_login(login_subject(state, &user), state.now()) {
        info!(user = %user.username, ?refusal, "login refused by the access rules");
        return Ok(Err((refusal.into(), "account may not log in")));
    }
    if user.totp_confirmed {
        let given = [&req.totp, &req.recovery_code].iter().any(|c| c.as_deref().is_some_and(|c| !c.trim().is_empty()));
        if !given {
            return Ok(Err((Why::SecondFactorRequired, "no second factor")));
        }
        if !second_factor_ok(state, &user, req).await? {
            return Ok(Err((Why::WrongSecondFactor, "wrong second factor")));
        }
    }
    Ok(Ok(user))
}

async fn second_factor_ok(state: &AppState, user: &UserRecord, req: &LoginRequest) -> Result<bool, ServiceError> {
    if let Some(code) = req.totp.as_deref().filter(|c| !c.trim().is_empty()) {
        let Some(secret) = open_totp_secret(state, user)? else { return Ok(false) };
        let now = state.now().unix_timestamp().max(0) as u64;
        return match verify_totp(&secret, code.trim(), now, user.totp_last_step) {
            // The step is recorded only if later than the last one, so a code is spent once even
            // when two nodes see it at the same moment.
            Ok(step) => Ok(state.repo().advance_totp_step(user.id, step).await?),
            Err(_) => Ok(false),
        };
    }
    if let Some(code) = req.recovery_code.as_deref().filter(|c| !c.trim().is_empty()) {
        return Ok(state.repo().use_recovery_code(user.id, &hash_recovery_code(code), state.now()).await?);
    }
    Ok(false)
}

pub fn login_subject<'a>(state: &AppState, user: &'a UserRecord) -> LoginSubject<'a> {
    LoginSubject::User { user, inactivity_days: state.settings().identity.inactivity_days }
}

/// What a person owes before they may do anything else.
pub async fn pending_steps(state: &AppState, user: &UserRecord) -> Result<Vec<PendingStep>, ServiceError> {
    let mut steps = Vec::new();
    if user.password_change_required {
        steps.push(PendingStep::ChangePassword);
    }
    let terms = state.settings().identity.terms_version;
    if terms > 0 && state.repo().accepted_terms_version(user.id).await?.is_none_or(|v| v < terms) {
        steps.push(PendingStep::AcceptTerms);
    }
    let totp_needed = user.role.requires_totp() || user.org.totp_required;
    if totp_needed && !user.totp_confirmed {
        steps.push(PendingStep::EnrolTotp);
    }
    Ok(steps)
}

async fn start_session(
    state: &AppState,
    user: UserRecord,
    client_addr: Option<String>,
) -> Result<IssuedSession, ServiceError> {
    let now = state.now();
    let settings = &state.settings().identity;
    // 128 bits from the operating system's generator (a v4 UUID carries only 122).
    let session_id = {
        let mut bytes = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        hex::encode(bytes)
    };
    if settings.single_session {
        state.repo().revoke_user_sessions(user.id, "replaced by a new login", now, None).await?;
    }
    let refresh = issue_refresh_token();
    let audit = AuditEvent::new(now, person(&user, client_addr.clone()), "session.login")
        .target("session", &session_id)
        .concerning(&user.org.reference);
    let session = NewSession {
        id: session_id.clone(),
        user: user.id,
        refresh_hash: refresh.hash,
        created_at: now,
        expires_at: now + Duration::seconds(settings.session_ttl_secs as i64),
        client_addr,
    };
    state.repo().create_session(&session, &audit).await?;
    state.repo().record_login(user.id, now).await?;
    let pending = pending_steps(state, &user).await?;
    let access_token = access_token(state, &user, &session_id, now)?;
    info!(user = %user.username, session = %session_id, "logged in");
    Ok(IssuedSession {
        access_token,
        expires_in: settings.access_token_ttl_secs,
        refresh_token: refresh.token,
        user,
        pending,
    })
}

fn access_token(
    state: &AppState,
    user: &UserRecord,
    session_id: &str,
    now: OffsetDateTime,
) -> Result<String, ServiceError> {
    let ttl = state.settings().identity.access_token_ttl_secs as i64;
    Ok(issue_access_token(&token_keys(state), user.id.0, user.org.id.0, session_id, now.unix_timestamp(), ttl)?)
}

/// Trades a refresh token for a new access token and a new refresh token. A refresh token
/// used twice means it was copied: the whole session ends.
pub async fn refresh(state: &AppState, token: &SecretString) -> Result<IssuedSession, ServiceError> {
    let now = state.now();
    let Some(hash) = hash_refresh_token(token.expose_secret()) else { return Err(refused(Why::InvalidRefreshToken)) };
    let Some(session) = state.repo().find_session_by_refresh(&hash).await? else {
        if let Some(stolen) = state.repo().find_session_by_previous_refresh(&hash).await? {
            let audit = AuditEvent::new(now, Actor::system("sessions"), "session.revoke")
                .target("session", &stolen.id)
                .detail("reason", "a replaced refresh token was presented again");
            state.repo().revoke_session(&stolen.id, "refresh token reused", now, &audit).await?;
            info!(session = %stolen.id, "a replaced refresh token was presented again: session revoked");
            return Err(refused(Why::SessionEnded));
        }
        return Err(refused(Why::InvalidRefreshToken));
    };
    if session.revoked_at.is_some() || session.expires_at <= now {
        return Err(refused(Why::SessionEnded));
    }
    let Some(user) = state.repo().get_user(session.user).await? else { return Err(refused(Why::SessionEnded)) };
    if let Err(refusal) = can_login(login_subject(state, &user), now) {
        info!(user = %user.username, ?refusal, "refresh refused by the access rules");
        let audit = AuditEvent::new(now, person(&user, None), "session.revoke")
            .target("session", &session.id)
            .concerning(&user.org.reference)
            .detail("reason", "the user may no longer log in");
        state.repo().revoke_session(&session.id, "user may no longer log in", now, &audit).await?;
        return Err(refused(refusal.into()));
    }
    let next = issue_refresh_token();
    let expires = now + Duration::seconds(state.settings().identity.session_ttl_secs as i64);
    if !state.repo().rotate_refresh(&session.id, &hash, &next.hash, expires, now).await? {
        return Err(refused(Why::InvalidRefreshToken));
    }
    let pending = pending_steps(state, &user).await?;
    let access_token = access_token(state, &user, &session.id, now)?;
    Ok(IssuedSession {
        access_token,
        expires_in: state.settings().identity.access_token_ttl_secs,
        refresh_token: next.token,
        user,
        pending,
    })
}

pub async fn logout(state: &AppState, who: &Principal) -> Result<(), ServiceError> {
    let Some(session) = who.user() else { return Err(ServiceError::Forbidden) };
    let audit = AuditEvent::by(who, state.now(), "session.logout").target("session", &session.session_id);
    state.repo().revoke_session(&session.session_id, "logged out", state.now(), &audit).await?;
    Ok(())
}

/// Resolves an access token to its principal, checking on every request that the session is
/// live and the person may still log in, so logout, disabling and lost functions act at once.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Principal, ServiceError> {
    let now = state.now();
    // Expiry is checked only once the signature verified, so "expired" is said of our tokens only.
    let token_refused =
        |e: TokenError| refused(if e == TokenError::Expired { Why::TokenExpired } else { Why::InvalidToken });
    let claims = match verify_access_token(&token_keys(state), token, now.unix_timestamp()) {
        // Perhaps another process rotated the keyring since this one loaded it.
        Err(TokenError::UnknownKid) if state.keys().reload_now_and_then() => {
            verify_access_token(&token_keys(state), token, now.unix_timestamp()).map_err(token_refused)?
        }
        other => other.map_err(token_refused)?,
    };
    let Some(session) = state.repo().get_session(&claims.sid).await? else { return Err(refused(Why::SessionEnded)) };
    let user_id: i64 = claims.sub.parse().map_err(|_| refused(Why::InvalidToken))?;
    if session.user.0 != user_id {
        return Err(refused(Why::InvalidToken));
    }
    principal_of(state, session).await
}

/// Resolves the opaque token a browser holds in its session cookie: the session's refresh
/// secret, which is stored only hashed and, unlike an API session's, is never rotated.
pub async fn authenticate_cookie(state: &AppState, token: &str) -> Result<Principal, ServiceError> {
    let Some(hash) = hash_refresh_token(token) else { return Err(refused(Why::SessionEnded)) };
    let Some(session) = state.repo().find_session_by_refresh(&hash).await? else {
        return Err(refused(Why::SessionEnded));
    };
    principal_of(state, session).await
}

/// The principal a live session speaks for, checked against the account's state now, so
/// logout, disabling and lost functions act at once.
async fn principal_of(state: &AppState, session: SessionRecord) -> Result<Principal, ServiceError> {
    let now = state.now();
    let Some(user) = state.repo().get_user(session.user).await? else { return Err(refused(Why::SessionEnded)) };
    // The token is genuinely ours, so the account's state may be named: a disabled account
    // ends its sessions, and "disabled" tells the person more than "ended" would.
    if let Err(refusal) = can_login(login_subject(state, &user), now) {
        return Err(refused(refusal.into()));
    }
    if session.revoked_at.is_some() || session.expires_at <= now {
        return Err(refused(Why::SessionEnded));
    }
    let functions: Vec<FunctionSlug> =
        state.repo().user_functions(user.id, now).await?.into_iter().map(|f| f.function).collect();
    let pending = pending_steps(state, &user).await?;
    Ok(Principal {
        predecessors: state.repo().predecessors(user.org.id).await?,
        org: user.org.clone(),
        credential: Credential::Session(SessionPrincipal {
            user_id: user.id,
            username: user.username.clone(),
            role: user.role,
            session_id: session.id,
            functions,
            pending,
        }),
        client_addr: None,
    })
}

fn token_keys(state: &AppState) -> TokenKeys {
    TokenKeys::primary_first(state.keys().derived_keys(access_token::KEY_LABEL))
}
