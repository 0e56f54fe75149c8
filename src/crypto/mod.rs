//! Encryption at rest: envelope encryption of every stored object.
//!
//! Each object gets its own random 256-bit data key ([`DataKey`]). The object is sealed with it
//! in 64 KiB segments using ChaCha20-Poly1305 in the STREAM construction ([`segment`]), and the
//! data key itself is stored in the database only wrapped, with XChaCha20-Poly1305, under a
//! key-encryption key from the [`Keyring`] ([`keyring`]).
//!
//! Why an envelope rather than one server key for all files:
//! - Rotating a KEK means rewrapping 72-byte keys in the database (`pigeonpost keys rewrap`),
//!   not re-encrypting terabytes of files, so rotation is cheap enough to actually happen.
//! - A data key only ever protects one object, so nonce management per key is trivial and a
//!   single leaked data key exposes a single transfer.
//! - Deleting an object's row (its wrapped key) makes the file unreadable even if a copy of the
//!   file survives in a backup, which makes retention limits enforceable.
//!
//! Why segments: downloads (including HTTP Range requests) decrypt only the 64 KiB segments
//! they touch and never release unauthenticated plaintext, uploads stream in bounded memory,
//! and STREAM's per-segment counter and final-segment flag make truncation, reordering and
//! splicing detectable. The object id and header are associated data of every segment, so a
//! file moved to another object's path fails to open.
//!
//! A transfer's message is sealed with the same data key ([`sealed_text`]), so it is shredded
//! with the file.
//!
//! `docs/object-format.md` specifies both formats byte for byte, with test vectors.

pub mod data_key;
pub mod keyring;
pub mod keyring_handle;
pub mod sealed_text;
pub mod segment;
pub mod spool;

pub use data_key::DataKey;
pub use keyring::{KeyError, Keyring, KeyringSource, WrappedKey, CHECK_VALUE_LEN};
pub use keyring_handle::{KeySource, KeyringHandle};
pub use sealed_text::{SealedText, TextError};
pub use segment::{
    ciphertext_len, open_from_slice, plaintext_len, seal_to_vec, sealed_segment_len, segment_count, segment_offset,
    FormatError, ObjectId, Opener, Sealer, HEADER_LEN, SEGMENT_SIZE, TAG_LEN,
};

// The server keeps the keyring in shared state and moves openers and sealers across await
// points on a multi-threaded runtime; losing Send or Sync would surface far from the cause.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<DataKey>();
    shareable::<Keyring>();
    shareable::<Sealer>();
    shareable::<Opener>();
    shareable::<FormatError>();
    shareable::<KeyError>();
};
