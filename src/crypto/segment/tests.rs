//! Example-based tests of the v1 object format: layout arithmetic, API misuse, and exhaustive
//! tampering of small objects. The randomised counterparts live in `proptests.rs`.

use super::*;

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

fn key() -> DataKey {
    DataKey::from_bytes(KEY)
}

fn seal(plaintext: &[u8]) -> Vec<u8> {
    seal_to_vec(&key(), &ID, PREFIX, plaintext)
}

fn open(object: &[u8]) -> Result<Vec<u8>, FormatError> {
    open_from_slice(&key(), &ID, object)
}

/// Splits a sealed object into header and segments.
fn segments(object: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let (header, body) = object.split_at(HEADER_LEN);
    (
        header.to_vec(),
        body.chunks(SEALED_SEGMENT_LEN)
            .map(<[u8]>::to_vec)
            .collect(),
    )
}

fn join(header: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
    let mut out = header.to_vec();
    segments.iter().for_each(|s| out.extend_from_slice(s));
    out
}

const SEG: u64 = SEGMENT_SIZE as u64;

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
        let expected = (1..=8)
            .filter_map(|tags| ct.checked_sub(16 + 16 * tags))
            .find(|&len| ciphertext_len(len) == ct);
        match expected {
            Some(len) => assert_eq!(plaintext_len(ct).unwrap(), len, "ct {ct}"),
            None => assert!(plaintext_len(ct).is_err(), "ct {ct} should be invalid"),
        }
    }
    // A full segment followed by an empty final one is not how a 64 KiB file is sealed.
    assert!(matches!(
        plaintext_len(16 + SEG + 16 + 16),
        Err(FormatError::InvalidLength(_))
    ));
    assert!(matches!(
        plaintext_len(MAX_SEGMENTS * (SEG + 16) + 16 + 17),
        Err(FormatError::CounterOverflow)
    ));
}

#[test]
fn header_layout() {
    let header = Sealer::with_nonce_prefix(&key(), &ID, [1, 2, 3, 4, 5, 6, 7]).header();
    assert_eq!(
        &header,
        b"PGPO\x01\x10\x00\x00\x00\x01\x02\x03\x04\x05\x06\x07"
    );
    let a = Sealer::new(&key(), &ID).header();
    let b = Sealer::new(&key(), &ID).header();
    assert_eq!(a[..9], b[..9]);
    assert_ne!(a[9..], b[9..], "random nonce prefixes should differ");
}

#[test]
fn seals_every_boundary_length_and_streaming_matches_in_memory() {
    for len in [
        0,
        1,
        5,
        SEGMENT_SIZE - 1,
        SEGMENT_SIZE,
        SEGMENT_SIZE + 1,
        2 * SEGMENT_SIZE,
    ] {
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
            sealer
                .seal_next(&plaintext[start..end], i + 1 == count, &mut streamed)
                .unwrap();
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
        Err(FormatError::ShortSegment {
            segment: 0,
            len: 10
        })
    ));
    assert!(matches!(
        sealer.seal_next(&pattern(SEGMENT_SIZE + 1, 3), true, &mut out),
        Err(FormatError::SegmentTooLarge { segment: 0, .. })
    ));
    assert_eq!(out, [0xEE], "nothing appended on error");
    sealer.seal_next(&full, false, &mut out).unwrap();
    assert!(matches!(
        sealer.seal_next(&[], true, &mut out),
        Err(FormatError::EmptyFinalSegment { segment: 1 })
    ));
    sealer.seal_next(&short, true, &mut out).unwrap();
    assert!(matches!(
        sealer.seal_next(&short, true, &mut out),
        Err(FormatError::SealerFinished)
    ));
    assert_eq!(out[1..], seal(&[full, short].concat())[HEADER_LEN..]);
}

