//! LA administrators change channels through the API, end to end: what they change is what
//! schools see and what uploads meet, at once and after a restart; nobody else may change them.

use crate::support::app::*;
use crate::support::people::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const XML: &[u8] = b"<?xml version=\"1.0\"?><Return><Header/></Return>";
const CENSUS_FILE: &str = "8252001_SC_2026.xml";

async fn census_upload(app: &TestApp, key: &str, filename: &str, body: &[u8]) -> reqwest::Response {
    app.request(Method::POST, key, "/api/v1/transfers")
        .query(&[("channel", "census"), ("filename", filename)])
        .body(body.to_vec())
        .send()
        .await
        .expect("upload request")
}

async fn show(app: &TestApp, token: &str, slug: &str) -> reqwest::Response {
    app.request(Method::GET, token, &format!("/api/v1/channels/{slug}")).send().await.expect("show request")
}

async fn put(app: &TestApp, token: &str, slug: &str, definition: &Value) -> reqwest::Response {
    app.request(Method::PUT, token, &format!("/api/v1/channels/{slug}")).json(definition).send().await.expect("put")
}

async fn remove(app: &TestApp, token: &str, slug: &str) -> reqwest::Response {
    app.request(Method::DELETE, token, &format!("/api/v1/channels/{slug}")).send().await.expect("delete request")
}

/// The definition in force, as the administrator reads it.
async fn definition(app: &TestApp, admin: &str, slug: &str) -> Value {
    expect_json(show(app, admin, slug).await, StatusCode::OK).await["channel"].clone()
}

/// The channel as `key` sees it in the catalogue.
async fn offered(app: &TestApp, key: &str, slug: &str) -> Option<Value> {
    let list =
        expect_json(app.request(Method::GET, key, "/api/v1/channels").send().await.unwrap(), StatusCode::OK).await;
    list.as_array().expect("a list").iter().find(|c| c["slug"] == slug).cloned()
}

