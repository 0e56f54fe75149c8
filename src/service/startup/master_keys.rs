//! What a node checks before it serves: that its master keys are the ones the installation's
//! data is sealed under. A node that cannot open what other nodes sealed, or would seal what
//! they cannot open, refuses to start rather than answer some downloads with an error.
//!
//! The database records every master key it has seen, by id and check value (never the key).
//! A node refuses when a recorded key it needs is missing from its keyring (the newest primary,
//! or any key a stored row is still sealed under), or when its key of a recorded id has another
//! check value. A keyring is made only for a database that holds nothing a key protects.

use std::collections::HashMap;

use anyhow::Context;
use time::OffsetDateTime;

use super::{database_refusal, Refusal};
use crate::crypto::{KeySource, Keyring, KeyringHandle, CHECK_VALUE_LEN};
use crate::store::meta::{KeyCheck, SealedSample, SeenKey};
use crate::store::{Repository, StoreError};

/// How a node's keyring and the database's record of keys disagree.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Disagreement {
    /// Recorded keys the node needs and does not have.
    pub lacks: Vec<String>,
    /// Ids the node has, holding another key than the one recorded under that id.
    pub differs: Vec<String>,
}

impl Disagreement {
    fn is_empty(&self) -> bool {
        self.lacks.is_empty() && self.differs.is_empty()
    }

