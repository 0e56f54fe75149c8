//! The LA's reports on what schools send and collect. The unclaimed files report: deliveries
//! nobody in the recipient organisation has downloaded, past an age, for LA administrators. Over
//! TLS with the real clock (so ages are asked for as `older_than_days=0`), and in process with a
//! clock the test moves for each channel's own threshold. The collection report: which of a
//! register of 300 schools have sent their census this term, in process.

use crate::support::app::{expect_error, expect_json, TestApp, SCHOOL_A, SCHOOL_B, TEAM};
use crate::support::people::*;
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
    expect_error(unknown, StatusCode::BAD_REQUEST, Some("unknown_channel")).await;
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
    use crate::support::app::TestApp;
    use crate::support::router::{Harness, SCHOOL_A, TEAM};
    use pigeonpost::domain::Role;

    let h = TestApp::builder().router().await;
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

// ----- the collection report ----------------------------------------------------------------

mod collection {
    use axum::http::StatusCode;
    use pigeonpost::domain::Role;
    use serde_json::Value;

    use crate::support::app::TestApp;
    use crate::support::router::register::{census_term, dfe, urn, FORMULA_NAME, SCHOOLS};
    use crate::support::router::{Harness, Reply};

    async fn collection(h: &Harness, token: &str, query: &str) -> Reply {
        h.get(&format!("/api/v1/reports/collection?{query}"), token).await
    }

