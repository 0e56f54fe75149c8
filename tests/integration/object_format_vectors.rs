//! Checks that the code reproduces the test vectors published in `docs/object-format.md`
//! exactly, and opens them back. The document is the specification for independent readers, so
//! it is parsed from the file itself: a format change that is not also written down fails here.

use std::collections::BTreeMap;

use pigeonpost::crypto::{
    ciphertext_len, open_from_slice, seal_to_vec, sealed_segment_len, segment_count, segment_offset, DataKey, KeyError,
    Keyring, ObjectId, Opener, Sealer, WrappedKey, HEADER_LEN, SEGMENT_SIZE, TAG_LEN,
};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

type Vector = BTreeMap<String, String>;

/// Parses the ```vectors block: `[name]` starts a vector, `field = value` fills it.
fn load_vectors() -> BTreeMap<String, Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/object-format.md");
    let doc = std::fs::read_to_string(path).expect("read docs/object-format.md");
    let mut lines = doc.lines().skip_while(|l| l.trim() != "```vectors").skip(1);
    let mut vectors = BTreeMap::new();
    let mut current: Option<(String, Vector)> = None;
    for line in lines.by_ref() {
        let line = line.trim();
        if line == "```" {
            break;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            vectors.extend(current.take());
            current = Some((name.to_owned(), Vector::new()));
            continue;
        }
        let (field, value) = line
            .split_once(" = ")
            .or_else(|| line.strip_suffix(" =").map(|field| (field, "")))
            .unwrap_or_else(|| panic!("not `field = value`: {line:?}"));
        let (_, vector) = current.as_mut().expect("field before the first [name]");
        assert!(vector.insert(field.to_owned(), value.to_owned()).is_none(), "field {field} repeated");
    }
    vectors.extend(current.take());
    assert!(!vectors.is_empty(), "no ```vectors block found in {path}");
    vectors
}

fn bytes(v: &Vector, field: &str) -> Vec<u8> {
    let value = v.get(field).unwrap_or_else(|| panic!("missing field {field}"));
    hex::decode(value).unwrap_or_else(|e| panic!("field {field}: {e}"))
}

fn array<const N: usize>(v: &Vector, field: &str) -> [u8; N] {
    bytes(v, field).try_into().unwrap_or_else(|b: Vec<u8>| panic!("field {field} is {} bytes, expected {N}", b.len()))
}

fn plaintext(v: &Vector) -> Vec<u8> {
    let spec = &v["plaintext"];
    if let Some(hex_text) = spec.strip_prefix("hex:") {
        hex::decode(hex_text).unwrap()
    } else if let Some(len) = spec.strip_prefix("pattern:") {
        (0..len.parse::<usize>().unwrap()).map(|i| (i % 251) as u8).collect()
    } else {
        panic!("unknown plaintext spec {spec:?}")
    }
}

fn check_fields(name: &str, v: &Vector, allowed: &[&str]) {
    for field in v.keys() {
        assert!(allowed.contains(&field.as_str()), "[{name}] has unknown field {field}");
    }
}

