//! One suite for every object store: each case runs against the local directory store and
//! against S3 (SeaweedFS from ops/test), so both keep the promises the rest of the server
//! relies on: nothing is visible before commit, nothing is left after abort, ranges read what
//! they say, and the orphan sweep can find what a crash left behind.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use pigeonpost::store::blob::local::LocalBlobStore;
use pigeonpost::store::blob::s3::S3BlobStore;
use pigeonpost::store::{BlobError, BlobStore, ObjectKey};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use uuid::Uuid;

use crate::support::s3;

const MIB: usize = 1024 * 1024;
/// What the upload pipeline hands the store at a time: one sealed segment.
const CHUNK: usize = 64 * 1024 + 16;

struct Fixture {
    store: Arc<dyn BlobStore>,
    _dir: Option<TempDir>,
}

impl Fixture {
    async fn local() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).await.unwrap();
        Fixture { store: Arc::new(store), _dir: Some(dir) }
    }

    async fn s3(test: &str) -> Option<Fixture> {
        let settings = s3::settings(test)?;
        let store = S3BlobStore::connect(&settings).await.unwrap();
        Some(Fixture { store: Arc::new(store), _dir: None })
    }

    async fn put(&self, data: &[u8]) -> ObjectKey {
        let key = ObjectKey(Uuid::new_v4());
        let mut w = self.store.begin(key).await.unwrap();
        for chunk in data.chunks(CHUNK) {
            w.write(chunk).await.unwrap();
        }
        assert_eq!(w.commit().await.unwrap(), data.len() as u64);
        key
    }

    async fn read(&self, key: ObjectKey, range: Option<std::ops::Range<u64>>) -> Result<Vec<u8>, BlobError> {
        let mut stream = self.store.get(key, range).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.map_err(BlobError::from)?);
        }
        Ok(out)
    }

    async fn keys(&self) -> Vec<ObjectKey> {
        let mut keys: Vec<ObjectKey> = self.store.list().await.unwrap().into_iter().map(|i| i.key).collect();
        keys.sort_by_key(|k| k.0);
        keys
    }

    /// Nothing committed and no write in progress anywhere in the store.
    async fn is_empty(&self) -> bool {
        let far_future = SystemTime::now() + Duration::from_secs(3600);
        self.keys().await.is_empty() && self.store.remove_abandoned_writes(far_future).await.unwrap() == 0
    }
}

/// Deterministic bytes that differ at every offset, so a misplaced range shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u64).wrapping_mul(2654435761).rotate_right(13) as u8).collect()
}

fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

mod cases {
    use super::*;

    pub async fn a_committed_object_reads_back_whole_and_in_ranges(fx: &Fixture) {
        let data = pattern(300_001);
        let key = fx.put(&data).await;
        let n = data.len() as u64;
        assert_eq!(fx.read(key, None).await.unwrap(), data);
        assert_eq!(fx.read(key, Some(0..1)).await.unwrap(), &data[..1]);
        assert_eq!(fx.read(key, Some(1000..70_000)).await.unwrap(), &data[1000..70_000]);
        assert_eq!(fx.read(key, Some(n - 1..n)).await.unwrap(), &data[data.len() - 1..], "the last byte");
        assert_eq!(fx.read(key, Some(n - 5..n + 100)).await.unwrap(), &data[data.len() - 5..], "a range past the end");
        assert!(fx.read(key, Some(n..n + 10)).await.unwrap().is_empty(), "a range starting at the end");
        assert!(fx.read(key, Some(10..10)).await.unwrap().is_empty(), "an empty range");
    }

    pub async fn an_empty_object_can_be_stored_and_read(fx: &Fixture) {
        let key = fx.put(b"").await;
        assert!(fx.read(key, None).await.unwrap().is_empty());
        assert_eq!(fx.keys().await, [key]);
    }

