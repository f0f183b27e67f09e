-- Recent events of one enterprise (e.g. the incoming call a follow-me leg belongs to, looked up before
-- that call's own jobs ran).
CREATE INDEX IF NOT EXISTS call_events_ent_received_idx ON call_events (enterprise_number, received_at);
