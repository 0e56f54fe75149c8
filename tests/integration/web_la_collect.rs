//! The LA teams' collecting pages: many files as one zip, the census returns, unclaimed files and
//! the receipts of distributions, through the router with a browser's session, and checked
//! against what the API says afterwards.

use std::io::{Cursor, Read};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use pigeonpost::domain::Role;
use sha2::{Digest, Sha256};

use crate::support::app::TestApp;
use crate::support::router::register::{census_term, dfe};
use crate::support::router::web::WebSession;
use crate::support::router::{Harness, Reply, SCHOOL_A, TEAM};

/// Sends `content` as `filename` on `channel` to `to` through the API; panics unless stored.
async fn send(h: &Harness, key: &str, channel: &str, to: &str, filename: &str, content: &[u8]) -> serde_json::Value {
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let path = format!("/api/v1/transfers?channel={channel}&to={}&filename={}", enc(to), enc(filename));
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, content.len())
        .body(Body::from(content.to_vec()))
        .unwrap();
    let reply = h.send(request).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{filename}: {}", reply.json);
    reply.json
}

/// A school that sends on the general channel, and an officer of smst signed in in a browser.
async fn school_and_officer(h: &Harness) -> (String, WebSession, String) {
    h.standard_orgs().await;
    let school = h.api_key(SCHOOL_A, Some(Harness::scope(&["general"], true, true))).await.token;
    let officer = h.user(TEAM, "data.officer", Role::LaUser).await;
    let session = h.web_session(&officer).await;
    let team_key = h.api_key(TEAM, Some(Harness::scope(&["*"], true, true))).await.token;
    (school, session, team_key)
}

/// The entries of a zip body: (name, SHA-256 of the contents), in archive order.
fn entries(reply: &Reply) -> Vec<(String, String)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(reply.body.to_vec())).expect("a readable zip");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (entry.name().expect("a UTF-8 entry name").to_string(), hex::encode(Sha256::digest(&bytes)))
        })
        .collect()
}

