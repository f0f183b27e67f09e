-- Click-to-call from MoySklad (contract §9): the webhook's tenant lookup and the pending originates.

-- POST /ms/webhook/<uuid> finds its tenant by the uuid stored in the ms section. The replaced service ran
-- a LIKE over integrations_config::text (a full scan that depended on the JSON's spacing); this expression
-- index answers "integrations_config->'ms'->>'webhook_uuid' = $1" directly. Not UNIQUE: a hand-edited
-- legacy row with a copied uuid must not fail the migration (the lookup refuses an ambiguous uuid).
CREATE INDEX IF NOT EXISTS enterprises_ms_webhook_uuid_idx
    ON enterprises ((integrations_config -> 'ms' ->> 'webhook_uuid'));

-- One row per accepted click. It is at once the record of the originate (for the call flow, which marks
-- the PBX conversation it belongs to), the duplicate guard (same employee and destination within 10 s)
-- and the per-enterprise rate limit (clicks in the last 60 s): refused clicks are never stored, so they
-- never count.
CREATE TABLE IF NOT EXISTS ms_originates (
    enterprise_number text NOT NULL REFERENCES enterprises(number) ON DELETE CASCADE,
    id bigserial PRIMARY KEY,
    extension text NOT NULL CHECK (extension ~ '^[0-9]{2,6}$'),     -- the PBX extension rung first
    employee_id text NOT NULL,
    dest_digits text NOT NULL CHECK (dest_digits ~ '^[0-9]{6,20}$'),  -- E.164 without '+'
    dest_e164 text NOT NULL CHECK (dest_e164 ~ '^\+[0-9]{6,20}$'),
    dial_number text NOT NULL CHECK (dial_number ~ '^\+?[0-9]{3,20}$'), -- as sent to the PBX (dial_format)
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dialled', 'failed', 'matched')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,        -- set before the originate is handed to the PBX: a re-run never rings twice
    attempts integer NOT NULL DEFAULT 0,
    attempt_id text,            -- what the PBX adapter returned (AMI ActionID / HTTP attempt id)
    signature text,             -- the Lognex-Content-MD5 variant that matched, 'mismatch' or 'unchecked'
    matched_unique_id text,     -- the PBX UniqueId of the conversation, once the call flow saw its dial
    matched_at timestamptz,
    error_code text,            -- PbxError code (unreachable, timeout, originate_failed, ...) or expired
    error text
);
CREATE INDEX IF NOT EXISTS ms_originates_match_idx ON ms_originates (enterprise_number, extension, created_at);
CREATE INDEX IF NOT EXISTS ms_originates_recent_idx ON ms_originates (enterprise_number, created_at);
CREATE INDEX IF NOT EXISTS ms_originates_dup_idx
    ON ms_originates (enterprise_number, employee_id, dest_digits, created_at);
