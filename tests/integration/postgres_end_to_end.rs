//! The real server, over TLS, with its metadata on PostgreSQL: the same exchange as on the
//! embedded SQLite, and a database that goes away and comes back while the server runs.
//!
//! The first tests use a fresh database on `PIGEONPOST_TEST_POSTGRES_URL`; the restart test
//! starts a PostgreSQL cluster of its own (with ops/lib/postgres.sh), so stopping it disturbs
//! no other test.

use std::time::{Duration, Instant};

use crate::support::app::*;
use crate::support::postgres::{PrivateCluster, TestDatabase};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn files_go_up_and_come_down_through_a_server_on_postgres() {
    let Some(app) = TestApp::builder().postgres().await.map(|app| app.serve()) else { return };
    let body = Pattern::new(7, 3 * MIB + 5).bytes();
    let sent = app.upload_ok(&app.key_a, TEAM, "census.bin", body.clone()).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    assert_eq!(sent["sha256"].as_str(), Some(sha256_hex(&body).as_str()));
    let small = app.upload_ok(&app.key_a, TEAM, "second.csv", b"second".to_vec()).await;

    let inbox = app.list_all(&app.key_team, "inbox", Some(1)).await;
    let names: Vec<&str> = inbox.iter().map(|t| t["filename"].as_str().unwrap()).collect();
    assert_eq!(names, ["second.csv", "census.bin"], "newest first, one per page");
    assert_eq!(app.list_ids(&app.key_a, "sent").await, [small["id"].as_str().unwrap(), id.as_str()]);
    assert!(app.list_ids(&app.key_b, "inbox").await.is_empty(), "another school sees nothing");

    assert_eq!(app.download_bytes(&app.key_team, &id).await, body);
    let ranged = app.download_range(&app.key_team, &id, "bytes=1000-1999").await;
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &body[1000..2000]);
    assert_eq!(app.download(&app.key_b, &id).await.status(), StatusCode::NOT_FOUND);

    let meta = expect_json(app.metadata(&app.key_a, &id).await, StatusCode::OK).await;
    assert_eq!(meta["filename"], "census.bin");

    let withdrawn = app.delete(&app.key_a, &id).await;
    assert!(withdrawn.status().is_success(), "withdraw: {}", withdrawn.status());
    let names: Vec<String> = app
        .list_all(&app.key_team, "inbox", None)
        .await
        .iter()
        .map(|t| t["filename"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["second.csv"]);
    let gone = app.download(&app.key_team, &id).await.status();
    assert!(gone == StatusCode::NOT_FOUND || gone == StatusCode::GONE, "a withdrawn file cannot be fetched: {gone}");
}

#[tokio::test]
async fn the_cli_and_the_server_share_the_postgres_database() {
    let Some(app) = TestApp::builder().postgres().await.map(|app| app.serve()) else { return };
    let listed = app.cli_ok(&["admin", "org", "list", "--json"]);
    let orgs: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let refs: Vec<&str> = orgs.as_array().unwrap().iter().filter_map(|o| o["ref"].as_str()).collect();
    for provisioned in [SCHOOL_A, TEAM, SCHOOL_B] {
        assert!(refs.contains(&provisioned), "{provisioned} missing from {refs:?}");
    }
    // The embedded database was never made: everything went to PostgreSQL.
    assert!(!app.data_path().join("pigeonpost.db").exists());
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

/// How long a request may take while the database is down: the acquire timeout, plus time for
/// a slow shared machine. Never a hang.
const ACQUIRE_TIMEOUT_SECS: u64 = 2;
const PATIENCE: Duration = Duration::from_secs(ACQUIRE_TIMEOUT_SECS + 8);

#[tokio::test]
async fn requests_get_503_while_postgres_is_down_and_the_server_recovers_when_it_is_back() {
    let Some(cluster) = PrivateCluster::start("restart test") else { return };
    let database = TestDatabase::create(&cluster.url).await;
    let timeout = ACQUIRE_TIMEOUT_SECS.to_string();
    let mut app =
        TestApp::builder().env(&[("PIGEONPOST_DATABASE__ACQUIRE_TIMEOUT_SECS", &timeout)]).database(database).process();
    let before = app.upload_ok(&app.key_a, TEAM, "before.csv", b"before the restart".to_vec()).await;
    let before_id = before["id"].as_str().unwrap().to_owned();

    cluster.stop();

    let timed = |req: reqwest::RequestBuilder| async move {
        let started = Instant::now();
        let resp =
            req.timeout(Duration::from_secs(60)).send().await.expect("the server answers, whatever the database");
        (started.elapsed(), resp)
    };
    let list = app.request(Method::GET, &app.key_team, "/api/v1/transfers").query(&[("box", "inbox")]);
    let upload = app.upload_request(&app.key_a, TEAM, "during.csv").body(b"during".to_vec());
    let download = app.request(Method::GET, &app.key_team, &format!("/api/v1/transfers/{before_id}/content"));
    for (what, req) in [("list", list), ("upload", upload), ("download", download)] {
        let (took, resp) = timed(req).await;
        assert!(took < PATIENCE, "{what} took {took:?} with the database down");
        let v = expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")).await;
        let message = v["message"].as_str().unwrap();
        assert!(!message.contains("Connection refused") && !message.contains("pool"), "causes go to the log: {v}");
    }
    let (took, ready) = timed(app.client.get(app.url("/readyz"))).await;
    assert!(took < PATIENCE, "readyz took {took:?}");
    let v = expect_json(ready, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(v["database"], "unavailable");
    assert!(app.server_mut().child.try_wait().unwrap().is_none(), "the server keeps running");

    cluster.start_again();

    // The pool reconnects by itself: no restart of the server.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let resp = app.client.get(app.url("/readyz")).send().await.unwrap();
        if resp.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not recover within 30 s of PostgreSQL coming back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.download_bytes(&app.key_team, &before_id).await, b"before the restart");
    app.upload_ok(&app.key_a, TEAM, "after.csv", b"after the restart".to_vec()).await;
    let names: Vec<String> = app
        .list_all(&app.key_team, "inbox", None)
        .await
        .iter()
        .map(|t| t["filename"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["after.csv", "before.csv"], "the upload refused while the database was down is not listed");
    drop(app);
    drop(cluster);
}
