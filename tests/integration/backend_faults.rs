//! The object store and then the database go away while uploads and downloads are running,
//! and come back. Requests in between get 503 with a message (never a 500, never a hang past
//! the configured timeouts), the server recovers without a restart, and every upload it
//! acknowledged, before, during or after the outages, downloads intact; nothing it refused is
//! listed.
//!
//! The test runs a SeaweedFS and a PostgreSQL of its own (ops/lib/*.sh), so stopping them
//! disturbs no other test.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::app::*;
use crate::support::postgres::{PrivateCluster, TestDatabase};
use crate::support::s3::PrivateSeaweed;
use reqwest::{Method, StatusCode};

/// Longest a request may take with a backend gone: the database's acquire timeout (2 s) or the
/// store's connect timeout (2 s) times its attempts (2), with room for a slow shared machine.
const PATIENCE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Done,
    /// 503 with the `unavailable` code.
    Unavailable,
    /// The connection was cut while a body was on its way (a download whose store went away
    /// after its first bytes were sent cannot become a 503 any more).
    Cut,
    Wrong(String),
}

#[derive(Default)]
struct Ledger {
    /// (id, sha-256) of every upload the server acknowledged with 201.
    acknowledged: Mutex<Vec<(String, String)>>,
    outcomes: Mutex<Vec<(&'static str, Outcome, Duration)>>,
    /// File name -> sha-256 of every upload that was answered 503 or cut off.
    refused: Mutex<std::collections::HashMap<String, String>>,
    uploads: AtomicU64,
}

impl Ledger {
    fn record(&self, what: &'static str, outcome: Outcome, took: Duration) {
        self.outcomes.lock().unwrap().push((what, outcome, took));
    }

    fn count(&self, what: &str, outcome: &Outcome) -> usize {
        self.outcomes.lock().unwrap().iter().filter(|(w, o, _)| *w == what && o == outcome).count()
    }
}

async fn classify(resp: reqwest::Result<reqwest::Response>, ok: StatusCode) -> (Outcome, Option<reqwest::Response>) {
    match resp {
        Ok(r) if r.status() == ok => (Outcome::Done, Some(r)),
        Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            let message = v["message"].as_str().unwrap_or_default();
            if v["error"] == "unavailable" && !message.is_empty() && !message.contains("dispatch failure") {
                (Outcome::Unavailable, None)
            } else {
                (Outcome::Wrong(format!("a 503 without a clear message: {v}")), None)
            }
        }
        Ok(r) => {
            let status = r.status();
            (Outcome::Wrong(format!("{status}: {}", r.text().await.unwrap_or_default())), None)
        }
        Err(e) if e.is_timeout() => (Outcome::Wrong(format!("no answer within 60 s: {e}")), None),
        Err(_) => (Outcome::Cut, None),
    }
}

