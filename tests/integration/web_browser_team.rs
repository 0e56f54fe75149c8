//! The LA teams' journeys in a real browser against the real server: an officer of the School
//! Management Support Team signs in with a password and the code from an authenticator app,
//! collects the census, routes checking files, answers free school meals requests and follows a
//! distribution's receipts; the API checks what each journey left behind.

use std::io::{Cursor, Read};

use base64::Engine as _;
use pigeonpost::domain::{OrgKind, Role};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::app::{expect_json, TestApp, SCHOOL_A, SCHOOL_B, TEAM};
use crate::support::browser::{Browser, Finding};
use crate::support::people;
use crate::support::setup::{self, PASSWORD};
use fantoccini::Locator;

const SCHOOL_C: &str = "825/2003";
const SCHOOL_C_NAME: &str = "Third Primary";

/// A person of the team with a second factor enrolled: the username to type and the secret
/// their authenticator app holds.
pub(crate) struct Officer {
    pub(crate) username: String,
    pub(crate) secret: Vec<u8>,
}

/// A new `la_user` of smst with the data and assessment functions (the census and the checking
/// files are limited to them).
fn officer(app: &TestApp, username: &str) -> Officer {
    let username = username.to_owned();
    let officer = app.with_state(|state| async move {
        let (id, username) = setup::user(&state, TEAM, &username, Role::LaUser, PASSWORD).await;
        let (secret, _) = setup::enrol_totp(&state, id).await;
        Officer { username, secret }
    });
    people::grant_function(app, &officer.username, "data");
    people::grant_function(app, &officer.username, "assessment");
    officer
}

/// Signs `officer` in through the sign-in pages as a person would, checking each page.
pub(crate) async fn sign_in(browser: &Browser, app: &TestApp, officer: &Officer) {
    browser.goto(&app.url("/sign-in")).await.expect("open the sign-in page");
    report("sign-in", browser.assert_accessible("the sign-in page").await);
    browser.fill("#username", &officer.username).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form[action='/sign-in'] button[type=submit]").await;
    browser.wait_for("#code").await;
    report("sign-in code", browser.assert_accessible("the code page").await);
    let code = setup::totp_code_at(&officer.secret, time::OffsetDateTime::now_utc());
    browser.fill("#code", &code).await;
    browser.click("form[action='/sign-in/code'] button[type=submit]").await;
    let signed_in = browser
        .wait()
        .at_most(std::time::Duration::from_secs(10))
        .for_element(Locator::Css("form[action='/sign-out']"))
        .await;
    if signed_in.is_err() {
        panic!("not signed in: at {} the page says {}", browser.path().await, browser.text("main").await);
    }
    assert_eq!(browser.path().await, "/", "signed in, the person lands on the home page");
}

/// Waits (ten seconds at most) for the page whose `<h1>` says `heading`: the one a click leads to.
pub(crate) async fn heading(browser: &Browser, heading: &str) {
    let xpath = format!("//h1[normalize-space()='{heading}']");
    browser
        .wait()
        .at_most(std::time::Duration::from_secs(10))
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no page headed {heading:?} appeared: {e}"));
}

/// Prints axe-core's moderate and minor findings on `page`, for the accessibility statement.
fn report(page: &str, findings: Vec<Finding>) {
    for finding in findings {
        eprintln!("axe on {page}: {finding}");
    }
}

/// Opens `path`, waits for its heading and checks it against WCAG 2.2 AA.
async fn visit(browser: &Browser, app: &TestApp, path: &str, heading: &str) {
    browser.goto(&app.url(path)).await.unwrap_or_else(|e| panic!("open {path}: {e}"));
    let h1 = browser.text("h1").await;
    assert_eq!(h1, heading, "{path} shows its heading");
    report(path, browser.assert_accessible(path).await);
}

/// Checks that the page now shown fits 320 CSS pixels, then goes back to the usual width.
async fn reflows(browser: &Browser, page: &str) {
    browser.set_width(320).await;
    browser.assert_reflows(page).await;
    browser.set_width(1280).await;
}

