//! Application state: the backends and settings every request, use case and worker shares.
//! Built once at start (see [`super::startup`]).

use std::sync::{Arc, PoisonError, RwLock};

use time::OffsetDateTime;

use super::hashing::HashGate;
use crate::audit::tally::RefusalTally;
use crate::config::Settings;
use crate::crypto::KeyringHandle;
use crate::domain::channel::Catalogue;
use crate::domain::clock::Clock;
use crate::store::{BlobStore, Repository};

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
    /// Bounds the password checks running and waiting, across every request.
    hashing: HashGate,
    /// This node's count of refused anonymous requests (see [`RefusalTally`]).
    refusals: RefusalTally,
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
        let hashing = HashGate::new(settings.identity.hash_concurrency(), settings.identity.hash_queue());
        let refusals = RefusalTally::new(
            time::Duration::seconds(settings.audit.anonymous_refusal_window_secs.max(1) as i64),
            settings.audit.anonymous_refusal_sources,
        );
        Self {
            inner: Arc::new(Inner { repo, blobs, keys, clock, settings, file_channels, channels, hashing, refusals }),
        }
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

    pub fn hashing(&self) -> &HashGate {
        &self.inner.hashing
    }

    pub fn refusals(&self) -> &RefusalTally {
        &self.inner.refusals
    }

    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }
}
