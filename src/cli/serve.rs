use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::Settings;
use crate::service::startup;
use crate::{http, workers};

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let (state, new_keyring) = startup::build(settings.clone()).await?;
    if new_keyring {
        warn!(
            keyring = %settings.data_dir.join("keyring.json").display(),
            "generated a new master keyring for this new installation: back it up somewhere safe and separate from the data; without it no stored file can be read"
        );
    }
    if let Some((username, password)) = crate::service::bootstrap::run(&state).await.map_err(startup::in_our_words)? {
        // Printed, not logged: the console is the one place this password ever appears, and
        // only the node that created the account has it.
        eprintln!(
            "first start: created the system administrator '{username}' with the one-time password {}",
            secrecy::ExposeSecret::expose_secret(&password)
        );
        eprintln!("log in, set up a second factor, and change the password (or reset it with `pigeonpost admin user reset-password {username}`)");
    }
    let tls = http::tls::server_config(&settings)?;
    let listener =
        TcpListener::bind(settings.listen).await.with_context(|| format!("could not listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    // The system organisation is always there; any other is the LA's.
    let organisations = state
        .repo()
        .list_organisations()
        .await
        .map_err(startup::database_refusal("read the organisations"))
        .map_err(startup::in_our_words)?;
    if organisations.len() <= 1 {
        info!("no organisations yet: add one with `pigeonpost admin org add`, then a key with `pigeonpost admin key create` (see README)");
    }

    // Bound before anything is served, so a taken port stops the start-up with a clear message.
    let metrics_listener = match settings.metrics_addr()? {
        Some(at) => Some(TcpListener::bind(at).await.with_context(|| {
            format!("could not listen for metrics on {at}: set metrics_listen to a free address, or to \"\" to switch metrics off")
        })?),
        None => None,
    };

    let (stop, stopped) = watch::channel(false);
    let mut jobs = Vec::new();
    if let Some(listener) = metrics_listener {
        info!(addr = %listener.local_addr()?, "serving /metrics");
        let mut stopped = stopped.clone();
        jobs.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            if let Err(e) = crate::metrics::serve(listener, shutdown).await {
                warn!(error = %e, "the metrics listener stopped");
            }
        }));
    }
    jobs.extend(workers::spawn_all(state.clone(), stopped));
    info!(%addr, data_dir = %settings.data_dir.display(), "pigeonpost is listening");
    // Scripts and tests wait for this exact line.
    println!("listening on https://{addr}");
    std::io::stdout().flush().ok();

    let grace = Duration::from_secs(settings.shutdown_grace_secs);
    http::server::serve(listener, tls, crate::web::router(state), shutdown_signal(), grace).await?;
    let _ = stop.send(true);
    for job in jobs {
        let _ = job.await;
    }
    info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C will stop the server");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
    }
}
