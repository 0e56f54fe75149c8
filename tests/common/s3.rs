//! The S3 store the test harness provides: SeaweedFS on loopback, started by `ops/test` or
//! `ops/dev` (ops/lib/seaweedfs.sh), which export its endpoint and throwaway credentials.
//!
//! Without it a plain `cargo test` skips the S3 tests loudly; under `ops/test`
//! (PIGEONPOST_TEST_REQUIRE_BACKENDS=1) a missing store is a failure, so CI cannot pass by
//! skipping them.

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
