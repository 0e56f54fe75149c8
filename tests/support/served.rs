//! The server run inside the test process: the settings `serve --data-dir` would read (the
//! shipped defaults, then the test's `PIGEONPOST_*` pairs), the state built by the library,
//! organisations and keys made through the service layer, and `http::server::serve` over real
//! TLS on a listener bound to port 0, with the workers beside it.
//!
//! It runs on a thread of its own with its own runtime, so a test may block (run the CLI, say)
//! without stalling the server it talks to. Its settings do not come from the process's own
//! environment (only the S3 credentials do, as for any AWS client): a test states every setting
//! it needs, and tests side by side cannot see each other's. `TEST_LOG=1` shows its log.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use pigeonpost::config::Settings;
use pigeonpost::crypto::KeySource;
use pigeonpost::domain::clock::SystemClock;
use pigeonpost::service::bootstrap;
use pigeonpost::service::AppState;
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch};

use super::setup::{self, Provision};

/// A server running in this process. Dropping it ends the server at once, as the process harness
/// kills its child: no grace period for the client's idle connections, workers cut off.
pub struct InProcess {
    pub port: u16,
    /// The keys made for [`Provision::key_name`], in the order asked for.
    pub keys: Vec<String>,
    /// The server's own state, for setting up through the service layer while it serves.
    pub state: AppState,
    runtime: Handle,
    /// Held so the server and its workers keep running: they stop when it is dropped.
    _running: watch::Sender<bool>,
    kill: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl InProcess {
    /// Starts the server on `settings`, after creating `provision`; panics with the cause when
    /// it cannot start.
    pub fn start(settings: Settings, source: KeySource, provision: Vec<Provision>) -> InProcess {
        if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
            // One subscriber for the whole binary; the first server to start installs it.
            let _ = tracing_subscriber::fmt().with_env_filter("info").with_test_writer().try_init();
        }
        let (running, stopped) = watch::channel(false);
        let (kill, killed) = oneshot::channel::<()>();
        let (ready, started) = mpsc::channel::<Result<Started, String>>();
        let thread = std::thread::Builder::new()
            .name("pigeonpost-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a runtime for the server");
                let handle = runtime.handle().clone();
                runtime.block_on(async {
                    tokio::select! {
                        () = run(settings, source, provision, handle, ready, stopped) => {}
                        _ = killed => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(5));
            })
            .expect("start the server thread");
        match started.recv() {
            Ok(Ok(Started { port, keys, state, runtime })) => {
                InProcess { port, keys, state, runtime, _running: running, kill: Some(kill), thread: Some(thread) }
            }
            Ok(Err(refused)) => {
                let _ = thread.join();
                panic!("the in-process server did not start: {refused}");
            }
            Err(_) => {
                let outcome = thread.join();
                panic!("the in-process server thread ended before it served: {outcome:?}");
            }
        }
    }

    /// Runs `work` on the server's runtime and waits for it: the service layer's calls from a
    /// test that is not async, or whose runtime the server's connections do not belong to.
    pub fn block_on<F>(&self, work: F) -> F::Output
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        std::thread::scope(|scope| {
            scope
                .spawn(|| self.runtime.block_on(work))
                .join()
                .unwrap_or_else(|panicked| std::panic::resume_unwind(panicked))
        })
    }

    /// Ends the server at once.
    pub fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        self.join();
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            if let Err(panicked) = thread.join() {
                if !std::thread::panicking() {
                    std::panic::resume_unwind(panicked);
                }
            }
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Started {
    port: u16,
    keys: Vec<String>,
    state: AppState,
    runtime: Handle,
}

type Ready = mpsc::Sender<Result<Started, String>>;

async fn run(
    settings: Settings,
    source: KeySource,
    provision: Vec<Provision>,
    runtime: Handle,
    ready: Ready,
    stopped: watch::Receiver<bool>,
) {
    let started = async {
        let state = setup::build_state(settings.clone(), source, Arc::new(SystemClock)).await?;
        bootstrap::run(&state).await?;
        let keys = setup::provision(state.repo(), state.now(), &provision).await;
        let tls = pigeonpost::http::tls::server_config(&settings)?;
        let listener = TcpListener::bind(settings.listen).await?;
        anyhow::Ok((state, tls, listener, keys))
    };
    let (state, tls, listener, keys) = match started.await {
        Ok(started) => started,
        Err(e) => {
            let _ = ready.send(Err(format!("{e:#}")));
            return;
        }
    };
    let port = match listener.local_addr() {
        Ok(addr) => addr.port(),
        Err(e) => {
            let _ = ready.send(Err(format!("the listener has no address: {e}")));
            return;
        }
    };
    let workers = pigeonpost::workers::spawn_all(state.clone(), stopped.clone());
    let _ = ready.send(Ok(Started { port, keys, state: state.clone(), runtime }));
    let grace = Duration::from_secs(state.settings().shutdown_grace_secs);
    let mut stopped_serving = stopped;
    let shutdown = async move {
        let _ = stopped_serving.wait_for(|stop| *stop).await;
    };
    let served = pigeonpost::http::server::serve(listener, tls, pigeonpost::web::router(state), shutdown, grace).await;
    for worker in workers {
        let _ = worker.await;
    }
    if let Err(e) = served {
        panic!("the in-process server failed: {e:#}");
    }
}
