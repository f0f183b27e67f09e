-- A refused credential stays refused until that credential changes, not until any config change (the
-- webhook URL minted on the admin page's first visit must not lift the mark). Keyed by a hash.
ALTER TABLE ms_tenant_state ADD COLUMN IF NOT EXISTS marked_credential text;
ALTER TABLE ms_tenant_state ADD COLUMN IF NOT EXISTS json_invalid_credential text;
ALTER TABLE ms_tenant_state DROP COLUMN IF EXISTS marked_config_version;
ALTER TABLE ms_tenant_state DROP COLUMN IF EXISTS json_invalid_version;

-- The call flow refreshes extensions from the Phone API alone (fast); names need the JSON API too.
ALTER TABLE ms_tenant_state ADD COLUMN IF NOT EXISTS extensions_refreshed_at timestamptz;
