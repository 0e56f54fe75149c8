//! Retention with a clock that moves only when the test moves it: files purged after their
//! upload age, after download, whichever comes first, a distribution waiting for every school,
//! legal holds on each scope, dry runs, an object store that fails during a purge, restored
//! copies that stay unreadable, expiry warnings, and the lease that keeps the purge to one node.

use std::sync::Arc;
use std::time::{Duration as StdDuration, SystemTime};

use crate::support::app::TestApp;
use crate::support::router::{Harness, TestUser, SCHOOL_A, SCHOOL_B, TEAM};
use async_trait::async_trait;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use time::Duration;

use pigeonpost::crypto::segment::open_from_slice;
use pigeonpost::crypto::{DataKey, Keyring};
use pigeonpost::crypto::{KeySource, KeyringHandle};
use pigeonpost::domain::channel::Retention;
use pigeonpost::domain::{Role, TransferId, TransferState};
use pigeonpost::service::AppState;
use pigeonpost::store::blob::local::LocalBlobStore;
use pigeonpost::store::blob::{BlobError, BlobInfo, BlobStore, BlobStream, BlobWriter, ObjectKey};
use pigeonpost::store::meta::sql::SqlRepository;
use pigeonpost::store::meta::{AuditFilter, LeaseClaim};
use pigeonpost::workers::lease::Exclusive;
use pigeonpost::workers::orphan_sweep;
use pigeonpost::workers::retention::{self, Mode, RetentionReport};

const CONTENT: &[u8] = b"upn,surname,forename\nA123,Example,Pupil\n";

fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// A world with the standard organisations, keys for school A, school B and the team (every
/// channel, both directions), and an LA administrator logged in for the holds API.
struct World {
    h: Harness,
    key_a: String,
    key_b: String,
    key_team: String,
    admin: String,
}

impl World {
    async fn new() -> World {
        let h = TestApp::builder()
            .settings(|s| {
                s.identity.access_token_ttl_secs = 400 * 86_400;
                s.identity.session_ttl_secs = 400 * 86_400;
                s.identity.inactivity_days = 0;
            })
            .router()
            .await;
        h.standard_orgs().await;
        let all = Some(Harness::scope(&["*"], true, true));
        let key_a = h.api_key(SCHOOL_A, all.clone()).await.token;
        let key_b = h.api_key(SCHOOL_B, all.clone()).await.token;
        let key_team = h.api_key(TEAM, all).await.token;
        let admin_user: TestUser = h.user(TEAM, "la.admin", Role::LaAdmin).await;
        let admin = h.login(&admin_user).await.access;
        World { h, key_a, key_b, key_team, admin }
    }

    /// Gives channel `slug` the retention rule in force from now on.
    fn set_rule(&self, slug: &str, upload: Option<u32>, download: Option<u32>, warn: Option<u32>) {
        let mut catalogue = (*self.h.state.channels()).clone();
        let channel = catalogue.channels.iter_mut().find(|c| c.slug == slug).expect("channel in the catalogue");
        channel.retention = Retention {
            purge_after_upload_days: upload,
            purge_after_download_days: download,
            warn_days_before_expiry: warn,
        };
        self.h.state.replace_channels(catalogue);
    }

