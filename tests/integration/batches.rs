//! Batch drops end to end: an automated job sends a checking file for every school at once, as a
//! multipart form or one zip; each file reaches the school its name starts with, and what cannot
//! be routed waits in the sender's quarantine, never dropped and never guessed.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use crate::support::app::*;
use crate::support::people;
use pigeonpost::domain::OrgKind;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PDF_HEAD: &[u8] = b"%PDF-1.4\n";

fn pdf_for(school: &str) -> Vec<u8> {
    let mut body = PDF_HEAD.to_vec();
    body.extend_from_slice(format!("KS2 checking data for {school}\n%%EOF\n").as_bytes());
    body
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gias").join(name)
}

/// The register fixture (which closes 825/2005 and links it to its academy 825/4005) plus `n`
/// invented open primary schools 825/5000.. with URNs 700000..
fn import_schools(app: &TestApp, n: u32) {
    // Known before its conversion, as every school the LA had is.
    people::organisation(app, OrgKind::School, "825/2005", "Fernhill Junior School");
    let mut csv = std::fs::read(fixture("establishments.csv")).unwrap();
    for i in 0..n {
        let row = format!(
            "{urn},825,Buckinghamshire,{est},Batch Test School {i},1,Community school,4,Local authority maintained schools,\
             1,Open,,Not applicable,,,Not applicable,,2,Primary,4,11,Mixed,Does not apply,1 High Street,Ashbury,ZZ99 3ZZ\r\n",
            urn = 700_000 + i,
            est = 5000 + i,
        );
        csv.extend_from_slice(row.as_bytes());
    }
    people::import_register(app, csv, Some(std::fs::read(fixture("links.csv")).unwrap()));
}

fn team_key(app: &TestApp) -> String {
    people::all_channels_key(app, TEAM, "checking-job")
}

fn school_key(app: &TestApp, org: &str) -> String {
    let name = format!("mis-{}", org.replace('/', ""));
    people::all_channels_key(app, org, &name)
}

const BOUNDARY: &str = "pigeonpost-test-boundary-7d1f";

