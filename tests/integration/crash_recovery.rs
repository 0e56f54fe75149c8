//! SIGKILL mid-upload, restart, and check that acknowledged data survives while partial uploads
//! and orphaned objects are cleaned up.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::app::*;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_upload_keeps_acknowledged_files_and_sweeps_the_leftovers() {
    // Short leases: the killed server's hold on the sweep must run out within the test.
    let mut app = TestApp::builder().env(&[("PIGEONPOST_WORKERS__LEASE_SECS", "3")]).process();

    // 1. A few acknowledged uploads.
    let mut acknowledged = Vec::new();
    for (i, size) in [10_000u64, MIB, 3 * MIB + 17].into_iter().enumerate() {
        let pat = Pattern::new(40 + i as u64, size);
        let body = pat.bytes();
        let t = app.upload_ok(&app.key_a, TEAM, &format!("ack-{i}.bin"), body.clone()).await;
        assert_eq!(t["sha256"].as_str(), Some(sha256_hex(&body).as_str()));
        acknowledged.push((t["id"].as_str().unwrap().to_string(), body));
    }
    let acknowledged_objects = files_under(&app.objects_dir());
    assert!(
        acknowledged_objects.len() >= acknowledged.len(),
        "expected at least one object file per acknowledged transfer: {acknowledged_objects:?}"
    );
    let cert_before = app.dev_cert_pem();

    // 2. A large streaming upload that stalls after 16 MiB; SIGKILL once the server has
    //    visibly started writing it to tmp/.
    let stall_at = 16 * MIB;
    let progress = Arc::new(AtomicU64::new(0));
    let gate = Gate::new(); // never opened: the upload stalls forever
    let ctl = StreamControl {
        progress: Some(progress.clone()),
        gate_at: Some(stall_at),
        gate: Some(gate.clone()),
        ..Default::default()
    };
    let body = reqwest::Body::wrap_stream(Pattern::new(99, 512 * MIB).stream_with(256 * 1024, ctl));
    let req = app.upload_request(&app.key_a, TEAM, "partial.bin").body(body);
    let upload = tokio::spawn(async move { req.send().await });

    let tmp_dir = app.tmp_dir();
    let started = poll_until(Duration::from_secs(30), || {
        progress.load(Ordering::SeqCst) >= stall_at
            && files_under(&tmp_dir)
                .iter()
                .any(|f| std::fs::metadata(tmp_dir.join(f)).map(|m| m.len() > 0).unwrap_or(false))
    })
    .await;
    assert!(
        started,
        "the in-flight upload never showed up as a non-empty file under tmp/ (sent {} bytes; tmp: {:?})",
        progress.load(Ordering::SeqCst),
        files_under(&tmp_dir)
    );
    app.sigkill();
    let res = tokio::time::timeout(Duration::from_secs(10), upload)
        .await
        .expect("client did not notice the server died")
        .expect("upload task");
    if let Ok(resp) = &res {
        panic!("the interrupted upload got an HTTP answer: {}", resp.status());
    }
    let leftover_tmp: BTreeSet<PathBuf> = files_under(&app.tmp_dir());
    assert!(!leftover_tmp.is_empty(), "expected a leftover tmp file after SIGKILL");

    // 3. Plant an orphan: a copy of a real object under a fresh UUID with the right prefix.
    let source = acknowledged_objects.iter().next().unwrap();
    let orphan_id = uuid::Uuid::new_v4().to_string();
    let orphan_rel = PathBuf::from("objects").join(&orphan_id[..2]).join(&orphan_id);
    let orphan = app.data_path().join(&orphan_rel);
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::copy(app.objects_dir().join(source), &orphan).unwrap();

    // 4. Restart with an aggressive sweep. The killed server still holds the sweep's lease in
    // the database; the new process takes it over once it expires (3 s here).
    app.restart(&[
        ("PIGEONPOST_WORKERS__ORPHAN_GRACE_SECS", "0"),
        ("PIGEONPOST_WORKERS__ORPHAN_SWEEP_INTERVAL_SECS", "1"),
    ]);
    assert_eq!(app.dev_cert_pem(), cert_before, "the dev certificate changed on restart");

    // The partial transfer is not listed anywhere.
    let expected_ids: Vec<String> = acknowledged.iter().rev().map(|(id, _)| id.clone()).collect();
    assert_eq!(app.list_ids(&app.key_team, "inbox").await, expected_ids, "team inbox after crash");
    assert_eq!(app.list_ids(&app.key_a, "sent").await, expected_ids, "school sent box after crash");

    // Every acknowledged transfer downloads byte-identical.
    for (id, body) in &acknowledged {
        let got = app.download_bytes(&app.key_team, id).await;
        assert!(got == *body, "transfer {id} changed after the crash");
    }

    // 5. Within a bounded wait the orphan and the tmp leftovers go; acknowledged objects stay.
    let objects_dir = app.objects_dir();
    let tmp_dir = app.tmp_dir();
    let swept = poll_until(Duration::from_secs(20), || {
        let tmp_now = files_under(&tmp_dir);
        !orphan.exists() && leftover_tmp.iter().all(|f| !tmp_now.contains(f))
    })
    .await;
    assert!(
        swept,
        "after 20 s: orphan exists = {}, tmp now = {:?} (leftovers were {:?})",
        orphan.exists(),
        files_under(&tmp_dir),
        leftover_tmp
    );
    let objects_now = files_under(&objects_dir);
    for f in &acknowledged_objects {
        assert!(objects_now.contains(f), "the sweep deleted an acknowledged object {}", f.display());
    }
    // And they still decrypt after the sweep ran.
    for (id, body) in &acknowledged {
        let got = app.download_bytes(&app.key_team, id).await;
        assert!(got == *body, "transfer {id} unreadable after the sweep");
    }
    let resp = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_grace_period_protects_young_orphans() {
    let mut app = TestApp::builder().env(&[("PIGEONPOST_WORKERS__ORPHAN_SWEEP_INTERVAL_SECS", "1")]).process();
    app.upload_ok(&app.key_a, TEAM, "real.bin", Pattern::new(1, 5000).bytes()).await;
    let objects = files_under(&app.objects_dir());
    let source = objects.iter().next().expect("an object file");
    let orphan_id = uuid::Uuid::new_v4().to_string();
    let orphan = app.objects_dir().join(&orphan_id[..2]).join(&orphan_id);
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::copy(app.objects_dir().join(source), &orphan).unwrap();
    // Restart so the sweep surely runs (at start or after 1 s) with the default 3600 s grace.
    // A clean stop gives the sweep's lease up, so the new process takes it at once.
    app.sigterm();
    assert!(app.wait_for_exit(Duration::from_secs(30)).await.is_some(), "the server did not stop on SIGTERM");
    app.start_server(&[]);
    let gone = poll_until(Duration::from_secs(4), || !orphan.exists()).await;
    assert!(!gone, "an orphan younger than the grace period was deleted");
    assert!(files_under(&app.objects_dir()).is_superset(&objects));
}
