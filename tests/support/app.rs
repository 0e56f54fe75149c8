//! The end-to-end test app: a temporary data directory with three organisations and one API
//! key each, a server over TLS on a port of its own, and a reqwest client that trusts the
//! server's self-signed development certificate.
//!
//! [`TestApp::spawn`] runs the server inside the test process (see `served`) and sets it up
//! through the service layer. [`TestApp::spawn_process`] and the cluster constructors provision
//! with the real admin CLI and run `pigeonpost serve` as a child process, for what needs one:
//! signals and crashes, its memory, its log and start-up output, settings from its environment,
//! several nodes. Set `TEST_LOG=1` to let a child's stderr through; otherwise it is captured in
//! a log file (outside the data dir) that is printed when the test fails.
#![allow(dead_code)]

pub use super::postgres;
pub use super::s3;

pub use super::pattern::*;
pub use super::replies::*;
use super::served::{self, InProcess, Provision};

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pigeonpost::domain::OrgKind;
use reqwest::header::AUTHORIZATION;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_pigeonpost");

pub const SCHOOL_A: &str = "825/2001";
pub const SCHOOL_A_NAME: &str = "Example Primary";
pub const TEAM: &str = "smst";
pub const TEAM_NAME: &str = "School Management Support Team";
pub const SCHOOL_B: &str = "825/2002";
pub const SCHOOL_B_NAME: &str = "Other Primary";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

pub const MIB: u64 = 1024 * 1024;

fn test_log() -> bool {
    std::env::var("TEST_LOG").map(|v| v == "1").unwrap_or(false)
}

/// A running `pigeonpost serve` child process.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// Lines printed on stdout before the `listening on` line (should be none).
    pub stdout_preamble: Vec<String>,
    pub exited: Option<ExitStatus>,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

pub struct TestApp {
    server: Option<Server>,
    /// The server when it runs inside the test process ([`TestApp::spawn`]).
    in_process: Option<InProcess>,
    pub base_url: String,
    pub client: Client,
    /// Key of school 825/2001 "Example Primary".
    pub key_a: String,
    /// Key of team smst.
    pub key_team: String,
    /// Key of school 825/2002, the third organisation.
    pub key_b: String,
    pub env: Vec<(String, String)>,
    log_dir: TempDir,
    restarts: u32,
    pub data_dir: TempDir,
    /// Settings the CLI and every server of this app share: `PIGEONPOST_DATABASE__URL` when
    /// not on the embedded SQLite, and for a cluster the master key and the object store.
    shared_env: Vec<(String, String)>,
    /// Dropped after the server is stopped, so nothing is connected to it by then.
    database: Option<postgres::TestDatabase>,
}

impl TestApp {
    /// The three organisations and their keys, made through the service layer, and the server
    /// running inside this process with default settings, over TLS on a port of its own.
    pub fn spawn() -> TestApp {
        Self::spawn_with_env(&[])
    }

    /// Like [`TestApp::spawn`], with these `PIGEONPOST_*` settings as `serve` would read them
    /// from its environment.
    pub fn spawn_with_env(env: &[(&str, &str)]) -> TestApp {
        Self::spawn_in_process(env, None)
    }

    /// Like [`TestApp::spawn_with_env`], on a fresh database of its own on the PostgreSQL named
    /// by `PIGEONPOST_TEST_POSTGRES_URL`; None (the test is skipped, loudly) when it is not set.
    pub async fn spawn_on_postgres(env: &[(&str, &str)]) -> Option<TestApp> {
        let server = postgres::server_url("end-to-end tests")?;
        let database = postgres::TestDatabase::create(&server).await;
        Some(Self::spawn_in_process(env, Some(database)))
    }