async fn upload_loop(app: Arc<TestApp>, ledger: Arc<Ledger>, stop: Arc<AtomicBool>, seed: u64) {
    while !stop.load(Ordering::SeqCst) {
        let n = ledger.uploads.fetch_add(1, Ordering::SeqCst);
        let body = Pattern::new(seed * 100_000 + n, 200 * 1024 + n).bytes();
        let sha = sha256_hex(&body);
        let name = format!("return-{seed}-{n}.bin");
        let started = Instant::now();
        let resp = app.upload_request(&app.key_a, TEAM, &name).body(body).timeout(Duration::from_secs(60)).send().await;
        let (outcome, resp) = classify(resp, StatusCode::CREATED).await;
        if let Some(resp) = resp {
            let v: serde_json::Value = resp.json().await.expect("the 201 carries the transfer");
            assert_eq!(v["sha256"].as_str(), Some(sha.as_str()));
            ledger.acknowledged.lock().unwrap().push((v["id"].as_str().unwrap().to_owned(), sha));
        } else {
            ledger.refused.lock().unwrap().insert(name, sha);
        }
        ledger.record("upload", outcome, started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn download_loop(app: Arc<TestApp>, ledger: Arc<Ledger>, stop: Arc<AtomicBool>) {
    let mut next = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let pick = {
            let acked = ledger.acknowledged.lock().unwrap();
            (!acked.is_empty()).then(|| acked[next % acked.len()].clone())
        };
        next += 1;
        let Some((id, sha)) = pick else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let started = Instant::now();
        let resp = app
            .request(Method::GET, &app.key_team, &format!("/api/v1/transfers/{id}/content"))
            .timeout(Duration::from_secs(60))
            .send()
            .await;
        let (mut outcome, resp) = classify(resp, StatusCode::OK).await;
        if let Some(resp) = resp {
            outcome = match resp.bytes().await {
                Ok(bytes) if sha256_hex(&bytes) == sha => Outcome::Done,
                Ok(bytes) => Outcome::Wrong(format!("{id} came back as {} different bytes", bytes.len())),
                Err(_) => Outcome::Cut,
            };
        }
        ledger.record("download", outcome, started.elapsed());
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Asks for an upload, a download and a listing now, and checks what comes back.
async fn probe(app: &TestApp, known: &str, expect_list: StatusCode) {
    let unavailable = StatusCode::SERVICE_UNAVAILABLE;
    for (what, req, expected) in [
        ("upload", app.upload_request(&app.key_a, TEAM, "probe.csv").body(b"probe".to_vec()), unavailable),
        (
            "download",
            app.request(Method::GET, &app.key_team, &format!("/api/v1/transfers/{known}/content")),
            unavailable,
        ),
        ("list", app.request(Method::GET, &app.key_team, "/api/v1/transfers").query(&[("box", "inbox")]), expect_list),
    ] {
        let started = Instant::now();
        let resp = req.timeout(Duration::from_secs(60)).send().await;
        let took = started.elapsed();
        assert!(took < PATIENCE, "{what} took {took:?} with a backend down");
        let resp = resp.unwrap_or_else(|e| panic!("{what}: the server must answer, whatever its backends: {e}"));
        if expected == unavailable {
            let v = expect_error(resp, unavailable, Some("unavailable")).await;
            let message = v["message"].as_str().unwrap();
            assert!(!message.contains("refused") && !message.contains("dispatch"), "causes go to the log: {v}");
        } else {
            assert_eq!(resp.status(), expected, "{what} needs only the database");
        }
    }
}

async fn wait_until_ready(app: &TestApp, after: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let resp = app.client.get(app.url("/readyz")).timeout(Duration::from_secs(30)).send().await.unwrap();
        if resp.status() == StatusCode::OK {
            return;
        }
        assert!(Instant::now() < deadline, "the server was not ready within 60 s of {after}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits for the running uploads to succeed again. A restarted SeaweedFS answers (and so
/// /readyz is green) a few seconds before its volume servers take writes again.
async fn uploads_resume(ledger: &Ledger, after: &str) {
    let before = ledger.count("upload", &Outcome::Done);
    let deadline = Instant::now() + Duration::from_secs(45);
    while ledger.count("upload", &Outcome::Done) < before + 3 {
        assert!(Instant::now() < deadline, "uploads did not resume within 45 s of {after}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn readiness(app: &TestApp) -> serde_json::Value {
    let resp = app.client.get(app.url("/readyz")).timeout(Duration::from_secs(30)).send().await.unwrap();
    expect_json(resp, StatusCode::SERVICE_UNAVAILABLE).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_downloads_ride_out_the_object_store_and_the_database_going_away() {
    let test = "uploads_and_downloads_ride_out_the_object_store_and_the_database_going_away";
    let Some(store) = PrivateSeaweed::start(test) else { return };
    let Some(cluster) = PrivateCluster::start(test) else { return };
    let database = TestDatabase::create(&cluster.url).await;
    let s3 = store.settings(test);
    let mut env = s3::server_env(&s3, Some((&store.access_key, &store.secret_key)));
    env.push(("PIGEONPOST_DATABASE__ACQUIRE_TIMEOUT_SECS".into(), "2".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = Arc::new(TestApp::builder().env(&env).database(database).process());
    let pid = app.pid();

    // Before: a multipart upload and a few small ones.
    let big = Pattern::new(5, 19 * MIB + 3).bytes();
    let first = app.upload_ok(&app.key_a, TEAM, "before.bin", big.clone()).await;
    let known = first["id"].as_str().unwrap().to_owned();
    let ledger = Arc::new(Ledger::default());
    ledger.acknowledged.lock().unwrap().push((known.clone(), sha256_hex(&big)));

    let stop = Arc::new(AtomicBool::new(false));
    let traffic = vec![
        tokio::spawn(upload_loop(app.clone(), ledger.clone(), stop.clone(), 1)),
        tokio::spawn(upload_loop(app.clone(), ledger.clone(), stop.clone(), 2)),
        tokio::spawn(download_loop(app.clone(), ledger.clone(), stop.clone())),
    ];
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The object store goes: what needs it gets 503; listing (the database alone) still works.
    store.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    probe(&app, &known, StatusCode::OK).await;
    let v = readiness(&app).await;
    assert_eq!((v["store"].as_str(), v["database"].as_str()), (Some("unavailable"), Some("ok")), "{v}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let store_503s = ledger.count("upload", &Outcome::Unavailable) + ledger.count("download", &Outcome::Unavailable);
    assert!(store_503s > 0, "the running uploads and downloads met the outage");

    store.start_again();
    wait_until_ready(&app, "SeaweedFS coming back").await;
    uploads_resume(&ledger, "the store is back").await;

    // Then the database goes: everything that needs it gets 503, listing included.
    cluster.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    probe(&app, &known, StatusCode::SERVICE_UNAVAILABLE).await;
    let v = readiness(&app).await;
    assert_eq!(v["database"], "unavailable", "{v}");
    tokio::time::sleep(Duration::from_secs(3)).await;

    cluster.start_again();
    wait_until_ready(&app, "PostgreSQL coming back").await;
    uploads_resume(&ledger, "the database is back").await;

    stop.store(true, Ordering::SeqCst);
    for task in traffic {
        task.await.expect("a traffic task panicked");
    }
    assert_eq!(app.pid(), pid, "the same server process throughout");

    let outcomes = ledger.outcomes.lock().unwrap().clone();
    let wrong: Vec<_> = outcomes.iter().filter(|(_, o, _)| matches!(o, Outcome::Wrong(_))).collect();
    assert!(wrong.is_empty(), "answers that are neither success nor 503: {wrong:?}");
    let slow: Vec<_> = outcomes.iter().filter(|(_, _, took)| *took >= PATIENCE).collect();
    assert!(slow.is_empty(), "requests that hung past {PATIENCE:?}: {slow:?}");
    let unavailable = outcomes.iter().filter(|(_, o, _)| *o == Outcome::Unavailable).count();
    let cut = outcomes.iter().filter(|(_, o, _)| *o == Outcome::Cut).count();
    println!(
        "{} requests during the run: {} done, {unavailable} answered 503, {cut} cut off mid-body",
        outcomes.len(),
        outcomes.len() - unavailable - cut
    );

    // Every acknowledged upload is there and intact. A refused upload is not listed, except
    // one whose commit landed as the database went away, before its answer could be sent:
    // that one must be whole too.
    let acknowledged = ledger.acknowledged.lock().unwrap().clone();
    let refused = ledger.refused.lock().unwrap().clone();
    let listed = app.list_all(&app.key_team, "inbox", None).await;
    let listed_ids: std::collections::HashSet<&str> = listed.iter().map(|t| t["id"].as_str().unwrap()).collect();
    for (id, sha) in &acknowledged {
        assert!(listed_ids.contains(id.as_str()), "the acknowledged upload {id} is not listed");
        let (_, got) = hash_response(app.download(&app.key_team, id).await).await;
        assert_eq!(&got, sha, "{id} changed");
    }
    let mut landed = 0;
    for t in &listed {
        let id = t["id"].as_str().unwrap();
        if acknowledged.iter().any(|(a, _)| a == id) {
            continue;
        }
        let name = t["filename"].as_str().unwrap();
        let sha = refused.get(name).unwrap_or_else(|| panic!("{name} is listed but was never uploaded"));
        let (_, got) = hash_response(app.download(&app.key_team, id).await).await;
        assert_eq!(&got, sha, "{name}, committed as the database went away, is not whole");
        landed += 1;
    }
    println!(
        "{} acknowledged uploads intact; {landed} refused upload(s) had committed as the database went away, intact too",
        acknowledged.len()
    );
}
