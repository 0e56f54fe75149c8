//! The keyring as the running server holds it, and re-wrapping data keys after a rotation.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use secrecy::SecretString;

use super::ServiceError;
use crate::app::AppState;
use crate::crypto::{DataKey, KeyError, Keyring, ObjectId, WrappedKey};

/// Where the keyring comes from, so it can be read again when another process rotates it.
#[derive(Clone)]
pub struct KeySource {
    pub data_dir: PathBuf,
    pub master_key: Option<SecretString>,
    pub retired_keys: Option<SecretString>,
}

impl KeySource {
    pub fn from_env(data_dir: PathBuf) -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty()).map(SecretString::from);
        Self { data_dir, master_key: var("PIGEONPOST_MASTER_KEY"), retired_keys: var("PIGEONPOST_RETIRED_MASTER_KEYS") }
    }

    /// The keyring this node has, or None when it has none (no key in the environment, no
    /// keyring file). Never makes one: only a start on an empty database may, with [`KeySource::create`].
    pub fn load_existing(&self) -> anyhow::Result<Option<Keyring>> {
        Keyring::load_existing(&self.data_dir, self.master_key.as_ref(), self.retired_keys.as_ref())
            .context("could not load the keyring")
    }

    /// The keyring this node has; an error when it has none.
    pub fn load(&self) -> anyhow::Result<Keyring> {
        self.load_existing()?.ok_or_else(|| {
            anyhow::anyhow!(
                "there is no master key: set PIGEONPOST_MASTER_KEY, or put the keyring file at {}",
                self.keyring_file().display()
            )
        })
    }

    /// Makes a new keyring file (or finds the one another process made a moment ago).
    /// Returns whether this call made it.
    pub fn create(&self) -> anyhow::Result<(Keyring, bool)> {
        Keyring::load_or_create(&self.data_dir, None, None).context("could not create the keyring")
    }

    /// Where this node's keyring file is, or would be.
    pub fn keyring_file(&self) -> PathBuf {
        Keyring::file_path(&self.data_dir)
    }

    /// Whether the keys come from the environment rather than a keyring file.
    pub fn from_environment(&self) -> bool {
        self.master_key.is_some()
    }
}

/// The shared, reloadable keyring. A `keys rotate` run by an operator while servers are up
/// writes a new keyring file; a server meeting a key id it does not know reads the file again.
pub struct KeyringHandle {
    source: KeySource,
    current: RwLock<Arc<Keyring>>,
    /// When the keyring was last read on behalf of an unknown token key id: strangers sending
    /// made-up ids must not make every request read the file.
    last_token_reload: std::sync::Mutex<Option<std::time::Instant>>,
}

impl KeyringHandle {
    pub fn new(source: KeySource, keyring: Keyring) -> Self {
        Self { source, current: RwLock::new(Arc::new(keyring)), last_token_reload: std::sync::Mutex::new(None) }
    }

    fn current(&self) -> Arc<Keyring> {
        match self.current.read() {
            Ok(k) => Arc::clone(&k),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reads the keyring again unless it was read in the last 30 seconds, since strangers (with
    /// a token of an unknown key id) and health checks can ask often. Returns whether it was read.
    pub fn reload_now_and_then(&self) -> bool {
        let now = std::time::Instant::now();
        let due = match self.last_token_reload.lock() {
            Ok(mut last) => {
                let due = last.is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_secs(30));
                if due {
                    *last = Some(now);
                }
                due
            }
            Err(_) => false,
        };
        due && match self.reload() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "could not read the keyring again");
                false
            }
        }
    }

    /// Reads the keyring again (another process rotated it).
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = self.source.load()?;
        if let Ok(mut slot) = self.current.write() {
            *slot = Arc::new(fresh);
        }
        Ok(())
    }

    /// Keys for signing session tokens, derived from the keyring (primary first).
    pub fn token_keys(&self) -> crate::identity::access_token::TokenKeys {
        let keys = self.current().derived_keys("session tokens");
        let primary = keys.first().map(|(id, _)| id.clone()).unwrap_or_default();
        crate::identity::access_token::TokenKeys::new(&primary, keys.into_iter().map(|(id, k)| (id, *k)).collect())
    }

    /// The keys that seal audit checkpoints, by master key id (primary first).
    pub fn checkpoint_keys(&self) -> Vec<(String, [u8; 32])> {
        self.current().derived_keys(crate::audit::checkpoint::KEY_LABEL).into_iter().map(|(id, k)| (id, *k)).collect()
    }

    /// Each master key's id and check value (primary first), as the database records them.
    pub fn check_values(&self) -> Vec<(String, [u8; crate::crypto::CHECK_VALUE_LEN])> {
        self.current().check_values()
    }

    pub fn wrap(&self, dek: &DataKey, object_id: &ObjectId) -> WrappedKey {
        self.current().wrap(dek, object_id)
    }

    pub fn unwrap(&self, wrapped: &WrappedKey, object_id: &ObjectId) -> anyhow::Result<DataKey> {
        match self.current().unwrap(wrapped, object_id) {
            Err(KeyError::UnknownKek(id)) => {
                self.reload()?;
                self.current().unwrap(wrapped, object_id).with_context(|| {
                    format!("the data key is wrapped under master key '{id}', which this keyring lacks")
                })
            }
            other => other.context("could not unwrap a data key"),
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RewrapReport {
    pub rewrapped: u64,
    /// Rows changed by someone else between reading and writing them (withdrawn, or re-wrapped by another node).
    pub skipped: u64,
}

/// Re-wraps every stored data key that is not under the keyring's primary key. Objects are
/// not touched. Safe to interrupt and to run again.
pub async fn rewrap_all(state: &AppState, keyring: &Keyring) -> Result<RewrapReport, ServiceError> {
    let primary = keyring.primary_id().to_owned();
    let mut report = RewrapReport::default();
    let mut seen_skips = std::collections::HashSet::new();
    loop {
        let batch = state.repo().keys_not_under(&primary, 500).await?;
        let fresh: Vec<_> = batch.into_iter().filter(|k| !seen_skips.contains(&k.transfer)).collect();
        if fresh.is_empty() {
            return Ok(report);
        }
        for stored in fresh {
            let object_id: ObjectId = *stored.object_id.as_bytes();
            let new = keyring
                .rewrap(&stored.wrapped_key, &object_id)
                .map_err(|e| anyhow::anyhow!("could not re-wrap the data key of transfer {}: {e}", stored.transfer))?;
            if state.repo().replace_wrapped_key(stored.transfer, &stored.wrapped_key, &new).await? {
                report.rewrapped += 1;
            } else {
                report.skipped += 1;
                seen_skips.insert(stored.transfer);
            }
        }
    }
}
