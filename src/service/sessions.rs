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
    let attempt = begin_attempt(state, &req.username, req.client_addr.clone()).await?;
    let checked = match check_password(state, &req.username, &req.password).await? {
        Ok(user) => {
            check_second_factor(state, &user, req.totp.as_deref(), req.recovery_code.as_deref()).await?.map(|()| user)
        }
        Err(refusal) => Err(refusal),
    };
    match checked {
        Ok(user) => {
            attempt.succeeded(state).await?;
            start_session(state, user, req.client_addr).await
        }
        Err((why, detail)) => Err(attempt.failed(state, why, detail).await),
    }
}

/// One login attempt, counted against the limits of the account and the address before
/// anything is checked, so attempts sent together cannot all pass the limit before any of
/// them is recorded as a failure. It stays counted unless [`Attempt::succeeded`] takes it back.
pub struct Attempt {
    subjects: Vec<String>,
    at: OffsetDateTime,
    username: String,
    client_addr: Option<String>,
}

/// Counts an attempt to log in as `username`, or refuses it when the account or the address
/// has had too many failures in the window.
pub async fn begin_attempt(
    state: &AppState,
    username: &str,
    client_addr: Option<String>,
) -> Result<Attempt, ServiceError> {
    let mut subjects = vec![account_subject(username)];
    if let Some(addr) = &client_addr {
        subjects.push(format!("addr:{addr}"));
    }
    let s = &state.settings().identity;
    let attempt = Attempt { subjects, at: state.now(), username: username.to_owned(), client_addr };
    let since = attempt.at - Duration::seconds(s.lockout_window_secs as i64);
    if !state.repo().reserve_login_attempt(&limits(state, &attempt.subjects), since, attempt.at).await? {
        info!(subject = %attempt.subjects[0], "login refused: locked out after repeated failures");
        state.repo().append_audit(&attempt.refusal(state, "locked out after repeated failures")).await?;
        return Err(ServiceError::Throttled(s.lockout_secs));
    }
    Ok(attempt)
}

impl Attempt {
    fn refusal(&self, state: &AppState, reason: &str) -> AuditEvent {
        AuditEvent::new(state.now(), Actor::anonymous(self.client_addr.clone()), "session.login")
            .outcome(Outcome::Refused)
            .target("username", self.username.trim().chars().take(64).collect::<String>())
            .detail("reason", reason)
    }

    /// Takes back this attempt only: failures before it still count, or a success among
    /// attempts sent together would free room for more guesses.
    pub async fn succeeded(self, state: &AppState) -> Result<(), ServiceError> {
        for subject in &self.subjects {
            state.repo().release_login_attempt(subject, self.at).await?;
        }
        Ok(())
    }

    /// Leaves the attempt counted, records why it failed, and gives the error to answer with.
    pub async fn failed(self, state: &AppState, why: Why, detail: &str) -> ServiceError {
        info!(subject = %self.subjects[0], reason = detail, "login failed");
        match state.repo().append_audit(&self.refusal(state, detail)).await {
            Ok(_) => refused(why),
            Err(e) => e.into(),
        }
    }
}

/// The user whose password this is, or why not: what the client is told, and (for the trail)
/// what happened. The account's state is named only once the password was right.
pub async fn check_password(
    state: &AppState,
    username: &str,
    password: &SecretString,
) -> Result<Result<UserRecord, (Why, &'static str)>, ServiceError> {
    let user = match username.trim().parse::<Username>() {
        Ok(name) => state.repo().find_user(&name).await?,
        Err(_) => None,
    };
    let Some(user) = user else {
        state.hashing().verify(password, None).await?;
        return Ok(Err((Why::WrongUsernameOrPassword, "unknown username")));
    };
    // A user without a password is checked against the dummy too, so the time taken is the same.
    if !state.hashing().verify(password, user.password_hash.as_deref()).await? {
        return Ok(Err((Why::WrongUsernameOrPassword, "wrong password")));
    }
    Ok(may_login(state, user))
}

/// The user, if the access rules let them log in now.
pub fn may_login(state: &AppState, user: UserRecord) -> Result<UserRecord, (Why, &'static str)> {
    if let Err(refusal) = can_login(login_subject(state, &user), state.now()) {
        info!(user = %user.username, ?refusal, "login refused by the access rules");
        return Err((refusal.into(), "account may not log in"));
    }
    Ok(user)
}

/// Whether the second factor given is right, for a person who has one (the TOTP code, or a
/// recovery code instead); a person without one needs none.
pub async fn check_second_factor(
    state: &AppState,
    user: &UserRecord,
    totp: Option<&str>,
    recovery_code: Option<&str>,
) -> Result<Result<(), (Why, &'static str)>, ServiceError> {
    if !user.totp_confirmed {
        return Ok(Ok(()));
    }
    let totp = totp.filter(|c| !c.trim().is_empty());
    let recovery_code = recovery_code.filter(|c| !c.trim().is_empty());
    if totp.is_none() && recovery_code.is_none() {
        return Ok(Err((Why::SecondFactorRequired, "no second factor")));
    }
    if !second_factor_ok(state, user, totp, recovery_code).await? {
        return Ok(Err((Why::WrongSecondFactor, "wrong second factor")));
    }
    Ok(Ok(()))
}

async fn second_factor_ok(
    state: &AppState,
    user: &UserRecord,
    totp: Option<&str>,
    recovery_code: Option<&str>,
) -> Result<bool, ServiceError> {
    if let Some(code) = totp {
        let Some(secret) = open_totp_secret(state, user)? else { return Ok(false) };
        let now = state.now().unix_timestamp().max(0) as u64;
        return match verify_totp(&secret, code.trim(), now, user.totp_last_step) {
            // The step is recorded only if later than the last one, so a code is spent once even
            // when two nodes see it at the same moment.
            Ok(step) => Ok(state.repo().advance_totp_step(user.id, step).await?),
            Err(_) => Ok(false),
        };
    }
    if let Some(code) = recovery_code {
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

/// A new session for a person whose credentials were right.
pub async fn start_session(
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
