//! The end-to-end test app: a temporary data directory with three organisations and one API
//! key each, a server over TLS on a port of its own, and a reqwest client that trusts the
//! server's self-signed development certificate.
//!
//! [`TestApp::builder`] says what the installation is (settings, backends), then how it runs:
//! `.router()` answers through the router without a socket under a clock the test moves
//! (`router::Harness`); `.serve()` runs the server inside the test process (see `served`);
//! `.process()` runs `pigeonpost serve` as a child process, for what needs one: signals and
//! crashes, its memory, its log and start-up output, settings from its environment, several
//! nodes. Every mode is set up the same way, through the service layer (see `setup`): a child's
//! organisations and keys are written on its database before it starts. Set `TEST_LOG=1` to let
//! a child's stderr through; otherwise it is captured in a log file (outside the data dir) that
//! is printed when the test fails.
#![allow(dead_code)]

pub use super::postgres;
pub use super::s3;

pub use super::pattern::*;
pub use super::replies::*;
use super::served::InProcess;
use super::setup;
pub use super::setup::{SCHOOL_A, SCHOOL_A_NAME, SCHOOL_B, TEAM, TEAM_NAME};

pub use super::process::{cli, cli_ok, create_key, BIN};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pigeonpost::service::AppState;
use reqwest::Client;
use tempfile::TempDir;

use super::builder::owned;
use super::process::{test_log, Server};

pub const MIB: u64 = 1024 * 1024;

pub struct TestApp {
    pub(super) server: Option<Server>,
    /// The server when it runs inside the test process ([`TestApp::spawn`]).
    pub(super) in_process: Option<InProcess>,
    pub base_url: String,
    pub client: Client,
    /// Key of school 825/2001 "Example Primary".
    pub key_a: String,
    /// Key of team smst.
    pub key_team: String,
    /// Key of school 825/2002, the third organisation.
    pub key_b: String,
    pub env: Vec<(String, String)>,
    pub(super) log_dir: TempDir,
    pub(super) restarts: u32,
    pub data_dir: TempDir,
    /// Settings the CLI and every server of this app share: `PIGEONPOST_DATABASE__URL` when
    /// not on the embedded SQLite, and for a cluster the master key and the object store.
    pub(super) shared_env: Vec<(String, String)>,
    /// Dropped after the server is stopped, so nothing is connected to it by then.
    pub(super) database: Option<postgres::TestDatabase>,
}

impl TestApp {
    pub(super) fn serving_in_process(&mut self, server: InProcess) {
        self.base_url = format!("https://127.0.0.1:{}", server.port);
        self.in_process = Some(server);
        self.client = self.client_builder().build().expect("build reqwest client");
    }

    /// Runs `work` on the installation's state: the running server's own when it runs in this
    /// process, or one opened for the purpose on the same database (and closed again) when it
    /// is a child process.
    pub fn with_state<T, F, Fut>(&self, work: F) -> T
    where
        T: Send,
        F: FnOnce(AppState) -> Fut + Send,
        Fut: std::future::Future<Output = T> + Send,
    {
        match &self.in_process {
            Some(server) => server.block_on(work(server.state.clone())),
            None => setup::with_state(self.data_path(), &self.shared_env, work),
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

    /// The server running inside this process, when it does.
    pub fn in_process(&self) -> Option<&InProcess> {
        self.in_process.as_ref()
    }

    pub(super) fn assert_process(&self) {
        assert!(
            self.in_process.is_none(),
            "this test needs the server as a process of its own: start it with TestApp::spawn_process"
        );
    }

    pub fn port(&self) -> u16 {
        match &self.in_process {
            Some(server) => server.port,
            None => self.server().port,
        }
    }

    /// Restart the server on the same data dir (kills the current one if still running).
    pub fn restart(&mut self, extra_env: &[(&str, &str)]) {
        if let Some(mut server) = self.in_process.take() {
            server.kill();
            let mut env: Vec<(String, String)> = self.env.iter().chain(&self.shared_env).cloned().collect();
            env.extend(owned(extra_env));
            let settings = setup::settings(self.data_path(), &env);
            let server = InProcess::start(settings, setup::key_source(self.data_path(), &env), Vec::new());
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
