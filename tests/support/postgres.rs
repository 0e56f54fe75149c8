//! PostgreSQL for tests: a fresh database per test on the server named by
//! `PIGEONPOST_TEST_POSTGRES_URL` (which `ops/test` starts), and private clusters for tests
//! that stop and start the database itself.
//!
//! Without the URL a PostgreSQL test is skipped, loudly, under a plain `cargo test`; with
//! `PIGEONPOST_TEST_REQUIRE_BACKENDS=1` (as `ops/test` sets) it fails instead, so a CI run can
//! never pass by quietly testing one engine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

pub const URL_ENV: &str = "PIGEONPOST_TEST_POSTGRES_URL";
pub const REQUIRE_ENV: &str = "PIGEONPOST_TEST_REQUIRE_BACKENDS";

fn backends_required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// Says that `what` cannot run for want of PostgreSQL: a failure when backends are required,
/// otherwise a loud line on stderr. Returns so the caller can skip.
pub fn not_available(what: &str, why: &str) {
    let message = format!(
        "PostgreSQL {what}: {why}. Run ops/test, which starts a throwaway PostgreSQL and sets {URL_ENV}, \
         or set {URL_ENV} to a superuser URL such as postgres://postgres@127.0.0.1:5432/postgres"
    );
    if backends_required() {
        panic!("{REQUIRE_ENV}=1 but {message}");
    }
    // Straight to the process's stderr: libtest captures eprintln! of passing tests, and a skip
    // nobody sees is a pass nobody earned. Once per test binary is loud enough.
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "\n*** SKIPPED: {message} ***\n");
    });
}

/// The superuser URL to create test databases on, or None (after [`not_available`]).
pub fn server_url(what: &str) -> Option<String> {
    match std::env::var(URL_ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            not_available(what, &format!("{URL_ENV} is not set"));
            None
        }
    }
}

/// `url` with its database name replaced by `name` (query parameters kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A database of its own for one test, dropped (with any connections left to it) when this is.
pub struct TestDatabase {
    pub url: String,
    server_url: String,
    name: String,
    dropped: bool,
}

impl TestDatabase {
    pub async fn create(server_url: &str) -> TestDatabase {
        // The name is ours, from random hex digits: DDL cannot take it as a bound parameter.
        let name = format!("pp_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin_connection(server_url).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("could not create the test database {name}: {e}"));
        let _ = admin.close().await;
        TestDatabase { url: with_database(server_url, &name), server_url: server_url.to_owned(), name, dropped: false }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database now; pools still open to it are cut off.
    pub async fn drop_database(mut self) {
        drop_database(&self.server_url, &self.name).await;
        self.dropped = true;
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Drop runs outside async code (or in a runtime that must not block): drop the database
        // from a thread with a runtime of its own.
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(runtime) = runtime {
                runtime.block_on(drop_database(&server_url, &name));
            }
        })
        .join();
    }
}

async fn admin_connection(server_url: &str) -> PgConnection {
    let options = PgConnectOptions::from_str(server_url)
        .unwrap_or_else(|e| panic!("{URL_ENV} is not a PostgreSQL URL: {e}"))
        .disable_statement_logging();
    options.connect().await.unwrap_or_else(|e| {
        panic!("could not connect to the test PostgreSQL named by {URL_ENV}: {e}. Is it running? ops/test starts one")
    })
}

async fn drop_database(server_url: &str, name: &str) {
    let mut admin = admin_connection(server_url).await;
    if let Err(e) = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await {
        eprintln!("could not drop the test database {name}: {e}");
    }
    let _ = admin.close().await;
}

// ----- private clusters --------------------------------------------------------------------

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ops/lib/postgres.sh")
}

fn run_script(call: &str, dir: &Path) -> std::process::Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail; source \"$0\"; {call}"))
        .arg(script())
        .arg(dir)
        .output()
        .expect("run bash for ops/lib/postgres.sh")
}

/// A PostgreSQL cluster of a test's own, started with ops/lib/postgres.sh, so the test can stop
/// and start it without disturbing anyone else's database. Stopped when dropped.
pub struct PrivateCluster {
    dir: tempfile::TempDir,
    /// The superuser URL (`.../postgres`).
    pub url: String,
}

impl PrivateCluster {
    /// Starts one, or returns None (after [`not_available`]) when PostgreSQL is not installed.
    pub fn start(what: &str) -> Option<PrivateCluster> {
        let dir = tempfile::Builder::new().prefix("pigeonpost-pg-").tempdir().expect("create cluster dir");
        let found = run_script("pp_postgres_bindir", dir.path());
        if !found.status.success() {
            not_available(
                what,
                "its server programs (initdb, pg_ctl) are not installed; ops/test installs them (apt-get install postgresql)",
            );
            return None;
        }
        let mut cluster = PrivateCluster { dir, url: String::new() };
        cluster.url = cluster.start_again();
        Some(cluster)
    }

    /// (Re)starts the server on the same data and port; returns its superuser URL.
    pub fn start_again(&self) -> String {
        let out = run_script("pp_start_postgres \"$1\" && echo \"$PIGEONPOST_TEST_POSTGRES_URL\"", self.dir.path());
        assert!(
            out.status.success(),
            "pp_start_postgres failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Fast shutdown: connected sessions are ended (SQLSTATE 57P01) and the port closes.
    pub fn stop(&self) {
        let out = run_script("pp_stop_postgres \"$1\"", self.dir.path());
        assert!(out.status.success(), "pp_stop_postgres failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = run_script("pp_stop_postgres \"$1\"", self.dir.path());
    }
}
