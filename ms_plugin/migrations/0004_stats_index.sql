-- The admin's figures count a tenant's calls over the last hour or day.
CREATE INDEX IF NOT EXISTS ms_calls_created_idx ON ms_calls (enterprise_number, created_at);
