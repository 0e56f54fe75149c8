//! Transfers committed together: concurrent uploads share SQLite transactions (group commit),
//! yet each is stored whole with its own audit event in an unbroken chain, one that cannot be
//! stored fails alone, and a bulk insert stores all of its transfers or none.

use crate::support::app::TestApp;
use crate::support::router::{Harness, SCHOOL_A, TEAM};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use futures_util::future::join_all;

use pigeonpost::audit::{Actor, AuditEvent};
use pigeonpost::domain::{ChannelSlug, FileName, Sha256Digest, TransferId};
use pigeonpost::service::audit;
use pigeonpost::store::meta::{AuditFilter, NewTransfer, StoreError};
use uuid::Uuid;

async fn upload(h: &Harness, key: &str, n: usize) -> (StatusCode, String) {
    let content = format!("upn,surname\nA{n:06},Example\n");
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/transfers?channel=general&to={TEAM}&filename=return-{n}.csv"))
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_LENGTH, content.len())
        .body(Body::from(content))
        .expect("request");
    let reply = h.send(request).await;
    (reply.status, reply.json["id"].as_str().unwrap_or_default().to_owned())
}

/// A transfer from school A to the team with no object behind it (the repository does not look).
async fn new_transfer(h: &Harness, n: usize) -> (NewTransfer, AuditEvent) {
    let sender = h.find_org(SCHOOL_A).await.id;
    let team = h.find_org(TEAM).await.id;
    let id = TransferId::new_random();
    let transfer = NewTransfer {
        id,
        object_id: Uuid::new_v4(),
        channel: ChannelSlug::parse("general").expect("slug"),
        sender,
        sender_key_id: None,
        recipients: vec![team],
        filename: Some(FileName::parse(&format!("direct-{n}.csv")).expect("file name")),
        content_type: "text/csv".into(),
        size: 0,
        sha256: Sha256Digest([0; 32]),
        wrapped_key: None,
        created_at: h.now(),
        message: None,
        reply_to: None,
        quarantine: None,
        routing_note: None,
        batch: None,
    };
    let event = AuditEvent::new(h.now(), Actor::system("test"), "transfer.upload").target("transfer", id);
    (transfer, event)
}

async fn exists(h: &Harness, id: TransferId) -> bool {
    h.state.repo().get_transfer(id).await.expect("get transfer").is_some()
}

async fn assert_chain_holds(h: &Harness) {
    let v = audit::verify(&h.state, None).await.expect("verify");
    assert!(v.holds(), "{v:?}");
}

#[tokio::test]
async fn concurrent_uploads_are_each_stored_with_their_own_audit_event_in_an_unbroken_chain() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let key = h.api_key(SCHOOL_A, None).await.token;
    let replies = join_all((0..48).map(|n| upload(&h, &key, n))).await;
    let mut ids = Vec::new();
    for (status, id) in replies {
        assert_eq!(status, StatusCode::CREATED);
        ids.push(id);
    }
    for id in &ids {
        let record = h.state.repo().get_transfer(id.parse().expect("id")).await.expect("get").expect("stored");
        assert_eq!(record.recipients.len(), 1, "delivered to the team once");
        let filter =
            AuditFilter { action: Some("transfer.upload".into()), target: Some(id.clone()), ..Default::default() };
        let events = h.state.repo().search_audit(&filter, None, 10).await.expect("search audit");
        assert_eq!(events.len(), 1, "one upload event for {id}");
    }
    assert_chain_holds(&h).await;
}

#[tokio::test]
async fn a_transfer_that_cannot_be_stored_fails_alone_and_those_committed_beside_it_are_kept() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let (taken, event) = new_transfer(&h, 0).await;
    h.state.repo().insert_transfer(&taken, &event).await.expect("the first insert");
    let mut items = Vec::new();
    for n in 1..=12 {
        items.push(new_transfer(&h, n).await);
    }
    // The seventh reuses the id already stored: it must fail, and only it.
    items[6].0.id = taken.id;
    items[6].1 = AuditEvent::new(h.now(), Actor::system("test"), "transfer.upload").target("transfer", taken.id);
    let outcomes = join_all(items.iter().map(|(t, a)| h.state.repo().insert_transfer(t, a))).await;
    for (n, outcome) in outcomes.iter().enumerate() {
        if n == 6 {
            assert!(matches!(outcome, Err(StoreError::Conflict(_))), "the duplicate is refused: {outcome:?}");
        } else {
            assert!(outcome.is_ok(), "transfer {n} is stored: {outcome:?}");
            assert!(exists(&h, items[n].0.id).await);
        }
    }
    let head = h.state.repo().audit_head().await.expect("head").0;
    let v = audit::verify(&h.state, None).await.expect("verify");
    assert!(v.holds(), "{v:?}");
    assert_eq!(v.count, head);
    let filter = AuditFilter { action: Some("transfer.upload".into()), ..Default::default() };
    let uploads = h.state.repo().search_audit(&filter, None, 100).await.expect("search audit");
    assert_eq!(uploads.len(), 12, "the first insert and the eleven that were stored, not the duplicate");
}

#[tokio::test]
async fn a_bulk_insert_stores_all_of_its_transfers_or_none() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let head_before = h.state.repo().audit_head().await.expect("head");
    let mut items = Vec::new();
    for n in 0..5 {
        items.push(new_transfer(&h, n).await);
    }
    let mut bad = items.clone();
    bad[4].0.id = bad[0].0.id;
    assert!(h.state.repo().insert_transfers(&bad).await.is_err(), "a duplicate id fails the lot");
    for (t, _) in &bad {
        assert!(!exists(&h, t.id).await, "nothing of a failed bulk insert is kept");
    }
    assert_eq!(h.state.repo().audit_head().await.expect("head"), head_before, "and nothing was audited");

    h.state.repo().insert_transfers(&items).await.expect("bulk insert");
    for (t, _) in &items {
        assert!(exists(&h, t.id).await);
    }
    assert_eq!(h.state.repo().audit_head().await.expect("head").0, head_before.0 + 5);
    assert_chain_holds(&h).await;
}
