//! The routing team's pages: a batch of checking files dropped through the browser form and
//! its report, the quarantine's school picker and discard, and the FSM turnaround, all through
//! the same use cases and policy as the API.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use pigeonpost::audit::{Actor, AuditEvent};
use pigeonpost::domain::{OrgKind, Role};
use pigeonpost::service::register::import_gias;
use time::macros::datetime;

use crate::support::app::TestApp;
use crate::support::router::register::transfer;
use crate::support::router::web::WebSession;
use crate::support::router::{Harness, Reply, SCHOOL_A, TEAM};

const BOUNDARY: &str = "pigeonpost-web-batch-5c2e";
const PDF: &[u8] = b"%PDF-1.4\nKS2 checking data\n%%EOF\n";

/// Three open schools from the register (so they have URNs), a fourth that converted to an
/// academy under a new number, and the team that routes files.
async fn register(h: &Harness) {
    // Known before its conversion, as every school the LA had is.
    h.org(OrgKind::School, "825/2104", "Ashgrove Primary School").await;
    let csv = "URN,LA (code),LA (name),EstablishmentNumber,EstablishmentName,TypeOfEstablishment (name),\
               EstablishmentTypeGroup (name),PhaseOfEducation (name),EstablishmentStatus (name),OpenDate,CloseDate\n\
               120101,825,Buckinghamshire,2101,Oakfield Primary School,Community school,Local authority maintained schools,Primary,Open,01-09-1990,\n\
               120102,825,Buckinghamshire,2102,Beechwood Junior School,Community school,Local authority maintained schools,Primary,Open,01-09-1990,\n\
               120103,825,Buckinghamshire,2103,Elmhurst Infant School,Community school,Local authority maintained schools,Primary,Open,01-09-1990,\n\
               120104,825,Buckinghamshire,2104,Ashgrove Primary School,Community school,Local authority maintained schools,Primary,Closed,01-09-1990,31-08-2025\n\
               120105,825,Buckinghamshire,4104,Ashgrove Primary Academy,Academy converter,Academies,Primary,Open,01-09-2025,\n";
    let links = "URN,LinkURN,LinkName,LinkType,LinkEstablishedDate\n\
                 120104,120105,Ashgrove Primary Academy,Successor,01-09-2025\n\
                 120105,120104,Ashgrove Primary School,Predecessor,01-09-2025\n";
    import_gias(h.state.repo(), h.now(), Actor::operator(), csv.as_bytes(), Some(links.as_bytes()), Some(825), false)
        .await
        .expect("import the register");
    h.org(OrgKind::Team, TEAM, "School Management Support Team").await;
}

