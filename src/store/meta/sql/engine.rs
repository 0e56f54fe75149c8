//! What lets one body of SQL serve both engines: the pool of either, a macro that compiles a
//! body once per engine, identifiers stored as text on SQLite and as `uuid` on PostgreSQL, row
//! readers that take either engine's rows, and the few places where the two dialects differ.
//!
//! A statement is written once with `$1`-style placeholders, which both drivers read. Each
//! engine's copy is type-checked on its own, so a value bound or read with a type one engine
//! cannot take fails to compile rather than at run time.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgHasArrayType, PgRow, PgTypeInfo};
use sqlx::sqlite::SqliteRow;
use sqlx::{Database, Decode, Encode, PgPool, Postgres, QueryBuilder, Row, Sqlite, SqlitePool, Type};
use uuid::Uuid;

/// The connection pool of one engine.
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Evaluates `$body` with `$pool` bound to the engine's pool (`&SqlitePool` or `&PgPool`) and
/// `Db` naming the engine's `sqlx::Database`, compiled once per engine. With a second name,
/// that name is the engine's module of helpers written with [`per_engine!`].
macro_rules! run {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::store::meta::sql::engine::Pool::Sqlite($p) => {
                #[allow(dead_code)]
                type Db = sqlx::Sqlite;
                $body
            }
            $crate::store::meta::sql::engine::Pool::Postgres($p) => {
                #[allow(dead_code)]
                type Db = sqlx::Postgres;
                $body
            }
        }
    };
    ($pool:expr, |$p:ident, $engine:ident| $body:expr) => {
        match $pool {
            $crate::store::meta::sql::engine::Pool::Sqlite($p) => {
                #[allow(unused_imports)]
                use self::sqlite as $engine;
                #[allow(dead_code)]
                type Db = sqlx::Sqlite;
                $body
            }
            $crate::store::meta::sql::engine::Pool::Postgres($p) => {
                #[allow(unused_imports)]
                use self::postgres as $engine;
                #[allow(dead_code)]
                type Db = sqlx::Postgres;
                $body
            }
        }
    };
}

/// Compiles helper items (functions taking a connection or a transaction) once per engine, as
/// modules `sqlite` and `postgres` of the calling module, each with `Db` naming its engine.
/// `run!(pool, |pool, engine| ...)` calls the right one as `engine::name(...)`.
macro_rules! per_engine {
    ($($item:item)*) => {
        #[allow(dead_code, unused_imports)]
        mod sqlite {
            use super::*;
            pub(super) type Db = sqlx::Sqlite;
            $($item)*
        }
        #[allow(dead_code, unused_imports)]
        mod postgres {
            use super::*;
            pub(super) type Db = sqlx::Postgres;
            $($item)*
        }
    };
}

/// An identifier (transfer, object, batch, hold, session): TEXT in SQLite, `uuid` in PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DbUuid(pub Uuid);

