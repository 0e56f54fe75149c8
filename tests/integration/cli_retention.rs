//! `pigeonpost retention run [--dry-run]` from the command line. What a run decides is tested
//! in-process (tests/retention.rs, with a manual clock); this checks the command itself.

use crate::support::app::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_command_runs_and_its_dry_run_says_it_changed_nothing() {
    let dir = tempfile::tempdir().unwrap();
    cli_ok(dir.path(), &["migrate"]);
    let dry = cli_ok(dir.path(), &["retention", "run", "--dry-run"]);
    assert!(dry.contains("dry run: nothing was changed"), "{dry}");
    assert!(dry.contains("would purge 0 transfer(s) of 0 examined"), "{dry}");
    let real = cli_ok(dir.path(), &["retention", "run"]);
    assert!(real.contains("purged 0 transfer(s) of 0 examined"), "{real}");
    assert!(!real.contains("dry run"), "{real}");
    // The real run gave its lease back, so another run may follow at once.
    cli_ok(dir.path(), &["retention", "run"]);
}
