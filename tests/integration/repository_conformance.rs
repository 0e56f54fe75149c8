//! One suite for every metadata engine: each test runs against SQLite (a temporary file) and
//! PostgreSQL (a fresh database on `PIGEONPOST_TEST_POSTGRES_URL`, dropped afterwards) in the
//! same run, so whatever the code does on one it is seen to do on the other.
//!
//! Without that URL the PostgreSQL half is skipped with a loud line on stderr, or fails when
//! `PIGEONPOST_TEST_REQUIRE_BACKENDS=1` (as `ops/test` sets).

use pigeonpost::audit::chain::Verifier;
use pigeonpost::audit::{Actor, AuditEvent};
use pigeonpost::domain::retention::HoldScope;
use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::support::postgres::{server_url, TestDatabase};
use time::OffsetDateTime;
use uuid::Uuid;

use pigeonpost::crypto::{SealedText, WrappedKey};
use pigeonpost::domain::organisation::OrgStatus;
use pigeonpost::domain::{
    ChannelSlug, FileName, FunctionSlug, Mailbox, OrgId, OrgKind, OrgRef, Organisation, Role, Sha256Digest, TransferId,
    TransferState, UserId, UserStatus,
};
use pigeonpost::store::meta::sql::{PoolSettings, SqlRepository};
use pigeonpost::store::meta::*;
use pigeonpost::store::{Repository, StoreError};

type Repo = Arc<dyn Repository>;

/// Runs `test` on a fresh store of every engine, one after the other; a failure names the engine.
async fn on_every_engine<F, Fut>(test: F)
where
    F: Fn(Repo) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("meta.db").display());
    let sqlite = SqlRepository::sqlite(&url, 4, Duration::from_secs(5)).await.expect("open SQLite");
    sqlite.migrate().await.expect("migrate SQLite");
    finish("SQLite", tokio::spawn(test(Arc::new(sqlite))).await);

    let Some(server) = server_url("half of the repository conformance suite") else { return };
    let database = TestDatabase::create(&server).await;
    let pg = Arc::new(SqlRepository::postgres(&database.url, &pool(4)).await.expect("connect to PostgreSQL"));
    pg.migrate().await.expect("migrate PostgreSQL");
    let outcome = tokio::spawn(test(pg.clone())).await;
    pg.close().await;
    database.drop_database().await;
    finish("PostgreSQL", outcome);
}

fn finish(engine: &str, outcome: Result<(), tokio::task::JoinError>) {
    if let Err(e) = outcome {
        eprintln!("the conformance test failed on {engine}");
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("the test on {engine} did not finish: {e}"),
        }
    }
}

fn pool(max: u32) -> PoolSettings {
    PoolSettings {
        max_connections: max,
        min_connections: 0,
        acquire_timeout: Duration::from_secs(5),
        idle_timeout: None,
        max_lifetime: None,
    }
}

// ----- fixtures ---------------------------------------------------------------------------

/// A whole second, so times survive the millisecond columns exactly.
fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_772_442_005).unwrap()
}

fn at(secs: i64) -> OffsetDateTime {
    t0() + time::Duration::seconds(secs)
}

async fn school(repo: &Repo, dfe: &str, name: &str) -> Organisation {
    let org = NewOrganisation { kind: OrgKind::School, reference: dfe.parse().unwrap(), name: name.into() };
    repo.create_organisation(&org, t0(), &ev()).await.unwrap()
}

async fn team(repo: &Repo, slug: &str) -> Organisation {
    let org = NewOrganisation { kind: OrgKind::Team, reference: slug.parse().unwrap(), name: format!("Team {slug}") };
    repo.create_organisation(&org, t0(), &ev()).await.unwrap()
}

async fn person(repo: &Repo, org: &Organisation, username: &str) -> UserRecord {
    let user = NewUser {
        org: org.id,
        username: username.parse().unwrap(),
        display_name: format!("{username} (test)"),
        role: if org.is_school() { Role::SchoolAdmin } else { Role::LaUser },
        status: UserStatus::Active,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        requested_by: None,
        password_change_required: false,
    };
    repo.create_user(&user, t0(), &ev()).await.unwrap()
}

fn wrapped(kek: &str, fill: u8) -> WrappedKey {
    WrappedKey { kek_id: kek.into(), bytes: vec![fill; 72] }
}

fn new_transfer(
    sender: &Organisation,
    recipients: &[&Organisation],
    name: &str,
    created: OffsetDateTime,
) -> NewTransfer {
    NewTransfer {
        id: TransferId(Uuid::new_v4()),
        object_id: Uuid::new_v4(),
        channel: ChannelSlug::parse("general").unwrap(),
        sender: sender.id,
        sender_key_id: None,
        recipients: recipients.iter().map(|o| o.id).collect(),
        filename: Some(FileName::parse(name).unwrap()),
        content_type: "text/csv".into(),
        size: 1234,
        sha256: Sha256Digest([9; 32]),
        wrapped_key: Some(wrapped("k1", 1)),
        created_at: created,
        message: None,
        reply_to: None,
        quarantine: None,
        routing_note: None,
        batch: None,
    }
}

async fn send(repo: &Repo, sender: &Organisation, to: &[&Organisation], name: &str, secs: i64) -> TransferRecord {
    repo.insert_transfer(&new_transfer(sender, to, name, at(secs)), &ev()).await.unwrap()
}

fn names(entries: &[MailboxEntry]) -> Vec<String> {
    entries.iter().map(|e| e.transfer.filename.clone()).collect()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gias").join(name)).unwrap()
}

// ----- organisations and the register -----------------------------------------------------

