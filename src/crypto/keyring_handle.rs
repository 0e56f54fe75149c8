//! The keyring as the running server holds it: shared by every request and worker, and read
//! again when another process rotates it.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use secrecy::SecretString;

use super::{DataKey, KeyError, Keyring, ObjectId, SealedText, WrappedKey, CHECK_VALUE_LEN};

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

    /// Keys derived from each master key for one purpose (`label`: session tokens, audit
    /// checkpoints), by master key id, primary first.
    pub fn derived_keys(&self, label: &str) -> Vec<(String, [u8; 32])> {
        self.current().derived_keys(label).into_iter().map(|(id, k)| (id, *k)).collect()
    }

    /// Each master key's id and check value (primary first), as the database records them.
    pub fn check_values(&self) -> Vec<(String, [u8; CHECK_VALUE_LEN])> {
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

    /// Seals `text` under the data key `wrapped` protects, for the object `object_id`.
    pub fn seal_text(&self, wrapped: &WrappedKey, object_id: &ObjectId, text: &str) -> anyhow::Result<SealedText> {
        Ok(SealedText::seal(&self.unwrap(wrapped, object_id)?, object_id, text))
    }

    /// Opens text sealed by [`KeyringHandle::seal_text`].
    pub fn open_text(&self, wrapped: &WrappedKey, object_id: &ObjectId, sealed: &SealedText) -> anyhow::Result<String> {
        Ok(sealed.open(&self.unwrap(wrapped, object_id)?, object_id)?)
    }
}