    /// Uploads `CONTENT` on `channel` to `to` and answers the new transfer's id.
    async fn upload(&self, key: &str, channel: &str, to: &str) -> String {
        let n = self.h.unique();
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("/api/v1/transfers?channel={channel}&to={to}&filename=return-{n}.csv"))
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, "text/csv")
            .header(header::CONTENT_LENGTH, CONTENT.len())
            .body(Body::from(CONTENT.to_vec()))
            .expect("request");
        let reply = self.h.send(request).await;
        assert_eq!(reply.status, StatusCode::CREATED, "upload on {channel} to {to}: {}", reply.json);
        reply.json["id"].as_str().expect("id").to_owned()
    }

    /// School A's file to the team on the general channel.
    async fn upload_general(&self) -> String {
        self.upload(&self.key_a, "general", TEAM).await
    }

    async fn download(&self, key: &str, id: &str) -> StatusCode {
        self.h.get(&format!("/api/v1/transfers/{id}/content"), key).await.status
    }

    async fn state_of(&self, id: &str) -> TransferState {
        self.record(id).await.state
    }

    async fn record(&self, id: &str) -> pigeonpost::store::meta::TransferRecord {
        let id: TransferId = id.parse().expect("transfer id");
        self.h.state.repo().get_transfer(id).await.expect("get transfer").expect("transfer exists")
    }

    /// Where the local store keeps a transfer's object.
    async fn object_path(&self, id: &str) -> std::path::PathBuf {
        let object = self.record(id).await.object_id;
        let simple = object.simple().to_string();
        self.h.dir.path().join("objects").join(&simple[..2]).join(object.hyphenated().to_string())
    }

    /// Audit events with `action` about `target`.
    async fn events(&self, action: &str, target: &str) -> Vec<Value> {
        let filter = AuditFilter { action: Some(action.into()), target: Some(target.into()), ..AuditFilter::default() };
        let found = self.h.state.repo().search_audit(&filter, None, 100).await.expect("search audit");
        found.into_iter().map(|r| serde_json::from_str(&r.details_json).expect("details are JSON")).collect()
    }

    async fn run(&self) -> RetentionReport {
        ran(retention::run_once_as(&self.h.state, "test-node", Mode::Purge).await)
    }

    async fn dry_run(&self) -> RetentionReport {
        ran(retention::run_once_as(&self.h.state, "test-node", Mode::DryRun).await)
    }

    async fn hold(&self, scope: &str, target: &str) -> String {
        let reply = self
            .h
            .post(
                "/api/v1/holds",
                &self.admin,
                json!({ "scope": scope, "target": target, "reason": "FOI appeal 2026/14" }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "placing a {scope} hold: {}", reply.json);
        assert_eq!(reply.json["active"], true);
        reply.json["id"].as_str().expect("hold id").to_owned()
    }

    async fn lift(&self, hold: &str) {
        let reply = self.h.request(Method::DELETE, &format!("/api/v1/holds/{hold}"), Some(&self.admin), None).await;
        assert_eq!(reply.status, StatusCode::OK, "lifting {hold}: {}", reply.json);
        assert_eq!(reply.json["active"], false);
        assert_eq!(reply.json["lifted_by"], "la.admin");
    }
}

fn ran(outcome: anyhow::Result<Exclusive<RetentionReport>>) -> RetentionReport {
    match outcome.expect("retention run") {
        Exclusive::Ran(report) => report,
        Exclusive::Busy { holder, .. } => panic!("the lease was held by {holder}"),
    }
}

fn purged_ids(report: &RetentionReport) -> Vec<String> {
    report.purged.iter().map(|e| e.transfer.to_string()).collect()
}

#[tokio::test]
async fn a_file_is_purged_once_its_days_since_upload_have_passed_and_only_once() {
    let w = World::new().await;
    // general: purge 90 days after upload.
    let id = w.upload_general().await;
    let path = w.object_path(&id).await;
    w.h.advance(days(90) - Duration::seconds(1));
    assert!(w.run().await.purged.is_empty(), "a second early it stays");
    assert_eq!(w.state_of(&id).await, TransferState::Available);

    w.h.advance(Duration::seconds(1));
    let report = w.run().await;
    assert_eq!(purged_ids(&report), [id.as_str()]);
    let record = w.record(&id).await;
    assert_eq!(record.state, TransferState::Purged);
    assert!(record.wrapped_key.is_none(), "the data key is destroyed");
    assert!(!path.exists(), "the object is deleted");
    let events = w.events("transfer.purge", &id).await;
    assert_eq!(events.len(), 1, "one purge, one event");
    assert_eq!(events[0]["reason"], "after_upload");
    assert_eq!(events[0]["rule"], "90 days after upload");

    w.h.advance(days(1));
    assert!(w.run().await.purged.is_empty());
    assert_eq!(w.events("transfer.purge", &id).await.len(), 1, "a later run changes nothing more");
}

