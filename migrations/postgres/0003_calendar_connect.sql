-- Connecting calendars, postgres flavour. Keep in step with ../sqlite/0003_calendar_connect.sql.

-- OAuth authorization requests in flight. The row is keyed by the SHA-256 of the
-- `state` (the state itself is never stored), binds it to one tenant, employee and
-- provider, keeps the PKCE verifier encrypted, and is deleted when the callback uses
-- it (single use) or after it expires.
CREATE TABLE oauth_states (
    state_hash TEXT NOT NULL PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    employee_id TEXT NOT NULL,
    provider TEXT NOT NULL CHECK (provider IN ('google', 'outlook')),
    pkce_verifier TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);

-- Google's resourceId of the watch channel (notifications are checked against it and
-- channels.stop needs it).
ALTER TABLE calendar_connections ADD COLUMN channel_resource_id TEXT;
-- Push notifications ask for a sync by raising sync_requests; a finished sync stores
-- the count it started from in synced_requests. A burst of notifications is one sync.
ALTER TABLE calendar_connections ADD COLUMN sync_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE calendar_connections ADD COLUMN synced_requests BIGINT NOT NULL DEFAULT 0;
-- The worker syncing the connection, and until when (one sync per connection at a time).
ALTER TABLE calendar_connections ADD COLUMN sync_locked_by TEXT;
ALTER TABLE calendar_connections ADD COLUMN sync_locked_until TIMESTAMPTZ;
