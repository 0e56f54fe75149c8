//! Application state: the backends and settings every request and worker shares.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use std::os::unix::fs::DirBuilderExt;

use anyhow::Context;
use time::OffsetDateTime;

use crate::config::{DatabaseSettings, Settings, StorageKind};
use crate::domain::channel::Catalogue;
use crate::domain::clock::{Clock, SystemClock};
use crate::service::keys::{KeySource, KeyringHandle};
use crate::service::startup::{open_keyring, Refusal};
use crate::store::blob::local::LocalBlobStore;
use crate::store::blob::s3::S3BlobStore;
use crate::store::meta::sql::{PoolSettings, SqlRepository};
use crate::store::{BlobStore, Repository, StoreError};

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Arc<dyn Repository>,
    blobs: Arc<dyn BlobStore>,
    keys: KeyringHandle,
    clock: Arc<dyn Clock>,
    settings: Settings,
    /// The catalogue of `channels.toml`, which the LA's stored overrides change.
    file_channels: Arc<Catalogue>,
    /// The catalogue in force, swapped whole when overrides change. Readers clone the `Arc`
    /// and let go of the lock at once, so it is never held across an await.
    channels: RwLock<Arc<Catalogue>>,
}

impl AppState {
    pub fn new(
        settings: Settings,
        repo: Arc<dyn Repository>,
        blobs: Arc<dyn BlobStore>,
        keys: KeyringHandle,
        clock: Arc<dyn Clock>,
        channels: Catalogue,
    ) -> Self {
        let file_channels = Arc::new(channels);
        let channels = RwLock::new(file_channels.clone());
        Self { inner: Arc::new(Inner { repo, blobs, keys, clock, settings, file_channels, channels }) }
    }

    pub fn repo(&self) -> &dyn Repository {
        self.inner.repo.as_ref()
    }

    pub fn blobs(&self) -> &dyn BlobStore {
        self.inner.blobs.as_ref()
    }

    pub fn keys(&self) -> &KeyringHandle {
        &self.inner.keys
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The channel catalogue in force: the file's, with the LA's changes laid over it.
    pub fn channels(&self) -> Arc<Catalogue> {
        self.inner.channels.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The catalogue as `channels.toml` defines it, before any change made through the API.
    pub fn file_channels(&self) -> &Catalogue {
        &self.inner.file_channels
    }

    /// Puts a new effective catalogue in force for every request that starts from now on.
    pub fn replace_channels(&self, catalogue: Catalogue) {
        *self.inner.channels.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(catalogue);
    }

    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }
}

pub const DEFAULT_CHANNELS: &str = include_str!("../config/channels.toml");

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
    // Refuse to start on a broken catalogue rather than run with no channels.
    let channels = load_channels(&settings)?;
    let repo = open_repository(&settings).await?;
    let blobs = open_blob_store(&settings).await?;
    let source = KeySource::from_env(settings.data_dir.clone());
    let (keyring, created) = open_keyring(repo.as_ref(), &source, SystemClock.now()).await?;
    let keys = KeyringHandle::new(source, keyring);
    let state = AppState::new(settings, repo, blobs, keys, Arc::new(SystemClock), channels);
    crate::service::channel_overrides::refresh(&state).await.map_err(|e| {
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
