//! Channels end to end: each kind of traffic with its own senders, recipients, file types and
//! name rules, through the real server.

use crate::support::app::*;
use crate::support::people::{self, all_channels_key};
use pigeonpost::domain::organisation::OrgStatus;
use pigeonpost::domain::OrgKind;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const XML: &[u8] = b"<?xml version=\"1.0\"?><Return><Header/></Return>";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n";

async fn send(app: &TestApp, key: &str, query: &[(&str, &str)], body: &[u8]) -> reqwest::Response {
    app.request(Method::POST, key, "/api/v1/transfers").query(query).body(body.to_vec()).send().await.unwrap()
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

#[tokio::test]
async fn the_catalogue_tells_each_caller_where_they_may_send() {
    let app = TestApp::spawn();
    let school = all_channels_key(&app, SCHOOL_A, "school-all");
    let list =
        expect_json(app.request(Method::GET, &school, "/api/v1/channels").send().await.unwrap(), StatusCode::OK).await;
    let get = |slug: &str| list.as_array().unwrap().iter().find(|c| c["slug"] == slug).cloned().unwrap();
    assert_eq!(get("census")["can_send"], true);
    assert_eq!(get("census")["sends_to"], "team:smst");
    assert_eq!(get("census")["name_rule"], "own_dfe_number");
    assert_eq!(get("checking-files")["can_send"], false);
    assert_eq!(get("fsm")["turnaround_business_days"], 3);
    // A key confined to the general channel may send only there.
    let narrow =
        expect_json(app.request(Method::GET, &app.key_a, "/api/v1/channels").send().await.unwrap(), StatusCode::OK)
            .await;
    let sendable: Vec<&str> = narrow
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["can_send"] == true)
        .map(|c| c["slug"].as_str().unwrap())
        .collect();
    assert_eq!(sendable, ["general"]);
}

