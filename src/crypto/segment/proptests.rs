//! Property tests: random lengths, keys, ids and tampering positions.
//!
//! Plaintexts are generated from a seed rather than by proptest itself, so a 300 KiB case costs
//! one xorshift pass instead of 300 000 shrinkable values.

use proptest::prelude::*;
use proptest::sample::Index;

use super::tests::pattern;
use super::*;
use crate::crypto::data_key::DataKey;

const SEG: usize = SEGMENT_SIZE;
/// Round trips go a little past four full segments.
const MAX_LEN: usize = 300 * 1024;
/// Tampering tests use objects of up to three segments plus change.
const MAX_TAMPER_LEN: usize = 3 * SEG + 100;

/// Any length up to `max`, with a quarter of the cases on a segment boundary or one byte off it,
/// where off-by-one errors in the layout would show.
fn length(max: usize) -> impl Strategy<Value = usize> {
    let boundaries = max / SEG;
    prop_oneof![
        3 => 0..=max,
        1 => (0..=boundaries, -1i64..=1).prop_map(move |(k, d)| {
            ((k * SEG) as i64 + d).clamp(0, max as i64) as usize
        }),
    ]
}

/// A length that yields at least two segments.
fn multi_segment_length() -> impl Strategy<Value = usize> {
    length(MAX_TAMPER_LEN).prop_map(|len| len.max(SEG + 1))
}

#[derive(Debug, Clone)]
struct Params {
    key: [u8; 32],
    id: ObjectId,
    prefix: [u8; 7],
    seed: u64,
}

fn params() -> impl Strategy<Value = Params> {
    (any::<[u8; 32]>(), any::<ObjectId>(), any::<[u8; 7]>(), any::<u64>()).prop_map(|(key, id, prefix, seed)| Params {
        key,
        id,
        prefix,
        seed,
    })
}

impl Params {
    fn plaintext(&self, len: usize) -> Vec<u8> {
        pattern(len, self.seed)
    }
    fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        seal_to_vec(&DataKey::from_bytes(self.key), &self.id, self.prefix, plaintext)
    }
    fn open(&self, object: &[u8]) -> Result<Vec<u8>, FormatError> {
        open_from_slice(&DataKey::from_bytes(self.key), &self.id, object)
    }
}

fn split(object: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let (header, body) = object.split_at(HEADER_LEN);
    (header.to_vec(), body.chunks(SEALED_SEGMENT_LEN).map(<[u8]>::to_vec).collect())
}

/// 96 cases per property by default (about 20 s for the whole file in a debug build on two
/// cores); set PROPTEST_CASES for a deeper run.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96);
    ProptestConfig::with_cases(cases)
}

