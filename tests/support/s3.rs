//! The S3 store the test harness provides: SeaweedFS on loopback, started by `ops/test` or
//! `ops/dev` (ops/lib/seaweedfs.sh), which export its endpoint and throwaway credentials.
//!
//! Without it a plain `cargo test` skips the S3 tests loudly; under `ops/test`
//! (PIGEONPOST_TEST_REQUIRE_BACKENDS=1) a missing store is a failure, so CI cannot pass by
//! skipping them.
#![allow(dead_code)]

use std::io::Write;

use pigeonpost::config::S3Settings;

/// The one bucket the harness creates; each test works under a prefix of its own.
pub fn bucket() -> String {
    std::env::var("PIGEONPOST_TEST_S3_BUCKET").unwrap_or_else(|_| "pigeonpost-test".to_owned())
}

/// The endpoint of the harness's S3 store, or `None` (after saying so) when the S3 tests are
/// to be skipped. Panics when the backends are required but this one was not provided.
pub fn endpoint(test: &str) -> Option<String> {
    match std::env::var("PIGEONPOST_TEST_S3_ENDPOINT") {
        Ok(url) if !url.is_empty() => {
            assert!(
                url.starts_with("http://127.") || url.starts_with("http://localhost:"),
                "PIGEONPOST_TEST_S3_ENDPOINT={url}: tests may only use a store on loopback"
            );
            Some(url)
        }
        _ if std::env::var("PIGEONPOST_TEST_REQUIRE_BACKENDS").as_deref() == Ok("1") => panic!(
            "{test} needs an S3 store but PIGEONPOST_TEST_S3_ENDPOINT is not set: run the tests \
             with ops/test, or start SeaweedFS with ops/dev and export the settings it prints"
        ),
        _ => {
            // Straight to stderr: the test harness hides eprintln! output of passing tests, and
            // a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {test} needs an S3 store (PIGEONPOST_TEST_S3_ENDPOINT is not set); \
                 run ops/test, or ops/dev and export the settings it prints"
            );
            None
        }
    }
}

/// Settings for the harness's store under a fresh prefix named after the test.
pub fn settings(test: &str) -> Option<S3Settings> {
    let endpoint = endpoint(test)?;
    Some(S3Settings {
        endpoint,
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned()),
        bucket: bucket(),
        prefix: unique_prefix(test),
        force_path_style: true,
        connect_timeout_secs: 2,
        request_timeout_secs: 30,
        max_attempts: 2,
    })
}

pub fn unique_prefix(test: &str) -> String {
    format!("tests/{test}-{}", uuid::Uuid::new_v4().simple())
}

// ----- a private SeaweedFS -----------------------------------------------------------------

fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ops/lib/seaweedfs.sh")
}

fn run_script(call: &str, dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail; source \"$0\"; {call}"))
        .arg(script())
        .arg(dir)
        .env("PP_ROOT", env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run bash for ops/lib/seaweedfs.sh")
}

/// A SeaweedFS server of a test's own (ops/lib/seaweedfs.sh), so the test can stop and start
/// the object store without disturbing anyone else's. Stopped when dropped.
pub struct PrivateSeaweed {
    dir: tempfile::TempDir,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
}

impl PrivateSeaweed {
    /// Starts one with the test bucket made, or returns None (after saying so) when SeaweedFS
    /// is not installed in the project's .venv; it is never installed from here.
    pub fn start(test: &str) -> Option<PrivateSeaweed> {
        let weed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/weed");
        if !weed.exists() {
            let message =
                format!("{test} needs SeaweedFS ({} is missing): run ops/test, which installs it", weed.display());
            if std::env::var("PIGEONPOST_TEST_REQUIRE_BACKENDS").as_deref() == Ok("1") {
                panic!("{message}");
            }
            let _ = writeln!(std::io::stderr(), "SKIPPED: {message}");
            return None;
        }
        let dir = tempfile::Builder::new().prefix("pigeonpost-weed-").tempdir().expect("create SeaweedFS dir");
        let mut store =
            PrivateSeaweed { dir, endpoint: String::new(), access_key: String::new(), secret_key: String::new() };
        let printed = store.start_again();
        let mut lines = printed.lines().map(str::to_owned);
        store.endpoint = lines.next().unwrap_or_default();
        store.access_key = lines.next().unwrap_or_default();
        store.secret_key = lines.next().unwrap_or_default();
        assert!(store.endpoint.starts_with("http://127.0.0.1:"), "unexpected endpoint {:?}", store.endpoint);
        Some(store)
    }

