//! The per-object data encryption key (DEK).

use std::fmt;

use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

/// A per-object 256-bit data encryption key.
///
/// Every stored object gets its own random DEK so that a key only ever protects one object:
/// rotating a KEK then means rewrapping 72-byte keys, never re-encrypting file contents, and a
/// leaked DEK exposes exactly one object.
///
/// Deliberately not `Clone` (so copies of the secret cannot multiply unnoticed), not
/// `Serialize` (so it cannot end up in a log line or a JSON response by accident) and with a
/// redacting `Debug`. The bytes are wiped when the key is dropped.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// Draws a fresh key from the operating system's CSPRNG.
    ///
    /// `OsRng` rather than a userspace generator: DEKs are long-lived secrets and we want the
    /// kernel's entropy directly, with no generator state that could be forked or snapshotted.
    pub fn generate() -> DataKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        DataKey(bytes)
    }

    /// Builds a key from known bytes. Meant for test vectors and for unwrapping; production code
    /// creates keys with [`DataKey::generate`].
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        // The argument is a copy on the caller's stack that we cannot wipe; callers holding real
        // secrets should keep their own copy in `Zeroizing` too.
        DataKey(Zeroizing::new(bytes))
    }

    /// The raw key bytes. Named so that every use of the secret stands out in review.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_print_key_material() {
        let key = DataKey::from_bytes([0xAB; 32]);
        let shown = format!("{key:?} {key:#?}");
        assert_eq!(shown, "DataKey(..) DataKey(..)");
    }

    #[test]
    fn generated_keys_differ() {
        let a = DataKey::generate();
        let b = DataKey::generate();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(a.expose_secret(), &[0u8; 32]);
    }

    #[test]
    fn from_bytes_round_trips() {
        let bytes: [u8; 32] = core::array::from_fn(|i| i as u8);
        assert_eq!(DataKey::from_bytes(bytes).expose_secret(), &bytes);
    }
}
