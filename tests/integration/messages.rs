//! Messages without a file, and replies threaded under what they answer, end to end.

use crate::support::app::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn message(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.request(Method::POST, key, "/api/v1/messages").json(&body).send().await.unwrap()
}

#[tokio::test]
async fn a_school_starts_a_conversation_with_a_team_without_a_file_and_the_reply_threads_under_it() {
    let app = TestApp::spawn();
    let asked = message(
        &app,
        &app.key_a,
        json!({"channel": "general", "to": TEAM, "message": "Our census return shows 3 pupils twice.\nCan you check?"}),
    )
    .await;
    let asked = expect_json(asked, StatusCode::CREATED).await;
    assert_eq!(asked["has_file"], false);
    assert_eq!(asked["recipient"]["ref"], TEAM);
    let id = asked["id"].as_str().unwrap();

    let inbox = app.list_all(&app.key_team, "inbox", None).await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["message"], "Our census return shows 3 pupils twice.\nCan you check?");
    let content = app.download(&app.key_team, id).await;
    expect_error(content, StatusCode::CONFLICT, Some("no_file")).await;
    expect_error(app.download(&app.key_b, id).await, StatusCode::NOT_FOUND, None).await;

    let answer = message(
        &app,
        &app.key_team,
        json!({"channel": "general", "to": SCHOOL_A, "message": "Fixed on our side.", "reply_to": id}),
    )
    .await;
    let answer = expect_json(answer, StatusCode::CREATED).await;
    assert_eq!(answer["reply_to"], id);
    let file_answer = app
        .request(Method::POST, &app.key_team, "/api/v1/transfers")
        .query(&[("channel", "general"), ("to", SCHOOL_A), ("filename", "corrected.csv"), ("reply_to", id)])
        .body(b"upn,name\n".to_vec())
        .send()
        .await
        .unwrap();
    let file_answer = expect_json(file_answer, StatusCode::CREATED).await;

    let thread = expect_json(app.metadata(&app.key_a, id).await, StatusCode::OK).await;
    let replies: Vec<&str> = thread["replies"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(replies, [answer["id"].as_str().unwrap(), file_answer["id"].as_str().unwrap()], "oldest first");
    let school_inbox = app.list_ids(&app.key_a, "inbox").await;
    assert!(school_inbox.contains(&answer["id"].as_str().unwrap().to_owned()));

    // Another school cannot see the thread, nor answer into it.
    expect_error(app.metadata(&app.key_b, id).await, StatusCode::NOT_FOUND, None).await;
    let intruder =
        message(&app, &app.key_b, json!({"channel": "general", "to": TEAM, "message": "me too", "reply_to": id})).await;
    expect_error(intruder, StatusCode::NOT_FOUND, None).await;
}

#[tokio::test]
async fn a_message_is_refused_where_the_channel_carries_files_only_or_it_is_blank() {
    let app = TestApp::spawn();
    let key = crate::support::people::all_channels_key(&app, SCHOOL_A, "all");
    let census = message(&app, &key, json!({"channel": "census", "message": "here is our return"})).await;
    expect_error(census, StatusCode::UNPROCESSABLE_ENTITY, Some("messages_not_allowed")).await;
    let blank = message(&app, &app.key_a, json!({"channel": "general", "to": TEAM, "message": "  \n "})).await;
    expect_error(blank, StatusCode::BAD_REQUEST, Some("empty_message")).await;
    let to_school = message(&app, &app.key_a, json!({"channel": "general", "to": SCHOOL_B, "message": "hi"})).await;
    expect_error(to_school, StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_recipient_kind")).await;
    let control = message(&app, &app.key_a, json!({"channel": "general", "to": TEAM, "message": "a\u{7}b"})).await;
    expect_error(control, StatusCode::BAD_REQUEST, Some("invalid_message")).await;
    assert!(app.list_all(&app.key_team, "inbox", None).await.is_empty(), "nothing refused was delivered");
}

// ----- sealed at rest ------------------------------------------------------------------------

fn marker(what: &str) -> String {
    format!("PIGEONPOST-{what}-MARKER-{}", uuid::Uuid::new_v4().simple())
}

fn assert_nowhere_in(app: &TestApp, needles: &[&str]) {
    for rel in &files_under(app.data_path()) {
        let data = std::fs::read(app.data_path().join(rel)).unwrap();
        for needle in needles {
            assert!(
                !data.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} is plain in {}",
                rel.display()
            );
        }
    }
}

