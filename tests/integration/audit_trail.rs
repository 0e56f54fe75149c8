//! The audit trail, in process: every action kind leaves exactly one event naming its actor and
//! target, refusals are recorded, failed changes leave none, concurrent appends keep one chain,
//! and a burst of downloads raises one alert.

use crate::support::app::TestApp;
use crate::support::router::{Harness, Reply, SCHOOL_A, SCHOOL_B, TEAM};
use axum::http::{Method, StatusCode};
use pigeonpost::domain::Role;
use pigeonpost::service::audit;
use pigeonpost::store::meta::AuditRecord;
use serde_json::{json, Value};

async fn head(h: &Harness) -> u64 {
    h.state.repo().audit_head().await.expect("head").0
}

async fn events_since(h: &Harness, seq: u64) -> Vec<AuditRecord> {
    h.state.repo().audit_from(seq, 1000).await.expect("events")
}

/// Runs `action` and returns the one event it recorded, failing if it recorded none or several.
async fn only_event<F: std::future::Future<Output = Reply>>(h: &Harness, what: &str, action: F) -> AuditRecord {
    let before = head(h).await;
    let reply = action.await;
    assert!(reply.status.is_success(), "{what}: {} {}", reply.status, reply.json);
    let mut events = events_since(h, before).await;
    let actions: Vec<&str> = events.iter().map(|e| e.stored.event.action.as_str()).collect();
    assert_eq!(events.len(), 1, "{what} recorded {actions:?}");
    events.remove(0)
}

fn check(e: &AuditRecord, action: &str, actor_kind: &str, actor_id: &str, target: Option<&str>) {
    let ev = &e.stored.event;
    assert_eq!(ev.action, action);
    assert_eq!((ev.actor.kind, ev.actor.id.as_str()), (actor_kind, actor_id), "{action}: actor");
    if let Some(target) = target {
        assert_eq!(ev.target_id.as_deref(), Some(target), "{action}: target");
    }
    assert_eq!(ev.outcome.as_str(), "ok", "{action}");
}

#[tokio::test]
async fn every_action_kind_produces_exactly_one_event_with_its_actor_and_target() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let school = h.api_key(SCHOOL_A, None).await;
    let team = h.api_key(TEAM, None).await;
    let admin_user = h.user(TEAM, "la.admin", Role::LaAdmin).await;

    let before = head(&h).await;
    let admin = h.login(&admin_user).await.access;
    let login = events_since(&h, before).await;
    assert_eq!(login.len(), 1, "one event for a login");
    check(&login[0], "session.login", "user", "la.admin", None);

    let up = only_event(&h, "upload", h.upload(&school.token, TEAM, "census.csv", b"upn,name\n")).await;
    let id = up.stored.event.target_id.clone().expect("transfer id");
    check(&up, "transfer.upload", "key", &school.id, Some(&id));
    assert_eq!(up.stored.event.org.as_deref(), Some(TEAM), "concerns the recipient");
    assert_eq!(up.stored.event.details["filename"], "census.csv");

    let down = only_event(&h, "download", h.get(&format!("/api/v1/transfers/{id}/content"), &team.token)).await;
    check(&down, "transfer.download", "key", &team.id, Some(&id));

    let removed = only_event(
        &h,
        "remove",
        h.request(Method::DELETE, &format!("/api/v1/transfers/{id}"), Some(&team.token), None),
    )
    .await;
    check(&removed, "transfer.remove_from_inbox", "key", &team.id, Some(&id));
    let withdrawn = only_event(
        &h,
        "withdraw",
        h.request(Method::DELETE, &format!("/api/v1/transfers/{id}"), Some(&school.token), None),
    )
    .await;
    check(&withdrawn, "transfer.withdraw", "key", &school.id, Some(&id));

    let msg = only_event(
        &h,
        "message",
        h.post("/api/v1/messages", &school.token, json!({"channel": "general", "to": TEAM, "message": "hello"})),
    )
    .await;
    check(&msg, "message.send", "key", &school.id, None);

    let org = only_event(
        &h,
        "org",
        h.post("/api/v1/organisations", &admin, json!({"kind": "school", "ref": "825/2099", "name": "New School"})),
    )
    .await;
    check(&org, "organisation.create", "user", "la.admin", Some("825/2099"));

    let key =
        only_event(&h, "key", h.post("/api/v1/keys", &admin, json!({"org": SCHOOL_B, "name": "audit test key"}))).await;
    let key_id = key.stored.event.target_id.clone().expect("key id");
    check(&key, "key.create", "user", "la.admin", None);
    let revoked =
        only_event(&h, "revoke", h.request(Method::DELETE, &format!("/api/v1/keys/{key_id}"), Some(&admin), None))
            .await;
    check(&revoked, "key.revoke", "user", "la.admin", Some(&key_id));

    let user = only_event(
        &h,
        "user",
        h.post(
            "/api/v1/users",
            &admin,
            json!({"org": SCHOOL_A, "username": "new.person", "display_name": "New Person", "role": "school_user"}),
        ),
    )
    .await;
    let user_id = user.stored.event.target_id.clone().expect("user id");
    check(&user, "user.create", "user", "la.admin", Some(&user_id));
    assert_eq!(user.stored.event.org.as_deref(), Some(SCHOOL_A));
    let disabled = only_event(
        &h,
        "disable",
        h.post(&format!("/api/v1/users/{user_id}/disable"), &admin, json!({"reason": "left"})),
    )
    .await;
    check(&disabled, "user.disable", "user", "la.admin", Some(&user_id));

    let channel = json!({"name": "Census", "description": "x", "extensions": ["xml"], "route": [{"from": "schools", "to": "team:smst"}]});
    let changed =
        only_event(&h, "channel", h.request(Method::PUT, "/api/v1/channels/census", Some(&admin), Some(channel))).await;
    check(&changed, "channel.change", "user", "la.admin", Some("census"));

    let logout = only_event(&h, "logout", h.request(Method::DELETE, "/api/v1/session", Some(&admin), None)).await;
    check(&logout, "session.logout", "user", "la.admin", None);

    // The chain over all of it holds.
    let v = audit::verify(&h.state, None).await.expect("verify");
    assert!(v.holds(), "{v:?}");
    assert_eq!(v.count, head(&h).await);
}

