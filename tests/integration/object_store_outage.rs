//! The object store stops answering: requests that need it get 503 with a message, never a
//! hang or a half-kept file, and service resumes by itself when the store is back.

use crate::support::app::*;
use reqwest::StatusCode;

#[tokio::test]
async fn uploads_get_503_while_the_store_is_gone_and_work_again_after() {
    let app = TestApp::spawn();
    let before = app.upload_ok(&app.key_a, TEAM, "before.csv", b"before".to_vec()).await;

    // The local store writes uploads in progress under tmp/; take it away.
    let tmp = app.tmp_dir();
    let parked = app.data_path().join("tmp-parked");
    std::fs::rename(&tmp, &parked).unwrap();

    let resp = app.upload(&app.key_a, TEAM, "during.csv", b"during".to_vec()).await;
    let v = expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")).await;
    assert!(
        !v["message"].as_str().unwrap().contains("No such file"),
        "the cause belongs in the log, not the answer: {v}"
    );

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    let v = expect_json(ready, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(v["store"], "unavailable");
    assert_eq!(v["database"], "ok");

    std::fs::rename(&parked, &tmp).unwrap();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    app.upload_ok(&app.key_a, TEAM, "after.csv", b"after".to_vec()).await;

    let names: Vec<String> = app
        .list_all(&app.key_team, "inbox", None)
        .await
        .iter()
        .map(|t| t["filename"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["after.csv", "before.csv"], "the refused upload must not be listed");
    assert_eq!(app.download_bytes(&app.key_team, before["id"].as_str().unwrap()).await, b"before");
}
