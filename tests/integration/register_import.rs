//! Keeping schools in step with the national register through `admin org import-gias`, on an
//! invented fixture in the real export's format (Windows-1252, many more columns).

use std::path::PathBuf;

use crate::support::app::*;
use crate::support::people;
use pigeonpost::domain::OrgKind;
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gias").join(name).display().to_string()
}

fn import(data: &std::path::Path, file: &str) -> String {
    cli_ok(data, &["admin", "org", "import-gias", &fixture(file), "--la", "825", "--links", &fixture("links.csv")])
}

/// A first import of an export with recent conversions and its links: an LA's first day.
fn import_conversions(data: &std::path::Path, more: &[&str]) -> String {
    let (establishments, links) = (fixture("establishments-conversions.csv"), fixture("links-conversions.csv"));
    let mut args = vec!["admin", "org", "import-gias", &establishments, "--la", "825", "--links", &links];
    args.extend_from_slice(more);
    cli_ok(data, &args)
}

/// The summary line, which the lines of ignored links' reasons follow.
fn summary(output: &str) -> &str {
    output.lines().find(|l| l.starts_with("imported: ") || l.starts_with("would change")).unwrap_or_default()
}

fn list(data: &std::path::Path, status: &str) -> Vec<Value> {
    let out = cli_ok(data, &["admin", "org", "list", "--status", status, "--json"]);
    serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().clone()
}

fn org(data: &std::path::Path, reference: &str) -> Value {
    let list: Value = serde_json::from_str(&cli_ok(data, &["admin", "org", "list", "--json"])).unwrap();
    list.as_array().unwrap().iter().find(|o| o["ref"] == reference).cloned().unwrap_or(Value::Null)
}

#[test]
fn a_first_import_adds_the_las_open_schools_and_a_rerun_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    cli_ok(data, &["migrate"]);

    let first = import(data, "establishments.csv");
    assert_eq!(
        summary(&first),
        "imported: added 16, added closed 3, updated 0, closed 0, unchanged 0, linked 4, other LAs 4, rejected 3, \
         closed and not added 1, links ignored 5"
    );
    assert!(first.contains("reject  establishments line 23: EstablishmentNumber is empty"), "{first}");
    assert!(first.contains("URN '99O023' is not a URN"), "{first}");

    // Windows-1252 names arrive intact.
    assert_eq!(org(data, "825/3301")["name"], "St Mary’s C of E Primary School");
    assert_eq!(org(data, "825/6001")["name"], "École Française de Chiltern Vale");
    // The academy conversion: one school, one mailbox, the new URN; the old URN is its predecessor.
    assert_eq!(org(data, "825/2020")["urn"], 990016);
    assert_eq!(org(data, "825/2020")["name"], "Ridgeway Primary Academy");
    assert!(first.contains("link    825/2020 (URN 990016) carries on 825/2020 (URN 990015)"), "{first}");
    // Other LAs' schools are left out.
    assert_eq!(org(data, "826/2001"), Value::Null);

    // Closed before Pigeonpost came, but carried on by an open school: there, so its number forwards.
    assert_eq!(org(data, "825/2005")["status"], "closed");
    assert_eq!(org(data, "825/2005")["successors"], serde_json::json!(["825/4005"]));
    assert_eq!(org(data, "825/2010"), Value::Null, "closed, and nothing carries it on");

    let again = import(data, "establishments.csv");
    assert!(
        summary(&again).starts_with("imported: added 0, added closed 0, updated 0, closed 0, unchanged 19,"),
        "{again}"
    );
    let listed = cli_ok(data, &["admin", "org", "list", "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&listed).unwrap().as_array().unwrap().len(), 19);
}

#[test]
fn a_later_export_closes_renames_and_opens_schools() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    import(data, "establishments.csv");
    assert_eq!(org(data, "825/2011")["status"], "open_proposed_to_close");

    let later = import(data, "establishments-later.csv");
    assert!(
        summary(&later).starts_with("imported: added 1, added closed 0, updated 1, closed 1, unchanged 17,"),
        "{later}"
    );
    assert_eq!(org(data, "825/2011")["status"], "closed");
    assert_eq!(org(data, "825/2003")["name"], "Oakfield Infant and Nursery School");
    assert_eq!(org(data, "825/2041")["status"], "open");

    let dry =
        cli_ok(data, &["admin", "org", "import-gias", &fixture("establishments.csv"), "--la", "825", "--dry-run"]);
    assert!(summary(&dry).starts_with("would change (dry run, nothing written):"), "{dry}");
    assert_eq!(org(data, "825/2003")["name"], "Oakfield Infant and Nursery School", "a dry run writes nothing");
}

