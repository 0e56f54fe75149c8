//! Example-based tampering tests: every way of altering a sealed object that the format must
//! catch, exhaustively for small objects and at the interesting boundaries for larger ones.

use super::tests::{join, key, open, pattern, seal, segments, ID, PREFIX};
use super::*;
use crate::crypto::data_key::DataKey;

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
    let positions =
        (0..HEADER_LEN + 64).chain((HEADER_LEN..first_tag).step_by(997)).chain(first_tag - 64..object.len());
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
        assert!(matches!(err, FormatError::Authentication { segment } if segment == keep as u64 - 1), "{err}");
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
        assert!(open(&join(&header, &duplicated)).is_err(), "duplicate of {i}");
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
