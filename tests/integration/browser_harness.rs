//! The browser harness the web pages are tested with: headless Chromium reaches the real server
//! over its self-signed certificate, axe-core fails a page that breaks WCAG and passes one that
//! keeps it, the compiled GOV.UK stylesheet and script work in a page and load nothing else,
//! a page too wide for 320 pixels is caught, and no browser outlives its test.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::support::app::TestApp;
use crate::support::browser::{process_running, processes_naming, Browser};

/// A loopback HTTP site serving fixed pages, which records every path the browser asks for.
struct Site {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Site {
    async fn serve(pages: Vec<(&'static str, &'static str, Vec<u8>)>) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let base = format!("http://127.0.0.1:{}", listener.local_addr().expect("its address").port());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let pages = Arc::new(pages);
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (pages, seen) = (pages.clone(), seen.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                    seen.lock().expect("the request log").push(path.clone());
                    let (status, kind, body) = match pages.iter().find(|(p, _, _)| *p == path) {
                        Some((_, kind, body)) => ("200 OK", *kind, body.clone()),
                        None => ("404 Not Found", "text/plain", b"not here".to_vec()),
                    };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.write_all(&body).await;
                });
            }
        });
        Site { base, requests, task }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn requested(&self) -> Vec<String> {
        self.requests.lock().expect("the request log").clone()
    }
}

fn html(page: &str) -> Vec<u8> {
    page.as_bytes().to_vec()
}

/// The panic message of a failed check.
fn message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

const SIGN_IN: &str = r##"<!DOCTYPE html>
<html lang="en" class="govuk-template">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - Pigeonpost</title>
<link rel="stylesheet" href="/assets/govuk.css">
</head>
<body class="govuk-template__body">
<script type="module" src="/assets/start.js"></script>
<a href="#main-content" class="govuk-skip-link" data-module="govuk-skip-link">Skip to main content</a>
<header class="govuk-generic-header">
  <div class="govuk-generic-header__container govuk-width-container">
    <div class="govuk-generic-header__logo">
      <a href="/" class="govuk-generic-header__homepage-link">Exampleshire County Council file exchange</a>
    </div>
  </div>
</header>
<div class="govuk-width-container">
<main class="govuk-main-wrapper" id="main-content">
<h1 class="govuk-heading-l">Sign in</h1>
<form method="post" action="/sign-in" novalidate>
  <div class="govuk-form-group">
    <label class="govuk-label" for="username">Username</label>
    <input class="govuk-input govuk-!-width-two-thirds" id="username" name="username" type="text" autocomplete="username" spellcheck="false">
  </div>
  <div class="govuk-form-group govuk-password-input" data-module="govuk-password-input">
    <label class="govuk-label" for="password">Password</label>
    <div class="govuk-input__wrapper govuk-password-input__wrapper">
      <input class="govuk-input govuk-password-input__input govuk-js-password-input-input" id="password" name="password" type="password" spellcheck="false" autocomplete="current-password" autocapitalize="none">
      <button type="button" class="govuk-button govuk-button--secondary govuk-password-input__toggle govuk-js-password-input-toggle" data-module="govuk-button" aria-controls="password" aria-label="Show password" hidden>Show</button>
    </div>
  </div>
  <button type="submit" class="govuk-button" data-module="govuk-button">Continue</button>
</form>
<table class="govuk-table">
  <caption class="govuk-table__caption govuk-table__caption--m">Recent returns</caption>
  <thead class="govuk-table__head"><tr class="govuk-table__row">
    <th scope="col" class="govuk-table__header">File</th><th scope="col" class="govuk-table__header">Sent</th><th scope="col" class="govuk-table__header govuk-table__header--numeric">Size</th>
  </tr></thead>
  <tbody class="govuk-table__body"><tr class="govuk-table__row">
    <td class="govuk-table__cell">8252001_SC3_8252001_20260115_001.XML</td><td class="govuk-table__cell">15 January 2026, 9:41am</td><td class="govuk-table__cell govuk-table__cell--numeric">1.2 MB</td>
  </tr></tbody>
</table>
</main>
</div>
<footer class="govuk-footer">
  <div class="govuk-width-container">
    <div class="govuk-footer__meta">
      <div class="govuk-footer__meta-item govuk-footer__meta-item--grow">
        <a class="govuk-footer__link" href="/accessibility">Accessibility statement</a>
      </div>
    </div>
  </div>
</footer>
</body>
</html>"##;

/// What a page module does first: tells GOV.UK Frontend's CSS that its script runs (the class
/// an inline script sets on GOV.UK, which a strict CSP forbids), then starts the components.
const START: &str = "import { initAll } from '/assets/govuk.js';
document.body.classList.add('govuk-frontend-supported');
initAll();
";

