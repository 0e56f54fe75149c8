//! The unclaimed files report: deliveries nobody in the recipient organisation has downloaded,
//! past an age, for LA administrators. Over TLS with the real clock (so ages are asked for as
//! `older_than_days=0`), and in process with a clock the test moves for each channel's own
//! threshold.

mod common;
mod inproc;
mod people;

use common::{expect_error, expect_json, TestApp, SCHOOL_A, SCHOOL_B, TEAM};
use people::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n";
const XML: &[u8] = b"<?xml version=\"1.0\"?><Return><Header/></Return>";

async fn send(app: &TestApp, key: &str, query: &[(&str, &str)], body: &[u8]) -> Value {
    let resp =
        app.request(Method::POST, key, "/api/v1/transfers").query(query).body(body.to_vec()).send().await.unwrap();
    expect_json(resp, StatusCode::CREATED).await
}

async fn report(app: &TestApp, token: &str, query: &[(&str, &str)]) -> reqwest::Response {
    app.request(Method::GET, token, "/api/v1/reports/unclaimed").query(query).send().await.unwrap()
}

async fn listed(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Vec<String> {
    let v = expect_json(report(app, token, query).await, StatusCode::OK).await;
    v["items"].as_array().unwrap().iter().map(|i| i["filename"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn files_nobody_has_downloaded_are_listed_with_totals_and_collected_ones_are_not() {
    let app = TestApp::spawn();
    let admin = la_admin(&app, "la.admin").await;
    let team = all_channels_key(&app, TEAM, "checking-job");
    let a = all_channels_key(&app, SCHOOL_A, "a-all");
    let b = all_channels_key(&app, SCHOOL_B, "b-all");
    let to_a = send(&app, &team, &[("channel", "checking-files"), ("filename", "8252001_KS2.pdf")], PDF).await;
    let to_b = send(&app, &team, &[("channel", "checking-files"), ("filename", "8252002_KS2.pdf")], PDF).await;
    let census = send(&app, &a, &[("channel", "census"), ("filename", "8252001_SC.xml")], XML).await;
    app.download_bytes(&a, to_a["id"].as_str().unwrap()).await;

    let all = expect_json(report(&app, &admin, &[("older_than_days", "0")]).await, StatusCode::OK).await;
    assert_eq!(all["total"], 2, "{all}");
    assert_eq!(all["truncated"], false);
    let item = all["items"].as_array().unwrap().iter().find(|i| i["channel"] == "checking-files").unwrap();
    assert_eq!(item["transfer_id"], to_b["id"]);
    assert_eq!(item["filename"], "KS2.pdf");
    assert_eq!(item["sender"]["ref"], TEAM);
    assert_eq!(item["recipient"]["ref"], SCHOOL_B);
    assert_eq!(item["age_days"], 0);
    assert!(item["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        all["by_channel"],
        json!([{ "channel": "census", "unclaimed": 1 }, { "channel": "checking-files", "unclaimed": 1 }])
    );
    let recipients: Vec<(&str, u64)> = all["by_recipient"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["recipient"]["ref"].as_str().unwrap(), r["unclaimed"].as_u64().unwrap()))
        .collect();
    assert_eq!(recipients, [(SCHOOL_B, 1), (TEAM, 1)]);

    // Filters.
    assert_eq!(listed(&app, &admin, &[("older_than_days", "0"), ("channel", "census")]).await, ["8252001_SC.xml"]);
    assert_eq!(listed(&app, &admin, &[("older_than_days", "0"), ("org", "825/2002")]).await, ["KS2.pdf"]);
    assert_eq!(listed(&app, &admin, &[("older_than_days", "0"), ("org", "8252002")]).await, ["KS2.pdf"]);
    assert_eq!(listed(&app, &admin, &[("older_than_days", "0"), ("org", TEAM)]).await, ["8252001_SC.xml"]);
    assert!(listed(&app, &admin, &[("older_than_days", "0"), ("org", TEAM), ("channel", "checking-files")])
        .await
        .is_empty());
    assert!(listed(&app, &admin, &[]).await.is_empty(), "nothing is past its channel's threshold yet");
    assert!(listed(&app, &admin, &[("older_than_days", "1")]).await.is_empty());

    // Taken out of the inbox, or withdrawn by its sender, a file is no longer waiting.
    assert_eq!(app.delete(&b, to_b["id"].as_str().unwrap()).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(listed(&app, &admin, &[("older_than_days", "0")]).await, ["8252001_SC.xml"]);
    assert_eq!(app.delete(&a, census["id"].as_str().unwrap()).await.status(), StatusCode::NO_CONTENT);
    assert!(listed(&app, &admin, &[("older_than_days", "0")]).await.is_empty());

    // Refusals that say what to fix.
    let unknown = report(&app, &admin, &[("channel", "censsus")]).await;
    expect_error(unknown, StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_channel")).await;
    let nobody = report(&app, &admin, &[("org", "825/9999")]).await;
    expect_error(nobody, StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_organisation")).await;
    let garbled = report(&app, &admin, &[("org", "not a school")]).await;
    expect_error(garbled, StatusCode::BAD_REQUEST, Some("invalid_query")).await;
    let negative = report(&app, &admin, &[("older_than_days", "-1")]).await;
    expect_error(negative, StatusCode::BAD_REQUEST, Some("invalid_query")).await;
}

#[tokio::test]
async fn only_la_administrators_see_the_unclaimed_files_report() {
    let app = TestApp::spawn();
    let school_admin = person(&app, SCHOOL_A, "head", "school_admin").await;
    let la_user = person(&app, TEAM, "la.user", "la_user").await;
    let team_key = all_channels_key(&app, TEAM, "team-job");
    for (who, token) in
        [("school admin", &school_admin), ("la_user", &la_user), ("school key", &app.key_a), ("team key", &team_key)]
    {
        let resp = report(&app, token, &[("older_than_days", "0")]).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{who}");
    }
    let anonymous = app.client.get(app.url("/api/v1/reports/unclaimed")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// In process: the clock moves, so each channel's own threshold can be crossed.
#[tokio::test]
async fn each_channel_lists_a_file_only_once_it_has_waited_past_that_channels_threshold() {
    use inproc::{Harness, SCHOOL_A, TEAM};
    use pigeonpost::domain::Role;

    let h = Harness::new().await;
    h.standard_orgs().await;
    let admin_user = h.user(TEAM, "la.admin", Role::LaAdmin).await;
    let admin = h.login(&admin_user).await.access;
    let mut census: Value = serde_json::to_value(h.state.channels().get("census").unwrap()).unwrap();
    census["unclaimed_after_days"] = json!(3);
    let put = h.request(Method::PUT, "/api/v1/channels/census", Some(&admin), Some(census)).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.json);

    let school = h.api_key(SCHOOL_A, Some(Harness::scope(&["*"], true, true))).await.token;
    let census_upload = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/transfers?channel=census&filename=8252001_SC.xml")
        .header("authorization", format!("Bearer {school}"))
        .body(axum::body::Body::from(XML))
        .unwrap();
    assert_eq!(h.send(census_upload).await.status, StatusCode::CREATED);
    h.upload_ok(&school, TEAM, "question.txt").await;

    let names = |days: i64| {
        let h = &h;
        let admin_user = &admin_user;
        async move {
            h.advance(time::Duration::days(days));
            let token = h.login(admin_user).await.access;
            let reply = h.get("/api/v1/reports/unclaimed", &token).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
            let items = reply.json["items"].as_array().unwrap().clone();
            items
                .iter()
                .map(|i| (i["filename"].as_str().unwrap().to_owned(), i["age_days"].as_u64().unwrap()))
                .collect::<Vec<_>>()
        }
    };
    assert!(names(2).await.is_empty(), "two days: within both thresholds");
    assert_eq!(names(2).await, [("8252001_SC.xml".to_owned(), 4)], "census waits 3 days, general 14");
    assert_eq!(
        names(11).await,
        [("8252001_SC.xml".to_owned(), 15), ("question.txt".to_owned(), 15)],
        "general waits the default 14 days"
    );
}