async fn database(app: &TestApp) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}", app.data_path().join("pigeonpost.db").display());
    sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect(&url).await.expect("open the database")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_text_is_never_plain_at_rest_and_a_withdrawal_shreds_it() {
    let app = TestApp::builder().process();
    let beside_file = marker("BESIDE-A-FILE");
    let alone = marker("WITHOUT-A-FILE");
    let upload = app
        .upload_request(&app.key_a, TEAM, "return.csv")
        .query(&[("message", beside_file.as_str())])
        .body(b"upn,name\n".to_vec())
        .send()
        .await
        .unwrap();
    let upload = expect_json(upload, StatusCode::CREATED).await;
    assert_eq!(upload["message"], beside_file.as_str());
    let asked = message(&app, &app.key_a, json!({"channel": "general", "to": TEAM, "message": alone})).await;
    let asked = expect_json(asked, StatusCode::CREATED).await;

    let inbox = app.list_all(&app.key_team, "inbox", None).await;
    let texts: Vec<&str> = inbox.iter().filter_map(|t| t["message"].as_str()).collect();
    assert_eq!(texts, [alone.as_str(), beside_file.as_str()], "both read back, newest first");
    assert_nowhere_in(&app, &[&beside_file, &alone]);
    assert!(!app.server_log().contains(&alone), "a message is in the server's log");

    let id = asked["id"].as_str().unwrap();
    assert_eq!(app.delete(&app.key_a, id).await.status(), StatusCode::NO_CONTENT);
    let withdrawn = expect_json(app.metadata(&app.key_a, id).await, StatusCode::OK).await;
    assert_eq!(withdrawn["state"], "withdrawn");
    assert!(withdrawn.get("message").is_none_or(|m| m.is_null()), "the text went with the key: {withdrawn}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_stored_in_plain_text_before_are_sealed_when_the_server_starts() {
    let mut app = TestApp::spawn();
    let with_file = app.upload_ok(&app.key_a, TEAM, "return.csv", b"upn\n".to_vec()).await;
    let alone = expect_json(
        message(&app, &app.key_a, json!({"channel": "general", "to": TEAM, "message": "placeholder"})).await,
        StatusCode::CREATED,
    )
    .await;
    let gone = app.upload_ok(&app.key_a, TEAM, "gone.csv", b"upn\n".to_vec()).await;
    assert_eq!(app.delete(&app.key_a, gone["id"].as_str().unwrap()).await.status(), StatusCode::NO_CONTENT);

    // Put the rows back as an earlier release stored them: the text plain, and a message sent
    // without a file holding no data key.
    let (beside, without, withdrawn) = (marker("OLD-BESIDE"), marker("OLD-ALONE"), marker("OLD-WITHDRAWN"));
    let db = database(&app).await;
    let set = |id: &Value, text: &str, keyless: bool| {
        let sql = if keyless {
            "UPDATE transfers SET message = ?, message_sealed = NULL, kek_id = NULL, wrapped_dek = NULL WHERE id = ?"
        } else {
            "UPDATE transfers SET message = ?, message_sealed = NULL WHERE id = ?"
        };
        sqlx::query(sql).bind(text.to_owned()).bind(id.as_str().unwrap().to_owned()).execute(&db)
    };
    set(&with_file["id"], &beside, false).await.unwrap();
    set(&alone["id"], &without, true).await.unwrap();
    set(&gone["id"], &withdrawn, false).await.unwrap();
    db.close().await;

    app.restart(&[]);
    let inbox = app.list_all(&app.key_team, "inbox", None).await;
    let text_of = |id: &Value| inbox.iter().find(|t| t["id"] == *id).map(|t| t["message"].clone());
    assert_eq!(text_of(&with_file["id"]), Some(json!(beside)));
    assert_eq!(text_of(&alone["id"]), Some(json!(without)));
    let db = database(&app).await;
    let plain: i64 =
        sqlx::query_scalar("SELECT count(*) FROM transfers WHERE message IS NOT NULL").fetch_one(&db).await.unwrap();
    assert_eq!(plain, 0, "no plain message is left");
    let shredded: Option<Vec<u8>> = sqlx::query_scalar("SELECT message_sealed FROM transfers WHERE id = ?")
        .bind(gone["id"].as_str().unwrap().to_owned())
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(shredded, None, "a withdrawn transfer's old text is dropped, not sealed under a destroyed key");
    db.close().await;
    // WAL and journal pages may still hold the old text until SQLite reuses them; the live
    // table does not.
    let reply = expect_json(
        message(
            &app,
            &app.key_team,
            json!({"channel": "general", "to": SCHOOL_A, "message": "ok", "reply_to": alone["id"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(reply["reply_to"], alone["id"], "the sealed message still takes replies");
}