#[tokio::test]
async fn organisations_are_created_found_listed_and_a_duplicate_is_a_conflict() {
    on_every_engine(|repo| async move {
        let b = school(&repo, "825/2002", "Other Primary").await;
        let a = school(&repo, "825/2001", "Example Primary").await;
        let smst = team(&repo, "smst").await;
        assert_eq!(a.reference, "825/2001".parse::<OrgRef>().unwrap());
        assert_eq!(a.status, OrgStatus::Open);
        assert!(!a.totp_required);
        let found = repo.find_organisation(&"8252001".parse().unwrap()).await.unwrap().unwrap();
        assert_eq!((found.id, found.name.as_str()), (a.id, "Example Primary"));
        assert_eq!(repo.find_organisation(&"smst".parse().unwrap()).await.unwrap().unwrap().id, smst.id);
        assert!(repo.find_organisation(&"825/9999".parse().unwrap()).await.unwrap().is_none());
        assert_eq!(repo.get_organisation(b.id).await.unwrap().unwrap().name, "Other Primary");

        let listed: Vec<String> =
            repo.list_organisations().await.unwrap().iter().map(|o| o.reference.to_string()).collect();
        assert_eq!(listed, ["825/2001", "825/2002", "smst"], "schools by DfE number, then teams by slug");

        let again =
            NewOrganisation { kind: OrgKind::School, reference: "825/2001".parse().unwrap(), name: "Copy".into() };
        assert!(matches!(repo.create_organisation(&again, t0(), &ev()).await, Err(StoreError::Conflict(_))));

        assert!(repo.set_organisation_status(a.id, OrgStatus::Closed, at(5), &ev()).await.unwrap());
        assert!(repo.set_totp_required(a.id, true, &ev()).await.unwrap());
        let a = repo.get_organisation(a.id).await.unwrap().unwrap();
        assert_eq!((a.status, a.totp_required), (OrgStatus::Closed, true));
        assert!(!repo.set_totp_required(OrgId(999_999), true, &ev()).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_register_import_adds_closes_links_successors_and_a_rerun_changes_nothing() {
    on_every_engine(|repo| async move {
        let fernhill = school(&repo, "825/2005", "Fernhill Junior School").await;
        let links = fixture("links.csv");
        let import = |file: &'static str| {
            let (repo, links) = (repo.clone(), links.clone());
            async move {
                pigeonpost::service::register::import_gias(
                    repo.as_ref(),
                    t0(),
                    Actor::operator(),
                    &fixture(file),
                    Some(&links),
                    Some(825),
                    false,
                )
                .await
                .unwrap()
                .summary()
            }
        };
        let first = import("establishments.csv").await;
        assert_eq!((first.added, first.closed), (16, 1), "{first:?}");

        let academy = repo.find_organisation(&"825/4005".parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(repo.get_organisation(fernhill.id).await.unwrap().unwrap().status, OrgStatus::Closed);
        let successors: Vec<OrgId> = repo.successors(fernhill.id).await.unwrap().iter().map(|o| o.id).collect();
        assert_eq!(successors, [academy.id]);
        assert_eq!(repo.predecessors(academy.id).await.unwrap(), [fernhill.id]);
        let converted = repo.find_organisation(&"825/2020".parse().unwrap()).await.unwrap().unwrap();
        assert_eq!((converted.urn, converted.name.as_str()), (Some(990016), "Ridgeway Primary Academy"));
        assert_eq!(repo.find_organisation_by_urn(990016).await.unwrap().unwrap().id, converted.id);
        assert!(converted.phase.is_some() && converted.establishment_type.is_some());

        let again = import("establishments.csv").await;
        assert_eq!((again.added, again.updated, again.closed), (0, 0, 0), "{again:?}");
        let later = import("establishments-later.csv").await;
        assert_eq!((later.added, later.updated, later.closed), (1, 1, 1), "{later:?}");
        let closed = repo.find_organisation(&"825/2011".parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(closed.status, OrgStatus::Closed);
    })
    .await;
}

// ----- people, sessions, login failures and TOTP ------------------------------------------

#[tokio::test]
async fn users_are_found_without_regard_to_case_and_a_second_with_the_same_name_is_a_conflict() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let alice = person(&repo, &a, "Alice.Smith").await;
        assert_eq!(alice.status, UserStatus::Active);
        assert_eq!(alice.activated_at, Some(t0()));
        assert_eq!(alice.created_at, t0());
        assert!(alice.totp.is_none() && !alice.totp_confirmed && alice.totp_last_step.is_none());
        let found = repo.find_user(&"alice.smith".parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(found.id, alice.id);
        assert_eq!(found.org.id, a.id);
        let dup = NewUser {
            org: a.id,
            username: "ALICE.SMITH".parse().unwrap(),
            display_name: "Another".into(),
            role: Role::SchoolUser,
            status: UserStatus::Requested,
            password_hash: None,
            requested_by: Some(alice.id),
            password_change_required: false,
        };
        assert!(matches!(repo.create_user(&dup, t0(), &ev()).await, Err(StoreError::Conflict(_))));

        let bob = person(&repo, &a, "bob").await;
        let names: Vec<String> =
            repo.list_users(Some(a.id)).await.unwrap().iter().map(|u| u.username.as_str().to_owned()).collect();
        assert_eq!(names, ["alice.smith", "bob"], "usernames are kept in lower case");
        assert_eq!(repo.count_users().await.unwrap(), 2);
        assert!(repo.get_user(UserId(999_999)).await.unwrap().is_none());

        // Disabling revokes every session in the same transaction; re-enabling keeps them revoked.
        repo.create_session(&session("s-bob", bob.id, [1; 32], 0), &ev()).await.unwrap();
        assert!(repo.set_user_status(bob.id, UserStatus::Disabled, Some("left"), None, at(10), &ev()).await.unwrap());
        assert!(!repo.set_user_status(bob.id, UserStatus::Disabled, Some("again"), None, at(11), &ev()).await.unwrap());
        let disabled = repo.get_user(bob.id).await.unwrap().unwrap();
        assert_eq!((disabled.status, disabled.disabled_reason.as_deref()), (UserStatus::Disabled, Some("left")));
        assert_eq!(repo.get_session("s-bob").await.unwrap().unwrap().revoked_at, Some(at(10)));
        assert!(repo.set_user_status(bob.id, UserStatus::Active, None, Some(alice.id), at(20), &ev()).await.unwrap());
        let back = repo.get_user(bob.id).await.unwrap().unwrap();
        assert_eq!((back.status, back.activated_at, back.disabled_reason), (UserStatus::Active, Some(at(20)), None));

        repo.create_session(&session("s-alice", alice.id, [2; 32], 0), &ev()).await.unwrap();
        repo.set_password(alice.id, "$argon2id$given", true, at(29), &ev()).await.unwrap();
        assert!(repo.get_user(alice.id).await.unwrap().unwrap().password_change_required);
        repo.set_password(alice.id, "$argon2id$new", false, at(30), &ev()).await.unwrap();
        let changed = repo.get_user(alice.id).await.unwrap().unwrap();
        assert_eq!(changed.password_hash.as_deref(), Some("$argon2id$new"));
        assert!(!changed.password_change_required);
        assert!(repo.get_session("s-alice").await.unwrap().unwrap().revoked_at.is_some());

        assert!(repo.set_disable_on(alice.id, Some(at(3600)), &ev()).await.unwrap());
        repo.record_login(alice.id, at(40)).await.unwrap();
        let alice = repo.get_user(alice.id).await.unwrap().unwrap();
        assert_eq!((alice.disable_on, alice.last_login_at), (Some(at(3600)), Some(at(40))));
    })
    .await;
}

fn session(id: &str, user: UserId, refresh: [u8; 32], secs: i64) -> NewSession {
    NewSession {
        id: id.into(),
        user,
        refresh_hash: refresh,
        created_at: at(secs),
        expires_at: at(secs + 86_400),
        client_addr: Some("127.0.0.1".into()),
    }
}

#[tokio::test]
async fn a_refresh_token_rotates_once_and_the_one_it_replaced_is_remembered() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let alice = person(&repo, &a, "alice").await;
        repo.create_session(&session("s1", alice.id, [1; 32], 0), &ev()).await.unwrap();
        assert!(matches!(
            repo.create_session(&session("s2", alice.id, [1; 32], 0), &ev()).await,
            Err(StoreError::Conflict(_))
        ));

        assert!(repo.rotate_refresh("s1", &[1; 32], &[2; 32], at(90_000), at(60)).await.unwrap());
        assert!(
            !repo.rotate_refresh("s1", &[1; 32], &[3; 32], at(90_000), at(61)).await.unwrap(),
            "the old token is spent"
        );
        assert_eq!(repo.find_session_by_refresh(&[2; 32]).await.unwrap().unwrap().id, "s1");
        assert!(repo.find_session_by_refresh(&[1; 32]).await.unwrap().is_none());
        let replaced = repo.find_session_by_previous_refresh(&[1; 32]).await.unwrap().unwrap();
        assert_eq!((replaced.id.as_str(), replaced.expires_at), ("s1", at(90_000)));

        repo.create_session(&session("s3", alice.id, [4; 32], 0), &ev()).await.unwrap();
        repo.create_session(&session("s4", alice.id, [5; 32], 0), &ev()).await.unwrap();
        assert!(repo.revoke_session("s3", "logout", at(70), &ev()).await.unwrap());
        assert!(!repo.revoke_session("s3", "logout", at(71), &ev()).await.unwrap());
        assert!(!repo.rotate_refresh("s3", &[4; 32], &[6; 32], at(90_000), at(72)).await.unwrap(), "revoked");
        assert_eq!(repo.revoke_user_sessions(alice.id, "everywhere", at(80), Some("s4")).await.unwrap(), 1);
        assert!(repo.get_session("s4").await.unwrap().unwrap().revoked_at.is_none());
        assert_eq!(repo.revoke_user_sessions(alice.id, "everywhere", at(81), None).await.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn two_refreshes_racing_with_the_same_token_let_exactly_one_through() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let alice = person(&repo, &a, "alice").await;
        for round in 0..10u8 {
            let id = format!("race-{round}");
            repo.create_session(&session(&id, alice.id, [round; 32], 0), &ev()).await.unwrap();
            let tries = (0..4u8).map(|n| {
                let (repo, id) = (repo.clone(), id.clone());
                tokio::spawn(async move {
                    repo.rotate_refresh(&id, &[round; 32], &[100 + round * 4 + n; 32], at(90_000), at(1)).await.unwrap()
                })
            });
            let won = futures_util::future::join_all(tries).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
            assert_eq!(won, 1, "round {round}");
        }
    })
    .await;
}

/// How many attempts the store counts for `subject` since `since`, read through reservations
/// alone: a limit of `n` is refused exactly when `n` are counted, and the first limit granted is
/// taken back at once, so reading changes nothing.
async fn counted(repo: &Repo, subject: &str, since: OffsetDateTime, probe_at: OffsetDateTime) -> u64 {
    for n in 1..=1000 {
        if repo.reserve_login_attempt(&[(subject.to_owned(), n)], since, probe_at).await.unwrap() {
            repo.release_login_attempt(subject, probe_at).await.unwrap();
            return n - 1;
        }
    }
    panic!("more than 1000 attempts counted for {subject}");
}

#[tokio::test]
async fn attempts_reserved_at_once_for_one_subject_are_let_through_up_to_the_limit_and_no_further() {
    on_every_engine(|repo| async move {
        let limits = vec![("account:alice".to_owned(), 5), ("addr:192.0.2.7".to_owned(), 50)];
        let attempts = (0..40).map(|n| {
            let (repo, limits) = (repo.clone(), limits.clone());
            tokio::spawn(async move { repo.reserve_login_attempt(&limits, at(0), at(1 + n % 3)).await.unwrap() })
        });
        let results = futures_util::future::join_all(attempts).await;
        let granted = results.into_iter().map(|r| r.unwrap()).filter(|granted| *granted).count();
        assert_eq!(granted, 5, "attempts let through for a limit of 5");
        assert_eq!(counted(&repo, "account:alice", at(0), at(5)).await, 5);
        assert_eq!(counted(&repo, "addr:192.0.2.7", at(0), at(5)).await, 5, "refused attempts count nowhere");
        // A released attempt makes room for exactly one more.
        repo.release_login_attempt("account:alice", at(1)).await.unwrap();
        assert_eq!(counted(&repo, "account:alice", at(0), at(5)).await, 4);
        assert!(repo.reserve_login_attempt(&limits, at(0), at(10)).await.unwrap());
        assert!(!repo.reserve_login_attempt(&limits, at(0), at(11)).await.unwrap());
        // Outside the window the old attempts no longer count.
        assert!(repo.reserve_login_attempt(&limits, at(20), at(21)).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn reserved_attempts_count_per_subject_within_the_window_until_released_or_a_day_old() {
    on_every_engine(|repo| async move {
        let no_limit = |subjects: &[&str]| subjects.iter().map(|s| (s.to_string(), u64::MAX)).collect::<Vec<_>>();
        assert!(repo.reserve_login_attempt(&no_limit(&["user:alice", "addr:127.0.0.1"]), at(0), at(0)).await.unwrap());
        assert!(repo.reserve_login_attempt(&no_limit(&["user:alice"]), at(0), at(100)).await.unwrap());
        assert_eq!(counted(&repo, "user:alice", at(0), at(150)).await, 2);
        assert_eq!(counted(&repo, "user:alice", at(50), at(150)).await, 1, "only attempts since the window's start");
        assert_eq!(counted(&repo, "addr:127.0.0.1", at(0), at(150)).await, 1);
        // Several nodes counting at once: every attempt counts.
        let many = (0..20).map(|n| {
            let repo = repo.clone();
            let limits = no_limit(&["user:bob"]);
            tokio::spawn(async move { repo.reserve_login_attempt(&limits, at(0), at(200 + n)).await.unwrap() })
        });
        assert!(futures_util::future::join_all(many).await.into_iter().all(|r| r.unwrap()));
        assert_eq!(counted(&repo, "user:bob", at(0), at(250)).await, 20);
        // A successful login takes its own attempt back, and no other.
        repo.release_login_attempt("user:alice", at(100)).await.unwrap();
        assert_eq!(counted(&repo, "user:alice", at(0), at(250)).await, 1);
        assert_eq!(counted(&repo, "addr:127.0.0.1", at(0), at(250)).await, 1);
        // A day later the old rows are pruned as new attempts arrive.
        assert!(repo.reserve_login_attempt(&no_limit(&["user:carol"]), at(0), at(200_000)).await.unwrap());
        assert_eq!(counted(&repo, "user:bob", at(0), at(200_001)).await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_totp_step_is_accepted_only_after_the_last_and_recovery_codes_work_once() {
    on_every_engine(|repo| async move {
        let a = team(&repo, "smst").await;
        let user = person(&repo, &a, "lauser").await;
        let secret = wrapped("k1", 5);
        repo.set_totp(user.id, Some(&secret), false, &[[1; 32], [2; 32]], at(1), &ev()).await.unwrap();
        let u = repo.get_user(user.id).await.unwrap().unwrap();
        assert_eq!((u.totp.as_ref().map(|t| t.bytes.clone()), u.totp_confirmed), (Some(secret.bytes.clone()), false));
        repo.confirm_totp(user.id, at(2), &ev()).await.unwrap();
        assert!(repo.get_user(user.id).await.unwrap().unwrap().totp_confirmed);

        assert!(repo.advance_totp_step(user.id, 1000).await.unwrap());
        assert!(!repo.advance_totp_step(user.id, 1000).await.unwrap(), "the same step twice");
        assert!(!repo.advance_totp_step(user.id, 999).await.unwrap(), "an earlier step");
        assert!(repo.advance_totp_step(user.id, 1001).await.unwrap());
        assert_eq!(repo.get_user(user.id).await.unwrap().unwrap().totp_last_step, Some(1001));

        assert!(repo.use_recovery_code(user.id, &[1; 32], at(3)).await.unwrap());
        assert!(!repo.use_recovery_code(user.id, &[1; 32], at(4)).await.unwrap());
        assert!(!repo.use_recovery_code(user.id, &[9; 32], at(4)).await.unwrap());

        // Replacing the secret forgets the old codes and the last step.
        repo.set_totp(user.id, None, false, &[], at(5), &ev()).await.unwrap();
        let u = repo.get_user(user.id).await.unwrap().unwrap();
        assert!(u.totp.is_none() && !u.totp_confirmed && u.totp_last_step.is_none());
        assert!(!repo.use_recovery_code(user.id, &[2; 32], at(6)).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn two_nodes_checking_the_same_totp_code_at_once_accept_it_exactly_once() {
    on_every_engine(|repo| async move {
        let a = team(&repo, "smst").await;
        let user = person(&repo, &a, "lauser").await;
        for step in 5000..5010u64 {
            let tries = (0..4).map(|_| {
                let repo = repo.clone();
                tokio::spawn(async move { repo.advance_totp_step(user.id, step).await.unwrap() })
            });
            let won = futures_util::future::join_all(tries).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
            assert_eq!(won, 1, "step {step}");
        }
    })
    .await;
}

#[tokio::test]
async fn functions_terms_and_user_list_confirmations_are_kept() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        school(&repo, "825/2002", "Other Primary").await;
        let alice = person(&repo, &a, "alice").await;
        let finance = FunctionSlug::parse("finance").unwrap();
        let data = FunctionSlug::parse("data").unwrap();
        repo.create_function(&finance, "Finance", t0(), &ev()).await.unwrap();
        repo.create_function(&data, "Data", t0(), &ev()).await.unwrap();
        assert!(matches!(repo.create_function(&data, "Again", t0(), &ev()).await, Err(StoreError::Conflict(_))));
        let listed: Vec<String> =
            repo.list_functions().await.unwrap().iter().map(|(s, _)| s.as_str().to_owned()).collect();
        assert_eq!(listed, ["data", "finance"]);

        repo.grant_function(alice.id, &finance, Some(at(100)), None, t0(), &ev()).await.unwrap();
        repo.grant_function(alice.id, &data, None, None, t0(), &ev()).await.unwrap();
        let held = |now| {
            let repo = repo.clone();
            async move {
                repo.user_functions(alice.id, now)
                    .await
                    .unwrap()
                    .iter()
                    .map(|f| f.function.as_str().to_owned())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(held(at(50)).await, ["data", "finance"]);
        assert_eq!(held(at(100)).await, ["data"], "temporary cover lapses by itself");
        repo.grant_function(alice.id, &finance, None, None, at(1), &ev()).await.unwrap();
        assert_eq!(held(at(200)).await, ["data", "finance"], "granting again replaces the cover's end");
        assert!(repo.revoke_function(alice.id, &finance, &ev()).await.unwrap());
        assert!(!repo.revoke_function(alice.id, &finance, &ev()).await.unwrap());

        assert_eq!(repo.accepted_terms_version(alice.id).await.unwrap(), None);
        repo.accept_terms(alice.id, 2, t0(), &ev()).await.unwrap();
        repo.accept_terms(alice.id, 2, at(1), &ev()).await.unwrap();
        repo.accept_terms(alice.id, 1, at(2), &ev()).await.unwrap();
        assert_eq!(repo.accepted_terms_version(alice.id).await.unwrap(), Some(2));

        repo.confirm_user_list(a.id, alice.id, at(10), &ev()).await.unwrap();
        repo.confirm_user_list(a.id, alice.id, at(20), &ev()).await.unwrap();
        let confirmations: Vec<(String, Option<OffsetDateTime>)> = repo
            .user_list_confirmations()
            .await
            .unwrap()
            .into_iter()
            .map(|(o, t)| (o.reference.to_string(), t))
            .collect();
        assert_eq!(confirmations, [("825/2001".to_owned(), Some(at(20))), ("825/2002".to_owned(), None)]);
    })
    .await;
}

// ----- API keys ---------------------------------------------------------------------------

#[tokio::test]
async fn api_keys_keep_their_scope_are_touched_once_a_minute_and_revoke_once() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let smst = team(&repo, "smst").await;
        let scope = KeyScope {
            channels: vec!["census".into(), "ctf".into()],
            can_send: true,
            can_receive: false,
            expires_at: Some(at(86_400)),
        };
        let key =
            NewApiKey { key_id: "pp_a".into(), org_id: a.id, name: "census job".into(), secret_hash: [7; 32], scope };
        repo.create_api_key(&key, t0(), &ev()).await.unwrap();
        let everything = KeyScope { channels: vec!["*".into()], can_send: true, can_receive: true, expires_at: None };
        let other = NewApiKey {
            key_id: "pp_t".into(),
            org_id: smst.id,
            name: "returns".into(),
            secret_hash: [8; 32],
            scope: everything,
        };
        repo.create_api_key(&other, t0(), &ev()).await.unwrap();
        let same_name = NewApiKey { key_id: "pp_b".into(), ..key.clone() };
        assert!(matches!(repo.create_api_key(&same_name, t0(), &ev()).await, Err(StoreError::Conflict(_))));

        let found = repo.find_api_key("pp_a").await.unwrap().unwrap();
        assert_eq!(
            (found.org.id, found.name.as_str(), found.secret_hash.as_slice()),
            (a.id, "census job", &[7u8; 32][..])
        );
        assert_eq!(found.scope.channels, ["census", "ctf"]);
        assert_eq!(
            (found.scope.can_send, found.scope.can_receive, found.scope.expires_at),
            (true, false, Some(at(86_400)))
        );
        assert!(repo.find_api_key("pp_none").await.unwrap().is_none());

        repo.touch_api_key("pp_a", at(10)).await.unwrap();
        repo.touch_api_key("pp_a", at(30)).await.unwrap();
        let last_used = |repo: Repo| async move {
            repo.list_api_keys(Some(a.id)).await.unwrap().into_iter().next().unwrap().last_used_at
        };
        assert_eq!(last_used(repo.clone()).await, Some(at(10)), "within a minute: not written again");
        repo.touch_api_key("pp_a", at(71)).await.unwrap();
        assert_eq!(last_used(repo.clone()).await, Some(at(71)));

        let all: Vec<String> = repo.list_api_keys(None).await.unwrap().into_iter().map(|k| k.key_id).collect();
        assert_eq!(all, ["pp_a", "pp_t"]);
        assert!(repo.revoke_api_key("pp_a", at(100), &ev()).await.unwrap());
        assert!(!repo.revoke_api_key("pp_a", at(101), &ev()).await.unwrap());
        assert_eq!(repo.find_api_key("pp_a").await.unwrap().unwrap().revoked_at, Some(at(100)));
    })
    .await;
}

// ----- transfers, mailboxes and downloads -------------------------------------------------

#[tokio::test]
async fn a_transfer_is_stored_with_its_deliveries_and_read_back_exactly() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let b = school(&repo, "825/2002", "Other Primary").await;
        let smst = team(&repo, "smst").await;
        let mut new = new_transfer(&smst, &[&b, &a], "results.csv", at(5));
        new.size = 5 * 1024 * 1024 * 1024;
        new.message = Some(SealedText::from_stored(b"\x01sealed by the service".to_vec()));
        new.routing_note = Some("named for 825/2002".into());
        let stored = repo.insert_transfer(&new, &ev()).await.unwrap();
        let got = repo.get_transfer(new.id).await.unwrap().unwrap();
        for t in [&stored, &got] {
            assert_eq!((t.id, t.object_id, t.channel.as_str()), (new.id, new.object_id, "general"));
            assert_eq!(
                (t.sender.id, t.filename.as_str(), t.content_type.as_str()),
                (smst.id, "results.csv", "text/csv")
            );
            assert_eq!(
                (t.size, t.sha256, t.state),
                (5 * 1024 * 1024 * 1024, Sha256Digest([9; 32]), TransferState::Available)
            );
            assert_eq!(t.wrapped_key, Some(wrapped("k1", 1)));
            assert_eq!((t.created_at, t.withdrawn_at), (at(5), None));
            assert_eq!(t.message.as_ref().map(SealedText::as_bytes), Some(&b"\x01sealed by the service"[..]));
            assert_eq!(t.routing_note.as_deref(), Some("named for 825/2002"));
            assert!(t.has_file && t.quarantine.is_none() && t.reply_to.is_none() && t.batch.is_none());
            let to: Vec<OrgId> = t.recipients.iter().map(|d| d.org.id).collect();
            assert_eq!(to, [b.id, a.id], "deliveries in the order given");
            assert!(t.is_delivered_to(a.id) && !t.is_delivered_to(smst.id));
        }
        assert!(repo.get_transfer(TransferId(Uuid::new_v4())).await.unwrap().is_none());

        // A message without a file: no name, no key.
        let mut note = new_transfer(&a, &[&smst], "x", at(6));
        note.filename = None;
        note.wrapped_key = None;
        note.size = 0;
        let note = repo.insert_transfer(&note, &ev()).await.unwrap();
        assert!(!note.has_file && note.filename.is_empty() && note.wrapped_key.is_none());

        // The same object twice is refused whole: no transfer, no delivery.
        let mut twin = new_transfer(&a, &[&smst], "twin.csv", at(7));
        twin.object_id = new.object_id;
        assert!(matches!(repo.insert_transfer(&twin, &ev()).await, Err(StoreError::Conflict(_))));
        assert!(repo.get_transfer(twin.id).await.unwrap().is_none());
        // A recipient that does not exist rolls the transfer back too.
        let mut lost = new_transfer(&a, &[&smst], "lost.csv", at(8));
        lost.recipients.push(OrgId(999_999));
        assert!(repo.insert_transfer(&lost, &ev()).await.is_err());
        assert!(repo.get_transfer(lost.id).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn mailbox_pages_run_newest_first_without_gaps_or_repeats_and_filter_by_channel() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let old = school(&repo, "825/2005", "Fernhill Junior").await;
        let smst = team(&repo, "smst").await;
        for i in 0..7 {
            send(&repo, &smst, &[&a], &format!("to-a-{i}.csv"), i).await;
        }
        send(&repo, &smst, &[&old], "to-old.csv", 20).await;
        let mut census = new_transfer(&a, &[&smst], "census.xml", at(30));
        census.channel = ChannelSlug::parse("census").unwrap();
        repo.insert_transfer(&census, &ev()).await.unwrap();
        send(&repo, &a, &[&smst], "general.csv", 31).await;

        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = repo.list_mailbox(&[a.id], None, &[], Mailbox::Inbox, before, 3).await.unwrap();
            assert!(page.len() <= 3);
            seen.extend(names(&page));
            match page.last() {
                Some(last) if page.len() == 3 => before = Some(last.cursor),
                _ => break,
            }
        }
        let expected: Vec<String> = (0..7).rev().map(|i| format!("to-a-{i}.csv")).collect();
        assert_eq!(seen, expected);

        // A school carries on its predecessor's mailbox when asked with both.
        let both = repo.list_mailbox(&[a.id, old.id], None, &[], Mailbox::Inbox, None, 2).await.unwrap();
        assert_eq!(names(&both), ["to-old.csv", "to-a-6.csv"]);

        let sent = repo.list_mailbox(&[a.id], None, &[], Mailbox::Sent, None, 10).await.unwrap();
        assert_eq!(names(&sent), ["general.csv", "census.xml"]);
        assert_eq!(sent[0].transfer.recipients.len(), 1);
        let only = ["census".to_owned()];
        let on_census = repo.list_mailbox(&[a.id], Some(&only), &[], Mailbox::Sent, None, 10).await.unwrap();
        assert_eq!(names(&on_census), ["census.xml"]);
        let hidden = repo.list_mailbox(&[a.id], None, &only, Mailbox::Sent, None, 10).await.unwrap();
        assert_eq!(names(&hidden), ["general.csv"]);
        let none: [String; 0] = [];
        assert!(repo.list_mailbox(&[a.id], Some(&none), &[], Mailbox::Sent, None, 10).await.unwrap().is_empty());
        assert!(repo.list_mailbox(&[], None, &[], Mailbox::Inbox, None, 10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn downloads_are_recorded_in_order_with_their_ranges() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let smst = team(&repo, "smst").await;
        let t = send(&repo, &smst, &[&a], "results.csv", 0).await;
        let download = |range, secs| NewDownload {
            transfer: t.id,
            org: a.id,
            key_id: None,
            client_addr: Some("127.0.0.1".into()),
            range,
            at: at(secs),
        };
        repo.record_download(&download(None, 10), &ev()).await.unwrap();
        repo.record_download(&download(Some((100, 199)), 20), &ev()).await.unwrap();
        let got = repo.list_downloads(t.id).await.unwrap();
        let got: Vec<_> = got.iter().map(|d| (d.org.id, d.range, d.at)).collect();
        assert_eq!(got, [(a.id, None, at(10)), (a.id, Some((100, 199)), at(20))]);
        assert!(repo.list_downloads(TransferId(Uuid::new_v4())).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_withdrawn_transfer_loses_its_key_and_its_inbox_place_and_cannot_be_withdrawn_twice() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let smst = team(&repo, "smst").await;
        let t = send(&repo, &smst, &[&a], "mistake.csv", 0).await;
        assert!(repo.withdraw_transfer(t.id, at(60), &ev()).await.unwrap());
        assert!(!repo.withdraw_transfer(t.id, at(61), &ev()).await.unwrap());
        let t = repo.get_transfer(t.id).await.unwrap().unwrap();
        assert_eq!((t.state, t.withdrawn_at, t.wrapped_key), (TransferState::Withdrawn, Some(at(60)), None));
        assert!(repo.list_mailbox(&[a.id], None, &[], Mailbox::Inbox, None, 10).await.unwrap().is_empty());
        assert_eq!(repo.list_mailbox(&[smst.id], None, &[], Mailbox::Sent, None, 10).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_batch_purge_skips_held_repeated_and_unknown_transfers_and_chains_one_event_per_purge() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let smst = team(&repo, "smst").await;
        let first = send(&repo, &smst, &[&a], "first.csv", 0).await;
        let held = send(&repo, &smst, &[&a], "held.csv", 1).await;
        let second = send(&repo, &smst, &[&a], "second.csv", 2).await;
        let hold = NewHold {
            id: Uuid::new_v4(),
            scope: HoldScope::Transfer,
            target: held.id.to_string(),
            org: None,
            reason: "subject access request".into(),
            placed_at: at(3),
            placed_by: "operator".into(),
        };
        repo.place_hold(&hold, &ev()).await.unwrap();
        let purge =
            |t: TransferId| (t, AuditEvent::new(at(10), Actor::operator(), "transfer.purge").target("transfer", t));
        let items =
            [purge(first.id), purge(held.id), purge(first.id), purge(second.id), purge(TransferId::new_random())];
        let done = repo.purge_transfers(&items, at(10)).await.unwrap();
        assert_eq!(done, [true, false, false, true, false], "purged: the first mention of each unheld transfer");
        for (t, state) in
            [(&first, TransferState::Purged), (&held, TransferState::Available), (&second, TransferState::Purged)]
        {
            let now = repo.get_transfer(t.id).await.unwrap().unwrap();
            assert_eq!(now.state, state, "{}", t.id);
            assert_eq!(now.wrapped_key.is_none(), state == TransferState::Purged, "the key goes with the purge only");
        }
        // Nothing is left to purge a second time.
        assert_eq!(repo.purge_transfers(&items[..2], at(11)).await.unwrap(), [false, false]);

        // The whole trail is one chain, with one purge event per transfer purged, in order.
        let trail = repo.audit_from(0, 1000).await.unwrap();
        let mut verifier = Verifier::new();
        for record in &trail {
            verifier.check(&record.stored, &record.details_json).unwrap();
        }
        let purged: Vec<String> = trail
            .iter()
            .filter(|r| r.stored.event.action == "transfer.purge")
            .filter_map(|r| r.stored.event.target_id.clone())
            .collect();
        assert_eq!(purged, [first.id.to_string(), second.id.to_string()]);
    })
    .await;
}

#[tokio::test]
async fn removing_a_delivery_hides_it_from_that_recipient_only() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let b = school(&repo, "825/2002", "Other Primary").await;
        let smst = team(&repo, "smst").await;
        let t = send(&repo, &smst, &[&a, &b], "letter.pdf", 0).await;
        assert!(repo.remove_delivery(t.id, a.id, at(5), &ev()).await.unwrap());
        assert!(!repo.remove_delivery(t.id, a.id, at(6), &ev()).await.unwrap());
        assert!(!repo.remove_delivery(t.id, smst.id, at(6), &ev()).await.unwrap(), "not delivered there");
        assert!(repo.list_mailbox(&[a.id], None, &[], Mailbox::Inbox, None, 10).await.unwrap().is_empty());
        assert_eq!(repo.list_mailbox(&[b.id], None, &[], Mailbox::Inbox, None, 10).await.unwrap().len(), 1);
        let t = repo.get_transfer(t.id).await.unwrap().unwrap();
        assert!(!t.is_delivered_to(a.id) && t.is_delivered_to(b.id));
        assert_eq!(t.recipients.iter().find(|d| d.org.id == a.id).unwrap().removed_at, Some(at(5)));
    })
    .await;
}

#[tokio::test]
async fn objects_are_live_while_their_key_exists_and_dead_once_it_is_destroyed() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let smst = team(&repo, "smst").await;
        let kept = send(&repo, &smst, &[&a], "kept.csv", 0).await;
        let gone = send(&repo, &smst, &[&a], "gone.csv", 1).await;
        repo.withdraw_transfer(gone.id, at(2), &ev()).await.unwrap();
        let stranger = Uuid::new_v4();
        let candidates = [kept.object_id, gone.object_id, stranger];
        assert_eq!(repo.live_objects(&candidates).await.unwrap(), HashSet::from([kept.object_id]));
        assert_eq!(repo.dead_objects(&candidates).await.unwrap(), HashSet::from([gone.object_id]));
        assert!(repo.live_objects(&[]).await.unwrap().is_empty());
        // Many candidates at once (the sweep lists whole prefixes).
        let many: Vec<Uuid> = (0..1500).map(|_| Uuid::new_v4()).chain([kept.object_id]).collect();
        assert_eq!(repo.live_objects(&many).await.unwrap(), HashSet::from([kept.object_id]));
    })
    .await;
}

#[tokio::test]
async fn keys_are_rewrapped_only_if_unchanged_and_racing_rewraps_let_exactly_one_through() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let smst = team(&repo, "smst").await;
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(send(&repo, &smst, &[&a], &format!("f{i}.csv"), i).await.id);
        }
        let mut newer = new_transfer(&smst, &[&a], "new.csv", at(9));
        newer.wrapped_key = Some(wrapped("k2", 2));
        repo.insert_transfer(&newer, &ev()).await.unwrap();

        let old: Vec<TransferId> = repo.keys_not_under("k2", 10).await.unwrap().iter().map(|k| k.transfer).collect();
        assert_eq!(old, ids, "oldest first, none already under k2");
        assert_eq!(repo.keys_not_under("k2", 2).await.unwrap().len(), 2);

        assert!(repo.replace_wrapped_key(ids[0], &wrapped("k1", 1), &wrapped("k2", 3)).await.unwrap());
        assert!(!repo.replace_wrapped_key(ids[0], &wrapped("k1", 1), &wrapped("k2", 4)).await.unwrap());
        assert_eq!(repo.get_transfer(ids[0]).await.unwrap().unwrap().wrapped_key, Some(wrapped("k2", 3)));

        // Two nodes rotating at once each wrap the key afresh (different bytes): one wins.
        let racers = (0..4u8).map(|n| {
            let (repo, id) = (repo.clone(), ids[1]);
            tokio::spawn(async move {
                repo.replace_wrapped_key(id, &wrapped("k1", 1), &wrapped("k2", 10 + n)).await.unwrap()
            })
        });
        let won = futures_util::future::join_all(racers).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
        assert_eq!(won, 1);
        assert_eq!(repo.keys_not_under("k2", 10).await.unwrap().len(), 1);
        // A withdrawn transfer has no key left to rewrap.
        repo.withdraw_transfer(ids[2], at(20), &ev()).await.unwrap();
        assert!(repo.keys_not_under("k2", 10).await.unwrap().is_empty());
        assert!(!repo.replace_wrapped_key(ids[2], &wrapped("k1", 1), &wrapped("k2", 5)).await.unwrap());
    })
    .await;
}

