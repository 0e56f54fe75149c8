//! Reading objects: [`Opener`] for random access, [`open_from_slice`] for whole objects.

use chacha20poly1305::aead::stream::StreamPrimitive;

use super::stream::{associated_data, new_stream, parse_header, stream_position, Stream, TailBuffer};
use super::{plaintext_len, segment_count, FormatError, ObjectId, AAD_LEN, HEADER_LEN, SEALED_SEGMENT_LEN, TAG_LEN};
use crate::crypto::data_key::DataKey;

/// Opens segments of one object, in any order (random access for HTTP Range requests).
///
/// Stateless after construction, so one `Opener` can serve concurrent range reads of the same
/// object. Holds the DEK (inside the cipher, which wipes it on drop) and is not `Clone`.
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
        Ok(Opener { stream: new_stream(key, &prefix), aad: associated_data(&header, object_id) })
    }

    /// Opens segment `index` (random access, for HTTP Range). `last` says whether the caller
    /// expects this to be the final segment (the caller knows the plaintext length from its
    /// database row). Returns the plaintext.
    pub fn open_segment(&self, index: u64, sealed: &[u8], last: bool) -> Result<Vec<u8>, FormatError> {
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
            return Err(FormatError::SegmentTooLarge { segment: index, len });
        }
        if !last && len != SEALED_SEGMENT_LEN {
            return Err(FormatError::ShortSegment { segment: index, len });
        }
        if last && len == TAG_LEN && index > 0 {
            return Err(FormatError::EmptyFinalSegment { segment: index });
        }
        let position = stream_position(index, last)?;
        let start = out.len();
        out.extend_from_slice(sealed);
        let mut buffer = TailBuffer { vec: out, start };
        if self.stream.decrypt_in_place(position, last, &self.aad, &mut buffer).is_err() {
            out.truncate(start);
            return Err(FormatError::Authentication { segment: index });
        }
        Ok(())
    }
}

/// Opens a whole object held in memory, deriving the segment layout from the object's length;
/// refuses anything malformed.
pub fn open_from_slice(key: &DataKey, object_id: &ObjectId, object: &[u8]) -> Result<Vec<u8>, FormatError> {
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
