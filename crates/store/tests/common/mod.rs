//! Test harness: a fresh store per test on SQLite (a temp file) and on PostgreSQL (a
//! new database in the cluster named by `TEST_POSTGRES_URL`).
//!
//! Without `TEST_POSTGRES_URL` the PostgreSQL variants print a skip message, except
//! when `CI=true`, where they fail: CI must never pass without PostgreSQL.

#![allow(dead_code, reason = "each test binary uses a different part of the harness")]

use std::io::Write as _;

use anyhow::{Context as _, Result, bail};
use store::{Store, StoreOptions, TokenCipher};

/// A migrated store on a throwaway database.
pub struct TestDb {
    /// The store under test.
    pub store: Store,
    /// Its URL (to open a second store, or a raw connection).
    pub url: String,
    /// Its cipher key, base64.
    pub key: secrecy::SecretString,
    cleanup: Cleanup,
    _dir: Option<tempfile::TempDir>,
}

enum Cleanup {
    None,
    DropPostgres { admin_url: String, database: String },
}

/// A cipher with a fresh random key.
pub fn cipher_and_key() -> (TokenCipher, secrecy::SecretString) {
    let key = TokenCipher::generate_key();
    (TokenCipher::from_base64_key(&key).expect("generated key is valid"), key)
}

/// A store on a fresh SQLite file.
pub async fn sqlite() -> Result<TestDb> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("store.db").display());
    let (cipher, key) = cipher_and_key();
    let store = Store::connect_with(&url, cipher, StoreOptions::default()).await.context("open sqlite store")?;
    Ok(TestDb { store, url, key, cleanup: Cleanup::None, _dir: Some(dir) })
}

/// A store on a fresh PostgreSQL database, or `None` if the test should be skipped.
pub async fn postgres(test: &str) -> Result<Option<TestDb>> {
    let Ok(admin_url) = std::env::var("TEST_POSTGRES_URL") else {
        if std::env::var("CI").as_deref() == Ok("true") {
            bail!(
                "TEST_POSTGRES_URL is not set but CI=true: PostgreSQL tests must run in CI (see .ci/start-postgres.sh)"
            );
        }
        // Straight to the process's stderr: libtest captures `eprintln!` of passing tests,
        // and a skip must be visible.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test} on PostgreSQL: TEST_POSTGRES_URL is not set (export TEST_POSTGRES_URL=$(bash .ci/start-postgres.sh))"
        );
        return Ok(None);
    };
    let database = format!("slotwise_test_{}", uuid_simple());
    let mut admin = connect_admin(&admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await
        .context("create test database")?;
    let url = with_database(&admin_url, &database);
    let (cipher, key) = cipher_and_key();
    let store = Store::connect_with(&url, cipher, StoreOptions::default().max_connections(20))
        .await
        .context("open postgres store")?;
    Ok(Some(TestDb { store, url, key, cleanup: Cleanup::DropPostgres { admin_url, database }, _dir: None }))
}

async fn connect_admin(url: &str) -> Result<sqlx::PgConnection> {
    use sqlx::Connection as _;
    sqlx::PgConnection::connect(url).await.with_context(|| "connect to TEST_POSTGRES_URL".to_string())
}

fn uuid_simple() -> String {
    store::JobId::generate().as_str().replace('-', "")
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{host_part}/{database}{query}")
}

impl TestDb {
    /// Drops the PostgreSQL database (SQLite files go with the temp dir).
    pub async fn finish(self) -> Result<()> {
        self.store.close().await;
        if let Cleanup::DropPostgres { admin_url, database } = &self.cleanup {
            let mut admin = connect_admin(admin_url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")))
                .execute(&mut admin)
                .await
                .context("drop test database")?;
        }
        Ok(())
    }

    /// Whether this is the PostgreSQL variant.
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }

