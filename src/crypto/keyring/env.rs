//! Keys supplied through the environment (PIGEONPOST_MASTER_KEY and
//! PIGEONPOST_RETIRED_MASTER_KEYS), for deployments that keep secrets in a secret store rather
//! than on the data volume.

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{Kek, Keyring, KeyringSource};

const MASTER_VAR: &str = "PIGEONPOST_MASTER_KEY";
const RETIRED_VAR: &str = "PIGEONPOST_RETIRED_MASTER_KEYS";
const HOW_TO_GENERATE: &str = "generate one with `openssl rand -base64 32`";

pub(super) fn from_environment(master: &SecretString, retired: Option<&SecretString>) -> anyhow::Result<Keyring> {
    let master = master.expose_secret().trim();
    if master.is_empty() {
        bail!(
            "{MASTER_VAR} is set but empty: unset it to use a keyring file in the data \
             directory, or set it to base64 of 32 random bytes ({HOW_TO_GENERATE})"
        );
    }
    let key = decode_key(master)
        .with_context(|| format!("{MASTER_VAR} must be base64 of exactly 32 bytes ({HOW_TO_GENERATE})"))?;
    let mut keys = vec![env_kek(key)];
    let retired = retired.map(|r| r.expose_secret()).unwrap_or("");
    for (position, value) in retired.split(',').map(str::trim).enumerate() {
        if value.is_empty() {
            continue;
        }
        let key = decode_key(value)
            .with_context(|| format!("entry {} of {RETIRED_VAR} must be base64 of exactly 32 bytes", position + 1))?;
        let kek = env_kek(key);
        match keys.iter().find(|k| k.id == kek.id) {
            // Listing the current key as retired too is harmless; keep one copy.
            Some(existing) if existing.key == kek.key => continue,
            Some(existing) => bail!(
                "two different keys in {MASTER_VAR}/{RETIRED_VAR} share the id {}; \
                 replace one of them with a freshly generated key",
                existing.id
            ),
            None => keys.push(kek),
        }
    }
    Ok(Keyring { source: KeyringSource::Environment, primary: 0, keys })
}

/// Retired keys only make sense next to a master key; silently ignoring them would leave an
/// operator believing old rows are covered when the server is using its keyring file instead.
pub(super) fn refuse_retired_without_master(retired: Option<&SecretString>) -> anyhow::Result<()> {
    let has_any = retired.is_some_and(|r| r.expose_secret().split(',').any(|k| !k.trim().is_empty()));
    if has_any {
        bail!(
            "{RETIRED_VAR} is set but {MASTER_VAR} is not: retired keys are only used alongside \
             a master key. Set {MASTER_VAR}, or unset {RETIRED_VAR} to use the keyring file"
        );
    }
    Ok(())
}

/// Decodes standard base64 (padding required) into exactly 32 bytes.
///
/// The decoder's own error is dropped on purpose: it names the offending character and its
/// offset, which would put part of a secret into logs.
pub(super) fn decode_key(value: &str) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    let decoded = Zeroizing::new(STANDARD.decode(value.trim()).map_err(|_| anyhow::anyhow!("not valid base64"))?);
    if decoded.len() != 32 {
        bail!("decodes to {} bytes, not 32", decoded.len());
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&decoded);
    Ok(key)
}

/// `env-` plus the first 8 hex digits of SHA-256 of the raw key: stable across restarts and
/// hosts without storing anything, and computable by an operator with
/// `base64 -d <<<"$KEY" | sha256sum | cut -c1-8`. 32 bits of a hash reveal nothing useful about
/// a 256-bit random key.
pub(super) fn env_kek_id(key: &[u8; 32]) -> String {
    let digest = Sha256::digest(key);
    format!("env-{}", hex::encode(&digest[..4]))
}

fn env_kek(key: Zeroizing<[u8; 32]>) -> Kek {
    Kek { id: env_kek_id(&key), created_at: None, key }
}
