//! The pages the main journeys pass by, in a real browser: a send's result page when the form
//! posts without its script, sent items and their recipient filter, the password and terms
//! pages, the error pages (not found, forbidden, an expired form) and, for an LA administrator,
//! the unclaimed files. Each is checked with axe-core and at 320 pixels, as the journeys check
//! theirs; one browser serves the whole tour.

use pigeonpost::domain::Role;

use crate::support::app::{TestApp, TEAM};
use crate::support::browser::Browser;
use crate::support::setup::{self, PASSWORD};
use crate::web_browser_school::{
    arrive, check_page, school_person, signed_in, CENSUS_FILE, CENSUS_XML, OTHER_SCHOOLS_FILE,
};
use crate::web_browser_team::{heading, sign_in, Officer};

/// Waits for the browser to show a path starting `/sent?` whose query holds `part`.
async fn sent_filtered(browser: &Browser, part: &str) {
    for _ in 0..200 {
        let now = browser.path().await;
        if now.starts_with("/sent?") && now.contains(part) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the sent items were never filtered by {part}: at {}", browser.path().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_off_the_main_journeys_pass_axe_and_reflow_at_320_pixels() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::builder().serve();
    let username = school_person(&app, "office.a");
    signed_in(&browser, &app, &username).await;

    // The census form, posted as it is without its script: one file sent, one refused, and a
    // page that lists both. A copy of the form carries none of the script's listeners.
    browser.goto(&app.url("/send?channel=census")).await.expect("open the census form");
    browser.wait_for("#send-form").await;
    browser
        .execute("const f = document.getElementById('send-form'); f.replaceWith(f.cloneNode(true));", vec![])
        .await
        .expect("take the script's listeners off the form");
    let files = tempfile::tempdir().expect("a folder for the returns");
    let (good, misnamed) = (files.path().join(CENSUS_FILE), files.path().join(OTHER_SCHOOLS_FILE));
    std::fs::write(&good, CENSUS_XML).expect("write a return");
    std::fs::write(&misnamed, CENSUS_XML).expect("write a return");
    let chosen = format!("{}\n{}", good.display(), misnamed.display());
    browser.wait_for("#files").await.send_keys(&chosen).await.expect("choose the returns");
    browser.click("#send-form button[type=submit]").await;
    // The whole form goes in one request, so on a busy machine it may take a while.
    browser.wait_for_within("main .govuk-summary-list", std::time::Duration::from_secs(60)).await;
    assert_eq!(browser.text("h1").await, "What was sent");
    assert_eq!(browser.path().await, "/send", "the form posted to the server, not through the script");
    let summary = browser.text(".govuk-error-summary").await;
    assert!(summary.contains("1 file was not sent") && summary.contains(OTHER_SCHOOLS_FILE), "{summary}");
    assert_eq!(browser.text(".govuk-summary-list .govuk-tag--green").await, "Sent");
    check_page(&browser, "send: the result page without the script", true).await;
    browser.screenshot("send-result").await;

    browser.goto(&app.url("/sent")).await.expect("open the sent items");
    heading(&browser, "Sent").await;
    assert!(browser.text("tbody").await.contains(CENSUS_FILE), "the return sent is listed");
    check_page(&browser, "sent items", true).await;
    browser.screenshot("sent").await;
    browser.fill("#to", TEAM).await;
    browser.click("#filters button[type=submit]").await;
    sent_filtered(&browser, "to=smst").await;
    assert!(browser.text("tbody").await.contains(CENSUS_FILE), "the team it went to finds it");
    browser.fill("#to", "825/2999").await;
    browser.click("#filters button[type=submit]").await;
    sent_filtered(&browser, "to=825%2F2999").await;
    assert!(browser.text(".govuk-error-summary").await.contains("825/2999"), "a recipient that is nobody");
    check_page(&browser, "sent items: a recipient that names nobody", false).await;

    browser.goto(&app.url("/account/password")).await.expect("open the password page");
    heading(&browser, "Change your password").await;
    check_page(&browser, "change your password", true).await;
    browser.click("form[action='/account/password'] button[type=submit]").await;
    browser.wait_for(".govuk-error-summary").await;
    check_page(&browser, "change your password: nothing entered", true).await;

    browser.goto(&app.url("/account/terms")).await.expect("open the terms of use");
    heading(&browser, "Terms of use").await;
    check_page(&browser, "terms of use", true).await;

    browser.goto(&app.url("/no/such/page")).await.expect("open an address that is nothing");
    heading(&browser, "Page not found").await;
    check_page(&browser, "page not found", true).await;
    browser.goto(&app.url("/unclaimed")).await.expect("open an LA administrator's page");
    heading(&browser, "You cannot do this").await;
    check_page(&browser, "forbidden", true).await;

    // A form whose token is not the session's (an old page, or another site's) is refused.
    browser.goto(&app.url("/")).await.expect("open the home page");
    browser
        .execute("document.querySelector(\"form[action='/sign-out'] input[name=csrf]\").value = '00';", vec![])
        .await
        .expect("spoil the sign-out form's token");
    browser.click("form[action='/sign-out'] button[type=submit]").await;
    heading(&browser, "This form has expired").await;
    check_page(&browser, "an expired form", true).await;

    browser.goto(&app.url("/")).await.expect("open the home page");
    browser.click("form[action='/sign-out'] button[type=submit]").await;
    arrive(&browser, "/sign-in?signed-out").await;

    let admin = app.with_state(|state| async move {
        let (id, username) = setup::user(&state, TEAM, "la.admin", Role::LaAdmin, PASSWORD).await;
        let (secret, _) = setup::enrol_totp(&state, id).await;
        Officer { username, secret }
    });
    sign_in(&browser, &app, &admin).await;
    browser.goto(&app.url("/unclaimed")).await.expect("open the unclaimed files");
    heading(&browser, "Unclaimed files").await;
    check_page(&browser, "unclaimed files", true).await;
    browser.close().await;
}
