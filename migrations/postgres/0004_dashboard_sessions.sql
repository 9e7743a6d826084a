-- Dashboard sign-ins, postgres flavour. Keep in step with ../sqlite/0004_dashboard_sessions.sql.
-- The session cookie holds a random token; only its SHA-256 is stored. The CSRF
-- token is rendered into every form of the session and compared on every POST.
CREATE TABLE dashboard_sessions (
    token_hash TEXT NOT NULL PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