#[tokio::test]
async fn a_downloaded_file_is_purged_the_given_days_after_its_first_download() {
    let w = World::new().await;
    w.set_rule("general", Some(90), Some(7), None);
    let id = w.upload_general().await;
    w.h.advance(days(2));
    assert_eq!(w.download(&w.key_team, &id).await, StatusCode::OK);
    w.h.advance(days(3));
    assert_eq!(w.download(&w.key_team, &id).await, StatusCode::OK, "a second download does not restart the clock");

    w.h.advance(days(4) - Duration::seconds(1));
    assert!(w.run().await.purged.is_empty(), "not yet seven days since the first download");
    w.h.advance(Duration::seconds(1));
    assert_eq!(purged_ids(&w.run().await), [id.as_str()]);
    assert_eq!(w.events("transfer.purge", &id).await[0]["reason"], "after_download");
}

#[tokio::test]
async fn the_earlier_of_the_upload_and_download_clocks_decides() {
    let w = World::new().await;
    w.set_rule("general", Some(30), Some(7), None);
    let late = w.upload_general().await;
    let early = w.upload_general().await;
    w.h.advance(days(1));
    assert_eq!(w.download(&w.key_team, &early).await, StatusCode::OK);
    w.h.advance(days(27));
    assert_eq!(w.download(&w.key_team, &late).await, StatusCode::OK);
    // Day 28: `early` went on day 8; `late` would go on day 35 by download, but 30 comes first.
    assert_eq!(purged_ids(&w.run().await), [early.as_str()]);
    w.h.advance(days(2));
    assert_eq!(purged_ids(&w.run().await), [late.as_str()]);
    assert_eq!(w.events("transfer.purge", &early).await[0]["reason"], "after_download");
    assert_eq!(w.events("transfer.purge", &late).await[0]["reason"], "after_upload");
}

#[tokio::test]
async fn a_distribution_waits_until_every_school_has_downloaded_it() {
    let w = World::new().await;
    w.set_rule("distribution", None, Some(7), None);
    let id = w.upload(&w.key_team, "distribution", "825/2001,825/2002").await;
    w.h.advance(days(1));
    assert_eq!(w.download(&w.key_a, &id).await, StatusCode::OK);
    w.h.advance(days(19));
    assert!(w.run().await.purged.is_empty(), "825/2002 has not downloaded it yet");

    assert_eq!(w.download(&w.key_b, &id).await, StatusCode::OK);
    w.h.advance(days(7) - Duration::seconds(1));
    assert!(w.run().await.purged.is_empty(), "seven days from the last school's first download");
    w.h.advance(Duration::seconds(1));
    assert_eq!(purged_ids(&w.run().await), [id.as_str()]);
    assert_eq!(w.events("transfer.purge", &id).await.len(), 1);
}

