//! A real browser for the web pages' tests: Debian's headless Chromium, driven through its
//! chromedriver with `fantoccini`, and axe-core to judge each page against WCAG 2.2 AA.
//!
//! [`Browser::start`] runs chromedriver on a free loopback port as a child of the test, with a
//! fresh browser profile in a temporary directory. Whatever happens to the test, dropping the
//! guard ends the WebDriver session, kills chromedriver and any Chromium process still using
//! that profile, then deletes it: a failing test leaves no browser behind.
//!
//! Without Chromium, chromedriver or axe-core a browser test is skipped, loudly, under a plain
//! `cargo test`; with `PIGEONPOST_TEST_REQUIRE_BACKENDS=1` (as `ops/test` sets) it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use super::postgres::REQUIRE_ENV;

pub const CHROMEDRIVER_ENV: &str = "PIGEONPOST_TEST_CHROMEDRIVER";
pub const CHROMIUM_ENV: &str = "PIGEONPOST_TEST_CHROMIUM";
pub const AXE_ENV: &str = "PIGEONPOST_TEST_AXE";
pub const SCREENSHOTS_ENV: &str = "PIGEONPOST_SCREENSHOTS";

/// The axe-core rule tags a page must pass: WCAG 2.0, 2.1 and 2.2 at levels A and AA (axe files
/// the automatable 2.2 level-A checks under the 2.0 and 2.1 tags; it has no `wcag22a`).
const WCAG_TAGS: [&str; 5] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;
/// Long enough for a cold Chromium on a busy two-core machine; reaching it is a failure.
const STARTUP: Duration = Duration::from_secs(60);

fn tool_path(env: &str, default: &str) -> PathBuf {
    match std::env::var(env) {
        Ok(path) if !path.trim().is_empty() => PathBuf::from(path),
        _ => PathBuf::from(default),
    }
}

fn axe_path() -> PathBuf {
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/node_modules/axe-core/axe.min.js");
    tool_path(AXE_ENV, &default.to_string_lossy())
}

/// Says that a browser test cannot run for want of `missing`: a failure when backends are
/// required, otherwise one loud line on stderr per test binary.
fn not_available(missing: &Path, install: &str) {
    let message = format!("browser tests: {} is missing ({install})", missing.display());
    if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_ENV}=1 but {message}");
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(std::io::stderr(), "\n*** SKIPPED: {message} ***\n");
    });
}

/// One finding of axe-core: a rule a page breaks, and where.
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: String,
    pub impact: String,
    pub help: String,
    /// The CSS selectors of the elements that break it.
    pub targets: Vec<String>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {} at {}", self.rule, self.impact, self.help, self.targets.join(", "))
    }
}

/// A headless Chromium session; derefs to the `fantoccini` client.
pub struct Browser {
    client: Option<Client>,
    session: Option<String>,
    axe: String,
    // Dropped in this order, after `Drop::drop` has ended the session: chromedriver, then any
    // Chromium left on the profile, then the profile itself.
    driver: Driver,
    profile: Profile,
}

