//! The HTTPS listener. It is handed a bound `TcpListener` (so tests bind port 0) and a
//! shutdown future; on shutdown it stops accepting and gives open connections a bounded time
//! to finish what they are doing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use super::request_context::ClientAddr;

mod unread_body;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
const H2_STREAM_WINDOW: u32 = 1024 * 1024;
const H2_CONNECTION_WINDOW: u32 = 4 * 1024 * 1024;
const H2_MAX_FRAME: u32 = 64 * 1024;
/// Requests one HTTP/2 connection may have in progress at once.
pub const H2_MAX_STREAMS: u32 = 100;
/// Streams a client may open and cancel before the server has even accepted them (the "rapid
/// reset" attack, CVE-2023-44487): past this the connection is closed.
pub const H2_MAX_PENDING_RESETS: usize = 20;
/// Streams the server may reset for a client's protocol errors before it closes the connection.
pub const H2_MAX_ERROR_RESETS: usize = 256;
/// The largest block of request headers, decoded, on HTTP/2 (HTTP/1.1's is hyper's buffer).
pub const H2_MAX_HEADER_LIST: u32 = 16 * 1024;
const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> anyhow::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let app = app.layer(axum::middleware::from_fn(unread_body::finish_unread_bodies));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    // HTTP/2's default 64 KiB stream window caps an upload at a window per round trip. A larger,
    // fixed window lets uploads run at disk and cipher speed while bounding what a client can
    // make the server buffer: one stream window per upload, one connection window per client.
    builder
        .http2()
        .timer(TokioTimer::new())
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .max_frame_size(H2_MAX_FRAME)
        .max_concurrent_streams(H2_MAX_STREAMS)
        .max_pending_accept_reset_streams(H2_MAX_PENDING_RESETS)
        .max_local_error_reset_streams(H2_MAX_ERROR_RESETS)
        .max_header_list_size(H2_MAX_HEADER_LIST)
        // A client that stops answering pings (or a connection left open) is closed. There is no
        // setting for how many SETTINGS or PING frames a client may send: h2 answers each, but
        // reads no further frame until its answer is written, so a client that floods without
        // reading stalls only its own connection, and one that reads costs a write per frame.
        .keep_alive_interval(Some(H2_KEEP_ALIVE_INTERVAL))
        .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT);
    tokio::pin!(shutdown);

    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let app = app.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return debug!(%peer, "TLS handshake timed out"),
            };
            let service = app.map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ClientAddr(peer));
                request
            });
            let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(e) = watcher.watch(connection).await {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }

    drop(listener);
    info!(grace_secs = grace.as_secs(), "shutting down: no new connections; waiting for requests in flight");
    match tokio::time::timeout(grace, graceful.shutdown()).await {
        Ok(()) => info!("all connections finished"),
        Err(_) => warn!("shutdown grace period over; closing the remaining connections"),
    }
    Ok(())
}