#[tokio::test]
async fn a_message_without_a_file_is_purged_too() {
    let w = World::new().await;
    let reply =
        w.h.post(
            "/api/v1/messages",
            &w.key_a,
            json!({ "channel": "general", "to": TEAM, "message": "Pupil A123 has left" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let id = reply.json["id"].as_str().expect("id").to_owned();
    w.h.advance(days(91));
    let report = w.run().await;
    assert_eq!(purged_ids(&report), [id.as_str()]);
    assert!(report.objects_left.is_empty(), "there was no object to delete");
    assert_eq!(w.state_of(&id).await, TransferState::Purged);
    assert_eq!(w.events("transfer.purge", &id).await[0]["has_file"], false);
}

/// Places a hold of `scope` on `target` over an expired file, checks it keeps the file, lifts
/// it and checks the file then goes; one audit event for each step.
async fn a_hold_keeps_the_file_until_lifted(w: &World, id: &str, scope: &str, target: &str) {
    let hold = w.hold(scope, target).await;
    w.h.advance(days(91));
    let report = w.run().await;
    assert!(!purged_ids(&report).contains(&id.to_owned()), "a {scope} hold keeps {id}");
    assert_eq!(report.held.len(), 1);
    assert_eq!(report.held[0].1.iter().map(|h| h.to_string()).collect::<Vec<_>>(), [hold.as_str()]);
    assert_eq!(w.state_of(id).await, TransferState::Available);
    assert_eq!(w.download(&w.key_team, id).await, StatusCode::OK, "held data stays readable");

    let listed = w.h.get("/api/v1/holds", &w.admin).await;
    assert_eq!(listed.json["holds"][0]["id"], hold.as_str());
    w.lift(&hold).await;
    assert_eq!(w.h.get("/api/v1/holds", &w.admin).await.json["holds"], json!([]), "only active holds by default");
    let all = w.h.get("/api/v1/holds?include_lifted=true", &w.admin).await;
    assert_eq!(all.json["holds"][0]["lifted_by"], "la.admin", "a lifted hold stays on record");

    assert_eq!(purged_ids(&w.run().await), [id.to_owned()]);
    assert_eq!(w.events("hold.place", &hold).await.len(), 1);
    assert_eq!(w.events("hold.lift", &hold).await.len(), 1);
    assert_eq!(w.events("transfer.purge", id).await.len(), 1);
    let again = w.h.request(Method::DELETE, &format!("/api/v1/holds/{hold}"), Some(&w.admin), None).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "a hold is lifted once");
    assert_eq!(w.events("hold.lift", &hold).await.len(), 1);
}

#[tokio::test]
async fn a_hold_on_the_transfer_keeps_it_until_lifted() {
    let w = World::new().await;
    let id = w.upload_general().await;
    let other = w.upload_general().await;
    a_hold_keeps_the_file_until_lifted(&w, &id, "transfer", &id).await;
    assert_eq!(w.state_of(&other).await, TransferState::Purged, "the hold covers its own transfer only");
    assert_eq!(w.events("transfer.purge", &other).await.len(), 1);
}

#[tokio::test]
async fn a_hold_on_an_organisation_keeps_what_it_sent_and_received() {
    let w = World::new().await;
    let sent_by_a = w.upload_general().await;
    let sent_to_a = w.upload(&w.key_team, "general", SCHOOL_A).await;
    let of_b = w.upload(&w.key_b, "general", TEAM).await;
    let hold = w.hold("organisation", "8252001").await;
    w.h.advance(days(91));
    let report = w.run().await;
    assert_eq!(purged_ids(&report), [of_b.as_str()], "825/2002's file is not covered");
    assert_eq!(report.held.len(), 2);
    assert_eq!(w.state_of(&sent_by_a).await, TransferState::Available);
    assert_eq!(w.state_of(&sent_to_a).await, TransferState::Available);
    w.lift(&hold).await;
    let mut gone = purged_ids(&w.run().await);
    gone.sort();
    let mut expected = vec![sent_by_a, sent_to_a];
    expected.sort();
    assert_eq!(gone, expected);
    assert_eq!(w.events("hold.place", &hold).await.len(), 1);
    assert_eq!(w.events("hold.lift", &hold).await.len(), 1);
}

#[tokio::test]
async fn a_hold_on_a_channel_keeps_everything_on_it_until_lifted() {
    let w = World::new().await;
    let id = w.upload_general().await;
    a_hold_keeps_the_file_until_lifted(&w, &id, "channel", "general").await;
}

#[tokio::test]
async fn a_hold_on_something_that_does_not_exist_is_refused() {
    let w = World::new().await;
    for (scope, target) in [
        ("transfer", "3f2c8d4e-0000-4000-8000-000000000000"),
        ("organisation", "825/9999"),
        ("channel", "no-such-channel"),
    ] {
        let reply =
            w.h.post("/api/v1/holds", &w.admin, json!({ "scope": scope, "target": target, "reason": "x" })).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{scope} {target}: {}", reply.json);
    }
    let reply =
        w.h.post("/api/v1/holds", &w.admin, json!({ "scope": "school", "target": SCHOOL_A, "reason": "x" })).await;
    assert_eq!(reply.error(), "invalid_scope");
    let reply =
        w.h.post("/api/v1/holds", &w.admin, json!({ "scope": "channel", "target": "general", "reason": " " })).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "a hold needs a reason");
    let filter = AuditFilter { action: Some("hold.place".into()), ..AuditFilter::default() };
    assert!(w.h.state.repo().search_audit(&filter, None, 10).await.expect("audit").is_empty(), "nothing was placed");
}

#[tokio::test]
async fn a_dry_run_lists_what_would_go_with_its_reason_and_changes_nothing() {
    let w = World::new().await;
    w.set_rule("general", Some(60), None, Some(7));
    let due = w.upload_general().await;
    let held = w.upload_general().await;
    let hold = w.hold("transfer", &held).await;
    w.h.advance(days(50));
    // Expires on day 110, so its warning is due from day 103.
    let warned = w.upload_general().await;
    w.h.advance(days(55));
    let path = w.object_path(&due).await;
    let head_before = w.h.state.repo().audit_head().await.expect("audit head");

    let report = w.dry_run().await;
    assert_eq!(purged_ids(&report), [due.as_str()]);
    assert_eq!(report.purged[0].reason.to_string(), "60 days after upload");
    assert_eq!(report.held.len(), 1);
    assert_eq!(report.held[0].0.transfer.to_string(), held);
    assert_eq!(report.warned.len(), 1, "{report:?}");
    assert_eq!(report.warned[0].transfer.to_string(), warned);
    let text = report.describe(Mode::DryRun);
    for expected in
        ["dry run: nothing was changed", "would purge 1", &due, "60 days after upload", &held, &hold, &warned]
    {
        assert!(text.contains(expected), "the listing names {expected}:\n{text}");
    }

    assert_eq!(w.h.state.repo().audit_head().await.expect("audit head"), head_before, "no event recorded");
    assert_eq!(w.state_of(&due).await, TransferState::Available);
    assert!(w.record(&due).await.wrapped_key.is_some());
    assert!(path.exists());
    assert_eq!(w.dry_run().await.warned.len(), 1, "the dry run did not record the warning");

    // The real run does what the dry run said.
    let real = w.run().await;
    assert_eq!(purged_ids(&real), [due]);
    assert_eq!(real.held.len(), 1);
    assert_eq!(real.warned.len(), 1);
    assert_eq!(w.events("transfer.expiry_warning", &warned).await.len(), 1);
}

#[tokio::test]
async fn recipients_of_an_unread_file_are_warned_once_before_it_expires() {
    let w = World::new().await;
    w.set_rule("general", Some(60), None, Some(7));
    let unread = w.upload_general().await;
    let read = w.upload_general().await;
    assert_eq!(w.download(&w.key_team, &read).await, StatusCode::OK);
    w.h.advance(days(53) - Duration::seconds(1));
    assert!(w.run().await.warned.is_empty(), "not yet seven days before expiry");
    w.h.advance(Duration::seconds(1));
    let report = w.run().await;
    assert_eq!(report.warned.len(), 1, "only the unread file is warned about");
    assert_eq!(report.warned[0].transfer.to_string(), unread);
    assert_eq!(report.warned[0].recipients, [TEAM]);
    w.h.advance(days(1));
    assert!(w.run().await.warned.is_empty(), "a transfer is warned about once");
    let events = w.events("transfer.expiry_warning", &unread).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["recipients"], json!([TEAM]));
    assert!(w.events("transfer.expiry_warning", &read).await.is_empty());
}

