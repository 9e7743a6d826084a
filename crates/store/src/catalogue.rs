//! Services and employees.

use chrono::{DateTime, Utc};

use crate::Store;
use crate::backend::{DbRow, dispatch, now};
use crate::error::{Result, StoreError};
use crate::ids::{EmployeeId, ServiceId, TenantId};

/// A service as the API creates it (defaults already applied by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewService {
    /// Display name.
    pub name: String,
    /// Length of an appointment in minutes (> 0).
    pub duration_min: u32,
    /// Time kept free before each appointment.
    pub buffer_before_min: u32,
    /// Time kept free after each appointment.
    pub buffer_after_min: u32,
    /// Distance between slot starts (> 0).
    pub slot_step_min: u32,
    /// How far ahead of now a slot must start.
    pub min_notice_min: u32,
    /// How many days ahead slots are offered.
    pub horizon_days: u32,
}

/// A stored service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Its id.
    pub id: ServiceId,
    /// Its settings.
    pub settings: NewService,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// An employee as the API creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmployee {
    /// Display name.
    pub name: String,
    /// Where booking notifications go.
    pub email: String,
    /// IANA zone of the employee's schedule.
    pub timezone: String,
    /// Services the employee offers (each must exist for the tenant).
    pub service_ids: Vec<ServiceId>,
}

/// A stored employee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Employee {
    /// Its id.
    pub id: EmployeeId,
    /// Display name.
    pub name: String,
    /// Notification address.
    pub email: String,
    /// IANA zone.
    pub timezone: String,
    /// Services offered, sorted by id.
    pub service_ids: Vec<ServiceId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

fn minutes(row: &impl DbRow, column: &'static str) -> Result<u32> {
    let value = row.int(column)?;
    u32::try_from(value).map_err(|_| StoreError::Corrupt { column, detail: value.to_string() })
}

fn service_from_row(row: &impl DbRow) -> Result<Service> {
    Ok(Service {
        id: ServiceId::from_db(row.text("id")?),
        settings: NewService {
            name: row.text("name")?,
            duration_min: minutes(row, "duration_min")?,
            buffer_before_min: minutes(row, "buffer_before_min")?,
            buffer_after_min: minutes(row, "buffer_after_min")?,
            slot_step_min: minutes(row, "slot_step_min")?,
            min_notice_min: minutes(row, "min_notice_min")?,
            horizon_days: minutes(row, "horizon_days")?,
        },
        created_at: row.time("created_at")?,
    })
}

const SERVICE_COLUMNS: &str = "id, name, duration_min, buffer_before_min, buffer_after_min, \
     slot_step_min, min_notice_min, horizon_days, created_at";

