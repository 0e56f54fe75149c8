//! The one place an integration test's installation is made, whatever runs it: the settings
//! `serve --data-dir` would read, the state built by the library's own start-up pieces, and
//! organisations, people and keys made through the service layer. The router harness, the
//! server in this process and the server as a child process all start here; a child's
//! organisations and keys are written on its database before it starts, and what a test adds
//! later through a state of its own on the same database, never by the CLI.

use std::path::Path;
use std::sync::Arc;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use pigeonpost::audit::Actor;
use pigeonpost::config::{Overrides, Settings, DEFAULT_TOML, SECRET_ENV};
use pigeonpost::crypto::KeySource;
use pigeonpost::domain::clock::{Clock, SystemClock};
use pigeonpost::domain::{OrgKind, Organisation, Role, UserId};
use pigeonpost::identity::totp::{code_at, TotpSecret};
use pigeonpost::service::startup;
use pigeonpost::service::users::{self, NewUserRequest};
use pigeonpost::service::AppState;
use pigeonpost::service::{api_keys, organisations, register};
use pigeonpost::store::meta::KeyScope;
use pigeonpost::store::Repository;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

pub const SCHOOL_A: &str = "825/2001";
pub const SCHOOL_A_NAME: &str = "Example Primary";
pub const TEAM: &str = "smst";
pub const TEAM_NAME: &str = "School Management Support Team";
pub const SCHOOL_B: &str = "825/2002";
pub const SCHOOL_B_NAME: &str = "Other Primary";

/// The same strong password for every test person: 12+ characters, not common, no username in it.
pub const PASSWORD: &str = "Copper-Lantern-Orchard-58";

/// An organisation to create, and the name of the key to make for it, if any.
pub struct Provision {
    pub kind: OrgKind,
    pub reference: &'static str,
    pub name: &'static str,
    pub key_name: Option<&'static str>,
}

/// The end-to-end app's three organisations, each with a key on the default scope.
pub fn three_organisations() -> Vec<Provision> {
    vec![
        Provision { kind: OrgKind::School, reference: SCHOOL_A, name: SCHOOL_A_NAME, key_name: Some("tests-a") },
        Provision { kind: OrgKind::Team, reference: TEAM, name: TEAM_NAME, key_name: Some("tests-team") },
        Provision { kind: OrgKind::School, reference: SCHOOL_B, name: SCHOOL_B_NAME, key_name: Some("tests-b") },
    ]
}

/// The settings `pigeonpost serve --data-dir <data_dir>` would load with `env` set and nothing
/// else in its environment. A key outside `PIGEONPOST_` is not a setting and is left out, and so
/// are the master keys, which are never settings (see [`key_source`]).
pub fn settings(data_dir: &Path, env: &[(String, String)]) -> Settings {
    let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
    for (key, value) in env {
        let Some(key) = key.strip_prefix("PIGEONPOST_") else { continue };
        let key = key.to_ascii_lowercase().replace("__", ".");
        if SECRET_ENV.contains(&key.as_str()) {
            continue;
        }
        let value: figment::value::Value = value.parse().unwrap_or_else(|never| match never {});
        figment = figment.merge(Serialized::defaults(figment::util::nest(&key, value)));
    }
    let listen = "127.0.0.1:0".parse().expect("loopback address");
    let overrides = Overrides { data_dir: Some(data_dir.to_path_buf()), listen: Some(listen) };
    figment.merge(Serialized::defaults(overrides)).extract().unwrap_or_else(|e| panic!("test settings: {e}"))
}

/// Where a node with `env` in its environment finds its master keys, as `KeySource::from_env`
/// would find them there.
pub fn key_source(data_dir: &Path, env: &[(String, String)]) -> KeySource {
    let var = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .filter(|(_, v)| !v.is_empty())
            .map(|(_, v)| SecretString::from(v.clone()))
    };
    KeySource {
        data_dir: data_dir.to_path_buf(),
        master_key: var("PIGEONPOST_MASTER_KEY"),
        retired_keys: var("PIGEONPOST_RETIRED_MASTER_KEYS"),
    }
}

/// The state `serve` builds (`service::startup::build`), with the master keys from `source` and
/// time from `clock`.
pub async fn build_state(settings: Settings, source: KeySource, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    Ok(startup::assemble(settings, source, clock).await?.0)
}

/// Runs `work` on a state of its own over the installation that `data_dir` and `env` describe,
/// and closes it again: for setting up a server that runs as a child process while it serves,
/// on the same database (as `pigeonpost admin user ...` does).
pub fn with_state<T, F, Fut>(data_dir: &Path, env: &[(String, String)], work: F) -> T
where
    T: Send,
    F: FnOnce(AppState) -> Fut + Send,
    Fut: std::future::Future<Output = T>,
{
    let settings = settings(data_dir, env);
    let source = key_source(data_dir, env);
    on_a_runtime_of_its_own(move || async move {
        let state = build_state(settings, source, Arc::new(SystemClock))
            .await
            .unwrap_or_else(|e| panic!("open the test installation: {e:#}"));
        work(state).await
    })
}

