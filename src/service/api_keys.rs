//! API keys for automated jobs. A key reads `pp_<key id>_<secret>`: the id finds the row, the
//! secret (256 random bits) is checked against its stored SHA-256 in constant time. A fast hash
//! is enough here because the secret is random, not a person's password; only the hash is kept.

use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::authority::enforce;
use super::{CredentialRefusal, ServiceError};
use crate::audit::{Actor, AuditEvent};
use crate::domain::records::{KeyScope, NewApiKey};
use crate::domain::ChannelSlug;
use crate::domain::OrgRef;
use crate::policy::{self, can_login, Action, Credential, LoginSubject, Principal};
use crate::service::AppState;
use crate::store::meta::ApiKeySummary;
use crate::store::Repository;
use time::OffsetDateTime;

const PREFIX: &str = "pp_";

/// A key as created: the token to hand over once, and what the database keeps.
pub struct IssuedKey {
    pub token: SecretString,
    pub key_id: String,
    pub secret_hash: [u8; 32],
}

pub fn issue() -> IssuedKey {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut id);
    OsRng.fill_bytes(&mut secret);
    let key_id = hex::encode(id);
    let secret = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, secret);
    let secret_hash = Sha256::digest(secret.as_bytes()).into();
    IssuedKey { token: SecretString::from(format!("{PREFIX}{key_id}_{secret}")), key_id, secret_hash }
}

/// Splits a presented token into key id and secret, if it has the shape of one of ours.
fn split(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret_ok = secret.len() == 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some((id, secret))
}

/// Resolves a presented key to its principal. A key that is not ours, or whose secret is wrong,
/// is "unknown"; only a key whose secret matched is told that it is revoked, expired or suspended.
pub async fn authenticate(state: &AppState, token: &SecretString) -> Result<Principal, ServiceError> {
    let unknown = ServiceError::CredentialsRefused(CredentialRefusal::UnknownKey);
    let Some((key_id, secret)) = split(token.expose_secret()) else {
        return Err(unknown);
    };
    let Some(record) = state.repo().find_api_key(key_id).await? else {
        return Err(unknown);
    };
    let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    let matches: bool = presented.ct_eq(record.secret_hash.as_slice()).into();
    if !matches {
        return Err(unknown);
    }
    if let Err(refusal) = can_login(LoginSubject::Key(&record), state.now()) {
        tracing::info!(key = %record.key_id, ?refusal, "API key refused");
        return Err(ServiceError::CredentialsRefused(refusal.into()));
    }
    state.repo().touch_api_key(key_id, state.now()).await?;
    let predecessors = state.repo().predecessors(record.org.id).await?;
    Ok(Principal {
        org: record.org,
        predecessors,
        credential: Credential::ApiKey { key_id: record.key_id, scope: record.scope },
        client_addr: None,
    })
}

/// The scope a key gets when its creator names none: the general channel, both directions.
pub fn default_scope() -> KeyScope {
    KeyScope { channels: vec!["general".into()], can_send: true, can_receive: true, expires_at: None }
}

/// Creates a key for an organisation. Returns the key id and the token, which is shown once.
pub async fn create(
    repo: &dyn Repository,
    now: OffsetDateTime,
    actor: Actor,
    org: &OrgRef,
    name: &str,
    scope: KeyScope,
) -> Result<(String, SecretString), ServiceError> {
    let name = super::printable_name(name, 100, "the key a name")?;
    if !scope.can_send && !scope.can_receive {
        return Err(ServiceError::bad_request("invalid_scope", "a key must be allowed to send, receive, or both"));
    }
    if scope.channels.is_empty() || scope.channels.iter().any(|c| c != "*" && ChannelSlug::parse(c).is_none()) {
        return Err(ServiceError::bad_request(
            "invalid_scope",
            "name the channels the key may use (such as general), or * for all",
        ));
    }
    if scope.expires_at.is_some_and(|e| e <= now) {
        return Err(ServiceError::bad_request("invalid_scope", "the key's expiry must be in the future"));
    }
    let Some(org) = repo.find_organisation(org).await? else {
        return Err(ServiceError::unprocessable(
            "unknown_organisation",
            format!("there is no organisation {org}: add it first with `pigeonpost admin org add`"),
        ));
    };
    let issued = issue();
    let row = NewApiKey {
        key_id: issued.key_id.clone(),
        org_id: org.id,
        name: name.to_owned(),
        secret_hash: issued.secret_hash,
        scope,
    };
    let audit = AuditEvent::new(now, actor, "key.create")
        .target("key", &issued.key_id)
        .concerning(&org.reference)
        .detail("name", name)
        .detail("channels", &row.scope.channels)
        .detail("send", row.scope.can_send)
        .detail("receive", row.scope.can_receive);
    repo.create_api_key(&row, now, &audit).await.map_err(|e| match ServiceError::from(e) {
        ServiceError::Conflict { .. } => ServiceError::Conflict {
            code: "duplicate_key_name",
            message: format!("{} already has a key named '{name}': choose another name", org.reference),
        },
        other => other,
    })?;
    Ok((issued.key_id, issued.token))
}

pub async fn list_as(
    state: &AppState,
    who: &Principal,
    org: Option<&OrgRef>,
) -> Result<Vec<ApiKeySummary>, ServiceError> {
    let org = match org {
        Some(r) => Some(super::users::find_org(state.repo(), r).await?),
        None => None,
    };
    enforce(policy::decide(who, Action::ListKeys(org.as_ref())))?;
    Ok(state.repo().list_api_keys(org.map(|o| o.id)).await?)
}

pub async fn create_as(
    state: &AppState,
    who: &Principal,
    org: &OrgRef,
    name: &str,
    scope: KeyScope,
) -> Result<(String, SecretString), ServiceError> {
    let target = super::users::find_org(state.repo(), org).await?;
    // The caller named the organisation itself, so a refusal hides nothing.
    match policy::decide(who, Action::ManageKeys(&target)) {
        policy::Decision::Hidden => return Err(ServiceError::Forbidden),
        decision => enforce(decision)?,
    }
    create(state.repo(), state.now(), Actor::of(who, who.client_addr.clone()), org, name, scope).await
}

/// Revokes a key at once: the next request made with it is refused.
pub async fn revoke(
    repo: &dyn Repository,
    now: OffsetDateTime,
    who: Option<&Principal>,
    key_id: &str,
) -> Result<(), ServiceError> {
    let Some(key) = repo.find_api_key(key_id).await? else { return Err(ServiceError::NotFound) };
    if let Some(who) = who {
        enforce(policy::decide(who, Action::ManageKeys(&key.org)))?;
    }
    let audit =
        AuditEvent::new(now, Actor::of_opt(who), "key.revoke").target("key", key_id).concerning(&key.org.reference);
    repo.revoke_api_key(key_id, now, &audit).await?;
    tracing::info!(key = %key_id, org = %key.org.reference, "API key revoked");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_parse_back_to_their_id() {
        let k = issue();
        let (id, secret) = split(k.token.expose_secret()).unwrap();
        assert_eq!(id, k.key_id);
        let h: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        assert_eq!(h, k.secret_hash);
    }

    #[test]
    fn malformed_tokens_are_not_looked_up() {
        for t in [
            "",
            "pp_",
            "pp_0123456789abcdef",
            "xx_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "pp_0123456789abcdeg_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "pp_0123456789abcdef_aaa",
        ] {
            assert!(split(t).is_none(), "{t}");
        }
    }
}
