//! A school's journeys through the web pages in a real browser: signing in with a second factor
//! enrolled on the way, sending a census return by dragging it onto the page and by the keyboard
//! alone, a misnamed return refused beside its file, and a file from the LA found in the inbox
//! and downloaded. Every page met is checked with axe-core, and the main ones at 320 pixels.

use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::Locator;
use pigeonpost::domain::Role;
use pigeonpost::service::organisations;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::support::app::{TestApp, SCHOOL_A, TEAM};
use crate::support::browser::Browser;
use crate::support::people;
use crate::support::setup::{self, PASSWORD};

const WIDTH: u32 = 1280;
pub(crate) const CENSUS_FILE: &str = "8252001_SC3_8252001_20270115_001.xml";
/// A return named for the other school, 825/2002, as a slip of the finger would name it.
pub(crate) const OTHER_SCHOOLS_FILE: &str = "8252002_SC3_8252002_20270115_001.xml";
pub(crate) const CENSUS_XML: &str = "<?xml version=\"1.0\"?><Message><Header><CollectionDetails><Collection>SC3\
                          </Collection></CollectionDetails></Header><School><LEA>825</LEA>\
                          <Estab>2001</Estab></School></Message>\n";

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A person of school A with the password every test person has; answers the username to type.
pub(crate) fn school_person(app: &TestApp, username: &str) -> String {
    let username = username.to_owned();
    app.with_state(|state| async move { setup::user(&state, SCHOOL_A, &username, Role::SchoolUser, PASSWORD).await.1 })
}

/// Runs axe-core on the page now shown, prints what it finds short of serious, and with `narrow`
/// checks the page reflows at 320 pixels (and is still accessible there).
pub(crate) async fn check_page(browser: &Browser, page: &str, narrow: bool) {
    for finding in browser.assert_accessible(page).await {
        eprintln!("axe-core, {page}: {finding}");
    }
    if narrow {
        browser.set_width(320).await;
        browser.assert_reflows(page).await;
        browser.assert_accessible(&format!("{page} at 320 pixels")).await;
        browser.set_width(WIDTH).await;
    }
}

/// Waits (ten seconds at most) for the browser to show `path`, query included.
pub(crate) async fn arrive(browser: &Browser, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = browser.path().await;
        if now == path {
            return;
        }
        if Instant::now() >= deadline {
            let shown = js_string(browser, "return document.body ? document.body.innerText : '';", vec![]).await;
            panic!("the browser stayed on {now} and never reached {path}; it shows:\n{shown}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign_in_with_password(browser: &Browser, app: &TestApp, username: &str) {
    browser.goto(&app.url("/sign-in")).await.expect("open the sign-in page");
    browser.fill("#username", username).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form[action='/sign-in'] button[type=submit]").await;
}

/// A school person with no second factor to give, signed in and on the home page.
pub(crate) async fn signed_in(browser: &Browser, app: &TestApp, username: &str) {
    sign_in_with_password(browser, app, username).await;
    arrive(browser, "/").await;
}

/// The text of an element found now, without waiting (empty when it has none).
async fn js_string(browser: &Browser, script: &str, args: Vec<Value>) -> String {
    let value = browser.execute(script, args).await.unwrap_or_else(|e| panic!("run {script}: {e}"));
    value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string())
}

/// Chooses the census channel on `/send` with the mouse and arrives at its form.
async fn census_form(browser: &Browser, app: &TestApp) {
    browser.goto(&app.url("/send")).await.expect("open the send page");
    check_page(browser, "send: choose the channel", true).await;
    browser.click("#channel-census").await;
    browser.click("form[action='/send'] button[type=submit]").await;
    arrive(browser, "/send?channel=census").await;
    browser.wait_for("#drop-zone").await;
}

/// Drops a file named `name` holding `content` on the send page's drop zone, as a person
/// dragging it from their desktop would: the same events, with the file in their DataTransfer.
async fn drop_file(browser: &Browser, name: &str, content: &str) {
    let script = "const zone = document.getElementById('drop-zone');
        const data = new DataTransfer();
        data.items.add(new File([arguments[1]], arguments[0], { type: 'text/xml' }));
        for (const type of ['dragenter', 'dragover', 'drop']) {
          zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: data }));
        }";
    browser.execute(script, vec![json!(name), json!(content)]).await.expect("drop the file");
}