async fn compiled_asset(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/assets").join(name);
    tokio::fs::read(&path).await.unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[tokio::test]
async fn a_page_of_the_real_server_loads_over_its_self_signed_certificate() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::builder().serve();
    browser.goto(&app.url("/healthz")).await.expect("open /healthz");
    assert_eq!(browser.path().await, "/healthz");
    let body = browser.text("body").await;
    assert!(body.contains(r#""status":"ok""#), "the browser showed {body:?}, not the probe's answer");
    browser.close().await;
}

#[tokio::test]
async fn axe_fails_a_page_with_an_unlabelled_image_and_field_naming_each_rule_and_element() {
    let Some(browser) = Browser::start().await else { return };
    let bad = "<!DOCTYPE html><html lang=\"en\"><head><title>Bad</title></head><body><main><h1>Bad</h1>\
               <img id=\"chart\" src=\"/chart.png\"><input id=\"unnamed\" type=\"text\"></main></body></html>";
    let site = Site::serve(vec![("/bad", "text/html", html(bad))]).await;
    browser.goto(&site.url("/bad")).await.expect("open the bad page");
    let failed = AssertUnwindSafe(browser.assert_accessible("the bad page")).catch_unwind().await;
    let said = message(failed.expect_err("axe-core passed a page with an image without alt text"));
    for expected in ["the bad page", "image-alt (critical)", "#chart", "label (critical)", "#unnamed"] {
        assert!(said.contains(expected), "the failure does not say {expected:?}:\n{said}");
    }
    browser.close().await;
}

#[tokio::test]
async fn the_compiled_stylesheet_and_script_make_an_accessible_page_in_arial_that_fetches_nothing_else() {
    let Some(browser) = Browser::start().await else { return };
    let site = Site::serve(vec![
        ("/sign-in", "text/html", html(SIGN_IN)),
        ("/assets/govuk.css", "text/css", compiled_asset("govuk.css").await),
        ("/assets/govuk.js", "text/javascript", compiled_asset("govuk.js").await),
        ("/assets/start.js", "text/javascript", START.as_bytes().to_vec()),
    ])
    .await;
    browser.goto(&site.url("/sign-in")).await.expect("open the sign-in page");
    // GOV.UK Frontend's script shows the password's Show button once it has started.
    browser.wait_for(".govuk-password-input__toggle:not([hidden])").await;
    let font = browser
        .execute("return getComputedStyle(document.querySelector('h1')).fontFamily;", vec![])
        .await
        .expect("read the heading's font");
    assert_eq!(font.as_str(), Some("arial, sans-serif"));

    let moderate = browser.assert_accessible("the sign-in page").await;
    assert!(moderate.is_empty(), "moderate or minor findings on a plain GOV.UK page: {moderate:?}");
    browser.fill("#username", "office@8252001").await;
    browser.click(".govuk-password-input__toggle").await;
    assert_eq!(browser.text(".govuk-password-input__toggle").await, "Hide");

    browser.set_width(320).await;
    browser.assert_reflows("the sign-in page").await;
    browser.assert_accessible("the sign-in page at 320 pixels").await;

    let mut requested = site.requested();
    requested.retain(|path| path != "/favicon.ico");
    requested.sort();
    requested.dedup();
    assert_eq!(
        requested,
        ["/assets/govuk.css", "/assets/govuk.js", "/assets/start.js", "/sign-in"],
        "no fonts or images"
    );
    browser.close().await;
}

#[tokio::test]
async fn a_page_wider_than_320_pixels_is_caught_scrolling_sideways() {
    let Some(browser) = Browser::start().await else { return };
    let wide = "<!DOCTYPE html><html lang=\"en\"><head><title>Wide</title>\
                <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
                <body><main><h1>Wide</h1><pre>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</pre></main></body></html>";
    let site = Site::serve(vec![("/wide", "text/html", html(wide))]).await;
    browser.goto(&site.url("/wide")).await.expect("open the wide page");
    browser.assert_reflows("the wide page at 1280 pixels").await;
    browser.set_width(320).await;
    let failed = AssertUnwindSafe(browser.assert_reflows("the wide page")).catch_unwind().await;
    let said = message(failed.expect_err("a page wider than its window passed the reflow check"));
    assert!(said.contains("the wide page") && said.contains("scrolls sideways"), "{said}");
    browser.close().await;
}

#[tokio::test]
async fn no_browser_process_outlives_a_test_that_panics_or_one_that_closes_its_browser() {
    for panics in [true, false] {
        let Some(browser) = Browser::start().await else { return };
        let (driver, profile) = (browser.driver_pid(), browser.profile_dir());
        assert!(process_running(driver), "chromedriver is not running");
        assert!(!processes_naming(&profile).is_empty(), "no Chromium process names the profile");
        let test = tokio::spawn(async move {
            browser.goto("about:blank").await.expect("open a blank page");
            if panics {
                panic!("a test failing with the browser open");
            }
            browser.close().await;
        });
        assert_eq!(test.await.is_err(), panics);
        assert!(!process_running(driver), "chromedriver {driver} outlived its test (panicked: {panics})");
        let left = processes_naming(&profile);
        assert!(left.is_empty(), "Chromium processes {left:?} outlived their test (panicked: {panics})");
        assert!(!profile.exists(), "the browser profile {} was left behind", profile.display());
    }
}
