//! The operator CLI: organisations, API keys, master-key rotation and migrations.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::support::app::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn stdout_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Number of master keys in keyring.json, whatever reasonable shape it has: a `keys` array or
/// map anywhere, else a top-level array, else the longest array of objects found.
fn count_keys(v: &Value) -> usize {
    fn find_keys_field(v: &Value) -> Option<usize> {
        match v {
            Value::Object(m) => {
                if let Some(k) = m.get("keys") {
                    match k {
                        Value::Array(a) => return Some(a.len()),
                        Value::Object(o) => return Some(o.len()),
                        _ => {}
                    }
                }
                m.values().find_map(find_keys_field)
            }
            Value::Array(a) => a.iter().find_map(find_keys_field),
            _ => None,
        }
    }
    fn longest_object_array(v: &Value) -> usize {
        match v {
            Value::Array(a) => {
                let own = if a.iter().all(Value::is_object) { a.len() } else { 0 };
                own.max(a.iter().map(longest_object_array).max().unwrap_or(0))
            }
            Value::Object(m) => m.values().map(longest_object_array).max().unwrap_or(0),
            _ => 0,
        }
    }
    if let Value::Array(a) = v {
        return a.len();
    }
    find_keys_field(v).unwrap_or_else(|| longest_object_array(v))
}

fn keyring(app: &TestApp) -> (Value, u32) {
    let path = app.data_path().join("keyring.json");
    let text = std::fs::read_to_string(&path).expect("read keyring.json");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    (serde_json::from_str(&text).expect("keyring.json is JSON"), mode)
}

async fn inbox_status(app: &TestApp, key: &str) -> StatusCode {
    app.request(Method::GET, key, "/api/v1/transfers?box=inbox").send().await.unwrap().status()
}