/// Sends `content` as `filename` on `channel` through the API; answers the transfer.
async fn send(app: &TestApp, key: &str, channel: &str, to: Option<&str>, filename: &str, content: &[u8]) -> Value {
    let mut query = vec![("channel", channel), ("filename", filename)];
    if let Some(to) = to {
        query.push(("to", to));
    }
    let resp = app
        .request(Method::POST, key, "/api/v1/transfers")
        .query(&query)
        .body(content.to_vec())
        .send()
        .await
        .expect("upload request");
    expect_json(resp, StatusCode::CREATED).await
}

fn id(transfer: &Value) -> String {
    transfer["id"].as_str().expect("a transfer id").to_owned()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The ids of the key's inbox in `state` (`new` or `downloaded`).
async fn inbox(app: &TestApp, key: &str, state: &str) -> Vec<String> {
    let resp = app
        .request(Method::GET, key, &format!("/api/v1/transfers?state={state}&limit=200"))
        .send()
        .await
        .expect("list request");
    let listed = expect_json(resp, StatusCode::OK).await;
    let mut ids: Vec<String> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("an id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// Submits the page's own form with the button `button` as its submitter, from inside the
/// page (with the browser's cookie, the form's token and fields), and answers what came back:
/// the status, the content type and the body. The browser would save a download where the test
/// cannot reach it; this is the same request the button makes.
async fn submit_for_download(browser: &Browser, button: &str) -> (u64, String, Vec<u8>) {
    let script = r#"
        const done = arguments[arguments.length - 1];
        const button = document.querySelector(arguments[0]);
        const form = button.form;
        fetch(form.action, { method: 'POST', body: new URLSearchParams(new FormData(form, button)) })
            .then(async (r) => {
                const bytes = new Uint8Array(await r.arrayBuffer());
                let binary = '';
                for (const b of bytes) binary += String.fromCharCode(b);
                done({ status: r.status, type: r.headers.get('content-type') || '', body: btoa(binary) });
            })
            .catch((e) => done({ error: String(e) }));"#;
    let got = browser.execute_async(script, vec![json!(button)]).await.expect("submit the form from the page");
    assert!(got["error"].is_null(), "the form's request failed: {got}");
    let body = base64::engine::general_purpose::STANDARD.decode(got["body"].as_str().unwrap_or("")).expect("base64");
    (got["status"].as_u64().unwrap_or(0), got["type"].as_str().unwrap_or("").to_owned(), body)
}

/// The entries of a zip: (name, SHA-256), sorted by name.
fn zip_entries(zip: &[u8]) -> Vec<(String, String)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip.to_vec())).expect("a readable zip");
    let mut entries: Vec<(String, String)> = (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).expect("an entry");
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("the entry's bytes");
            (entry.name().expect("a UTF-8 name").to_string(), sha256(&bytes))
        })
        .collect();
    entries.sort();
    entries
}

#[tokio::test]
async fn smst_collects_every_new_census_return_as_one_zip_and_they_are_then_downloaded() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::builder().serve();
    people::organisation(&app, OrgKind::School, SCHOOL_C, SCHOOL_C_NAME);
    let team_key = people::all_channels_key(&app, TEAM, "smst-check");
    let mut sent = Vec::new();
    for (n, school) in [SCHOOL_A, SCHOOL_B, SCHOOL_C].into_iter().enumerate() {
        let key = people::all_channels_key(&app, school, &format!("mis-{n}"));
        let number = school.replace('/', "");
        let name = format!("{number}_SC3_{number}_20260115_001.xml");
        let content = format!("<CensusReturn school=\"{number}\">{}</CensusReturn>", "pupil ".repeat(100 * (n + 1)));
        let transfer = send(&app, &key, "census", None, &name, content.as_bytes()).await;
        sent.push((id(&transfer), name, sha256(content.as_bytes())));
    }
    let officer = officer(&app, "data.officer");
    sign_in(&browser, &app, &officer).await;

    visit(&browser, &app, "/collect", "Collect new files").await;
    for (_, name, _) in &sent {
        let label = browser.text(&format!("label[for='file-{}']", sent.iter().find(|s| &s.1 == name).unwrap().0)).await;
        assert_eq!(&label, name, "each return is listed as new");
    }
    browser.screenshot("collect").await;
    reflows(&browser, "/collect").await;

    let (status, kind, zip) = submit_for_download(&browser, "button[name='all_channel'][value='census']").await;
    assert_eq!((status, kind.as_str()), (200, "application/zip"), "{}", String::from_utf8_lossy(&zip));
    let mut expected: Vec<(String, String)> = sent.iter().map(|(_, name, hash)| (name.clone(), hash.clone())).collect();
    expected.sort();
    assert_eq!(zip_entries(&zip), expected, "every return, its original name and the bytes the school sent");

    let mut ids: Vec<String> = sent.iter().map(|(id, _, _)| id.clone()).collect();
    ids.sort();
    assert_eq!(inbox(&app, &team_key, "downloaded").await, ids, "the API shows each return downloaded");
    assert!(inbox(&app, &team_key, "new").await.is_empty(), "nothing is left new");
    visit(&browser, &app, "/collect", "Collect new files").await;
    assert!(browser.find(Locator::Css("input[name='file']")).await.is_err(), "no file is listed new any more");

    visit(&browser, &app, "/collection", "School Census: who has sent").await;
    browser.screenshot("collection").await;
    reflows(&browser, "/collection").await;
    browser.close().await;
}

