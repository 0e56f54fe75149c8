//! Upload and download 1 GiB and check the server's peak resident memory stays small, on the
//! local directory store and on S3 (SeaweedFS from ops/test, as multipart uploads and ranged
//! reads).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::support::app::*;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    line.split_whitespace().nth(1).unwrap().parse().expect("VmHWM value")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_gib_round_trip_keeps_server_peak_memory_under_100_mib() {
    round_trip(&TestApp::builder().process(), "local directory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_gib_round_trip_through_s3_keeps_server_peak_memory_under_100_mib() {
    let test = "a_1_gib_round_trip_through_s3_keeps_server_peak_memory_under_100_mib";
    let Some(s3) = s3::settings(test) else { return };
    let env = s3::server_env(&s3, None);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = TestApp::builder().env(&env).process();
    round_trip(&app, "S3").await;
    assert!(files_under(&app.objects_dir()).is_empty(), "the S3 store wrote objects to local disk");
}

async fn round_trip(app: &TestApp, store: &str) {
    let size = 1024 * MIB;
    let pat = Pattern::new(2024, size);
    let hasher = Arc::new(Mutex::new(Sha256::new()));
    let progress = Arc::new(AtomicU64::new(0));
    let ctl = StreamControl { hasher: Some(hasher.clone()), progress: Some(progress.clone()), ..Default::default() };

    let t0 = Instant::now();
    let resp =
        app.upload(&app.key_a, TEAM, "one-gib.bin", reqwest::Body::wrap_stream(pat.stream_with(256 * 1024, ctl))).await;
    let t = expect_json(resp, StatusCode::CREATED).await;
    let up = t0.elapsed().as_secs_f64();
    let sent_sha = hex::encode(hasher.lock().unwrap().clone().finalize());
    assert_eq!(progress.load(Ordering::SeqCst), size);
    assert_eq!(t["size"].as_u64(), Some(size), "{t}");
    assert_eq!(t["sha256"].as_str(), Some(sent_sha.as_str()), "{t}");
    let hwm_after_upload = vm_hwm_kib(app.pid());

    let t1 = Instant::now();
    let resp = app.download(&app.key_team, t["id"].as_str().unwrap()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (n, sha) = hash_response(resp).await;
    let down = t1.elapsed().as_secs_f64();
    assert_eq!(n, size);
    assert_eq!(sha, sent_sha, "1 GiB download differs from the upload");

    let hwm = vm_hwm_kib(app.pid());
    let mib = hwm as f64 / 1024.0;
    println!(
        "1 GiB on the {store} store: upload {:.1} MB/s ({up:.1} s), download {:.1} MB/s ({down:.1} s); \
         server VmHWM {mib:.1} MiB (after upload {:.1} MiB)",
        size as f64 / 1e6 / up,
        size as f64 / 1e6 / down,
        hwm_after_upload as f64 / 1024.0
    );
    assert!(mib < 100.0, "server peak RSS {mib:.1} MiB is not under 100 MiB");
}
