//! Archives whose central directory lists the same bytes many times, and the limit on what a batch
//! may unpack to relative to its size. The zip crate will not write entries that overlap, so these
//! archives are put together by hand: local files copied from an ordinary zip, then central
//! records and end records written here.

use super::*;

/// A megabyte that deflates to about a kilobyte: small enough that an entry's own ratio is not
/// checked, so only the layout check and the batch allowance stand in the way.
fn megabyte() -> Vec<u8> {
    let mut content = b"%PDF-1.4\n".to_vec();
    content.resize(1_000_000, 0);
    content
}

/// One deflated entry's local header and data, and what a central record must repeat of it.
#[derive(Clone)]
struct Local {
    bytes: Vec<u8>,
    crc: u32,
    compressed: u64,
    size: u64,
}

fn local_file(content: &[u8]) -> Local {
    let zip = zip_of(&[("shared.pdf", content)]);
    let h = headers(&zip, "shared.pdf");
    Local {
        bytes: zip[h.local..h.data + h.compressed].to_vec(),
        crc: le32(&zip, h.central + 16) as u32,
        compressed: h.compressed as u64,
        size: le32(&zip, h.central + 24) as u64,
    }
}

/// A central record: the entry's name, which local file it points at, and how many bytes of
/// compressed data it claims (more than the file's own is how one entry swallows its neighbour).
struct Record {
    name: String,
    local: usize,
    compressed: u64,
}

/// Lays out `locals` one after the other, then a central record for each of `records`, then the
/// end records: zip64 ones (sizes and offsets in extra fields) when `zip64` is set.
fn archive(locals: &[Local], records: &[Record], zip64: bool) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, fields: &[(u64, usize)]) {
        for &(value, width) in fields {
            out.extend_from_slice(&value.to_le_bytes()[..width]);
        }
    }
    let mut zip = Vec::new();
    let mut offsets = Vec::new();
    for local in locals {
        offsets.push(zip.len() as u64);
        zip.extend_from_slice(&local.bytes);
    }
    let directory = zip.len() as u64;
    let (version, wide) = if zip64 { (45, u64::from(u32::MAX)) } else { (20, 0) };
    for record in records {
        let local = &locals[record.local];
        let offset = offsets[record.local];
        let extra_len = if zip64 { 28 } else { 0 };
        zip.extend_from_slice(b"PK\x01\x02");
        put(&mut zip, &[(version, 2), (version, 2), (0, 2), (8, 2), (0, 2), (0x21, 2), (u64::from(local.crc), 4)]);
        let (compressed, size, at) = if zip64 { (wide, wide, wide) } else { (record.compressed, local.size, offset) };
        put(&mut zip, &[(compressed, 4), (size, 4), (record.name.len() as u64, 2), (extra_len, 2)]);
        put(&mut zip, &[(0, 2), (0, 2), (0, 2), (0, 4), (at, 4)]);
        zip.extend_from_slice(record.name.as_bytes());
        if zip64 {
            put(&mut zip, &[(1, 2), (24, 2), (local.size, 8), (record.compressed, 8), (offset, 8)]);
        }
    }
    let count = records.len() as u64;
    let directory_len = zip.len() as u64 - directory;
    if zip64 {
        let end64 = zip.len() as u64;
        zip.extend_from_slice(b"PK\x06\x06");
        put(&mut zip, &[(44, 8), (45, 2), (45, 2), (0, 4), (0, 4), (count, 8), (count, 8)]);
        put(&mut zip, &[(directory_len, 8), (directory, 8)]);
        zip.extend_from_slice(b"PK\x06\x07");
        put(&mut zip, &[(0, 4), (end64, 8), (1, 4)]);
    }
    let (count, directory_len, directory) =
        if zip64 { (u64::from(u16::MAX), wide, wide) } else { (count, directory_len, directory) };
    zip.extend_from_slice(b"PK\x05\x06");
    put(&mut zip, &[(0, 2), (0, 2), (count, 2), (count, 2), (directory_len, 4), (directory, 4), (0, 2)]);
    zip
}

/// One deflated file listed `records` times under different names: the archive the tester sent.
fn one_file_listed(records: usize, zip64: bool) -> Vec<u8> {
    let local = local_file(&megabyte());
    let records: Vec<Record> = (0..records)
        .map(|i| Record { name: format!("825{:04}_KS2.pdf", 2001 + i), local: 0, compressed: local.compressed })
        .collect();
    archive(&[local], &records, zip64)
}

fn overlap_of(zip: &[u8]) -> Option<String> {
    match BatchReader::open(Cursor::new(zip), BatchLimits::default()) {
        Err(BatchError::OverlappingEntries(why)) => Some(why),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => None,
    }
}

