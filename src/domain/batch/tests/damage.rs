//! Damaged, disguised and unreadable uploads, and the storage under them failing.

use std::io::{Seek, SeekFrom};

use proptest::prelude::*;

use super::*;

fn flip_middle_byte(method: CompressionMethod) -> Vec<u8> {
    let mut zip = zip_with(method, &[("data.csv", &noise(100_000, 5)), ("next.csv", b"fine")]);
    let h = headers(&zip, "data.csv");
    zip[h.data + h.compressed / 2] ^= 0x55;
    zip
}

#[test]
fn a_flipped_byte_in_compressed_data_is_refused_as_damage() {
    for method in [DEFLATED, STORED] {
        let outcomes = read_all(&flip_middle_byte(method), BatchLimits::default()).expect("readable");
        assert!(
            matches!(&outcomes[0].1, Err(EntryRefusal::Corrupt(_))),
            "{method}: {:?}",
            outcomes[0].1.as_ref().err()
        );
        assert_eq!(outcomes[1].1, Ok(b"fine".to_vec()), "{method}");
    }
}

#[test]
fn the_checksum_is_checked_when_the_entry_is_read_to_its_end_only() {
    let zip = flip_middle_byte(STORED);
    let mut reader = BatchReader::open(Cursor::new(&zip), BatchLimits::default()).expect("opens");
    let partial = reader.for_each(|_, entry| entry.read_exact(&mut [0u8; 4])).expect("reads");
    assert_eq!(partial[0].1, Ok(()), "the damage is past what was read");

    let whole = read_all(&zip, BatchLimits::default()).expect("readable");
    assert_eq!(whole[0].1, Err(EntryRefusal::Corrupt("its checksum does not match its content".into())));
}

#[test]
fn a_pdf_is_not_a_zip() {
    let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    let error = read_all(pdf, BatchLimits::default()).err();
    assert!(matches!(&error, Some(BatchError::NotAZip(why)) if why == "no zip directory was found at its end"));
    assert!(matches!(read_all(b"", BatchLimits::default()), Err(BatchError::NotAZip(_))));
}

/// A truncated upload has lost its central directory, which is at the end: it is `NotAZip`, and
/// no entry is delivered from it.
#[test]
fn a_truncated_zip_is_not_a_zip() {
    let zip = zip_of(&[("a.csv", &noise(20_000, 6)), ("b.csv", &noise(20_000, 7))]);
    for keep in [zip.len() / 2, zip.len() - 1, 30] {
        let error = read_all(&zip[..keep], BatchLimits::default()).err();
        assert!(matches!(&error, Some(BatchError::NotAZip(_))), "cut to {keep}: {error:?}");
    }
}

#[test]
fn a_password_protected_entry_is_refused() {
    let mut zip = zip_of(&[("secret.xlsx", b"cipher text"), ("open.csv", b"ok")]);
    let h = headers(&zip, "secret.xlsx");
    patch16(&mut zip, &h, 6, 8, 1);
    let outcomes = read_all(&zip, BatchLimits::default()).expect("readable");
    assert_eq!(outcomes[0].1, Err(EntryRefusal::Encrypted));
    assert_eq!(outcomes[1].1, Ok(b"ok".to_vec()));
}

#[test]
fn an_entry_compressed_with_another_method_is_refused() {
    let mut zip = zip_of(&[("a.xml", b"<x/>")]);
    let h = headers(&zip, "a.xml");
    patch16(&mut zip, &h, 8, 10, 14);
    let outcomes = read_all(&zip, BatchLimits::default()).expect("readable");
    assert!(matches!(&outcomes[0].1, Err(EntryRefusal::Unsupported(what)) if what.contains("compression method")));
}

/// The spool file fails when a read starts between `fail_from` and `fail_to`.
struct FailingDisk {
    inner: Cursor<Vec<u8>>,
    fail_from: u64,
    fail_to: u64,
}

impl Read for FailingDisk {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if (self.fail_from..self.fail_to).contains(&self.inner.position()) {
            return Err(io::Error::other("I/O error reading the spool file"));
        }
        self.inner.read(buf)
    }
}

impl Seek for FailingDisk {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn a_failing_disk_stops_the_batch_instead_of_blaming_the_sender() {
    // The padding keeps b.csv out of the last 64 KiB, which `open` reads.
    let zip = zip_of(&[("a.csv", b"one"), ("b.csv", &noise(10_000, 8)), ("pad.bin", &noise(80_000, 10))]);
    let h = headers(&zip, "b.csv");
    let fail_to = headers(&zip, "pad.bin").local as u64;
    let disk = FailingDisk { inner: Cursor::new(zip.clone()), fail_from: h.data as u64, fail_to };
    let mut reader = BatchReader::open(disk, BatchLimits::default()).expect("the end and the local headers read");
    let result = reader.for_each(|_, entry| io::copy(entry, &mut io::sink()));
    assert!(matches!(&result, Err(BatchError::Io(e)) if e.to_string().contains("spool file")), "{result:?}");

    // `open` reads every local header to check the layout: a failure there is the server's too.
    let disk = FailingDisk { inner: Cursor::new(zip), fail_from: h.local as u64, fail_to };
    let result = BatchReader::open(disk, BatchLimits::default()).err();
    assert!(matches!(&result, Some(BatchError::Io(e)) if e.to_string().contains("spool file")), "{result:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_all(&bytes, BatchLimits::default());
    }

    #[test]
    fn damaged_archives_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut zip = zip_of(&[("a.csv", b"URN,Pupils\n100001,30\n"), ("dir/", b""), ("b.pdf", &noise(3000, 9))]);
        for (at, value) in flips {
            let at = at.index(zip.len());
            zip[at] = value;
        }
        let _ = read_all(&zip, BatchLimits::default());
        let _ = count_all(&zip, BatchLimits { max_ratio: 1, max_total_uncompressed: 100, ..BatchLimits::default() });
    }
}