#[test]
fn a_school_that_changed_its_dfe_number_is_closed_and_linked_to_its_successor() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    cli_ok(data, &["admin", "org", "add", "--kind", "school", "--dfe", "825/2005", "--name", "Fernhill Junior School"]);
    cli_ok(data, &["admin", "org", "add", "--kind", "school", "--dfe", "825/2030", "--name", "Elmwood Infant School"]);

    let out = import(data, "establishments.csv");
    assert!(out.contains("close   825/2005"), "{out}");
    assert!(out.contains("add     825/4005"), "{out}");
    assert!(out.contains("link    825/4005 (URN 990018) carries on 825/2005 (URN 990017)"), "{out}");
    assert!(out.contains("link    825/2032 (URN 990021) carries on 825/2030 (URN 990019)"), "{out}");
    assert_eq!(org(data, "825/2005")["status"], "closed");
    assert_eq!(org(data, "825/4005")["status"], "open");
}

#[tokio::test]
async fn a_closed_school_can_no_longer_log_in_or_receive() {
    let app = TestApp::spawn();
    // The harness's own first school is 825/2001; give it a neighbour that the register will close.
    people::organisation(&app, OrgKind::School, "825/2011", "Pennfield Primary School");
    let closing_key = people::key(&app, "825/2011", "pennfield-job");
    app.upload_ok(&closing_key, TEAM, "before.csv", b"still open".to_vec()).await;

    import(app.data_path(), "establishments-later.csv");

    let resp = app.upload(&closing_key, TEAM, "after.csv", b"closed now".to_vec()).await;
    expect_error(resp, StatusCode::UNAUTHORIZED, Some("organisation_closed")).await;
    let resp = app.upload(&app.key_team, "825/2011", "to-closed.csv", b"x".to_vec()).await;
    expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, Some("recipient_closed")).await;
    // Its history stays: the team still has the file it sent before closing.
    let inbox = app.list_all(&app.key_team, "inbox", None).await;
    assert!(inbox.iter().any(|t| t["filename"] == "before.csv"));
}

#[tokio::test]
async fn a_successor_school_sees_the_mailbox_history_of_its_predecessor() {
    let app = TestApp::spawn();
    people::organisation(&app, OrgKind::School, "825/2005", "Fernhill Junior School");
    let old_key = people::key(&app, "825/2005", "fernhill-old");
    let sent =
        app.upload_ok(&app.key_team, "825/2005", "checking-file.pdf", b"%PDF-1.4 for the old school".to_vec()).await;
    app.upload_ok(&old_key, TEAM, "census.xml", b"<census/>".to_vec()).await;

    import(app.data_path(), "establishments.csv");
    let new_key = people::key(&app, "825/4005", "fernhill-academy");

    let inbox = app.list_all(&new_key, "inbox", None).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["filename"], "checking-file.pdf");
    assert_eq!(app.download_bytes(&new_key, sent["id"].as_str().unwrap()).await, b"%PDF-1.4 for the old school");
    let sent_box = app.list_all(&new_key, "sent", None).await;
    assert_eq!(sent_box.len(), 1);
    assert_eq!(sent_box[0]["filename"], "census.xml");

    // A school that merely shares the LA sees none of it.
    let inbox_b = app.list_all(&app.key_b, "inbox", None).await;
    assert!(inbox_b.iter().all(|t| t["filename"] != "checking-file.pdf"));
    let resp = app.download(&app.key_b, sent["id"].as_str().unwrap()).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[test]