/// The ids the API lists in the team's inbox as `new` or `downloaded`.
async fn inbox_ids(h: &Harness, key: &str, state: &str) -> Vec<String> {
    let reply = h.get(&format!("/api/v1/transfers?state={state}&limit=200"), key).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

fn id(v: &serde_json::Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn ticked_files_come_back_as_one_zip_with_their_names_and_bytes_and_are_then_marked_downloaded() {
    let h = TestApp::builder().router().await;
    let (school, officer, team_key) = school_and_officer(&h).await;
    let files: [(&str, Vec<u8>); 3] = [
        ("8252001_notes.txt", b"first file".to_vec()),
        ("pupils.csv", b"upn,surname\nA123,Smith\n".to_vec()),
        // Larger than one sealed segment, so an entry spans several.
        ("big.txt", "line of pupil data\n".repeat(10_000).into_bytes()),
    ];
    let mut ids = Vec::new();
    for (name, content) in &files {
        ids.push(id(&send(&h, &school, "general", TEAM, name, content).await));
    }

    let page = h.page("/collect", Some(&officer)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    for (name, _) in &files {
        assert!(page.text().contains(name), "{name} is listed as new");
    }
    assert!(page.text().contains("Download all new on General"));

    let fields: Vec<(&str, &str)> = ids.iter().map(|i| ("file", i.as_str())).collect();
    let reply = h.submit("/collect", Some(&officer), &fields).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/zip"));
    assert!(reply.header("content-disposition").is_some_and(|d| d.starts_with("attachment; filename=\"pigeonpost-")));
    let expected: Vec<(String, String)> =
        files.iter().map(|(n, c)| (n.to_string(), hex::encode(Sha256::digest(c)))).collect();
    assert_eq!(entries(&reply), expected, "original names, the bytes sent, in the order ticked");

    let mut downloaded = inbox_ids(&h, &team_key, "downloaded").await;
    downloaded.sort();
    ids.sort();
    assert_eq!(downloaded, ids, "the API shows each as downloaded");
    assert!(inbox_ids(&h, &team_key, "new").await.is_empty());
    let detail = h.get(&format!("/api/v1/transfers/{}", ids[0]), &school).await;
    assert_eq!(detail.json["downloaded_by"], 1, "the sender sees the receipt: {}", detail.json);
    let again = h.page("/collect", Some(&officer)).await;
    assert!(!again.text().contains("pupils.csv"), "no longer new");
}

#[tokio::test]
async fn everything_new_on_a_channel_comes_with_one_button() {
    let h = TestApp::builder().router().await;
    let (school, officer, team_key) = school_and_officer(&h).await;
    for n in 0..4 {
        send(&h, &school, "general", TEAM, &format!("return {n}.txt"), format!("return {n}").as_bytes()).await;
    }
    let reply = h.submit("/collect", Some(&officer), &[("all_channel", "general")]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let mut names: Vec<String> = entries(&reply).into_iter().map(|(n, _)| n).collect();
    names.sort();
    assert_eq!(names, ["return 0.txt", "return 1.txt", "return 2.txt", "return 3.txt"]);
    assert_eq!(inbox_ids(&h, &team_key, "downloaded").await.len(), 4);
}

#[tokio::test]
async fn duplicate_and_hostile_names_are_made_safe_in_the_zip_and_shown_escaped_on_the_page() {
    let h = TestApp::builder().router().await;
    let (school, officer, _) = school_and_officer(&h).await;
    let names = ["same.txt", "same.txt", "SAME.txt", "a..b.txt", "report \"final\" <v2>.txt", "nul.txt"];
    let mut ids = Vec::new();
    for (n, name) in names.iter().enumerate() {
        ids.push(id(&send(&h, &school, "general", TEAM, name, format!("file {n}").as_bytes()).await));
    }
    let page = h.page("/collect", Some(&officer)).await.text();
    assert!(!page.contains("<v2>"), "the name is escaped on the page");
    assert!(page.contains("&lt;v2&gt;") || page.contains("&#60;v2&#62;"), "and still shown");

    let fields: Vec<(&str, &str)> = ids.iter().map(|i| ("file", i.as_str())).collect();
    let reply = h.submit("/collect", Some(&officer), &fields).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let got: Vec<String> = entries(&reply).into_iter().map(|(n, _)| n).collect();
    assert_eq!(got, ["same.txt", "same (2).txt", "SAME (3).txt", "a.b.txt", "report _final_ _v2_.txt", "_nul.txt"]);
}

#[tokio::test]
async fn a_form_without_its_token_is_refused_and_nothing_is_marked_downloaded() {
    let h = TestApp::builder().router().await;
    let (school, officer, team_key) = school_and_officer(&h).await;
    let file = id(&send(&h, &school, "general", TEAM, "census.txt", b"data").await);
    for token in ["", "00", officer.csrf.chars().rev().collect::<String>().as_str()] {
        let reply = h.submit("/collect", Some(&officer), &[("csrf", token), ("file", &file)]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "token {token:?}");
        assert!(!reply.body.starts_with(b"PK"), "no archive");
    }
    assert_eq!(inbox_ids(&h, &team_key, "new").await, [file], "still new");
    assert!(inbox_ids(&h, &team_key, "downloaded").await.is_empty());
}

#[tokio::test]
async fn an_empty_selection_is_refused_with_the_error_summary() {
    let h = TestApp::builder().router().await;
    let (school, officer, _) = school_and_officer(&h).await;
    send(&h, &school, "general", TEAM, "census.txt", b"data").await;
    let reply = h.submit("/collect", Some(&officer), &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let text = reply.text();
    assert!(text.contains("govuk-error-summary"), "{text}");
    assert!(text.contains("Select at least one file to download"), "{text}");
    assert!(text.contains("<title>Error: Collect new files"), "the title says there is an error");
}

#[tokio::test]
async fn the_collection_page_lists_who_has_sent_and_who_has_not_with_their_last_return() {
    let h = TestApp::builder().router().await;
    census_term(&h).await;
    let officer = h.user("smst", "data.officer", Role::LaUser).await;
    let session = h.web_session(&officer).await;
    let page = h.page("/collection", Some(&session)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let text = page.text();
    assert!(text.contains("<strong>300</strong> schools expected"), "{text}");
    assert!(text.contains("<strong>200</strong> have sent"));
    assert!(text.contains("<strong>100</strong> have not sent"));
    let (not_sent, sent) = text.split_once("Sent: 200").expect("the sent table after the others");
    assert!(not_sent.contains("Not sent yet: 100"));
    let row = |part: &str, school: &str| -> String {
        let start = part.find(&format!("<td class=\"govuk-table__cell\">{school}</td>")).unwrap_or_else(|| {
            panic!("{school} is not in this table");
        });
        part[start..].split("</tr>").next().unwrap().to_owned()
    };
    assert!(row(sent, &dfe(1)).contains("10 Feb 2026"), "its last return");
    assert!(row(sent, &dfe(2)).contains("20 Jan 2026"));
    assert!(row(not_sent, &dfe(6)).contains("5 Oct 2025"), "last term's return, to chase it");
    assert!(row(not_sent, &dfe(3)).contains("Never"));
    assert!(!sent.contains(&format!(">{}<", dfe(3))));
}

#[tokio::test]
async fn a_distributions_receipts_rise_as_schools_download() {
    let h = TestApp::builder().router().await;
    census_term(&h).await;
    let team_key = h.api_key("smst", Some(Harness::scope(&["distribution"], true, true))).await.token;
    let sent = send(&h, &team_key, "distribution", "all", "guidance.txt", b"read me before census day").await;
    let schools = sent["recipient_count"].as_u64().unwrap();
    assert!(schools >= 300, "{sent}");
    let officer = h.user("smst", "data.officer", Role::LaUser).await;
    let session = h.web_session(&officer).await;

    let list = h.page("/distributions", Some(&session)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    assert!(list.text().contains("guidance.txt"));
    assert!(list.text().contains(&format!("downloaded by 0 of {schools} schools")), "{}", list.text());

    let id = id(&sent);
    for i in 1..=10 {
        let key = h.api_key(&dfe(i), Some(Harness::scope(&["distribution"], false, true))).await.token;
        let reply = h.get(&format!("/api/v1/transfers/{id}/content"), &key).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    }
    let list = h.page("/distributions", Some(&session)).await;
    assert!(list.text().contains(&format!("downloaded by 10 of {schools} schools")), "{}", list.text());

    let detail = h.page(&format!("/distributions/{id}"), Some(&session)).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text());
    let text = detail.text();
    assert!(text.contains(&format!("downloaded by 10 of {schools} schools")));
    assert_eq!(text.matches("Not yet").count() as u64, schools - 10, "one row per school");
    let row_of_1 = text.split(&format!(">{}</td>", dfe(1))).nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row_of_1.contains("2 Mar 2026"), "when it downloaded: {row_of_1}");
}

#[tokio::test]
async fn an_la_administrator_sees_unclaimed_files_as_a_table() {
    let h = TestApp::builder().router().await;
    let (school, _, _) = school_and_officer(&h).await;
    send(&h, &school, "general", TEAM, "forgotten.txt", b"nobody came").await;
    h.advance(time::Duration::days(30));
    let admin = h.user(TEAM, "la.admin", Role::LaAdmin).await;
    let session = h.web_session(&admin).await;
    let page = h.page("/unclaimed", Some(&session)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let text = page.text();
    assert!(text.contains("forgotten.txt") && text.contains("1 unclaimed files"), "{text}");
    assert!(text.contains("<td class=\"govuk-table__cell govuk-table__cell--numeric\">30</td>"), "{text}");
}

#[tokio::test]
async fn a_school_user_is_refused_every_page_here() {
    let h = TestApp::builder().router().await;
    h.standard_orgs().await;
    let team_key = h.api_key(TEAM, Some(Harness::scope(&["*"], true, true))).await.token;
    let school_key = h.api_key(SCHOOL_A, Some(Harness::scope(&["general"], true, true))).await.token;
    let distribution = id(&send(&h, &team_key, "distribution", SCHOOL_A, "letter.txt", b"dear school").await);
    let own = id(&send(&h, &school_key, "general", TEAM, "return.txt", b"ours").await);
    let from_team = id(&send(&h, &team_key, "general", SCHOOL_A, "to you.txt", b"for the school").await);
    for role in [Role::SchoolUser, Role::SchoolAdmin] {
        let user = h.user(SCHOOL_A, &format!("school.{}", role.as_str()), role).await;
        let session = h.web_session(&user).await;
        for path in [
            "/collect".to_owned(),
            "/collection".to_owned(),
            "/collection?channel=census".to_owned(),
            "/unclaimed".to_owned(),
            "/distributions".to_owned(),
            format!("/distributions/{distribution}"),
            format!("/distributions/{own}"),
        ] {
            let reply = h.page(&path, Some(&session)).await;
            assert!(
                matches!(reply.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
                "{role:?} {path}: {}",
                reply.status
            );
        }
        for fields in [vec![("file", from_team.as_str())], vec![("all_channel", "general")]] {
            let reply = h.submit("/collect", Some(&session), &fields).await;
            assert!(
                matches!(reply.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
                "{role:?}: {}",
                reply.status
            );
            assert!(!reply.body.starts_with(b"PK"));
        }
    }
    let school_inbox = h.get("/api/v1/transfers?state=downloaded", &school_key).await;
    assert_eq!(school_inbox.json["items"], serde_json::json!([]), "nothing was marked downloaded");
}