    pub async fn nothing_is_visible_before_commit(fx: &Fixture) {
        let key = ObjectKey(Uuid::new_v4());
        let mut w = fx.store.begin(key).await.unwrap();
        w.write(&pattern(10 * MIB)).await.unwrap();
        assert!(matches!(fx.read(key, None).await, Err(BlobError::NotFound(k)) if k == key));
        assert!(fx.keys().await.is_empty());
        w.commit().await.unwrap();
        assert_eq!(fx.keys().await, [key]);
    }

    pub async fn an_aborted_write_leaves_nothing_small_or_multipart(fx: &Fixture) {
        for len in [1000, 10 * MIB + 7] {
            let key = ObjectKey(Uuid::new_v4());
            let mut w = fx.store.begin(key).await.unwrap();
            for chunk in pattern(len).chunks(CHUNK) {
                w.write(chunk).await.unwrap();
            }
            w.abort().await;
            assert!(matches!(fx.read(key, None).await, Err(BlobError::NotFound(_))), "{len} bytes");
            assert!(fx.is_empty().await, "an aborted write of {len} bytes left something behind");
        }
    }

    pub async fn a_write_dropped_without_commit_leaves_nothing(fx: &Fixture) {
        let key = ObjectKey(Uuid::new_v4());
        let mut w = fx.store.begin(key).await.unwrap();
        w.write(&pattern(9 * MIB)).await.unwrap();
        drop(w);
        // S3 aborts the upload in the background; give it a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !fx.is_empty().await {
            assert!(Instant::now() < deadline, "a dropped write was still in the store after 10 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn deleting_removes_an_object_and_deleting_again_succeeds(fx: &Fixture) {
        let keep = fx.put(b"keep").await;
        let gone = fx.put(b"gone").await;
        fx.store.delete(gone).await.unwrap();
        assert!(matches!(fx.read(gone, None).await, Err(BlobError::NotFound(_))));
        fx.store.delete(gone).await.unwrap();
        fx.store.delete(ObjectKey(Uuid::new_v4())).await.unwrap();
        assert_eq!(fx.read(keep, None).await.unwrap(), b"keep");
    }

    pub async fn list_names_every_committed_object_and_nothing_else(fx: &Fixture) {
        let started = SystemTime::now() - Duration::from_secs(5);
        let mut expected = vec![fx.put(b"one").await, fx.put(b"two").await, fx.put(&pattern(CHUNK * 3)).await];
        let mut pending = fx.store.begin(ObjectKey(Uuid::new_v4())).await.unwrap();
        pending.write(b"not yet").await.unwrap();
        expected.sort_by_key(|k| k.0);
        assert_eq!(fx.keys().await, expected);
        for info in fx.store.list().await.unwrap() {
            assert!(info.modified >= started, "{:?} is older than the test", info.modified);
        }
        pending.abort().await;
    }

    pub async fn a_missing_object_is_not_found(fx: &Fixture) {
        let key = ObjectKey(Uuid::new_v4());
        assert!(matches!(fx.read(key, None).await, Err(BlobError::NotFound(k)) if k == key));
        assert!(matches!(fx.read(key, Some(0..10)).await, Err(BlobError::NotFound(_))));
        assert!(matches!(fx.read(key, Some(5..5)).await, Err(BlobError::NotFound(_))));
    }

    pub async fn a_large_object_crossing_several_parts_reads_back_intact(fx: &Fixture) {
        let data = pattern(20 * MIB + 123);
        let key = fx.put(&data).await;
        assert_eq!(sha(&fx.read(key, None).await.unwrap()), sha(&data));
        let boundary = 8 * MIB as u64;
        let across = fx.read(key, Some(boundary - 100..boundary + 100)).await.unwrap();
        assert_eq!(across, &data[8 * MIB - 100..8 * MIB + 100], "a range across the first part boundary");
        let n = data.len() as u64;
        assert_eq!(fx.read(key, Some(n - 1..n)).await.unwrap(), &data[data.len() - 1..]);
    }

    pub async fn abandoned_writes_are_removed_once_older_than_the_cutoff(fx: &Fixture) {
        let committed = fx.put(b"committed").await;
        // A crash mid-upload: the writer is neither committed, aborted nor dropped.
        for len in [100, 9 * MIB] {
            let mut w = fx.store.begin(ObjectKey(Uuid::new_v4())).await.unwrap();
            w.write(&pattern(len)).await.unwrap();
            std::mem::forget(w);
        }
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        assert_eq!(fx.store.remove_abandoned_writes(an_hour_ago).await.unwrap(), 0, "too young to remove");
        let removed = fx.store.remove_abandoned_writes(SystemTime::now() + Duration::from_secs(60)).await.unwrap();
        // The local store has a file for each; S3 has nothing for a write still within its first
        // part (it is only in the dead process's memory).
        assert!((1..=2).contains(&removed), "removed {removed}");
        assert_eq!(fx.keys().await, [committed]);
        assert_eq!(fx.store.remove_abandoned_writes(SystemTime::now() + Duration::from_secs(60)).await.unwrap(), 0);
    }

    pub async fn a_usable_store_passes_its_readiness_check(fx: &Fixture) {
        fx.store.check().await.unwrap();
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod local_directory {
            $(
                #[tokio::test]
                async fn $case() {
                    let fx = super::Fixture::local().await;
                    super::cases::$case(&fx).await;
                }
            )*
        }
        mod s3_seaweedfs {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(fx) = super::Fixture::s3(stringify!($case)).await else { return };
                    super::cases::$case(&fx).await;
                }
            )*
        }
    };
}