fn the_summary_counts_ignored_links_by_reason_and_verbose_lists_each_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    cli_ok(data, &["migrate"]);

    let dry = import_conversions(data, &["--dry-run"]);
    assert_eq!(
        summary(&dry),
        "would change (dry run, nothing written): added 7, added closed 5, updated 0, closed 0, unchanged 0, \
         linked 6, other LAs 2, rejected 1, closed and not added 3, links ignored 10"
    );
    let reasons: Vec<&str> = dry.lines().skip_while(|l| *l != summary(&dry)).skip(1).collect();
    assert_eq!(
        reasons,
        [
            "  links ignored, not a succession (such as a sixth form centre link): 2",
            "  links ignored, the predecessor is still open and keeps its own mail: 1",
            "  links ignored, an establishment of another LA: 2",
            "  links ignored, a closed establishment that no open school carries on, not added: 2",
            "  links ignored, an establishment whose row was refused: 2",
            "  links ignored, in neither the establishment export nor Pigeonpost: 1",
        ]
    );
    assert!(!dry.contains("ignore  "), "only --verbose lists each link: {dry}");
    assert!(dry.contains("add     825/2400  URN 990301  Brook Lane Primary School (closed"), "{dry}");

    let verbose = import_conversions(data, &["--verbose"]);
    let ignored: Vec<&str> = verbose.lines().filter(|l| l.starts_with("ignore  ")).collect();
    assert_eq!(ignored.len(), 10, "{verbose}");
    assert_eq!(
        ignored[0],
        "ignore  links line 10: URN 990321 Successor - amalgamated 990322: URN 990321 is a closed \
         establishment that no open school carries on, not added"
    );
    assert!(ignored.contains(
        &"ignore  links line 22: URN 990351 Successor - amalgamated 990352: URN 990351 is an establishment of another LA"
    ));
    let left_out: Vec<&str> = verbose.lines().filter(|l| l.starts_with("leave   ")).collect();
    assert_eq!(
        left_out,
        [
            "leave   825/2420  URN 990321  Willow First School: closed, and no open school carries it on",
            "leave   825/2421  URN 990322  Willow Middle School: closed, and no open school carries it on",
            "leave   825/2430  URN 990331  Station Road Primary School: closed, and no open school carries it on",
        ]
    );
    assert!(summary(&verbose).starts_with("imported: added 7, added closed 5,"), "the dry run wrote nothing");
}

