"""What a dead worker leaves behind: its running jobs and its leases, given back at once.

A worker that dies without a clean stop (SIGKILL, OOM) keeps its jobs ``running`` until their claims
expire, and those jobs fill their tenant's ``HOST_JOB_TENANT_PARALLEL`` slots meanwhile; its leases block
the calls they guard until their TTL. gunicorn's master knows the moment a worker is gone
(``child_exit`` in ``gunicorn.conf.py``) and calls ``release_dead_worker``.

The jobs go back at once. The leases end ``LEASE_GRACE_SECONDS`` later, not at once: the dead worker's
last MoySklad request may still be on the wire, and MoySklad carries out a request whose client died. A
lease guards exactly such requests; freed at once, it let the re-run probe ``PUT /call/extid`` (404: the
dead worker's ``POST /call`` had not landed yet) and create the call a second time (seen in
``tests/reliability/test_worker_crash.py``). The grace covers a card request (connect 3 s + read 5 s).

This module imports only the standard library (and psycopg2 when called), because the master loads it
by path without importing the ``host_app`` package: importing the app there would create its locks and
sessions before gevent patches the forked workers (the reason for ``preload_app = False``).
"""

from __future__ import annotations

from typing import Any

LEASE_GRACE_SECONDS = 10.0

# How a job whose run ended without a recorded outcome goes back to the queue (also the reaper's rule in
# ``host_app.jobs.queue``). Every claim counted an attempt, so a job that keeps killing its worker is
# failed once its attempts are spent instead of taking workers down for ever.
REDRIVE_ASSIGNMENTS = (
    "state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END, "
    "finished_at = CASE WHEN attempts >= max_attempts THEN now() END, "
    "run_at = now(), locked_by = NULL, locked_until = NULL, updated_at = now(), "
    "last_error = coalesce(last_error || ' ', '') || CASE WHEN attempts >= max_attempts "
    "THEN '[' || %(why)s || ', no attempts left]' ELSE '[re-driven: ' || %(why)s || ']' END"
)


# A dedupe job re-driven while a pending duplicate waits (enqueued during its run) would break the "one
# pending job per kind and key" index, and the whole batch would stay stuck in 'running', filling its
# tenant's slots: the duplicate does the same work, so the re-driven job is finished as superseded.
SUPERSEDED_ASSIGNMENTS = (
    "state = 'done', finished_at = now(), locked_by = NULL, locked_until = NULL, updated_at = now(), "
    "last_error = coalesce(last_error || ' ', '') || '[' || %(why)s || '; superseded by a pending duplicate]'"
)
_HAS_PENDING_DUPLICATE = ("dedupe AND EXISTS (SELECT 1 FROM jobs p WHERE p.kind = jobs.kind AND p.key = jobs.key "
                          "AND p.state = 'pending' AND p.dedupe)")


def redrive(cur: Any, where: str, params: dict[str, Any]) -> int:
    """Hand the running jobs matching ``where`` back to the queue (``params`` holds ``why``); returns how
    many were handed back or superseded."""
    cur.execute(f"UPDATE jobs SET {SUPERSEDED_ASSIGNMENTS} WHERE {where} AND {_HAS_PENDING_DUPLICATE}", params)
    superseded = int(cur.rowcount)
    cur.execute(f"UPDATE jobs SET {REDRIVE_ASSIGNMENTS} WHERE {where}", params)
    return superseded + int(cur.rowcount)


def release_worker(conn: Any, worker: str, lease_grace_s: float = LEASE_GRACE_SECONDS) -> tuple[int, int]:
    """Give back the running jobs and the leases of ``worker`` (``<hostname>:<pid>``, the
    ``host_app.leases.worker_id()`` of a process that no longer runs) in ``conn``'s transaction.

    Returns (jobs handed back, leases shortened to ``lease_grace_s``). Lease holders are
    ``<worker>:<uuid>``.
    """
    with conn.cursor() as cur:
        jobs = redrive(cur, "state = 'running' AND locked_by = %(worker)s", {"why": "its worker died", "worker": worker})
        cur.execute("UPDATE leases SET expires_at = least(expires_at, now() + make_interval(secs => %(grace)s)) "
                    "WHERE left(holder, length(%(prefix)s)) = %(prefix)s",
                    {"grace": lease_grace_s, "prefix": worker + ":"})
        return jobs, int(cur.rowcount)


def release_dead_worker(dsn: str, worker: str, timeout_s: int = 2) -> tuple[int, int]:
    """``release_worker`` on a connection of its own, for gunicorn's master (which catches whatever
    this raises: a failure here must never break it; the claims then expire by themselves).

    Bounded: ``timeout_s`` to connect, the same per statement (a row still locked by the dead worker's
    backend, before PostgreSQL noticed the closed socket, must not hold the master up).
    """
    import psycopg2

    conn = psycopg2.connect(dsn, connect_timeout=timeout_s, application_name="ms-host-master",
                            options=f"-c statement_timeout={int(timeout_s * 1000)}")
    try:
        with conn:
            return release_worker(conn, worker)
    finally:
        conn.close()