#[tokio::test]
async fn a_census_return_must_carry_the_sending_schools_own_number() {
    let app = TestApp::spawn();
    let school = all_channels_key(&app, SCHOOL_A, "mis");
    let ok = send(&app, &school, &[("channel", "census"), ("filename", "8252001_SC_2026.xml")], XML).await;
    let ok = expect_json(ok, StatusCode::CREATED).await;
    assert_eq!(ok["recipient"]["ref"], TEAM, "census goes to the team without a 'to'");

    let wrong = send(&app, &school, &[("channel", "census"), ("filename", "825-2002_SC_2026.xml")], XML).await;
    let v = expect_error(wrong, StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_school_in_name")).await;
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("825/2002") && message.contains("825/2001"), "says what it found and expected: {message}");

    let none = send(&app, &school, &[("channel", "census"), ("filename", "census.xml")], XML).await;
    expect_error(none, StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_school_in_name")).await;
    let pdf = send(&app, &school, &[("channel", "census"), ("filename", "8252001_SC.pdf")], PDF).await;
    expect_error(pdf, StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("type_not_allowed")).await;
    let disguised = send(&app, &school, &[("channel", "census"), ("filename", "8252001_SC.xml")], PDF).await;
    expect_error(disguised, StatusCode::UNPROCESSABLE_ENTITY, Some("content_mismatch")).await;
    let team = all_channels_key(&app, TEAM, "team-all");
    let from_team = send(&app, &team, &[("channel", "census"), ("filename", "8252001_SC.xml")], XML).await;
    expect_error(from_team, StatusCode::FORBIDDEN, Some("channel_not_for_sender")).await;

    // Only the accepted return is stored anywhere.
    assert_eq!(
        app.list_all(&app.key_team, "inbox", None).await.len(),
        0,
        "a general-only key does not see census files"
    );
    let team_inbox = app.list_all(&team, "inbox", None).await;
    assert_eq!(team_inbox.len(), 1);
    assert_eq!(team_inbox[0]["id"], ok["id"]);
}

#[tokio::test]
async fn checking_files_go_to_the_school_named_in_the_file_name() {
    let app = TestApp::spawn();
    let team = all_channels_key(&app, TEAM, "checking-job");
    let sent = send(&app, &team, &[("channel", "checking-files"), ("filename", "8252001_KS2_checking.pdf")], PDF).await;
    let sent = expect_json(sent, StatusCode::CREATED).await;
    assert_eq!(sent["recipient"]["ref"], SCHOOL_A);
    assert_eq!(sent["filename"], "KS2_checking.pdf", "the routing prefix is stripped for the school");

    let a = all_channels_key(&app, SCHOOL_A, "a-all");
    let b = all_channels_key(&app, SCHOOL_B, "b-all");
    assert_eq!(app.download_bytes(&a, id(&sent)).await, PDF);
    assert!(app.list_all(&b, "inbox", None).await.is_empty());

    let unnamed = send(&app, &team, &[("channel", "checking-files"), ("filename", "KS2_checking.pdf")], PDF).await;
    expect_error(unnamed, StatusCode::UNPROCESSABLE_ENTITY, Some("unroutable_name")).await;
    let unknown = send(&app, &team, &[("channel", "checking-files"), ("filename", "8259999_KS2.pdf")], PDF).await;
    expect_error(unknown, StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_school")).await;
    let ambiguous =
        send(&app, &team, &[("channel", "checking-files"), ("filename", "8252001_8252002_KS2.pdf")], PDF).await;
    expect_error(ambiguous, StatusCode::UNPROCESSABLE_ENTITY, Some("unroutable_name")).await;
    let from_school = send(&app, &a, &[("channel", "checking-files"), ("filename", "8252001_x.pdf")], PDF).await;
    expect_error(from_school, StatusCode::FORBIDDEN, None).await;
}

#[tokio::test]
async fn an_fsm_request_is_answered_by_a_reply_to_the_same_school() {
    let app = TestApp::spawn();
    let a = all_channels_key(&app, SCHOOL_A, "a-all");
    let team = all_channels_key(&app, TEAM, "fsm-team");
    let request = send(
        &app,
        &a,
        &[("channel", "fsm"), ("filename", "fsm_applicants.csv"), ("message", "Three new families")],
        b"surname,dob\nSmith,2015-01-01\n",
    )
    .await;
    let request = expect_json(request, StatusCode::CREATED).await;
    assert_eq!(request["recipient"]["ref"], TEAM);

    let inbox = app.list_all(&team, "inbox", None).await;
    assert_eq!(inbox[0]["message"], "Three new families", "the message travels beside the file");

    let no_link = send(&app, &team, &[("channel", "fsm"), ("filename", "results.csv")], b"surname,eligible\n").await;
    expect_error(no_link, StatusCode::BAD_REQUEST, Some("missing_parameter")).await;
    let reply = send(
        &app,
        &team,
        &[("channel", "fsm"), ("filename", "results.csv"), ("reply_to", id(&request))],
        b"surname,eligible\nSmith,yes\n",
    )
    .await;
    let reply = expect_json(reply, StatusCode::CREATED).await;
    assert_eq!(reply["recipient"]["ref"], SCHOOL_A, "the answer goes back to the school that asked");
    assert_eq!(reply["reply_to"], request["id"]);

    // A reply must answer a request on the same channel that was sent to the replier.
    let general = app.upload_ok(&app.key_a, TEAM, "note.txt", b"hello".to_vec()).await;
    let off_channel =
        send(&app, &team, &[("channel", "fsm"), ("filename", "r.csv"), ("reply_to", id(&general))], b"x,y\n").await;
    expect_error(off_channel, StatusCode::UNPROCESSABLE_ENTITY, Some("not_a_request")).await;
    let b = all_channels_key(&app, SCHOOL_B, "b-all");
    let b_request =
        expect_json(send(&app, &b, &[("channel", "fsm"), ("filename", "b.csv")], b"a,b\n").await, StatusCode::CREATED)
            .await;
    let hijack =
        send(&app, &a, &[("channel", "fsm"), ("filename", "r.csv"), ("reply_to", id(&b_request))], b"x,y\n").await;
    assert_ne!(hijack.status(), StatusCode::CREATED, "a school cannot answer another school's request");
}

#[tokio::test]
async fn a_distribution_is_stored_once_and_delivered_to_each_school() {
    let app = TestApp::spawn();
    let team = all_channels_key(&app, TEAM, "dist");
    let before = files_under(&app.objects_dir()).len();
    let sent = send(
        &app,
        &team,
        &[("channel", "distribution"), ("filename", "guidance.pdf"), ("to", "825/2001,825/2002")],
        PDF,
    )
    .await;
    let sent = expect_json(sent, StatusCode::CREATED).await;
    assert_eq!(sent["recipient_count"], 2);
    assert_eq!(files_under(&app.objects_dir()).len(), before + 1, "one object for every school");

    let a = all_channels_key(&app, SCHOOL_A, "a-all");
    let b = all_channels_key(&app, SCHOOL_B, "b-all");
    assert_eq!(app.download_bytes(&a, id(&sent)).await, PDF);
    let meta = expect_json(app.metadata(&team, id(&sent)).await, StatusCode::OK).await;
    let downloads = meta["downloads"].as_array().unwrap();
    assert_eq!(downloads.len(), 1);
    assert_eq!(downloads[0]["org"], SCHOOL_A, "each school's download is its own receipt");
    assert_eq!(meta["downloaded_by"], 1, "downloaded by 1 of {}", meta["recipient_count"]);
    assert_eq!(app.download_bytes(&b, id(&sent)).await, PDF);
    assert_eq!(app.download_bytes(&b, id(&sent)).await, PDF);
    let meta = expect_json(app.metadata(&team, id(&sent)).await, StatusCode::OK).await;
    assert_eq!(meta["downloaded_by"], 2, "a school downloading twice counts once");
    assert_eq!(meta["downloads"].as_array().unwrap().len(), 3);

    let empty =
        send(&app, &team, &[("channel", "distribution"), ("filename", "g.pdf"), ("to", "phase:nursery")], PDF).await;
    expect_error(empty, StatusCode::UNPROCESSABLE_ENTITY, Some("empty_group")).await;
}

#[tokio::test]
async fn on_the_general_channel_schools_never_send_to_other_schools() {
    let app = TestApp::spawn();
    let to_school = app.upload(&app.key_a, SCHOOL_B, "hello.txt", b"hi".to_vec()).await;
    expect_error(to_school, StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_recipient_kind")).await;
    let ok = app
        .upload_request(&app.key_a, TEAM, "question.txt")
        .query(&[("message", "Is this the right form?")])
        .body(b"q".to_vec())
        .send()
        .await
        .unwrap();
    let ok = expect_json(ok, StatusCode::CREATED).await;
    assert_eq!(ok["message"], "Is this the right form?");
    let control = app
        .upload_request(&app.key_a, TEAM, "q2.txt")
        .query(&[("message", "bell\u{7}")])
        .body(b"q".to_vec())
        .send()
        .await
        .unwrap();
    expect_error(control, StatusCode::BAD_REQUEST, Some("invalid_message")).await;
}

#[tokio::test]
async fn the_turnaround_report_lists_open_fsm_requests_until_they_are_answered() {
    let app = TestApp::spawn();
    let a = all_channels_key(&app, SCHOOL_A, "a-all");
    let b = all_channels_key(&app, SCHOOL_B, "b-all");
    let team = all_channels_key(&app, TEAM, "fsm-team");
    let from_a =
        expect_json(send(&app, &a, &[("channel", "fsm"), ("filename", "a.csv")], b"x,y\n").await, StatusCode::CREATED)
            .await;
    expect_json(send(&app, &b, &[("channel", "fsm"), ("filename", "b.csv")], b"x,y\n").await, StatusCode::CREATED)
        .await;

    let report = |key: String| {
        let app = &app;
        async move {
            let resp = app
                .request(Method::GET, &key, "/api/v1/reports/turnaround")
                .query(&[("channel", "fsm")])
                .send()
                .await
                .unwrap();
            expect_json(resp, StatusCode::OK).await
        }
    };
    let before = report(team.clone()).await;
    assert_eq!(before["target_business_days"], 3);
    assert_eq!(before["open"], 2);
    assert_eq!(before["overdue"], 0, "requests made today are not overdue");
    assert_eq!(before["requests"][0]["age_business_days"], 0);

    let reply =
        send(&app, &team, &[("channel", "fsm"), ("filename", "results.csv"), ("reply_to", id(&from_a))], b"x,y\n")
            .await;
    expect_json(reply, StatusCode::CREATED).await;
    let after = report(team.clone()).await;
    assert_eq!(after["open"], 1, "{after}");
    assert_eq!(after["requests"][0]["sender"]["ref"], SCHOOL_B);
    // A school's own report shows nothing sent to it, and never another school's requests.
    assert_eq!(report(a).await["open"], 0);
}

#[tokio::test]
async fn a_distribution_to_a_phase_reaches_exactly_its_open_schools_each_with_its_own_receipt() {
    let app = TestApp::spawn();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gias/establishments.csv");
    people::import_register(&app, std::fs::read(fixture).unwrap(), None);
    let register = app.with_state(|state| async move { state.repo().list_organisations().await.unwrap() });
    let secondary: Vec<String> = register
        .iter()
        .filter(|o| o.kind == OrgKind::School && o.status == OrgStatus::Open)
        .filter(|o| {
            let phase = o.phase.as_deref().unwrap_or_default().to_ascii_lowercase();
            matches!(phase.as_str(), "secondary" | "middle deemed secondary" | "all-through")
        })
        .map(|o| o.reference.to_string())
        .collect();
    assert!(secondary.len() >= 2, "the fixture has several secondary schools: {secondary:?}");

    let team = all_channels_key(&app, TEAM, "dist");
    let sent =
        send(&app, &team, &[("channel", "distribution"), ("filename", "ks4.pdf"), ("to", "phase:secondary")], PDF);
    let sent = expect_json(sent.await, StatusCode::CREATED).await;
    assert_eq!(sent["recipient_count"], secondary.len());

    let primary = all_channels_key(&app, SCHOOL_A, "primary-all");
    expect_error(app.download(&primary, id(&sent)).await, StatusCode::NOT_FOUND, None).await;
    for (n, school) in secondary.iter().enumerate() {
        let key = all_channels_key(&app, school, &format!("sec-{n}"));
        let inbox = app.list_ids(&key, "inbox").await;
        assert_eq!(inbox, [id(&sent).to_owned()], "{school} has the distribution, once");
        if n == 0 {
            assert_eq!(app.download_bytes(&key, id(&sent)).await, PDF);
        }
    }
    let meta = expect_json(app.metadata(&team, id(&sent)).await, StatusCode::OK).await;
    assert_eq!(meta["downloaded_by"], 1, "one school's download does not count for the others");
    assert_eq!(meta["downloads"][0]["org"], secondary[0]);
}