/// Three open schools in the register, found by the quarantine's picker.
fn register(app: &TestApp) {
    let csv = "URN,LA (code),LA (name),EstablishmentNumber,EstablishmentName,TypeOfEstablishment (name),\
               EstablishmentTypeGroup (name),PhaseOfEducation (name),EstablishmentStatus (name),OpenDate,CloseDate\n\
               120101,825,Exampleshire,2101,Oakfield Primary School,Community school,Local authority maintained schools,Primary,Open,01-09-1990,\n\
               120102,825,Exampleshire,2102,Beechwood Junior School,Community school,Local authority maintained schools,Primary,Open,01-09-1990,\n\
               120103,825,Exampleshire,2103,Elmhurst Infant School,Community school,Local authority maintained schools,Primary,Open,01-09-1990,\n";
    people::import_register(app, csv.as_bytes().to_vec(), None);
}

/// Names of the files in the inbox of `key`'s organisation, through the API.
async fn inbox_names(app: &TestApp, key: &str) -> Vec<String> {
    let resp = app.request(Method::GET, key, "/api/v1/transfers?box=inbox").send().await.expect("list request");
    let listed = expect_json(resp, StatusCode::OK).await;
    let mut names: Vec<String> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["filename"].as_str().unwrap_or("").to_owned())
        .collect();
    names.sort();
    names
}

/// Searches the quarantine's picker for `q` and answers the schools it offers, as labelled.
async fn pick(browser: &Browser, q: &str) -> Vec<String> {
    browser.fill("#q", q).await;
    browser.click("form[method='get'] button[type=submit]").await;
    let legend = format!("//legend[contains(., '{q}')]");
    browser
        .wait()
        .at_most(std::time::Duration::from_secs(10))
        .for_element(Locator::XPath(&legend))
        .await
        .unwrap_or_else(|e| panic!("the picker found nothing for {q:?}: {e}"));
    let mut offered = Vec::new();
    for label in browser.find_all(Locator::Css(".govuk-radios__label")).await.expect("the choices") {
        offered.push(label.text().await.expect("a choice's label"));
    }
    offered
}