#[test]
fn counter_overflow_is_refused() {
    let mut sealer = Sealer::with_nonce_prefix(&key(), &ID, PREFIX);
    let full = vec![0u8; SEGMENT_SIZE];
    let mut out = Vec::new();
    sealer.next = u64::from(u32::MAX);
    assert!(matches!(
        sealer.seal_next(&full, false, &mut out),
        Err(FormatError::CounterOverflow)
    ));
    sealer.seal_next(b"end", true, &mut out).unwrap();
    let opener = Opener::new(&key(), &ID, &sealer.header()).unwrap();
    assert_eq!(
        opener
            .open_segment(u64::from(u32::MAX), &out, true)
            .unwrap(),
        b"end"
    );

    let mut sealer = Sealer::with_nonce_prefix(&key(), &ID, PREFIX);
    sealer.next = u64::from(u32::MAX) + 1;
    assert!(matches!(
        sealer.seal_next(b"x", true, &mut out),
        Err(FormatError::CounterOverflow)
    ));
    let full_sealed = vec![0u8; SEALED_SEGMENT_LEN];
    assert!(matches!(
        opener.open_segment(u64::from(u32::MAX), &full_sealed, false),
        Err(FormatError::CounterOverflow)
    ));
    assert!(matches!(
        opener.open_segment(u64::from(u32::MAX) + 1, &out, true),
        Err(FormatError::CounterOverflow)
    ));
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
        assert!(matches!(
            open(&with(4, version)),
            Err(FormatError::UnsupportedVersion(_))
        ));
    }
    assert!(matches!(
        opener(&with(5, 20)),
        Err(FormatError::UnsupportedSegmentSize(20))
    ));
    assert!(matches!(
        opener(&with(7, 1)),
        Err(FormatError::NonZeroReserved)
    ));
    // A longer prefix of the object is accepted as the header.
    opener(&object).unwrap();
}

#[test]
fn opener_checks_segment_sizes_and_leaves_output_alone() {
    let object = seal(&pattern(SEGMENT_SIZE + 3, 5));
    let opener = Opener::new(&key(), &ID, &object).unwrap();
    let (_, segs) = segments(&object);
    let mut out = vec![1, 2, 3];
    let err = opener
        .open_segment_into(1, &segs[1], false, &mut out)
        .unwrap_err();
    assert!(matches!(
        err,
        FormatError::ShortSegment {
            segment: 1,
            len: 19
        }
    ));
    let err = opener
        .open_segment_into(0, &segs[0], true, &mut out)
        .unwrap_err();
    assert!(matches!(err, FormatError::Authentication { segment: 0 }));
    let err = opener
        .open_segment_into(1, &segs[1][..15], true, &mut out)
        .unwrap_err();
    assert!(matches!(err, FormatError::Truncated));
    let err = opener
        .open_segment_into(1, &segs[1][..16], true, &mut out)
        .unwrap_err();
    assert!(matches!(err, FormatError::EmptyFinalSegment { segment: 1 }));
    let mut too_big = segs[0].clone();
    too_big.push(0);
    let err = opener
        .open_segment_into(0, &too_big, true, &mut out)
        .unwrap_err();
    assert!(matches!(
        err,
        FormatError::SegmentTooLarge { segment: 0, .. }
    ));
    assert_eq!(out, [1, 2, 3]);
    opener
        .open_segment_into(1, &segs[1], true, &mut out)
        .unwrap();
    assert_eq!(out[3..], pattern(SEGMENT_SIZE + 3, 5)[SEGMENT_SIZE..]);
}

#[test]
fn every_bit_flip_of_small_objects_is_refused() {
    for plaintext in [&b""[..], b"hello", &pattern(100, 3)] {
        let object = seal(plaintext);
        for byte in 0..object.len() {
            for bit in 0..8 {
                let mut tampered = object.clone();
                tampered[byte] ^= 1 << bit;
                assert!(open(&tampered).is_err(), "flip {byte}.{bit} accepted");
            }
        }
    }
}

/// Every bit of a two-segment object except the bulk of the first segment's ciphertext (which
/// is sampled): header, both tags, the whole final segment.
#[test]
fn bit_flips_across_a_two_segment_object_are_refused() {
    let object = seal(&pattern(SEGMENT_SIZE + 3, 4));
    let first_tag = HEADER_LEN + SEGMENT_SIZE;
    let positions = (0..HEADER_LEN + 64)
        .chain((HEADER_LEN..first_tag).step_by(997))
        .chain(first_tag - 64..object.len());
    for byte in positions {
        for bit in 0..8 {
            let mut tampered = object.clone();
            tampered[byte] ^= 1 << bit;
            assert!(open(&tampered).is_err(), "flip {byte}.{bit} accepted");
        }
    }
}

#[test]
fn truncation_anywhere_in_a_small_object_is_refused() {
    let object = seal(b"hello");
    for len in 0..object.len() {
        assert!(open(&object[..len]).is_err(), "truncated to {len} accepted");
    }
}