    /// The server in this process on `database`, or on the embedded SQLite in the data
    /// directory when None; the CLI gets the same database URL.
    fn spawn_in_process(env: &[(&str, &str)], database: Option<postgres::TestDatabase>) -> TestApp {
        let shared_env: Vec<(String, String)> =
            database.iter().map(|db| ("PIGEONPOST_DATABASE__URL".to_owned(), db.url.clone())).collect();
        let data_dir = tempfile::Builder::new().prefix("pigeonpost-data-").tempdir().expect("create temp data dir");
        let log_dir = tempfile::Builder::new().prefix("pigeonpost-log-").tempdir().expect("create temp log dir");
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let provision = vec![
            Provision { kind: OrgKind::School, reference: SCHOOL_A, name: SCHOOL_A_NAME, key_name: Some("tests-a") },
            Provision { kind: OrgKind::Team, reference: TEAM, name: TEAM_NAME, key_name: Some("tests-team") },
            Provision { kind: OrgKind::School, reference: SCHOOL_B, name: SCHOOL_B_NAME, key_name: Some("tests-b") },
        ];
        let settings_env: Vec<(String, String)> = env.iter().chain(&shared_env).cloned().collect();
        let server = InProcess::start(served::settings(data_dir.path(), &settings_env), provision);
        let [key_a, key_team, key_b] = <[String; 3]>::try_from(server.keys.clone()).expect("three keys");
        let mut app = TestApp {
            server: None,
            in_process: None,
            base_url: String::new(),
            client: Client::new(),
            key_a,
            key_team,
            key_b,
            env,
            log_dir,
            restarts: 0,
            data_dir,
            shared_env,
            database,
        };
        app.serving_in_process(server);
        app
    }

    /// Provision orgs and keys with the CLI, and run `pigeonpost serve` as a child process: for
    /// what needs a real process (signals, a crash, its memory, its log, its start-up output).
    pub fn spawn_process() -> TestApp {
        Self::spawn_process_with_env(&[])
    }

    /// Like [`TestApp::spawn_process`], with extra environment variables for the server.
    pub fn spawn_process_with_env(env: &[(&str, &str)]) -> TestApp {
        Self::spawn_with_database(env, None)
    }

    fn serving_in_process(&mut self, server: InProcess) {
        self.base_url = format!("https://127.0.0.1:{}", server.port);
        self.in_process = Some(server);
        self.client = self.client_builder().build().expect("build reqwest client");
    }

    /// Provision and start on `database` (a PostgreSQL test database), or on the embedded
    /// SQLite in the data directory when None. The CLI and the server both get its URL.
    pub fn spawn_with_database(env: &[(&str, &str)], database: Option<postgres::TestDatabase>) -> TestApp {
        Self::spawn_shared(&[], env, database)
    }