#[test]
fn org_list_shows_open_or_closed_schools_and_whom_a_closed_one_forwards_to() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    cli_ok(data, &["migrate"]);
    cli_ok(
        data,
        &["admin", "org", "add", "--kind", "team", "--slug", "smst", "--name", "School Management Support Team"],
    );
    import_conversions(data, &[]);

    let refs = |rows: &[Value]| rows.iter().map(|o| o["ref"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let closed = list(data, "closed");
    assert_eq!(refs(&closed), ["825/2400", "825/2410", "825/2411", "825/2412", "825/2450"]);
    assert!(closed.iter().all(|o| o["status"] == "closed"));
    let successors = |rows: &[Value], r: &str| rows.iter().find(|o| o["ref"] == r).unwrap()["successors"].clone();
    assert_eq!(successors(&closed, "825/2400"), serde_json::json!(["825/4020"]));
    assert_eq!(successors(&closed, "825/2410"), serde_json::json!(["825/2412"]));
    assert_eq!(successors(&closed, "825/2412"), serde_json::json!(["825/4021"]));
    assert_eq!(successors(&closed, "825/2450"), serde_json::json!(["825/2451", "825/2452"]), "a split");

    let open = list(data, "open");
    assert_eq!(
        refs(&open),
        ["825/2440", "825/2451", "825/2452", "825/4020", "825/4021", "825/4030", "825/4031", "smst"]
    );
    assert!(open.iter().all(|o| o["successors"] == serde_json::json!([])));
    assert_eq!(list(data, "all").len(), 13);
    assert_eq!(
        cli_ok(data, &["admin", "org", "list", "--json"]),
        cli_ok(data, &["admin", "org", "list", "--status", "all", "--json"])
    );

    let text = cli_ok(data, &["admin", "org", "list", "--status", "closed"]);
    let line = text.lines().find(|l| l.contains("825/2400")).unwrap();
    assert!(
        line.contains("closed") && line.ends_with("-> carried on by 825/4020 (Brook Lane Primary Academy)"),
        "{line}"
    );
    let wrong = cli(data, &["admin", "org", "list", "--status", "shut"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("open"), "names the values it takes");
}

const BOUNDARY: &str = "pigeonpost-register-boundary";

fn multipart(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, content) in files {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.4\n{text}\n%%EOF\n").into_bytes()
}

#[tokio::test]
async fn a_first_import_forwards_the_old_numbers_of_recent_conversions() {
    let app = TestApp::spawn();
    // Once, into a register that never knew the converted schools.
    let out = import_conversions(app.data_path(), &[]);
    assert!(summary(&out).starts_with("imported: added 7, added closed 5,"), "{out}");
    let job = people::all_channels_key(&app, TEAM, "la-jobs");
    let job = job.as_str();

    let mut notes = Vec::new();
    for to in ["825/2400", "8252400"] {
        let resp = app
            .request(Method::POST, job, "/api/v1/transfers")
            .query(&[("channel", "ctf"), ("to", to), ("filename", "CTF_pupil.xml")])
            .body(b"<?xml version=\"1.0\"?><CTfile/>".to_vec())
            .send()
            .await
            .unwrap();
        let sent = expect_json(resp, StatusCode::CREATED).await;
        assert_eq!(sent["recipient"]["ref"], "825/4020", "to={to}");
        let note = sent["routing_note"].as_str().unwrap().to_owned();
        assert!(note.contains("825/2400") && note.contains("825/4020"), "{note}");
        notes.push(note);
    }

    let files = [
        ("8252400_KS2_checking.pdf", pdf("Brook Lane")),
        ("8252410_KS2_checking.pdf", pdf("Hazel Infant, amalgamated then converted")),
        ("8252420_KS2_checking.pdf", pdf("Willow First, closed for good")),
    ];
    let resp = app
        .request(Method::POST, job, "/api/v1/batches")
        .query(&[("channel", "checking-files")])
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(multipart(&files))
        .send()
        .await
        .unwrap();
    let report = expect_json(resp, StatusCode::OK).await;
    assert_eq!((report["delivered"].as_u64(), report["quarantined"].as_u64()), (Some(2), Some(1)), "{report}");
    let result = |name: &str| report["results"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap().clone();
    let converted = result("8252400_KS2_checking.pdf");
    assert_eq!(converted["to"], "825/4020");
    assert!(converted["note"].as_str().unwrap().contains("825/2400"), "{converted}");
    let chained = result("8252410_KS2_checking.pdf");
    assert_eq!(chained["to"], "825/4021", "two successions away");
    assert!(chained["note"].as_str().unwrap().contains("825/2410"), "{chained}");
    let gone = result("8252420_KS2_checking.pdf");
    assert_eq!((gone["outcome"].as_str(), gone["code"].as_str()), (Some("quarantined"), Some("unknown_school")));

    let academy = people::all_channels_key(&app, "825/4020", "mis");
    let inbox = app.list_all(&academy, "inbox", None).await;
    let mut names: Vec<&str> = inbox.iter().map(|t| t["filename"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["CTF_pupil.xml", "CTF_pupil.xml", "KS2_checking.pdf"]);
    assert!(inbox.iter().all(|t| t["routing_note"].as_str().is_some_and(|n| n.contains("825/2400"))), "{inbox:?}");
}