fn check_object(name: &str, v: &Vector) {
    check_fields(
        name,
        v,
        &[
            "key",
            "object_id",
            "nonce_prefix",
            "plaintext",
            "object_len",
            "header",
            "tags",
            "object",
            "object_sha256",
            "final_segment",
        ],
    );
    let key = DataKey::from_bytes(array(v, "key"));
    let id: ObjectId = array(v, "object_id");
    let prefix: [u8; 7] = array(v, "nonce_prefix");
    let plaintext = plaintext(v);
    let object = seal_to_vec(&key, &id, prefix, &plaintext);

    assert_eq!(object.len().to_string(), v["object_len"], "[{name}] object_len");
    assert_eq!(ciphertext_len(plaintext.len() as u64), object.len() as u64);
    assert_eq!(hex::encode(Sha256::digest(&object)), v["object_sha256"], "[{name}] sha256");
    assert_eq!(hex::encode(&object[..HEADER_LEN]), v["header"], "[{name}] header");
    if v.contains_key("object") {
        assert_eq!(object, bytes(v, "object"), "[{name}] object");
    }

    let len = plaintext.len() as u64;
    let count = segment_count(len);
    let segments: Vec<&[u8]> = (0..count)
        .map(|i| {
            let start = segment_offset(i) as usize;
            &object[start..start + sealed_segment_len(i, len)]
        })
        .collect();
    let tags: Vec<String> = segments.iter().map(|s| hex::encode(&s[s.len() - TAG_LEN..])).collect();
    assert_eq!(tags.join(" "), v["tags"], "[{name}] tags");
    if v.contains_key("final_segment") {
        assert_eq!(segments.last().unwrap().to_vec(), bytes(v, "final_segment"));
    }

    // The streaming sealer produces the same bytes as the in-memory one.
    let mut sealer = Sealer::with_nonce_prefix(&key, &id, prefix);
    let mut streamed = sealer.header().to_vec();
    let mut chunks: Vec<&[u8]> = plaintext.chunks(SEGMENT_SIZE).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    for (i, chunk) in chunks.iter().enumerate() {
        sealer.seal_next(chunk, i + 1 == chunks.len(), &mut streamed).unwrap();
    }
    assert_eq!(streamed, object, "[{name}] streaming sealer");

    // And it opens back, whole and segment by segment.
    assert_eq!(open_from_slice(&key, &id, &object).unwrap(), plaintext, "[{name}] open");
    let opener = Opener::new(&key, &id, &object[..HEADER_LEN]).unwrap();
    let mut reassembled = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i as u64 + 1 == count;
        reassembled.extend(opener.open_segment(i as u64, segment, last).unwrap());
    }
    assert_eq!(reassembled, plaintext);
    assert!(open_from_slice(&key, &[0xFF; 16], &object).is_err(), "[{name}] other object id");
}

fn check_wrapped_key(v: &Vector) {
    check_fields("wrapped key", v, &["kek_id", "kek", "dek", "object_id", "nonce", "aad", "wrapped"]);
    let kek_id = v["kek_id"].clone();
    let id: ObjectId = array(v, "object_id");
    let ring = Keyring::from_keys(&kek_id, vec![(kek_id.clone(), array(v, "kek"))]);
    let dek: [u8; 32] = array(v, "dek");
    let wrapped = ring.wrap_with_nonce(&DataKey::from_bytes(dek), &id, array(v, "nonce"));
    assert_eq!(wrapped.kek_id, kek_id);
    assert_eq!(hex::encode(&wrapped.bytes), v["wrapped"], "wrapped key bytes");

    // The documented associated data, rebuilt from its definition.
    let mut aad = b"pigeonpost dek v1".to_vec();
    aad.push(kek_id.len() as u8);
    aad.extend_from_slice(kek_id.as_bytes());
    aad.extend_from_slice(&id);
    assert_eq!(hex::encode(aad), v["aad"], "documented aad");

    let stored = WrappedKey { kek_id, bytes: bytes(v, "wrapped") };
    assert_eq!(ring.unwrap(&stored, &id).unwrap().expose_secret(), &dek);
    assert!(matches!(ring.unwrap(&stored, &[0xFF; 16]), Err(KeyError::Unwrap)));
}

fn check_env_kek_id(v: &Vector) {
    check_fields("env kek id", v, &["master_key", "kek_id"]);
    let dir = tempfile::tempdir().unwrap();
    let master = SecretString::from(v["master_key"].clone());
    let (ring, created) = Keyring::load_or_create(dir.path(), Some(&master), None).unwrap();
    assert!(!created);
    assert_eq!(ring.primary_id(), v["kek_id"]);
}

#[test]
fn documented_vectors_are_reproduced_exactly() {
    let vectors = load_vectors();
    let expected =
        ["env kek id", "object empty", "object hello", "object one full segment", "object two segments", "wrapped key"];
    assert_eq!(vectors.keys().map(String::as_str).collect::<Vec<_>>(), expected);
    for (name, vector) in &vectors {
        match name.as_str() {
            "wrapped key" => check_wrapped_key(vector),
            "env kek id" => check_env_kek_id(vector),
            _ => check_object(name, vector),
        }
    }
}

#[test]
fn the_two_segment_vector_has_the_required_shape() {
    let vectors = load_vectors();
    let v = &vectors["object two segments"];
    assert_eq!(plaintext(v).len(), SEGMENT_SIZE + 3);
    assert_eq!(v["tags"].split(' ').count(), 2);
}