conformance!(
    a_committed_object_reads_back_whole_and_in_ranges,
    an_empty_object_can_be_stored_and_read,
    nothing_is_visible_before_commit,
    an_aborted_write_leaves_nothing_small_or_multipart,
    a_write_dropped_without_commit_leaves_nothing,
    deleting_removes_an_object_and_deleting_again_succeeds,
    list_names_every_committed_object_and_nothing_else,
    a_missing_object_is_not_found,
    a_large_object_crossing_several_parts_reads_back_intact,
    abandoned_writes_are_removed_once_older_than_the_cutoff,
    a_usable_store_passes_its_readiness_check,
);

/// What only S3 can get wrong: the wrong bucket, or no store at all.
mod s3_only {
    use super::*;

    #[tokio::test]
    async fn a_bucket_that_does_not_exist_makes_the_store_unready() {
        let Some(mut settings) = s3::settings("a_bucket_that_does_not_exist_makes_the_store_unready") else {
            return;
        };
        settings.bucket = format!("no-such-bucket-{}", Uuid::new_v4().simple());
        let store = S3BlobStore::connect(&settings).await.unwrap();
        assert!(matches!(store.check().await, Err(BlobError::Unavailable(_))));
    }

    #[tokio::test]
    async fn a_store_that_is_not_running_is_unavailable_quickly_not_a_hang() {
        // The harness's credentials, so the SDK never goes looking for others (no metadata
        // service), but a loopback port nothing listens on: bind one, note it, let it go.
        let test = "a_store_that_is_not_running_is_unavailable_quickly_not_a_hang";
        let Some(mut settings) = s3::settings(test) else { return };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        settings.endpoint = format!("http://127.0.0.1:{port}");
        settings.connect_timeout_secs = 1;
        settings.request_timeout_secs = 2;
        let store = S3BlobStore::connect(&settings).await.unwrap();
        let started = Instant::now();
        assert!(matches!(store.check().await, Err(BlobError::Unavailable(_))));
        let key = ObjectKey(Uuid::new_v4());
        assert!(matches!(store.get(key, None).await, Err(BlobError::Unavailable(_))));
        let mut w = store.begin(key).await.unwrap();
        w.write(b"x").await.unwrap();
        assert!(matches!(w.commit().await, Err(BlobError::Unavailable(_))));
        assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    }
}
