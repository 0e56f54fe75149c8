//! A master key supplied by the environment (as an orchestrator's secret store would) instead
//! of the keyring file: no key file is written, a wrong key opens nothing, and moving to a new
//! key keeps every file readable through `keys rewrap`.

mod common;

use std::process::Command;

use common::*;
use reqwest::StatusCode;

const KEY_ONE: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const KEY_TWO: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

fn run_keys(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> String {
    let out =
        Command::new(BIN).args(args).arg("--data-dir").arg(app.data_path()).envs(env.iter().copied()).output().unwrap();
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn an_environment_master_key_is_used_without_writing_a_keyring_file() {
    let mut app = TestApp::spawn_with_env(&[("PIGEONPOST_MASTER_KEY", KEY_ONE)]);
    assert!(!app.data_path().join("keyring.json").exists(), "no keyring file when the key comes from the environment");
    let first = app.upload_ok(&app.key_a, TEAM, "first.csv", b"under key one".to_vec()).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(app.download_bytes(&app.key_team, &first_id).await, b"under key one");

    // The wrong master key opens nothing, and says nothing about why to the client.
    app.env.clear();
    app.restart(&[("PIGEONPOST_MASTER_KEY", KEY_TWO)]);
    let resp = app.download(&app.key_team, &first_id).await;
    expect_error(resp, StatusCode::INTERNAL_SERVER_ERROR, Some("internal")).await;
    let second = app.upload_ok(&app.key_a, TEAM, "second.csv", b"under key two".to_vec()).await;
    let second_id = second["id"].as_str().unwrap().to_owned();

    // With the old key listed as retired, both files open.
    let both = [("PIGEONPOST_MASTER_KEY", KEY_TWO), ("PIGEONPOST_RETIRED_MASTER_KEYS", KEY_ONE)];
    app.restart(&both);
    assert_eq!(app.download_bytes(&app.key_team, &first_id).await, b"under key one");

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
    let app = TestApp::spawn();
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