/// An object store whose deletes fail, as when it is down, over the real local store.
struct DeletesFail(LocalBlobStore);

#[async_trait]
impl BlobStore for DeletesFail {
    async fn begin(&self, key: ObjectKey) -> Result<Box<dyn BlobWriter>, BlobError> {
        self.0.begin(key).await
    }
    async fn get(&self, key: ObjectKey, range: Option<std::ops::Range<u64>>) -> Result<BlobStream, BlobError> {
        self.0.get(key, range).await
    }
    async fn delete(&self, _key: ObjectKey) -> Result<(), BlobError> {
        Err(BlobError::Unavailable(anyhow::anyhow!("the object store is down (test)")))
    }
    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError> {
        self.0.list().await
    }
    async fn remove_abandoned_writes(&self, before: SystemTime) -> Result<u64, BlobError> {
        self.0.remove_abandoned_writes(before).await
    }
    async fn check(&self) -> Result<(), BlobError> {
        self.0.check().await
    }
}

/// The harness's state, but over an object store whose deletes fail: same database, same
/// keyring, same clock, same channels.
async fn with_failing_deletes(h: &Harness) -> AppState {
    let dir = h.dir.path();
    let url = format!("sqlite://{}", dir.join("pigeonpost.db").display());
    let repo = SqlRepository::sqlite(&url, 2, StdDuration::from_secs(10)).await.expect("open SQLite");
    let blobs = DeletesFail(LocalBlobStore::open(dir).await.expect("open object store"));
    let source = KeySource { data_dir: dir.to_path_buf(), master_key: None, retired_keys: None };
    let keys = KeyringHandle::new(source, Keyring::from_keys("k1", vec![("k1".into(), [7u8; 32])]));
    AppState::new(
        h.state.settings().clone(),
        Arc::new(repo),
        Arc::new(blobs),
        keys,
        h.clock.clone(),
        (*h.state.channels()).clone(),
    )
}

