//! The composition root: everything a node needs to run, built from its settings alone.
//! Opens the metadata store and the object store, checks the keyring against the database
//! ([`master_keys`]), loads the channel catalogue, and hands back the [`AppState`] that every
//! request and worker shares.

pub mod master_keys;
pub mod plain_messages;

use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::AppState;
use crate::config::{DatabaseSettings, Settings, StorageKind};
use crate::crypto::{KeySource, KeyringHandle};
use crate::domain::channel::Catalogue;
use crate::domain::clock::{Clock, SystemClock};
use crate::store::blob::local::LocalBlobStore;
use crate::store::blob::s3::S3BlobStore;
use crate::store::meta::sql::{PoolSettings, SqlRepository};
use crate::store::{BlobStore, Repository, StoreError};
use master_keys::open_keyring;

/// Why a node will not start, in one sentence that says what to do. The error it wraps (an
/// engine's own text, say) is for the debug log only.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// Wraps a database failure met while starting in a sentence saying what to do.
pub fn database_refusal(doing: &str) -> impl FnOnce(StoreError) -> anyhow::Error + '_ {
    move |e| {
        let advice = match &e {
            StoreError::Unavailable(_) => {
                "the database did not answer: check that it is running and that database.url points at it, then start again"
            }
            _ => "see the log at debug level (PIGEONPOST_LOG_LEVEL=debug) for the database's own message",
        };
        anyhow::Error::new(e).context(Refusal(format!("could not {doing}: {advice}")))
    }
}

pub const DEFAULT_CHANNELS: &str = include_str!("../../config/channels.toml");

/// The channel catalogue named by the settings, or the shipped one.
pub fn load_channels(settings: &Settings) -> anyhow::Result<Catalogue> {
    use figment::providers::{Format, Toml};
    let path = &settings.channels_path;
    let figment = if path.as_os_str().is_empty() {
        figment::Figment::from(Toml::string(DEFAULT_CHANNELS))
    } else {
        figment::Figment::from(Toml::file_exact(path))
    };
    let catalogue: Catalogue =
        figment.extract().context("the channel catalogue is not valid (see config/channels.toml)")?;
    catalogue.validate()?;
    Ok(catalogue)
}

/// A catalogue from TOML text, checked as [`load_channels`] checks the file.
pub fn parse_channels(toml: &str) -> anyhow::Result<Catalogue> {
    use figment::providers::{Format, Toml};
    let catalogue: Catalogue = figment::Figment::from(Toml::string(toml)).extract()?;
    catalogue.validate()?;
    Ok(catalogue)
}

/// Opens the metadata store chosen by the settings, and migrates it. A failure is one sentence
/// saying what to do (see [`in_our_words`]).
pub async fn open_repository(settings: &Settings) -> anyhow::Result<Arc<dyn Repository>> {
    open_and_migrate(settings).await.map_err(in_our_words)
}

async fn open_and_migrate(settings: &Settings) -> anyhow::Result<Arc<dyn Repository>> {
    // Only the service account may look inside: it holds pupil data and the keyring.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&settings.data_dir)
        .with_context(|| format!("could not create the data directory {}", settings.data_dir.display()))?;
    let url = settings.database_url();
    let timeout = Duration::from_secs(settings.database.acquire_timeout_secs);
    let repo: Arc<dyn Repository> = if url.starts_with("sqlite:") {
        let repo = SqlRepository::sqlite(&url, settings.database.max_connections, timeout).await.map_err(|e| {
            e.context(Refusal(format!(
                "could not open the embedded database {}: check that the data directory exists, is writable by this \
                 user and has free space",
                crate::config::redact_url(&url)
            )))
        })?;
        Arc::new(repo)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let repo = SqlRepository::postgres(&url, &pool_settings(&settings.database)).await.map_err(|e| {
            e.context(Refusal(format!(
                "could not connect to PostgreSQL at {}: check that it is running and that database.url's host, \
                 port, database name, user, password and sslmode are right",
                crate::config::redact_url(&url)
            )))
        })?;
        Arc::new(repo)
    } else {
        anyhow::bail!(
            "database.url '{}' is not supported: use a postgres:// or sqlite: URL, or leave it empty for the embedded database",
            crate::config::redact_url(&url)
        );
    };
    repo.migrate().await.map_err(|e| {
        let advice = match &e {
            StoreError::Unavailable(_) => "the database stopped answering: check that it is running, then start again",
            _ => {
                "check that the database user may create tables, and that no newer release has migrated this \
                 database (the log at debug level has the database's own message)"
            }
        };
        anyhow::Error::new(e).context(Refusal(format!("could not bring the database schema up to date: {advice}")))
    })?;
    Ok(repo)
}

