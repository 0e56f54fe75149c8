//! Prometheus metrics, served in the text format on their own listener (`metrics_listen`,
//! loopback by default) and never on the public port: operators scrape them from the machine
//! or through their own network, and the outside world cannot count our traffic.
//!
//! One process-wide registry, so a use case can count without being handed anything. Routes
//! are labelled with the matched route template (`/api/v1/transfers/{id}`), never the raw
//! path, so ids cannot blow up the number of series, and nothing about a file or a person is
//! ever a label.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http_body::Frame;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use tokio::net::TcpListener;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_seconds: HistogramVec,
    upload_bytes: IntCounter,
    download_bytes: IntCounter,
    transfers_stored: IntCounter,
    worker_runs: IntCounterVec,
    worker_failures: IntCounterVec,
    backend_errors: IntCounterVec,
    leases_held: IntGaugeVec,
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    // Names are constants of this file and distinct, so registering cannot fail at run time.
    let _ = registry.register(Box::new(metric.clone()));
    metric
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let metric = IntCounter::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    let _ = registry.register(Box::new(metric.clone()));
    metric
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "pigeonpost_http_request_duration_seconds",
                "Time to answer a request (to the response head; bodies stream after).",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0]),
            &["route", "method"],
        )
        .unwrap_or_else(|e| panic!("metric request_seconds: {e}"));
        let _ = registry.register(Box::new(request_seconds.clone()));
        Metrics {
            requests: counter_vec(
                &registry,
                "pigeonpost_http_requests_total",
                "Requests answered, by matched route, method and status.",
                &["route", "method", "status"],
            ),
            request_seconds,
            upload_bytes: counter(&registry, "pigeonpost_upload_bytes_total", "Bytes of files stored (plaintext)."),
            download_bytes: counter(
                &registry,
                "pigeonpost_download_bytes_total",
                "Bytes of file content sent to downloaders.",
            ),
            transfers_stored: counter(&registry, "pigeonpost_transfers_stored_total", "Files stored and made visible."),
            worker_runs: counter_vec(
                &registry,
                "pigeonpost_worker_runs_total",
                "Runs of each background worker.",
                &["worker"],
            ),
            worker_failures: counter_vec(
                &registry,
                "pigeonpost_worker_failures_total",
                "Runs of each background worker that failed.",
                &["worker"],
            ),
            backend_errors: counter_vec(
                &registry,
                "pigeonpost_backend_errors_total",
                "Requests to the database or the object store that failed because it was unavailable.",
                &["backend"],
            ),
            leases_held: {
                let opts = Opts::new(
                    "pigeonpost_lease_held",
                    "1 while this node holds the lease of a background job (and so runs it), else 0.",
                );
                let metric = IntGaugeVec::new(opts, &["lease"]).unwrap_or_else(|e| panic!("metric lease_held: {e}"));
                let _ = registry.register(Box::new(metric.clone()));
                metric
            },
            registry,
        }
    }

    pub fn transfer_stored(&self, bytes: u64) {
        self.transfers_stored.inc();
        self.upload_bytes.inc_by(bytes);
    }

    pub fn worker_ran(&self, worker: &str, ok: bool) {
        self.worker_runs.with_label_values(&[worker]).inc();
        if !ok {
            self.worker_failures.with_label_values(&[worker]).inc();
        }
    }

    pub fn lease_held(&self, lease: &str, held: bool) {
        self.leases_held.with_label_values(&[lease]).set(i64::from(held));
    }

    /// `backend` is "database" or "object_store".
    pub fn backend_error(&self, backend: &str) {
        self.backend_errors.with_label_values(&[backend]).inc();
    }

    /// Every family in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "could not encode the metrics");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Middleware on the public router: counts and times every request by its route template.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("(unmatched)", |m| m.as_str()).to_owned();
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let m = global();
    let method_label = method.as_str();
    m.requests.with_label_values(&[&route, method_label, response.status().as_str()]).inc();
    m.request_seconds.with_label_values(&[&route, method_label]).observe(started.elapsed().as_secs_f64());
    if method == Method::GET && route.ends_with("/content") && response.status().is_success() {
        let (parts, body) = response.into_parts();
        return Response::from_parts(parts, Body::new(Counted { inner: body, counter: &m.download_bytes }));
    }
    response
}

/// A body that counts the bytes it yields and otherwise passes everything through, size hint
/// included (so Content-Length handling is unchanged).
struct Counted {
    inner: Body,
    counter: &'static IntCounter,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.counter.inc_by(data.len() as u64);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

async fn metrics_page() -> impl IntoResponse {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], global().render())
}

/// Serves `/metrics` (plain HTTP: it is meant for loopback or a private scrape network) until
/// `shutdown` completes.
pub async fn serve(listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let app = Router::new().route("/metrics", get(metrics_page));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