    /// The one sentence a refusing node says.
    pub fn sentence(&self, source: &KeySource) -> String {
        let mut what = Vec::new();
        if !self.lacks.is_empty() {
            what.push(format!(
                "this node lacks the master {} {} that the database's data is sealed under",
                plural(self.lacks.len(), "key", "keys"),
                list(&self.lacks)
            ));
        }
        if !self.differs.is_empty() {
            what.push(format!(
                "{} {} {} {} not the {} of that id the database has seen (a keyring made for another installation?)",
                if self.lacks.is_empty() { "this node's" } else { "its" },
                plural(self.differs.len(), "key", "keys"),
                list(&self.differs),
                plural(self.differs.len(), "is", "are"),
                plural(self.differs.len(), "key", "keys"),
            ));
        }
        format!("{}: {}", what.join(", and "), how_to_supply(source))
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

fn list(ids: &[String]) -> String {
    ids.join(", ")
}

fn how_to_supply(source: &KeySource) -> String {
    format!(
        "give every node the installation's keys, the current one as PIGEONPOST_MASTER_KEY and older ones \
         in PIGEONPOST_RETIRED_MASTER_KEYS (comma-separated), or the installation's keyring file at {}{}",
        source.keyring_file().display(),
        if source.from_environment() { " (PIGEONPOST_MASTER_KEY is set, so that file is not read)" } else { "" }
    )
}

/// The keyring this node is to serve with, checked against the database and recorded in it.
/// Returns it with whether a new keyring file was made.
pub async fn open_keyring(
    repo: &dyn Repository,
    source: &KeySource,
    now: OffsetDateTime,
) -> anyhow::Result<(Keyring, bool)> {
    let seen = repo.seen_master_keys().await.map_err(database_refusal("read which master keys the database knows"))?;
    let (keyring, created) = match source.load_existing()? {
        Some(keyring) => (keyring, false),
        None => {
            let has_data = repo.holds_keyed_data().await.map_err(database_refusal("read the database"))?;
            if has_data || !seen.is_empty() {
                return Err(Refusal(no_keyring_sentence(&seen, source)).into());
            }
            source.create()?
        }
    };
    let disagreement =
        compare(repo, &keyring, &seen).await.map_err(database_refusal("compare the master keys with the database"))?;
    if !disagreement.is_empty() {
        return Err(Refusal(disagreement.sentence(source)).into());
    }
    repo.record_master_keys(&key_checks(&keyring), keyring.primary_id(), now)
        .await
        .map_err(database_refusal("record this node's master keys in the database"))?;
    // Read back: a node starting at the same moment with another key of the same id got there
    // first if what is recorded is not ours.
    let recorded =
        repo.seen_master_keys().await.map_err(database_refusal("read which master keys the database knows"))?;
    let differs = differing(&keyring.check_values(), &recorded);
    if !differs.is_empty() {
        return Err(Refusal(Disagreement { lacks: Vec::new(), differs }.sentence(source)).into());
    }
    Ok((keyring, created))
}

/// What the database records of a keyring: each key's id and check value.
fn key_checks(keyring: &Keyring) -> Vec<KeyCheck> {
    keyring.check_values().into_iter().map(|(kek_id, check_value)| KeyCheck { kek_id, check_value }).collect()
}

fn no_keyring_sentence(seen: &[SeenKey], source: &KeySource) -> String {
    let ids: Vec<String> = seen.iter().map(|k| k.kek_id.clone()).collect();
    let named = if ids.is_empty() { String::new() } else { format!(" (master {})", list(&ids)) };
    format!(
        "this node has no master key, and the database already holds data sealed under the installation's keys{named}; \
         a new keyring is made only for an empty database: {}",
        how_to_supply(source)
    )
}

/// Ids present on both sides whose check values differ.
fn differing(mine: &[(String, [u8; CHECK_VALUE_LEN])], seen: &[SeenKey]) -> Vec<String> {
    let mine: HashMap<&str, &[u8; CHECK_VALUE_LEN]> = mine.iter().map(|(id, c)| (id.as_str(), c)).collect();
    seen.iter()
        .filter(|s| matches!((mine.get(s.kek_id.as_str()), &s.check_value), (Some(c), Some(v)) if *c != v))
        .map(|s| s.kek_id.clone())
        .collect()
}

/// The id of the key nodes started with as primary most recently.
fn newest_primary(seen: &[SeenKey]) -> Option<&str> {
    seen.iter().filter(|s| s.primary_since.is_some()).max_by_key(|s| s.primary_since).map(|s| s.kek_id.as_str())
}

async fn compare(repo: &dyn Repository, keyring: &Keyring, seen: &[SeenKey]) -> Result<Disagreement, StoreError> {
    let mine = keyring.check_values();
    let ids: HashMap<&str, &[u8; CHECK_VALUE_LEN]> = mine.iter().map(|(id, c)| (id.as_str(), c)).collect();
    let primary = newest_primary(seen);
    let mut found = Disagreement { lacks: Vec::new(), differs: differing(&mine, seen) };
    for key in seen {
        match (ids.get(key.kek_id.as_str()), &key.check_value) {
            (None, _) => {
                // A retired key every row has moved off is no longer needed; the newest primary
                // always is, since other nodes seal new files under it.
                if Some(key.kek_id.as_str()) == primary || repo.master_key_in_use(&key.kek_id).await? {
                    found.lacks.push(key.kek_id.clone());
                }
            }
            // Known by id only (recorded from rows sealed before keys were recorded): proved by
            // opening one of those rows.
            (Some(_), None) => {
                if let Some(sample) = repo.sealed_sample(&key.kek_id).await? {
                    if !opens(keyring, &sample) {
                        found.differs.push(key.kek_id.clone());
                    }
                }
            }
            (Some(_), Some(_)) => {}
        }
    }
    Ok(found)
}

fn opens(keyring: &Keyring, sample: &SealedSample) -> bool {
    match sample {
        SealedSample::Transfer { object_id, wrapped } => keyring.unwrap(wrapped, object_id.as_bytes()).is_ok(),
        SealedSample::Totp { user, wrapped } => {
            keyring.unwrap(wrapped, &crate::service::sessions::totp_binding(*user)).is_ok()
        }
    }
}

/// Whether a running node's keys still agree with the database: no key of a recorded id is
/// another key, and the node holds the newest primary (after another node or `keys rotate`
/// moved to a new key, a node without it cannot open what the others now seal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringState {
    Agrees,
    Mismatch,
}

pub async fn keyring_state(keys: &KeyringHandle, repo: &dyn Repository) -> Result<KeyringState, StoreError> {
    let seen = repo.seen_master_keys().await?;
    let agrees = |mine: &[(String, [u8; CHECK_VALUE_LEN])]| {
        let has_primary = newest_primary(&seen).is_none_or(|p| mine.iter().any(|(id, _)| id == p));
        has_primary && differing(mine, &seen).is_empty()
    };
    if agrees(&keys.check_values()) {
        return Ok(KeyringState::Agrees);
    }
    // The keyring file may have been rotated by `keys rotate` since this node read it.
    if keys.reload_now_and_then() && agrees(&keys.check_values()) {
        return Ok(KeyringState::Agrees);
    }
    Ok(KeyringState::Mismatch)
}

/// Records a keyring after a rotation, its new primary as the key every node must now hold.
pub async fn record_keyring(repo: &dyn Repository, keyring: &Keyring, now: OffsetDateTime) -> anyhow::Result<()> {
    repo.record_master_keys(&key_checks(keyring), keyring.primary_id(), now)
        .await
        .context("could not record the new master key in the database")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(id: &str, check: Option<u8>, primary_since: Option<i64>) -> SeenKey {
        SeenKey {
            kek_id: id.into(),
            check_value: check.map(|b| [b; CHECK_VALUE_LEN]),
            primary_since: primary_since.map(crate::domain::clock::from_millis),
        }
    }

    #[test]
    fn a_key_of_a_known_id_with_another_check_value_differs() {
        let mine = vec![("k1".to_owned(), [1; CHECK_VALUE_LEN]), ("k2".to_owned(), [2; CHECK_VALUE_LEN])];
        let recorded = [seen("k1", Some(1), Some(1)), seen("k2", Some(9), None), seen("k3", Some(3), None)];
        assert_eq!(differing(&mine, &recorded), ["k2"]);
    }

    #[test]
    fn a_key_known_by_id_only_does_not_differ_by_check_value() {
        let mine = vec![("k1".to_owned(), [1; CHECK_VALUE_LEN])];
        assert!(differing(&mine, &[seen("k1", None, None)]).is_empty());
    }

    #[test]
    fn the_newest_primary_is_the_one_most_recently_made_primary() {
        let recorded = [seen("k1", Some(1), Some(10)), seen("k2", Some(2), Some(20)), seen("k3", Some(3), None)];
        assert_eq!(newest_primary(&recorded), Some("k2"));
        assert_eq!(newest_primary(&[seen("k1", None, None)]), None);
    }

    #[test]
    fn a_refusal_names_the_keys_and_every_way_to_supply_them() {
        let source = KeySource { data_dir: "/var/lib/pigeonpost".into(), master_key: None, retired_keys: None };
        let said = Disagreement { lacks: vec!["env-1a2b3c4d".into()], differs: vec!["k1".into()] }.sentence(&source);
        for needed in [
            "env-1a2b3c4d",
            "k1",
            "PIGEONPOST_MASTER_KEY",
            "PIGEONPOST_RETIRED_MASTER_KEYS",
            "/var/lib/pigeonpost/keyring.json",
        ] {
            assert!(said.contains(needed), "{needed} missing from: {said}");
        }
        assert!(!said.contains('\n'), "one sentence: {said}");
    }
}