#[test]
fn truncation_at_and_around_segment_boundaries_is_refused() {
    let plaintext = pattern(3 * SEGMENT_SIZE + 100, 6);
    let object = seal(&plaintext);
    for boundary in 0..4u64 {
        let at = segment_offset(boundary) as usize;
        for len in at.saturating_sub(17)..=(at + 17).min(object.len() - 1) {
            assert!(open(&object[..len]).is_err(), "truncated to {len} accepted");
        }
    }
    // Dropping whole trailing segments leaves a well-formed layout whose new final segment was
    // not sealed as final: only the STREAM last-flag catches this.
    let (header, segs) = segments(&object);
    for keep in 1..segs.len() {
        let err = open(&join(&header, &segs[..keep])).unwrap_err();
        assert!(
            matches!(err, FormatError::Authentication { segment } if segment == keep as u64 - 1),
            "{err}"
        );
    }
}

#[test]
fn extension_is_refused() {
    let plaintext = pattern(2 * SEGMENT_SIZE, 7);
    let object = seal(&plaintext);
    let (header, segs) = segments(&object);
    for extra in [1, 15, 16, 17, 100, SEALED_SEGMENT_LEN] {
        let mut longer = object.clone();
        longer.extend(pattern(extra, extra as u64));
        assert!(open(&longer).is_err(), "{extra} appended bytes accepted");
    }
    // A genuine final segment at the next index, from a longer object sealed with the same key,
    // id and prefix: still refused, because the old final segment was sealed as final.
    let longer = seal(&pattern(2 * SEGMENT_SIZE + 5, 7));
    let (_, longer_segs) = segments(&longer);
    let mut spliced = segs.clone();
    spliced.push(longer_segs[2].clone());
    assert!(open(&join(&header, &spliced)).is_err());
}

#[test]
fn reordered_duplicated_and_foreign_segments_are_refused() {
    let plaintext = pattern(3 * SEGMENT_SIZE + 10, 8);
    let object = seal(&plaintext);
    let (header, segs) = segments(&object);

    let mut swapped = segs.clone();
    swapped.swap(0, 1);
    assert!(open(&join(&header, &swapped)).is_err());
    let mut swapped = segs.clone();
    swapped.swap(1, 2);
    assert!(open(&join(&header, &swapped)).is_err());

    for i in 0..3 {
        let mut duplicated = segs.clone();
        duplicated.insert(i + 1, segs[i].clone());
        assert!(
            open(&join(&header, &duplicated)).is_err(),
            "duplicate of {i}"
        );
        let mut replaced = segs.clone();
        replaced[i + 1] = segs[i].clone();
        assert!(open(&join(&header, &replaced)).is_err(), "replaced by {i}");
    }

    // Same plaintext and DEK but a different object id; a different DEK; a different prefix.
    let other_id = seal_to_vec(&key(), &[2; 16], PREFIX, &plaintext);
    let other_key = seal_to_vec(&DataKey::from_bytes([8; 32]), &ID, PREFIX, &plaintext);
    let other_prefix = seal_to_vec(&key(), &ID, [10; 7], &plaintext);
    for other in [other_id, other_key, other_prefix.clone()] {
        let (_, other_segs) = segments(&other);
        for i in 0..segs.len() {
            let mut mixed = segs.clone();
            mixed[i] = other_segs[i].clone();
            let err = open(&join(&header, &mixed)).unwrap_err();
            assert!(matches!(err, FormatError::Authentication { segment } if segment == i as u64));
        }
    }
    // The other object's header in front of our segments: a different nonce prefix.
    let (other_header, _) = segments(&other_prefix);
    assert!(open(&join(&other_header, &segs)).is_err());
}

#[test]
fn wrong_key_or_object_id_is_refused() {
    let object = seal(b"hello");
    let err = open_from_slice(&DataKey::from_bytes([8; 32]), &ID, &object).unwrap_err();
    assert!(matches!(err, FormatError::Authentication { segment: 0 }));
    let err = open_from_slice(&key(), &[2; 16], &object).unwrap_err();
    assert!(matches!(err, FormatError::Authentication { segment: 0 }));
}

#[test]
fn error_messages_are_informative() {
    let msg = FormatError::UnsupportedVersion(2).to_string();
    assert!(msg.contains("version 2"), "{msg}");
    let msg = FormatError::Authentication { segment: 3 }.to_string();
    assert!(msg.contains("segment 3"), "{msg}");
}