    /// (Re)starts the server on the same data, ports and credentials; waits until it serves
    /// the bucket. Answers the endpoint and credentials, one per line.
    pub fn start_again(&self) -> String {
        let out = run_script(
            &format!(
                "pp_start_seaweedfs \"$1\" && pp_s3_make_bucket {} && \
                 printf '%s\\n%s\\n%s\\n' \"$PIGEONPOST_TEST_S3_ENDPOINT\" \"$AWS_ACCESS_KEY_ID\" \"$AWS_SECRET_ACCESS_KEY\"",
                bucket()
            ),
            self.dir.path(),
        );
        assert!(
            out.status.success(),
            "pp_start_seaweedfs failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops the whole server (master, volume, filer and S3 gateway); the port closes.
    pub fn stop(&self) {
        let out = run_script("pp_stop_seaweedfs \"$1\"", self.dir.path());
        assert!(out.status.success(), "pp_stop_seaweedfs failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Settings for this store under a fresh prefix.
    pub fn settings(&self, test: &str) -> S3Settings {
        S3Settings {
            endpoint: self.endpoint.clone(),
            region: "us-east-1".to_owned(),
            bucket: bucket(),
            prefix: unique_prefix(test),
            force_path_style: true,
            connect_timeout_secs: 2,
            request_timeout_secs: 10,
            max_attempts: 2,
        }
    }
}

impl Drop for PrivateSeaweed {
    fn drop(&mut self) {
        let _ = run_script("pp_stop_seaweedfs \"$1\"", self.dir.path());
    }
}

/// The server's settings for `s3` with `credentials` (access key, secret key), as the
/// environment variables `pigeonpost serve` reads.
pub fn server_env(s3: &S3Settings, credentials: Option<(&str, &str)>) -> Vec<(String, String)> {
    let mut env = vec![
        ("PIGEONPOST_STORAGE__KIND".to_owned(), "s3".to_owned()),
        ("PIGEONPOST_STORAGE__S3__ENDPOINT".to_owned(), s3.endpoint.clone()),
        ("PIGEONPOST_STORAGE__S3__BUCKET".to_owned(), s3.bucket.clone()),
        ("PIGEONPOST_STORAGE__S3__PREFIX".to_owned(), s3.prefix.clone()),
        ("PIGEONPOST_STORAGE__S3__REGION".to_owned(), s3.region.clone()),
        ("PIGEONPOST_STORAGE__S3__FORCE_PATH_STYLE".to_owned(), "true".to_owned()),
        ("PIGEONPOST_STORAGE__S3__CONNECT_TIMEOUT_SECS".to_owned(), s3.connect_timeout_secs.to_string()),
        ("PIGEONPOST_STORAGE__S3__REQUEST_TIMEOUT_SECS".to_owned(), s3.request_timeout_secs.to_string()),
        ("PIGEONPOST_STORAGE__S3__MAX_ATTEMPTS".to_owned(), s3.max_attempts.to_string()),
    ];
    if let Some((access, secret)) = credentials {
        env.push(("AWS_ACCESS_KEY_ID".to_owned(), access.to_owned()));
        env.push(("AWS_SECRET_ACCESS_KEY".to_owned(), secret.to_owned()));
        env.push(("AWS_REGION".to_owned(), s3.region.clone()));
    }
    env
}