// ----- batches, quarantine, successors and replies ----------------------------------------

#[tokio::test]
async fn a_quarantined_batch_file_is_released_once_to_its_recipient() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let smst = team(&repo, "smst").await;
        let batch = NewBatch {
            id: Uuid::new_v4(),
            channel: ChannelSlug::parse("checking-files").unwrap(),
            sender: smst.id,
            sender_key_id: None,
            sender_user: None,
            created_at: at(0),
        };
        repo.create_batch(&batch).await.unwrap();
        let open = repo.get_batch(batch.id).await.unwrap().unwrap();
        assert_eq!(
            (open.channel.as_str(), open.sender, open.report, open.finished_at),
            ("checking-files", smst.id, None, None)
        );

        let mut held = new_transfer(&smst, &[], "KS2 unknown.pdf", at(1));
        held.batch = Some(batch.id);
        held.quarantine =
            Some(Quarantine { code: "unroutable_name".into(), reason: "No DfE number in the name".into() });
        let held = repo.insert_transfer(&held, &ev()).await.unwrap();
        assert!(held.is_quarantined());
        assert_eq!((held.batch, held.quarantined_at), (Some(batch.id), Some(at(1))));
        let mut routed = new_transfer(&smst, &[&a], "8252001 KS2.pdf", at(2));
        routed.batch = Some(batch.id);
        repo.insert_transfer(&routed, &ev()).await.unwrap();
        repo.finish_batch(batch.id, r#"{"files":2}"#, at(3), &ev()).await.unwrap();
        let done = repo.get_batch(batch.id).await.unwrap().unwrap();
        assert_eq!((done.report.as_deref(), done.finished_at), (Some(r#"{"files":2}"#), Some(at(3))));
        assert!(repo.get_batch(Uuid::new_v4()).await.unwrap().is_none());

        let quarantine = repo.list_quarantine(&[smst.id], None, 10).await.unwrap();
        assert_eq!(names(&quarantine), ["KS2 unknown.pdf"]);
        assert_eq!(quarantine[0].transfer.quarantine.as_ref().unwrap().reason, "No DfE number in the name");
        let sent = repo.list_mailbox(&[smst.id], None, &[], Mailbox::Sent, None, 10).await.unwrap();
        assert_eq!(names(&sent), ["8252001 KS2.pdf"], "a quarantined file is not in the sent box");

        let release = Release {
            transfer: held.id,
            recipient: a.id,
            filename: FileName::parse("KS2.pdf").unwrap(),
            routing_note: "released by the sender".into(),
        };
        // The sender clicks twice, on two nodes: it is delivered once.
        let clicks = (0..3).map(|_| {
            let (repo, release) = (repo.clone(), release.clone());
            tokio::spawn(async move { repo.release_from_quarantine(&release, &ev()).await.unwrap() })
        });
        let won = futures_util::future::join_all(clicks).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
        assert_eq!(won, 1);
        let released = repo.get_transfer(held.id).await.unwrap().unwrap();
        assert!(!released.is_quarantined() && released.is_delivered_to(a.id));
        assert_eq!((released.filename.as_str(), released.recipients.len()), ("KS2.pdf", 1));
        assert!(repo.list_quarantine(&[smst.id], None, 10).await.unwrap().is_empty());
        let inbox = repo.list_mailbox(&[a.id], None, &[], Mailbox::Inbox, None, 10).await.unwrap();
        assert_eq!(names(&inbox), ["KS2.pdf", "8252001 KS2.pdf"]);
    })
    .await;
}

#[tokio::test]
async fn a_senders_batches_page_newest_first_without_gaps_or_repeats_and_say_who_sent_each() {
    on_every_engine(|repo| async move {
        let smst = team(&repo, "smst").await;
        let admissions = team(&repo, "admissions").await;
        let router = person(&repo, &smst, "router").await;
        let everything = KeyScope { channels: vec!["*".into()], can_send: true, can_receive: true, expires_at: None };
        let key = NewApiKey {
            key_id: "pp_job".into(),
            org_id: smst.id,
            name: "checking job".into(),
            secret_hash: [3; 32],
            scope: everything,
        };
        repo.create_api_key(&key, t0(), &ev()).await.unwrap();
        let drop = |sender: &Organisation, key: Option<&str>, user: Option<UserId>, secs: i64| NewBatch {
            id: Uuid::new_v4(),
            channel: ChannelSlug::parse("checking-files").unwrap(),
            sender: sender.id,
            sender_key_id: key.map(str::to_owned),
            sender_user: user,
            created_at: at(secs),
        };
        let mut ours = Vec::new();
        for n in 0..7 {
            let (key, user) = match n % 3 {
                0 => (None, Some(router.id)),
                1 => (Some("pp_job"), None),
                _ => (None, None),
            };
            let batch = drop(&smst, key, user, n);
            repo.create_batch(&batch).await.unwrap();
            ours.push(batch.id);
            // Another team's batch between each of ours, never in our list.
            repo.create_batch(&drop(&admissions, None, None, n)).await.unwrap();
        }
        repo.finish_batch(ours[6], r#"{"files":3}"#, at(10), &ev()).await.unwrap();

        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = repo.list_batches(&[smst.id], before, 3).await.unwrap();
            assert!(page.len() <= 3);
            seen.extend(page.iter().map(|e| e.batch.clone()));
            if page.len() < 3 {
                break;
            }
            before = page.last().map(|e| e.cursor);
        }
        let ids: Vec<_> = seen.iter().map(|b| b.id).collect();
        assert_eq!(ids, ours.iter().rev().copied().collect::<Vec<_>>(), "newest first, each once");
        assert!(seen.iter().all(|b| b.sender == smst.id && b.channel == "checking-files"));
        assert_eq!(seen[0].sent_by, SentBy::User("router".into()));
        assert_eq!(seen[0].report.as_deref(), Some(r#"{"files":3}"#));
        assert_eq!((seen[0].created_at, seen[0].finished_at), (at(6), Some(at(10))));
        assert_eq!(seen[1].sent_by, SentBy::Unknown);
        assert_eq!(seen[2].sent_by, SentBy::Key("pp_job".into()));
        assert!(seen[1].report.is_none() && seen[1].finished_at.is_none());
        let one = repo.get_batch(ours[6]).await.unwrap().unwrap();
        assert_eq!(one.sent_by, SentBy::User("router".into()), "one batch reads the same as the list");
        assert!(repo
            .list_batches(&[admissions.id], None, 50)
            .await
            .unwrap()
            .iter()
            .all(|e| e.batch.sender == admissions.id));
        assert!(repo.list_batches(&[], None, 50).await.unwrap().is_empty(), "no senders, no batches");
    })
    .await;
}

#[tokio::test]
async fn replies_are_linked_to_their_request_which_is_then_no_longer_open() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let b = school(&repo, "825/2002", "Other Primary").await;
        let smst = team(&repo, "smst").await;
        let fsm = ChannelSlug::parse("fsm").unwrap();
        let mut first = new_transfer(&a, &[&smst], "fsm-1.csv", at(0));
        first.channel = fsm.clone();
        let first = repo.insert_transfer(&first, &ev()).await.unwrap();
        let mut second = new_transfer(&b, &[&smst], "fsm-2.csv", at(1));
        second.channel = fsm.clone();
        let second = repo.insert_transfer(&second, &ev()).await.unwrap();

        let open: Vec<TransferId> =
            repo.open_requests("fsm", &[smst.id], 10).await.unwrap().iter().map(|t| t.id).collect();
        assert_eq!(open, [first.id, second.id]);
        assert!(repo.open_requests("general", &[smst.id], 10).await.unwrap().is_empty());

        let mut answer = new_transfer(&smst, &[&a], "fsm-1-result.csv", at(2));
        answer.channel = fsm;
        answer.reply_to = Some(first.id);
        let answer = repo.insert_transfer(&answer, &ev()).await.unwrap();
        assert_eq!(answer.reply_to, Some(first.id));
        let replies: Vec<TransferId> = repo.replies_to(first.id).await.unwrap().iter().map(|t| t.id).collect();
        assert_eq!(replies, [answer.id]);
        let open: Vec<TransferId> =
            repo.open_requests("fsm", &[smst.id], 10).await.unwrap().iter().map(|t| t.id).collect();
        assert_eq!(open, [second.id]);
        assert_eq!(repo.open_requests("fsm", &[smst.id], 1).await.unwrap().len(), 1);
    })
    .await;
}

