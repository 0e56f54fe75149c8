//! The server as a child process, for what needs one: signals and crashes, its memory, its log
//! and start-up output, settings from its environment, several nodes; and the admin CLI.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::Client;

use super::app::TestApp;
use super::postgres;

pub const BIN: &str = env!("CARGO_BIN_EXE_pigeonpost");

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) fn test_log() -> bool {
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

impl TestApp {
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

    pub fn server(&self) -> &Server {
        self.assert_process();
        self.server.as_ref().expect("server not running")
    }

    pub fn server_mut(&mut self) -> &mut Server {
        self.assert_process();
        self.server.as_mut().expect("server not running")
    }

    pub fn pid(&self) -> u32 {
        self.server().pid()
    }

    pub(super) fn log_path(&self) -> PathBuf {
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

    // ----- process control -------------------------------------------------------------

    pub fn signal(&self, sig: &str) {
        let status =
            Command::new("kill").arg(format!("-{sig}")).arg(self.pid().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    pub fn sigterm(&self) {
        self.signal("TERM");
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

/// A key made by `pigeonpost admin key create`, for tests of the CLI.
pub fn create_key(data_dir: &Path, org: &str, name: &str) -> String {
    let out = cli_ok(data_dir, &["admin", "key", "create", "--org", org, "--name", name]);
    let key = out.trim().to_string();
    assert!(!key.is_empty() && !key.contains(char::is_whitespace), "key create printed {out:?}");
    key
}
