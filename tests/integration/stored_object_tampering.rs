//! Someone with access to the object store changes, swaps or cuts stored objects. The server
//! must never hand out altered bytes as a successful download: it refuses before answering when
//! the damage is at the start, and breaks the response off when it is further in.

use std::path::PathBuf;

use crate::support::app::*;
use futures_util::StreamExt;
use reqwest::StatusCode;

const SEGMENT: usize = 64 * 1024;
/// Large enough for several segments, so damage can sit well past the first.
const SIZE: usize = 5 * SEGMENT + 123;

fn content(seed: u8) -> Vec<u8> {
    (0..SIZE).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Uploads a file and returns its id and the path of the one object file it added.
async fn upload_and_find_object(app: &TestApp, seed: u8) -> (String, PathBuf) {
    let before = files_under(&app.objects_dir());
    let t = app.upload_ok(&app.key_a, TEAM, &format!("file-{seed}.bin"), content(seed)).await;
    let after = files_under(&app.objects_dir());
    let added: Vec<_> = after.difference(&before).cloned().collect();
    assert_eq!(added.len(), 1, "one upload should add exactly one object file, added {added:?}");
    (t["id"].as_str().unwrap().to_owned(), app.objects_dir().join(&added[0]))
}

/// Reads a download to its end; Ok(bytes) only if the whole body arrived without error.
async fn read_all(resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
    }
    Ok(body)
}

/// Either the server refuses outright (5xx, no file bytes), or the body breaks off before the
/// end. In no case do the delivered bytes form a complete file.
async fn assert_not_delivered(app: &TestApp, id: &str, original: &[u8]) {
    let sent =
        app.request(reqwest::Method::GET, &app.key_team, &format!("/api/v1/transfers/{id}/content")).send().await;
    // The stream may be reset before the client has even read the headers.
    let Ok(resp) = sent else { return };
    let status = resp.status();
    if status == StatusCode::OK {
        if let Ok(body) = read_all(resp).await {
            panic!(
                "a damaged object was delivered as a complete 200 response ({} bytes, identical to the original: {})",
                body.len(),
                body == original
            );
        }
    } else {
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "a damaged object should be refused as a server error");
        let v = expect_error(resp, StatusCode::INTERNAL_SERVER_ERROR, Some("internal")).await;
        assert!(!v.to_string().contains("segment"), "internal detail must not leak: {v}");
    }
}

#[tokio::test]
async fn a_flipped_bit_in_the_first_segment_is_refused_before_any_byte_is_sent() {
    let app = TestApp::spawn();
    let (id, path) = upload_and_find_object(&app, 1).await;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let resp = app.download(&app.key_team, &id).await;
    expect_error(resp, StatusCode::INTERNAL_SERVER_ERROR, Some("internal")).await;
}

#[tokio::test]
async fn a_flipped_bit_deep_in_the_object_breaks_the_download_off() {
    let app = TestApp::spawn();
    let (id, path) = upload_and_find_object(&app, 2).await;
    let mut bytes = std::fs::read(&path).unwrap();
    let deep = bytes.len() - SEGMENT / 2;
    bytes[deep] ^= 0x80;
    std::fs::write(&path, bytes).unwrap();
    assert_not_delivered(&app, &id, &content(2)).await;
    // A range that stays clear of the damage still downloads correctly.
    let resp = app.download_range(&app.key_team, &id, "bytes=0-999").await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &content(2)[..1000]);
}

#[tokio::test]
async fn a_truncated_object_is_not_delivered() {
    let app = TestApp::spawn();
    let (id, path) = upload_and_find_object(&app, 3).await;
    let bytes = std::fs::read(&path).unwrap();
    // Cut exactly at a segment boundary, so what remains is a run of intact segments.
    let header_and_four = bytes.len() - (123 + 16) - (SEGMENT + 16);
    std::fs::write(&path, &bytes[..header_and_four]).unwrap();
    assert_not_delivered(&app, &id, &content(3)).await;
}

#[tokio::test]
async fn objects_swapped_between_two_transfers_open_for_neither() {
    let app = TestApp::spawn();
    let (id1, path1) = upload_and_find_object(&app, 4).await;
    let (id2, path2) = upload_and_find_object(&app, 5).await;
    let (b1, b2) = (std::fs::read(&path1).unwrap(), std::fs::read(&path2).unwrap());
    std::fs::write(&path1, &b2).unwrap();
    std::fs::write(&path2, &b1).unwrap();
    for id in [&id1, &id2] {
        let resp = app.download(&app.key_team, id).await;
        expect_error(resp, StatusCode::INTERNAL_SERVER_ERROR, Some("internal")).await;
    }
}

#[tokio::test]
async fn a_missing_object_is_a_server_error_not_an_empty_file() {
    let app = TestApp::spawn();
    let (id, path) = upload_and_find_object(&app, 6).await;
    std::fs::remove_file(&path).unwrap();
    let resp = app.download(&app.key_team, &id).await;
    expect_error(resp, StatusCode::INTERNAL_SERVER_ERROR, Some("internal")).await;
}
