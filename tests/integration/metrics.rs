//! `/metrics` answers on its own loopback listener in the Prometheus text format, and the
//! public port has no such page.

use crate::support::app::*;
use reqwest::StatusCode;

fn free_loopback_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn the_metrics_listener_counts_requests_bytes_and_transfers_after_an_upload() {
    let port = free_loopback_port();
    let listen = format!("127.0.0.1:{port}");
    let app = TestApp::builder().env(&[("PIGEONPOST_METRICS_LISTEN", listen.as_str())]).process();
    let body = b"URN,Name\n100001,Example Primary\n".to_vec();
    let t = app.upload_ok(&app.key_a, TEAM, "census.csv", body.clone()).await;
    assert_eq!(app.download_bytes(&app.key_team, t["id"].as_str().unwrap()).await, body);

    let resp = reqwest::get(format!("http://{listen}/metrics")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(header(resp.headers(), "content-type").is_some_and(|v| v.starts_with("text/plain; version=0.0.4")));
    let text = resp.text().await.unwrap();
    for family in [
        "# TYPE pigeonpost_http_requests_total counter",
        "# TYPE pigeonpost_http_request_duration_seconds histogram",
        "# TYPE pigeonpost_upload_bytes_total counter",
        "# TYPE pigeonpost_download_bytes_total counter",
        "# TYPE pigeonpost_transfers_stored_total counter",
        "# TYPE pigeonpost_worker_runs_total counter",
    ] {
        assert!(text.contains(family), "no {family:?} in:\n{text}");
    }
    let upload = r#"pigeonpost_http_requests_total{method="POST",route="/api/v1/transfers",status="201"} 1"#;
    assert!(text.contains(upload), "the upload is not counted by its route:\n{text}");
    assert!(text.contains("pigeonpost_transfers_stored_total 1"), "{text}");
    assert!(text.contains(&format!("pigeonpost_upload_bytes_total {}", body.len())), "{text}");
    assert!(text.contains(&format!("pigeonpost_download_bytes_total {}", body.len())), "{text}");
    assert!(text.contains(r#"pigeonpost_worker_runs_total{worker="orphan_sweep"}"#), "{text}");
    assert!(!text.contains(t["id"].as_str().unwrap()), "a transfer id became a label");
}

#[tokio::test]
async fn the_public_port_has_no_metrics_page() {
    let port = free_loopback_port();
    let listen = format!("127.0.0.1:{port}");
    let app = TestApp::builder().env(&[("PIGEONPOST_METRICS_LISTEN", listen.as_str())]).process();
    let anonymous = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::NOT_FOUND);
    let text = anonymous.text().await.unwrap();
    assert!(!text.contains("pigeonpost_http_requests_total"), "{text}");
    let signed_in = app.request(reqwest::Method::GET, &app.key_a, "/metrics").send().await.unwrap();
    assert_eq!(signed_in.status(), StatusCode::NOT_FOUND);
    let text = signed_in.text().await.unwrap();
    assert!(!text.contains("pigeonpost_http_requests_total"), "{text}");
}