#[tokio::test]
async fn smst_drops_checking_files_and_routes_the_unnumbered_one_from_the_quarantine_to_its_school() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::builder().serve();
    register(&app);
    let oakfield = people::all_channels_key(&app, "825/2101", "oakfield");
    let elmhurst = people::all_channels_key(&app, "825/2103", "elmhurst");
    let officer = officer(&app, "assessment.officer");
    sign_in(&browser, &app, &officer).await;

    let files = tempfile::tempdir().expect("a folder for the files");
    let named = files.path().join("8252101_KS2_checking.pdf");
    let unnumbered = files.path().join("KS2_checking_elmhurst.pdf");
    std::fs::write(&named, b"%PDF-1.4\nKS2 checking data for Oakfield\n%%EOF\n").expect("write a file");
    std::fs::write(&unnumbered, b"%PDF-1.4\nKS2 checking data for Elmhurst\n%%EOF\n").expect("write a file");

    visit(&browser, &app, "/batches", "Send checking files").await;
    let choose = browser.wait_for("#files").await;
    choose.send_keys(&format!("{}\n{}", named.display(), unnumbered.display())).await.expect("choose the files");
    browser.click("form[action='/batches'] button[type=submit]").await;
    heading(&browser, "What happened to each file").await;
    let report_text = browser.text("main").await;
    assert!(report_text.contains("2 files. 1 delivered, 1 in the quarantine, 0 not accepted"), "{report_text}");
    assert!(report_text.contains("Delivered to Oakfield Primary School (825/2101)"), "{report_text}");
    let path = browser.path().await;
    report(&path, browser.assert_accessible("the batch report").await);
    browser.screenshot("batch-report").await;
    assert_eq!(inbox_names(&app, &oakfield).await, ["KS2_checking.pdf"], "the named file went to its school");
    assert!(inbox_names(&app, &elmhurst).await.is_empty(), "the unnumbered one went nowhere yet");

    browser
        .find(Locator::LinkText("Choose a school for the files in the quarantine"))
        .await
        .expect("the report's link to the quarantine")
        .click()
        .await
        .expect("follow it");
    heading(&browser, "Quarantine").await;
    report("/quarantine", browser.assert_accessible("/quarantine").await);
    assert!(browser.text("tbody").await.contains("KS2_checking_elmhurst.pdf"));
    browser.screenshot("quarantine").await;
    reflows(&browser, "/quarantine").await;

    browser.click("tbody a[href$='/discard']").await;
    heading(&browser, "Are you sure you want to discard this file?").await;
    report("the discard confirmation", browser.assert_accessible("the discard confirmation").await);
    reflows(&browser, "the discard confirmation").await;
    browser.back().await.expect("go back to the quarantine without discarding");
    heading(&browser, "Quarantine").await;
    browser.click("tbody a[href^='/quarantine/']:not([href$='/discard'])").await;
    heading(&browser, "Choose a school for this file").await;
    report("the school picker", browser.assert_accessible("the school picker").await);
    assert_eq!(pick(&browser, "Elmhurst").await, ["Elmhurst Infant School, DfE 825/2103, URN 120103"], "by name");
    report("the school picker's matches", browser.assert_accessible("the school picker's matches").await);
    assert_eq!(pick(&browser, "825/2103").await, ["Elmhurst Infant School, DfE 825/2103, URN 120103"], "by DfE number");
    browser.click("label[for='to-1']").await;
    browser.click("form[action$='/route'] button[type=submit]").await;
    browser.wait_for(".govuk-panel--confirmation").await;
    report("the routed file", browser.assert_accessible("the routed file").await);
    let said = browser.text("main").await;
    assert!(said.contains("Elmhurst Infant School (825/2103)"), "{said}");

    assert_eq!(inbox_names(&app, &elmhurst).await, ["KS2_checking_elmhurst.pdf"], "the school now has it");
    visit(&browser, &app, "/quarantine", "Quarantine").await;
    assert!(!browser.text("main").await.contains("KS2_checking_elmhurst.pdf"), "it has left the quarantine");
    browser.close().await;
}

