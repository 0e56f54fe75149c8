//! Keeping schools in step with the national register through `admin org import-gias`, on an
//! invented fixture in the real export's format (Windows-1252, many more columns).

mod common;

use std::path::PathBuf;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gias").join(name).display().to_string()
}

fn import(data: &std::path::Path, file: &str) -> String {
    cli_ok(data, &["admin", "org", "import-gias", &fixture(file), "--la", "825", "--links", &fixture("links.csv")])
}

fn summary(output: &str) -> &str {
    output.lines().last().unwrap_or_default()
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
        "imported: added 16, updated 0, closed 0, unchanged 0, linked 1, other LAs 4, rejected 3, closed and not added 4, links ignored 11"
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

    let again = import(data, "establishments.csv");
    assert!(summary(&again).starts_with("imported: added 0, updated 0, closed 0, unchanged 16,"), "{again}");
    let listed = cli_ok(data, &["admin", "org", "list", "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&listed).unwrap().as_array().unwrap().len(), 16);
}

#[test]
fn a_later_export_closes_renames_and_opens_schools() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    import(data, "establishments.csv");
    assert_eq!(org(data, "825/2011")["status"], "open_proposed_to_close");

    let later = import(data, "establishments-later.csv");
    assert!(summary(&later).starts_with("imported: added 1, updated 1, closed 1, unchanged 14,"), "{later}");
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
    cli_ok(
        app.data_path(),
        &["admin", "org", "add", "--kind", "school", "--dfe", "825/2011", "--name", "Pennfield Primary School"],
    );
    let closing_key = create_key(app.data_path(), "825/2011", "pennfield-job");
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
    cli_ok(
        app.data_path(),
        &["admin", "org", "add", "--kind", "school", "--dfe", "825/2005", "--name", "Fernhill Junior School"],
    );
    let old_key = create_key(app.data_path(), "825/2005", "fernhill-old");
    let sent =
        app.upload_ok(&app.key_team, "825/2005", "checking-file.pdf", b"%PDF-1.4 for the old school".to_vec()).await;
    app.upload_ok(&old_key, TEAM, "census.xml", b"<census/>".to_vec()).await;

    import(app.data_path(), "establishments.csv");
    let new_key = create_key(app.data_path(), "825/4005", "fernhill-academy");

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
