//! The operator's tools for people, through the real binary: the first system administrator,
//! adding people, second factors enrolled on someone's behalf, and switching accounts off.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::app::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn login(app: &TestApp, body: Value) -> reqwest::Response {
    app.client.post(app.url("/api/v1/session")).json(&body).send().await.unwrap()
}

fn add_user_with_password(app: &TestApp, args: &[&str], password: &str) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(["admin", "user", "add", "--password-stdin", "--data-dir"])
        .arg(app.data_path())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn the_first_start_creates_one_system_administrator_and_prints_its_password_once() {
    let mut app = TestApp::builder().process();
    let log = app.server_log();
    let line =
        log.lines().find(|l| l.contains("created the system administrator 'admin'")).unwrap_or_else(|| panic!("{log}"));
    let password = line.rsplit(' ').next().unwrap().to_owned();

    let resp = login(&app, json!({ "username": "admin", "password": password })).await;
    let session = expect_json(resp, StatusCode::CREATED).await;
    assert_eq!(session["user"]["role"], "system_admin");
    assert_eq!(session["pending"], json!(["enrol_totp"]), "a system administrator must set up a second factor first");

    app.restart(&[]);
    assert!(!app.server_log().contains("created the system administrator"), "only an empty database gets one");
}

#[tokio::test]
async fn an_operator_adds_people_resets_their_second_factor_and_disables_them() {
    let app = TestApp::spawn();
    let out = cli_ok(
        app.data_path(),
        &["admin", "user", "add", "--org", "825/2001", "--username", "office@ashby.example", "--role", "school_admin"],
    );
    let generated =
        out.lines().find_map(|l| l.strip_prefix("initial password (shown once): ")).unwrap_or_else(|| panic!("{out}"));
    let resp = login(&app, json!({ "username": "office@ashby.example", "password": generated })).await;
    expect_json(resp, StatusCode::CREATED).await;

    // A weak chosen password is refused with the reason; a good one is taken as given.
    let weak = add_user_with_password(
        &app,
        &["--org", "smst", "--username", "jo.bloggs", "--role", "la_user"],
        "password1234",
    );
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("common"), "{}", String::from_utf8_lossy(&weak.stderr));
    let good = add_user_with_password(
        &app,
        &["--org", "smst", "--username", "jo.bloggs", "--role", "la_user"],
        "correct horse battery staple",
    );
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    assert!(!String::from_utf8_lossy(&good.stdout).contains("correct horse"), "a chosen password is never echoed");

    // A second factor enrolled on the user's behalf: the URI and ten single-use recovery codes.
    let out = cli_ok(app.data_path(), &["admin", "user", "reset-totp", "jo.bloggs"]);
    assert!(out.lines().next().unwrap().starts_with("otpauth://totp/Pigeonpost:jo.bloggs?"), "{out}");
    let codes: Vec<&str> = out.lines().skip(2).map(str::trim).collect();
    assert_eq!(codes.len(), 10, "{out}");
    let without = login(&app, json!({ "username": "jo.bloggs", "password": "correct horse battery staple" })).await;
    expect_error(without, StatusCode::UNAUTHORIZED, Some("second_factor_required")).await;
    let with_code =
        json!({ "username": "jo.bloggs", "password": "correct horse battery staple", "recovery_code": codes[0] });
    let session = expect_json(login(&app, with_code.clone()).await, StatusCode::CREATED).await;
    assert_eq!(session["pending"], json!([]));
    expect_error(login(&app, with_code).await, StatusCode::UNAUTHORIZED, None).await;

    let token = session["access_token"].as_str().unwrap().to_owned();
    let me = app.request(Method::GET, &token, "/api/v1/session").send().await.unwrap();
    assert_eq!(expect_json(me, StatusCode::OK).await["username"], "jo.bloggs");

    let listed: Value =
        serde_json::from_str(&cli_ok(app.data_path(), &["admin", "user", "list", "--org", "smst", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["totp"], true);

    cli_ok(app.data_path(), &["admin", "user", "disable", "jo.bloggs"]);
    let me = app.request(Method::GET, &token, "/api/v1/session").send().await.unwrap();
    expect_error(me, StatusCode::UNAUTHORIZED, Some("account_disabled")).await;
}

/// Defines `slug` unless the install already has it (a new install may come with it).
fn ensure_function(app: &TestApp, slug: &str, name: &str) {
    let defined = cli_ok(app.data_path(), &["admin", "function", "list"]);
    if !defined.lines().any(|l| l.split_whitespace().next() == Some(slug)) {
        cli_ok(app.data_path(), &["admin", "function", "add", "--slug", slug, "--name", name]);
    }
}

#[tokio::test]
async fn user_add_with_functions_gives_them_at_once_and_refuses_an_unknown_one_before_creating_anyone() {
    let app = TestApp::spawn();
    ensure_function(&app, "assessment", "Assessment and checking files");
    ensure_function(&app, "data", "Census and pupil data");
    let password = "Copper-Lantern-Orchard-58";
    let args = |username: &'static str, functions: &[&'static str]| {
        let mut a = vec!["--org", SCHOOL_A, "--username", username, "--role", "school_user"];
        for f in functions {
            a.extend(["--function", f]);
        }
        a
    };

    let added = add_user_with_password(&app, &args("exams.officer", &["assessment", "data", "assessment"]), password);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let stdout = String::from_utf8_lossy(&added.stdout);
    assert!(stdout.contains("exams.officer now holds assessment") && stdout.contains("now holds data"), "{stdout}");
    let plain = add_user_with_password(&app, &args("office.clerk", &[]), password);
    assert!(plain.status.success(), "{}", String::from_utf8_lossy(&plain.stderr));

    let typo = add_user_with_password(&app, &args("new.starter", &["data", "asessment"]), password);
    assert!(!typo.status.success());
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(stderr.contains("no function 'asessment'") && stderr.contains("assessment"), "{stderr}");
    assert!(stderr.contains("No account was created"), "{stderr}");
    let listed = cli_ok(app.data_path(), &["admin", "user", "list", "--json"]);
    assert!(!listed.contains("new.starter"), "{listed}");

    // The functions work as granted over the API: checking files reach the assessment holder only.
    let job = app.cli_ok(&["admin", "key", "create", "--org", TEAM, "--name", "checking", "--channels", "*"]);
    let resp = app
        .request(Method::POST, job.trim(), "/api/v1/transfers")
        .query(&[("channel", "checking-files"), ("filename", "8252001_KS2_checking.pdf")])
        .body(b"%PDF-1.4\nKS2\n%%EOF\n".to_vec())
        .send()
        .await
        .unwrap();
    expect_json(resp, StatusCode::CREATED).await;
    for (username, expected) in [("exams.officer", 1), ("office.clerk", 0)] {
        let session = login(&app, json!({ "username": username, "password": password })).await;
        let token = expect_json(session, StatusCode::CREATED).await["access_token"].as_str().unwrap().to_owned();
        let resp = app.request(Method::GET, &token, "/api/v1/transfers?box=inbox").send().await.unwrap();
        let inbox = expect_json(resp, StatusCode::OK).await;
        assert_eq!(inbox["items"].as_array().unwrap().len(), expected, "{username}: {inbox}");
    }

    // Granted as the operator, on the audit trail like any other grant.
    let url = format!("sqlite://{}", app.data_path().join("pigeonpost.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    let grants: Vec<String> =
        sqlx::query_scalar("SELECT details FROM audit_events WHERE action = 'user.grant_function' ORDER BY seq")
            .fetch_all(&db)
            .await
            .unwrap();
    db.close().await;
    assert_eq!(grants.len(), 2, "each function once: {grants:?}");
    assert!(grants[0].contains("assessment") && grants[1].contains("data"), "{grants:?}");
}

#[tokio::test]
async fn the_first_start_defines_the_functions_the_shipped_channels_route_by_once() {
    let mut app = TestApp::spawn();
    let listed = app.cli_ok(&["admin", "function", "list"]);
    let slugs: Vec<&str> = listed.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(slugs, ["admissions", "assessment", "data", "finance"], "{listed}");
    assert!(listed.contains("School Census"), "each function says what it is for: {listed}");

    // A second start finds the work done, and a person can be given a seeded function.
    app.restart(&[]);
    assert_eq!(app.cli_ok(&["admin", "function", "list"]), listed);
    let out = cli_ok(
        app.data_path(),
        &["admin", "user", "add", "--org", "825/2001", "--username", "census.lead", "--role", "school_user"],
    );
    assert!(out.contains("initial password"), "{out}");
    let granted = app.cli_ok(&["admin", "user", "grant", "census.lead", "--function", "data"]);
    assert!(granted.contains("census.lead now holds data"), "{granted}");
    let url = format!("sqlite://{}", app.data_path().join("pigeonpost.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    let defined: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'function.define'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(defined, 4, "each function is defined, and audited, once");
    db.close().await;
}