fn join(header: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
    let mut out = header.to_vec();
    segments.iter().for_each(|s| out.extend_from_slice(s));
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn round_trip_any_length(len in length(MAX_LEN), p in params(), pick in any::<Index>()) {
        let plaintext = p.plaintext(len);
        let object = p.seal(&plaintext);
        prop_assert_eq!(object.len() as u64, ciphertext_len(len as u64));
        prop_assert_eq!(plaintext_len(object.len() as u64).unwrap(), len as u64);
        prop_assert_eq!(&p.open(&object).unwrap(), &plaintext);

        // Random access to one segment, located purely from the layout functions.
        let count = segment_count(len as u64);
        let index = pick.index(count as usize) as u64;
        let offset = segment_offset(index) as usize;
        let sealed = &object[offset..offset + sealed_segment_len(index, len as u64)];
        let opener = Opener::new(&DataKey::from_bytes(p.key), &p.id, &object).unwrap();
        let opened = opener.open_segment(index, sealed, index + 1 == count).unwrap();
        let start = index as usize * SEG;
        prop_assert_eq!(&opened[..], &plaintext[start..(start + SEG).min(len)]);
    }

    #[test]
    fn random_nonce_prefix_round_trips(len in length(2 * SEG + 10), p in params()) {
        let key = DataKey::from_bytes(p.key);
        let plaintext = p.plaintext(len);
        let mut sealer = Sealer::new(&key, &p.id);
        let mut object = sealer.header().to_vec();
        let count = segment_count(len as u64) as usize;
        for i in 0..count {
            let chunk = &plaintext[(i * SEG).min(len)..((i + 1) * SEG).min(len)];
            sealer.seal_next(chunk, i + 1 == count, &mut object).unwrap();
        }
        prop_assert_eq!(&open_from_slice(&key, &p.id, &object).unwrap(), &plaintext);
    }

    #[test]
    fn any_bit_flip_is_refused(
        len in length(MAX_TAMPER_LEN),
        p in params(),
        region in 0u8..4,
        pick in any::<Index>(),
        bit in 0u8..8,
    ) {
        let mut object = p.seal(&p.plaintext(len));
        let count = segment_count(len as u64);
        let position = match region {
            // The header: magic, version, sizes, reserved, nonce prefix.
            0 => pick.index(HEADER_LEN),
            // Some segment's tag.
            1 => {
                let index = pick.index(count as usize) as u64;
                let end = segment_offset(index) as usize + sealed_segment_len(index, len as u64);
                end - TAG_LEN + pick.index(TAG_LEN)
            }
            // The final segment.
            2 => {
                let start = segment_offset(count - 1) as usize;
                start + pick.index(object.len() - start)
            }
            _ => pick.index(object.len()),
        };
        object[position] ^= 1 << bit;
        prop_assert!(p.open(&object).is_err(), "flip at {}.{} accepted", position, bit);
    }

    #[test]
    fn any_truncation_is_refused(len in length(MAX_TAMPER_LEN), p in params(), cut in any::<Index>()) {
        let object = p.seal(&p.plaintext(len));
        let keep = cut.index(object.len());
        prop_assert!(p.open(&object[..keep]).is_err(), "truncated to {} accepted", keep);
    }

    #[test]
    fn dropping_trailing_segments_is_refused(len in multi_segment_length(), p in params(), pick in any::<Index>()) {
        let (header, segments) = split(&p.seal(&p.plaintext(len)));
        let keep = 1 + pick.index(segments.len() - 1);
        let result = p.open(&join(&header, &segments[..keep]));
        let expected = keep as u64 - 1;
        prop_assert!(
            matches!(result, Err(FormatError::Authentication { segment }) if segment == expected),
            "kept {} of {} segments: {:?}", keep, segments.len(), result
        );
    }

    #[test]
    fn appending_is_refused(
        len in length(MAX_TAMPER_LEN),
        p in params(),
        extra in prop_oneof![1usize..=64, Just(TAG_LEN), Just(SEALED_SEGMENT_LEN), 0usize..=SEALED_SEGMENT_LEN + 20],
        copy_segment in any::<Option<Index>>(),
    ) {
        let object = p.seal(&p.plaintext(len));
        let mut longer = object.clone();
        match copy_segment {
            // Append a copy of one of the object's own segments.
            Some(pick) => {
                let (_, segments) = split(&object);
                longer.extend_from_slice(&segments[pick.index(segments.len())]);
            }
            None => longer.extend(pattern(extra.max(1), p.seed ^ 1)),
        }
        prop_assert!(p.open(&longer).is_err());
    }

    #[test]
    fn reordering_segments_is_refused(len in multi_segment_length(), p in params(), a in any::<Index>(), b in any::<Index>()) {
        let (header, mut segments) = split(&p.seal(&p.plaintext(len)));
        let n = segments.len();
        let i = a.index(n);
        let j = (i + 1 + b.index(n - 1)) % n;
        segments.swap(i, j);
        prop_assert!(p.open(&join(&header, &segments)).is_err());
    }

    #[test]
    fn duplicating_a_segment_is_refused(len in length(MAX_TAMPER_LEN), p in params(), a in any::<Index>(), b in any::<Index>()) {
        let (header, mut segments) = split(&p.seal(&p.plaintext(len)));
        let copy = segments[a.index(segments.len())].clone();
        let at = b.index(segments.len() + 1);
        segments.insert(at, copy);
        prop_assert!(p.open(&join(&header, &segments)).is_err());
    }

    #[test]
    fn segment_from_another_object_is_refused(
        len in length(MAX_TAMPER_LEN),
        p in params(),
        other in params(),
        same_key in any::<bool>(),
        same_prefix in any::<bool>(),
        pick in any::<Index>(),
    ) {
        prop_assume!(other.id != p.id && other.key != p.key);
        // Same length, so the foreign segment fits the layout exactly; the id always differs.
        let foreign = Params {
            key: if same_key { p.key } else { other.key },
            id: other.id,
            prefix: if same_prefix { p.prefix } else { other.prefix },
            seed: other.seed,
        };
        let (header, mut segments) = split(&p.seal(&p.plaintext(len)));
        let (_, foreign_segments) = split(&foreign.seal(&foreign.plaintext(len)));
        let i = pick.index(segments.len());
        segments[i] = foreign_segments[i].clone();
        prop_assert!(p.open(&join(&header, &segments)).is_err());
    }

    #[test]
    fn wrong_key_or_id_is_refused(len in length(MAX_TAMPER_LEN), p in params(), other in params()) {
        prop_assume!(other.id != p.id && other.key != p.key);
        let object = p.seal(&p.plaintext(len));
        let wrong_key = Params { key: other.key, ..p.clone() };
        let wrong_id = Params { id: other.id, ..p.clone() };
        for wrong in [wrong_key, wrong_id] {
            let result = wrong.open(&object);
            prop_assert!(
                matches!(result, Err(FormatError::Authentication { segment: 0 })),
                "{:?}", result
            );
        }
    }

    #[test]
    fn other_versions_are_refused(len in 0usize..200, p in params(), version in any::<u8>()) {
        prop_assume!(version != FORMAT_VERSION);
        let mut object = p.seal(&p.plaintext(len));
        object[4] = version;
        prop_assert!(matches!(p.open(&object), Err(FormatError::UnsupportedVersion(v)) if v == version));
    }
}
