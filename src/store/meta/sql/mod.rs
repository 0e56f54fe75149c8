//! The metadata store, written once for both engines: SQLite (one file in WAL mode with full
//! synchronous commits, so a transfer acknowledged to a client survives a power cut) and
//! PostgreSQL (shared by any number of server nodes).
//!
//! Every statement has the same meaning on both. Where SQLite is safe because it has a single
//! writer, PostgreSQL is safe because every compare-and-set (TOTP step, refresh rotation, key
//! rewrap, quarantine release, withdrawal) is one `UPDATE ... WHERE <expected>`: under READ
//! COMMITTED a second writer waits for the first's row lock and then re-checks the condition
//! against the committed row, so exactly one of them changes it.
//!
//! What stays per engine: connecting, migrations (`migrations/sqlite`, `migrations/postgres`),
//! SQLite's group commit of new transfers, and the differences in [`engine::Dialect`].

#[macro_use]
mod engine;
mod errors;
mod rows;
mod trail;

mod audit;
mod batches;
mod channels;
mod group_commit;
mod identity;
mod installation;
mod leases;
mod mailbox;
mod organisations;
mod plain_messages;
mod register;
mod reports;
mod repository;
mod retention;
mod transfers;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use engine::Pool;
pub(crate) use errors::db_err;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How the PostgreSQL connection pool behaves; from the `[database]` settings.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub min_connections: u32,
    /// How long a request waits for a connection (including reconnecting) before it gets 503.
    pub acquire_timeout: Duration,
    /// Idle connections above `min_connections` are closed after this long.
    pub idle_timeout: Option<Duration>,
    /// Connections are replaced after this long, so a failover or a changed DNS name is
    /// picked up without a restart.
    pub max_lifetime: Option<Duration>,
}

pub struct SqlRepository {
    pool: Pool,
    /// On SQLite, new transfers go through one writer task that commits those waiting together.
    transfers: Option<group_commit::GroupCommit>,
}

impl SqlRepository {
    /// Opens (creating it if missing) the SQLite database named by a `sqlite:` URL.
    pub async fn sqlite(url: &str, max_connections: u32, acquire_timeout: Duration) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("'{url}' is not an SQLite database URL"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await
            .with_context(|| format!("could not open the SQLite database at {url}"))?;
        let transfers = group_commit::GroupCommit::start(pool.clone());
        Ok(Self { pool: Pool::Sqlite(pool), transfers: Some(transfers) })
    }

    /// Connects to the database named by a `postgres://` URL. TLS follows the URL's `sslmode`
    /// (`disable`, `prefer` (the default), `require`, `verify-ca`, `verify-full`) and
    /// `sslrootcert`, as with libpq; only `verify-full` checks that the server is the host named.
    pub async fn postgres(url: &str, pool: &PoolSettings) -> anyhow::Result<Self> {
        let shown = crate::config::redact_url(url);
        let options = PgConnectOptions::from_str(url)
            .with_context(|| format!("'{shown}' is not a PostgreSQL database URL"))?
            .application_name("pigeonpost");
        if !matches!(options.get_ssl_mode(), PgSslMode::VerifyFull | PgSslMode::VerifyCa) && !is_loopback(&options) {
            tracing::warn!(
                url = %shown,
                "the database connection does not verify the server's certificate: add \
                 sslmode=verify-full (and sslrootcert=FILE for a private CA) to database.url"
            );
        }
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections.max(1))
            .min_connections(pool.min_connections.min(pool.max_connections.max(1)))
            .acquire_timeout(pool.acquire_timeout)
            .idle_timeout(pool.idle_timeout)
            .max_lifetime(pool.max_lifetime)
            // A connection that died while idle (the database restarted) is found out here and
            // replaced, not handed to a request that would then fail.
            .test_before_acquire(true)
            .connect_with(options)
            .await
            .with_context(|| {
                format!("could not connect to PostgreSQL at {shown}: is it running, and are database.url's host, port, user and password right?")
            })?;
        Ok(Self { pool: Pool::Postgres(pool), transfers: None })
    }

    /// Closes every connection; later calls fail with [`StoreError::Unavailable`](super::StoreError::Unavailable).
    pub async fn close(&self) {
        run!(&self.pool, |pool| pool.close().await)
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }
}

fn is_loopback(options: &PgConnectOptions) -> bool {
    let host = options.get_host();
    host.starts_with('/') || host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