#[tokio::test]
async fn refused_actions_and_failed_logins_are_recorded_and_failed_changes_leave_no_event() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let a = h.api_key(SCHOOL_A, None).await;
    let b = h.api_key(SCHOOL_B, None).await;
    let id = h.upload_ok(&a.token, TEAM, "a.csv").await;

    let before = head(&h).await;
    let denied = h.get(&format!("/api/v1/transfers/{id}/content"), &b.token).await;
    assert_eq!(denied.status, StatusCode::NOT_FOUND);
    let refused = h.upload(&a.token, SCHOOL_B, "to-a-school.csv", b"x").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let events = events_since(&h, before).await;
    assert_eq!(events.len(), 2, "one event per refusal");
    let (e1, e2) = (&events[0].stored.event, &events[1].stored.event);
    assert_eq!(
        (e1.action.as_str(), e1.outcome.as_str(), e1.actor.id.as_str()),
        ("request.refused", "refused", b.id.as_str())
    );
    assert_eq!(e1.details["status"], 404);
    assert_eq!(e1.details["route"], "/api/v1/transfers/{id}/content");
    assert_eq!(e2.details["status"], 422);
    assert_eq!(e2.details["code"], "wrong_recipient_kind");

    let before = head(&h).await;
    let wrong = h
        .request(
            Method::POST,
            "/api/v1/session",
            None,
            Some(json!({"username": "nobody", "password": "Not-The-Password-1"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let events = events_since(&h, before).await;
    assert_eq!(events.len(), 1);
    let e = &events[0].stored.event;
    assert_eq!((e.action.as_str(), e.outcome.as_str()), ("session.login", "refused"));
    assert_eq!(e.target_id.as_deref(), Some("nobody"));

    // A second organisation with the same number fails in its transaction: no creation event.
    let admin = h.user(TEAM, "la.admin", Role::LaAdmin).await;
    let admin = h.login(&admin).await.access;
    let before = head(&h).await;
    let dup =
        h.post("/api/v1/organisations", &admin, json!({"kind": "school", "ref": SCHOOL_A, "name": "Again"})).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let events = events_since(&h, before).await;
    let actions: Vec<&str> = events.iter().map(|e| e.stored.event.action.as_str()).collect();
    assert_eq!(actions, ["request.refused"], "the refusal is recorded, the change that failed is not");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_uploads_leave_one_unbroken_chain() {
    let h = std::sync::Arc::new(TestApp::builder().router().await);
    h.standard_orgs().await;
    let key = h.api_key(SCHOOL_A, None).await;
    let start = head(&h).await;
    let mut tasks = Vec::new();
    for n in 0..1000 {
        let (h, token) = (h.clone(), key.token.clone());
        tasks.push(tokio::spawn(async move { h.upload(&token, TEAM, &format!("f{n}.csv"), b"upn\n").await.status }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), StatusCode::CREATED);
    }
    let v = audit::verify(&h.state, None).await.expect("verify");
    assert!(v.holds(), "{:?}", v.broken);
    assert_eq!(v.count, start + 1000);
    let uploads = events_since(&h, start).await.iter().filter(|e| e.stored.event.action == "transfer.upload").count();
    assert_eq!(uploads, 1000);
}

#[tokio::test]
async fn a_burst_of_downloads_raises_exactly_one_alert_and_suspends_the_key_until_an_admin_resumes_it() {
    let h = TestApp::builder()
        .settings(|s| {
            s.audit.download_alert_files = 3;
            s.audit.download_alert_suspend = true;
        })
        .router()
        .await;
    h.standard_orgs().await;
    let sender = h.api_key(SCHOOL_A, None).await;
    let thief = h.api_key(TEAM, None).await;
    let ids: Vec<String> = futures_ids(&h, &sender.token, 6).await;
    for id in &ids[..4] {
        let r = h.get(&format!("/api/v1/transfers/{id}/content"), &thief.token).await;
        assert_eq!(r.status, StatusCode::OK, "the download that tips it over still completes");
    }
    let stopped = h.get(&format!("/api/v1/transfers/{}/content", ids[4]), &thief.token).await;
    assert_eq!(stopped.status, StatusCode::UNAUTHORIZED, "the key is suspended");
    let alerts =
        events_since(&h, 0).await.into_iter().filter(|e| e.stored.event.action == "alert.mass_download").count();
    assert_eq!(alerts, 1);

    let admin = h.user(TEAM, "la.admin", Role::LaAdmin).await;
    let admin = h.login(&admin).await.access;
    let found = h.get("/api/v1/audit?action=alert.", &admin).await;
    assert_eq!(found.json["items"].as_array().map(Vec::len), Some(1), "LA admins find the alert: {}", found.json);
    let resumed = h.request(Method::POST, &format!("/api/v1/keys/{}/resume", thief.id), Some(&admin), None).await;
    assert_eq!(resumed.status, StatusCode::NO_CONTENT);
    let again = h.get(&format!("/api/v1/transfers/{}/content", ids[5]), &thief.token).await;
    assert_eq!(again.status, StatusCode::OK);
}

async fn futures_ids(h: &Harness, token: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(h.upload_ok(token, TEAM, &format!("burst-{i}.csv")).await);
    }
    ids
}

#[tokio::test]
async fn la_admins_search_and_export_the_trail_and_a_school_admin_sees_only_their_school() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let a = h.api_key(SCHOOL_A, None).await;
    let b = h.api_key(SCHOOL_B, None).await;
    let id_a = h.upload_ok(&a.token, TEAM, "a.csv").await;
    h.upload_ok(&b.token, TEAM, "b.csv").await;
    let admin = h.user(TEAM, "la.admin", Role::LaAdmin).await;
    let admin = h.login(&admin).await.access;

    let by_target = h.get(&format!("/api/v1/audit?target={id_a}"), &admin).await;
    let items = by_target.json["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["action"], "transfer.upload");
    assert_eq!(items[0]["actor"]["id"], a.id);

    let page = h.get("/api/v1/audit?limit=2", &admin).await;
    let cursor = page.json["next_cursor"].as_u64().expect("a second page");
    let next = h.get(&format!("/api/v1/audit?limit=2&cursor={cursor}"), &admin).await;
    let first: Vec<u64> = page.json["items"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let second: Vec<u64> = next.json["items"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(first.iter().all(|s| second.iter().all(|t| t < s)), "newest first, no overlap: {first:?} {second:?}");

    let csv = h.get("/api/v1/audit?format=csv&action=transfer.", &admin).await;
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = String::from_utf8(csv.body.to_vec()).expect("utf-8");
    assert!(text.starts_with("seq,at,actor_kind,actor_id"), "{text}");
    assert_eq!(text.lines().count(), 3, "a header and the two uploads: {text}");

    let school_admin = h.user(SCHOOL_A, "school.admin", Role::SchoolAdmin).await;
    let school_admin = h.login(&school_admin).await.access;
    let own = h.get(&format!("/api/v1/audit?org={SCHOOL_B}"), &school_admin).await;
    let orgs: Vec<Value> =
        own.json["items"].as_array().expect("items").iter().map(|e| json!([e["org"], e["actor"]["org"]])).collect();
    assert!(!orgs.is_empty());
    assert!(orgs.iter().all(|o| o[0] == SCHOOL_A || o[1] == SCHOOL_A), "only 825/2001's events: {orgs:?}");
    let school_user = h.user(SCHOOL_A, "school.user", Role::SchoolUser).await;
    let school_user = h.login(&school_user).await.access;
    assert_eq!(h.get("/api/v1/audit", &school_user).await.status, StatusCode::FORBIDDEN);
}