async fn stop(app: &mut TestApp) {
    app.sigterm();
    let st = app.wait_for_exit(Duration::from_secs(15)).await.expect("server did not stop");
    assert!(st.success(), "server exit status {st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_create_prints_the_key_and_nothing_else_and_the_key_works() {
    let app = TestApp::spawn();
    let mut seen = vec![app.key_a.clone(), app.key_team.clone(), app.key_b.clone()];
    for (org, name) in [("825/2001", "census-upload"), ("8252001", "census-upload-2"), ("smst", "census-upload")] {
        let out = app.cli(&["admin", "key", "create", "--org", org, "--name", name]);
        assert!(out.status.success(), "key create --org {org}: {}", stderr_of(&out));
        let stdout = stdout_of(&out);
        let key = stdout.strip_suffix('\n').unwrap_or(&stdout);
        assert!(!key.is_empty(), "no key printed for {org}");
        assert!(
            !key.contains(['\n', '\r']) && !key.contains(char::is_whitespace),
            "key create must print exactly one line holding only the key, got {stdout:?}"
        );
        assert!(key.len() >= 20, "suspiciously short key {key:?}");
        assert!(!seen.contains(&key.to_string()), "duplicate key printed");
        seen.push(key.to_string());
        // Usable right away, by the right organisation.
        assert_eq!(inbox_status(&app, key).await, StatusCode::OK, "new key for {org} rejected");
        // Schools write to the team on the general channel; the team writes to a school.
        let to = if org == "smst" { SCHOOL_B } else { TEAM };
        let t = app.upload_ok(key, to, &format!("from-{}.txt", org.replace('/', "-")), b"k".to_vec()).await;
        let expected = if org == "smst" { TEAM } else { SCHOOL_A };
        assert_eq!(t["sender"]["ref"], expected, "key for {org} acts as {}", t["sender"]["ref"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_duplicate_organisation_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    cli_ok(d, &["migrate"]);
    let out = cli_ok(d, &["admin", "org", "add", "--kind", "school", "--dfe", "825/2001", "--name", "Example Primary"]);
    assert!(!out.trim().is_empty(), "org add should print a human summary");
    let out = cli_ok(
        d,
        &["admin", "org", "add", "--kind", "team", "--slug", "smst", "--name", "School Management Support Team"],
    );
    assert!(!out.trim().is_empty(), "org add should print a human summary");

    let dups: [&[&str]; 4] = [
        &["admin", "org", "add", "--kind", "school", "--dfe", "825/2001", "--name", "Example Primary"],
        &["admin", "org", "add", "--kind", "school", "--dfe", "8252001", "--name", "Same School Other Spelling"],
        &["admin", "org", "add", "--kind", "school", "--dfe", "825/2001", "--name", "Different Name"],
        &["admin", "org", "add", "--kind", "team", "--slug", "smst", "--name", "Another Team"],
    ];
    for args in dups {
        let out = cli(d, args);
        assert!(!out.status.success(), "duplicate accepted: {}", args.join(" "));
        assert!(!stderr_of(&out).trim().is_empty(), "no message on stderr for: {}", args.join(" "));
    }
    // The originals still work: a key can be created for each.
    create_key(d, "825/2001", "after-dup");
    create_key(d, "smst", "after-dup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_key_for_an_unknown_organisation_fails_without_printing_a_key() {
    let dir = tempfile::tempdir().unwrap();
    cli_ok(dir.path(), &["migrate"]);
    for org in ["825/9999", "nosuchteam"] {
        let out = cli(dir.path(), &["admin", "key", "create", "--org", org, "--name", "x"]);
        assert!(!out.status.success(), "key created for unknown org {org}");
        assert!(stdout_of(&out).trim().is_empty(), "something printed on stdout: {}", stdout_of(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(args)
            .env("PIGEONPOST_DATA_DIR", dir.path())
            .env("PIGEONPOST_LOG_LEVEL", "warn")
            .output()
            .unwrap()
    };
    assert!(run(&["migrate"]).status.success());
    let out = run(&["admin", "org", "add", "--kind", "team", "--slug", "envteam", "--name", "Env Team"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let out = run(&["admin", "key", "create", "--org", "envteam", "--name", "k"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out).lines().count(), 1);
    assert!(dir.path().join("pigeonpost.db").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_keeps_earlier_files_readable_and_new_uploads_working() {
    let mut app = TestApp::builder().process();
    let mut files = Vec::new();
    for (i, size) in [0u64, 1, 70_000, 2 * MIB + 5].into_iter().enumerate() {
        let body = Pattern::new(300 + i as u64, size).bytes();
        let t = app.upload_ok(&app.key_a, TEAM, &format!("before-{i}.bin"), body.clone()).await;
        files.push((t["id"].as_str().unwrap().to_string(), body));
    }
    let (before, mode) = keyring(&app);
    assert_eq!(mode, 0o600, "keyring.json mode before rotation is {mode:o}");
    assert_eq!(count_keys(&before), 1, "one master key before rotation: {before}");

    stop(&mut app).await;
    let out = app.cli(&["keys", "rotate"]);
    assert!(out.status.success(), "keys rotate failed: {}", stderr_of(&out));
    assert!(!stdout_of(&out).trim().is_empty(), "keys rotate printed no summary");
    let (after, mode) = keyring(&app);
    assert_eq!(mode, 0o600, "keyring.json mode after rotation is {mode:o}");
    assert_eq!(count_keys(&after), 2, "two master keys after rotation: {after}");
    assert_ne!(before, after);
    let url = format!("sqlite://{}", app.data_path().join("pigeonpost.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.expect("open the database");
    let recorded: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events WHERE action LIKE 'keyring.%' ORDER BY seq")
            .fetch_all(&db)
            .await
            .expect("read the audit trail");
    assert_eq!(recorded, ["keyring.rotate", "keyring.rewrap"], "the rotation is in the audit trail");
    db.close().await;

    app.restart(&[]);
    for (id, body) in &files {
        assert!(app.download_bytes(&app.key_team, id).await == *body, "{id} unreadable after rotation");
    }
    let body = Pattern::new(400, 300_000).bytes();
    let t = app.upload_ok(&app.key_a, TEAM, "after.bin", body.clone()).await;
    let new_id = t["id"].as_str().unwrap().to_string();
    assert_eq!(app.download_bytes(&app.key_team, &new_id).await, body);
    files.push((new_id, body));

    // A second rotation: three keys, and everything (old and new) still reads.
    stop(&mut app).await;
    let out = app.cli(&["keys", "rotate"]);
    assert!(out.status.success(), "second keys rotate failed: {}", stderr_of(&out));
    let (again, mode) = keyring(&app);
    assert_eq!(mode, 0o600);
    assert_eq!(count_keys(&again), 3, "three master keys after two rotations: {again}");
    app.restart(&[]);
    for (id, body) in &files {
        assert!(app.download_bytes(&app.key_team, id).await == *body, "{id} unreadable after 2nd rotation");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_is_idempotent() {
    // On a fresh directory, twice.
    let dir = tempfile::tempdir().unwrap();
    cli_ok(dir.path(), &["migrate"]);
    cli_ok(dir.path(), &["migrate"]);

    // On a directory with data, while stopped; data and keys survive.
    let mut app = TestApp::builder().process();
    let body = Pattern::new(9, 123_456).bytes();
    let t = app.upload_ok(&app.key_a, TEAM, "kept.bin", body.clone()).await;
    stop(&mut app).await;
    app.cli_ok(&["migrate"]);
    app.cli_ok(&["migrate"]);
    app.restart(&[]);
    assert_eq!(app.download_bytes(&app.key_team, t["id"].as_str().unwrap()).await, body);
    assert_eq!(inbox_status(&app, &app.key_b).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_not_stored_in_plaintext_anywhere_in_the_data_dir() {
    let app = TestApp::spawn();
    // Use every key once so any lookup cache or last-used bookkeeping has happened.
    for key in [&app.key_a, &app.key_team, &app.key_b] {
        assert_eq!(inbox_status(&app, key).await, StatusCode::OK);
    }
    for rel in files_under(app.data_path()) {
        let data = std::fs::read(app.data_path().join(&rel)).unwrap();
        for key in [&app.key_a, &app.key_team, &app.key_b] {
            // The secret part: keys look like `pp_<id>_<secret>` (the secret may itself contain
            // '_'); fall back to the whole key for other shapes.
            let secret = key.splitn(3, '_').nth(2).unwrap_or(key);
            assert!(secret.len() >= 16, "key secret part too short to search for: {key}");
            assert!(
                !data.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "an API key's secret is stored in plaintext in {}",
                rel.display()
            );
        }
    }
}

/// Operators will run `keys rotate` on a live system. Either the CLI refuses while the server
/// runs, or the running server keeps serving every file (it must not need a restart to read
/// data keys re-wrapped under the new master key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_while_the_server_runs_does_not_break_downloads() {
    let app = TestApp::spawn();
    let mut files = Vec::new();
    for i in 0..3u64 {
        let body = Pattern::new(600 + i, 50_000 * (i + 1)).bytes();
        let t = app.upload_ok(&app.key_a, TEAM, &format!("live-{i}.bin"), body.clone()).await;
        files.push((t["id"].as_str().unwrap().to_string(), body));
    }
    let out = app.cli(&["keys", "rotate"]);
    if !out.status.success() {
        println!("keys rotate refused on a live server: {}", stderr_of(&out));
        assert!(!stderr_of(&out).trim().is_empty(), "refusal without a message");
        return;
    }
    for (id, body) in &files {
        let resp = app.download(&app.key_team, id).await;
        let status = resp.status();
        let got = resp.bytes().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{id} after a live rotation: {}", String::from_utf8_lossy(&got));
        assert!(got[..] == body[..], "{id} differs after a live rotation");
    }
    // New uploads on the live server still round-trip, and survive a restart.
    let body = Pattern::new(700, 80_000).bytes();
    let t = app.upload_ok(&app.key_a, TEAM, "live-after.bin", body.clone()).await;
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(app.download_bytes(&app.key_team, &id).await, body);
    let mut app = app;
    app.restart(&[]);
    assert_eq!(app.download_bytes(&app.key_team, &id).await, body);
    for (id, body) in &files {
        assert!(app.download_bytes(&app.key_team, id).await == *body, "{id} after restart");
    }
}
