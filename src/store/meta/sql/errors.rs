//! What an engine's failure means to a caller, the same on both engines: try again later (503),
//! a uniqueness rule was broken (409, in our words, never the engine's), or a fault of ours
//! (500).

use crate::store::meta::StoreError;

/// SQLSTATE classes and codes that mean "the database is not there right now", not "the
/// request was wrong". https://www.postgresql.org/docs/current/errcodes-appendix.html
fn is_transient_postgres(code: &str) -> bool {
    // 08: connection exception. 53: insufficient resources (too many connections, disk full,
    // out of memory). 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now:
    // the server is stopping or starting. 57014 query_canceled: an operator's statement_timeout
    // ran out. 40001 serialization_failure and 40P01 deadlock_detected: the same request will
    // succeed if sent again. 25006 read_only_sql_transaction: connected to a standby during a
    // failover.
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03" | "57014" | "40001" | "40P01" | "25006")
}

/// SQLite's result codes (primary and extended) for another writer holding on for longer than
/// `busy_timeout`: SQLITE_BUSY, SQLITE_LOCKED and SQLITE_BUSY_SNAPSHOT.
fn is_busy_sqlite(code: &str) -> bool {
    matches!(code, "5" | "6" | "517")
}

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        // The pool could not hand out a connection within acquire_timeout (the database is
        // down, unreachable, or every connection is busy), the pool was closed, the connection
        // broke under us, or SQLite's connection thread died.
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.into()),
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(already_exists(d.as_ref()).to_owned())
        }
        sqlx::Error::Database(d)
            if d.code().as_deref().is_some_and(|c| is_transient_postgres(c) || is_busy_sqlite(c)) =>
        {
            StoreError::Unavailable(e.into())
        }
        _ => StoreError::Other(anyhow::Error::new(e)),
    }
}

/// The table or index of a broken uniqueness rule: PostgreSQL names the table; SQLite's message
/// reads `UNIQUE constraint failed: table.column, ...` or `... failed: index 'name'`.
fn violated(d: &dyn sqlx::error::DatabaseError) -> &str {
    if let Some(table) = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().and_then(|pg| pg.table()) {
        return table;
    }
    let rest = d.message().split_once("failed: ").map_or("", |(_, rest)| rest);
    match rest.strip_prefix("index '") {
        Some(index) => index.split('\'').next().unwrap_or(""),
        None => rest.split('.').next().unwrap_or(""),
    }
}

/// A sentence a client can act on for a broken uniqueness rule. The engine's own text names
/// tables and columns (and on PostgreSQL the conflicting values), so it never leaves the store.
fn already_exists(d: &dyn sqlx::error::DatabaseError) -> &'static str {
    match violated(d) {
        "organisations" | "organisations_urn" => {
            "an organisation with this DfE number, name or URN is already registered"
        }
        "users" | "users_username" => "an account with this username already exists",
        "api_keys" => "this organisation already has an API key with this name",
        "functions" => "a function with this name already exists",
        "user_functions" => "this account already has this function",
        "holds" => "this hold already exists",
        "channel_overrides" => "this channel already has settings",
        _ => "this already exists",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_or_a_crashed_worker_is_unavailable_not_an_internal_error() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(db_err(sqlx::Error::Io(refused)), StoreError::Unavailable(_)));
        assert!(matches!(db_err(sqlx::Error::PoolTimedOut), StoreError::Unavailable(_)));
        assert!(matches!(db_err(sqlx::Error::PoolClosed), StoreError::Unavailable(_)));
        assert!(matches!(db_err(sqlx::Error::WorkerCrashed), StoreError::Unavailable(_)));
        assert!(matches!(db_err(sqlx::Error::Protocol("unexpected end of stream".into())), StoreError::Unavailable(_)));
    }

    #[test]
    fn shutdown_and_failover_codes_are_transient_and_others_are_not() {
        for code in ["57P01", "57P02", "57P03", "08006", "08001", "53300", "40001", "40P01", "25006"] {
            assert!(is_transient_postgres(code), "{code}");
        }
        for code in ["23505", "23503", "42P01", "22P02", "42601"] {
            assert!(!is_transient_postgres(code), "{code}");
        }
        for code in ["5", "6", "517"] {
            assert!(is_busy_sqlite(code), "{code}");
        }
        assert!(!is_busy_sqlite("19"), "a constraint violation is not busy");
    }

    #[test]
    fn a_row_that_is_not_there_is_not_unavailable() {
        assert!(matches!(db_err(sqlx::Error::RowNotFound), StoreError::Other(_)));
    }
}
