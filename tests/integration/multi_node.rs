//! Two `pigeonpost serve` processes on one PostgreSQL database and one S3 bucket, as an LA runs
//! them behind a load balancer: a file sent through one node is listed and downloaded through
//! the other, a session opened on one is good on the other, failed logins count across both,
//! one node holds the retention lease and the other takes it over when the holder is killed,
//! and the audit chain both nodes wrote verifies afterwards. Nodes started together on a fresh
//! database set it up once; a node whose master keys do not match the database's refuses to
//! start, and says which keys it lacks.

use std::time::{Duration, Instant};

use crate::support::app::*;
use crate::support::postgres::{server_url, TestDatabase};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::{Connection, PgConnection, Row};

const MASTER_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// The seeded channels, with `general` purging a file as soon as every recipient has it, so
/// the test sees purges within seconds.
fn channels_purging_on_download(dir: &std::path::Path) -> std::path::PathBuf {
    let seeded = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/channels.toml")).unwrap();
    let general = seeded.find("slug = \"general\"").expect("the seeded general channel");
    let rule = "retention = { purge_after_upload_days = 90 }";
    let at = general + seeded[general..].find(rule).expect("general's retention rule");
    let mut changed = seeded.clone();
    changed.replace_range(
        at..at + rule.len(),
        "retention = { purge_after_upload_days = 90, purge_after_download_days = 0 }",
    );
    let path = dir.join("channels.toml");
    std::fs::write(&path, changed).unwrap();
    path
}

/// The node holding the lease `name`, and until when (unix milliseconds).
async fn lease_holder(db: &mut PgConnection, name: &str) -> Option<(String, i64)> {
    sqlx::query("SELECT holder, expires_at FROM leases WHERE name = $1")
        .bind(name)
        .fetch_optional(db)
        .await
        .unwrap()
        .map(|row| (row.get("holder"), row.get("expires_at")))
}

fn held_by(holder: &str, app: &TestApp) -> bool {
    holder.contains(&format!("-{}-", app.pid()))
}