    /// Like [`TestApp::spawn_with_database`], with `shared` set for the provisioning CLI, the
    /// server and any [`TestApp::peer`] alike (the settings nodes of one cluster share).
    pub fn spawn_shared(
        shared: &[(&str, &str)],
        env: &[(&str, &str)],
        database: Option<postgres::TestDatabase>,
    ) -> TestApp {
        let mut database_env: Vec<(String, String)> =
            database.iter().map(|db| ("PIGEONPOST_DATABASE__URL".to_owned(), db.url.clone())).collect();
        database_env.extend(shared.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let data_dir = tempfile::Builder::new().prefix("pigeonpost-data-").tempdir().expect("create temp data dir");
        let log_dir = tempfile::Builder::new().prefix("pigeonpost-log-").tempdir().expect("create temp log dir");
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();

        let provision = |args: &[&str]| cli_ok_env(data_dir.path(), &database_env, args);
        provision(&["migrate"]);
        provision(&["admin", "org", "add", "--kind", "school", "--dfe", SCHOOL_A, "--name", SCHOOL_A_NAME]);
        provision(&["admin", "org", "add", "--kind", "team", "--slug", TEAM, "--name", TEAM_NAME]);
        provision(&["admin", "org", "add", "--kind", "school", "--dfe", SCHOOL_B, "--name", SCHOOL_B_NAME]);
        let key_a = create_key_env(data_dir.path(), &database_env, SCHOOL_A, "tests-a");
        let key_team = create_key_env(data_dir.path(), &database_env, TEAM, "tests-team");
        let key_b = create_key_env(data_dir.path(), &database_env, SCHOOL_B, "tests-b");

        let mut app = TestApp {
            server: None,
            in_process: None,
            base_url: String::new(),
            client: Client::new(),
            key_a,
            key_team,
            key_b,
            env,
            log_dir,
            restarts: 0,
            data_dir,
            shared_env: database_env,
            database,
        };
        app.start_server(&[]);
        app
    }

    /// Nodes of one cluster started at the same moment on `database`, fresh and unprovisioned
    /// (no organisations, no keys: `key_*` are empty), each with a data directory of its own and
    /// `shared` and `env` set. Each has been started (launched all at once, then awaited); the
    /// last owns the database, so it is dropped after every node has stopped.
    pub fn spawn_together(
        count: usize,
        shared: &[(&str, &str)],
        env: &[(&str, &str)],
        database: postgres::TestDatabase,
    ) -> Vec<TestApp> {
        let mut shared_env: Vec<(String, String)> = vec![("PIGEONPOST_DATABASE__URL".to_owned(), database.url.clone())];
        shared_env.extend(shared.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut database = Some(database);
        let mut nodes: Vec<TestApp> = (0..count)
            .map(|i| TestApp {
                server: None,
                in_process: None,
                base_url: String::new(),
                client: Client::new(),
                key_a: String::new(),
                key_team: String::new(),
                key_b: String::new(),
                env: env.clone(),
                log_dir: tempfile::Builder::new().prefix("pigeonpost-log-").tempdir().expect("create log dir"),
                restarts: 0,
                data_dir: tempfile::Builder::new().prefix("pigeonpost-node-").tempdir().expect("create node data dir"),
                shared_env: shared_env.clone(),
                database: if i + 1 == count { database.take() } else { None },
            })
            .collect();
        let launches: Vec<Launch> = nodes.iter_mut().map(|node| node.launch_server(&[])).collect();
        for (node, launch) in nodes.iter_mut().zip(launches) {
            if let Err(refused) = node.await_listening(launch) {
                panic!("a node started with the others did not serve: {refused:?}");
            }
        }
        nodes
    }

    /// Another node of the same cluster: a server of its own, with a data directory of its own,
    /// on this app's database and shared settings (with this app's env and `extra_env`). The
    /// keys of this app work on it. Dropping it stops its server and leaves the database.
    pub fn peer(&self, extra_env: &[(&str, &str)]) -> TestApp {
        let mut peer = self.unstarted_peer(extra_env);
        peer.start_server(&[]);
        peer
    }

    /// Like [`TestApp::peer`], not yet started: for a node expected to refuse
    /// ([`TestApp::start_refused`]).
    pub fn unstarted_peer(&self, extra_env: &[(&str, &str)]) -> TestApp {
        let data_dir = tempfile::Builder::new().prefix("pigeonpost-peer-").tempdir().expect("create peer data dir");
        let log_dir = tempfile::Builder::new().prefix("pigeonpost-log-").tempdir().expect("create peer log dir");
        let mut env = self.env.clone();
        env.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        TestApp {
            server: None,
            in_process: None,
            base_url: String::new(),
            client: Client::new(),
            key_a: self.key_a.clone(),
            key_team: self.key_team.clone(),
            key_b: self.key_b.clone(),
            env,
            log_dir,
            restarts: 0,
            data_dir,
            shared_env: self.shared_env.clone(),
            database: None,
        }
    }

    pub fn data_path(&self) -> &Path {
        self.data_dir.path()
    }

    pub fn objects_dir(&self) -> PathBuf {
        self.data_path().join("objects")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.data_path().join("tmp")
    }

    pub fn server(&self) -> &Server {
        self.assert_process();
        self.server.as_ref().expect("server not running")
    }

    pub fn server_mut(&mut self) -> &mut Server {
        self.assert_process();
        self.server.as_mut().expect("server not running")
    }

    /// The server running inside this process, when it does.
    pub fn in_process(&self) -> Option<&InProcess> {
        self.in_process.as_ref()
    }

    fn assert_process(&self) {
        assert!(
            self.in_process.is_none(),
            "this test needs the server as a process of its own: start it with TestApp::spawn_process"
        );
    }

    pub fn pid(&self) -> u32 {
        self.server().pid()
    }

    pub fn port(&self) -> u16 {
        match &self.in_process {
            Some(server) => server.port,
            None => self.server().port,
        }
    }

    fn log_path(&self) -> PathBuf {
        self.log_dir.path().join(format!("server-{}.log", self.restarts))
    }

    /// Captured stderr of the current (or last) server run.
    pub fn server_log(&self) -> String {
        self.assert_process();
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Start `serve` on the data dir with the app's env plus `extra_env`; waits for the
    /// `listening on` line and rebuilds the client from the dev certificate.
    pub fn start_server(&mut self, extra_env: &[(&str, &str)]) {
        let launch = self.launch_server(extra_env);
        if let Err(refused) = self.await_listening(launch) {
            panic!(
                "server did not print `listening on https://127.0.0.1:PORT`: it exited with {:?}; stdout so far {:?}; stderr:\n{}",
                refused.status, refused.stdout, refused.stderr
            );
        }
    }

    /// Starts `serve` and expects it to refuse: it must exit without listening. Answers how it
    /// exited and what it said on stderr.
    pub fn start_refused(&mut self, extra_env: &[(&str, &str)]) -> Refused {
        let launch = self.launch_server(extra_env);
        match self.await_listening(launch) {
            Ok(()) => panic!("the server started, but it should have refused to; its stderr:\n{}", self.server_log()),
            Err(refused) => refused,
        }
    }

    /// Spawns `serve` without waiting for it: several nodes can be started at the same moment
    /// and then awaited one by one with [`TestApp::await_listening`].
    pub fn launch_server(&mut self, extra_env: &[(&str, &str)]) -> Launch {
        assert!(
            self.server.as_ref().is_none_or(|s| s.exited.is_some()),
            "start_server called while a server is still running"
        );
        self.restarts += 1;
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--data-dir"])
            .arg(self.data_path())
            .args(["--listen", "127.0.0.1:0"])
            .env("PIGEONPOST_LOG_LEVEL", if test_log() { "info" } else { "warn" })
            // Servers run side by side; one that wants metrics names a free port of its own.
            .env("PIGEONPOST_METRICS_LISTEN", "")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        for (k, v) in self.env.iter().chain(&self.shared_env) {
            cmd.env(k, v);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        if test_log() {
            cmd.stderr(Stdio::inherit());
        } else {
            let f = std::fs::File::create(self.log_path()).expect("create server log");
            cmd.stderr(Stdio::from(f));
        }
        let mut child = cmd.spawn().expect("spawn pigeonpost serve");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, lines) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let reader = BufReader::new(stdout);
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if test_log() {
                    eprintln!("[server stdout] {line}");
                }
                // Keep draining stdout after the listening line so the server never blocks.
                let _ = tx.send(line);
            }
        });
        Launch { child, lines }
    }