#[tokio::test]
async fn an_fsm_request_waits_on_the_fsm_page_until_smst_answers_it_with_a_file_in_its_thread() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::builder().serve();
    let school = people::all_channels_key(&app, SCHOOL_A, "office");
    let request =
        id(&send(&app, &school, "fsm", None, "fsm_parents_march.csv", b"surname,dob,ni\nSmith,2016-04-01,QQ123456C\n")
            .await);
    let officer = officer(&app, "fsm.officer");
    sign_in(&browser, &app, &officer).await;

    visit(&browser, &app, "/fsm", "FSM requests").await;
    let waiting = browser.text("tbody").await;
    assert!(waiting.contains("Example Primary"), "the request is listed with its school: {waiting}");
    browser.screenshot("fsm").await;
    reflows(&browser, "/fsm").await;

    browser.click(&format!("a[href='/transfers/{request}']")).await;
    heading(&browser, "fsm_parents_march.csv").await;
    report("/transfers/{id}", browser.assert_accessible("the request's page").await);
    let files = tempfile::tempdir().expect("a folder for the answer");
    let answer = files.path().join("fsm_results_march.csv");
    let answer_bytes = b"surname,dob,eligible\nSmith,2016-04-01,yes\n";
    std::fs::write(&answer, answer_bytes).expect("write the answer");
    browser.fill("#reply-message", "Results from the Eligibility Checking System").await;
    browser.wait_for("#reply-file").await.send_keys(&answer.display().to_string()).await.expect("choose the answer");
    browser.click("form[action$='/reply'] button[type=submit]").await;
    browser.wait_for(".govuk-notification-banner--success").await;
    assert!(browser.text(".govuk-notification-banner--success").await.contains("Your reply was sent."));
    report("/transfers/{id} after a reply", browser.assert_accessible("the request's page after the reply").await);

    let resp = app.request(Method::GET, &school, "/api/v1/transfers?box=inbox").send().await.expect("list request");
    let listed = expect_json(resp, StatusCode::OK).await;
    let reply = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["filename"] == "fsm_results_march.csv")
        .unwrap_or_else(|| panic!("the school has no answer: {listed}"))
        .clone();
    assert_eq!(reply["channel"], "fsm");
    assert_eq!(app.download_bytes(&school, &id(&reply)).await, answer_bytes, "the bytes chosen in the browser");
    let thread =
        app.request(Method::GET, &school, &format!("/api/v1/transfers/{}", id(&reply))).send().await.expect("detail");
    let thread = expect_json(thread, StatusCode::OK).await;
    assert!(thread.to_string().contains(&request), "the answer is in the request's thread: {thread}");

    visit(&browser, &app, "/fsm", "FSM requests").await;
    assert!(browser.text("main").await.contains("There are no requests waiting for an answer."), "answered");
    browser.close().await;
}

#[tokio::test]
async fn a_distributions_receipts_rise_on_its_page_as_schools_download_it() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::builder().serve();
    people::organisation(&app, OrgKind::School, SCHOOL_C, SCHOOL_C_NAME);
    let team = people::all_channels_key(&app, TEAM, "smst-mailer");
    let to = format!("{SCHOOL_A},{SCHOOL_B},{SCHOOL_C}");
    let sent =
        send(&app, &team, "distribution", Some(&to), "census_day_guidance.txt", b"Census day is 15 January.").await;
    assert_eq!(sent["recipient_count"], 3, "{sent}");
    let officer = officer(&app, "comms.officer");
    sign_in(&browser, &app, &officer).await;

    visit(&browser, &app, "/distributions", "Distributions").await;
    let row = browser.text("tbody").await;
    assert!(row.contains("census_day_guidance.txt") && row.contains("downloaded by 0 of 3 schools"), "{row}");

    for (n, school) in [SCHOOL_A, SCHOOL_C].into_iter().enumerate() {
        let key = people::all_channels_key(&app, school, &format!("reader-{n}"));
        assert_eq!(app.download_bytes(&key, &id(&sent)).await, b"Census day is 15 January.");
    }
    browser.refresh().await.expect("reload the page");
    heading(&browser, "Distributions").await;
    let row = browser.text("tbody").await;
    assert!(row.contains("downloaded by 2 of 3 schools"), "{row}");
    report("/distributions", browser.assert_accessible("/distributions after the downloads").await);
    browser.screenshot("distribution").await;
    reflows(&browser, "/distributions").await;

    browser.click(&format!("tbody a[href='/distributions/{}']", id(&sent))).await;
    heading(&browser, "census_day_guidance.txt").await;
    let receipts = browser.text("main").await;
    assert!(receipts.contains("downloaded by 2 of 3 schools") && receipts.contains(SCHOOL_C_NAME), "{receipts}");
    report("/distributions/{id}", browser.assert_accessible("a distribution's receipts").await);
    reflows(&browser, "/distributions/{id}").await;
    browser.screenshot("distribution-receipts").await;
    browser.close().await;
}
