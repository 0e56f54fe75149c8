use std::fs;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::SecretString;
use sha2::Digest;

use super::*;

const ID: ObjectId = [3; 16];

fn two_key_ring() -> Keyring {
    Keyring::from_keys("k2", vec![("k1".into(), [1; 32]), ("k2".into(), [2; 32])])
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn b64(key: &[u8]) -> String {
    STANDARD.encode(key)
}

#[test]
fn wrap_round_trips_under_the_primary() {
    let ring = two_key_ring();
    let dek = DataKey::generate();
    let wrapped = ring.wrap(&dek, &ID);
    assert_eq!(wrapped.kek_id, "k2");
    assert_eq!(wrapped.bytes.len(), WRAPPED_KEY_LEN);
    assert_eq!(ring.unwrap(&wrapped, &ID).unwrap().expose_secret(), dek.expose_secret());
    assert_ne!(ring.wrap(&dek, &ID).bytes, wrapped.bytes, "nonces are random");
}

#[test]
fn wrapped_key_is_bound_to_object_and_kek() {
    let ring = two_key_ring();
    let dek = DataKey::from_bytes([9; 32]);
    let wrapped = ring.wrap(&dek, &ID);
    assert!(matches!(ring.unwrap(&wrapped, &[4; 16]), Err(KeyError::Unwrap)));
    let relabelled = WrappedKey { kek_id: "k1".into(), ..wrapped.clone() };
    assert!(matches!(ring.unwrap(&relabelled, &ID), Err(KeyError::Unwrap)));
    let unknown = WrappedKey { kek_id: "k9".into(), ..wrapped.clone() };
    assert!(matches!(ring.unwrap(&unknown, &ID), Err(KeyError::UnknownKek(id)) if id == "k9"));
    let short = WrappedKey { bytes: wrapped.bytes[..71].to_vec(), ..wrapped.clone() };
    assert!(matches!(ring.unwrap(&short, &ID), Err(KeyError::BadLength(71))));
    // Same key bytes under another id: the id is in the associated data, so this fails too.
    let renamed = Keyring::from_keys("k3", vec![("k3".into(), [2; 32])]);
    let moved = WrappedKey { kek_id: "k3".into(), ..wrapped };
    assert!(matches!(renamed.unwrap(&moved, &ID), Err(KeyError::Unwrap)));
}

#[test]
fn every_bit_flip_of_a_wrapped_key_is_refused() {
    let ring = two_key_ring();
    let wrapped = ring.wrap(&DataKey::generate(), &ID);
    for byte in 0..wrapped.bytes.len() {
        for bit in 0..8 {
            let mut tampered = wrapped.clone();
            tampered.bytes[byte] ^= 1 << bit;
            assert!(ring.unwrap(&tampered, &ID).is_err(), "flip {byte}.{bit}");
        }
    }
}

#[test]
fn rewrap_moves_to_the_primary() {
    let old = Keyring::from_keys("k1", vec![("k1".into(), [1; 32])]);
    let dek = DataKey::generate();
    let wrapped = old.wrap(&dek, &ID);
    let ring = two_key_ring();
    let rewrapped = ring.rewrap(&wrapped, &ID).unwrap();
    assert_eq!(rewrapped.kek_id, "k2");
    assert_eq!(ring.unwrap(&rewrapped, &ID).unwrap().expose_secret(), dek.expose_secret());
    assert!(matches!(ring.rewrap(&wrapped, &[0; 16]), Err(KeyError::Unwrap)));
}

#[test]
fn debug_lists_ids_only() {
    let ring = Keyring::from_keys("k1", vec![("k1".into(), [0xAB; 32])]);
    let shown = format!("{ring:?}");
    assert!(shown.contains("k1"), "{shown}");
    assert!(!shown.to_lowercase().contains("abab"), "{shown}");
    assert!(!shown.contains(&b64(&[0xAB; 32])[..8]), "{shown}");
}

#[test]
#[should_panic(expected = "not among the keys")]
fn from_keys_requires_the_primary() {
    Keyring::from_keys("k2", vec![("k1".into(), [1; 32])]);
}

#[test]
fn master_key_from_environment() {
    let dir = tempfile::tempdir().unwrap();
    let master = [0x11; 32];
    let retired = [0x22; 32];
    let retired_list = format!(" {} ,, {} ,", b64(&retired), b64(&master));
    let (mut ring, created) = Keyring::load_or_create(
        dir.path(),
        Some(&secret(&format!("{}\n", b64(&master)))),
        Some(&secret(&retired_list)),
    )
    .unwrap();
    assert!(!created);
    assert_eq!(ring.source(), &KeyringSource::Environment);
    let expected_id = format!("env-{}", &hex::encode(sha2::Sha256::digest(master))[..8]);
    assert_eq!(ring.primary_id(), expected_id);
    assert_eq!(ring.ids().len(), 2, "the master listed as retired is kept once");
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none(), "no file created");

    let old_ring = Keyring::load_or_create(dir.path(), Some(&secret(&b64(&retired))), None).unwrap().0;
    let old = old_ring.wrap(&DataKey::from_bytes([7; 32]), &ID);
    assert_eq!(ring.unwrap(&old, &ID).unwrap().expose_secret(), &[7; 32]);
    assert_eq!(ring.rewrap(&old, &ID).unwrap().kek_id, expected_id);

    let msg = format!("{:#}", ring.rotate().unwrap_err());
    for needle in ["PIGEONPOST_MASTER_KEY", "PIGEONPOST_RETIRED_MASTER_KEYS", "keys rewrap"] {
        assert!(msg.contains(needle), "{msg}");
    }
}

