pub(super) struct GroupCommit;
impl GroupCommit { pub fn start(_p: sqlx::SqlitePool) -> Self { Self } }