fn pool_settings(db: &DatabaseSettings) -> PoolSettings {
    let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
    PoolSettings {
        max_connections: db.max_connections,
        min_connections: db.min_connections,
        acquire_timeout: Duration::from_secs(db.acquire_timeout_secs),
        idle_timeout: secs(db.idle_timeout_secs),
        max_lifetime: secs(db.max_lifetime_secs),
    }
}

pub async fn open_blob_store(settings: &Settings) -> anyhow::Result<Arc<dyn BlobStore>> {
    match settings.storage.kind {
        StorageKind::Local => {
            let root = settings.storage_root();
            let store = LocalBlobStore::open(&root).await.map_err(|e| {
                e.context(Refusal(format!(
                    "could not open the object directory {}: check that it exists and is writable by this user",
                    root.display()
                )))
            })?;
            Ok(Arc::new(store))
        }
        // Its only failures are settings of ours, which say what to change.
        StorageKind::S3 => Ok(Arc::new(S3BlobStore::connect(&settings.storage.s3).await?)),
    }
}

/// Everything `serve` and the commands that act on stored data need, from settings alone.
/// Reports whether a new keyring was made. A failure is one sentence saying what to do; its
/// cause (an engine's own message, say) goes to the log at debug level.
pub async fn build(settings: Settings) -> anyhow::Result<(AppState, bool)> {
    build_checked(settings).await.map_err(in_our_words)
}

async fn build_checked(settings: Settings) -> anyhow::Result<(AppState, bool)> {
    let source = KeySource::from_env(settings.data_dir.clone());
    assemble(settings, source, Arc::new(SystemClock)).await
}

/// What [`build`] does, with the master keys from `source` and the time from `clock`, which
/// tests choose for themselves.
pub async fn assemble(
    settings: Settings,
    source: KeySource,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(AppState, bool)> {
    // Refuse to start on a broken catalogue rather than run with no channels.
    let channels = load_channels(&settings)?;
    let repo = open_repository(&settings).await?;
    let blobs = open_blob_store(&settings).await?;
    let (keyring, created) = open_keyring(repo.as_ref(), &source, clock.now()).await?;
    let keys = KeyringHandle::new(source, keyring);
    plain_messages::seal_plain_messages(repo.as_ref(), &keys).await.map_err(|e| {
        e.context(Refusal(
            "could not seal the messages stored before messages were sealed: check that the database is running, \
             then start again (the log at debug level has the cause)"
                .into(),
        ))
    })?;
    let state = AppState::new(settings, repo, blobs, keys, clock, channels);
    super::channel_overrides::refresh(&state).await.map_err(|e| {
        anyhow::Error::new(e).context(Refusal(
            "could not read the channel changes stored in the database: check that it is running, then start again \
             (the log at debug level has the cause)"
                .into(),
        ))
    })?;
    Ok((state, created))
}

/// A start-up failure as the operator reads it: the refusal's sentence alone when there is
/// one, the whole chain of our own messages otherwise. The chain goes to the debug log.
pub fn in_our_words(e: anyhow::Error) -> anyhow::Error {
    tracing::debug!(cause = format!("{e:#}"), "start-up failed");
    match e.downcast_ref::<Refusal>() {
        Some(Refusal(sentence)) => anyhow::anyhow!("{sentence}"),
        None => e,
    }
}