fn multipart(csrf: Option<&str>, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut text = |name: &str, value: &str| {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        )
    };
    if let Some(csrf) = csrf {
        text("csrf", csrf);
    }
    text("channel", "checking-files");
    for (name, content) in files {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n\
                 Content-Type: application/pdf\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Posts the batch form as a browser on this site would.
async fn drop_batch(h: &Harness, s: &WebSession, csrf: Option<&str>, files: &[(&str, &[u8])]) -> Reply {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/batches")
        .header(header::HOST, "pigeonpost.test")
        .header(header::ORIGIN, "https://pigeonpost.test")
        .header("sec-fetch-site", "same-origin")
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
        .header(header::COOKIE, format!("{}={}", pigeonpost::web::session::COOKIE, s.cookie))
        .body(Body::from(multipart(csrf, files)))
        .expect("valid request");
    h.send(request).await
}

/// The ids of the team's quarantined files, through the API.
async fn held_ids(h: &Harness, access: &str) -> Vec<String> {
    let reply = h.get("/api/v1/quarantine", access).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["items"].as_array().expect("items").iter().map(|t| t["id"].as_str().expect("id").to_owned()).collect()
}

/// File names in a school's inbox, through the API.
async fn inbox(h: &Harness, access: &str) -> Vec<String> {
    let reply = h.get("/api/v1/transfers?box=inbox", access).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["filename"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn a_dropped_batch_reports_each_file_and_the_misnamed_one_is_routed_through_the_picker() {
    let h = TestApp::builder().router().await;
    register(&h).await;
    let team = h.user(TEAM, "router", Role::LaUser).await;
    let s = h.web_session(&team).await;
    let api = h.login(&team).await;
    let oak = h.user("825/2101", "oak-head", Role::SchoolAdmin).await;
    let oak_api = h.login(&oak).await;

    let form = h.page("/batches", Some(&s)).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text());
    assert!(form.text().contains("enctype=\"multipart/form-data\"") && form.text().contains(&s.csrf));

    let files: &[(&str, &[u8])] = &[
        ("8252101_KS2_checking.pdf", PDF),
        ("120102_KS2_checking.pdf", PDF),
        ("KS2_checking_elmhurst.pdf", PDF),
        ("8252104_KS2_checking.pdf", PDF),
    ];
    let dropped = drop_batch(&h, &s, Some(&s.csrf), files).await;
    assert_eq!(dropped.status, StatusCode::SEE_OTHER, "{}", dropped.text());
    let report_path = dropped.header("location").expect("the report's address").to_owned();
    assert!(report_path.starts_with("/batches/"), "{report_path}");

    let report = h.page(&report_path, Some(&s)).await;
    assert_eq!(report.status, StatusCode::OK);
    let text = report.text();
    assert!(text.contains("4 files. 3 delivered, 1 in the quarantine, 0 not accepted"), "{text}");
    assert!(text.contains("Delivered to Ashgrove Primary Academy (825/4104)"), "{text}");
    assert!(text.contains("Forwarded: 825/2104 (Ashgrove Primary School) has closed"), "the old number: {text}");
    assert!(text.contains("Delivered to Oakfield Primary School (825/2101) as KS2_checking.pdf"), "{text}");
    assert!(text.contains("Delivered to Beechwood Junior School (825/2102)"), "routed by URN: {text}");
    let misnamed = text.split("KS2_checking_elmhurst.pdf").nth(1).expect("the misnamed file's line");
    assert!(misnamed.contains("Held in the quarantine"), "{text}");
    assert_eq!(inbox(&h, &oak_api.access).await, vec!["KS2_checking.pdf".to_owned()]);

    let held = held_ids(&h, &api.access).await;
    assert_eq!(held.len(), 1);
    let id = &held[0];
    let list = h.page("/quarantine", Some(&s)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.text().contains("KS2_checking_elmhurst.pdf") && list.text().contains(&format!("/quarantine/{id}")));

    // The picker finds a school by its DfE number, with or without the slash, by URN and by name.
    for q in ["825%2F2103", "8252103", "120103", "elmhurst"] {
        let found = h.page(&format!("/quarantine/{id}?q={q}"), Some(&s)).await;
        assert_eq!(found.status, StatusCode::OK, "{q}");
        let text = found.text();
        assert!(text.contains("type=\"radio\" value=\"825/2103\""), "{q}: {text}");
        assert!(!text.contains("value=\"825/2101\""), "{q} matches only Elmhurst: {text}");
    }
    let by_name = h.page(&format!("/quarantine/{id}?q=Oak"), Some(&s)).await;
    assert!(by_name.text().contains("value=\"825/2101\"") && !by_name.text().contains("value=\"825/2103\""));

    // Without the form token nothing moves.
    let forged =
        h.submit(&format!("/quarantine/{id}/route"), Some(&s), &[("csrf", "forged"), ("to", "825/2103")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(held_ids(&h, &api.access).await, held);

    let routed = h.submit(&format!("/quarantine/{id}/route"), Some(&s), &[("to", "825/2103")]).await;
    assert_eq!(routed.status, StatusCode::OK, "{}", routed.text());
    assert!(routed.text().contains("Elmhurst Infant School (825/2103)"), "{}", routed.text());
    assert!(held_ids(&h, &api.access).await.is_empty());
    let elm = h.user("825/2103", "elm-head", Role::SchoolAdmin).await;
    let elm_api = h.login(&elm).await;
    assert_eq!(inbox(&h, &elm_api.access).await, vec!["KS2_checking_elmhurst.pdf".to_owned()]);
}

#[tokio::test]
async fn a_discard_asks_first_needs_the_form_token_and_then_removes_the_file() {
    let h = TestApp::builder().router().await;
    register(&h).await;
    let team = h.user(TEAM, "router", Role::LaUser).await;
    let s = h.web_session(&team).await;
    let api = h.login(&team).await;
    let dropped = drop_batch(&h, &s, Some(&s.csrf), &[("no_number_here.pdf", PDF)]).await;
    assert_eq!(dropped.status, StatusCode::SEE_OTHER, "{}", dropped.text());
    let held = held_ids(&h, &api.access).await;
    let id = &held[0];

    let confirm = h.page(&format!("/quarantine/{id}/discard"), Some(&s)).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.text().contains("Are you sure") && confirm.text().contains("no_number_here.pdf"));
    assert_eq!(held_ids(&h, &api.access).await, held, "asking is not discarding");

    let forged = h.submit(&format!("/quarantine/{id}/discard"), Some(&s), &[("csrf", "")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(held_ids(&h, &api.access).await, held);

    let done = h.submit(&format!("/quarantine/{id}/discard"), Some(&s), &[]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert!(done.text().contains("File discarded"));
    assert!(held_ids(&h, &api.access).await.is_empty());
    assert_eq!(h.page(&format!("/quarantine/{id}"), Some(&s)).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_batch_without_the_form_token_stores_nothing() {
    let h = TestApp::builder().router().await;
    register(&h).await;
    let team = h.user(TEAM, "router", Role::LaUser).await;
    let s = h.web_session(&team).await;
    let api = h.login(&team).await;
    let oak = h.user("825/2101", "oak-head", Role::SchoolAdmin).await;
    let oak_api = h.login(&oak).await;
    let files: &[(&str, &[u8])] = &[("8252101_KS2.pdf", PDF), ("misnamed.pdf", PDF)];
    for csrf in [None, Some("not-the-token")] {
        let reply = drop_batch(&h, &s, csrf, files).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{csrf:?}");
    }
    assert!(inbox(&h, &oak_api.access).await.is_empty());
    assert!(held_ids(&h, &api.access).await.is_empty());
}

#[tokio::test]
async fn a_hostile_file_name_in_the_report_and_the_quarantine_is_shown_escaped() {
    let h = TestApp::builder().router().await;
    register(&h).await;
    let team = h.user(TEAM, "router", Role::LaUser).await;
    let s = h.web_session(&team).await;
    let hostile = "<img src=x onerror=alert(1)>.pdf";
    let rtl = "KS2 \u{202e}fdp.exe";
    let dropped = drop_batch(&h, &s, Some(&s.csrf), &[(hostile, PDF), (rtl, PDF)]).await;
    assert_eq!(dropped.status, StatusCode::SEE_OTHER, "{}", dropped.text());
    let report = h.page(dropped.header("location").expect("location"), Some(&s)).await;
    let text = report.text();
    assert!(!text.contains("<img"), "{text}");
    assert!(text.contains("&#60;img src=x onerror=alert(1)&#62;.pdf"), "{text}");
    assert!(!text.contains('\u{202e}'), "no direction override reaches the page");
    assert!(text.contains("KS2 [U+202E]fdp.exe"), "{text}");
    let quarantine = h.page("/quarantine", Some(&s)).await.text();
    assert!(!quarantine.contains("<img"), "{quarantine}");
}

#[tokio::test]
async fn the_fsm_page_puts_overdue_requests_first_and_counts_only_working_days() {
    let h = TestApp::builder().router().await;
    register(&h).await;
    let team = h.user(TEAM, "fsm-officer", Role::LaUser).await;
    let smst = h.find_org(TEAM).await;
    let schools = [h.find_org("825/2101").await, h.find_org("825/2102").await, h.find_org("825/2103").await];
    // The harness clock reads Monday 2 March 2026, 09:00; the target is 3 working days.
    let sent = [
        (&schools[0], datetime!(2026-02-27 15:00 UTC)), // Friday: 1 used, 2 left
        (&schools[1], datetime!(2026-02-23 10:00 UTC)), // the Monday before: 5 used, overdue
        (&schools[2], datetime!(2026-02-25 11:00 UTC)), // Wednesday: 3 used, due today
    ];
    let batch: Vec<_> = sent
        .iter()
        .enumerate()
        .map(|(n, (school, at))| {
            (transfer(school, &smst, "fsm", *at, n as u32), AuditEvent::new(*at, Actor::operator(), "transfer.upload"))
        })
        .collect();
    let ids: Vec<String> = batch.iter().map(|(t, _)| t.id.0.to_string()).collect();
    h.state.repo().insert_transfers(&batch).await.expect("store the requests");

    let s = h.web_session(&team).await;
    let page = h.page("/fsm", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let text = page.text();
    let position = |id: &str| text.find(&format!("/transfers/{id}")).unwrap_or_else(|| panic!("{id} in {text}"));
    assert!(position(&ids[1]) < position(&ids[2]) && position(&ids[2]) < position(&ids[0]), "{text}");
    let row = |id: &str| {
        let start = position(id);
        text[start..].split("</tr>").next().unwrap_or_default().to_owned()
    };
    let overdue = row(&ids[1]);
    assert!(overdue.contains(">5<") && overdue.contains("Overdue"), "{overdue}");
    let today = row(&ids[2]);
    assert!(today.contains(">3<") && today.contains("0 working days") && today.contains("Due today"), "{today}");
    let friday = row(&ids[0]);
    assert!(friday.contains(">1<") && friday.contains("2 working days") && friday.contains("4 Mar 2026"), "{friday}");
    assert!(text.contains("3 waiting, 1 overdue"), "{text}");
}

#[tokio::test]
async fn a_school_user_is_refused_every_routing_page_and_form() {
    let h = TestApp::builder().router().await;
    register(&h).await;
    h.org(OrgKind::School, SCHOOL_A, "Example Primary").await;
    let team = h.user(TEAM, "router", Role::LaUser).await;
    let ts = h.web_session(&team).await;
    let dropped = drop_batch(&h, &ts, Some(&ts.csrf), &[("misnamed.pdf", PDF)]).await;
    let report = dropped.header("location").expect("location").to_owned();
    let api = h.login(&team).await;
    let id = held_ids(&h, &api.access).await.remove(0);

    for role in [Role::SchoolUser, Role::SchoolAdmin] {
        let user = h.user(SCHOOL_A, &format!("school-{}", role.as_str()), role).await;
        let s = h.web_session(&user).await;
        for path in [
            "/batches".to_owned(),
            report.clone(),
            "/quarantine".to_owned(),
            format!("/quarantine/{id}"),
            format!("/quarantine/{id}?q=Oak"),
            format!("/quarantine/{id}/discard"),
            "/fsm".to_owned(),
        ] {
            let reply = h.page(&path, Some(&s)).await;
            assert!(
                matches!(reply.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
                "{role:?} {path}: {}",
                reply.status
            );
        }
        for path in [format!("/quarantine/{id}/route"), format!("/quarantine/{id}/discard")] {
            let reply = h.submit(&path, Some(&s), &[("to", "825/2101")]).await;
            assert!(
                matches!(reply.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
                "{role:?} {path}: {}",
                reply.status
            );
        }
        let reply = drop_batch(&h, &s, Some(&s.csrf), &[("8252101_KS2.pdf", PDF)]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{role:?}: {}", reply.text());
    }
    assert_eq!(held_ids(&h, &api.access).await, vec![id], "the school moved nothing");
}

#[tokio::test]
async fn the_batches_page_lists_the_teams_recent_batches_newest_first_and_no_one_else_sees_them() {
    let h = TestApp::builder().router().await;
    register(&h).await;
    h.org(OrgKind::School, SCHOOL_A, "Example Primary").await;
    h.org(OrgKind::Team, "admissions", "Admissions").await;
    let router = h.user(TEAM, "router", Role::LaUser).await;
    let colleague = h.user(TEAM, "colleague", Role::LaUser).await;
    let (rs, cs) = (h.web_session(&router).await, h.web_session(&colleague).await);

    let empty = h.page("/batches", Some(&rs)).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.text().contains("Your team has not sent any checking files yet"), "{}", empty.text());

    let first = drop_batch(&h, &rs, Some(&rs.csrf), &[("8252101_KS2.pdf", PDF), ("misnamed.pdf", PDF)]).await;
    let first = first.header("location").expect("the first report").to_owned();
    let second = drop_batch(&h, &cs, Some(&cs.csrf), &[("8252102_KS2.pdf", PDF)]).await;
    let second = second.header("location").expect("the second report").to_owned();

    // Either of the team sees both, newest first, each with who sent it and what became of it.
    for s in [&rs, &cs] {
        let page = h.page("/batches", Some(s)).await;
        assert_eq!(page.status, StatusCode::OK);
        let text = page.text();
        let row = |report: &str| {
            let link = text.find(&format!("href=\"{report}\"")).unwrap_or_else(|| panic!("{report} in {text}"));
            let start = text[..link].rfind("<tr").expect("the row");
            (start, text[start..link].to_owned())
        };
        let (newer_at, newer) = row(&second);
        let (older_at, older) = row(&first);
        assert!(newer_at < older_at, "newest first: {text}");
        assert!(
            newer.contains("colleague") && newer.contains("1 file: 1 delivered, 0 in the quarantine, 0 not accepted")
        );
        assert!(
            older.contains("router") && older.contains("2 files: 1 delivered, 1 in the quarantine, 0 not accepted")
        );
        assert!(older.contains("2 Mar 2026") && older.contains("DfE checking files"), "when and on what: {older}");
    }
    assert_eq!(h.page(&second, Some(&rs)).await.status, StatusCode::OK, "the link leads to the report");

    // Another team (which may drop batches of its own) sees only its own list, and a school no
    // list at all; neither sees a report of ours.
    let other = h.user("admissions", "admissions-officer", Role::LaUser).await;
    let school = h.user(SCHOOL_A, "school-head", Role::SchoolAdmin).await;
    for (user, has_list) in [(other, true), (school, false)] {
        let s = h.web_session(&user).await;
        let page = h.page("/batches", Some(&s)).await;
        let refused = matches!(page.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND);
        assert_eq!((page.status == StatusCode::OK, refused), (has_list, !has_list), "{}", user.username);
        for report in [&first, &second] {
            assert!(!page.text().contains(report.as_str()), "{} is shown {report}", user.username);
            let reply = h.page(report, Some(&s)).await;
            assert!(
                matches!(reply.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
                "{report}: {}",
                reply.status
            );
        }
    }
}