    fn school<'a>(list: &'a Value, dfe_number: &str) -> &'a Value {
        list.as_array().unwrap().iter().find(|s| s["dfe_number"] == dfe_number).unwrap_or_else(|| {
            panic!("{dfe_number} is not listed");
        })
    }

    fn numbers(list: &Value) -> Vec<String> {
        list.as_array().unwrap().iter().map(|s| s["dfe_number"].as_str().unwrap().to_owned()).collect()
    }

    async fn smst_user(h: &Harness) -> String {
        let user = h.user("smst", "data.officer", Role::LaUser).await;
        h.login(&user).await.access
    }

    #[tokio::test]
    async fn the_census_collection_report_sorts_300_schools_into_sent_and_not_sent_since_the_term_began() {
        let h = TestApp::builder().router().await;
        census_term(&h).await;
        let officer = h.user("smst", "data.officer", Role::LaUser).await;
        let token = h.login(&officer).await.access;

        // The clock is at 2 March 2026: the spring term, from 1 January.
        let reply = collection(&h, &token, "channel=census").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        let r = &reply.json;
        assert_eq!(r["channel"], "census");
        assert_eq!(r["since"], "2026-01-01T00:00:00Z");
        assert_eq!(r["counts"], serde_json::json!({ "expected": 300, "sent": 200, "not_sent": 100 }));
        let sent = numbers(&r["sent"]);
        let not_sent = numbers(&r["not_sent"]);
        let expect_sent: Vec<String> = (1..=SCHOOLS).filter(|i| i % 3 != 0).map(dfe).collect();
        let expect_not: Vec<String> = (1..=SCHOOLS).filter(|i| i % 3 == 0).map(dfe).collect();
        assert_eq!(sent, expect_sent, "in DfE number order");
        assert_eq!(not_sent, expect_not, "the withdrawn file of 825/2003 does not count");
        assert!(!sent.iter().chain(&not_sent).any(|n| n == "825/2301" || n == "825/2302"), "closed, proposed");

        let twice = school(&r["sent"], "825/2001");
        assert_eq!(twice["urn"], urn(1));
        assert_eq!(twice["name"], "School 1 Primary");
        assert_eq!(twice["files_since"], 2);
        assert_eq!(twice["last_file_at"], "2026-02-10T09:00:00Z");
        assert_eq!(school(&r["sent"], "825/2002")["files_since"], 1);
        let last_term = school(&r["not_sent"], "825/2006");
        assert_eq!(last_term["files_since"], 0, "its workforce census is another channel");
        assert_eq!(last_term["last_file_at"], "2025-10-05T14:30:00Z", "when it last sent, to chase it");
        assert_eq!(school(&r["not_sent"], "825/2003")["last_file_at"], Value::Null);

        // Since a date or a time: a file at exactly that time counts.
        let feb = collection(&h, &token, "channel=census&since=2026-02-01").await.json;
        assert_eq!(feb["counts"]["sent"], 100);
        let at = collection(&h, &token, "channel=census&since=2026-02-10T09:00:00Z").await.json;
        assert_eq!(at["counts"]["sent"], 100);
        let after = collection(&h, &token, "channel=census&since=2026-02-10T10:00:00%2B01:00").await.json;
        assert_eq!(after["counts"]["sent"], 100, "09:00Z is 10:00 BST");
        let later = collection(&h, &token, "channel=census&since=2026-02-10T09:00:01Z").await.json;
        assert_eq!(later["counts"], serde_json::json!({ "expected": 300, "sent": 0, "not_sent": 300 }));

        // Easter Monday 2026 is 6 April: from the 7th it is the summer term, and nobody has sent.
        h.clock.set(time::macros::datetime!(2026-04-07 08:00 UTC));
        let token = h.login(&officer).await.access;
        let summer = collection(&h, &token, "channel=census").await.json;
        assert_eq!(summer["since"], "2026-04-07T00:00:00Z");
        assert_eq!(summer["counts"]["sent"], 0);
    }

    #[tokio::test]
    async fn the_collection_report_is_for_the_collecting_team_and_la_administrators_never_a_school() {
        let h = TestApp::builder().router().await;
        census_term(&h).await;
        h.org(pigeonpost::domain::OrgKind::Team, "finance", "Schools Finance").await;
        let officer = smst_user(&h).await;
        let admin = h.user("finance", "la.admin", Role::LaAdmin).await;
        let admin = h.login(&admin).await.access;
        let other_team = h.user("finance", "finance.officer", Role::LaUser).await;
        let other_team = h.login(&other_team).await.access;
        let head = h.user(&dfe(1), "head@school1.example", Role::SchoolAdmin).await;
        let head = h.login(&head).await.access;
        let census_job = h.api_key("smst", Some(Harness::scope(&["census"], false, true))).await.token;
        let general_job = h.api_key("smst", Some(Harness::scope(&["general"], true, true))).await.token;
        let send_only = h.api_key("smst", Some(Harness::scope(&["census"], true, false))).await.token;
        let school_job = h.api_key(&dfe(1), Some(Harness::scope(&["*"], true, true))).await.token;

        for (who, token) in
            [("smst la_user", &officer), ("LA admin of another team", &admin), ("smst census key", &census_job)]
        {
            let reply = collection(&h, token, "channel=census").await;
            assert_eq!(reply.status, StatusCode::OK, "{who}: {}", reply.json);
        }
        for (who, token) in [
            ("la_user of another team", &other_team),
            ("school admin", &head),
            ("smst key without census", &general_job),
            ("smst key that only sends", &send_only),
            ("school key", &school_job),
        ] {
            let reply = collection(&h, token, "channel=census").await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{who}: {}", reply.json);
            assert!(reply.json.get("sent").is_none(), "{who}");
        }
        // No team collects the checking files (the LA sends them): administrators only.
        assert_eq!(collection(&h, &officer, "channel=checking-files").await.status, StatusCode::FORBIDDEN);
        let none = collection(&h, &admin, "channel=checking-files").await;
        assert_eq!(none.json["counts"]["expected"], 0, "schools do not send on it");
        let anonymous = h.request(axum::http::Method::GET, "/api/v1/reports/collection?channel=census", None, None);
        assert_eq!(anonymous.await.status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn the_collection_report_as_csv_has_a_line_per_school_not_sent_first_and_no_live_formulas() {
        let h = TestApp::builder().router().await;
        census_term(&h).await;
        let token = smst_user(&h).await;
        let reply = collection(&h, &token, "channel=census&format=csv").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("content-type"), Some("text/csv; charset=utf-8"));
        assert!(reply.header("content-disposition").is_some_and(|d| d.starts_with("attachment")));
        let mut csv = csv::Reader::from_reader(&reply.body[..]);
        assert_eq!(
            csv.headers().unwrap().iter().collect::<Vec<_>>(),
            ["dfe_number", "urn", "name", "sent", "files_since", "last_file_at"]
        );
        let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), SCHOOLS as usize);
        let sent: Vec<&str> = rows.iter().map(|r| &r[3]).collect();
        assert!(sent[..100].iter().all(|s| *s == "no") && sent[100..].iter().all(|s| *s == "yes"), "{sent:?}");
        assert_eq!(&rows[0].iter().collect::<Vec<_>>(), &["825/2003", "100003", "School 3 Primary", "no", "0", ""]);
        let six = rows.iter().find(|r| &r[0] == "825/2006").unwrap();
        assert_eq!(&six[5], "2025-10-05T14:30:00Z");
        let formula = rows.iter().find(|r| &r[0] == "825/2007").unwrap();
        assert_eq!(&formula[2], format!("'{FORMULA_NAME}"), "shown as text, never run");
        let json = collection(&h, &token, "channel=census").await.json;
        assert_eq!(school(&json["sent"], "825/2007")["name"], FORMULA_NAME, "JSON keeps the name as it is");
    }

    #[tokio::test]
    async fn bad_collection_report_parameters_get_400_saying_what_to_fix() {
        let h = TestApp::builder().router().await;
        h.org(pigeonpost::domain::OrgKind::Team, "smst", "School Management Support Team").await;
        let token = smst_user(&h).await;
        for (query, code) in [
            ("", "missing_parameter"),
            ("channel=censsus", "unknown_channel"),
            ("channel=census&since=last%20term", "invalid_since"),
            ("channel=census&since=2026-02-30", "invalid_since"),
            ("channel=census&format=xlsx", "invalid_format"),
            ("channel=census&sinse=2026-01-01", "invalid_query"),
        ] {
            let reply = collection(&h, &token, query).await;
            assert_eq!((reply.status, reply.error()), (StatusCode::BAD_REQUEST, code), "{query}: {}", reply.json);
            assert!(!reply.json["message"].as_str().unwrap_or("").is_empty(), "{query}");
        }
    }
}
