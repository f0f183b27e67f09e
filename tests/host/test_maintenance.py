"""Housekeeping: the journal and stored events (they hold phone numbers) go after the retention period."""

from __future__ import annotations

from typing import Any

from host_app.state import _maintenance
from tests.factories import make_enterprise, sql


def test_old_journal_rows_events_and_done_jobs_are_deleted_recent_ones_kept(host: Any, db_url: str, client: Any):
    make_enterprise(db_url, "100", token="T100")
    for age in ("1 day", "120 days"):
        sql(db_url, "INSERT INTO integration_logs (created_at, enterprise_number, integration_type, event_type, "
                    "status, phone) VALUES (now() - %s::interval, '100', 'ms', 'x', 'success', '+375290000002')",
            (age,))
        sql(db_url, "INSERT INTO call_events (enterprise_number, unique_id, event_type, raw_hash, raw, "
                    "received_at) VALUES ('100', %s, 'dial', %s, '{}', now() - %s::interval)", (age, age, age))
    sql(db_url, "INSERT INTO jobs (integration, kind, state, finished_at) VALUES "
                "('ms', 'x', 'done', now() - interval '30 days'), ('ms', 'x', 'done', now())")
    _maintenance(host)  # HOST_JOURNAL_RETENTION_DAYS defaults to 90
    assert sql(db_url, "SELECT count(*) FROM integration_logs")[0][0] == 1
    assert sql(db_url, "SELECT unique_id FROM call_events") == [("1 day",)]
    assert sql(db_url, "SELECT count(*) FROM jobs")[0][0] == 1


def test_maintenance_runs_in_one_worker_at_a_time(host: Any, db_url: str):
    lease = host.services.leases.acquire("host:maintenance", 60)  # another worker is at it
    sql(db_url, "INSERT INTO integration_logs (created_at, integration_type, event_type, status) "
                "VALUES (now() - interval '400 days', 'ms', 'x', 'success')")
    _maintenance(host)
    assert sql(db_url, "SELECT count(*) FROM integration_logs")[0][0] == 1
    lease.release()