// ----- channel overrides and reports ------------------------------------------------------

#[tokio::test]
async fn channel_overrides_are_created_replaced_listed_and_removed() {
    on_every_engine(|repo| async move {
        let smst = team(&repo, "smst").await;
        let admin = person(&repo, &smst, "la.admin").await;
        repo.put_channel_override("fsm", r#"{"v":1}"#, Some(admin.id), at(1), &ev()).await.unwrap();
        repo.put_channel_override("census", r#"{"v":1}"#, None, at(2), &ev()).await.unwrap();
        repo.put_channel_override("fsm", r#"{"v":2}"#, Some(admin.id), at(3), &ev()).await.unwrap();
        let all = repo.channel_overrides().await.unwrap();
        let slugs: Vec<&str> = all.iter().map(|c| c.slug.as_str()).collect();
        assert_eq!(slugs, ["census", "fsm"]);
        let fsm = repo.channel_override("fsm").await.unwrap().unwrap();
        assert_eq!((fsm.definition.as_str(), fsm.updated_at, fsm.updated_by), (r#"{"v":2}"#, at(3), Some(admin.id)));
        assert_eq!(fsm.updated_by_username.as_deref(), Some("la.admin"));
        assert_eq!(all[0].updated_by_username, None);
        assert!(repo.delete_channel_override("fsm", &ev()).await.unwrap());
        assert!(!repo.delete_channel_override("fsm", &ev()).await.unwrap());
        assert!(repo.channel_override("fsm").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn the_unclaimed_report_lists_old_undownloaded_deliveries_by_channel_cutoff() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let b = school(&repo, "825/2002", "Other Primary").await;
        let smst = team(&repo, "smst").await;
        let both = send(&repo, &smst, &[&a, &b], "both.csv", 0).await;
        let mut ctf = new_transfer(&smst, &[&a], "pupil.ctf", at(10));
        ctf.channel = ChannelSlug::parse("ctf").unwrap();
        repo.insert_transfer(&ctf, &ev()).await.unwrap();
        send(&repo, &smst, &[&b], "recent.csv", 1000).await;
        let withdrawn = send(&repo, &smst, &[&a], "withdrawn.csv", 5).await;
        repo.withdraw_transfer(withdrawn.id, at(6), &ev()).await.unwrap();
        repo.record_download(
            &NewDownload {
                transfer: both.id,
                org: b.id,
                key_id: None,
                client_addr: None,
                range: Some((0, 9)),
                at: at(20),
            },
            &ev(),
        )
        .await
        .unwrap();

        let report = |filter: UnclaimedFilter| {
            let repo = repo.clone();
            async move {
                repo.unclaimed_deliveries(&filter)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|u| (u.filename, u.recipient.reference.to_string()))
                    .collect::<Vec<_>>()
            }
        };
        let pair = |f: &str, r: &str| (f.to_owned(), r.to_owned());
        let everything = UnclaimedFilter { cutoffs: vec![], otherwise: Some(at(500)), recipient: None, limit: 10 };
        assert_eq!(report(everything.clone()).await, [pair("both.csv", "825/2001"), pair("pupil.ctf", "825/2001")]);
        let ctf_strict = UnclaimedFilter { cutoffs: vec![("ctf".into(), at(5))], ..everything.clone() };
        assert_eq!(report(ctf_strict).await, [pair("both.csv", "825/2001")]);
        let only_ctf =
            UnclaimedFilter { cutoffs: vec![("ctf".into(), at(500))], otherwise: None, ..everything.clone() };
        assert_eq!(report(only_ctf).await, [pair("pupil.ctf", "825/2001")]);
        let for_b = UnclaimedFilter { otherwise: Some(at(2000)), recipient: Some(b.id), ..everything.clone() };
        assert_eq!(report(for_b).await, [pair("recent.csv", "825/2002")]);
        let limited = UnclaimedFilter { limit: 1, ..everything.clone() };
        assert_eq!(report(limited).await.len(), 1);
        let nothing = UnclaimedFilter { cutoffs: vec![], otherwise: None, recipient: None, limit: 10 };
        assert!(report(nothing).await.is_empty());
    })
    .await;
}

// ----- PostgreSQL only: what a lost database looks like ------------------------------------

#[tokio::test]
async fn a_closed_postgres_pool_answers_unavailable_not_an_internal_error() {
    let Some(server) = server_url("unavailability check") else { return };
    let database = TestDatabase::create(&server).await;
    let pg = SqlRepository::postgres(&database.url, &pool(2)).await.unwrap();
    pg.migrate().await.unwrap();
    pg.migrate().await.expect("migrating twice changes nothing");
    pg.ping().await.unwrap();
    pg.close().await;
    assert!(matches!(pg.ping().await, Err(StoreError::Unavailable(_))));
    assert!(matches!(pg.list_organisations().await, Err(StoreError::Unavailable(_))));
    database.drop_database().await;
}

#[tokio::test]
async fn a_postgres_server_that_is_not_listening_is_unavailable_within_the_acquire_timeout() {
    let Some(server) = server_url("unreachable-server check") else { return };
    let database = TestDatabase::create(&server).await;
    let pg = SqlRepository::postgres(&database.url, &pool(1)).await.unwrap();
    // Cut every connection from the server side, as a restart would, then point at nothing.
    let mut admin = sqlx::PgConnection::connect_with(&std::str::FromStr::from_str(&server).unwrap()).await.unwrap();
    use sqlx::Connection as _;
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(database.name())
    .execute(&mut admin)
    .await
    .unwrap();
    let _ = admin.close().await;
    // The pool notices the dead connection and opens a new one: the next call just works.
    pg.ping().await.expect("the pool replaces a connection the server ended");
    pg.close().await;
    database.drop_database().await;

    let nowhere = "postgres://postgres@127.0.0.1:9/none";
    let started = std::time::Instant::now();
    let err = SqlRepository::postgres(nowhere, &PoolSettings { acquire_timeout: Duration::from_secs(2), ..pool(1) })
        .await
        .err()
        .expect("nothing listens on port 9");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(format!("{err:#}").contains("is it running"), "{err:#}");
}

// ----- mailbox filters and the collection report -----------------------------------------

#[tokio::test]
async fn mailbox_filters_by_channel_sender_time_and_download_narrow_every_engine_alike() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let b = school(&repo, "825/2002", "Other Primary").await;
        let smst = team(&repo, "smst").await;
        let mut census = new_transfer(&a, &[&smst], "a-census.xml", at(10));
        census.channel = ChannelSlug::parse("census").unwrap();
        repo.insert_transfer(&census, &ev()).await.unwrap();
        send(&repo, &a, &[&smst], "a-general.csv", 20).await;
        let from_b = send(&repo, &b, &[&smst], "b-general.csv", 30).await;
        send(&repo, &b, &[&smst], "b-later.csv", 40).await;
        let download =
            NewDownload { transfer: from_b.id, org: smst.id, key_id: None, client_addr: None, range: None, at: at(50) };
        repo.record_download(&download, &ev()).await.unwrap();
        // A download by someone else does not make the file old news to smst.
        let elsewhere = NewDownload { org: a.id, transfer: census.id, ..download.clone() };
        repo.record_download(&elsewhere, &ev()).await.unwrap();

        let page = |filter: MailboxFilter, before: Option<i64>, limit: u32| {
            let repo = repo.clone();
            let orgs = [smst.id];
            async move {
                let q = MailboxQuery {
                    orgs: &orgs,
                    mailbox: Mailbox::Inbox,
                    channels: None,
                    hidden_channels: &[],
                    filter: &filter,
                    before,
                    limit,
                };
                repo.mailbox_page(&q).await.unwrap()
            }
        };
        let on = |channel: &str| MailboxFilter { channel: Some(channel.into()), ..MailboxFilter::default() };
        assert_eq!(names(&page(on("census"), None, 10).await), ["a-census.xml"]);
        assert_eq!(names(&page(on("general"), None, 10).await), ["b-later.csv", "b-general.csv", "a-general.csv"]);
        let from = |org: &Organisation| MailboxFilter { senders: Some(vec![org.id]), ..MailboxFilter::default() };
        assert_eq!(names(&page(from(&a), None, 10).await), ["a-general.csv", "a-census.xml"]);
        assert!(page(MailboxFilter { senders: Some(vec![]), ..MailboxFilter::default() }, None, 10).await.is_empty());
        let to = |org: &Organisation| MailboxFilter { recipients: Some(vec![org.id]), ..MailboxFilter::default() };
        assert_eq!(names(&page(to(&smst), None, 10).await).len(), 4, "every file here was delivered to smst");
        assert!(page(to(&a), None, 10).await.is_empty(), "none to a school");
        let since = MailboxFilter { since: Some(at(30)), ..MailboxFilter::default() };
        assert_eq!(names(&page(since, None, 10).await), ["b-later.csv", "b-general.csv"], "at the time itself counts");
        let state = |s| MailboxFilter { download_state: Some(s), ..MailboxFilter::default() };
        assert_eq!(names(&page(state(DownloadState::Downloaded), None, 10).await), ["b-general.csv"]);
        assert_eq!(
            names(&page(state(DownloadState::New), None, 10).await),
            ["b-later.csv", "a-general.csv", "a-census.xml"]
        );

        // Every part at once, and the keyset cursor carried through a filtered listing.
        let all = MailboxFilter {
            channel: Some("general".into()),
            senders: Some(vec![a.id, b.id]),
            recipients: Some(vec![smst.id]),
            since: Some(at(20)),
            download_state: Some(DownloadState::New),
        };
        let first = page(all.clone(), None, 1).await;
        assert_eq!(names(&first), ["b-later.csv"]);
        let second = page(all.clone(), Some(first[0].cursor), 1).await;
        assert_eq!(names(&second), ["a-general.csv"]);
        assert!(page(all, Some(second[0].cursor), 1).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn sender_tallies_count_delivered_files_since_a_time_and_each_senders_latest() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let b = school(&repo, "825/2002", "Other Primary").await;
        let c = school(&repo, "825/2003", "Third Primary").await;
        let smst = team(&repo, "smst").await;
        let census = |org: &Organisation, name: &str, secs: i64| {
            let mut t = new_transfer(org, &[&smst], name, at(secs));
            t.channel = ChannelSlug::parse("census").unwrap();
            t
        };
        for t in [census(&a, "a1.xml", 10), census(&a, "a2.xml", 100), census(&b, "b1.xml", 20)] {
            repo.insert_transfer(&t, &ev()).await.unwrap();
        }
        send(&repo, &c, &[&smst], "c-general.csv", 200).await;
        let withdrawn = census(&c, "c-withdrawn.xml", 150);
        repo.insert_transfer(&withdrawn, &ev()).await.unwrap();
        assert!(repo.withdraw_transfer(withdrawn.id, at(160), &ev()).await.unwrap());
        let mut held = census(&c, "c-held.xml", 170);
        held.recipients.clear();
        held.quarantine = Some(Quarantine { code: "unknown_school".into(), reason: "held".into() });
        repo.insert_transfer(&held, &ev()).await.unwrap();

        let mut tallies = repo.sender_tallies("census", at(50)).await.unwrap();
        tallies.sort_by_key(|t| t.sender);
        assert_eq!(
            tallies,
            [
                SenderTally { sender: a.id, files_since: 1, last_file_at: at(100) },
                SenderTally { sender: b.id, files_since: 0, last_file_at: at(20) },
            ],
            "c's withdrawn and quarantined files and its general one do not count"
        );
        let mut from_start = repo.sender_tallies("census", at(10)).await.unwrap();
        from_start.sort_by_key(|t| t.sender);
        assert_eq!(from_start.iter().map(|t| t.files_since).collect::<Vec<_>>(), [2, 1]);
        assert!(repo.sender_tallies("fsm", at(0)).await.unwrap().is_empty());
    })
    .await;
}

/// The event a test change is recorded with.
fn ev() -> AuditEvent {
    AuditEvent::new(t0(), Actor::operator(), "test.change")
}

#[tokio::test]
async fn a_duplicate_is_refused_in_our_words_never_the_engines() {
    on_every_engine(|repo| async move {
        let a = school(&repo, "825/2001", "Example Primary").await;
        let alice = person(&repo, &a, "alice").await;
        let dup = NewUser {
            org: a.id,
            username: "ALICE".parse().unwrap(),
            display_name: "Another".into(),
            role: Role::SchoolUser,
            status: UserStatus::Requested,
            password_hash: None,
            requested_by: Some(alice.id),
            password_change_required: false,
        };
        let Err(StoreError::Conflict(user)) = repo.create_user(&dup, t0(), &ev()).await else {
            panic!("a second account with the same username is a conflict")
        };
        assert_eq!(user, "an account with this username already exists");
        let again =
            NewOrganisation { kind: OrgKind::School, reference: "825/2001".parse().unwrap(), name: "Again".into() };
        let Err(StoreError::Conflict(org)) = repo.create_organisation(&again, t0(), &ev()).await else {
            panic!("a second school with the same DfE number is a conflict")
        };
        assert_eq!(org, "an organisation with this DfE number, name or URN is already registered");
        for message in [user, org] {
            for engine_words in ["UNIQUE", "constraint", "duplicate key", "users.", "organisations."] {
                assert!(!message.contains(engine_words), "{message:?} repeats the engine's words");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_totp_step_too_large_to_store_is_refused_not_wrapped_round_to_an_earlier_one() {
    on_every_engine(|repo| async move {
        let a = team(&repo, "smst").await;
        let user = person(&repo, &a, "lauser").await;
        for step in [u64::MAX, 1 << 63] {
            assert!(repo.advance_totp_step(user.id, step).await.is_err(), "step {step}");
        }
        assert_eq!(repo.get_user(user.id).await.unwrap().unwrap().totp_last_step, None);
        let largest = u64::try_from(i64::MAX).unwrap();
        assert!(repo.advance_totp_step(user.id, largest).await.unwrap(), "the largest step that fits");
        assert_eq!(repo.get_user(user.id).await.unwrap().unwrap().totp_last_step, Some(largest));
        assert!(repo.advance_totp_step(user.id, u64::MAX).await.is_err(), "a later step that does not fit");
        assert!(!repo.advance_totp_step(user.id, 1000).await.unwrap(), "an earlier step");
    })
    .await;
}
