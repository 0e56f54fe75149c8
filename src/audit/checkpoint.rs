//! Checkpoints: the chain's head (sequence number, hash, time) sealed with a key derived from
//! the keyring and written outside the database. Someone who can rewrite the whole event table
//! can recompute every hash, but cannot forge these: `audit verify --checkpoints` then finds a
//! checkpointed head that the chain no longer contains.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::domain::clock::{from_millis, to_millis};

/// The label the checkpoint key is derived under (see `Keyring::derived_keys`).
pub const KEY_LABEL: &str = "audit checkpoints";

/// One line of the checkpoint file (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    /// Hex of the event's hash.
    pub hash: String,
    /// Milliseconds since the epoch, UTC.
    pub at: i64,
    /// The master key whose derived key sealed it.
    pub kid: String,
    /// Hex of HMAC-SHA256 over the fields above.
    pub mac: String,
}

fn mac_input(seq: u64, hash: &[u8; 32], at: i64, kid: &str) -> Vec<u8> {
    let mut out = b"pigeonpost-audit-checkpoint-v1\0".to_vec();
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(hash);
    out.extend_from_slice(&at.to_be_bytes());
    out.extend_from_slice(kid.as_bytes());
    out
}

fn mac(key: &[u8; 32], input: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(input);
    m.finalize().into_bytes().into()
}

impl Checkpoint {
    pub fn seal(seq: u64, hash: &[u8; 32], at: OffsetDateTime, kid: &str, key: &[u8; 32]) -> Checkpoint {
        let at = to_millis(at);
        let tag = mac(key, &mac_input(seq, hash, at, kid));
        Checkpoint { seq, hash: hex::encode(hash), at, kid: kid.to_owned(), mac: hex::encode(tag) }
    }

    /// The head it records, if its seal holds under `key`.
    pub fn open(&self, key: &[u8; 32]) -> Option<[u8; 32]> {
        let hash: [u8; 32] = hex::decode(&self.hash).ok()?.try_into().ok()?;
        let given: [u8; 32] = hex::decode(&self.mac).ok()?.try_into().ok()?;
        let expected = mac(key, &mac_input(self.seq, &hash, self.at, &self.kid));
        bool::from(expected.ct_eq(&given)).then_some(hash)
    }

    pub fn time(&self) -> OffsetDateTime {
        from_millis(self.at)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_checkpoint_opens_with_its_key_and_not_after_any_change() {
        let key = [9u8; 32];
        let c = Checkpoint::seal(42, &[7; 32], datetime!(2026-03-02 09:00 UTC), "k1", &key);
        assert_eq!(c.open(&key), Some([7; 32]));
        assert_eq!(c.open(&[8; 32]), None, "another key");
        for changed in [
            Checkpoint { seq: 43, ..c.clone() },
            Checkpoint { hash: hex::encode([6u8; 32]), ..c.clone() },
            Checkpoint { at: c.at + 1, ..c.clone() },
            Checkpoint { kid: "k2".into(), ..c.clone() },
        ] {
            assert_eq!(changed.open(&key), None, "{changed:?}");
        }
    }
}
