//! Example-based tests of the v1 object format: layout arithmetic, header checks and API
//! misuse. Tampering is in `tamper_tests.rs`, the randomised counterparts in `proptests.rs`.

use super::*;
use crate::crypto::data_key::DataKey;

pub(super) const KEY: [u8; 32] = [7; 32];
pub(super) const ID: ObjectId = [1; 16];
pub(super) const PREFIX: [u8; 7] = [9; 7];

/// Deterministic, non-repeating-looking test data (xorshift64), cheap even for MiBs.
pub(super) fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

pub(super) fn key() -> DataKey {
    DataKey::from_bytes(KEY)
}

pub(super) fn seal(plaintext: &[u8]) -> Vec<u8> {
    seal_to_vec(&key(), &ID, PREFIX, plaintext)
}

pub(super) fn open(object: &[u8]) -> Result<Vec<u8>, FormatError> {
    open_from_slice(&key(), &ID, object)
}

/// Splits a sealed object into header and segments.
pub(super) fn segments(object: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let (header, body) = object.split_at(HEADER_LEN);
    (header.to_vec(), body.chunks(SEALED_SEGMENT_LEN).map(<[u8]>::to_vec).collect())
}

pub(super) fn join(header: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
    let mut out = header.to_vec();
    segments.iter().for_each(|s| out.extend_from_slice(s));
    out
}

pub(super) const SEG: u64 = SEGMENT_SIZE as u64;

#[test]
fn layout_arithmetic() {
    assert_eq!(segment_count(0), 1);
    assert_eq!(segment_count(1), 1);
    assert_eq!(segment_count(SEG), 1);
    assert_eq!(segment_count(SEG + 1), 2);
    assert_eq!(segment_count(3 * SEG), 3);
    assert_eq!(ciphertext_len(0), 32);
    assert_eq!(ciphertext_len(5), 37);
    assert_eq!(ciphertext_len(SEG), 16 + SEG + 16);
    assert_eq!(ciphertext_len(SEG + 3), 16 + SEG + 3 + 32);
    assert_eq!(segment_offset(0), 16);
    assert_eq!(segment_offset(2), 16 + 2 * (SEG + 16));
    assert_eq!(sealed_segment_len(0, 0), 16);
    assert_eq!(sealed_segment_len(0, SEG), SEALED_SEGMENT_LEN);
    assert_eq!(sealed_segment_len(0, SEG + 3), SEALED_SEGMENT_LEN);
    assert_eq!(sealed_segment_len(1, SEG + 3), 19);
    assert_eq!(sealed_segment_len(2, SEG + 3), 0);
    assert_eq!(sealed_segment_len(u64::MAX, SEG + 3), 0);
    assert_eq!(ciphertext_len(u64::MAX), u64::MAX);
    assert_eq!(segment_offset(u64::MAX), u64::MAX);
}

#[test]
fn plaintext_len_inverts_ciphertext_len_and_rejects_everything_else() {
    let sealed = SEG + 16;
    let mut candidates: Vec<u64> = (0..200).collect();
    for k in 1..=4 {
        candidates.extend(k * sealed - 40..k * sealed + 60);
    }
    for ct in candidates {
        // Brute force: the object has 1..=8 tags, so try each.
        let expected = (1..=8).filter_map(|tags| ct.checked_sub(16 + 16 * tags)).find(|&len| ciphertext_len(len) == ct);
        match expected {
            Some(len) => assert_eq!(plaintext_len(ct).unwrap(), len, "ct {ct}"),
            None => assert!(plaintext_len(ct).is_err(), "ct {ct} should be invalid"),
        }
    }
    // A full segment followed by an empty final one is not how a 64 KiB file is sealed.
    assert!(matches!(plaintext_len(16 + SEG + 16 + 16), Err(FormatError::InvalidLength(_))));
    assert!(matches!(plaintext_len(MAX_SEGMENTS * (SEG + 16) + 16 + 17), Err(FormatError::CounterOverflow)));
}

#[test]
fn header_layout() {
    let header = Sealer::with_nonce_prefix(&key(), &ID, [1, 2, 3, 4, 5, 6, 7]).header();
    assert_eq!(&header, b"PGPO\x01\x10\x00\x00\x00\x01\x02\x03\x04\x05\x06\x07");
    let a = Sealer::new(&key(), &ID).header();
    let b = Sealer::new(&key(), &ID).header();
    assert_eq!(a[..9], b[..9]);
    assert_ne!(a[9..], b[9..], "random nonce prefixes should differ");
}

#[test]
fn seals_every_boundary_length_and_streaming_matches_in_memory() {
    for len in [0, 1, 5, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 2 * SEGMENT_SIZE] {
        let plaintext = pattern(len, len as u64);
        let object = seal(&plaintext);
        assert_eq!(object.len() as u64, ciphertext_len(len as u64));
        assert_eq!(open(&object).unwrap(), plaintext, "len {len}");

        let mut sealer = Sealer::with_nonce_prefix(&key(), &ID, PREFIX);
        let mut streamed = sealer.header().to_vec();
        let count = segment_count(len as u64);
        for i in 0..count {
            let start = (i * SEG) as usize;
            let end = (start + SEGMENT_SIZE).min(len);
            sealer.seal_next(&plaintext[start..end], i + 1 == count, &mut streamed).unwrap();
        }
        assert_eq!(streamed, object);

        let opener = Opener::new(&key(), &ID, &object[..HEADER_LEN]).unwrap();
        for i in 0..count {
            let offset = segment_offset(i) as usize;
            let sealed = &object[offset..offset + sealed_segment_len(i, len as u64)];
            let start = (i * SEG) as usize;
            let end = (start + SEGMENT_SIZE).min(len);
            let opened = opener.open_segment(i, sealed, i + 1 == count).unwrap();
            assert_eq!(opened, &plaintext[start..end]);
        }
    }
}

