-- Outgoing webhooks, PostgreSQL flavour. Keep in step with ../sqlite/0002_webhooks.sql.
-- Endpoints are never deleted, only deactivated, so their delivery log stays readable
-- by the worker until the outbox rows that name them are done.

CREATE TABLE webhook_endpoints (
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    -- JSON array of event types.
    events TEXT NOT NULL,
    -- The whsec_… signing secret, encrypted with the store's TokenCipher.
    secret TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL,
    deactivated_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_endpoints_active ON webhook_endpoints (tenant_id, active, created_at, id);

-- One row per delivery attempt; `job_id` is the notification job, sent as `webhook-id`.
CREATE TABLE webhook_deliveries (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    status_code BIGINT,
    error TEXT,
    at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (tenant_id, endpoint_id, at, id);