    /// Waits for a launched server's `listening on` line and points the client at it; or,
    /// when it exits first, answers how and why (its stderr).
    pub fn await_listening(&mut self, launch: Launch) -> Result<(), Refused> {
        let Launch { mut child, lines } = launch;
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut preamble = Vec::new();
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("listening on https://127.0.0.1:") {
                        break rest.trim_end().parse::<u16>().unwrap_or_else(|e| panic!("bad port in {line:?}: {e}"));
                    }
                    preamble.push(line);
                }
                // Its stdout closed: it has exited, or is about to.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().expect("wait for the server");
                    return Err(Refused { status, stdout: preamble, stderr: self.server_log() });
                }
                Err(e) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    panic!(
                        "server did not print `listening on https://127.0.0.1:PORT` ({e:?}); \
                         exit status {status:?}; stdout so far {preamble:?}; stderr:\n{}",
                        self.server_log()
                    );
                }
            }
        };
        self.server = Some(Server { child, port, stdout_preamble: preamble, exited: None });
        self.base_url = format!("https://127.0.0.1:{port}");
        self.client = self.client_builder().build().expect("build reqwest client");
        Ok(())
    }

    /// Restart the server on the same data dir (kills the current one if still running).
    pub fn restart(&mut self, extra_env: &[(&str, &str)]) {
        if let Some(mut server) = self.in_process.take() {
            server.kill();
            let mut env: Vec<(String, String)> = self.env.iter().chain(&self.shared_env).cloned().collect();
            env.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            let server = InProcess::start(served::settings(self.data_path(), &env), Vec::new());
            self.serving_in_process(server);
            return;
        }
        if self.server.as_ref().is_some_and(|s| s.exited.is_none()) {
            self.sigkill();
        }
        self.start_server(extra_env);
    }

    pub fn dev_cert_pem(&self) -> Vec<u8> {
        std::fs::read(self.data_path().join("tls/dev-cert.pem")).expect("read tls/dev-cert.pem")
    }

    /// A client builder trusting only the dev certificate.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let cert = reqwest::Certificate::from_pem(&self.dev_cert_pem()).expect("parse dev cert");
        Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(cert)
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    // ----- process control -------------------------------------------------------------

    pub fn signal(&self, sig: &str) {
        let status =
            Command::new("kill").arg(format!("-{sig}")).arg(self.pid().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    pub fn sigint(&self) {
        self.signal("INT");
    }

    /// SIGKILL the server and reap it.
    pub fn sigkill(&mut self) {
        let server = self.server_mut();
        if server.exited.is_none() {
            let _ = server.child.kill();
            server.exited = Some(server.child.wait().expect("wait for killed server"));
        }
    }

    /// Poll until the server exits (Some(status)) or the timeout passes (None).
    pub async fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let server = self.server_mut();
        if let Some(st) = server.exited {
            return Some(st);
        }
        loop {
            if let Some(st) = server.child.try_wait().expect("try_wait") {
                server.exited = Some(st);
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // ----- CLI -------------------------------------------------------------------------

    /// Run the binary with `--data-dir` appended.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli_env(self.data_path(), &self.shared_env, args)
    }

    pub fn cli_ok(&self, args: &[&str]) -> String {
        cli_ok_env(self.data_path(), &self.shared_env, args)
    }

    /// The binary with `--data-dir` and the shared settings, for callers that need stdin.
    pub fn cli_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .arg("--data-dir")
            .arg(self.data_path())
            .env("PIGEONPOST_LOG_LEVEL", "warn")
            .envs(self.shared_env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    // ----- HTTP helpers ----------------------------------------------------------------

    pub fn request(&self, method: Method, key: &str, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).header(AUTHORIZATION, format!("Bearer {key}"))
    }

    pub fn upload_request(&self, key: &str, to: &str, filename: &str) -> RequestBuilder {
        self.request(Method::POST, key, "/api/v1/transfers").query(&[
            ("channel", "general"),
            ("to", to),
            ("filename", filename),
        ])
    }

    /// Like `upload_request` but through a given client (e.g. an HTTP/1.1-only one).
    pub fn upload_request_via(&self, client: &Client, key: &str, to: &str, filename: &str) -> RequestBuilder {
        client.post(self.url("/api/v1/transfers")).header(AUTHORIZATION, format!("Bearer {key}")).query(&[
            ("channel", "general"),
            ("to", to),
            ("filename", filename),
        ])
    }

    pub async fn upload(&self, key: &str, to: &str, filename: &str, body: impl Into<reqwest::Body>) -> Response {
        self.upload_request(key, to, filename)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload {filename:?} failed at transport level: {e:?}"))
    }

    /// Upload and insist on 201; returns the transfer JSON.
    pub async fn upload_ok(&self, key: &str, to: &str, filename: &str, body: Vec<u8>) -> Value {
        let resp = self.upload(key, to, filename, body).await;
        expect_json(resp, StatusCode::CREATED).await
    }

    pub async fn download(&self, key: &str, id: &str) -> Response {
        self.request(Method::GET, key, &format!("/api/v1/transfers/{id}/content"))
            .send()
            .await
            .expect("download request")
    }

    pub async fn download_range(&self, key: &str, id: &str, range: &str) -> Response {
        self.request(Method::GET, key, &format!("/api/v1/transfers/{id}/content"))
            .header(reqwest::header::RANGE, range)
            .send()
            .await
            .expect("ranged download request")
    }

    /// Download fully into memory, insisting on 200.
    pub async fn download_bytes(&self, key: &str, id: &str) -> Vec<u8> {
        let resp = self.download(key, id).await;
        let status = resp.status();
        let body = resp.bytes().await.expect("download body");
        assert_eq!(status, StatusCode::OK, "download {id}: {}", String::from_utf8_lossy(&body));
        body.to_vec()
    }

    pub async fn metadata(&self, key: &str, id: &str) -> Response {
        self.request(Method::GET, key, &format!("/api/v1/transfers/{id}")).send().await.expect("metadata request")
    }

    pub async fn delete(&self, key: &str, id: &str) -> Response {
        self.request(Method::DELETE, key, &format!("/api/v1/transfers/{id}")).send().await.expect("delete request")
    }

    pub async fn list_page(&self, key: &str, mailbox: &str, limit: Option<u32>, cursor: Option<&str>) -> Value {
        let mut q: Vec<(&str, String)> = vec![("box", mailbox.to_string())];
        if let Some(l) = limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.to_string()));
        }
        let resp = self.request(Method::GET, key, "/api/v1/transfers").query(&q).send().await.expect("list request");
        expect_json(resp, StatusCode::OK).await
    }

    /// Follow cursors until the end; returns every item in order.
    pub async fn list_all(&self, key: &str, mailbox: &str, limit: Option<u32>) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let page = self.list_page(key, mailbox, limit, cursor.as_deref()).await;
            let page_items = page["items"].as_array().expect("items array").clone();
            if let Some(l) = limit {
                assert!(page_items.len() <= l as usize, "page larger than limit {l}");
            }
            items.extend(page_items);
            match &page["next_cursor"] {
                Value::Null => return items,
                Value::String(c) => cursor = Some(c.clone()),
                other => panic!("next_cursor must be a string or null, got {other}"),
            }
        }
        panic!("pagination did not terminate after 1000 pages");
    }

    pub async fn list_ids(&self, key: &str, mailbox: &str) -> Vec<String> {
        self.list_all(key, mailbox, Some(200)).await.iter().map(|t| t["id"].as_str().expect("id").to_string()).collect()
    }
}