async fn purged(app: &TestApp, id: &str) -> bool {
    let meta = expect_json(app.metadata(&app.key_a, id).await, StatusCode::OK).await;
    meta["state"] == "purged"
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_and_one_bucket_serve_as_one() {
    let test = "two_nodes_on_one_database_and_one_bucket_serve_as_one";
    let Some(s3) = s3::settings(test) else { return };
    let Some(server) = server_url("the multi-node test") else { return };
    let database = TestDatabase::create(&server).await;
    let db_url = database.url.clone();
    let config = tempfile::tempdir().unwrap();
    let channels = channels_purging_on_download(config.path());

    let mut shared: Vec<(String, String)> = s3::server_env(&s3, None);
    shared.push(("PIGEONPOST_MASTER_KEY".into(), MASTER_KEY.into()));
    shared.push(("PIGEONPOST_CHANNELS_PATH".into(), channels.display().to_string()));
    let shared: Vec<(&str, &str)> = shared.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // Leases of 3 s, renewed every second; a purge pass every second.
    let workers = [
        ("PIGEONPOST_WORKERS__LEASE_SECS", "3"),
        ("PIGEONPOST_RETENTION__INTERVAL_SECS", "1"),
        ("PIGEONPOST_IDENTITY__LOCKOUT_THRESHOLD", "4"),
    ];
    let mut one = TestApp::builder().shared(&shared).env(&workers).database(database).process();
    let mut two = one.peer(&[]);
    assert_ne!(one.port(), two.port());

    // Sent through one, listed and fetched through the other: one database, one bucket.
    let body = Pattern::new(66, 11 * MIB + 17).bytes();
    let sent = one.upload_ok(&one.key_a, TEAM, "census.bin", body.clone()).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    assert_eq!(two.list_ids(&two.key_team, "inbox").await, [id.as_str()]);
    assert!(two.list_ids(&two.key_b, "inbox").await.is_empty(), "another school sees nothing on either node");
    assert_eq!(two.download(&two.key_b, &id).await.status(), StatusCode::NOT_FOUND);
    let range = two.download_range(&two.key_team, &id, "bytes=9000000-9000999").await;
    assert_eq!(range.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.bytes().await.unwrap().as_ref(), &body[9_000_000..9_001_000]);
    assert_eq!(two.download_bytes(&two.key_team, &id).await, body);
    assert!(files_under(&one.objects_dir()).is_empty() && files_under(&two.objects_dir()).is_empty());

    // A session opened on one node is good on the other (the token keys come from the shared
    // master key), and failed logins are counted in the database, not per node.
    crate::support::people::add_user(&one, SCHOOL_A, "office.one", "school_user");
    let session = crate::support::people::login(&one, "office.one").await;
    let token = session["access_token"].as_str().unwrap();
    let on_two = two.request(Method::GET, token, "/api/v1/session").send().await.unwrap();
    assert_eq!(on_two.status(), StatusCode::OK, "a token from node one is refused by node two");
    let fail = |app: &TestApp| {
        app.client
            .post(app.url("/api/v1/session"))
            .json(&json!({ "username": "office.one", "password": "Wrong-Password-123-abc" }))
            .send()
    };
    for node in [&one, &two, &one, &two] {
        assert_eq!(fail(node).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    for node in [&one, &two] {
        let locked = node
            .client
            .post(node.url("/api/v1/session"))
            .json(&json!({ "username": "office.one", "password": crate::support::people::PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS, "four failures over two nodes lock the account");
    }

    // One node holds the retention lease and keeps it.
    let mut db = PgConnection::connect(&db_url).await.unwrap();
    wait_for("a node takes the retention lease", Duration::from_secs(20), async || {
        lease_holder(&mut db, "retention").await.is_some()
    })
    .await;
    let (holder, until) = lease_holder(&mut db, "retention").await.unwrap();
    assert!(held_by(&holder, &one) || held_by(&holder, &two), "the lease is held by {holder}, neither node");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (still, renewed) = lease_holder(&mut db, "retention").await.unwrap();
    assert_eq!(still, holder, "the lease moved between live nodes");
    assert!(renewed > until, "the holder renews its lease");

    // The file was downloaded by its one recipient, so the holder purges it.
    wait_for("the downloaded file is purged", Duration::from_secs(20), async || purged(&one, &id).await).await;

    // Kill the holder: the other node takes the lease over once it expires, and purges.
    let (killed, survivor) = if held_by(&holder, &one) { (&mut one, &mut two) } else { (&mut two, &mut one) };
    killed.sigkill();
    let next = survivor.upload_ok(&survivor.key_a, TEAM, "after.csv", b"URN,Name\n100001,Example\n".to_vec()).await;
    let next_id = next["id"].as_str().unwrap().to_owned();
    assert_eq!(survivor.download_bytes(&survivor.key_team, &next_id).await, b"URN,Name\n100001,Example\n");
    let survivor_pid = survivor.pid();
    wait_for("the surviving node takes the lease over", Duration::from_secs(30), async || {
        lease_holder(&mut db, "retention").await.is_some_and(|(h, _)| h.contains(&format!("-{survivor_pid}-")))
    })
    .await;
    wait_for("the survivor purges", Duration::from_secs(20), async || purged(survivor, &next_id).await).await;

    // Both nodes wrote one chain.
    let purges: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'transfer.purge'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(purges, 2, "each purge is audited once, whichever node made it");
    let verified = survivor.cli_ok(&["audit", "verify"]);
    assert!(verified.contains("the audit chain holds"), "{verified}");
    let _ = db.close().await;
}

/// The id a master key from the environment goes by: `env-` and the first 8 hex digits of the
/// SHA-256 of the key's bytes (as `base64 -d <<<"$KEY" | sha256sum | cut -c1-8` gives).
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

async fn readiness(app: &TestApp) -> (StatusCode, serde_json::Value) {
    let resp = app.client.get(app.url("/readyz")).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

async fn count(db: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_started_together_on_a_fresh_database_set_it_up_once() {
    let test = "three_nodes_started_together_on_a_fresh_database_set_it_up_once";
    let Some(s3) = s3::settings(test) else { return };
    let Some(server) = server_url("the first-start test") else { return };
    let mut shared: Vec<(String, String)> = s3::server_env(&s3, None);
    shared.push(("PIGEONPOST_MASTER_KEY".into(), MASTER_KEY.into()));
    let shared: Vec<(&str, &str)> = shared.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    for round in 1..=10 {
        let database = TestDatabase::create(&server).await;
        let db_url = database.url.clone();
        let nodes = TestApp::spawn_together(3, &shared, &[], database);
        for (i, node) in nodes.iter().enumerate() {
            let (status, body) = readiness(node).await;
            assert_eq!(status, StatusCode::OK, "round {round}: node {i} is not ready: {body}");
        }

        let mut db = PgConnection::connect(&db_url).await.unwrap();
        assert_eq!(count(&mut db, "SELECT count(*) FROM users").await, 1, "round {round}: one administrator");
        assert_eq!(count(&mut db, "SELECT count(*) FROM organisations WHERE kind = 'system'").await, 1);
        let functions: Vec<String> =
            sqlx::query_scalar("SELECT slug FROM functions ORDER BY slug").fetch_all(&mut db).await.unwrap();
        assert_eq!(functions, ["admissions", "assessment", "data", "finance"], "round {round}");
        assert_eq!(count(&mut db, "SELECT count(*) FROM audit_events WHERE action = 'function.define'").await, 4);
        assert_eq!(count(&mut db, "SELECT count(*) FROM audit_events WHERE action = 'user.create'").await, 1);
        let keys: Vec<String> = sqlx::query_scalar("SELECT kek_id FROM master_keys").fetch_all(&mut db).await.unwrap();
        assert_eq!(keys, [env_key_id(MASTER_KEY)], "round {round}: the key is recorded once, by id");
        let _ = db.close().await;

        // Only the node that made the account has its password; it works on any node.
        let told: Vec<&TestApp> =
            nodes.iter().filter(|n| n.server_log().contains("created the system administrator")).collect();
        assert_eq!(told.len(), 1, "round {round}: {} nodes printed a one-time password", told.len());
        let log = told[0].server_log();
        let line = log.lines().find(|l| l.contains("one-time password")).unwrap();
        let password = line.rsplit(' ').next().unwrap();
        let other = nodes.iter().find(|n| n.pid() != told[0].pid()).unwrap();
        let login = other
            .client
            .post(other.url("/api/v1/session"))
            .json(&json!({ "username": "admin", "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), StatusCode::CREATED, "round {round}: the printed password does not log in");

        let verified = nodes[0].cli_ok(&["audit", "verify"]);
        assert!(verified.contains("the audit chain holds"), "round {round}: {verified}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_keys_do_not_match_the_database_refuses_to_start_and_serves_with_the_right_key() {
    const KEY_A: &str = "CgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgo=";
    const KEY_B: &str = "CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCws=";
    let test = "a_node_whose_keys_do_not_match_the_database_refuses_to_start";
    let Some(s3) = s3::settings(test) else { return };
    let Some(server) = server_url("the keyring agreement test") else { return };
    let database = TestDatabase::create(&server).await;
    let db_url = database.url.clone();
    let shared: Vec<(String, String)> = s3::server_env(&s3, None);
    let shared: Vec<(&str, &str)> = shared.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // Node A's key is its own, not the cluster's: node B is started without it.
    let a = TestApp::builder().shared(&shared).env(&[("PIGEONPOST_MASTER_KEY", KEY_A)]).database(database).process();
    let body = Pattern::new(7, 3 * MIB + 5).bytes();
    let sent = a.upload_ok(&a.key_a, TEAM, "census.bin", body.clone()).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    let id_a = env_key_id(KEY_A);

    // With a data directory of its own and no key, B would have made a keyring of its own.
    let mut b = a.unstarted_peer(&[("PIGEONPOST_MASTER_KEY", "")]);
    let refused = b.start_refused(&[]);
    assert!(!refused.status.success());
    let said = refusal(&refused.stderr);
    for needed in [id_a.as_str(), "PIGEONPOST_MASTER_KEY", "PIGEONPOST_RETIRED_MASTER_KEYS", "keyring.json"] {
        assert!(said.contains(needed), "the refusal should name {needed}: {said}");
    }
    assert!(!b.data_path().join("keyring.json").exists(), "no keyring is made for a database with data");

    // With another key, B is refused too, naming the key it lacks.
    let refused = b.start_refused(&[("PIGEONPOST_MASTER_KEY", KEY_B)]);
    assert!(!refused.status.success());
    let said = refusal(&refused.stderr);
    assert!(said.contains(&id_a) && said.contains("PIGEONPOST_MASTER_KEY"), "{said}");
    let mut db = PgConnection::connect(&db_url).await.unwrap();
    let keys: Vec<String> = sqlx::query_scalar("SELECT kek_id FROM master_keys").fetch_all(&mut db).await.unwrap();
    assert_eq!(keys, std::slice::from_ref(&id_a), "a refused node records nothing");

    // With A's key, B serves A's files, and A serves B's.
    b.start_server(&[("PIGEONPOST_MASTER_KEY", KEY_A)]);
    assert_eq!(b.download_bytes(&b.key_team, &id).await, body);
    let from_b = b.upload_ok(&b.key_a, TEAM, "from-b.csv", b"sent through B".to_vec()).await;
    let from_b = from_b["id"].as_str().unwrap().to_owned();
    assert_eq!(a.download_bytes(&a.key_team, &from_b).await, b"sent through B");
    assert_eq!(readiness(&a).await.0, StatusCode::OK);

    // B moves to a new key (the old one kept as retired): A, without it, is no longer ready,
    // since it could not open what B now seals.
    b.sigkill();
    b.start_server(&[("PIGEONPOST_MASTER_KEY", KEY_B), ("PIGEONPOST_RETIRED_MASTER_KEYS", KEY_A)]);
    assert_eq!(b.download_bytes(&b.key_team, &id).await, body);
    let (status, ready) = readiness(&a).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(ready["keyring"], "mismatch", "{ready}");
    assert_eq!(ready["database"], "ok", "{ready}");
    let _ = db.close().await;
}
