-- A job's lane: one tenant's running-job cap (HOST_JOB_TENANT_PARALLEL) counts per integration *and
-- lane*, so slow background work (a plugin's JSON API follow-ups) never takes the slots of its urgent
-- work (the cards of ringing calls).
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS lane text NOT NULL DEFAULT 'main';
