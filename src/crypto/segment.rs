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
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use chacha20poly1305::aead::stream::{NewStream, StreamBE32, StreamPrimitive};
use chacha20poly1305::aead::{self, generic_array::GenericArray};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use rand::rngs::OsRng;
use rand::RngCore;

use super::data_key::DataKey;

pub use layout::{
    ciphertext_len, plaintext_len, sealed_segment_len, segment_count, segment_offset,
};

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

type Stream = StreamBE32<ChaCha20Poly1305>;

fn new_stream(key: &DataKey, prefix: &[u8; NONCE_PREFIX_LEN]) -> Stream {
    let aead = ChaCha20Poly1305::new(GenericArray::from_slice(key.expose_secret()));
    Stream::from_aead(aead, GenericArray::from_slice(prefix))
}

fn build_header(prefix: &[u8; NONCE_PREFIX_LEN]) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(&MAGIC);
    header[4] = FORMAT_VERSION;
    header[5] = SEGMENT_SIZE_LOG2;
    // header[6..9] reserved, zero.
    header[9..].copy_from_slice(prefix);
    header
}

/// Checks everything in the header that can be checked before decrypting and returns the
/// nonce prefix. Authentication of the header itself happens with every segment.
fn parse_header(bytes: &[u8]) -> Result<([u8; HEADER_LEN], [u8; NONCE_PREFIX_LEN]), FormatError> {
    let header: [u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(FormatError::Truncated)?;
    if header[..4] != MAGIC {
        return Err(FormatError::BadMagic);
    }
    if header[4] != FORMAT_VERSION {
        return Err(FormatError::UnsupportedVersion(header[4]));
    }
    if header[5] != SEGMENT_SIZE_LOG2 {
        return Err(FormatError::UnsupportedSegmentSize(header[5]));
    }
    if header[6..9] != [0, 0, 0] {
        return Err(FormatError::NonZeroReserved);
    }
    let mut prefix = [0u8; NONCE_PREFIX_LEN];
    prefix.copy_from_slice(&header[9..]);
    Ok((header, prefix))
}

fn associated_data(header: &[u8; HEADER_LEN], object_id: &ObjectId) -> [u8; AAD_LEN] {
    let mut aad = [0u8; AAD_LEN];
    aad[..HEADER_LEN].copy_from_slice(header);
    aad[HEADER_LEN..].copy_from_slice(object_id);
    aad
}

/// Maps a segment index to the STREAM counter. A non-final segment at the maximum counter is
/// refused too: no final segment could ever follow it.
fn stream_position(index: u64, last: bool) -> Result<u32, FormatError> {
    let position = u32::try_from(index).map_err(|_| FormatError::CounterOverflow)?;
    if !last && position == u32::MAX {
        return Err(FormatError::CounterOverflow);
    }
    Ok(position)
}

/// An [`aead::Buffer`] over the tail of a `Vec`, so segments are sealed and opened in place at
/// the end of a caller's reusable buffer without an extra copy or allocation per segment.
struct TailBuffer<'a> {
    vec: &'a mut Vec<u8>,
    start: usize,
}

impl AsRef<[u8]> for TailBuffer<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.vec[self.start..]
    }
}

impl AsMut<[u8]> for TailBuffer<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.vec[self.start..]
    }
}

impl aead::Buffer for TailBuffer<'_> {
    fn extend_from_slice(&mut self, other: &[u8]) -> aead::Result<()> {
        self.vec.extend_from_slice(other);
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        self.vec.truncate(self.start + len);
    }
}

/// Seals one object, segment by segment, in order.
///
/// Sequential by construction: it owns the counter, so a caller cannot reuse a nonce by sealing
/// two segments at the same index. Not `Clone` for the same reason.
pub struct Sealer {
    stream: Stream,
    header: [u8; HEADER_LEN],
    aad: [u8; AAD_LEN],
    next: u64,
    finished: bool,
}

impl Sealer {
    /// Starts an object with a fresh random nonce prefix.
    pub fn new(key: &DataKey, object_id: &ObjectId) -> Sealer {
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        OsRng.fill_bytes(&mut prefix);
        Sealer::with_nonce_prefix(key, object_id, prefix)
    }

    /// Starts an object with a chosen nonce prefix. For test vectors only: reusing a prefix with
    /// the same key reuses nonces.
    pub fn with_nonce_prefix(
        key: &DataKey,
        object_id: &ObjectId,
        prefix: [u8; NONCE_PREFIX_LEN],
    ) -> Sealer {
        let header = build_header(&prefix);
        Sealer {
            stream: new_stream(key, &prefix),
            header,
            aad: associated_data(&header, object_id),
            next: 0,
            finished: false,
        }
    }

    /// The header to write at the start of the object, before the first segment.
    pub fn header(&self) -> [u8; HEADER_LEN] {
        self.header
    }

