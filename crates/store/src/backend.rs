//! The two backends behind one [`Store`](crate::Store).
//!
//! Every repository method is written once as a block of runtime-checked queries and
//! instantiated for each backend by [`dispatch!`]. Inside that block the names of the
//! active dialect module (`tm`, `tmo`, `IS_POSTGRES`, `begin_write`) are in scope, so
//! the same text binds an instant as unix seconds on SQLite and as `timestamptz` on
//! PostgreSQL, and opens a `BEGIN IMMEDIATE` transaction on SQLite. Query text uses
//! `$1`-style placeholders, which both drivers accept.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::error::{Result, StoreError};

/// The connection pool of the configured database.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool and the dialect helpers in scope.
macro_rules! dispatch {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::backend::Backend::Sqlite($pool) => {
                #[allow(unused_imports)]
                use $crate::backend::sqlite_dialect::*;
                $body
            }
            $crate::backend::Backend::Postgres($pool) => {
                #[allow(unused_imports)]
                use $crate::backend::postgres_dialect::*;
                $body
            }
        }
    };
}
pub(crate) use dispatch;

/// Rounds an instant down to whole seconds: the resolution both backends store.
pub(crate) fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// The current instant at the store's resolution.
pub(crate) fn now() -> DateTime<Utc> {
    whole_seconds(Utc::now())
}

/// SQLite: instants are INTEGER unix seconds; writers take the lock up front.
pub(crate) mod sqlite_dialect {
    use chrono::{DateTime, Utc};

    /// Whether the active backend is PostgreSQL.
    pub(crate) const IS_POSTGRES: bool = false;

    /// An instant as stored.
    pub(crate) fn tm(t: DateTime<Utc>) -> i64 {
        t.timestamp()
    }

    /// An optional instant as stored.
    pub(crate) fn tmo(t: Option<DateTime<Utc>>) -> Option<i64> {
        t.map(tm)
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock at once (waiting up
    /// to the busy timeout), so a read-check-write sequence inside it cannot interleave
    /// with another writer and never fails on a stale snapshot.
    pub(crate) async fn begin_write(
        pool: &sqlx::SqlitePool,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }
}

/// PostgreSQL: instants are `timestamptz`; the exclusion constraint guards bookings.
pub(crate) mod postgres_dialect {
    use chrono::{DateTime, Utc};

    /// Whether the active backend is PostgreSQL.
    pub(crate) const IS_POSTGRES: bool = true;

    /// An instant as stored.
    pub(crate) fn tm(t: DateTime<Utc>) -> DateTime<Utc> {
        super::whole_seconds(t)
    }

    /// An optional instant as stored.
    pub(crate) fn tmo(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        t.map(tm)
    }

    /// A write transaction (READ COMMITTED; row locks and constraints do the rest).
    pub(crate) async fn begin_write(
        pool: &sqlx::PgPool,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        pool.begin().await
    }
}

/// Column access that reads the same logical value from either backend's row.
pub(crate) trait DbRow {
    fn text(&self, column: &'static str) -> Result<String>;
    fn opt_text(&self, column: &'static str) -> Result<Option<String>>;
    fn int(&self, column: &'static str) -> Result<i64>;
    fn opt_int(&self, column: &'static str) -> Result<Option<i64>>;
    fn time(&self, column: &'static str) -> Result<DateTime<Utc>>;
    fn opt_time(&self, column: &'static str) -> Result<Option<DateTime<Utc>>>;
    fn flag(&self, column: &'static str) -> Result<bool>;
}

fn from_unix(column: &'static str, secs: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0).ok_or(StoreError::Corrupt { column, detail: format!("{secs} is out of range") })
}

impl DbRow for SqliteRow {
    fn text(&self, column: &'static str) -> Result<String> {
        Ok(self.try_get(column)?)
    }
    fn opt_text(&self, column: &'static str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }
    fn int(&self, column: &'static str) -> Result<i64> {
        Ok(self.try_get(column)?)
    }
    fn opt_int(&self, column: &'static str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
    fn time(&self, column: &'static str) -> Result<DateTime<Utc>> {
        from_unix(column, self.try_get(column)?)
    }
    fn opt_time(&self, column: &'static str) -> Result<Option<DateTime<Utc>>> {
        self.try_get::<Option<i64>, _>(column)?.map(|s| from_unix(column, s)).transpose()
    }
    fn flag(&self, column: &'static str) -> Result<bool> {
        Ok(self.try_get(column)?)
    }
}

impl DbRow for PgRow {
    fn text(&self, column: &'static str) -> Result<String> {
        Ok(self.try_get(column)?)
    }
    fn opt_text(&self, column: &'static str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }
    fn int(&self, column: &'static str) -> Result<i64> {
        Ok(self.try_get(column)?)
    }
    fn opt_int(&self, column: &'static str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
    fn time(&self, column: &'static str) -> Result<DateTime<Utc>> {
        Ok(self.try_get(column)?)
    }
    fn opt_time(&self, column: &'static str) -> Result<Option<DateTime<Utc>>> {
        Ok(self.try_get(column)?)
    }
    fn flag(&self, column: &'static str) -> Result<bool> {
        Ok(self.try_get(column)?)
    }
}

/// Parses a stored JSON column.
pub(crate) fn json_column(column: &'static str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { column, detail: e.to_string() })
}
