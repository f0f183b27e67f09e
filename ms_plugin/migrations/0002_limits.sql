-- MoySklad rate limits shared by every worker and machine (ms_plugin/moysklad/limiter.py).
--
-- Keys are 'phone:<sha256 prefix>' / 'json:<sha256 prefix>' of a credential (never the credential) and
-- 'phone:deployment' for the deployment-wide in-flight cap. Times are epoch seconds (double precision):
-- the callers pass an injected clock in tests, else the functions read clock_timestamp(), one clock for
-- every machine. Each function is one short transaction; no lock is held across an HTTP call.
--
-- ms_limit_requests is at once the sliding-window log and the in-flight lease table. A request counts in
-- the window of its key while (done_at, else expires_at) is later than now - window: while in flight
-- (done_at NULL) it always counts, and after completion for one more window measured from when its
-- answer came back. Since MoySklad saw the request somewhere between our admission and our completion,
-- every MoySklad window [t - W, t] is covered by our log at the admission of its last request, whatever
-- the network latency. A holder that dies keeps its row until expires_at (>= the request's end).

CREATE TABLE IF NOT EXISTS ms_limit_keys (
    key text PRIMARY KEY,
    cooldown_until double precision,          -- after a 429: no request for this key before it
    failures integer NOT NULL DEFAULT 0,      -- consecutive Unavailable-kind failures
    circuit_open_until double precision,      -- NULL: circuit closed; past: half-open
    circuit_interval double precision,        -- the next open interval (doubles up to a cap)
    probe_until double precision              -- half-open: the single probe's lease
);

CREATE TABLE IF NOT EXISTS ms_limit_requests (
    id bigserial PRIMARY KEY,
    key text NOT NULL,
    units integer NOT NULL,
    acquired_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    done_at double precision,
    holder text NOT NULL
);

CREATE INDEX IF NOT EXISTS ms_limit_requests_key_stamp
    ON ms_limit_requests (key, (coalesce(done_at, expires_at)));


-- Take one slot for p_key (and one of p_global_key when given), or say how long to wait and why.
-- reason: ok | cooldown | circuit_open | circuit_half_open | parallel | window | global_parallel
CREATE OR REPLACE FUNCTION ms_limiter_acquire(
    p_key text, p_window double precision, p_capacity integer, p_units integer, p_parallel integer,
    p_global_key text, p_global_parallel integer, p_ttl double precision, p_holder text,
    p_now double precision DEFAULT NULL,
    OUT granted boolean, OUT slot_id bigint, OUT global_slot_id bigint, OUT wait double precision,
    OUT reason text, OUT probe boolean)
LANGUAGE plpgsql AS $$
DECLARE
    k ms_limit_keys%ROWTYPE;
    v_now double precision;
    v_count integer;
    v_used bigint;
BEGIN
    granted := false; probe := false; wait := 0;
    INSERT INTO ms_limit_keys (key) VALUES (p_key) ON CONFLICT (key) DO NOTHING;
    -- Acquirers of one key take turns on its row (held for this short transaction only). The clock is
    -- read *after* the lock, so admission times are in the same order as the admissions themselves.
    SELECT * INTO k FROM ms_limit_keys WHERE key = p_key FOR UPDATE;
    v_now := coalesce(p_now, extract(epoch FROM clock_timestamp()));

    IF k.cooldown_until IS NOT NULL AND k.cooldown_until > v_now THEN
        wait := k.cooldown_until - v_now; reason := 'cooldown'; RETURN;
    END IF;
    IF k.circuit_open_until IS NOT NULL THEN
        IF k.circuit_open_until > v_now THEN
            wait := k.circuit_open_until - v_now; reason := 'circuit_open'; RETURN;
        END IF;
        IF k.probe_until IS NOT NULL AND k.probe_until > v_now THEN
            wait := k.probe_until - v_now; reason := 'circuit_half_open'; RETURN;
        END IF;
        probe := true;  -- half-open: this request is the single probe
    END IF;

    DELETE FROM ms_limit_requests WHERE key = p_key AND coalesce(done_at, expires_at) <= v_now - p_window;

    SELECT count(*) INTO v_count FROM ms_limit_requests
        WHERE key = p_key AND done_at IS NULL AND expires_at > v_now;
    IF v_count >= p_parallel THEN
        SELECT min(expires_at) - v_now INTO wait FROM ms_limit_requests
            WHERE key = p_key AND done_at IS NULL AND expires_at > v_now;
        reason := 'parallel'; RETURN;
    END IF;

    SELECT coalesce(sum(units), 0) INTO v_used FROM ms_limit_requests WHERE key = p_key;
    IF v_used + p_units > p_capacity THEN
        -- The earliest moment enough units leave the window: walk the log oldest first.
        SELECT s.stamp + p_window - v_now INTO wait FROM (
            SELECT coalesce(done_at, expires_at) AS stamp,
                   sum(units) OVER (ORDER BY coalesce(done_at, expires_at), id) AS freed
            FROM ms_limit_requests WHERE key = p_key) s
        WHERE s.freed >= v_used + p_units - p_capacity ORDER BY s.stamp LIMIT 1;
        wait := greatest(coalesce(wait, p_window), 0.001); reason := 'window'; RETURN;
    END IF;

    IF p_global_key IS NOT NULL THEN
        -- Always locked after a key's row (never the other way round): no deadlock.
        INSERT INTO ms_limit_keys (key) VALUES (p_global_key) ON CONFLICT (key) DO NOTHING;
        PERFORM 1 FROM ms_limit_keys WHERE key = p_global_key FOR UPDATE;
        DELETE FROM ms_limit_requests WHERE key = p_global_key AND expires_at <= v_now;
        SELECT count(*) INTO v_count FROM ms_limit_requests WHERE key = p_global_key;
        IF v_count >= p_global_parallel THEN
            SELECT min(expires_at) - v_now INTO wait FROM ms_limit_requests WHERE key = p_global_key;
            reason := 'global_parallel'; RETURN;
        END IF;
        INSERT INTO ms_limit_requests (key, units, acquired_at, expires_at, holder)
            VALUES (p_global_key, 0, v_now, v_now + p_ttl, p_holder) RETURNING id INTO global_slot_id;
    END IF;

    INSERT INTO ms_limit_requests (key, units, acquired_at, expires_at, holder)
        VALUES (p_key, p_units, v_now, v_now + p_ttl, p_holder) RETURNING id INTO slot_id;
    IF probe THEN
        UPDATE ms_limit_keys SET probe_until = v_now + p_ttl WHERE key = p_key;
    END IF;
    granted := true; reason := 'ok';
END $$;


-- Give a slot back. p_result: 'ok' (MoySklad answered: closes the circuit), 'failure' (an outage: counts
-- towards opening it; a failed probe re-opens it for twice as long), 'neutral' (a 429: no opinion).
CREATE OR REPLACE FUNCTION ms_limiter_release(
    p_key text, p_slot_id bigint, p_global_slot_id bigint, p_result text,
    p_threshold integer, p_base double precision, p_max double precision,
    p_now double precision DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_now double precision := coalesce(p_now, extract(epoch FROM clock_timestamp()));
BEGIN
    -- The key's row first, as in ms_limiter_acquire (which may be pruning this very slot): one lock
    -- order everywhere, so a late release and an acquire never deadlock.
    PERFORM 1 FROM ms_limit_keys WHERE key = p_key FOR UPDATE;
    -- The window keeps counting the request for one window after its answer came back.
    UPDATE ms_limit_requests SET done_at = v_now WHERE id = p_slot_id AND done_at IS NULL;
    IF p_global_slot_id IS NOT NULL THEN
        DELETE FROM ms_limit_requests WHERE id = p_global_slot_id;
    END IF;
    IF p_result = 'ok' THEN
        UPDATE ms_limit_keys
           SET failures = 0, circuit_open_until = NULL, circuit_interval = NULL, probe_until = NULL
         WHERE key = p_key AND (failures <> 0 OR circuit_open_until IS NOT NULL);
    ELSIF p_result = 'failure' THEN
        UPDATE ms_limit_keys SET
            failures = failures + 1,
            circuit_open_until = CASE
                WHEN circuit_open_until IS NULL AND failures + 1 >= p_threshold THEN v_now + p_base
                WHEN circuit_open_until IS NOT NULL AND circuit_open_until <= v_now
                    THEN v_now + coalesce(circuit_interval, p_base)       -- the probe failed
                ELSE circuit_open_until END,                             -- late failures while open
            circuit_interval = CASE
                WHEN circuit_open_until IS NULL AND failures + 1 >= p_threshold THEN least(p_base * 2, p_max)
                WHEN circuit_open_until IS NOT NULL AND circuit_open_until <= v_now
                    THEN least(coalesce(circuit_interval, p_base) * 2, p_max)
                ELSE circuit_interval END,
            probe_until = NULL
         WHERE key = p_key;
    END IF;
END $$;


-- After a 429: pause p_key for p_seconds (never shortens a longer pause). Returns the pause's end.
CREATE OR REPLACE FUNCTION ms_limiter_cooldown(p_key text, p_seconds double precision,
                                               p_now double precision DEFAULT NULL)
RETURNS double precision
LANGUAGE sql AS $$
    INSERT INTO ms_limit_keys AS t (key, cooldown_until)
    VALUES (p_key, coalesce(p_now, extract(epoch FROM clock_timestamp())) + greatest(p_seconds, 0))
    ON CONFLICT (key) DO UPDATE
        SET cooldown_until = greatest(coalesce(t.cooldown_until, 0), EXCLUDED.cooldown_until)
    RETURNING cooldown_until;
$$;
