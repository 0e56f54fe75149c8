//! Where each entry lies in the archive, checked before any entry is read.
//!
//! A zip's central directory says where each entry's local header starts, and nothing in the
//! format stops two records from pointing at the same bytes. An archive of 1,000 records that all
//! point at one deflated file unpacks it 1,000 times: each entry looks harmless to the per-entry
//! ratio check (its compressed size is the shared file's), while the upload stays tiny. No zip
//! tool writes entries that share bytes, so any overlap refuses the whole archive.
//!
//! An entry's extent is its local header (30 bytes, its name and its extra field), its compressed
//! data and, when its flags say one follows, its data descriptor. The local header is parsed by
//! the zip crate itself ([`ZipArchive::by_index_raw`]), which keeps the data offset it finds and
//! reads from there later: the extents checked are the ones the entries are read from.

use std::io::{Read, Seek};

use zip::ZipArchive;

/// A local header's fixed part, before its name and extra field.
const LOCAL_HEADER_LEN: u64 = 30;
/// The smallest data descriptor (CRC and two 4-byte sizes, no signature). A descriptor's real
/// length cannot be told without reading it, so the smallest is counted: an honest archive is
/// never refused for how its descriptors were written.
const MIN_DESCRIPTOR_LEN: u64 = 12;

/// Why the archive's layout is refused: a clause for [`super::BatchError::OverlappingEntries`].
/// Entries are numbered from 1 in central-directory order (their names are the sender's words,
/// and are not repeated back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Overlap(pub String);

/// One entry's place in the file: `start..end`, the end saturated if an offset is absurd.
#[derive(Debug, Clone, Copy)]
struct Extent {
    index: usize,
    start: u64,
    end: u64,
}

/// Checks that no two entries share bytes and that none runs into the central directory.
///
/// An entry whose local header cannot be read is left out: it cannot be read later either, and
/// is reported as damaged then. Failures of the storage under the archive show up in the
/// caller's watched source, which it checks after this returns.
pub(super) fn check<R: Read + Seek>(archive: &mut ZipArchive<R>) -> Result<(), Overlap> {
    let mut extents = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        if let Some(extent) = extent_of(archive, index) {
            extents.push(extent);
        }
    }
    extents.sort_unstable_by_key(|e| (e.start, e.end));
    for pair in extents.windows(2) {
        let (first, second) = (pair[0], pair[1]);
        if second.start < first.end {
            let (a, b) = (first.index.min(second.index) + 1, first.index.max(second.index) + 1);
            return Err(Overlap(format!("entries {a} and {b} share bytes")));
        }
    }
    let directory = archive.central_directory_start();
    match extents.iter().filter(|e| e.end > directory).min_by_key(|e| e.index) {
        Some(e) => Err(Overlap(format!("entry {} runs into the archive's directory", e.index + 1))),
        None => Ok(()),
    }
}

fn extent_of<R: Read + Seek>(archive: &mut ZipArchive<R>, index: usize) -> Option<Extent> {
    let (start, compressed, descriptor) = {
        let entry = archive.by_index_data(index).ok()?;
        (entry.header_start(), entry.compressed_size(), entry.flags().is_using_data_descriptor())
    };
    // Opening the entry raw reads its local header and nothing else: no byte is decompressed.
    let data_start = archive.by_index_raw(index).ok()?.data_start()?;
    let end = data_start
        .max(start.saturating_add(LOCAL_HEADER_LEN))
        .saturating_add(compressed)
        .saturating_add(if descriptor { MIN_DESCRIPTOR_LEN } else { 0 });
    Some(Extent { index, start, end })
}
