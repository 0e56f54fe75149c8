//! The bound on password hashing. Each Argon2 check takes tens of MiB and a core for a good
//! fraction of a second, so checks run on the blocking pool a few at a time, and a caller that
//! would join too long a queue is refused at once: memory stays bounded under any login load,
//! and the async workers stay free to answer everything else.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use super::ServiceError;
use crate::identity::password::{verify_against_dummy, verify_password};

pub struct HashGate {
    permits: Arc<Semaphore>,
    queue: usize,
    waiting: AtomicUsize,
}

/// Takes a caller off the waiting count however its wait ends, including when the request is
/// dropped mid-wait.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HashGate {
    /// At most `concurrency` (at least one) hashes at once, and at most `queue` callers waiting.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(concurrency.max(1))), queue, waiting: AtomicUsize::new(0) }
    }

    /// Runs `work` on the blocking pool once a slot is free, or refuses with
    /// [`ServiceError::Busy`] if `queue` callers are already waiting.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ServiceError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let waiting = Waiting(&self.waiting);
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
                    return Err(ServiceError::Busy);
                }
                let permit = self.permits.clone().acquire_owned().await;
                drop(waiting);
                permit.map_err(|_| ServiceError::Internal(anyhow::anyhow!("the password hashing gate was closed")))?
            }
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("password hashing failed: {e}")))
    }

    /// True if `password` matches the stored hash `phc`. With no stored hash the same work is
    /// done against a dummy, so the time taken does not say whether the account exists.
    pub async fn verify(&self, password: &SecretString, phc: Option<&str>) -> Result<bool, ServiceError> {
        let password = SecretString::from(password.expose_secret().to_owned());
        let phc = phc.map(str::to_owned);
        self.run(move || match phc {
            Some(phc) => verify_password(&password, &phc),
            None => {
                verify_against_dummy(&password);
                false
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    /// Holds every hash that reaches it until the test opens it. A hash gives up after a long
    /// while, so a gate that serialises fails the test instead of hanging it.
    struct Door(Mutex<bool>, Condvar);

    impl Door {
        fn wait(&self) {
            let open = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let _ = self.1.wait_timeout_while(open, PATIENCE, |open| !*open);
        }

        fn open(&self) {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
            self.1.notify_all();
        }
    }

    const PATIENCE: Duration = Duration::from_secs(30);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_hashes_run_at_once_than_the_concurrency_allows() {
        let gate = Arc::new(HashGate::new(2, 100));
        let door = Arc::new(Door(Mutex::new(false), Condvar::new()));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (started, mut starts) = tokio::sync::mpsc::unbounded_channel();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (gate, door, running, most, started) =
                    (gate.clone(), door.clone(), running.clone(), most.clone(), started.clone());
                tokio::spawn(async move {
                    gate.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        let _ = started.send(());
                        door.wait();
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        // Neither of the first two can finish before the door opens, so two starts mean two at
        // once, however slowly the machine schedules them.
        for n in 1..=2 {
            let start = tokio::time::timeout(PATIENCE, starts.recv()).await;
            assert!(matches!(start, Ok(Some(()))), "hash {n} of the two allowed at once did not start");
        }
        let queued = tokio::time::timeout(PATIENCE, async {
            while gate.waiting.load(Ordering::SeqCst) < 2 {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(queued.is_ok(), "the other two callers wait their turn");
        assert!(starts.try_recv().is_err(), "no third hash started while two were running");
        assert_eq!(running.load(Ordering::SeqCst), 2);
        door.open();
        for task in futures_util::future::join_all(tasks).await {
            assert!(task.expect("task ran").is_ok(), "with room in the queue no caller is refused");
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "at most two hashes ran at once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_beyond_the_queue_limit_is_refused_at_once() {
        let gate = Arc::new(HashGate::new(1, 2));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, is_started) = tokio::sync::oneshot::channel();
        let holder = {
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.run(move || {
                    let _ = started.send(());
                    let _ = hold.recv();
                })
                .await
            })
        };
        is_started.await.expect("the first hash started");
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.run(|| ()).await })
            })
            .collect();
        while gate.waiting.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        let refused = gate.run(|| ()).await;
        assert!(matches!(refused, Err(ServiceError::Busy)), "the third waiter is refused");
        release.send(()).expect("the first hash is waiting");
        assert!(holder.await.expect("task ran").is_ok());
        for task in queued {
            assert!(task.await.expect("task ran").is_ok(), "callers within the queue limit are served");
        }
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0, "nobody is left counted as waiting");
    }
}
