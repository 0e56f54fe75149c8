//! The real server on S3 (SeaweedFS from ops/test): files go up and come down through it, whole
//! and in ranges, the objects land in the bucket under the configured prefix and nowhere on
//! local disk, and /readyz reports the store.

use crate::support::app::*;
use pigeonpost::store::blob::s3::S3BlobStore;
use pigeonpost::store::BlobStore;
use reqwest::StatusCode;

#[tokio::test]
async fn the_server_stores_files_in_s3_and_serves_them_whole_and_in_ranges() {
    let test = "the_server_stores_files_in_s3_and_serves_them_whole_and_in_ranges";
    let Some(s3) = s3::settings(test) else { return };
    let env = [
        ("PIGEONPOST_STORAGE__KIND", "s3"),
        ("PIGEONPOST_STORAGE__S3__ENDPOINT", s3.endpoint.as_str()),
        ("PIGEONPOST_STORAGE__S3__BUCKET", s3.bucket.as_str()),
        ("PIGEONPOST_STORAGE__S3__PREFIX", s3.prefix.as_str()),
        ("PIGEONPOST_STORAGE__S3__REGION", s3.region.as_str()),
        ("PIGEONPOST_STORAGE__S3__FORCE_PATH_STYLE", "true"),
    ];
    let app = TestApp::builder().env(&env).serve();

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    let v = expect_json(ready, StatusCode::OK).await;
    assert_eq!(v["store"], "ok", "{v}");

    // One small file (a single PutObject) and one that takes a multipart upload of three parts.
    let small = b"URN,Name\n100001,Example Primary\n".to_vec();
    let small_t = app.upload_ok(&app.key_a, TEAM, "small.csv", small.clone()).await;
    let size = 20 * MIB + 4321;
    let pat = Pattern::new(61, size);
    let body = reqwest::Body::wrap_stream(pat.stream(256 * 1024));
    let big_t = expect_json(app.upload(&app.key_a, TEAM, "big.bin", body).await, StatusCode::CREATED).await;
    let (small_id, big_id) = (small_t["id"].as_str().unwrap(), big_t["id"].as_str().unwrap());

    assert_eq!(app.download_bytes(&app.key_team, small_id).await, small);
    let (n, sha) = hash_response(app.download(&app.key_team, big_id).await).await;
    assert_eq!((n, sha), (size, pat.sha256_hex()), "the 20 MiB file came back different");

    // A range across the store's first part boundary, and the last byte.
    let (first, last) = (8 * MIB - 1000, 8 * MIB + 70_000);
    let resp = app.download_range(&app.key_team, big_id, &format!("bytes={first}-{last}")).await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.bytes().await.unwrap().to_vec(), pat.slice(first, last + 1));
    let resp = app.download_range(&app.key_team, big_id, "bytes=-1").await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.bytes().await.unwrap().to_vec(), pat.slice(size - 1, size));

    // The objects are in the bucket under the prefix, and none on local disk.
    let store = S3BlobStore::connect(&s3).await.unwrap();
    assert_eq!(store.list().await.unwrap().len(), 2);
    let local = files_under(&app.objects_dir());
    assert!(local.is_empty(), "objects written to local disk: {local:?}");
}

#[tokio::test]
async fn a_server_whose_bucket_is_missing_starts_but_is_not_ready() {
    let test = "a_server_whose_bucket_is_missing_starts_but_is_not_ready";
    let Some(s3) = s3::settings(test) else { return };
    let bucket = format!("missing-{}", uuid::Uuid::new_v4().simple());
    let env = [
        ("PIGEONPOST_STORAGE__KIND", "s3"),
        ("PIGEONPOST_STORAGE__S3__ENDPOINT", s3.endpoint.as_str()),
        ("PIGEONPOST_STORAGE__S3__BUCKET", bucket.as_str()),
        ("PIGEONPOST_STORAGE__S3__FORCE_PATH_STYLE", "true"),
    ];
    let app = TestApp::builder().env(&env).serve();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    let v = expect_json(ready, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!((v["store"].as_str(), v["database"].as_str()), (Some("unavailable"), Some("ok")), "{v}");
    let resp = app.upload(&app.key_a, TEAM, "refused.csv", b"a,b\n".to_vec()).await;
    expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")).await;
}
