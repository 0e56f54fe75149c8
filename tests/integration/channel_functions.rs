//! A channel limited to a function: in the receiving school only holders of that function and
//! the school's administrators see its files, and a change of function acts at once.

use crate::support::app::*;
use crate::support::people::{self, PASSWORD};
use pigeonpost::domain::OrgKind;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn token(app: &TestApp, username: &str) -> String {
    let resp = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&json!({ "username": username, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    expect_json(resp, StatusCode::CREATED).await["access_token"].as_str().unwrap().to_owned()
}

async fn inbox_names(app: &TestApp, token: &str) -> Vec<String> {
    let resp = app.request(Method::GET, token, "/api/v1/transfers?box=inbox").send().await.unwrap();
    let page: Value = expect_json(resp, StatusCode::OK).await;
    page["items"].as_array().unwrap().iter().map(|t| t["filename"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn finance_files_reach_only_the_finance_officer_and_the_schools_admin() {
    let app = TestApp::spawn();
    people::organisation(&app, OrgKind::Team, "finance", "LA Finance");
    // The finance function is there from the first start: the shipped finance channel routes by it.
    let finance_team = people::all_channels_key(&app, "finance", "month-end");
    for (user, role) in [("fin.officer", "school_user"), ("census.officer", "school_user"), ("head", "school_admin")] {
        people::add_user(&app, SCHOOL_A, user, role);
    }
    people::grant_function(&app, "fin.officer", "finance");

    let sent = app
        .request(Method::POST, &finance_team, "/api/v1/transfers")
        .query(&[("channel", "finance"), ("to", SCHOOL_A), ("filename", "reconciliation.csv")])
        .body(b"account,amount\n4010,12.50\n".to_vec())
        .send()
        .await
        .unwrap();
    let sent = expect_json(sent, StatusCode::CREATED).await;
    let id = sent["id"].as_str().unwrap();
    app.upload_ok(&app.key_team, SCHOOL_A, "newsletter.txt", b"for everyone".to_vec()).await;

    let finance = token(&app, "fin.officer").await;
    let census = token(&app, "census.officer").await;
    let head = token(&app, "head").await;
    assert_eq!(inbox_names(&app, &finance).await, ["newsletter.txt", "reconciliation.csv"]);
    assert_eq!(inbox_names(&app, &head).await, ["newsletter.txt", "reconciliation.csv"]);
    assert_eq!(inbox_names(&app, &census).await, ["newsletter.txt"], "no finance function, no finance files");
    assert_eq!(app.download(&census, id).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.download(&finance, id).await.status(), StatusCode::OK);

    // Given the function, the census officer sees the file at once, with the same session.
    people::grant_function(&app, "census.officer", "finance");
    assert_eq!(inbox_names(&app, &census).await, ["newsletter.txt", "reconciliation.csv"]);
    assert_eq!(app.download(&census, id).await.status(), StatusCode::OK);
    // Losing it hides the file again at once.
    let census_user = expect_json(
        app.request(Method::GET, &head, "/api/v1/users?org=825/2001").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let census_id = census_user.as_array().unwrap().iter().find(|u| u["username"] == "census.officer").unwrap()["id"]
        .as_i64()
        .unwrap();
    let revoke = app
        .request(Method::DELETE, &head, &format!("/api/v1/users/{census_id}/functions/finance"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    assert_eq!(inbox_names(&app, &census).await, ["newsletter.txt"]);
    assert_eq!(app.download(&census, id).await.status(), StatusCode::NOT_FOUND);
}
