//! SIGTERM / SIGINT handling: in-flight requests finish, new connections are refused, exit 0.

use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::app::*;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

fn describe(status: std::process::ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => format!("{status:?}"),
    }
}

/// One fresh connection (no pooling) to /healthz; Ok(()) if it was served with 200.
async fn probe_new_connection(app: &TestApp) -> Result<(), String> {
    let client = app
        .client_builder()
        .pool_max_idle_per_host(0)
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    match client.get(app.url("/healthz")).send().await {
        Ok(r) if r.status() == StatusCode::OK => Ok(()),
        Ok(r) => Err(format!("status {}", r.status())),
        Err(e) => Err(format!("{e:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_in_flight_at_sigterm_completes_and_the_server_then_exits_zero() {
    in_flight_upload_survives_sigterm(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http1_upload_in_flight_at_sigterm_completes_and_the_server_then_exits_zero() {
    in_flight_upload_survives_sigterm(true).await;
}

async fn in_flight_upload_survives_sigterm(http1: bool) {
    let grace = 10u64;
    let mut app = TestApp::builder().env(&[("PIGEONPOST_SHUTDOWN_GRACE_SECS", "10")]).process();
    probe_new_connection(&app).await.expect("server reachable before the signal");

    // 8 MiB in 128 KiB chunks, 30 ms apart (~2 s); it pauses at 4 MiB until the test has
    // checked that new connections are refused, so the signal surely lands mid-upload.
    let size = 8 * MIB;
    let half = 4 * MIB;
    let pat = Pattern::new(11, size);
    let progress = Arc::new(AtomicU64::new(0));
    let hasher = Arc::new(Mutex::new(Sha256::new()));
    let gate = Gate::new();
    let ctl = StreamControl {
        delay: Some(Duration::from_millis(30)),
        progress: Some(progress.clone()),
        hasher: Some(hasher.clone()),
        gate_at: Some(half),
        gate: Some(gate.clone()),
    };
    let client = if http1 { app.client_builder().http1_only().build().unwrap() } else { app.client.clone() };
    let req = app
        .upload_request_via(&client, &app.key_a, TEAM, "slow.bin")
        .body(reqwest::Body::wrap_stream(pat.stream_with(128 * 1024, ctl)));
    let upload = tokio::spawn(async move {
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        Ok::<_, reqwest::Error>((status, text))
    });

    let p = progress.clone();
    assert!(poll_until(Duration::from_secs(20), || p.load(Ordering::SeqCst) >= half).await, "upload never got going");
    let signalled = Instant::now();
    app.sigterm();

    // New connections stop being served (poll with a deadline; each probe is a new connection).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last_ok = true;
    while Instant::now() < deadline {
        match probe_new_connection(&app).await {
            Ok(()) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(_) => {
                last_ok = false;
                break;
            }
        }
    }
    assert!(!last_ok, "a new connection was still served 5 s after SIGTERM");
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port())).await;
    println!("after SIGTERM, a raw TCP connect gives: {:?}", tcp.as_ref().map(|_| "connected"));

    // Let the rest of the upload flow; it must still be acknowledged.
    gate.open();
    let (status, text) = tokio::time::timeout(Duration::from_secs(grace), upload)
        .await
        .expect("in-flight upload did not finish within the grace period")
        .expect("upload task")
        .expect("in-flight upload was cut off by SIGTERM");
    assert_eq!(status, StatusCode::CREATED, "in-flight upload answer: {text}");
    let t: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sent_sha = hex::encode(hasher.lock().unwrap().clone().finalize());
    assert_eq!(progress.load(Ordering::SeqCst), size);
    assert_eq!(t["size"].as_u64(), Some(size));
    assert_eq!(t["sha256"].as_str(), Some(sent_sha.as_str()));

    // The process exits 0 within the grace period (our pooled client connection stays open).
    let left = Duration::from_secs(grace + 2).saturating_sub(signalled.elapsed());
    let status =
        app.wait_for_exit(left).await.unwrap_or_else(|| panic!("server still running {grace}+2 s after SIGTERM"));
    println!("server exited {:.2} s after SIGTERM", signalled.elapsed().as_secs_f64());
    assert!(status.success(), "server exit status after SIGTERM: {}", describe(status));

    // After a restart the file is there, intact.
    app.restart(&[]);
    let id = t["id"].as_str().unwrap();
    let resp = app.download(&app.key_team, id).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (n, sha) = hash_response(resp).await;
    assert_eq!(n, size);
    assert_eq!(sha, sent_sha, "the upload acknowledged during shutdown is not intact");
    assert_eq!(sha, pat.sha256_hex());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_server_exits_zero_promptly_on_sigterm_and_on_sigint() {
    let mut app = TestApp::builder().process();
    for sig in ["TERM", "INT"] {
        // Leave a pooled keep-alive connection open, as real clients do.
        let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let t0 = Instant::now();
        app.signal(sig);
        let status = app
            .wait_for_exit(Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("idle server still running 5 s after SIG{sig}"));
        println!("idle server exited {:.2} s after SIG{sig}", t0.elapsed().as_secs_f64());
        assert!(status.success(), "exit after SIG{sig}: {}", describe(status));
        app.restart(&[]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_cannot_hold_shutdown_beyond_the_grace_period() {
    let grace = 2u64;
    let mut app = TestApp::builder().env(&[("PIGEONPOST_SHUTDOWN_GRACE_SECS", "2")]).process();
    let progress = Arc::new(AtomicU64::new(0));
    let ctl = StreamControl {
        progress: Some(progress.clone()),
        gate_at: Some(MIB),
        gate: Some(Gate::new()), // never opened
        ..Default::default()
    };
    let req = app
        .upload_request(&app.key_a, TEAM, "stalled.bin")
        .body(reqwest::Body::wrap_stream(Pattern::new(12, 64 * MIB).stream_with(64 * 1024, ctl)));
    let upload = tokio::spawn(async move { req.send().await.map(|r| r.status()) });
    let p = progress.clone();
    assert!(poll_until(Duration::from_secs(20), || p.load(Ordering::SeqCst) >= MIB).await);

    let t0 = Instant::now();
    app.sigterm();
    let status = app
        .wait_for_exit(Duration::from_secs(grace + 3))
        .await
        .unwrap_or_else(|| panic!("a stalled upload held the server past grace ({grace} s) + 3 s"));
    let took = t0.elapsed();
    println!("server exited {:.2} s after SIGTERM with a stalled upload", took.as_secs_f64());
    assert!(status.success(), "exit after grace expiry: {}", describe(status));
    let res = tokio::time::timeout(Duration::from_secs(5), upload).await.expect("client hung");
    if let Ok(Ok(code)) = res {
        assert_ne!(code, StatusCode::CREATED, "a stalled, incomplete upload was acknowledged");
    }

    app.restart(&[]);
    assert!(app.list_ids(&app.key_team, "inbox").await.is_empty(), "partial upload listed");
    assert!(app.list_ids(&app.key_a, "sent").await.is_empty(), "partial upload listed");
}