    /// Seals the next segment. `plaintext.len()` must be SEGMENT_SIZE unless `last`; after
    /// `last` no more calls. Appends ciphertext+tag to `out` (lets the caller reuse one buffer).
    ///
    /// The final segment may be empty only if it is also the first (the empty object): a
    /// plaintext that is an exact multiple of SEGMENT_SIZE must seal its last full chunk with
    /// `last = true`, so a streaming caller needs one chunk of look-ahead. This keeps exactly one
    /// layout per length, which [`segment_count`] and [`plaintext_len`] rely on.
    ///
    /// On error nothing is appended and the sealer's position does not move, so a caller that
    /// mis-sized a chunk cannot end up with a gap in the counter.
    pub fn seal_next(
        &mut self,
        plaintext: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), FormatError> {
        if self.finished {
            return Err(FormatError::SealerFinished);
        }
        let segment = self.next;
        let len = plaintext.len();
        if len > SEGMENT_SIZE {
            return Err(FormatError::SegmentTooLarge { segment, len });
        }
        if !last && len != SEGMENT_SIZE {
            return Err(FormatError::ShortSegment { segment, len });
        }
        if last && len == 0 && segment > 0 {
            return Err(FormatError::EmptyFinalSegment { segment });
        }
        let position = stream_position(segment, last)?;
        let start = out.len();
        out.reserve(len + TAG_LEN);
        out.extend_from_slice(plaintext);
        let mut buffer = TailBuffer { vec: out, start };
        if self
            .stream
            .encrypt_in_place(position, last, &self.aad, &mut buffer)
            .is_err()
        {
            // Unreachable for segment-sized inputs (ChaCha20 only refuses > 256 GiB), but never
            // leave plaintext behind in the caller's output buffer.
            out.truncate(start);
            return Err(FormatError::SegmentTooLarge { segment, len });
        }
        self.next += 1;
        self.finished = last;
        Ok(())
    }
}

/// Opens segments of one object, in any order (random access for HTTP Range requests).
pub struct Opener {
    stream: Stream,
    aad: [u8; AAD_LEN],
}

impl Opener {
    /// Parses and checks the header (magic, version, segment size) read from the start of the
    /// object. Only the first [`HEADER_LEN`] bytes are read, so passing a longer prefix of the
    /// object is fine.
    pub fn new(key: &DataKey, object_id: &ObjectId, header: &[u8]) -> Result<Opener, FormatError> {
        let (header, prefix) = parse_header(header)?;
        Ok(Opener {
            stream: new_stream(key, &prefix),
            aad: associated_data(&header, object_id),
        })
    }

    /// Opens segment `index` (random access, for HTTP Range). `last` says whether the caller
    /// expects this to be the final segment (the caller knows the plaintext length from its
    /// database row). Returns the plaintext.
    pub fn open_segment(
        &self,
        index: u64,
        sealed: &[u8],
        last: bool,
    ) -> Result<Vec<u8>, FormatError> {
        let mut out = Vec::with_capacity(sealed.len());
        self.open_segment_into(index, sealed, last, &mut out)?;
        Ok(out)
    }

    /// Like [`Opener::open_segment`] but appends the plaintext to `out`, so a download loop can
    /// reuse one buffer. On error `out` is left exactly as it was.
    pub fn open_segment_into(
        &self,
        index: u64,
        sealed: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), FormatError> {
        let len = sealed.len();
        if len < TAG_LEN {
            return Err(FormatError::Truncated);
        }
        if len > SEALED_SEGMENT_LEN {
            return Err(FormatError::SegmentTooLarge {
                segment: index,
                len,
            });
        }
        if !last && len != SEALED_SEGMENT_LEN {
            return Err(FormatError::ShortSegment {
                segment: index,
                len,
            });
        }
        if last && len == TAG_LEN && index > 0 {
            return Err(FormatError::EmptyFinalSegment { segment: index });
        }
        let position = stream_position(index, last)?;
        let start = out.len();
        out.extend_from_slice(sealed);
        let mut buffer = TailBuffer { vec: out, start };
        if self
            .stream
            .decrypt_in_place(position, last, &self.aad, &mut buffer)
            .is_err()
        {
            out.truncate(start);
            return Err(FormatError::Authentication { segment: index });
        }
        Ok(())
    }
}

/// Convenience for tests and tools: whole object in memory.
pub fn seal_to_vec(
    key: &DataKey,
    object_id: &ObjectId,
    prefix: [u8; NONCE_PREFIX_LEN],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut sealer = Sealer::with_nonce_prefix(key, object_id, prefix);
    let mut out =
        Vec::with_capacity(usize::try_from(ciphertext_len(plaintext.len() as u64)).unwrap_or(0));
    out.extend_from_slice(&sealer.header());
    let count = segment_count(plaintext.len() as u64) as usize;
    // `chunks` yields nothing for an empty slice; the empty object is one empty final segment.
    let mut chunks = plaintext.chunks(SEGMENT_SIZE);
    for index in 0..count {
        let chunk = chunks.next().unwrap_or(&[]);
        let last = index + 1 == count;
        // Every chunk is full except possibly the last, and an in-memory slice cannot reach
        // 2^32 segments (256 TiB), so sealing cannot fail.
        if let Err(err) = sealer.seal_next(chunk, last, &mut out) {
            unreachable!("sealing an in-memory object failed: {err}");
        }
    }
    out
}

/// Opens a whole object held in memory, deriving the segment layout from the object's length;
/// refuses anything malformed.
pub fn open_from_slice(
    key: &DataKey,
    object_id: &ObjectId,
    object: &[u8],
) -> Result<Vec<u8>, FormatError> {
    let opener = Opener::new(key, object_id, object)?;
    let expected = plaintext_len(object.len() as u64)?;
    let body = object.get(HEADER_LEN..).ok_or(FormatError::Truncated)?;
    let count = segment_count(expected);
    let mut plaintext = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    for (index, sealed) in (0..count).zip(body.chunks(SEALED_SEGMENT_LEN)) {
        opener.open_segment_into(index, sealed, index + 1 == count, &mut plaintext)?;
    }
    Ok(plaintext)
}
