//! Pure arithmetic over the v1 layout: where each segment lives and how long it is.
//!
//! The server keeps the plaintext length in its database, so it can compute every offset without
//! reading the object; that is what makes HTTP Range requests a seek plus one segment decrypt.

use super::{FormatError, HEADER_LEN, MAX_SEGMENTS, SEALED_SEGMENT_LEN, SEGMENT_SIZE, TAG_LEN};

const SEGMENT: u64 = SEGMENT_SIZE as u64;
const SEALED: u64 = SEALED_SEGMENT_LEN as u64;
const TAG: u64 = TAG_LEN as u64;
const HEADER: u64 = HEADER_LEN as u64;

/// Number of segments an object of `plaintext_len` bytes is sealed into.
///
/// An empty file is still one (empty) final segment: the final segment's tag is what proves the
/// object ends there, so there is no such thing as an object without one.
pub fn segment_count(plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(SEGMENT).max(1)
}

/// Length of the whole sealed object (header plus every segment and its tag).
///
/// Saturates at `u64::MAX` for lengths no object can have (beyond 2^32 segments, which
/// [`Sealer`](super::Sealer) refuses), so the result is always safe to compare with a file size.
pub fn ciphertext_len(plaintext_len: u64) -> u64 {
    HEADER.saturating_add(plaintext_len).saturating_add(segment_count(plaintext_len).saturating_mul(TAG))
}

/// Byte offset of segment `index` within the object. Saturates like [`ciphertext_len`].
pub fn segment_offset(index: u64) -> u64 {
    HEADER.saturating_add(index.saturating_mul(SEALED))
}

/// Length of segment `index`'s ciphertext including its tag, for an object of `plaintext_len`
/// bytes. Returns 0 when `index` is past the final segment (a real segment is never shorter
/// than its 16-byte tag, so 0 cannot be mistaken for one).
pub fn sealed_segment_len(index: u64, plaintext_len: u64) -> usize {
    let count = segment_count(plaintext_len);
    if index < count - 1 {
        SEALED_SEGMENT_LEN
    } else if index == count - 1 {
        // The final segment holds what the full ones before it did not: 0..=SEGMENT_SIZE bytes.
        let rest = plaintext_len - index * SEGMENT;
        rest as usize + TAG_LEN
    } else {
        0
    }
}

/// Plaintext length of an object that is `ciphertext_len` bytes long, or an error if no v1
/// object has that length.
///
/// The layout is a pure function of the length, so the length alone tells where every segment
/// boundary is and which segment must carry the final flag; a reader never has to trust a length
/// field inside the object.
pub fn plaintext_len(ciphertext_len: u64) -> Result<u64, FormatError> {
    if ciphertext_len < HEADER {
        return Err(FormatError::Truncated);
    }
    let body = ciphertext_len - HEADER;
    if body < TAG {
        return Err(FormatError::Truncated);
    }
    let count = body.div_ceil(SEALED);
    let final_sealed = body - (count - 1) * SEALED;
    // A remainder of 1..=15 bytes after the last full segment cannot be a segment: it is shorter
    // than a tag. That is either a truncated final segment or bytes appended to the object.
    // A bare tag (an empty final segment) only exists in the empty object: a plaintext that is
    // an exact multiple of SEGMENT_SIZE ends with a full final segment, so that the layout is a
    // bijection and [`segment_count`] and this function agree.
    if final_sealed < TAG || (final_sealed == TAG && count > 1) {
        return Err(FormatError::InvalidLength(ciphertext_len));
    }
    if count > MAX_SEGMENTS {
        return Err(FormatError::CounterOverflow);
    }
    Ok(body - count * TAG)
}
