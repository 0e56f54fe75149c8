//! What a PostgreSQL failure means to a caller: try again later (503), a uniqueness rule was
//! broken (409), or a fault of ours (500).

use crate::store::meta::StoreError;

/// SQLSTATE classes and codes that mean "the database is not there right now", not "the
/// request was wrong". https://www.postgresql.org/docs/current/errcodes-appendix.html
fn is_transient(code: &str) -> bool {
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

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        // The pool could not hand out a connection within acquire_timeout (the database is
        // down, unreachable, or every connection is busy), the pool was closed, or the
        // connection broke under us (the server restarted or the network dropped).
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.into()),
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(d.message().to_owned()),
        sqlx::Error::Database(d) if d.code().as_deref().is_some_and(is_transient) => StoreError::Unavailable(e.into()),
        _ => StoreError::Other(anyhow::Error::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_is_unavailable_not_an_internal_error() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(db_err(sqlx::Error::Io(refused)), StoreError::Unavailable(_)));
        assert!(matches!(db_err(sqlx::Error::PoolTimedOut), StoreError::Unavailable(_)));
        assert!(matches!(db_err(sqlx::Error::PoolClosed), StoreError::Unavailable(_)));
        assert!(matches!(db_err(sqlx::Error::Protocol("unexpected end of stream".into())), StoreError::Unavailable(_)));
    }

    #[test]
    fn shutdown_and_failover_codes_are_transient_and_others_are_not() {
        for code in ["57P01", "57P02", "57P03", "08006", "08001", "53300", "40001", "40P01", "25006"] {
            assert!(is_transient(code), "{code}");
        }
        for code in ["23505", "23503", "42P01", "22P02", "42601"] {
            assert!(!is_transient(code), "{code}");
        }
    }

    #[test]
    fn a_row_that_is_not_there_is_not_unavailable() {
        assert!(matches!(db_err(sqlx::Error::RowNotFound), StoreError::Other(_)));
    }
}
