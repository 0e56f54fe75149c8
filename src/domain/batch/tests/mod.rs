//! Whole-archive tests: zips are built in memory with the zip crate's writer, and hostile ones
//! are made by patching the bytes it writes, as an attacker would.

mod damage;
mod hostile_names;
mod limits;
mod ordinary;
mod shared_data;

use std::io::{self, Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::{BatchError, BatchLimits, BatchReader, EntryInfoOrName, EntryRefusal};

pub(super) const DEFLATED: CompressionMethod = CompressionMethod::Deflated;
pub(super) const STORED: CompressionMethod = CompressionMethod::Stored;

/// A zip of `(name, content)` pairs, each compressed with `method`; a name ending in `/` is a folder.
pub(super) fn zip_with(method: CompressionMethod, entries: &[(&str, &[u8])]) -> Vec<u8> {
    let options = SimpleFileOptions::default().compression_method(method);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in entries {
        if name.ends_with('/') {
            writer.add_directory(*name, options).expect("folder added");
        } else {
            writer.start_file(*name, options).expect("entry started");
            writer.write_all(content).expect("entry written");
        }
    }
    writer.finish().expect("archive finished").into_inner()
}

pub(super) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(DEFLATED, entries)
}

/// Deterministic, poorly compressible bytes, so corrupting the compressed form is noticed.
pub(super) fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect()
}

/// Where an entry's headers are in an archive, found the way an attacker with a hex editor would.
pub(super) struct Headers {
    pub local: usize,
    pub central: usize,
    /// Where the compressed data starts.
    pub data: usize,
    pub compressed: usize,
}

fn le16(bytes: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

fn le32(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
}

/// Finds the local and central headers of the entry called `name`.
pub(super) fn headers(zip: &[u8], name: &str) -> Headers {
    let find = |signature: &[u8; 4], name_at: usize| {
        (0..zip.len() - name_at)
            .find(|&at| zip[at..].starts_with(signature) && zip[at + name_at..].starts_with(name.as_bytes()))
            .unwrap_or_else(|| panic!("no header for {name}"))
    };
    let local = find(b"PK\x03\x04", 30);
    let central = find(b"PK\x01\x02", 46);
    let data = local + 30 + le16(zip, local + 26) + le16(zip, local + 28);
    Headers { local, central, data, compressed: le32(zip, central + 20) }
}

/// Rewrites a 16-bit field in both headers: `local_at` and `central_at` are offsets within each.
pub(super) fn patch16(zip: &mut [u8], h: &Headers, local_at: usize, central_at: usize, value: u16) {
    zip[h.local + local_at..h.local + local_at + 2].copy_from_slice(&value.to_le_bytes());
    zip[h.central + central_at..h.central + central_at + 2].copy_from_slice(&value.to_le_bytes());
}

/// Rewrites the declared uncompressed size in both headers, as a zip bomb does.
pub(super) fn lie_about_size(zip: &mut [u8], h: &Headers, size: u32) {
    zip[h.local + 22..h.local + 26].copy_from_slice(&size.to_le_bytes());
    zip[h.central + 24..h.central + 28].copy_from_slice(&size.to_le_bytes());
}

/// What a test learns about each reported entry: its raw name and the bytes, or the refusal.
pub(super) type Outcomes = Vec<(EntryInfoOrName, Result<Vec<u8>, EntryRefusal>)>;

/// Opens `zip` and reads every entry to its end, as the server does when storing it.
pub(super) fn read_all(zip: &[u8], limits: BatchLimits) -> Result<Outcomes, BatchError> {
    BatchReader::open(Cursor::new(zip), limits)?.for_each(|_, reader| {
        let mut content = Vec::new();
        reader.read_to_end(&mut content)?;
        Ok(content)
    })
}

/// Like [`read_all`], but only counts each entry's bytes, for entries too big to keep.
pub(super) fn count_all(zip: &[u8], limits: BatchLimits) -> Result<Vec<Result<u64, EntryRefusal>>, BatchError> {
    let outcomes =
        BatchReader::open(Cursor::new(zip), limits)?.for_each(|_, reader| io::copy(reader, &mut io::sink()))?;
    Ok(outcomes.into_iter().map(|(_, result)| result).collect())
}

/// The refusal reported for the entry called `raw_name`.
pub(super) fn refusal_of(outcomes: &Outcomes, raw_name: &str) -> Option<EntryRefusal> {
    let (_, result) = outcomes.iter().find(|(label, _)| label.raw_name() == raw_name)?;
    result.as_ref().err().cloned()
}
