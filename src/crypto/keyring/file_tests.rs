//! Tests of keyrings kept in `keyring.json`: creation, permissions, strict parsing, rotation.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::*;

const ID: ObjectId = [3; 16];

fn b64(key: &[u8]) -> String {
    STANDARD.encode(key)
}

fn file_mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn creates_a_private_keyring_file_and_reloads_it() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested/data");
    let (ring, created) = Keyring::load_or_create(&data_dir, None, None).unwrap();
    assert!(created);
    let path = data_dir.join("keyring.json");
    assert_eq!(ring.source(), &KeyringSource::File(path.clone()));
    assert_eq!(ring.primary_id(), "k1");
    assert_eq!(file_mode(&path), 0o600);
    assert_eq!(file_mode(&data_dir), 0o700);

    let json: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["primary"], "k1");
    assert_eq!(json["keys"][0]["id"], "k1");
    let created_at = json["keys"][0]["created_at"].as_str().unwrap();
    OffsetDateTime::parse(created_at, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(STANDARD.decode(json["keys"][0]["key"].as_str().unwrap()).unwrap().len(), 32);

    let wrapped = ring.wrap(&DataKey::from_bytes([5; 32]), &ID);
    let (again, created) = Keyring::load_or_create(&data_dir, None, None).unwrap();
    assert!(!created);
    assert_eq!(again.unwrap(&wrapped, &ID).unwrap().expose_secret(), &[5; 32]);
    let leftovers: Vec<_> = fs::read_dir(&data_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["keyring.json"]);
}

#[test]
fn refuses_a_keyring_file_readable_by_others() {
    let dir = tempfile::tempdir().unwrap();
    Keyring::load_or_create(dir.path(), None, None).unwrap();
    let path = dir.path().join("keyring.json");
    for mode in [0o644, 0o640, 0o604, 0o660] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let err = Keyring::load_or_create(dir.path(), None, None).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("chmod 600"), "{msg}");
    }
}

/// Writes a keyring file by hand and returns the error from loading it.
fn load_error(contents: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.json");
    fs::write(&path, contents).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    format!("{:#}", Keyring::load_or_create(dir.path(), None, None).unwrap_err())
}

#[test]
fn refuses_malformed_keyring_files_without_echoing_keys() {
    let key = b64(&[0x5A; 32]);
    let entry = |id: &str, key: &str| format!(r#"{{"id":"{id}","created_at":"2024-01-02T03:04:05Z","key":"{key}"}}"#);
    let file = |version: u32, primary: &str, keys: &[String]| {
        format!(r#"{{"version":{version},"primary":"{primary}","keys":[{}]}}"#, keys.join(","))
    };
    let cases = [
        (format!("{{\"version\":1,\"primary\":\"k1\",\"keys\":[{}", entry("k1", &key)), "malformed"),
        (file(2, "k1", &[entry("k1", &key)]), "version 2"),
        (file(1, "k2", &[entry("k1", &key)]), "\"k2\" is not among"),
        (file(1, "k1", &[entry("k1", &key), entry("k1", &key)]), "twice"),
        (file(1, "k1", &[entry("k1", "not base64!")]), "\"k1\" is not base64"),
        (file(1, "k1", &[entry("k1", &b64(&[1; 32])[..20])]), "\"k1\" is not base64"),
        (file(1, "k 1", &[entry("k 1", &key)]), "must be 1-64 characters"),
        (r#"{"version":1,"primary":"k1","keys":[],"extra":true}"#.to_owned(), "malformed"),
        (
            r#"{"version":1,"primary":"k1","keys":[{"id":"k1","created_at":"yesterday","key":"AAAA"}]}"#.to_owned(),
            "RFC 3339",
        ),
    ];
    for (contents, expected) in cases {
        let msg = load_error(&contents);
        assert!(msg.contains(expected), "expected {expected:?} in {msg:?}");
        assert!(!msg.contains(&key[..12]), "key material in {msg:?}");
    }
}

#[test]
fn rotate_adds_a_primary_and_persists_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ring, _) = Keyring::load_or_create(dir.path(), None, None).unwrap();
    let old = ring.wrap(&DataKey::from_bytes([6; 32]), &ID);
    assert_eq!(ring.rotate().unwrap(), "k2");
    assert_eq!(ring.rotate().unwrap(), "k3");
    assert_eq!(ring.primary_id(), "k3");
    assert_eq!(ring.ids(), ["k1", "k2", "k3"]);
    let path = dir.path().join("keyring.json");
    assert_eq!(file_mode(&path), 0o600);

    let (reloaded, created) = Keyring::load_or_create(dir.path(), None, None).unwrap();
    assert!(!created);
    assert_eq!(reloaded.primary_id(), "k3");
    assert_eq!(reloaded.ids(), ["k1", "k2", "k3"]);
    assert_eq!(reloaded.unwrap(&old, &ID).unwrap().expose_secret(), &[6; 32]);
    let rewrapped = reloaded.rewrap(&old, &ID).unwrap();
    assert_eq!(rewrapped.kek_id, "k3");
    assert_eq!(ring.unwrap(&rewrapped, &ID).unwrap().expose_secret(), &[6; 32]);
    let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["keyring.json"]);
}

#[test]
fn failed_rotation_leaves_the_keyring_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (mut ring, _) = Keyring::load_or_create(&data_dir, None, None).unwrap();
    fs::remove_dir_all(&data_dir).unwrap();
    let err = ring.rotate().unwrap_err();
    assert!(format!("{err:#}").contains("unchanged"), "{err:#}");
    assert_eq!(ring.primary_id(), "k1");
    assert_eq!(ring.ids(), ["k1"]);
}

#[test]
fn rotation_refuses_to_overwrite_a_concurrent_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _) = Keyring::load_or_create(dir.path(), None, None).unwrap();
    let (mut cli, _) = Keyring::load_or_create(dir.path(), None, None).unwrap();
    assert_eq!(cli.rotate().unwrap(), "k2");
    let msg = format!("{:#}", server.rotate().unwrap_err());
    assert!(msg.contains("changed by another process"), "{msg}");
    assert_eq!(server.ids(), ["k1"]);
    let (reloaded, _) = Keyring::load_or_create(dir.path(), None, None).unwrap();
    assert_eq!(reloaded.ids(), ["k1", "k2"]);
}