impl From<Uuid> for DbUuid {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl Type<Sqlite> for DbUuid {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &<Sqlite as Database>::TypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for DbUuid {
    fn encode_by_ref(&self, buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(self.0.hyphenated().to_string(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for DbUuid {
    fn decode(value: <Sqlite as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
        Ok(Self(Uuid::parse_str(text)?))
    }
}

impl Type<Postgres> for DbUuid {
    fn type_info() -> PgTypeInfo {
        <Uuid as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <Uuid as Type<Postgres>>::compatible(ty)
    }
}

impl PgHasArrayType for DbUuid {
    fn array_type_info() -> PgTypeInfo {
        <Uuid as PgHasArrayType>::array_type_info()
    }
}

impl<'q> Encode<'q, Postgres> for DbUuid {
    fn encode_by_ref(&self, buf: &mut <Postgres as Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
        <Uuid as Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for DbUuid {
    fn decode(value: <Postgres as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(<Uuid as Decode<'r, Postgres>>::decode(value)?))
    }
}

/// A column type both engines can read.
pub(crate) trait Value:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Value for T where T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres> {}

/// A row of either engine, so a row reader is written once: `fn x_from_row(row: &impl Columns)`.
pub(crate) trait Columns: Row {
    fn col<T: Value>(&self, name: &str) -> Result<T, sqlx::Error>;
}

impl Columns for SqliteRow {
    fn col<T: Value>(&self, name: &str) -> Result<T, sqlx::Error> {
        self.try_get(name)
    }
}

impl Columns for PgRow {
    fn col<T: Value>(&self, name: &str) -> Result<T, sqlx::Error> {
        self.try_get(name)
    }
}

/// Where the two dialects differ. Everything else is written once.
pub(crate) trait Dialect: Database {
    /// Appended to `ORDER BY <text column>` for byte order, which SQLite's default collation
    /// already is; PostgreSQL's default follows the database's locale.
    const BYTE_ORDER: &'static str;
    /// The scalar function for the larger of its arguments (`max` on SQLite, `GREATEST` on
    /// PostgreSQL), for arguments that are never NULL: the two disagree on NULL.
    const GREATEST: &'static str;
    /// Whether every write statement, even one that changes nothing, takes the database's one
    /// write lock (SQLite): a write that usually finds nothing to change is then cheaper after a
    /// read that says whether to make it.
    const ONE_WRITER: bool;
    /// Whether a listing by time must be told where its recent rows start, because the planner
    /// keeps no statistics to find that plan by itself (SQLite); see
    /// `mailbox_filter::push_since_bound`.
    const NEEDS_SINCE_BOUND: bool;

    /// Appends `column IN (values)`: a list of bound values on SQLite, one array parameter
    /// (`= ANY($n)`) on PostgreSQL, so its statement is the same whatever the count. Preceded by
    /// `NOT`, it is true for an empty list, as `NOT IN ()` is.
    fn push_in_i64(q: &mut QueryBuilder<'_, Self>, column: &str, values: Vec<i64>);
    /// [`Dialect::push_in_i64`] for text values.
    fn push_in_text(q: &mut QueryBuilder<'_, Self>, column: &str, values: Vec<String>);
    /// [`Dialect::push_in_i64`] for identifiers.
    fn push_in_uuid(q: &mut QueryBuilder<'_, Self>, column: &str, values: Vec<DbUuid>);
    /// An identifier column as text, to compare with a TEXT column that may hold one.
    fn uuid_as_text(column: &str) -> String;
    /// How many values one statement's list takes (chunk a longer list): SQLite binds each value
    /// and limits the bound variables; PostgreSQL binds one array whatever the count.
    const LIST_CHUNK: usize;
    /// The integer at `key` of the JSON text in `column` (NULL where it has none).
    fn json_i64(column: &str, key: &str) -> String;
    /// A statement that takes the write lock of the rows of `table` matching `filter` (SQL
    /// written by us, never a client's) until the transaction ends, before anything is read.
    /// On SQLite a no-op UPDATE of `column`, which makes the transaction the one writer (a
    /// SELECT would only read a snapshot that another writer can make stale); on PostgreSQL
    /// `SELECT column ... FOR UPDATE`, which locks the rows without writing new versions of them.
    fn lock_rows(table: &str, column: &str, filter: &str) -> String;
    /// A statement holding a lock named by its one `i64` parameter until the transaction ends,
    /// so two transactions doing the same job run one after the other. None on SQLite, whose
    /// write transaction already excludes every other writer.
    const TRANSACTION_LOCK: Option<&'static str>;
    /// The hidden column naming one physical row, for deleting one of several identical rows.
    const ROW_ID: &'static str;
    /// A bound parameter holding an ISO 8601 date (`YYYY-MM-DD`) as the value of a date column:
    /// SQLite stores the text itself (its `CAST(.. AS DATE)` would turn it into a number); the
    /// PostgreSQL column is `date`.
    fn date_from_text(param: &str) -> String;
}

fn push_list<'a, DB, T>(q: &mut QueryBuilder<'a, DB>, column: &str, values: Vec<T>)
where
    DB: Database,
    T: Encode<'a, DB> + Type<DB> + Send + 'a,
{
    q.push(format_args!("{column} IN ("));
    let mut list = q.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    list.push_unseparated(")");
}

impl Dialect for Sqlite {
    const BYTE_ORDER: &'static str = "";
    const GREATEST: &'static str = "max";
    const ONE_WRITER: bool = true;
    const NEEDS_SINCE_BOUND: bool = true;

    fn push_in_i64(q: &mut QueryBuilder<'_, Self>, column: &str, values: Vec<i64>) {
        push_list(q, column, values);
    }
    fn push_in_text(q: &mut QueryBuilder<'_, Self>, column: &str, values: Vec<String>) {
        push_list(q, column, values);
    }
    fn push_in_uuid(q: &mut QueryBuilder<'_, Self>, column: &str, values: Vec<DbUuid>) {
        push_list(q, column, values);
    }
    fn uuid_as_text(column: &str) -> String {
        column.to_owned()
    }
    const LIST_CHUNK: usize = 500;

    fn json_i64(column: &str, key: &str) -> String {
        format!("json_extract({column}, '$.{key}')")
    }
    fn lock_rows(table: &str, column: &str, filter: &str) -> String {
        format!("UPDATE {table} SET {column} = {column} WHERE {filter}")
    }
    const TRANSACTION_LOCK: Option<&'static str> = None;
    const ROW_ID: &'static str = "rowid";
    fn date_from_text(param: &str) -> String {
        param.to_owned()
    }
}

impl Dialect for Postgres {
    const BYTE_ORDER: &'static str = " COLLATE \"C\"";
    const GREATEST: &'static str = "GREATEST";
    const ONE_WRITER: bool = false;
    const NEEDS_SINCE_BOUND: bool = false;

    fn push_in_i64(q: &mut QueryBuilder<'_, Self>, column: &str, values: Vec<i64>) {
        q.push(format_args!("{column} = ANY(")).push_bind(values).push(")");
    }
    fn push_in_text(q: &mut QueryBuilder<'_, Self>, column: &str, values: Vec<String>) {
        q.push(format_args!("{column} = ANY(")).push_bind(values).push(")");
    }
    fn push_in_uuid(q: &mut QueryBuilder<'_, Self>, column: &str, values: Vec<DbUuid>) {
        q.push(format_args!("{column} = ANY(")).push_bind(values).push(")");
    }
    fn uuid_as_text(column: &str) -> String {
        format!("{column}::text")
    }
    const LIST_CHUNK: usize = usize::MAX;

    fn json_i64(column: &str, key: &str) -> String {
        format!("({column}::jsonb ->> '{key}')::bigint")
    }
    fn lock_rows(table: &str, column: &str, filter: &str) -> String {
        format!("SELECT {column} FROM {table} WHERE {filter} FOR UPDATE")
    }
    const TRANSACTION_LOCK: Option<&'static str> = Some("SELECT pg_advisory_xact_lock($1)");
    const ROW_ID: &'static str = "ctid";
    fn date_from_text(param: &str) -> String {
        format!("CAST({param} AS DATE)")
    }
}