/// The census returns the team has received, through the API with a key of the team's.
async fn team_census_inbox(app: &TestApp, key: &str) -> Vec<Value> {
    app.list_all(key, "inbox", None).await.into_iter().filter(|t| t["channel"] == "census").collect()
}

async fn press(browser: &Browser, keys: &[Key]) {
    let mut actions = KeyActions::new("keyboard".to_owned());
    for key in keys {
        actions = actions.then(KeyAction::Down { value: (*key).into() });
    }
    for key in keys.iter().rev() {
        actions = actions.then(KeyAction::Up { value: (*key).into() });
    }
    browser.perform_actions(actions).await.expect("press the keys");
}

async fn focused_is(browser: &Browser, css: &str) -> bool {
    let script = "return document.activeElement !== null && document.activeElement.matches(arguments[0]);";
    browser.execute(script, vec![json!(css)]).await.expect("ask what has focus").as_bool() == Some(true)
}

/// Presses Tab until the element matching `css` has focus (forty presses at most).
async fn tab_to(browser: &Browser, css: &str) {
    for _ in 0..40 {
        if focused_is(browser, css).await {
            return;
        }
        press(browser, &[Key::Tab]).await;
    }
    let now =
        js_string(browser, "return document.activeElement ? document.activeElement.outerHTML : '';", vec![]).await;
    panic!("forty presses of Tab never reached {css}; focus is on {now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_person_enrols_a_second_factor_on_first_sign_in_then_signs_in_with_a_code() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::builder().serve();
    app.with_state(|state| async move {
        let school = SCHOOL_A.parse().expect("a DfE number");
        organisations::require_totp(&state, None, &school, true).await.expect("require a second factor");
    });
    let username = school_person(&app, "office.a");

    browser.goto(&app.url("/sign-in")).await.expect("open the sign-in page");
    check_page(&browser, "sign-in", true).await;
    browser.screenshot("sign-in").await;
    sign_in_with_password(&browser, &app, &username).await;

    arrive(&browser, "/account/second-factor").await;
    check_page(&browser, "second factor: start", true).await;
    browser.click("form[action='/account/second-factor'] button[type=submit]").await;
    browser.wait_for("#code").await;
    let qr = browser.find(Locator::Css(".app-qr-code > svg")).await.expect("the QR code is an inline SVG");
    assert_eq!(qr.tag_name().await.expect("its tag").to_lowercase(), "svg");
    check_page(&browser, "second factor: scan the QR code", true).await;
    browser.screenshot("second-factor").await;
    browser.click(".govuk-details__summary").await;
    let shown = browser.text("#secret").await;
    let secret = setup::secret_from_uri(&format!("otpauth://totp/x?secret={}", shown.replace(' ', "")));
    assert!(secret.len() >= 16, "the key shown beside the QR code, {shown:?}, is not a TOTP secret");
    browser.fill("#code", &setup::totp_code_at(&secret, OffsetDateTime::now_utc())).await;
    browser.click("form[action='/account/second-factor'] button[type=submit]").await;

    browser.wait_for(".app-recovery-codes").await;
    let codes: Vec<String> = browser
        .execute("return [...document.querySelectorAll('.app-recovery-codes code')].map(c => c.textContent);", vec![])
        .await
        .expect("read the recovery codes")
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c.as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(codes.len() >= 5 && codes.iter().all(|c| c.len() >= 8), "recovery codes shown: {codes:?}");
    check_page(&browser, "recovery codes", true).await;
    browser.click("main a.govuk-button").await;
    arrive(&browser, "/").await;
    check_page(&browser, "home", true).await;
    browser.screenshot("home").await;

    browser.goto(&app.url("/account/second-factor")).await.expect("open the enrolment page again");
    let again = browser.text("main").await;
    assert!(again.contains("already set up"), "the enrolment page offered a second enrolment: {again}");
    assert!(!codes.iter().any(|c| again.contains(c.as_str())), "a recovery code was shown twice");

    browser.click("form[action='/sign-out'] button[type=submit]").await;
    arrive(&browser, "/sign-in?signed-out").await;
    sign_in_with_password(&browser, &app, &username).await;
    browser.wait_for("form[action='/sign-in/code'] #code").await;
    assert!(browser.path().await.starts_with("/sign-in/code"), "{}", browser.path().await);
    check_page(&browser, "sign-in: code from the app", true).await;
    // The next time step's code: the enrolment used this one, and a code is never taken twice.
    let next_step = OffsetDateTime::now_utc() + Duration::from_secs(30);
    browser.fill("#code", &setup::totp_code_at(&secret, next_step)).await;
    browser.click("form[action='/sign-in/code'] button[type=submit]").await;
    arrive(&browser, "/").await;
    browser.wait_for("form[action='/sign-out'] button[type=submit]").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_census_return_dropped_on_the_send_page_reaches_the_team_byte_for_byte() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::builder().serve();
    let team = people::all_channels_key(&app, TEAM, "census-reader");
    let username = school_person(&app, "office.a");
    signed_in(&browser, &app, &username).await;
    census_form(&browser, &app).await;
    check_page(&browser, "send: census form", true).await;

    drop_file(&browser, CENSUS_FILE, CENSUS_XML).await;
    assert_eq!(browser.text("#upload-0 .app-file-list__name").await, CENSUS_FILE);
    browser.click("#send-form button[type=submit]").await;
    let sent = browser.wait_for("#upload-0 .app-file-list__result .govuk-tag").await;
    assert_eq!(sent.text().await.expect("the result"), "Sent");
    let bar = browser
        .execute("const p = document.querySelector('#upload-0 progress'); return [p.value, p.max];", vec![])
        .await
        .expect("read the progress bar");
    assert_eq!(bar, json!([100, 100]), "the file's progress bar did not reach its end");
    assert!(browser.find(Locator::Css("#send-errors .govuk-error-summary")).await.is_err(), "an error summary");
    check_page(&browser, "send: census return sent", false).await;
    browser.screenshot("send").await;

    let received = team_census_inbox(&app, &team).await;
    assert_eq!(received.len(), 1, "the team's census inbox: {received:?}");
    assert_eq!(received[0]["filename"], CENSUS_FILE);
    let id = received[0]["id"].as_str().expect("its id");
    assert_eq!(sha256(&app.download_bytes(&team, id).await), sha256(CENSUS_XML.as_bytes()));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_named_for_another_school_is_refused_beside_the_file_and_in_the_summary() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::builder().serve();
    let team = people::all_channels_key(&app, TEAM, "census-reader");
    let username = school_person(&app, "office.a");
    signed_in(&browser, &app, &username).await;
    census_form(&browser, &app).await;

    drop_file(&browser, OTHER_SCHOOLS_FILE, CENSUS_XML).await;
    browser.click("#send-form button[type=submit]").await;
    let beside = browser.text("#upload-0 .app-file-list__result .govuk-error-message").await;
    eprintln!("refusal of {OTHER_SCHOOLS_FILE}: {beside}");
    assert!(
        beside.contains("8252001") || beside.contains("825/2001"),
        "the refusal does not say which number: {beside}"
    );
    let summary = browser.text("#send-errors .govuk-error-summary").await;
    assert!(summary.contains("1 file was not sent"), "{summary}");
    let link = browser.find(Locator::Css("#send-errors .govuk-error-summary__list a")).await.expect("its link");
    assert_eq!(link.text().await.expect("the link's text"), format!("{OTHER_SCHOOLS_FILE}: {beside}"));
    assert_eq!(link.attr("href").await.expect("its target").as_deref(), Some("#upload-0"));
    assert!(focused_is(&browser, "#send-errors .govuk-error-summary").await, "the summary did not take focus");
    assert_eq!(browser.path().await, "/send?channel=census");
    check_page(&browser, "send: a return refused", false).await;

    assert!(team_census_inbox(&app, &team).await.is_empty(), "the misnamed return was stored");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_census_return_can_be_sent_with_the_keyboard_alone() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::builder().serve();
    let team = people::all_channels_key(&app, TEAM, "census-reader");
    let username = school_person(&app, "office.a");
    let dir = tempfile::tempdir().expect("a directory for the return");
    let file = dir.path().join(CENSUS_FILE);
    std::fs::write(&file, CENSUS_XML).expect("write the return");

    browser.goto(&app.url("/sign-in")).await.expect("open the sign-in page");
    tab_to(&browser, "#username").await;
    browser.active_element().await.expect("the username field").send_keys(&username).await.expect("type");
    press(&browser, &[Key::Tab]).await;
    assert!(focused_is(&browser, "#password").await, "Tab did not move from the username to the password");
    browser.active_element().await.expect("the password field").send_keys(PASSWORD).await.expect("type");
    press(&browser, &[Key::Enter]).await;
    arrive(&browser, "/").await;

    browser.goto(&app.url("/send")).await.expect("open the send page");
    tab_to(&browser, "input[name=channel]").await;
    for _ in 0..10 {
        if focused_is(&browser, "#channel-census").await {
            break;
        }
        press(&browser, &[Key::Down]).await;
    }
    assert!(focused_is(&browser, "#channel-census").await, "the arrow keys never reached the census channel");
    press(&browser, &[Key::Space]).await;
    tab_to(&browser, "form[action='/send'] button[type=submit]").await;
    press(&browser, &[Key::Enter]).await;
    arrive(&browser, "/send?channel=census").await;

    tab_to(&browser, "#files").await;
    let input = browser.active_element().await.expect("the file input");
    input.send_keys(&file.to_string_lossy()).await.expect("choose the file");
    assert_eq!(browser.text("#upload-0 .app-file-list__name").await, CENSUS_FILE);
    tab_to(&browser, "#send-form button[type=submit]").await;
    press(&browser, &[Key::Shift, Key::Tab]).await;
    assert!(focused_is(&browser, "#upload-0 .app-file-list__remove").await, "Shift+Tab from Send skipped Remove");
    press(&browser, &[Key::Tab]).await;
    assert!(focused_is(&browser, "#send-form button[type=submit]").await, "Tab from Remove did not come back to Send");
    press(&browser, &[Key::Space]).await;

    let sent = browser.wait_for("#upload-0 .app-file-list__result .govuk-tag").await;
    assert_eq!(sent.text().await.expect("the result"), "Sent");
    let received = team_census_inbox(&app, &team).await;
    assert_eq!(received.len(), 1, "the team's census inbox: {received:?}");
    let id = received[0]["id"].as_str().expect("its id");
    assert_eq!(sha256(&app.download_bytes(&team, id).await), sha256(CENSUS_XML.as_bytes()));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_from_the_la_is_found_in_the_inbox_opened_and_downloaded_intact() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::builder().serve();
    let name = "Term dates 2027-28.csv";
    let content: Vec<u8> = (0..20_000u32).map(|i| format!("{i},term\n")).collect::<String>().into_bytes();
    let transfer = app.upload_ok(&app.key_team, SCHOOL_A, name, content.clone()).await;
    let id = transfer["id"].as_str().expect("the transfer's id").to_owned();
    let username = school_person(&app, "office.a");
    signed_in(&browser, &app, &username).await;

    browser.goto(&app.url("/inbox")).await.expect("open the inbox");
    let row = browser.find(Locator::LinkText(name)).await.expect("the file from the LA is listed in the inbox");
    check_page(&browser, "inbox", true).await;
    browser.screenshot("inbox").await;
    row.click().await.expect("open the transfer");
    browser.wait_for(".app-file-name").await;
    assert_eq!(browser.text("h1").await, name);
    assert!(browser.path().await.contains(&id), "the transfer page {} is not {id}'s", browser.path().await);
    check_page(&browser, "transfer", true).await;
    browser.screenshot("transfer").await;
    assert_eq!(browser.text(".app-digest").await, sha256(&content));

    let link = browser.find(Locator::Css("a.govuk-button[href$='/download']")).await.expect("a download link");
    let href = link.attr("href").await.expect("its address").expect("an href");
    let cookies = browser.get_all_cookies().await.expect("the browser's cookies");
    let cookie = cookies.iter().find(|c| c.name() == "__Host-pigeonpost").expect("the session cookie");
    let url = if href.starts_with("https://") { href.clone() } else { app.url(&href) };
    let download = app
        .client
        .get(url)
        .header(reqwest::header::COOKIE, format!("{}={}", cookie.name(), cookie.value()))
        .send()
        .await
        .expect("download with the browser's session");
    assert_eq!(download.status(), StatusCode::OK);
    let disposition = download.headers()[reqwest::header::CONTENT_DISPOSITION].to_str().unwrap_or_default().to_owned();
    assert!(disposition.contains("Term"), "the download is not named for the file: {disposition}");
    let body = download.bytes().await.expect("the file's bytes");
    assert_eq!(sha256(&body), sha256(&content));
    browser.close().await;
}
