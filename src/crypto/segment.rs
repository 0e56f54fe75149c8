//! Object format v1: a 16-byte header followed by ChaCha20-Poly1305 STREAM segments.
//!
//! ```text
//! object  = header(16) || segment_0 || ... || segment_{n-1}
//! header  = "PGPO" || 0x01 (version) || 0x10 (log2 segment size) || 00 00 00 || nonce_prefix(7)
//! segment = ChaCha20-Poly1305(key = DEK,
//!                             nonce = nonce_prefix || u32_be(index) || last_flag,
//!                             aad = header || object_id,
//!                             plaintext = 64 KiB, or 0..=64 KiB for the final segment)
//! ```
//!
//! Why this shape (see `docs/object-format.md` for the byte-exact specification and vectors):
//! - Fixed-size segments let a Range request decrypt only the segments it touches, and let
//!   uploads and downloads stream with bounded memory.
//! - STREAM's counter in the nonce pins every segment to its position, and its last-flag makes
//!   the final segment different from all others, so reordering, duplicating, truncating
//!   (even at a segment boundary) or extending an object all fail authentication.
//! - The header and the object id are associated data of *every* segment: a flipped header bit,
//!   a version downgrade, or a segment moved into another object (even one sharing the DEK)
//!   fails on the first segment touched, without trusting anything unauthenticated.
//! - The random nonce prefix is defence in depth: DEKs are already per object, but if one were
//!   ever reused (a bug, a restored backup re-sealed) the nonces would still not collide.

mod layout;
mod opener;
#[cfg(test)]
mod proptests;
mod sealer;
mod stream;
#[cfg(test)]
mod tamper_tests;
#[cfg(test)]
mod tests;

pub use layout::{ciphertext_len, plaintext_len, sealed_segment_len, segment_count, segment_offset};
pub use opener::{open_from_slice, Opener};
pub use sealer::{seal_to_vec, Sealer};

/// Plaintext bytes per segment (every segment but the final one holds exactly this many).
pub const SEGMENT_SIZE: usize = 64 * 1024;
/// Poly1305 tag appended to every segment.
pub const TAG_LEN: usize = 16;
/// Length of the object header.
pub const HEADER_LEN: usize = 16;
/// A full segment as stored: plaintext plus tag.
pub const SEALED_SEGMENT_LEN: usize = SEGMENT_SIZE + TAG_LEN;
/// Length of the random per-object nonce prefix stored in the header.
pub const NONCE_PREFIX_LEN: usize = 7;
/// The STREAM counter is 32 bits, so an object holds at most 2^32 segments (256 TiB).
pub const MAX_SEGMENTS: u64 = 1 << 32;

/// Magic bytes at the start of every object: identifies our files on disk at a glance.
pub const MAGIC: [u8; 4] = *b"PGPO";
/// The only format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// log2(SEGMENT_SIZE), stored so a reader fails clearly rather than mis-slicing if it changes.
const SEGMENT_SIZE_LOG2: u8 = 16;
const _: () = assert!(1usize << SEGMENT_SIZE_LOG2 == SEGMENT_SIZE);
const AAD_LEN: usize = HEADER_LEN + 16;

/// The transfer's object id (a UUID's 16 bytes), bound into every segment as associated data.
pub type ObjectId = [u8; 16];

/// Why an object (or a request to seal one) was refused.
///
/// Messages name the problem without echoing any object bytes or key material.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("not a Pigeonpost object: bad magic bytes")]
    BadMagic,
    #[error("unsupported object format version {0} (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion(u8),
    #[error("unsupported segment size 2^{0} (format v1 uses 2^{SEGMENT_SIZE_LOG2})")]
    UnsupportedSegmentSize(u8),
    #[error("object header has non-zero reserved bytes")]
    NonZeroReserved,
    #[error("object is truncated: shorter than its header or than one segment tag")]
    Truncated,
    #[error("object length {0} is not a valid v1 layout (truncated or extended)")]
    InvalidLength(u64),
    #[error("segment {segment} is {len} bytes, more than one segment can hold")]
    SegmentTooLarge { segment: u64, len: usize },
    #[error("segment {segment} is {len} bytes but only the final segment may be short")]
    ShortSegment { segment: u64, len: usize },
    #[error(
        "segment {segment} failed authentication \
         (wrong key or object, or the data was altered, truncated, reordered or extended)"
    )]
    Authentication { segment: u64 },
    #[error(
        "segment {segment} is an empty final segment, which only an empty object has \
         (the previous full segment must be sealed as the final one)"
    )]
    EmptyFinalSegment { segment: u64 },
    #[error("segment counter overflow: an object holds at most 2^32 segments")]
    CounterOverflow,
    #[error("the final segment was already sealed; nothing may follow it")]
    SealerFinished,
}
