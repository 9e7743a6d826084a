-- slotwise schema, SQLite flavour. Keep in step with ../postgres/0001_initial.sql.
-- Instants are INTEGER unix seconds (UTC), so they sort and compare as numbers.
-- Dates are TEXT 'YYYY-MM-DD'; wall-clock hours are JSON TEXT validated by the API layer.
-- Every table carries tenant_id and every key and index leads with it, except the
-- three global lookups named below (API key hash, webhook channel id, queue due index).

CREATE TABLE tenants (
    tenant_id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    stale_calendar_policy TEXT NOT NULL DEFAULT 'block' CHECK (stale_calendar_policy IN ('block', 'ignore')),
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- Global lookup: a request names its key before its tenant is known.
CREATE UNIQUE INDEX api_keys_key_hash ON api_keys (key_hash);

CREATE TABLE services (
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    duration_min INTEGER NOT NULL CHECK (duration_min > 0),
    buffer_before_min INTEGER NOT NULL DEFAULT 0 CHECK (buffer_before_min >= 0),
    buffer_after_min INTEGER NOT NULL DEFAULT 0 CHECK (buffer_after_min >= 0),
    slot_step_min INTEGER NOT NULL CHECK (slot_step_min > 0),
    min_notice_min INTEGER NOT NULL DEFAULT 0 CHECK (min_notice_min >= 0),
    horizon_days INTEGER NOT NULL DEFAULT 60 CHECK (horizon_days >= 0),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE employees (
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    timezone TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE employee_services (
    tenant_id TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, employee_id, service_id),
    FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX employee_services_by_service ON employee_services (tenant_id, service_id);

-- Weekly hours and breaks of the business: JSON {"mon": [["09:00","17:00"]], ...}.
CREATE TABLE business_hours (
    tenant_id TEXT NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    timezone TEXT NOT NULL,
    weekly TEXT NOT NULL,
    breaks TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE employee_schedules (
    tenant_id TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    timezone TEXT NOT NULL,
    weekly TEXT NOT NULL,
    breaks TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, employee_id),
    FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id) ON DELETE CASCADE
);

-- employee_id NULL: the tenant's own special date.
CREATE TABLE special_dates (
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    employee_id TEXT,
    date TEXT NOT NULL,
    hours TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX special_dates_by_date ON special_dates (tenant_id, employee_id, date);

CREATE TABLE holidays (
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    employee_id TEXT,
    date TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX holidays_by_date ON holidays (tenant_id, employee_id, date);

CREATE TABLE time_off (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL CHECK (end_at > start_at),
    rrule TEXT,
    exdates TEXT,
    reason TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX time_off_by_employee ON time_off (tenant_id, employee_id, end_at);

CREATE TABLE bookings (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL CHECK (end_at > start_at),
    buffer_before_min INTEGER NOT NULL,
    buffer_after_min INTEGER NOT NULL,
    buffered_start INTEGER NOT NULL,
    buffered_end INTEGER NOT NULL,
    customer_name TEXT NOT NULL,
    customer_email TEXT NOT NULL,
    customer_timezone TEXT,
    notes TEXT,
    cancel_reason TEXT,
    sequence INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id),
    FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id)
);
-- The overlap re-check and the availability loader: confirmed bookings of one employee
-- whose buffered interval ends after the window start.
CREATE INDEX bookings_busy ON bookings (tenant_id, employee_id, status, buffered_end);
-- GET /api/bookings: sorted by start.
CREATE INDEX bookings_by_start ON bookings (tenant_id, start_at, id);

CREATE TABLE booking_history (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    booking_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    from_slot TEXT,
    to_slot TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, booking_id) REFERENCES bookings (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX booking_history_by_booking ON booking_history (tenant_id, booking_id, at, id);

CREATE TABLE idempotency_keys (
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
    response_status INTEGER,
    response_body TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE calendar_connections (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    provider TEXT NOT NULL CHECK (provider IN ('google', 'outlook')),
    calendar_id TEXT NOT NULL,
    access_token TEXT NOT NULL,
    refresh_token TEXT,
    token_expires_at INTEGER,
    status TEXT NOT NULL CHECK (status IN ('active', 'error', 'revoked')),
    sync_token TEXT,
    channel_id TEXT,
    channel_secret TEXT,
    channel_expires_at INTEGER,
    last_sync_at INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, employee_id, provider),
    FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id) ON DELETE CASCADE
);
-- Global lookup: a provider push notification names its channel, not its tenant.
CREATE UNIQUE INDEX calendar_connections_channel ON calendar_connections (channel_id);

CREATE TABLE external_events (
    tenant_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    provider_event_id TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    all_day INTEGER NOT NULL CHECK (all_day IN (0, 1)),
    blocks_time INTEGER NOT NULL CHECK (blocks_time IN (0, 1)),
    etag TEXT,
    raw_status TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, provider_event_id),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES calendar_connections (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX external_events_busy ON external_events (tenant_id, employee_id, end_at);

-- Outbox and audit log of calendar writes.
CREATE TABLE calendar_sync_events (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    booking_id TEXT,
    connection_id TEXT,
    employee_id TEXT,
    provider TEXT NOT NULL,
    provider_event_id TEXT,
    operation TEXT NOT NULL CHECK (operation IN ('create', 'update', 'delete')),
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'in_progress', 'succeeded', 'failed', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_by TEXT,
    locked_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- Global queue index: workers claim due jobs of every tenant.
CREATE INDEX calendar_sync_events_due ON calendar_sync_events (status, next_attempt_at);
CREATE INDEX calendar_sync_events_by_booking ON calendar_sync_events (tenant_id, booking_id, created_at);

CREATE TABLE notifications (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    booking_id TEXT,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    template TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'in_progress', 'succeeded', 'failed', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_by TEXT,
    locked_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_by_booking ON notifications (tenant_id, booking_id, created_at);