/// A `serve` process spawned by [`TestApp::launch_server`], not yet known to be listening.
pub struct Launch {
    child: Child,
    lines: mpsc::Receiver<String>,
}

/// A server that exited instead of listening.
#[derive(Debug)]
pub struct Refused {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    /// Empty under `TEST_LOG=1`, which lets stderr through instead of keeping it.
    pub stderr: String,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.as_mut() {
            if server.exited.is_none() {
                let _ = server.child.kill();
                let _ = server.child.wait();
            }
        }
        if std::thread::panicking() && !test_log() && self.in_process.is_none() {
            let log = self.server_log();
            if !log.is_empty() {
                eprintln!("----- server stderr (last run) -----\n{log}\n-----");
            }
        }
    }
}

// ----- CLI free functions ------------------------------------------------------------------

pub fn cli(data_dir: &Path, args: &[&str]) -> Output {
    cli_env(data_dir, &[], args)
}

/// Runs the binary with `--data-dir` appended and `env` set (e.g. the database URL).
pub fn cli_env(data_dir: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("PIGEONPOST_LOG_LEVEL", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .expect("run pigeonpost")
}

pub fn cli_ok(data_dir: &Path, args: &[&str]) -> String {
    cli_ok_env(data_dir, &[], args)
}

pub fn cli_ok_env(data_dir: &Path, env: &[(String, String)], args: &[&str]) -> String {
    let out = cli_env(data_dir, env, args);
    assert!(
        out.status.success(),
        "`pigeonpost {}` failed with {:?}\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout utf-8")
}

pub fn create_key(data_dir: &Path, org: &str, name: &str) -> String {
    create_key_env(data_dir, &[], org, name)
}

pub fn create_key_env(data_dir: &Path, env: &[(String, String)], org: &str, name: &str) -> String {
    let out = cli_ok_env(data_dir, env, &["admin", "key", "create", "--org", org, "--name", name]);
    let key = out.trim().to_string();
    assert!(!key.is_empty() && !key.contains(char::is_whitespace), "key create printed {out:?}");
    key
}

// ----- file system helpers -----------------------------------------------------------------

/// Every regular file under `root`, recursively (relative paths). Missing dir -> empty.
pub fn files_under(root: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in rd.flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            let p = entry.path();
            if ft.is_dir() {
                walk(root, &p, out);
            } else if ft.is_file() {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// Poll `cond` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub async fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