#[tokio::test]
async fn an_la_admin_narrows_what_a_channel_accepts_and_schools_meet_the_change_at_once() {
    let app = TestApp::spawn();
    let admin = la_admin(&app, "la.admin").await;
    let school = all_channels_key(&app, SCHOOL_A, "mis");

    let before = expect_json(show(&app, &admin, "census").await, StatusCode::OK).await;
    assert_eq!(before["source"], "file");
    assert_eq!(before["overridden"], false);
    assert_eq!(before["channel"]["extensions"], json!(["xml", "zip"]));

    let mut census = before["channel"].clone();
    census["extensions"] = json!(["xml"]);
    census["max_size_bytes"] = json!(100);
    // A function no installation starts with: the answer warns until it is defined.
    census["function"] = json!("census-lead");
    let changed = expect_json(put(&app, &admin, "census", &census).await, StatusCode::OK).await;
    assert_eq!(changed["source"], "changed");
    assert_eq!(changed["overridden"], true);
    assert_eq!(changed["updated_by"], "la.admin");
    assert!(changed["updated_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{changed}");
    let warnings = changed["warnings"].to_string();
    assert!(warnings.contains("function 'census-lead' is not defined"), "the function is not set up: {warnings}");
    define_function(&app, "census-lead", "Census lead");
    let shown = expect_json(show(&app, &admin, "census").await, StatusCode::OK).await;
    assert_eq!(shown["warnings"], json!([]), "smst and the census-lead function are both set up: {shown}");

    let seen = offered(&app, &school, "census").await.expect("census offered");
    assert_eq!(seen["extensions"], json!(["xml"]));
    assert_eq!(seen["max_size_bytes"], 100);
    let zip = census_upload(&app, &school, "8252001_SC_2026.zip", b"PK\x03\x04").await;
    expect_error(zip, StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("type_not_allowed")).await;
    let big = census_upload(&app, &school, CENSUS_FILE, &[b' '; 200]).await;
    expect_error(big, StatusCode::PAYLOAD_TOO_LARGE, Some("too_large")).await;
    let ok = expect_json(census_upload(&app, &school, CENSUS_FILE, XML).await, StatusCode::CREATED).await;
    assert_eq!(ok["recipient"]["ref"], TEAM);

    // Widened again, the zip is accepted.
    census["extensions"] = json!(["xml", "zip", "txt"]);
    expect_json(put(&app, &admin, "census", &census).await, StatusCode::OK).await;
    let txt = census_upload(&app, &school, "8252001_notes.txt", b"plain text").await;
    expect_json(txt, StatusCode::CREATED).await;
}

#[tokio::test]
async fn a_switched_off_channel_refuses_uploads_until_it_is_switched_on_again() {
    let app = TestApp::spawn();
    let admin = la_admin(&app, "la.admin").await;
    let school = all_channels_key(&app, SCHOOL_A, "mis");
    let mut census = definition(&app, &admin, "census").await;

    census["enabled"] = json!(false);
    let off = expect_json(put(&app, &admin, "census", &census).await, StatusCode::OK).await;
    assert!(off["warnings"].to_string().contains("switched off"), "{off}");
    let seen = offered(&app, &school, "census").await.expect("a switched-off channel is still listed");
    assert_eq!(seen["enabled"], false);
    assert_eq!(seen["can_send"], false);
    assert!(seen["reason"].as_str().is_some_and(|r| r.contains("switched this channel off")), "{seen}");
    let refused = census_upload(&app, &school, CENSUS_FILE, XML).await;
    let v = expect_error(refused, StatusCode::FORBIDDEN, Some("channel_off")).await;
    assert!(v["message"].as_str().unwrap().contains("nothing was kept"), "{v}");
    // Other channels carry on.
    app.upload_ok(&app.key_a, TEAM, "note.txt", b"hello".to_vec()).await;

    census["enabled"] = json!(true);
    expect_json(put(&app, &admin, "census", &census).await, StatusCode::OK).await;
    assert_eq!(offered(&app, &school, "census").await.unwrap()["can_send"], true);
    expect_json(census_upload(&app, &school, CENSUS_FILE, XML).await, StatusCode::CREATED).await;
}

#[tokio::test]
async fn removing_a_change_restores_the_files_definition_and_removes_a_channel_made_through_the_api() {
    let app = TestApp::spawn();
    let admin = la_admin(&app, "la.admin").await;
    let school = all_channels_key(&app, SCHOOL_A, "mis");
    let mut census = definition(&app, &admin, "census").await;
    census["extensions"] = json!(["xml"]);
    expect_json(put(&app, &admin, "census", &census).await, StatusCode::OK).await;

    let reverted = expect_json(remove(&app, &admin, "census").await, StatusCode::OK).await;
    assert_eq!(reverted["source"], "file");
    assert_eq!(reverted["channel"]["extensions"], json!(["xml", "zip"]));
    assert_eq!(offered(&app, &school, "census").await.unwrap()["extensions"], json!(["xml", "zip"]));
    let again = remove(&app, &admin, "census").await;
    let v = expect_error(again, StatusCode::NOT_FOUND, Some("not_found")).await;
    assert!(v["message"].as_str().unwrap().contains("no change to remove"), "{v}");

    // A new channel, its slug taken from the address, routed to a team not set up yet.
    let sen = json!({
        "name": "SEN returns",
        "description": "Special educational needs returns, for the SEN team.",
        "extensions": ["csv"],
        "route": [{ "from": "schools", "to": "team:sen" }]
    });
    let created = expect_json(put(&app, &admin, "sen", &sen).await, StatusCode::CREATED).await;
    assert_eq!(created["source"], "api");
    assert_eq!(created["channel"]["slug"], "sen");
    let warnings = created["warnings"].to_string();
    assert!(warnings.contains("no team 'sen'") && warnings.contains("admin org add"), "{warnings}");
    assert_eq!(offered(&app, &school, "sen").await.expect("sen offered")["sends_to"], "team:sen");
    let unrouted = app
        .request(Method::POST, &school, "/api/v1/transfers")
        .query(&[("channel", "sen"), ("filename", "sen.csv")])
        .body(b"upn,need\n".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(unrouted.status(), StatusCode::UNPROCESSABLE_ENTITY, "no team to deliver to: nothing is kept");

    let gone = remove(&app, &admin, "sen").await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert!(offered(&app, &school, "sen").await.is_none());
    expect_error(show(&app, &admin, "sen").await, StatusCode::NOT_FOUND, Some("not_found")).await;
    expect_error(remove(&app, &admin, "sen").await, StatusCode::NOT_FOUND, Some("not_found")).await;
}

#[tokio::test]
async fn nobody_but_an_la_administrator_may_read_or_change_a_channels_definition() {
    let app = TestApp::spawn();
    let admin = la_admin(&app, "la.admin").await;
    let census = definition(&app, &admin, "census").await;
    let mut closed = census.clone();
    closed["enabled"] = json!(false);

    let school_admin = person(&app, SCHOOL_A, "head", "school_admin").await;
    let la_user = person(&app, TEAM, "la.user", "la_user").await;
    let school_key = all_channels_key(&app, SCHOOL_A, "mis");
    let team_key = all_channels_key(&app, TEAM, "team-job");
    for (who, token) in
        [("school admin", &school_admin), ("la_user", &la_user), ("school key", &school_key), ("team key", &team_key)]
    {
        for resp in [
            show(&app, token, "census").await,
            put(&app, token, "census", &closed).await,
            put(&app, token, "sneaky", &census).await,
            remove(&app, token, "census").await,
        ] {
            let (status, body) = (resp.status(), resp.text().await.unwrap());
            assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
            assert!(body.contains("\"error\":\"forbidden\""), "{who}: {body}");
        }
    }
    let now = expect_json(show(&app, &admin, "census").await, StatusCode::OK).await;
    assert_eq!(now["overridden"], false, "nothing was changed");
    assert!(offered(&app, &school_key, "sneaky").await.is_none());
}

#[tokio::test]
async fn a_definition_that_cannot_work_is_refused_with_what_to_fix() {
    let app = TestApp::spawn();
    let admin = la_admin(&app, "la.admin").await;
    let census = definition(&app, &admin, "census").await;
    let with = |field: &str, value: Value| {
        let mut c = census.clone();
        c[field] = value;
        c
    };
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        (
            with("extension", json!(["xml"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_channel",
            "unknown field `extension`",
        ),
        (with("route", json!([])), StatusCode::UNPROCESSABLE_ENTITY, "invalid_channel", "no route"),
        (
            with("route", json!([{ "from": "schools", "to": "everyone" }])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_channel",
            "is not a recipient rule",
        ),
        (with("extensions", json!([".XML"])), StatusCode::UNPROCESSABLE_ENTITY, "invalid_channel", "lower case"),
        (with("max_size_bytes", json!(0)), StatusCode::UNPROCESSABLE_ENTITY, "invalid_channel", "max_size_bytes"),
        (with("max_size_bytes", json!("big")), StatusCode::UNPROCESSABLE_ENTITY, "invalid_channel", "invalid type"),
        (with("slug", json!("ctf")), StatusCode::BAD_REQUEST, "slug_mismatch", "leave it out or make them match"),
        (json!(["census"]), StatusCode::UNPROCESSABLE_ENTITY, "invalid_channel", "JSON object"),
    ];
    for (body, status, code, hint) in cases {
        let v = expect_error(put(&app, &admin, "census", &body).await, status, Some(code)).await;
        let message = v["message"].as_str().unwrap();
        assert!(message.contains(hint), "{body}: expected the message to mention {hint:?}, got {message:?}");
    }
    let malformed = app
        .request(Method::PUT, &admin, "/api/v1/channels/census")
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    expect_error(malformed, StatusCode::BAD_REQUEST, Some("invalid_body")).await;
    let bad_slug = put(
        &app,
        &admin,
        "Census2026",
        &json!({ "name": "x", "description": "", "route": [{ "from": "any", "to": "explicit" }] }),
    )
    .await;
    let v = expect_error(bad_slug, StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_channel")).await;
    assert!(v["message"].as_str().unwrap().contains("lower-case letters"), "{v}");

    let after = expect_json(show(&app, &admin, "census").await, StatusCode::OK).await;
    assert_eq!(after["overridden"], false, "nothing refused was stored");
}

#[tokio::test]
async fn a_change_survives_a_restart() {
    let mut app = TestApp::spawn();
    let admin = la_admin(&app, "la.admin").await;
    let school = all_channels_key(&app, SCHOOL_A, "mis");
    let mut census = definition(&app, &admin, "census").await;
    census["enabled"] = json!(false);
    census["unclaimed_after_days"] = json!(3);
    expect_json(put(&app, &admin, "census", &census).await, StatusCode::OK).await;

    app.restart(&[]);
    let seen = offered(&app, &school, "census").await.unwrap();
    assert_eq!(seen["enabled"], false);
    assert_eq!(seen["unclaimed_after_days"], 3);
    expect_error(census_upload(&app, &school, CENSUS_FILE, XML).await, StatusCode::FORBIDDEN, Some("channel_off"))
        .await;
    let shown = expect_json(show(&app, &admin, "census").await, StatusCode::OK).await;
    assert_eq!(shown["updated_by"], "la.admin");
}