/// Creates `orgs` and their keys on the database of the installation that `data_dir` and `env`
/// describe, before its server first starts: through the repository alone, as
/// `pigeonpost admin org add` and `admin key create` do, so no keyring is made or recorded.
pub fn provision_before_start(data_dir: &Path, env: &[(String, String)], orgs: Vec<Provision>) -> Vec<String> {
    let settings = settings(data_dir, env);
    on_a_runtime_of_its_own(move || async move {
        let repo = startup::open_repository(&settings)
            .await
            .unwrap_or_else(|e| panic!("open the test installation's database: {e:#}"));
        provision(repo.as_ref(), SystemClock.now(), &orgs).await
    })
}

/// Runs the future `work` makes on a thread and runtime of its own, so a test may call it from
/// inside its own runtime, and shuts that runtime down before answering.
fn on_a_runtime_of_its_own<T, F, Fut>(work: F) -> T
where
    T: Send,
    F: FnOnce() -> Fut + Send,
    Fut: std::future::Future<Output = T>,
{
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
                let outcome = runtime.block_on(work());
                runtime.shutdown_timeout(std::time::Duration::from_secs(5));
                outcome
            })
            .join()
            .unwrap_or_else(|panicked| std::panic::resume_unwind(panicked))
    })
}

/// Creates `orgs` and their keys; answers the keys made, in the order asked for.
pub async fn provision(repo: &dyn Repository, now: OffsetDateTime, orgs: &[Provision]) -> Vec<String> {
    let mut keys = Vec::new();
    for org in orgs {
        organisation(repo, now, org.kind, org.reference, org.name).await;
        if let Some(key_name) = org.key_name {
            keys.push(api_key(repo, now, org.reference, key_name, api_keys::default_scope()).await.1);
        }
    }
    keys
}

pub async fn organisation(
    repo: &dyn Repository,
    now: OffsetDateTime,
    kind: OrgKind,
    reference: &str,
    name: &str,
) -> Organisation {
    let parsed = reference.parse().unwrap_or_else(|e| panic!("organisation reference {reference}: {e}"));
    organisations::create(repo, now, Actor::operator(), kind, parsed, name)
        .await
        .unwrap_or_else(|e| panic!("create organisation {reference}: {e}"))
}

/// The register of schools from a GIAS export (and its links export), as the operator imports it.
pub async fn import_register(state: &AppState, establishments: &[u8], links: Option<&[u8]>, la: u16) {
    register::import_gias(state.repo(), state.now(), Actor::operator(), establishments, links, Some(la), false)
        .await
        .unwrap_or_else(|e| panic!("import the register: {e}"));
}

/// A key of `org` made by the operator: its id and the token to present.
pub async fn api_key(
    repo: &dyn Repository,
    now: OffsetDateTime,
    org: &str,
    name: &str,
    scope: KeyScope,
) -> (String, String) {
    let parsed = org.parse().unwrap_or_else(|e| panic!("organisation reference {org}: {e}"));
    let (id, token) = api_keys::create(repo, now, Actor::operator(), &parsed, name, scope)
        .await
        .unwrap_or_else(|e| panic!("create key {name}: {e}"));
    (id, token.expose_secret().to_owned())
}

/// The scope that allows every channel, in both directions.
pub fn all_channels() -> KeyScope {
    KeyScope { channels: vec!["*".into()], can_send: true, can_receive: true, expires_at: None }
}

/// An active person created by the operator, with `password` and no second factor yet: their
/// id and their username as stored.
pub async fn user(state: &AppState, org: &str, username: &str, role: Role, password: &str) -> (UserId, String) {
    let request = NewUserRequest {
        org: org.parse().unwrap_or_else(|e| panic!("organisation reference {org}: {e}")),
        username: username.to_owned(),
        display_name: format!("Test {username}"),
        role,
        password: Some(SecretString::from(password.to_owned())),
    };
    let created = users::create(state, None, request).await.unwrap_or_else(|e| panic!("create user {username}: {e}"));
    (created.user.id, created.user.username.to_string())
}

/// A confirmed second factor, enrolled (or enrolled again) as an administrator would: the raw
/// secret and the recovery codes.
pub async fn enrol_totp(state: &AppState, user: UserId) -> (Vec<u8>, Vec<String>) {
    let enrolment = users::reset_totp(state, None, user).await.unwrap_or_else(|e| panic!("reset TOTP: {e}"));
    let codes = enrolment.recovery_codes.iter().map(|c| c.expose_secret().to_owned()).collect();
    (secret_from_uri(&enrolment.otpauth_uri), codes)
}

/// The TOTP code for `secret` at `t`.
pub fn totp_code_at(secret: &[u8], t: OffsetDateTime) -> String {
    let secret = TotpSecret::from_bytes(secret.to_vec()).expect("usable TOTP secret");
    code_at(&secret, t.unix_timestamp() as u64)
}

/// The raw secret in an `otpauth://` URI (its `secret` parameter, base32 without padding).
pub fn secret_from_uri(uri: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let query = uri.split_once('?').expect("otpauth URI has a query").1;
    let b32 = query.split('&').find_map(|kv| kv.strip_prefix("secret=")).expect("otpauth URI has a secret parameter");
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0);
    for c in b32.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c.to_ascii_uppercase()).expect("base32 character") as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}