#[tokio::test]
async fn a_failed_object_delete_does_not_stop_the_purge_and_the_sweep_deletes_it_later() {
    let w = World::new().await;
    let id = w.upload_general().await;
    let path = w.object_path(&id).await;
    w.h.advance(days(91));
    let failing = with_failing_deletes(&w.h).await;
    let report = ran(retention::run_once_as(&failing, "test-node", Mode::Purge).await);
    assert_eq!(purged_ids(&report), [id.as_str()]);
    assert_eq!(report.objects_left.iter().map(|t| t.to_string()).collect::<Vec<_>>(), [id.as_str()]);
    let record = w.record(&id).await;
    assert_eq!(record.state, TransferState::Purged, "purged although the object is still there");
    assert!(record.wrapped_key.is_none(), "and its key is gone");
    assert!(path.exists(), "the delete failed");
    assert_eq!(w.events("transfer.purge", &id).await.len(), 1);

    // The store is back: the sweep removes objects whose key is gone, grace period or not.
    let swept = orphan_sweep::sweep_once(&w.h.state).await.expect("sweep");
    assert_eq!(swept.dead, 1);
    assert!(!path.exists(), "the sweep deleted the purged object");
    assert!(w.run().await.purged.is_empty(), "nothing to purge twice");
}

#[tokio::test]
async fn a_purged_file_cannot_be_downloaded_nor_decrypted_from_a_restored_copy() {
    let w = World::new().await;
    let id = w.upload_general().await;
    let path = w.object_path(&id).await;
    let copy = std::fs::read(&path).expect("copy the object, as a backup would");
    let record = w.record(&id).await;
    let object_id = *record.object_id.as_bytes();
    {
        // While the key exists the copy is readable: the test below is not vacuous.
        let wrapped = record.wrapped_key.as_ref().expect("a live transfer has its key");
        let dek = w.h.state.keys().unwrap(wrapped, &object_id).expect("unwrap the data key");
        assert_eq!(open_from_slice(&dek, &object_id, &copy).expect("decrypt the copy"), CONTENT);
    }

    w.h.advance(days(91));
    assert_eq!(purged_ids(&w.run().await), [id.as_str()]);
    assert!(!path.exists());
    std::fs::create_dir_all(path.parent().expect("object directory")).expect("object directory");
    std::fs::write(&path, &copy).expect("restore the copy");

    let after = w.record(&id).await;
    assert!(after.wrapped_key.is_none(), "there is no wrapped key left for the keyring to unwrap");
    // Nor does the master key itself open the object: only the destroyed data key did.
    let master_as_dek = DataKey::from_bytes([7u8; 32]);
    assert!(open_from_slice(&master_as_dek, &object_id, &copy).is_err());
    assert!(!copy.windows(CONTENT.len()).any(|win| win == CONTENT), "the copy holds ciphertext only");

    assert_eq!(w.download(&w.key_a, &id).await, StatusCode::GONE, "the sender is told it was purged");
    assert_eq!(w.download(&w.key_team, &id).await, StatusCode::NOT_FOUND, "it has left the recipient's inbox");
    let meta = w.h.get(&format!("/api/v1/transfers/{id}"), &w.key_a).await;
    assert_eq!(meta.json["state"], "purged", "metadata stays: {}", meta.json);
}