#[test]
fn the_hand_made_archives_are_read_by_the_zip_crate_when_nothing_overlaps() {
    let local = local_file(&megabyte());
    for zip64 in [false, true] {
        let record = Record { name: "8252001_KS2.pdf".to_owned(), local: 0, compressed: local.compressed };
        let zip = archive(std::slice::from_ref(&local), &[record], zip64);
        let outcomes = read_all(&zip, BatchLimits::default()).expect("reads");
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].1.as_ref().ok(), Some(&megabyte()), "zip64: {zip64}");
    }
}

#[test]
fn one_deflated_file_listed_300_or_1000_times_is_refused_whole_before_any_entry_is_read() {
    for records in [300, 1000] {
        let zip = one_file_listed(records, false);
        assert!(zip.len() < 100_000, "the upload is small: {} bytes", zip.len());
        let why = overlap_of(&zip);
        assert!(why.as_deref().is_some_and(|why| why.contains("share bytes")), "{records} records: {why:?}");
    }
}

#[test]
fn the_zip64_form_of_the_same_archive_is_refused_too() {
    for records in [300, 1000] {
        let why = overlap_of(&one_file_listed(records, true));
        assert!(why.as_deref().is_some_and(|why| why.contains("share bytes")), "{records} records: {why:?}");
    }
}

#[test]
fn two_records_sharing_one_file_are_enough_to_refuse_the_archive() {
    let why = overlap_of(&one_file_listed(2, false));
    assert_eq!(why.as_deref(), Some("entries 1 and 2 share bytes"));
}

#[test]
fn an_entry_whose_data_runs_over_the_next_entry_is_refused() {
    let (a, b) = (local_file(b"first"), local_file(b"second"));
    let swallowing = a.compressed + b.bytes.len() as u64;
    let records = [
        Record { name: "a.txt".to_owned(), local: 0, compressed: swallowing },
        Record { name: "b.txt".to_owned(), local: 1, compressed: b.compressed },
    ];
    let why = overlap_of(&archive(&[a, b], &records, false));
    assert_eq!(why.as_deref(), Some("entries 1 and 2 share bytes"));
}

#[test]
fn an_entry_whose_data_runs_into_the_central_directory_is_refused() {
    let local = local_file(b"alone");
    let record = Record { name: "a.txt".to_owned(), local: 0, compressed: local.compressed + 10 };
    for zip64 in [false, true] {
        let why = overlap_of(&archive(std::slice::from_ref(&local), std::slice::from_ref(&record), zip64));
        assert_eq!(why.as_deref(), Some("entry 1 runs into the archive's directory"), "zip64: {zip64}");
    }
}

#[test]
fn ordinary_archives_pass_the_layout_check_with_descriptors_prefixes_and_folders() {
    let mut streamed = zip::ZipWriter::new_stream(Vec::new());
    for (name, content) in [("a.txt", &b"alpha"[..]), ("b.txt", b"")] {
        streamed.start_file(name, SimpleFileOptions::default()).expect("entry started");
        streamed.write_all(content).expect("entry written");
    }
    let streamed = streamed.finish().expect("archive finished").into_inner();
    let prefixed = [b"#!/bin/sh\nexit 0\n".to_vec(), zip_of(&[("c.txt", b"gamma")])].concat();
    let folders = zip_of(&[("by-school/", b""), ("by-school/d.txt", b"delta"), ("e.txt", b"")]);
    for zip in [streamed, prefixed, folders] {
        let outcomes = read_all(&zip, BatchLimits::default()).expect("opens and reads");
        assert!(outcomes.iter().all(|(_, result)| result.is_ok()), "{outcomes:?}");
    }
}

#[test]
fn many_small_entries_stop_at_the_allowance_relative_to_the_archive_and_say_so() {
    // The same archive without the overlap: 1,000 copies of the file, one for each record.
    let local = local_file(&megabyte());
    let records: Vec<Record> =
        (0..1000).map(|i| Record { name: format!("{i}.pdf"), local: i, compressed: local.compressed }).collect();
    let zip = archive(&vec![local; 1000], &records, false);
    let limits = BatchLimits::default();
    let allowance = zip.len() as u64 * limits.max_total_ratio;
    assert!(allowance < limits.max_total_uncompressed, "the relative limit is the smaller here");

    let results = count_all(&zip, limits).expect("reads");
    let delivered: u64 = results.iter().filter_map(|r| r.as_ref().ok()).sum();
    let expected_files = allowance / 1_000_000;
    assert_eq!(delivered, expected_files * 1_000_000, "whole files up to {allowance} bytes");
    let refusal = EntryRefusal::BatchRatioTooHigh { limit: allowance, ratio: limits.max_total_ratio };
    assert!(results[expected_files as usize..].iter().all(|r| r.as_ref().err() == Some(&refusal)), "{refusal:?}");
    assert_eq!(refusal.code(), "batch_compression_ratio");
}