#[test]
fn sealer_refuses_misuse_without_moving() {
    let mut sealer = Sealer::with_nonce_prefix(&key(), &ID, PREFIX);
    let mut out = vec![0xEE];
    let full = pattern(SEGMENT_SIZE, 1);
    let short = pattern(10, 2);
    assert!(matches!(
        sealer.seal_next(&short, false, &mut out),
        Err(FormatError::ShortSegment { segment: 0, len: 10 })
    ));
    assert!(matches!(
        sealer.seal_next(&pattern(SEGMENT_SIZE + 1, 3), true, &mut out),
        Err(FormatError::SegmentTooLarge { segment: 0, .. })
    ));
    assert_eq!(out, [0xEE], "nothing appended on error");
    sealer.seal_next(&full, false, &mut out).unwrap();
    assert!(matches!(sealer.seal_next(&[], true, &mut out), Err(FormatError::EmptyFinalSegment { segment: 1 })));
    sealer.seal_next(&short, true, &mut out).unwrap();
    assert!(matches!(sealer.seal_next(&short, true, &mut out), Err(FormatError::SealerFinished)));
    assert_eq!(out[1..], seal(&[full, short].concat())[HEADER_LEN..]);
}

#[test]
fn counter_overflow_is_refused() {
    let mut sealer = Sealer::with_nonce_prefix(&key(), &ID, PREFIX);
    let full = vec![0u8; SEGMENT_SIZE];
    let mut out = Vec::new();
    sealer.next = u64::from(u32::MAX);
    assert!(matches!(sealer.seal_next(&full, false, &mut out), Err(FormatError::CounterOverflow)));
    sealer.seal_next(b"end", true, &mut out).unwrap();
    let opener = Opener::new(&key(), &ID, &sealer.header()).unwrap();
    assert_eq!(opener.open_segment(u64::from(u32::MAX), &out, true).unwrap(), b"end");

    let mut sealer = Sealer::with_nonce_prefix(&key(), &ID, PREFIX);
    sealer.next = u64::from(u32::MAX) + 1;
    assert!(matches!(sealer.seal_next(b"x", true, &mut out), Err(FormatError::CounterOverflow)));
    let full_sealed = vec![0u8; SEALED_SEGMENT_LEN];
    assert!(matches!(opener.open_segment(u64::from(u32::MAX), &full_sealed, false), Err(FormatError::CounterOverflow)));
    assert!(matches!(opener.open_segment(u64::from(u32::MAX) + 1, &out, true), Err(FormatError::CounterOverflow)));
}

#[test]
fn opener_checks_header_fields() {
    let object = seal(b"hello");
    let with = |i: usize, v: u8| {
        let mut h = object.clone();
        h[i] = v;
        h
    };
    let opener = |h: &[u8]| Opener::new(&key(), &ID, h).map(|_| ());
    assert!(matches!(opener(&object[..15]), Err(FormatError::Truncated)));
    assert!(matches!(opener(&with(0, b'X')), Err(FormatError::BadMagic)));
    for version in [0, 2, 0x81, 0xFF] {
        assert!(matches!(
            opener(&with(4, version)),
            Err(FormatError::UnsupportedVersion(v)) if v == version
        ));
        assert!(matches!(open(&with(4, version)), Err(FormatError::UnsupportedVersion(_))));
    }
    assert!(matches!(opener(&with(5, 20)), Err(FormatError::UnsupportedSegmentSize(20))));
    assert!(matches!(opener(&with(7, 1)), Err(FormatError::NonZeroReserved)));
    // A longer prefix of the object is accepted as the header.
    opener(&object).unwrap();
}

#[test]
fn opener_checks_segment_sizes_and_leaves_output_alone() {
    let object = seal(&pattern(SEGMENT_SIZE + 3, 5));
    let opener = Opener::new(&key(), &ID, &object).unwrap();
    let (_, segs) = segments(&object);
    let mut out = vec![1, 2, 3];
    let err = opener.open_segment_into(1, &segs[1], false, &mut out).unwrap_err();
    assert!(matches!(err, FormatError::ShortSegment { segment: 1, len: 19 }));
    let err = opener.open_segment_into(0, &segs[0], true, &mut out).unwrap_err();
    assert!(matches!(err, FormatError::Authentication { segment: 0 }));
    let err = opener.open_segment_into(1, &segs[1][..15], true, &mut out).unwrap_err();
    assert!(matches!(err, FormatError::Truncated));
    let err = opener.open_segment_into(1, &segs[1][..16], true, &mut out).unwrap_err();
    assert!(matches!(err, FormatError::EmptyFinalSegment { segment: 1 }));
    let mut too_big = segs[0].clone();
    too_big.push(0);
    let err = opener.open_segment_into(0, &too_big, true, &mut out).unwrap_err();
    assert!(matches!(err, FormatError::SegmentTooLarge { segment: 0, .. }));
    assert_eq!(out, [1, 2, 3]);
    opener.open_segment_into(1, &segs[1], true, &mut out).unwrap();
    assert_eq!(out[3..], pattern(SEGMENT_SIZE + 3, 5)[SEGMENT_SIZE..]);
}

#[test]
fn error_messages_are_informative() {
    let msg = FormatError::UnsupportedVersion(2).to_string();
    assert!(msg.contains("version 2"), "{msg}");
    let msg = FormatError::Authentication { segment: 3 }.to_string();
    assert!(msg.contains("segment 3"), "{msg}");
}