#[tokio::test]
async fn two_nodes_racing_purge_each_file_exactly_once() {
    let w = World::new().await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(w.upload_general().await);
    }
    w.h.advance(days(91));
    let state = &w.h.state;
    let (a, b) = tokio::join!(
        retention::run_once_as(state, "node-a", Mode::Purge),
        retention::run_once_as(state, "node-b", Mode::Purge)
    );
    let mut purged: Vec<String> = Vec::new();
    for outcome in [a, b] {
        if let Exclusive::Ran(report) = outcome.expect("run") {
            purged.extend(purged_ids(&report));
        }
    }
    purged.sort();
    ids.sort();
    assert_eq!(purged, ids, "every file purged once between the two");
    for id in &ids {
        assert_eq!(w.events("transfer.purge", id).await.len(), 1, "one event for {id}");
    }
}

#[tokio::test]
async fn a_node_holding_the_lease_keeps_others_out_until_it_expires() {
    let w = World::new().await;
    let id = w.upload_general().await;
    w.h.advance(days(91));
    let repo = w.h.state.repo();
    let now = w.h.now();
    // node-a took the lease and then died: it never renews nor releases it.
    let lease = Duration::seconds(w.h.state.settings().workers.lease_secs as i64);
    assert_eq!(
        repo.acquire_lease(retention::LEASE, "node-a", now, now + lease).await.expect("lease"),
        LeaseClaim::Acquired
    );

    match retention::run_once_as(&w.h.state, "node-b", Mode::Purge).await.expect("run") {
        Exclusive::Busy { holder, .. } => assert_eq!(holder, "node-a"),
        Exclusive::Ran(report) => panic!("node-b ran while node-a held the lease: {report:?}"),
    }
    assert_eq!(w.state_of(&id).await, TransferState::Available);
    assert!(!w.dry_run().await.purged.is_empty(), "a dry run needs no lease");

    w.h.advance(lease);
    let report = ran(retention::run_once_as(&w.h.state, "node-b", Mode::Purge).await);
    assert_eq!(purged_ids(&report), [id], "node-b took the expired lease over");
    // node-b gave the lease back when it finished, so node-a (restarted) may run next.
    assert_eq!(
        repo.acquire_lease(retention::LEASE, "node-a", w.h.now(), w.h.now() + lease).await.expect("lease"),
        LeaseClaim::Acquired
    );
}

#[tokio::test]
async fn a_hold_placed_after_a_run_read_its_list_still_stops_the_purge() {
    let w = World::new().await;
    let id = w.upload_general().await;
    w.h.advance(days(91));
    // The run has already decided to purge (it read no hold); the hold lands before its purge.
    w.hold("organisation", TEAM).await;
    let audit = pigeonpost::audit::AuditEvent::new(
        w.h.now(),
        pigeonpost::audit::Actor::system(retention::ACTOR),
        "transfer.purge",
    )
    .target("transfer", &id);
    let purged = w.h.state.repo().purge_transfer(id.parse().expect("id"), w.h.now(), &audit).await.expect("purge");
    assert!(!purged, "the hold is checked inside the purge's own transaction");
    assert_eq!(w.state_of(&id).await, TransferState::Available);
    assert!(w.events("transfer.purge", &id).await.is_empty(), "no purge, no event");
}
