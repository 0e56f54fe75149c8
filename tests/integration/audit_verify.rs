//! `pigeonpost audit verify` against a chain tampered with directly in the database, the way
//! someone with access to the database file would: editing, reordering and deleting events are
//! each caught at the event touched, and a consistent rewrite of the whole chain is caught by
//! the checkpoints kept outside the database.

use std::time::Duration;

use crate::support::app::*;
use pigeonpost::audit::chain::{link_hash, GENESIS};
use pigeonpost::store::meta::sql::SqlRepository;
use pigeonpost::store::meta::AuditStore;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::SqlitePool;

fn verify(app: &TestApp, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let out = app.cli(&args);
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn database(app: &TestApp) -> (SqlitePool, String) {
    let url = format!("sqlite://{}", app.data_path().join("pigeonpost.db").display());
    let pool = SqlitePoolOptions::new().max_connections(1).connect(&url).await.expect("open the database");
    // What an intruder does first: the triggers only stop honest mistakes.
    for t in ["audit_events_append_only_update", "audit_events_append_only_delete"] {
        sqlx::query(&format!("DROP TRIGGER {t}")).execute(&pool).await.expect("drop trigger");
    }
    (pool, url)
}

/// Swaps the places of two events (their sequence numbers are the table's row ids).
async fn swap(pool: &SqlitePool, a: i64, b: i64) {
    for (from, to) in [(a, -1), (b, a), (-1, b)] {
        sqlx::query("UPDATE audit_events SET seq = ? WHERE seq = ?").bind(to).bind(from).execute(pool).await.unwrap();
    }
}

#[tokio::test]
async fn tampering_with_audit_rows_is_caught_at_the_event_touched_and_a_rewrite_by_the_checkpoints() {
    let mut app = TestApp::builder().process();
    for n in 0..6 {
        app.upload_ok(&app.key_a, TEAM, &format!("return-{n}.csv"), b"upn,name\n".to_vec()).await;
    }
    let checkpoint = app.cli_ok(&["audit", "checkpoint"]);
    assert!(checkpoint.starts_with("checkpoint "), "{checkpoint}");
    app.sigterm();
    app.wait_for_exit(Duration::from_secs(20)).await.expect("the server stops");
    let checkpoints = app.data_path().join("audit-checkpoints.jsonl");
    let cp = checkpoints.to_str().unwrap().to_owned();

    let (ok, out) = verify(&app, &["--checkpoints", &cp]);
    assert!(ok, "an untouched chain holds: {out}");
    assert!(out.contains("the audit chain holds"), "{out}");

    let (pool, url) = database(&app).await;

    // An edited event.
    let original: String =
        sqlx::query_scalar("SELECT actor_id FROM audit_events WHERE seq = 3").fetch_one(&pool).await.unwrap();
    sqlx::query("UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 3").execute(&pool).await.unwrap();
    let (ok, out) = verify(&app, &[]);
    assert!(!ok && out.contains("BROKEN at event 3"), "{out}");
    sqlx::query("UPDATE audit_events SET actor_id = ? WHERE seq = 3").bind(&original).execute(&pool).await.unwrap();
    let (ok, out) = verify(&app, &[]);
    assert!(ok, "put back, it holds again: {out}");

    // Two events swapped.
    swap(&pool, 2, 5).await;
    let (ok, out) = verify(&app, &[]);
    assert!(!ok && out.contains("BROKEN at event 2"), "{out}");
    swap(&pool, 2, 5).await;
    assert!(verify(&app, &[]).0);

    // The whole chain rewritten consistently: every hash recomputed after a change.
    let repo = SqlRepository::sqlite(&url, 1, Duration::from_secs(5)).await.unwrap();
    let mut records = repo.audit_from(0, 1000).await.unwrap();
    records[1].stored.event.actor.id = "someone-else".into();
    let mut prev = GENESIS;
    for r in &records {
        let hash = link_hash(&prev, r.stored.seq, &r.stored.event, &r.details_json);
        sqlx::query("UPDATE audit_events SET actor_id = ?, prev_hash = ?, hash = ? WHERE seq = ?")
            .bind(&r.stored.event.actor.id)
            .bind(&prev[..])
            .bind(&hash[..])
            .bind(r.stored.seq as i64)
            .execute(&pool)
            .await
            .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE audit_head SET hash = ? WHERE id = 1").bind(&prev[..]).execute(&pool).await.unwrap();
    let (ok, out) = verify(&app, &[]);
    assert!(ok, "a consistent rewrite fools the chain alone: {out}");
    let (ok, out) = verify(&app, &["--checkpoints", &cp]);
    assert!(!ok && out.contains("CHECKPOINT") && out.contains("rewritten"), "{out}");

    // A deleted event.
    sqlx::query("DELETE FROM audit_events WHERE seq = 4").execute(&pool).await.unwrap();
    let (ok, out) = verify(&app, &[]);
    assert!(!ok && out.contains("BROKEN at event 4") && out.contains("missing"), "{out}");

    // A checkpoint line changed by someone without the keyring is refused for its seal.
    let line = std::fs::read_to_string(&checkpoints).unwrap().lines().next().unwrap().to_owned();
    let mut forged: serde_json::Value = serde_json::from_str(&line).unwrap();
    forged["seq"] = serde_json::json!(2);
    std::fs::write(&checkpoints, format!("{forged}\n")).unwrap();
    let (ok, out) = verify(&app, &["--checkpoints", &cp]);
    assert!(!ok && out.contains("broken seal"), "{out}");
}