fn multipart(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    // A plain form field is not a file, and is passed over.
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nKS2 2026\r\n").as_bytes(),
    );
    for (name, content) in files {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn send_multipart(app: &TestApp, key: &str, channel: &str, files: &[(String, Vec<u8>)]) -> reqwest::Response {
    app.request(Method::POST, key, "/api/v1/batches")
        .query(&[("channel", channel)])
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(multipart(files))
        .send()
        .await
        .unwrap()
}

async fn send_zip(app: &TestApp, key: &str, zip: Vec<u8>) -> reqwest::Response {
    app.request(Method::POST, key, "/api/v1/batches")
        .query(&[("channel", "checking-files")])
        .header("content-type", "application/zip")
        .body(zip)
        .send()
        .await
        .unwrap()
}

fn by_name(report: &Value) -> HashMap<String, Value> {
    report["results"].as_array().unwrap().iter().map(|r| (r["name"].as_str().unwrap().to_owned(), r.clone())).collect()
}

async fn quarantine(app: &TestApp, key: &str) -> Vec<Value> {
    let page =
        expect_json(app.request(Method::GET, key, "/api/v1/quarantine").send().await.unwrap(), StatusCode::OK).await;
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_batch_of_300_checking_files_reaches_each_school_and_quarantines_what_cannot_be_routed() {
    let app = TestApp::spawn();
    import_schools(&app, 300);
    let job = team_key(&app);

    let mut files: Vec<(String, Vec<u8>)> = (0..293)
        .map(|i| {
            let dfe = format!("825{}", 5000 + i);
            (format!("{dfe}_KS2_checking.pdf"), pdf_for(&dfe))
        })
        .collect();
    files.push(("700295_KS2_checking.pdf".into(), pdf_for("URN 700295")));
    files.push(("8252005_KS2_checking.pdf".into(), pdf_for("old number")));
    files.push(("KS2_checking.pdf".into(), pdf_for("nobody")));
    files.push(("8255010_8255011_KS2.pdf".into(), pdf_for("two schools")));
    files.push(("8259999_KS2_checking.pdf".into(), pdf_for("unknown")));
    files.push(("8255296_KS2_checking.exe".into(), b"MZ\x90\x00".to_vec()));
    files.push(("8255297_KS2_checking.pdf".into(), b"not a pdf at all".to_vec()));
    assert_eq!(files.len(), 300);

    let report = expect_json(send_multipart(&app, &job, "checking-files", &files).await, StatusCode::OK).await;
    assert_eq!(report["files"], 300, "one line per file, the form field passed over");
    let counts = (report["delivered"].as_u64(), report["quarantined"].as_u64());
    assert_eq!(counts, (Some(295), Some(5)), "{:#?}", &report["results"].as_array().unwrap()[293..]);
    assert_eq!(report["refused"], 0);
    let results = by_name(&report);
    for i in 0..293 {
        let r = &results[&format!("825{}_KS2_checking.pdf", 5000 + i)];
        assert_eq!(r["outcome"], "delivered");
        assert_eq!(r["to"], format!("825/{}", 5000 + i));
        assert_eq!(r["filename"], "KS2_checking.pdf", "the routing prefix is stripped");
    }
    assert_eq!(results["700295_KS2_checking.pdf"]["to"], "825/5295", "routed by URN");
    let forwarded = &results["8252005_KS2_checking.pdf"];
    assert_eq!(forwarded["to"], "825/4005", "an old number reaches the academy that carries the school on");
    let note = forwarded["note"].as_str().unwrap();
    assert!(note.contains("825/2005") && note.contains("825/4005"), "{note}");
    for (name, code) in [
        ("KS2_checking.pdf", "no_number"),
        ("8255010_8255011_KS2.pdf", "ambiguous_name"),
        ("8259999_KS2_checking.pdf", "unknown_school"),
        ("8255296_KS2_checking.exe", "type_not_allowed"),
        ("8255297_KS2_checking.pdf", "content_mismatch"),
    ] {
        assert_eq!(results[name]["outcome"], "quarantined", "{name}");
        assert_eq!(results[name]["code"], code, "{name}");
        assert!(results[name]["reason"].as_str().unwrap().contains(':'), "says what to do: {}", results[name]);
    }

    // Each school sees its own file and no other.
    let first = school_key(&app, "825/5000");
    let inbox = app.list_all(&first, "inbox", None).await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["filename"], "KS2_checking.pdf");
    assert_eq!(app.download_bytes(&first, inbox[0]["id"].as_str().unwrap()).await, pdf_for("8255000"));
    let neighbours_file = results["8255001_KS2_checking.pdf"]["transfer"].as_str().unwrap();
    expect_error(app.download(&first, neighbours_file).await, StatusCode::NOT_FOUND, None).await;

    // The quarantine holds the five, for the sender only.
    let held = quarantine(&app, &job).await;
    assert_eq!(held.len(), 5);
    assert!(held.iter().all(|t| t["quarantine"]["code"].is_string() && t["recipient"].is_null()));
    assert!(quarantine(&app, &first).await.is_empty(), "a school sees none of the team's quarantine");
    let sent = app.list_all(&job, "sent", None).await;
    assert_eq!(sent.len(), 295, "held files are not sent items");

    // Re-route the unknown one to a chosen school; a school cannot do it for the team.
    let unknown = results["8259999_KS2_checking.pdf"]["transfer"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/quarantine/{unknown}/route");
    let resp = app.request(Method::POST, &first, &path).json(&json!({"to": "825/5000"})).send().await.unwrap();
    expect_error(resp, StatusCode::NOT_FOUND, None).await;
    let resp = app.request(Method::POST, &job, &path).json(&json!({"to": "825/5299"})).send().await.unwrap();
    let routed = expect_json(resp, StatusCode::OK).await;
    assert_eq!(routed["recipient"]["ref"], "825/5299");
    assert_eq!(routed["filename"], "KS2_checking.pdf");
    assert!(routed["quarantine"].is_null());
    let last = school_key(&app, "825/5299");
    assert_eq!(app.download_bytes(&last, &unknown).await, pdf_for("unknown"));
    let again = app.request(Method::POST, &job, &path).json(&json!({"to": "825/5298"})).send().await.unwrap();
    expect_error(again, StatusCode::NOT_FOUND, None).await;

    // A file held for its content cannot be re-routed: it must be sent again.
    let mismatch = results["8255297_KS2_checking.pdf"]["transfer"].as_str().unwrap();
    let resp = app
        .request(Method::POST, &job, &format!("/api/v1/quarantine/{mismatch}/route"))
        .json(&json!({"to": "825/5297"}))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, Some("not_reroutable")).await;

    // Discarding destroys the file.
    let exe = results["8255296_KS2_checking.exe"]["transfer"].as_str().unwrap();
    let resp = app.request(Method::DELETE, &job, &format!("/api/v1/quarantine/{exe}")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let gone = expect_json(app.metadata(&job, exe).await, StatusCode::OK).await;
    assert_eq!(gone["state"], "withdrawn");
    assert_eq!(quarantine(&app, &job).await.len(), 3);

    // The report can be fetched again by its sender only.
    let path = format!("/api/v1/batches/{}", report["batch"].as_str().unwrap());
    let again = expect_json(app.request(Method::GET, &job, &path).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(again["results"], report["results"]);
    expect_error(app.request(Method::GET, &first, &path).send().await.unwrap(), StatusCode::NOT_FOUND, None).await;
}

fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        out.start_file(*name, options).unwrap();
        out.write_all(content).unwrap();
    }
    out.finish().unwrap().into_inner()
}

#[tokio::test]
async fn a_zip_batch_delivers_its_files_and_refuses_zip_slip_bombs_and_nested_archives_safely() {
    let app = TestApp::spawn();
    let job = team_key(&app);
    let mut bomb = PDF_HEAD.to_vec();
    bomb.resize(48 << 20, 0);
    let inner = zip_of(&[("8252001_inner.pdf", pdf_for("inner"))]);
    let zip = zip_of(&[
        ("8252001_KS2.pdf", pdf_for("8252001")),
        ("by-school/8252002_KS2.pdf", pdf_for("8252002")),
        ("../8252001_slip.pdf", pdf_for("slip")),
        ("/etc/8252001_absolute.pdf", pdf_for("absolute")),
        ("C:/Users/8252001_drive.pdf", pdf_for("drive")),
        ("8252001_bomb.pdf", bomb),
        ("8252002_nested.zip", inner),
        ("unnamed.pdf", pdf_for("nobody")),
    ]);
    let objects_before = files_under(&app.objects_dir()).len();
    let report = expect_json(send_zip(&app, &job, zip).await, StatusCode::OK).await;
    let results = by_name(&report);
    assert_eq!(results["8252001_KS2.pdf"]["to"], SCHOOL_A);
    assert_eq!(results["by-school/8252002_KS2.pdf"]["to"], SCHOOL_B, "folders in the zip are flattened");
    for name in ["../8252001_slip.pdf", "/etc/8252001_absolute.pdf", "C:/Users/8252001_drive.pdf"] {
        assert_eq!(results[name]["outcome"], "refused", "{name}");
        assert_eq!(results[name]["code"], "unsafe_name", "{name}");
    }
    assert_eq!(results["8252001_bomb.pdf"]["code"], "compression_ratio");
    assert_eq!(results["8252002_nested.zip"]["code"], "nested_archive");
    assert_eq!(results["unnamed.pdf"]["outcome"], "quarantined");
    assert_eq!(
        (report["delivered"].as_u64(), report["quarantined"].as_u64(), report["refused"].as_u64()),
        (Some(2), Some(1), Some(5))
    );

    // Only what was delivered or quarantined is stored; nothing of the refused, and no spool.
    assert_eq!(files_under(&app.objects_dir()).len() - objects_before, 3);
    assert!(
        files_under(app.data_path()).iter().all(|p| !p.to_string_lossy().contains("spool")),
        "the spool leaves nothing on disk"
    );
    let inbox = app.list_all(&app.key_a, "inbox", None).await;
    assert!(inbox.iter().all(|t| t["channel"] != "checking-files"), "general-only keys see no checking files");
    let school = school_key(&app, SCHOOL_A);
    let inbox = app.list_all(&school, "inbox", None).await;
    assert_eq!(inbox.len(), 1, "only the one safe file reached 825/2001: {inbox:?}");
    assert_eq!(app.download_bytes(&school, inbox[0]["id"].as_str().unwrap()).await, pdf_for("8252001"));
}

#[tokio::test]
async fn a_batch_that_is_not_a_zip_or_not_allowed_is_refused_whole_and_keeps_nothing() {
    let app = TestApp::spawn();
    let job = team_key(&app);
    let objects_before = files_under(&app.objects_dir());

    let not_zip = send_zip(&app, &job, b"this is not an archive".to_vec()).await;
    let v = expect_error(not_zip, StatusCode::UNPROCESSABLE_ENTITY, Some("not_a_zip")).await;
    assert!(v["message"].as_str().unwrap().contains("zip the files again"), "{v}");
    let empty = send_zip(&app, &job, zip_of(&[])).await;
    expect_error(empty, StatusCode::UNPROCESSABLE_ENTITY, Some("empty_batch")).await;

    let files = vec![("8252001_x.pdf".to_owned(), pdf_for("x"))];
    let general = send_multipart(&app, &job, "general", &files).await;
    expect_error(general, StatusCode::UNPROCESSABLE_ENTITY, Some("batches_not_supported")).await;
    let school = school_key(&app, SCHOOL_A);
    let from_school = send_multipart(&app, &school, "checking-files", &files).await;
    expect_error(from_school, StatusCode::FORBIDDEN, Some("channel_not_for_sender")).await;
    let plain = app
        .request(Method::POST, &job, "/api/v1/batches")
        .query(&[("channel", "checking-files")])
        .header("content-type", "text/plain")
        .body("8252001")
        .send()
        .await
        .unwrap();
    expect_error(plain, StatusCode::UNSUPPORTED_MEDIA_TYPE, None).await;

    assert_eq!(files_under(&app.objects_dir()), objects_before, "nothing was stored");
    assert!(quarantine(&app, &job).await.is_empty());
}

/// One deflated megabyte and `records` central-directory records that all point at it, each under
/// its own name: the archive that got past the bomb check. The zip crate will not write entries
/// that share data, so the records and the end record are written here.
fn one_file_listed(records: u16) -> Vec<u8> {
    let mut content = PDF_HEAD.to_vec();
    content.resize(1_000_000, 0);
    let zip = zip_of(&[("8252001_KS2.pdf", content)]);
    let central = zip.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    let le32 = |at: usize| u32::from_le_bytes(zip[at..at + 4].try_into().unwrap());
    let (crc, compressed, size) = (le32(central + 16), le32(central + 20), le32(central + 24));
    let mut out = zip[..central].to_vec();
    let directory = out.len() as u32;
    for i in 0..records {
        let name = format!("825{:04}_KS2.pdf", 2001 + u32::from(i));
        out.extend_from_slice(b"PK\x01\x02");
        for field in [20u16, 20, 0, 8, 0, 0x21] {
            out.extend_from_slice(&field.to_le_bytes());
        }
        for field in [crc, compressed, size] {
            out.extend_from_slice(&field.to_le_bytes());
        }
        for field in [name.len() as u16, 0, 0, 0, 0] {
            out.extend_from_slice(&field.to_le_bytes());
        }
        // No external attributes; every record points at the one local header, at offset 0.
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(name.as_bytes());
    }
    let directory_len = out.len() as u32 - directory;
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&records.to_le_bytes());
    out.extend_from_slice(&records.to_le_bytes());
    out.extend_from_slice(&directory_len.to_le_bytes());
    out.extend_from_slice(&directory.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

#[tokio::test]
async fn a_zip_listing_one_file_a_thousand_times_is_refused_whole_and_keeps_nothing() {
    let app = TestApp::spawn();
    let job = team_key(&app);
    let objects_before = files_under(&app.objects_dir());
    let zip = one_file_listed(1000);
    assert!(zip.len() < 100_000, "a small upload: {} bytes", zip.len());

    let refused = send_zip(&app, &job, zip).await;
    let v = expect_error(refused, StatusCode::UNPROCESSABLE_ENTITY, Some("overlapping_entries")).await;
    assert!(v["message"].as_str().unwrap().contains("zip the files again"), "{v}");

    let stored: Vec<_> = files_under(&app.objects_dir()).difference(&objects_before).cloned().collect();
    let bytes: u64 = stored.iter().map(|p| std::fs::metadata(app.objects_dir().join(p)).map_or(0, |m| m.len())).sum();
    assert!(stored.is_empty(), "nothing was stored, but {} files of {bytes} bytes were", stored.len());
    assert!(quarantine(&app, &job).await.is_empty());
    let school = school_key(&app, SCHOOL_A);
    assert!(app.list_all(&school, "inbox", None).await.is_empty(), "nothing was delivered");
}

#[tokio::test]
async fn a_file_sent_to_a_school_that_converted_reaches_its_academy_and_says_so() {
    let app = TestApp::spawn();
    import_schools(&app, 0);
    let team = team_key(&app);
    let resp = app
        .request(Method::POST, &team, "/api/v1/transfers")
        .query(&[("channel", "ctf"), ("to", "825/2005"), ("filename", "CTF_pupil.xml")])
        .body(b"<?xml version=\"1.0\"?><CTfile/>".to_vec())
        .send()
        .await
        .unwrap();
    let sent = expect_json(resp, StatusCode::CREATED).await;
    assert_eq!(sent["recipient"]["ref"], "825/4005");
    let note = sent["routing_note"].as_str().unwrap();
    assert!(note.contains("825/2005") && note.contains("carries it on"), "{note}");

    let academy = school_key(&app, "825/4005");
    let inbox = app.list_all(&academy, "inbox", None).await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["routing_note"], sent["routing_note"], "the academy sees why it got the file");
}

#[tokio::test]
async fn a_form_whose_one_file_is_a_zip_is_read_as_that_archive_and_a_form_without_files_is_refused() {
    let app = TestApp::spawn();
    let job = team_key(&app);
    let notes_only = send_multipart(&app, &job, "checking-files", &[]).await;
    expect_error(notes_only, StatusCode::UNPROCESSABLE_ENTITY, Some("empty_batch")).await;

    let zip = zip_of(&[("8252001_KS2.pdf", pdf_for("8252001")), ("unnamed.pdf", pdf_for("nobody"))]);
    let sent = send_multipart(&app, &job, "checking-files", &[("checking.zip".to_owned(), zip)]).await;
    let report = expect_json(sent, StatusCode::OK).await;
    let results = by_name(&report);
    assert_eq!(report["files"], 2, "the archive's files, not the archive: {report}");
    assert_eq!(results["8252001_KS2.pdf"]["to"], SCHOOL_A);
    assert_eq!(results["unnamed.pdf"]["outcome"], "quarantined");
}