impl Browser {
    /// Starts chromedriver and a browser session, or returns None (after saying why) when the
    /// browser or axe-core is not installed. Panics if they are installed and will not start.
    pub async fn start() -> Option<Browser> {
        let chromedriver = tool_path(CHROMEDRIVER_ENV, "/usr/bin/chromedriver");
        let chromium = tool_path(CHROMIUM_ENV, "/usr/bin/chromium");
        let install = "run ops/test, or apt-get install chromium chromium-driver and npm ci in web/";
        for tool in [&chromedriver, &chromium] {
            if !tool.is_file() {
                not_available(tool, install);
                return None;
            }
        }
        let axe = match std::fs::read_to_string(axe_path()) {
            Ok(axe) => axe,
            Err(_) => {
                not_available(&axe_path(), install);
                return None;
            }
        };

        let profile =
            Profile(tempfile::Builder::new().prefix("pigeonpost-chromium.").tempdir().expect("a profile dir"));
        let driver = Driver::spawn(&chromedriver);
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            format!("--window-size={WIDTH},{HEIGHT}"),
            format!("--user-data-dir={}", profile.0.path().display()),
        ];
        let capabilities: Capabilities = match json!({
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": { "binary": chromium, "args": args },
        }) {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| panic!("start a Chromium session through chromedriver: {e}"));
        let session = client.session_id().await.expect("the session id");
        let browser = Browser { client: Some(client), session, axe, driver, profile };
        browser.set_window_size(WIDTH, HEIGHT).await.expect("set the window size");
        Some(browser)
    }

    /// Ends the session now; the guard's drop does the same when a test does not get this far.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            client.close().await.expect("end the browser session");
            self.session = None;
        }
    }

    /// The process id of chromedriver, to check that it is gone after the guard is dropped.
    pub fn driver_pid(&self) -> u32 {
        self.driver.child.id()
    }

    /// The browser's profile directory, which every Chromium process of this session names.
    pub fn profile_dir(&self) -> PathBuf {
        self.profile.0.path().to_owned()
    }

    /// Runs axe-core on the page now shown and panics, naming `page`, if it finds any serious or
    /// critical violation of WCAG 2.2 AA. Returns the moderate and minor ones.
    pub async fn assert_accessible(&self, page: &str) -> Vec<Finding> {
        self.execute(&self.axe, vec![]).await.expect("inject axe-core");
        let script = "return axe.run(document, { runOnly: { type: 'tag', values: arguments[0] } })
            .then(r => r.violations.map(v => ({
                rule: v.id, impact: v.impact || 'unknown', help: v.help,
                targets: v.nodes.map(n => JSON.stringify(n.target)) })));";
        let found = self.execute(script, vec![json!(WCAG_TAGS)]).await.expect("run axe-core");
        let findings: Vec<Finding> = found
            .as_array()
            .expect("axe-core's violations")
            .iter()
            .map(|v| Finding {
                rule: text_of(&v["rule"]),
                impact: text_of(&v["impact"]),
                help: text_of(&v["help"]),
                targets: v["targets"].as_array().map(|t| t.iter().map(text_of).collect()).unwrap_or_default(),
            })
            .collect();
        let (blocking, rest): (Vec<Finding>, Vec<Finding>) =
            findings.into_iter().partition(|f| f.impact == "serious" || f.impact == "critical");
        if !blocking.is_empty() {
            let list: Vec<String> = blocking.iter().map(|f| format!("  - {f}")).collect();
            panic!("{page} breaks WCAG 2.2 AA (axe-core, serious or critical):\n{}", list.join("\n"));
        }
        rest
    }

    /// Saves the viewport as `docs/screenshots/<name>.png` when `PIGEONPOST_SCREENSHOTS=1`.
    pub async fn screenshot(&self, name: &str) {
        if !std::env::var(SCREENSHOTS_ENV).is_ok_and(|v| v == "1") {
            return;
        }
        let png = self.deref().screenshot().await.expect("take a screenshot");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).expect("create docs/screenshots");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("save the screenshot");
    }

    /// Makes the page `width` CSS pixels wide (the height stays), as a narrow phone or a page
    /// zoomed to 400% would.
    pub async fn set_width(&self, width: u32) {
        self.set_window_size(width, HEIGHT).await.expect("resize the window");
        let inner = self.execute("return window.innerWidth;", vec![]).await.expect("read the width");
        assert_eq!(inner.as_u64(), Some(u64::from(width)), "the page did not become {width} CSS pixels wide");
    }

    /// Panics, naming `page`, if the page now shown scrolls sideways at the current width.
    pub async fn assert_reflows(&self, page: &str) {
        // The widest elements that stick out are named, so a failure says what to fix.
        let script = "const w = window.innerWidth; \
            const wide = [...document.querySelectorAll('body *')] \
              .filter(e => e.getBoundingClientRect().right > w + 0.5) \
              .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + \
                   (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\\s+/).join('.') : '') + \
                   ' ' + Math.round(e.getBoundingClientRect().right)) \
              .slice(-5); \
            return [document.documentElement.scrollWidth, w, wide.join(', ')];";
        let sizes = self.execute(script, vec![]).await.expect("measure the page");
        let (scroll, inner) = (sizes[0].as_u64().unwrap_or(u64::MAX), sizes[1].as_u64().unwrap_or(0));
        let wide = sizes[2].as_str().unwrap_or_default();
        assert!(
            scroll <= inner,
            "{page} is {scroll} CSS pixels wide in a {inner} pixel window: it scrolls sideways ({wide})"
        );
    }

    /// The first element matching `css`, waiting up to ten seconds for it to appear.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.wait_for_within(css, Duration::from_secs(10)).await
    }

    pub async fn wait_for_within(&self, css: &str, timeout: Duration) -> Element {
        self.wait()
            .at_most(timeout)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css} appeared within {timeout:?}: {e}"))
    }

    /// Replaces the value of the field matching `css` with `value`, as typed.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
        field.send_keys(value).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// The rendered text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.unwrap_or_else(|e| panic!("read the text of {css}: {e}"))
    }

    /// The path (and query, if any) of the page now shown.
    pub async fn path(&self) -> String {
        let url = self.current_url().await.expect("the current URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }
}

fn text_of(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

impl Deref for Browser {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client.as_ref().expect("the browser session is still open")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Blocking on purpose: a panicking test's runtime is going away, and the client's own
        // shutdown would be a task that never runs. chromedriver quits Chromium on this request.
        if let Some(session) = self.session.take() {
            self.driver.delete_session(&session);
        }
        self.client = None;
    }
}

/// chromedriver, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn spawn(chromedriver: &Path) -> Driver {
        // Port 0: chromedriver binds a free port itself and prints it, so no other process can
        // take it between our choosing and its binding.
        let mut child = Command::new(chromedriver)
            .args(["--port=0", "--allowed-ips=127.0.0.1", "--log-level=SEVERE"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
        let stdout = child.stdout.take().expect("chromedriver's stdout");
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            // Read to the end, so chromedriver never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let port = line
                    .rsplit_once("started successfully on port ")
                    .and_then(|(_, p)| p.trim_end_matches('.').parse::<u16>().ok());
                if let Some(port) = port {
                    if let Some(tx) = port_tx.take() {
                        let _ = tx.send(port);
                    }
                }
            }
        });
        let mut driver = Driver { child, port: 0 };
        driver.port = match port_rx.recv_timeout(STARTUP) {
            Ok(port) => port,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("chromedriver did not say which port it listens on within {STARTUP:?}")
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!("chromedriver exited without saying which port it listens on")
            }
        };
        driver
    }

    fn delete_session(&self, session: &str) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let request = format!(
            "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        if stream.write_all(request.as_bytes()).is_ok() {
            let _ = stream.read_to_end(&mut Vec::new());
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The browser's profile directory. Every Chromium process of the session names it on its
/// command line, so any still running once chromedriver is gone (it does not take them with it
/// when killed) are found by it and killed before it is deleted.
struct Profile(tempfile::TempDir);

impl Drop for Profile {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = processes_naming(self.0.path());
            if left.is_empty() || Instant::now() >= deadline {
                break;
            }
            let _ =
                Command::new("kill").arg("-KILL").args(left.iter().map(u32::to_string)).stderr(Stdio::null()).status();
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The processes whose command line names `path`, from /proc.
pub fn processes_naming(path: &Path) -> Vec<u32> {
    let needle = path.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(needle.as_str()))
        })
        .collect()
}

/// Whether a process `pid` exists (a zombie counts as gone).
pub fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}