    /// Executes `sql` on a separate raw connection; returns the SQLSTATE and constraint
    /// name of a database error, or `None` on success.
    pub async fn raw_execute(&self, sql: String) -> Result<Option<(String, Option<String>)>> {
        use sqlx::Connection as _;
        let outcome = if self.is_postgres() {
            let mut conn = sqlx::PgConnection::connect(&self.url).await?;
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.map(drop)
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.map(drop)
        };
        match outcome {
            Ok(()) => Ok(None),
            Err(sqlx::Error::Database(e)) => {
                Ok(Some((e.code().map(|c| c.into_owned()).unwrap_or_default(), e.constraint().map(str::to_owned))))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Runs `sql` on a separate raw connection and returns the first column of every
    /// row as text (for checks below the store's API, such as "no plaintext in the row").
    pub async fn raw_texts(&self, sql: &'static str) -> Result<Vec<String>> {
        use sqlx::{Connection as _, Row as _};
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
            let rows = sqlx::query(sql).fetch_all(&mut conn).await?;
            rows.iter().map(|r| Ok(r.try_get::<Option<String>, _>(0)?.unwrap_or_default())).collect()
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url).await?;
            let rows = sqlx::query(sql).fetch_all(&mut conn).await?;
            rows.iter().map(|r| Ok(r.try_get::<Option<String>, _>(0)?.unwrap_or_default())).collect()
        }
    }
}

/// Generates `sqlite::<name>` and `postgres::<name>` tests for each
/// `async fn name(db: &TestDb) -> anyhow::Result<()>` listed.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() -> anyhow::Result<()> {
                    let db = $crate::common::sqlite().await?;
                    super::$name(&db).await?;
                    db.finish().await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() -> anyhow::Result<()> {
                    // A failed test leaves its database behind for inspection.
                    let Some(db) = $crate::common::postgres(stringify!($name)).await? else {
                        return Ok(());
                    };
                    super::$name(&db).await?;
                    db.finish().await
                }
            )*
        }
    };
}

/// A tenant with one service (60 min, 10 min buffers either side) and one employee.
pub struct Fixture {
    /// The tenant.
    pub tenant: store::TenantId,
    /// Its API key.
    pub api_key: secrecy::SecretString,
    /// The service.
    pub service: store::ServiceId,
    /// The employee offering it.
    pub employee: store::EmployeeId,
}

/// Creates a [`Fixture`].
pub async fn fixture(store: &Store, name: &str) -> Result<Fixture> {
    let (tenant, api_key) = store.create_tenant(name, "Europe/Berlin").await?;
    let service = store
        .create_service(
            &tenant.id,
            store::NewService {
                name: "Haircut".into(),
                duration_min: 60,
                buffer_before_min: 10,
                buffer_after_min: 10,
                slot_step_min: 30,
                min_notice_min: 0,
                horizon_days: 60,
            },
        )
        .await?;
    let employee = store
        .create_employee(
            &tenant.id,
            store::NewEmployee {
                name: "Ada".into(),
                email: "ada@example.com".into(),
                timezone: "Europe/Berlin".into(),
                service_ids: vec![service.id.clone()],
            },
        )
        .await?;
    Ok(Fixture { tenant: tenant.id, api_key, service: service.id, employee: employee.id })
}

/// A booking request for the fixture's service and employee at `start`.
pub fn booking_at(f: &Fixture, start: chrono::DateTime<chrono::Utc>) -> store::NewBooking {
    store::NewBooking {
        id: store::BookingId::generate(),
        service_id: f.service.clone(),
        employee_id: f.employee.clone(),
        start,
        customer: store::Customer {
            name: "Grace".into(),
            email: "grace@example.com".into(),
            timezone: Some("America/New_York".into()),
        },
        notes: None,
        actor: store::Actor::Api,
        notifications: Vec::new(),
        idempotency: None,
    }
}

/// 2030-01-07 00:00 UTC plus `minutes`.
pub fn at(minutes: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_894_060_800, 0).expect("valid") + chrono::TimeDelta::minutes(minutes)
}

/// Fails unless no two confirmed bookings of `employee` overlap (buffered, half-open).
pub async fn assert_no_overlap(store: &Store, f: &Fixture, employee: &store::EmployeeId) -> Result<usize> {
    let all = store
        .list_bookings(
            &f.tenant,
            &store::BookingFilter {
                from: at(-100_000),
                to: at(100_000),
                employee_id: Some(employee.clone()),
                status: Some(store::BookingStatus::Confirmed),
                after: None,
                limit: 1000,
            },
        )
        .await?;
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            if a.buffered_start() < b.buffered_end() && b.buffered_start() < a.buffered_end() {
                bail!("double booking: {a:?} and {b:?}");
            }
        }
    }
    Ok(all.len())
}
