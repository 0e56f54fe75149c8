//! STREAM plumbing shared by [`Sealer`](super::Sealer) and [`Opener`](super::Opener): the
//! header, the associated data, the counter, and an in-place buffer.

use chacha20poly1305::aead::stream::{NewStream, StreamBE32};
use chacha20poly1305::aead::{self, generic_array::GenericArray};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};

use super::{FormatError, ObjectId, AAD_LEN, FORMAT_VERSION, HEADER_LEN, MAGIC, NONCE_PREFIX_LEN, SEGMENT_SIZE_LOG2};
use crate::crypto::data_key::DataKey;

pub(super) type Stream = StreamBE32<ChaCha20Poly1305>;

pub(super) fn new_stream(key: &DataKey, prefix: &[u8; NONCE_PREFIX_LEN]) -> Stream {
    let aead = ChaCha20Poly1305::new(GenericArray::from_slice(key.expose_secret()));
    Stream::from_aead(aead, GenericArray::from_slice(prefix))
}

pub(super) fn build_header(prefix: &[u8; NONCE_PREFIX_LEN]) -> [u8; HEADER_LEN] {
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
pub(super) fn parse_header(bytes: &[u8]) -> Result<([u8; HEADER_LEN], [u8; NONCE_PREFIX_LEN]), FormatError> {
    let header: [u8; HEADER_LEN] =
        bytes.get(..HEADER_LEN).and_then(|h| h.try_into().ok()).ok_or(FormatError::Truncated)?;
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

pub(super) fn associated_data(header: &[u8; HEADER_LEN], object_id: &ObjectId) -> [u8; AAD_LEN] {
    let mut aad = [0u8; AAD_LEN];
    aad[..HEADER_LEN].copy_from_slice(header);
    aad[HEADER_LEN..].copy_from_slice(object_id);
    aad
}

/// Maps a segment index to the STREAM counter. A non-final segment at the maximum counter is
/// refused too: no final segment could ever follow it.
pub(super) fn stream_position(index: u64, last: bool) -> Result<u32, FormatError> {
    let position = u32::try_from(index).map_err(|_| FormatError::CounterOverflow)?;
    if !last && position == u32::MAX {
        return Err(FormatError::CounterOverflow);
    }
    Ok(position)
}

/// An [`aead::Buffer`] over the tail of a `Vec`, so segments are sealed and opened in place at
/// the end of a caller's reusable buffer without an extra copy or allocation per segment.
pub(super) struct TailBuffer<'a> {
    pub(super) vec: &'a mut Vec<u8>,
    pub(super) start: usize,
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
