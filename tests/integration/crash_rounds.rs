//! Crash rounds: round after round, the server is killed with SIGKILL at a random moment under
//! mixed load (small and larger uploads, a zip batch, downloads, logins, withdrawals, and the
//! retention worker purging files as soon as they are read), then started again. After every
//! round each acknowledged upload downloads byte-identical, every transfer listed as available
//! downloads whole and matches the digest it is listed with, nothing withdrawn or purged comes
//! back, each acknowledged login's session still refreshes, and `pigeonpost audit verify`
//! passes against the checkpoints the server wrote. On SQLite with a local directory, and on
//! PostgreSQL with SeaweedFS.
//!
//! `PIGEONPOST_TEST_CRASH_ROUNDS` sets the number of rounds (10 by default; `ops/crash-rounds` runs
//! 100). A run prints its seed; `PIGEONPOST_TEST_CRASH_SEED` replays it (the same sizes, choices and
//! kill delays; where the kill lands in the server's work still varies).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::app::*;
use crate::support::people;
use crate::support::postgres::{server_url, TestDatabase};

const ROUNDS_ENV: &str = "PIGEONPOST_TEST_CRASH_ROUNDS";
const SEED_ENV: &str = "PIGEONPOST_TEST_CRASH_SEED";
const DEFAULT_ROUNDS: u32 = 10;
/// The kill lands this long at most after the round's load starts.
const MAX_KILL_DELAY_MS: u64 = 1500;
/// How long a request cut off by the kill may take to notice.
const CUT_OFF_PATIENCE: Duration = Duration::from_secs(30);
const LOGIN_USER: &str = "crash.office";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_files_survive_crash_rounds_on_sqlite() {
    let config = tempfile::tempdir().unwrap();
    let shared = shared_settings(config.path());
    let app = TestApp::builder().shared(&pairs(&shared)).env(&SERVER_ENV).process();
    crash_rounds(app, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_files_survive_crash_rounds_on_postgres_and_seaweedfs() {
    let test = "acknowledged_files_survive_crash_rounds_on_postgres_and_seaweedfs";
    let Some(s3) = s3::settings(test) else { return };
    let Some(server) = server_url("crash rounds") else { return };
    let database = TestDatabase::create(&server).await;
    let config = tempfile::tempdir().unwrap();
    let mut shared = s3::server_env(&s3, None);
    shared.extend(shared_settings(config.path()));
    let app = TestApp::builder().shared(&pairs(&shared)).env(&SERVER_ENV).database(database).process();
    crash_rounds(app, "postgres+seaweedfs").await;
}

/// Short leases, so a restarted server takes the killed one's workers over within a round;
/// the purge every second and a checkpoint of the audit chain every second, so kills land in
/// both; the orphan sweep every two seconds, with a grace far longer than any upload here.
const SERVER_ENV: [(&str, &str); 5] = [
    ("PIGEONPOST_WORKERS__LEASE_SECS", "3"),
    ("PIGEONPOST_RETENTION__INTERVAL_SECS", "1"),
    ("PIGEONPOST_AUDIT__CHECKPOINT_INTERVAL_SECS", "1"),
    ("PIGEONPOST_WORKERS__ORPHAN_SWEEP_INTERVAL_SECS", "2"),
    ("PIGEONPOST_WORKERS__ORPHAN_GRACE_SECS", "30"),
];

fn pairs(owned: &[(String, String)]) -> Vec<(&str, &str)> {
    owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The seeded channels, with `ctf` purging a file as soon as its recipient has it.
fn shared_settings(dir: &std::path::Path) -> Vec<(String, String)> {
    let seeded = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/channels.toml")).unwrap();
    let ctf = seeded.find("slug = \"ctf\"").expect("the seeded ctf channel");
    let rule = "purge_after_download_days = 30";
    let at = ctf + seeded[ctf..].find(rule).expect("ctf's retention rule");
    let mut changed = seeded.clone();
    changed.replace_range(at..at + rule.len(), "purge_after_download_days = 0");
    let path = dir.join("channels.toml");
    std::fs::write(&path, changed).unwrap();
    vec![("PIGEONPOST_CHANNELS_PATH".to_owned(), path.display().to_string())]
}

/// The keys the load is sent with.
struct Keys {
    /// School 825/2001 on the general channel: its general uploads and withdrawals.
    school: String,
    /// School 825/2001 on every channel: CTFs up, checking files down.
    school_all: String,
    /// School 825/2002 on every channel: checking files down.
    school_b_all: String,
    /// The smst team on every channel: batches up, general files and CTFs down.
    team_all: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A general upload from the school to the team, which the school may withdraw.
    General,
    /// A checking file delivered by a batch.
    Batch,
    /// A CTF, purged by the retention worker once the team has read it.
    Purgeable,
}

impl Kind {
    fn of_channel(channel: &str) -> Kind {
        match channel {
            "ctf" => Kind::Purgeable,
            "checking-files" => Kind::Batch,
            _ => Kind::General,
        }
    }
}

/// What an acknowledged transfer must download as, and who reads it.
#[derive(Clone, Debug)]
struct Expected {
    sha256: String,
    size: u64,
    reader: String,
    kind: Kind,
}

/// What the test knows the server has promised.
#[derive(Default)]
struct Ledger {
    /// Acknowledged (or seen listed): must download byte-identical while listed as available.
    live: BTreeMap<String, Expected>,
    /// Withdrawals sent whose answer the kill cut off: the transfer is live or gone.
    in_doubt: BTreeSet<String>,
    /// Withdrawn or purged, with a reader's key: never listed as available or served again.
    gone: BTreeMap<String, String>,
    withdrawn: usize,
    purged: usize,
    acknowledged: usize,
    cut_off: usize,
    logins: usize,
}

/// What one request of the load came to.
enum Outcome {
    Stored(Vec<(String, Expected)>),
    Downloaded,
    LoggedIn(String),
    Withdrawn(String),
    WithdrawalInDoubt(String),
    /// Cut off by the kill, or (a login) refused by its limits.
    NoAnswer,
    Problem(String),
}

async fn crash_rounds(mut app: TestApp, backend: &str) {
    let rounds: u32 = std::env::var(ROUNDS_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_ROUNDS);
    let seed: u64 = std::env::var(SEED_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or_else(rand::random);
    let replay = format!("{backend}, seed {seed}: replay with {SEED_ENV}={seed} {ROUNDS_ENV}={rounds}");
    eprintln!("crash rounds on {replay}");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();

    let keys = Keys {
        school: app.key_a.clone(),
        school_all: people::all_channels_key(&app, SCHOOL_A, "crash-school-mis"),
        school_b_all: people::all_channels_key(&app, SCHOOL_B, "crash-school-b-mis"),
        team_all: people::all_channels_key(&app, TEAM, "crash-team-job"),
    };
    people::add_user(&app, SCHOOL_A, LOGIN_USER, "school_user");
    let mut ledger = Ledger::default();

    // Files acknowledged before the first kill, for the first round to read and withdraw.
    let warm_up: Vec<_> =
        (0..4).map(|i| general_upload(&app, &keys, &mut rng, &format!("warm-{i}.bin"), 100_000)).collect();
    settle(&mut ledger, warm_up, &mut Vec::new()).await;
    assert_eq!(ledger.live.len(), 4, "the warm-up uploads were not all acknowledged ({replay})");

    for round in 1..=rounds {
        let mut problems = Vec::new();
        let mut load = Vec::new();
        for i in 0..5 {
            let size = rng.gen_range(1..=64 * 1024);
            load.push(general_upload(&app, &keys, &mut rng, &format!("r{round}-small-{i}.bin"), size));
        }
        for i in 0..2 {
            let size = rng.gen_range(512 * 1024..=5 * MIB / 2);
            load.push(general_upload(&app, &keys, &mut rng, &format!("r{round}-large-{i}.bin"), size));
        }
        load.push(ctf_upload(&app, &keys, &mut rng, round));
        load.push(batch_upload(&app, &keys, &mut rng, round));
        // Reads and withdrawals of files acknowledged in earlier rounds, never of the same one.
        let mut candidates: Vec<(String, Expected)> = ledger
            .live
            .iter()
            .filter(|(id, _)| !ledger.in_doubt.contains(*id))
            .map(|(id, e)| (id.clone(), e.clone()))
            .collect();
        candidates.shuffle(&mut rng);
        let mut withdrawing = BTreeSet::new();
        for (id, expected) in candidates.iter().filter(|(_, e)| e.kind == Kind::General) {
            if withdrawing.len() == 2 {
                break;
            }
            // Mostly large ones first, so what every round reads back stays bounded.
            if withdrawing.is_empty() && expected.size < 512 * 1024 && rng.gen_bool(0.7) {
                continue;
            }
            load.push(withdraw(&app, &keys, id));
            withdrawing.insert(id.clone());
        }
        for (id, expected) in candidates.iter().filter(|(id, _)| !withdrawing.contains(id)).take(3) {
            load.push(download(&app, id, expected.clone()));
        }
        for _ in 0..2 {
            load.push(login(&app));
        }

        let delay = Duration::from_millis(rng.gen_range(0..=MAX_KILL_DELAY_MS));
        tokio::time::sleep(delay).await;
        app.sigkill();
        let logins = settle(&mut ledger, load, &mut problems).await;
        app.restart(&[]);

        check_logins(&app, &logins, &mut problems).await;
        verify(&app, &keys, &mut ledger, &mut problems).await;
        audit_verify(&app, &mut problems);
        if !problems.is_empty() {
            panic!(
                "crash round {round} of {rounds} ({replay}), killed {} ms into the load:\n  {}",
                delay.as_millis(),
                problems.join("\n  ")
            );
        }
        eprintln!(
            "crash round {round}/{rounds} ({backend}): killed after {} ms; {} live, {} gone, {} in doubt",
            delay.as_millis(),
            ledger.live.len(),
            ledger.gone.len(),
            ledger.in_doubt.len()
        );
    }

    // Every CTF the team has read is purged, by whichever server holds the lease by then.
    let purgeable: Vec<String> =
        ledger.live.iter().filter(|(_, e)| e.kind == Kind::Purgeable).map(|(id, _)| id.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in &purgeable {
        while state_of(&app, &keys.school_all, id).await != "purged" {
            assert!(
                Instant::now() < deadline,
                "CTF {id} was read but not purged within 30 s of the last round ({replay})"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let mut problems = Vec::new();
    verify(&app, &keys, &mut ledger, &mut problems).await;
    audit_verify(&app, &mut problems);
    assert!(problems.is_empty(), "after the last round ({replay}):\n  {}", problems.join("\n  "));
    assert!(
        ledger.purged > 0 && ledger.withdrawn > 0,
        "the rounds purged {} and withdrew {}",
        ledger.purged,
        ledger.withdrawn
    );
    eprintln!(
        "crash rounds on {backend}: {rounds} rounds in {:.0} s; {} uploads acknowledged, {} requests cut off, \
         {} logins, {} withdrawn, {} purged, {} files live; seed {seed}",
        started.elapsed().as_secs_f64(),
        ledger.acknowledged,
        ledger.cut_off,
        ledger.logins,
        ledger.withdrawn,
        ledger.purged,
        ledger.live.len()
    );
}

// ----- the load --------------------------------------------------------------------------------

type Pending = tokio::task::JoinHandle<Outcome>;

fn general_upload(app: &TestApp, keys: &Keys, rng: &mut StdRng, name: &str, size: u64) -> Pending {
    let pattern = Pattern::new(rng.gen(), size);
    let expected = Expected { sha256: pattern.sha256_hex(), size, reader: keys.team_all.clone(), kind: Kind::General };
    // In 64 KiB pieces, so a kill can land part way through a larger body.
    let body = reqwest::Body::wrap_stream(pattern.stream(64 * 1024));
    store(app.upload_request(&keys.school, TEAM, name).body(body), expected)
}

fn ctf_upload(app: &TestApp, keys: &Keys, rng: &mut StdRng, round: u32) -> Pending {
    let mut body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CTfile>\n".to_vec();
    body.extend(Pattern::new(rng.gen(), rng.gen_range(1_000..=200_000)).bytes().iter().map(|b| b'a' + b % 26));
    body.extend_from_slice(b"\n</CTfile>\n");
    let expected = Expected {
        sha256: sha256_hex(&body),
        size: body.len() as u64,
        reader: keys.team_all.clone(),
        kind: Kind::Purgeable,
    };
    let req = app
        .request(Method::POST, &keys.school_all, "/api/v1/transfers")
        .query(&[("channel", "ctf"), ("filename", &format!("ctf-{round}.xml"))])
        .body(body);
    store(req, expected)
}

/// A request that stores one transfer, acknowledged by a 201 naming it.
fn store(req: RequestBuilder, expected: Expected) -> Pending {
    tokio::spawn(async move {
        let Some((status, text)) = answer(req).await else { return Outcome::NoAnswer };
        if status != StatusCode::CREATED {
            return Outcome::Problem(format!("an upload got {status}: {text}"));
        }
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        let Some(id) = v["id"].as_str() else { return Outcome::Problem(format!("a 201 without an id: {text}")) };
        if v["sha256"].as_str() != Some(expected.sha256.as_str()) {
            return Outcome::Problem(format!("upload {id} acknowledged with the wrong digest: {text}"));
        }
        Outcome::Stored(vec![(id.to_owned(), expected)])
    })
}

const PDF_HEAD: &[u8] = b"%PDF-1.4\n";

/// A zip of checking files for both schools, from the team; a 200 report acknowledges each file
/// it says was delivered.
fn batch_upload(app: &TestApp, keys: &Keys, rng: &mut StdRng, round: u32) -> Pending {
    use zip::write::SimpleFileOptions;
    let mut files = Vec::new();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (school, reader) in [("8252001", &keys.school_all), ("8252002", &keys.school_b_all)] {
        let mut content = PDF_HEAD.to_vec();
        content.extend(Pattern::new(rng.gen(), rng.gen_range(1_000..=150_000)).bytes());
        let name = format!("{school}_KS2_round{round}.pdf");
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(&content).unwrap();
        let expected = Expected {
            sha256: sha256_hex(&content),
            size: content.len() as u64,
            reader: reader.clone(),
            kind: Kind::Batch,
        };
        files.push((name, expected));
    }
    let zip = zip.finish().unwrap().into_inner();
    let req = app
        .request(Method::POST, &keys.team_all, "/api/v1/batches")
        .query(&[("channel", "checking-files")])
        .header("content-type", "application/zip")
        .body(zip);
    tokio::spawn(async move {
        let Some((status, text)) = answer(req).await else { return Outcome::NoAnswer };
        if status != StatusCode::OK {
            return Outcome::Problem(format!("a batch got {status}: {text}"));
        }
        let report: Value = serde_json::from_str(&text).unwrap_or_default();
        let mut stored = Vec::new();
        for (name, expected) in files {
            let result = report["results"].as_array().and_then(|r| r.iter().find(|r| r["name"] == name.as_str()));
            match result.and_then(|r| (r["outcome"] == "delivered").then(|| r["transfer"].as_str()).flatten()) {
                Some(id) => stored.push((id.to_owned(), expected)),
                None => return Outcome::Problem(format!("{name} was not delivered by its batch: {text}")),
            }
        }
        Outcome::Stored(stored)
    })
}

fn download(app: &TestApp, id: &str, expected: Expected) -> Pending {
    let req = app.request(Method::GET, &expected.reader, &format!("/api/v1/transfers/{id}/content"));
    let id = id.to_owned();
    tokio::spawn(async move {
        let Ok(Ok(resp)) = tokio::time::timeout(CUT_OFF_PATIENCE, req.send()).await else { return Outcome::NoAnswer };
        let status = resp.status();
        if status != StatusCode::OK {
            // The retention worker may purge a CTF the team has read while it is read again.
            if expected.kind == Kind::Purgeable && [StatusCode::NOT_FOUND, StatusCode::GONE].contains(&status) {
                return Outcome::Downloaded;
            }
            return Outcome::Problem(format!("downloading {id} during the load got {status}"));
        }
        match whole_body(resp).await {
            Some(got) if got != (expected.size, expected.sha256.clone()) => {
                Outcome::Problem(format!("{id} downloaded during the load as {got:?}, not {expected:?}"))
            }
            Some(_) => Outcome::Downloaded,
            None => Outcome::NoAnswer,
        }
    })
}

fn withdraw(app: &TestApp, keys: &Keys, id: &str) -> Pending {
    let req = app.request(Method::DELETE, &keys.school, &format!("/api/v1/transfers/{id}"));
    let id = id.to_owned();
    tokio::spawn(async move {
        match answer(req).await {
            Some((status, _)) if status.is_success() => Outcome::Withdrawn(id),
            Some((status, text)) => Outcome::Problem(format!("withdrawing {id} got {status}: {text}")),
            None => Outcome::WithdrawalInDoubt(id),
        }
    })
}

fn login(app: &TestApp) -> Pending {
    let req = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({ "username": LOGIN_USER, "password": people::PASSWORD }));
    tokio::spawn(async move {
        match answer(req).await {
            Some((StatusCode::CREATED, text)) => {
                let v: Value = serde_json::from_str(&text).unwrap_or_default();
                match v["refresh_token"].as_str() {
                    Some(token) => Outcome::LoggedIn(token.to_owned()),
                    None => Outcome::Problem(format!("a login answered 201 without a refresh token: {text}")),
                }
            }
            Some((StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE, _)) | None => Outcome::NoAnswer,
            Some((status, text)) => Outcome::Problem(format!("a login got {status}: {text}")),
        }
    })
}

/// The status and whole body of a request, or None when the kill cut it off.
async fn answer(req: RequestBuilder) -> Option<(StatusCode, String)> {
    let resp = tokio::time::timeout(CUT_OFF_PATIENCE, req.send()).await.ok()?.ok()?;
    let status = resp.status();
    let text = tokio::time::timeout(CUT_OFF_PATIENCE, resp.text()).await.ok()?.ok()?;
    Some((status, text))
}

/// Length and SHA-256 of a whole body, or None when it was cut off part way.
async fn whole_body(resp: Response) -> Option<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = tokio::time::timeout(CUT_OFF_PATIENCE, stream.next()).await.ok()? {
        let chunk = chunk.ok()?;
        n += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Some((n, hex::encode(hasher.finalize())))
}

/// Waits for every request of the load and books what was acknowledged; answers the refresh
/// tokens of the acknowledged logins.
async fn settle(ledger: &mut Ledger, load: Vec<Pending>, problems: &mut Vec<String>) -> Vec<String> {
    let mut logins = Vec::new();
    for pending in load {
        match pending.await.expect("a load task panicked") {
            Outcome::Stored(stored) => {
                ledger.acknowledged += stored.len();
                ledger.live.extend(stored);
            }
            Outcome::Downloaded => {}
            Outcome::LoggedIn(token) => {
                ledger.logins += 1;
                logins.push(token);
            }
            Outcome::Withdrawn(id) => {
                if let Some(expected) = ledger.live.remove(&id) {
                    ledger.gone.insert(id, expected.reader);
                    ledger.withdrawn += 1;
                }
            }
            Outcome::WithdrawalInDoubt(id) => {
                ledger.cut_off += 1;
                ledger.in_doubt.insert(id);
            }
            Outcome::NoAnswer => ledger.cut_off += 1,
            Outcome::Problem(p) => problems.push(p),
        }
    }
    logins
}

// ----- the checks after each restart ------------------------------------------------------------

/// A session whose login was acknowledged survives the crash: its refresh token still works.
async fn check_logins(app: &TestApp, refresh_tokens: &[String], problems: &mut Vec<String>) {
    for token in refresh_tokens {
        let resp =
            app.client.post(app.url("/api/v1/session/refresh")).json(&json!({ "refresh_token": token })).send().await;
        match resp {
            Ok(r) if r.status() == StatusCode::OK => {}
            Ok(r) => {
                problems.push(format!("an acknowledged login's refresh token got {} after the restart", r.status()))
            }
            Err(e) => problems.push(format!("refreshing an acknowledged session failed: {e}")),
        }
    }
}

/// Every listing of the three organisations: id -> (state, sha256, size, the key of the first
/// listing, an inbox: a recipient's).
async fn listed(app: &TestApp, keys: &Keys) -> BTreeMap<String, (String, String, u64, String)> {
    let mut all = BTreeMap::new();
    for (key, mailbox) in [
        (&keys.team_all, "inbox"),
        (&keys.school_all, "inbox"),
        (&keys.school_b_all, "inbox"),
        (&keys.school_all, "sent"),
        (&keys.team_all, "sent"),
    ] {
        for item in app.list_all(key, mailbox, Some(200)).await {
            let id = item["id"].as_str().expect("a listed id").to_owned();
            let state = item["state"].as_str().unwrap_or_default().to_owned();
            let entry = all.entry(id).or_insert_with(|| {
                let sha = item["sha256"].as_str().unwrap_or_default().to_owned();
                (state.clone(), sha, item["size"].as_u64().unwrap_or(u64::MAX), key.clone())
            });
            // Any listing that offers it counts as offering it.
            if state == "available" {
                entry.0 = state;
            }
        }
    }
    all
}

/// A download's status and, when it came whole, its length and SHA-256; or why it failed.
type Fetched = Result<(StatusCode, Option<(u64, String)>), String>;

async fn fetch(app: &TestApp, key: &str, id: &str) -> Fetched {
    let resp = app
        .request(Method::GET, key, &format!("/api/v1/transfers/{id}/content"))
        .send()
        .await
        .map_err(|e| format!("downloading {id} after the restart failed: {e}"))?;
    let status = resp.status();
    if status != StatusCode::OK {
        return Ok((status, None));
    }
    Ok((status, whole_body(resp).await))
}

async fn state_of(app: &TestApp, key: &str, id: &str) -> String {
    let meta = expect_json(app.metadata(key, id).await, StatusCode::OK).await;
    meta["state"].as_str().unwrap_or_default().to_owned()
}

/// What a restarted server must show: acknowledged files whole, listed files whole, gone files
/// gone.
async fn verify(app: &TestApp, keys: &Keys, ledger: &mut Ledger, problems: &mut Vec<String>) {
    let listing = listed(app, keys).await;
    let available = |id: &str| listing.get(id).is_some_and(|l| l.0 == "available");

    // Transfers committed whose answer the kill cut off are promised from the moment they are
    // listed.
    for (id, (state, sha, size, key)) in &listing {
        if state == "available" && !ledger.live.contains_key(id) && !ledger.gone.contains_key(id) {
            let channel_kind = channel_of(app, key, id).await;
            ledger.live.insert(
                id.clone(),
                Expected { sha256: sha.clone(), size: *size, reader: key.clone(), kind: channel_kind },
            );
        }
    }

    let reads: Vec<(String, String)> = ledger
        .live
        .iter()
        .map(|(id, e)| (id.clone(), e.reader.clone()))
        .chain(ledger.gone.iter().map(|(id, reader)| (id.clone(), reader.clone())))
        .collect();
    let fetched: BTreeMap<String, Fetched> = futures_util::stream::iter(reads)
        .map(|(id, reader)| async move {
            let got = fetch(app, &reader, &id).await;
            (id, got)
        })
        .buffer_unordered(6)
        .collect()
        .await;

    for id in ledger.gone.keys() {
        if available(id) {
            problems.push(format!("{id} was withdrawn or purged, and is listed as available again"));
        }
        match &fetched[id] {
            Ok((StatusCode::OK, _)) => problems.push(format!("{id} was withdrawn or purged, and downloads again")),
            Ok(_) => {}
            Err(e) => problems.push(e.clone()),
        }
    }

    let mut now_gone = Vec::new();
    for (id, expected) in &ledger.live {
        let listed_as = listing.get(id);
        if let Some((_, sha, size, _)) = listed_as {
            if (*size, sha) != (expected.size, &expected.sha256) {
                problems.push(format!("{id} is listed as {size} bytes, {sha}; it was acknowledged as {expected:?}"));
            }
        }
        let in_doubt = ledger.in_doubt.contains(id);
        // A CTF may be purged between the listing and its download; a withdrawal in doubt
        // either went (and is listed as available nowhere) or did not.
        let may_be_gone = expected.kind == Kind::Purgeable || (in_doubt && !available(id));
        match &fetched[id] {
            Err(e) => problems.push(e.clone()),
            Ok((StatusCode::OK, Some(got))) => {
                if *got != (expected.size, expected.sha256.clone()) {
                    problems.push(format!("{id} downloads as {got:?}, not as acknowledged: {expected:?}"));
                } else if !available(id) {
                    problems.push(format!("{id} downloads but is not listed as available ({listed_as:?})"));
                }
            }
            Ok((StatusCode::OK, None)) => problems.push(format!("{id} downloads only part way")),
            Ok((status, _)) if may_be_gone && [StatusCode::NOT_FOUND, StatusCode::GONE].contains(status) => {
                now_gone.push(id.clone())
            }
            Ok((status, _)) => problems.push(format!(
                "acknowledged {id} ({expected:?}, listed as {listed_as:?}) got {status} when downloaded"
            )),
        }
    }
    for id in now_gone {
        let expected = ledger.live.remove(&id).expect("a live transfer");
        let (sender, state_now) = match expected.kind {
            Kind::Purgeable => (&keys.school_all, "purged"),
            _ => (&keys.school, "withdrawn"),
        };
        let state = state_of(app, sender, &id).await;
        if state != state_now {
            problems
                .push(format!("{id} ({expected:?}) is no longer served, and its state is {state:?}, not {state_now}"));
        }
        match expected.kind {
            Kind::Purgeable => ledger.purged += 1,
            _ => ledger.withdrawn += 1,
        }
        ledger.gone.insert(id, expected.reader);
    }
    // Every withdrawal in doubt is settled now: it went, or it stays listed and whole.
    ledger.in_doubt.clear();
}

async fn channel_of(app: &TestApp, key: &str, id: &str) -> Kind {
    let meta = expect_json(app.metadata(key, id).await, StatusCode::OK).await;
    Kind::of_channel(meta["channel"].as_str().unwrap_or_default())
}

fn audit_verify(app: &TestApp, problems: &mut Vec<String>) {
    let checkpoints = app.data_path().join("audit-checkpoints.jsonl");
    let checkpoints = checkpoints.to_str().expect("a UTF-8 path").to_owned();
    let mut args = vec!["audit", "verify"];
    if std::path::Path::new(&checkpoints).exists() {
        args.extend(["--checkpoints", checkpoints.as_str()]);
    }
    let out = app.cli(&args);
    if !out.status.success() {
        problems.push(format!(
            "`pigeonpost {}` failed with {}:\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
}
