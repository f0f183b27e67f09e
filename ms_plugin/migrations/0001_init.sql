-- ms_plugin's own tables. Every row carries the enterprise number and goes with the enterprise.

-- One row per PBX UniqueId we saw: the call itself (kind 'call'), another UniqueId of a call ('leg',
-- pointing at its parent), an internal call ('internal') or one not classified yet ('pending').
-- facts: what the PBX told us (folded from events in any order); done: what MoySklad already has.
CREATE TABLE ms_calls (
    enterprise_number text NOT NULL REFERENCES enterprises(number) ON DELETE CASCADE,
    unique_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('call', 'leg', 'internal', 'pending')),
    parent_unique_id text,
    direction text,
    phone text,                        -- E.164 of the external party; NULL when hidden
    facts jsonb NOT NULL DEFAULT '{}'::jsonb,
    done jsonb NOT NULL DEFAULT '{}'::jsonb,
    state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'finished')),
    answered_employee text,            -- for "the last employee who talked with this number"
    version integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (enterprise_number, unique_id)
);
CREATE INDEX ms_calls_open_idx ON ms_calls (enterprise_number, updated_at) WHERE state = 'open';
CREATE INDEX ms_calls_open_all_idx ON ms_calls (updated_at) WHERE state = 'open';
CREATE INDEX ms_calls_phone_idx ON ms_calls (enterprise_number, phone, created_at DESC);

-- The account's employees: names from the JSON API, MoySklad extensions from the Phone API.
CREATE TABLE ms_employees (
    enterprise_number text NOT NULL REFERENCES enterprises(number) ON DELETE CASCADE,
    employee_id text NOT NULL,
    name text,
    full_name text,
    uid text,                          -- login, user@account
    email text,
    ms_extension text,                 -- MoySklad's own extension ("extention" in the Phone API)
    archived boolean NOT NULL DEFAULT false,
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (enterprise_number, employee_id)
);
CREATE INDEX ms_employees_uid_idx ON ms_employees (enterprise_number, lower(uid));
CREATE INDEX ms_employees_ext_idx ON ms_employees (enterprise_number, ms_extension);

-- Per-tenant state: credentials marked invalid (jobs wait until the config changes), last refreshes.
CREATE TABLE ms_tenant_state (
    enterprise_number text PRIMARY KEY REFERENCES enterprises(number) ON DELETE CASCADE,
    state text NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'credentials_invalid')),
    since timestamptz NOT NULL DEFAULT now(),
    last_error text,
    marked_config_version bigint,      -- the Phone API key refused under this config version
    json_invalid_version bigint,       -- the JSON API credentials refused under this config version
    employees_refreshed_at timestamptz
);

-- Missed-call tasks we created, so that a later answered or outgoing call closes them.
CREATE TABLE ms_tasks (
    enterprise_number text NOT NULL REFERENCES enterprises(number) ON DELETE CASCADE,
    task_id text NOT NULL,
    phone text NOT NULL,
    call_unique_id text NOT NULL,
    kind text NOT NULL DEFAULT 'task' CHECK (kind IN ('task', 'note')),
    created_at timestamptz NOT NULL DEFAULT now(),
    closed_at timestamptz,
    closed_by_call text,
    PRIMARY KEY (enterprise_number, task_id)
);
CREATE INDEX ms_tasks_open_idx ON ms_tasks (enterprise_number, phone) WHERE closed_at IS NULL;
