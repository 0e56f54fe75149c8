//! The `keyring.json` file: strict loading, atomic saving.
//!
//! Losing this file loses every object, and leaking it leaks every object, so loading refuses
//! anything unexpected (including loose permissions) instead of guessing, and saving never
//! leaves a half-written file behind.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::private_fs::{check_private, create_private_dir, write_atomic};
use super::{valid_kek_id, Kek, Keyring, KeyringSource};

/// Name of the keyring file inside the data directory.
const KEYRING_FILE: &str = "keyring.json";
const FILE_VERSION: u32 = 1;

/// On-disk shape. Zeroized on drop because `key` holds base64 key material.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct FileRepr {
    version: u32,
    primary: String,
    keys: Vec<FileKey>,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct FileKey {
    id: String,
    created_at: String,
    key: String,
}

pub(super) fn path_in(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join(KEYRING_FILE)
}

pub(super) fn load_existing(data_dir: &Path) -> anyhow::Result<Option<Keyring>> {
    load(&path_in(data_dir))
}

pub(super) fn load_or_create(data_dir: &Path) -> anyhow::Result<(Keyring, bool)> {
    let path = path_in(data_dir);
    if let Some(keyring) = load(&path)? {
        return Ok((keyring, false));
    }
    create_private_dir(data_dir)?;
    let keyring = Keyring {
        source: KeyringSource::File(path.clone()),
        primary: 0,
        keys: vec![fresh_kek(next_kek_id(std::iter::empty()))],
    };
    let contents = serialize(&keyring)?;
    if write_atomic(&path, &contents, false)? {
        return Ok((keyring, true));
    }
    // Another process created the keyring between our check and our write. Its keys may already
    // wrap data, so use that file rather than replacing it.
    match load(&path)? {
        Some(keyring) => Ok((keyring, false)),
        None => bail!("keyring file {} vanished while it was being created", path.display()),
    }
}

pub(super) fn save(path: &Path, keyring: &Keyring) -> anyhow::Result<()> {
    let contents = serialize(keyring)?;
    write_atomic(path, &contents, true)?;
    Ok(())
}

/// Refuses to go on if `keyring.json` no longer holds exactly the keys `keyring` was loaded with.
///
/// Two rotations from different processes (the server and `pigeonpost keys rotate`) would
/// otherwise each write their own new key, and the second rename would silently destroy the
/// first key along with every object already wrapped under it.
pub(super) fn ensure_unchanged(path: &Path, keyring: &Keyring) -> anyhow::Result<()> {
    let on_disk = load(path)?.with_context(|| format!("keyring file {} has disappeared", path.display()))?;
    let same = on_disk.primary == keyring.primary
        && on_disk.keys.len() == keyring.keys.len()
        && on_disk.keys.iter().zip(&keyring.keys).all(|(a, b)| a.id == b.id && a.key == b.key);
    if !same {
        bail!(
            "keyring file {} was changed by another process since this one loaded it; \
             restart and retry so that no key is lost",
            path.display()
        );
    }
    Ok(())
}

/// `k<n+1>` where n is the highest existing `k<number>` id, so ids are never reused even if an
/// operator removed a key by hand.
pub(super) fn next_kek_id<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let highest = ids.filter_map(|id| id.strip_prefix('k')?.parse::<u64>().ok()).max().unwrap_or(0);
    format!("k{}", highest.saturating_add(1))
}

pub(super) fn fresh_kek(id: String) -> Kek {
    let mut key = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(key.as_mut());
    let now = OffsetDateTime::now_utc();
    Kek {
        id,
        // Whole seconds: the file is read by humans deciding which keys are old.
        created_at: Some(now.replace_nanosecond(0).unwrap_or(now)),
        key,
    }
}

fn load(path: &Path) -> anyhow::Result<Option<Keyring>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("cannot open keyring file {}", path.display())),
    };
    // Check the handle we read from, not the path, so the file cannot be swapped in between.
    let metadata = file.metadata().with_context(|| format!("cannot stat keyring file {}", path.display()))?;
    if !metadata.is_file() {
        bail!("keyring path {} is not a regular file", path.display());
    }
    check_private(path, &metadata)?;
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text).with_context(|| format!("cannot read keyring file {}", path.display()))?;
    // serde_json's messages can quote input values, which here would be key material: report
    // only where the problem is.
    let repr: FileRepr = serde_json::from_str(&text).map_err(|err| {
        anyhow::anyhow!(
            "keyring file {} is malformed ({:?} error at line {}, column {}); fix it or restore \
             it from a backup: objects wrapped under its keys cannot be opened without it",
            path.display(),
            err.classify(),
            err.line(),
            err.column()
        )
    })?;
    let keyring = from_repr(&repr, path).with_context(|| format!("keyring file {} is invalid", path.display()))?;
    Ok(Some(keyring))
}

fn from_repr(repr: &FileRepr, path: &Path) -> anyhow::Result<Keyring> {
    if repr.version != FILE_VERSION {
        bail!("unsupported keyring version {} (this build reads version {FILE_VERSION})", repr.version);
    }
    let mut keys: Vec<Kek> = Vec::with_capacity(repr.keys.len());
    for entry in &repr.keys {
        if !valid_kek_id(&entry.id) {
            bail!("key id {:?} must be 1-64 characters of A-Z a-z 0-9 - _", entry.id);
        }
        if keys.iter().any(|k| k.id == entry.id) {
            bail!("key id {:?} appears twice", entry.id);
        }
        let created_at = OffsetDateTime::parse(&entry.created_at, &Rfc3339)
            .with_context(|| format!("key {:?} has a created_at that is not RFC 3339", entry.id))?;
        let key = super::env::decode_key(&entry.key)
            .with_context(|| format!("key {:?} is not base64 of exactly 32 bytes", entry.id))?;
        keys.push(Kek { id: entry.id.clone(), created_at: Some(created_at), key });
    }
    let primary = keys
        .iter()
        .position(|k| k.id == repr.primary)
        .with_context(|| format!("primary key {:?} is not among the keys", repr.primary))?;
    Ok(Keyring { source: KeyringSource::File(path.to_path_buf()), primary, keys })
}

fn serialize(keyring: &Keyring) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut keys = Vec::with_capacity(keyring.keys.len());
    for kek in &keyring.keys {
        let created_at = kek.created_at.unwrap_or_else(OffsetDateTime::now_utc);
        keys.push(FileKey {
            id: kek.id.clone(),
            created_at: created_at.format(&Rfc3339).context("formatting created_at")?,
            key: STANDARD.encode(kek.key.as_ref()),
        });
    }
    let repr = FileRepr { version: FILE_VERSION, primary: keyring.primary_id().to_owned(), keys };
    // Pre-sized so serialisation does not reallocate and strand copies of the keys in freed memory.
    let mut out = Zeroizing::new(Vec::with_capacity(512 + 256 * repr.keys.len()));
    serde_json::to_writer_pretty(&mut *out, &repr).context("serialising the keyring")?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_id_skips_past_the_highest() {
        assert_eq!(next_kek_id(std::iter::empty()), "k1");
        assert_eq!(next_kek_id(["k1", "k7", "k3", "env-1234abcd", "kx"].into_iter()), "k8");
    }
}
