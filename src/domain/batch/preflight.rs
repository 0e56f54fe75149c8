//! How many entries an archive says it holds, read before the zip crate reads them.
//!
//! The zip crate parses the whole central directory into memory when it opens an archive, a few
//! hundred bytes per entry, before anyone can check the count. A hostile zip64 archive can list
//! tens of millions of minimal entries (46 bytes each on disk), so opening it first and counting
//! afterwards would let a 1 GiB upload take several GiB of memory. The end-of-central-directory
//! records are small and sit at the end of the file; reading their declared counts first lets
//! [`super::BatchReader::open`] refuse such an archive having read only its last 64 KiB.
//!
//! This is a guard, not a parser: it takes the largest count any record in the last 64 KiB
//! declares, because the crate falls back to earlier records when the last one is broken. The
//! price is a theoretical false refusal: an uncompressed zip stored as the archive's last entry,
//! itself listing more entries than a batch may hold. A zip64 record hidden where this does not
//! look (after junk prepended to the archive *and* with extension data) is left to the crate,
//! whose memory use is then bounded by the size of the upload.

use std::io::{self, Read, Seek, SeekFrom};

const EOCD_SIGNATURE: &[u8; 4] = b"PK\x05\x06";
const LOCATOR_SIGNATURE: &[u8; 4] = b"PK\x06\x07";
const EOCD64_SIGNATURE: &[u8; 4] = b"PK\x06\x06";
const EOCD_LEN: usize = 22;
const LOCATOR_LEN: u64 = 20;
/// The fixed part of a zip64 end record, up to and including the total entry count.
const EOCD64_COUNTS_LEN: usize = 40;
/// A zip64 end record without extension data.
const EOCD64_LEN: u64 = 56;
/// The end record plus the longest archive comment, plus a little: where the crate looks too.
const TAIL_LEN: u64 = EOCD_LEN as u64 + u16::MAX as u64 + 64;

fn u16_at(bytes: &[u8], at: usize) -> u64 {
    bytes.get(at..at + 2).map_or(0, |b| u64::from(u16::from_le_bytes([b[0], b[1]])))
}

fn u32_at(bytes: &[u8], at: usize) -> u64 {
    bytes.get(at..at + 4).map_or(0, |b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut le = [0u8; 8];
    if let Some(b) = bytes.get(at..at + 8) {
        le.copy_from_slice(b);
    }
    u64::from_le_bytes(le)
}

/// The largest entry count declared by any end-of-central-directory record in the last 64 KiB
/// (0 if there is none: the crate will then say it is not a zip).
pub(super) fn declared_entries<R: Read + Seek>(reader: &mut R) -> io::Result<u64> {
    let len = reader.seek(SeekFrom::End(0))?;
    let start = len.saturating_sub(TAIL_LEN);
    reader.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    reader.by_ref().take(TAIL_LEN).read_to_end(&mut tail)?;

    let mut most = 0;
    for at in 0..tail.len().saturating_sub(EOCD_LEN - 1) {
        let Some(record) = tail.get(at..at + EOCD_LEN) else { break };
        if !record.starts_with(EOCD_SIGNATURE) {
            continue;
        }
        let count = u16_at(record, 8).max(u16_at(record, 10));
        let may_be_zip64 = u16_at(record, 10) == u64::from(u16::MAX)
            || u32_at(record, 12) == u64::from(u32::MAX)
            || u32_at(record, 16) == u64::from(u32::MAX);
        let zip64_count = if may_be_zip64 { zip64_entries(reader, start + at as u64)? } else { None };
        most = most.max(zip64_count.unwrap_or(count));
    }
    Ok(most)
}

/// The count in the zip64 end record that the locator just before the record at `eocd_at`
/// points to: where it says, or ending right at the locator (the archive had junk put before it).
fn zip64_entries<R: Read + Seek>(reader: &mut R, eocd_at: u64) -> io::Result<Option<u64>> {
    let Some(locator_at) = eocd_at.checked_sub(LOCATOR_LEN) else { return Ok(None) };
    let Some(locator) = read_at::<{ LOCATOR_LEN as usize }>(reader, locator_at)? else { return Ok(None) };
    if !locator.starts_with(LOCATOR_SIGNATURE) {
        return Ok(None);
    }
    let mut found = None;
    for record_at in [Some(u64_at(&locator, 8)), locator_at.checked_sub(EOCD64_LEN)].into_iter().flatten() {
        if let Some(record) = read_at::<EOCD64_COUNTS_LEN>(reader, record_at)? {
            if record.starts_with(EOCD64_SIGNATURE) {
                let count = u64_at(&record, 24).max(u64_at(&record, 32));
                found = Some(found.map_or(count, |f: u64| f.max(count)));
            }
        }
    }
    Ok(found)
}

/// `N` bytes at `at`, or `None` if the file ends first (a hostile offset, not a failure).
fn read_at<const N: usize>(reader: &mut (impl Read + Seek), at: u64) -> io::Result<Option<[u8; N]>> {
    reader.seek(SeekFrom::Start(at))?;
    let mut bytes = [0u8; N];
    match reader.read_exact(&mut bytes) {
        Ok(()) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn eocd(entries: u16, cd_size: u32, cd_offset: u32) -> Vec<u8> {
        let mut r = EOCD_SIGNATURE.to_vec();
        r.extend([0, 0, 0, 0]);
        r.extend(entries.to_le_bytes());
        r.extend(entries.to_le_bytes());
        r.extend(cd_size.to_le_bytes());
        r.extend(cd_offset.to_le_bytes());
        r.extend([0, 0]);
        r
    }

    fn zip64_end(entries: u64, prefix: usize) -> Vec<u8> {
        let mut file = vec![0u8; prefix];
        let record_at = file.len() as u64;
        file.extend(EOCD64_SIGNATURE);
        file.extend(44u64.to_le_bytes());
        file.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        file.extend(entries.to_le_bytes());
        file.extend(entries.to_le_bytes());
        file.extend([0u8; 16]);
        file.extend(LOCATOR_SIGNATURE);
        file.extend([0, 0, 0, 0]);
        // The offset the locator gives ignores the prefix, as in a self-extracting archive.
        file.extend((record_at - prefix as u64).to_le_bytes());
        file.extend(1u32.to_le_bytes());
        file.extend(eocd(u16::MAX, u32::MAX, u32::MAX));
        file
    }

    fn count(bytes: Vec<u8>) -> u64 {
        declared_entries(&mut Cursor::new(bytes)).unwrap_or(u64::MAX)
    }

    #[test]
    fn the_ordinary_end_record_gives_the_count() {
        assert_eq!(count([vec![0; 100], eocd(300, 0, 0)].concat()), 300);
        assert_eq!(count(b"%PDF-1.7 not a zip".to_vec()), 0);
        assert_eq!(count(Vec::new()), 0);
    }

    #[test]
    fn the_largest_of_several_candidate_records_is_taken() {
        let mut file = eocd(5000, 0, 0);
        file.extend(eocd(3, 0, 0));
        assert_eq!(count(file), 5000);
    }

    #[test]
    fn zip64_counts_are_read_where_the_locator_points_or_just_before_it() {
        assert_eq!(count(zip64_end(40_000_000, 0)), 40_000_000);
        assert_eq!(count(zip64_end(40_000_000, 1000)), 40_000_000);
    }

    #[test]
    fn broken_zip64_pointers_fall_back_to_the_short_count() {
        let mut file = zip64_end(40_000_000, 0);
        file[0] = b'X';
        assert_eq!(count(file), u64::from(u16::MAX));
    }
}
