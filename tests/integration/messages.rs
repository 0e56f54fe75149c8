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
