//! Writing objects: [`Sealer`] for streaming uploads, [`seal_to_vec`] for whole objects.

use chacha20poly1305::aead::stream::StreamPrimitive;
use rand::rngs::OsRng;
use rand::RngCore;

use super::stream::{associated_data, build_header, new_stream, stream_position, Stream, TailBuffer};
use super::{
    ciphertext_len, segment_count, FormatError, ObjectId, AAD_LEN, HEADER_LEN, NONCE_PREFIX_LEN, SEGMENT_SIZE, TAG_LEN,
};
use crate::crypto::data_key::DataKey;

/// Seals one object, segment by segment, in order.
///
/// Sequential by construction: it owns the counter, so a caller cannot reuse a nonce by sealing
/// two segments at the same index. Not `Clone` for the same reason.
pub struct Sealer {
    stream: Stream,
    header: [u8; HEADER_LEN],
    aad: [u8; AAD_LEN],
    /// Index of the next segment; visible to the tests so they can reach the counter limit.
    pub(super) next: u64,
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
    pub fn with_nonce_prefix(key: &DataKey, object_id: &ObjectId, prefix: [u8; NONCE_PREFIX_LEN]) -> Sealer {
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
    /// layout per length, which [`segment_count`] and [`plaintext_len`](super::plaintext_len) rely on.
    ///
    /// On error nothing is appended and the sealer's position does not move, so a caller that
    /// mis-sized a chunk cannot end up with a gap in the counter.
    pub fn seal_next(&mut self, plaintext: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), FormatError> {
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
        if self.stream.encrypt_in_place(position, last, &self.aad, &mut buffer).is_err() {
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

/// Convenience for tests and tools: whole object in memory.
pub fn seal_to_vec(key: &DataKey, object_id: &ObjectId, prefix: [u8; NONCE_PREFIX_LEN], plaintext: &[u8]) -> Vec<u8> {
    let mut sealer = Sealer::with_nonce_prefix(key, object_id, prefix);
    let mut out = Vec::with_capacity(usize::try_from(ciphertext_len(plaintext.len() as u64)).unwrap_or(0));
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
