//! A master key supplied by the environment (as an orchestrator's secret store would) instead
//! of the keyring file: no key file is written, a wrong key is refused at start, and moving to
//! a new key keeps every file readable through `keys rewrap`. A node whose keyring file is lost
//! or belongs to another installation refuses to start rather than make a new one, and a start
//! that fails on the database says what to do in words of ours.

use std::process::Command;

use crate::support::app::*;

const KEY_ONE: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const KEY_TWO: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

/// `env-` and the first 8 hex digits of the SHA-256 of the key's bytes.
fn env_key_id(key: &str) -> String {
    let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, key).unwrap();
    format!("env-{}", &sha256_hex(&raw)[..8])
}

/// The one line a refusing node ends with; whatever it says must be on it.
fn refusal(stderr: &str) -> &str {
    let said: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(said.len(), 1, "one error line, not {}: {stderr}", said.len());
    said[0]
}

fn run_keys(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> String {
    let out =
        Command::new(BIN).args(args).arg("--data-dir").arg(app.data_path()).envs(env.iter().copied()).output().unwrap();
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn an_environment_master_key_is_used_without_writing_a_keyring_file() {
    let mut app = TestApp::builder().env(&[("PIGEONPOST_MASTER_KEY", KEY_ONE)]).process();
    assert!(!app.data_path().join("keyring.json").exists(), "no keyring file when the key comes from the environment");
    let first = app.upload_ok(&app.key_a, TEAM, "first.csv", b"under key one".to_vec()).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(app.download_bytes(&app.key_team, &first_id).await, b"under key one");

    // The wrong master key is refused at start, naming the key the stored file needs.
    app.env.clear();
    app.sigkill();
    let refused = app.start_refused(&[("PIGEONPOST_MASTER_KEY", KEY_TWO)]);
    assert!(!refused.status.success());
    let said = refusal(&refused.stderr);
    assert!(said.contains(&env_key_id(KEY_ONE)), "the refusal names the key: {said}");
    assert!(!refused.stderr.contains(KEY_ONE) && !refused.stderr.contains(KEY_TWO), "no key is ever echoed");

    // With the old key listed as retired, the node starts, the first file opens, and new files
    // are sealed under the new key.
    let both = [("PIGEONPOST_MASTER_KEY", KEY_TWO), ("PIGEONPOST_RETIRED_MASTER_KEYS", KEY_ONE)];
    app.start_server(&both);
    assert_eq!(app.download_bytes(&app.key_team, &first_id).await, b"under key one");
    let second = app.upload_ok(&app.key_a, TEAM, "second.csv", b"under key two".to_vec()).await;
    let second_id = second["id"].as_str().unwrap().to_owned();

    // Re-wrap everything under the new key; afterwards the old key is no longer needed.
    let report = run_keys(&app, &["keys", "rewrap"], &both);
    assert!(report.contains("re-wrapped 1 data keys"), "{report}");
    let again = run_keys(&app, &["keys", "rewrap"], &both);
    assert!(again.contains("re-wrapped 0 data keys"), "a second run has nothing to do: {again}");
    app.restart(&[("PIGEONPOST_MASTER_KEY", KEY_TWO)]);
    assert_eq!(app.download_bytes(&app.key_team, &first_id).await, b"under key one");
    assert_eq!(app.download_bytes(&app.key_team, &second_id).await, b"under key two");
    assert!(!app.data_path().join("keyring.json").exists());
}

#[tokio::test]
async fn a_malformed_master_key_stops_the_server_with_a_clear_message() {
    let app = TestApp::builder().process();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(app.data_path().join("other"))
        .env("PIGEONPOST_MASTER_KEY", "not base64 at all")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PIGEONPOST_MASTER_KEY"), "the message should name the variable: {stderr}");
    assert!(!stderr.contains("not base64 at all"), "the secret must not be echoed: {stderr}");
}

#[tokio::test]
async fn a_node_that_lost_its_keyring_or_has_another_refuses_to_start_rather_than_make_a_new_one() {
    let mut app = TestApp::builder().process();
    let sent = app.upload_ok(&app.key_a, TEAM, "sealed.csv", b"sealed under k1".to_vec()).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    app.sigkill();
    let keyring = app.data_path().join("keyring.json");
    let original = std::fs::read(&keyring).unwrap();

    // Lost: the database holds data, so no new keyring is made for it.
    std::fs::remove_file(&keyring).unwrap();
    let refused = app.start_refused(&[]);
    assert!(!refused.status.success());
    let said = refusal(&refused.stderr);
    for needed in ["master k1", "PIGEONPOST_MASTER_KEY", "PIGEONPOST_RETIRED_MASTER_KEYS"] {
        assert!(said.contains(needed), "the refusal should name {needed}: {said}");
    }
    assert!(said.contains(&keyring.display().to_string()), "the refusal names the keyring file: {said}");
    assert!(!keyring.exists(), "a keyring was made for a database that holds data");

    // Another installation's keyring, whose first key is called k1 too.
    let other = tempfile::tempdir().unwrap();
    assert!(cli_ok(other.path(), &["keys", "list"]).contains("k1"));
    std::fs::copy(other.path().join("keyring.json"), &keyring).unwrap();
    let refused = app.start_refused(&[]);
    assert!(!refused.status.success());
    let said = refusal(&refused.stderr);
    assert!(said.contains("key k1 is not the key"), "{said}");

    // A key known by id only (as a database sealed before keys were recorded knows it) is
    // proved by opening a row sealed under it: the wrong k1 opens nothing and is refused.
    let url = format!("sqlite://{}", app.data_path().join("pigeonpost.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE master_keys SET check_value = NULL").execute(&db).await.unwrap();
    let refused = app.start_refused(&[]);
    assert!(refusal(&refused.stderr).contains("key k1 is not the key"), "{}", refused.stderr);

    // The installation's own keyring back: it serves its file, and k1's check is recorded again.
    std::fs::write(&keyring, &original).unwrap();
    app.start_server(&[]);
    assert_eq!(app.download_bytes(&app.key_team, &id).await, b"sealed under k1");
    let unchecked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM master_keys WHERE check_value IS NULL").fetch_one(&db).await.unwrap();
    assert_eq!(unchecked, 0);
    db.close().await;
}

#[tokio::test]
async fn a_start_that_cannot_reach_the_database_says_what_to_do_in_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("PIGEONPOST_DATABASE__URL", "postgres://pigeonpost:secret@127.0.0.1:9/pigeonpost")
        .env("PIGEONPOST_DATABASE__ACQUIRE_TIMEOUT_SECS", "2")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = refusal(&stderr);
    assert!(said.contains("could not connect to PostgreSQL") && said.contains("check that it is running"), "{said}");
    assert!(!said.to_lowercase().contains("connection refused"), "the engine's own words stay in the log: {said}");
    assert!(!said.contains("secret"), "the password is never shown: {said}");
}
