-- The host's tables. Plugins add their own (prefixed with their code) through their own migrations.

CREATE TABLE enterprises (
    number text PRIMARY KEY,
    name text NOT NULL,
    token text NOT NULL UNIQUE,              -- the PBX "Token" (upstream name2)
    secret text,
    active boolean NOT NULL DEFAULT true,
    timezone text NOT NULL DEFAULT 'Europe/Minsk',
    default_region text NOT NULL DEFAULT 'BY',
    pbx jsonb,
    integrations_config jsonb NOT NULL DEFAULT '{}'::jsonb,
    config_version bigint NOT NULL DEFAULT 1,  -- grows with every integrations_config change
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE admin_tokens (
    id bigserial PRIMARY KEY,
    enterprise_number text NOT NULL REFERENCES enterprises(number) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,         -- sha256 of the token; the token itself is shown once
    label text,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);

-- Accepted PBX events, stored before the 202. Identity = (enterprise, uniqueId, event_type, sha256 of raw).
CREATE TABLE call_events (
    id bigserial PRIMARY KEY,
    enterprise_number text NOT NULL REFERENCES enterprises(number) ON DELETE CASCADE,
    unique_id text NOT NULL,
    event_type text NOT NULL,
    raw_hash text NOT NULL,
    raw jsonb NOT NULL,
    origin text NOT NULL DEFAULT 'live',
    record_url text,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (enterprise_number, unique_id, event_type, raw_hash)
);
CREATE INDEX call_events_call_idx ON call_events (enterprise_number, unique_id, id);
CREATE INDEX call_events_received_idx ON call_events (received_at);

-- Durable background work for every plugin. Claimed with FOR UPDATE SKIP LOCKED; a claim is a lease
-- (locked_until) so a crashed worker's job is taken again by another one.
CREATE TABLE jobs (
    id bigserial PRIMARY KEY,
    integration text NOT NULL,
    kind text NOT NULL,
    enterprise_number text,
    key text,                                 -- jobs with one key never run at once
    dedupe boolean NOT NULL DEFAULT false,    -- at most one pending job per (kind, key)
    payload jsonb NOT NULL DEFAULT '{}'::jsonb,
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'running', 'waiting', 'done', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 8,
    run_at timestamptz NOT NULL DEFAULT now(),
    locked_by text,
    locked_until timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX jobs_due_idx ON jobs (run_at) WHERE state = 'pending';
CREATE INDEX jobs_tenant_due_idx ON jobs (enterprise_number, run_at) WHERE state = 'pending';
CREATE INDEX jobs_running_idx ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_running_key_idx ON jobs (key) WHERE state = 'running';
CREATE INDEX jobs_waiting_idx ON jobs (enterprise_number, integration) WHERE state = 'waiting';
CREATE INDEX jobs_tenant_state_idx ON jobs (integration, enterprise_number, state);
CREATE UNIQUE INDEX jobs_dedupe_idx ON jobs (kind, key) WHERE state = 'pending' AND dedupe;

-- Cross-worker exclusion: a committed row with an expiry, never a lock held across an HTTP call.
CREATE TABLE leases (
    key text PRIMARY KEY,
    holder text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- A small shared cache (lookups, metadata) that every worker and machine sees.
CREATE TABLE shared_cache (
    key text PRIMARY KEY,
    value jsonb,
    expires_at timestamptz NOT NULL
);
CREATE INDEX shared_cache_expiry_idx ON shared_cache (expires_at);

-- The journal. Holds phone numbers, so it is pruned after HOST_JOURNAL_RETENTION_DAYS.
CREATE TABLE integration_logs (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    enterprise_number text,
    integration_type text NOT NULL,
    event_type text NOT NULL,
    call_unique_id text,
    phone text,
    request_data jsonb,
    response_data jsonb,
    status text NOT NULL CHECK (status IN ('success', 'error', 'skipped')),
    error_message text,
    duration_ms integer
);
-- One index per journal filter, each ending in id so "newest first, id < before_id" stays an index
-- range scan at millions of rows.
CREATE INDEX integration_logs_ent_idx ON integration_logs (enterprise_number, integration_type, id DESC);
CREATE INDEX integration_logs_call_idx ON integration_logs (enterprise_number, call_unique_id, id DESC);
CREATE INDEX integration_logs_phone_idx ON integration_logs (enterprise_number, phone, id DESC);
CREATE INDEX integration_logs_type_idx ON integration_logs (enterprise_number, event_type, id DESC);
CREATE INDEX integration_logs_status_idx ON integration_logs (enterprise_number, status, id DESC);
CREATE INDEX integration_logs_created_idx ON integration_logs (created_at);

-- Login throttling per client address, shared by every worker.
CREATE TABLE login_attempts (
    client text NOT NULL,
    window_start timestamptz NOT NULL,
    failures integer NOT NULL DEFAULT 0,
    PRIMARY KEY (client, window_start)
);

-- delete_prefix() uses LIKE 'prefix%', which needs a pattern-ops index whatever the collation.
CREATE INDEX shared_cache_key_pattern_idx ON shared_cache (key text_pattern_ops);