#[test]
fn refuses_bad_environment_keys_without_echoing_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = b64(&[0x33; 32]);
    let short = b64(&[0x44; 31]);
    let garbage = "c2VjcmV0LXNlY3JldC1zZWNyZXQ$";
    let cases: [(Option<&str>, Option<&str>, &str); 5] = [
        (Some(&short), None, "31 bytes"),
        (Some(garbage), None, "not valid base64"),
        (Some("  "), None, "empty"),
        (Some(&good), Some(garbage), "entry 1 of PIGEONPOST_RETIRED_MASTER_KEYS"),
        (None, Some(&good), "PIGEONPOST_MASTER_KEY is not"),
    ];
    for (master, retired, expected) in cases {
        let master = master.map(secret);
        let retired = retired.map(secret);
        let err = Keyring::load_or_create(dir.path(), master.as_ref(), retired.as_ref()).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(expected), "expected {expected:?} in {msg:?}");
        for secret_text in [&good[..12], &short[..12], &garbage[..12]] {
            assert!(!msg.contains(secret_text), "secret echoed in {msg:?}");
        }
    }
    // Blank retired keys without a master key are harmless: the file keyring is used.
    Keyring::load_or_create(dir.path(), None, Some(&secret(" , "))).unwrap();
}

#[test]
fn check_values_tell_keys_of_one_id_apart_and_reveal_neither() {
    let one = Keyring::from_keys("k1", vec![("k1".into(), [1u8; 32])]);
    let same = Keyring::from_keys("k1", vec![("k1".into(), [1u8; 32])]);
    let other = Keyring::from_keys("k1", vec![("k1".into(), [2u8; 32])]);
    let check = |ring: &Keyring| ring.check_values().remove(0);
    assert_eq!(check(&one), check(&same), "the same key always gives the same check value");
    assert_ne!(check(&one).1, check(&other).1, "another key under the same id is told apart");
    assert_ne!(&check(&one).1[..], &[1u8; 32][..CHECK_VALUE_LEN], "the check value is not the key");
    let tokens = one.derived_keys("session tokens").remove(0).1;
    assert_ne!(&check(&one).1[..], &tokens[..CHECK_VALUE_LEN], "nor a key derived for anything else");
}

#[test]
fn check_values_list_the_primary_first() {
    let ring = Keyring::from_keys("k2", vec![("k1".into(), [1u8; 32]), ("k2".into(), [2u8; 32])]);
    let ids: Vec<String> = ring.check_values().into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["k2", "k1"]);
}