impl Store {
    /// Creates a service.
    pub async fn create_service(&self, tenant: &TenantId, new: NewService) -> Result<Service> {
        if new.duration_min == 0 || new.slot_step_min == 0 {
            return Err(StoreError::InvalidInput("duration_min and slot_step_min must be positive".into()));
        }
        let service = Service { id: ServiceId::generate(), settings: new, created_at: now() };
        let s = &service.settings;
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO services (tenant_id, id, name, duration_min, buffer_before_min,
                    buffer_after_min, slot_step_min, min_notice_min, horizon_days, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(tenant.as_str())
            .bind(service.id.as_str())
            .bind(&s.name)
            .bind(i64::from(s.duration_min))
            .bind(i64::from(s.buffer_before_min))
            .bind(i64::from(s.buffer_after_min))
            .bind(i64::from(s.slot_step_min))
            .bind(i64::from(s.min_notice_min))
            .bind(i64::from(s.horizon_days))
            .bind(tm(service.created_at))
            .execute(pool)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Database(e) if e.as_database_error().is_some_and(|d| d.is_foreign_key_violation()) => {
                    StoreError::NotFound { entity: "tenant" }
                }
                other => other,
            })?;
        });
        Ok(service)
    }

    /// The service with this id.
    pub async fn service(&self, tenant: &TenantId, id: &ServiceId) -> Result<Service> {
        dispatch!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {SERVICE_COLUMNS} FROM services WHERE tenant_id = $1 AND id = $2"
            )))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(service_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound { entity: "service" })
        })
    }

    /// Every service of the tenant, by id.
    pub async fn list_services(&self, tenant: &TenantId) -> Result<Vec<Service>> {
        dispatch!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {SERVICE_COLUMNS} FROM services WHERE tenant_id = $1 ORDER BY id"
            )))
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await?
            .iter()
            .map(service_from_row)
            .collect()
        })
    }

    /// Creates an employee with its service links.
    pub async fn create_employee(&self, tenant: &TenantId, new: NewEmployee) -> Result<Employee> {
        let mut service_ids = new.service_ids;
        service_ids.sort();
        service_ids.dedup();
        let employee = Employee {
            id: EmployeeId::generate(),
            name: new.name,
            email: new.email,
            timezone: new.timezone,
            service_ids,
            created_at: now(),
        };
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            let inserted = sqlx::query(
                "INSERT INTO employees (tenant_id, id, name, email, timezone, created_at)
                 SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM tenants WHERE tenant_id = $1)",
            )
            .bind(tenant.as_str())
            .bind(employee.id.as_str())
            .bind(&employee.name)
            .bind(&employee.email)
            .bind(&employee.timezone)
            .bind(tm(employee.created_at))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Err(StoreError::NotFound { entity: "tenant" });
            }
            for service in &employee.service_ids {
                let linked = sqlx::query(
                    "INSERT INTO employee_services (tenant_id, employee_id, service_id)
                     SELECT tenant_id, $2, id FROM services WHERE tenant_id = $1 AND id = $3",
                )
                .bind(tenant.as_str())
                .bind(employee.id.as_str())
                .bind(service.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if linked == 0 {
                    return Err(StoreError::NotFound { entity: "service" });
                }
            }
            tx.commit().await?;
        });
        Ok(employee)
    }

    /// The employee with this id.
    pub async fn employee(&self, tenant: &TenantId, id: &EmployeeId) -> Result<Employee> {
        self.employees_where(tenant, Some(id)).await?.pop().ok_or(StoreError::NotFound { entity: "employee" })
    }

    /// Every employee of the tenant, by id.
    pub async fn list_employees(&self, tenant: &TenantId) -> Result<Vec<Employee>> {
        self.employees_where(tenant, None).await
    }

    async fn employees_where(&self, tenant: &TenantId, id: Option<&EmployeeId>) -> Result<Vec<Employee>> {
        dispatch!(self, pool => {
            let rows = sqlx::query(
                "SELECT e.id, e.name, e.email, e.timezone, e.created_at, s.service_id
                 FROM employees e
                 LEFT JOIN employee_services s ON s.tenant_id = e.tenant_id AND s.employee_id = e.id
                 WHERE e.tenant_id = $1 AND ($2 IS NULL OR e.id = $2)
                 ORDER BY e.id, s.service_id",
            )
            .bind(tenant.as_str())
            .bind(id.map(EmployeeId::as_str))
            .fetch_all(pool)
            .await?;
            let mut out: Vec<Employee> = Vec::new();
            for row in &rows {
                let id = row.text("id")?;
                if out.last().is_none_or(|e| e.id.as_str() != id) {
                    out.push(Employee {
                        id: EmployeeId::from_db(id),
                        name: row.text("name")?,
                        email: row.text("email")?,
                        timezone: row.text("timezone")?,
                        service_ids: Vec::new(),
                        created_at: row.time("created_at")?,
                    });
                }
                if let (Some(service), Some(employee)) = (row.opt_text("service_id")?, out.last_mut()) {
                    employee.service_ids.push(ServiceId::from_db(service));
                }
            }
            Ok(out)
        })
    }

    /// Replaces the services an employee offers.
    pub async fn set_employee_services(
        &self,
        tenant: &TenantId,
        employee: &EmployeeId,
        service_ids: &[ServiceId],
    ) -> Result<()> {
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            let exists = sqlx::query("SELECT 1 FROM employees WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(employee.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound { entity: "employee" });
            }
            sqlx::query("DELETE FROM employee_services WHERE tenant_id = $1 AND employee_id = $2")
                .bind(tenant.as_str())
                .bind(employee.as_str())
                .execute(&mut *tx)
                .await?;
            for service in service_ids {
                let linked = sqlx::query(
                    "INSERT INTO employee_services (tenant_id, employee_id, service_id)
                     SELECT tenant_id, $2, id FROM services WHERE tenant_id = $1 AND id = $3
                     ON CONFLICT DO NOTHING",
                )
                .bind(tenant.as_str())
                .bind(employee.as_str())
                .bind(service.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if linked == 0 && !service_ids.is_empty() {
                    let known = sqlx::query("SELECT 1 FROM services WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.as_str())
                        .bind(service.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    if known.is_none() {
                        return Err(StoreError::NotFound { entity: "service" });
                    }
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }
}
