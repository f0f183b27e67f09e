"""The journal stays fast at a million rows: keyset pages on the host's indexes, no sequential scan."""

from __future__ import annotations

import time
from typing import Any

import psycopg2
import pytest

from ms_plugin.admin.journal_repo import JournalQuery, explain
from tests.factories import make_enterprise, sql

BUSY, RARE = "0367", "0500"
ROWS = 1_000_000
FAST_S = 0.3  # one page through the API, including Flask and JSON


def _fill(db_url: str) -> None:
    make_enterprise(db_url, BUSY)
    make_enterprise(db_url, RARE)
    # 10 enterprises share the table; BUSY has 30 %, RARE a handful of rows at the very beginning.
    sql(db_url, """
        INSERT INTO integration_logs (created_at, enterprise_number, integration_type, event_type, call_unique_id,
                                      phone, status, duration_ms, request_data)
        SELECT now() - make_interval(secs => (%(n)s - g) * 0.5),
               CASE WHEN g <= 5 THEN %(rare)s WHEN g %% 10 < 3 THEN %(busy)s ELSE 'e' || (g %% 10) END,
               (ARRAY['ms', 'ms', 'ms', 'host', 'smart'])[1 + g %% 5],
               (ARRAY['moysklad.phone', 'moysklad.json', 'call.processed', 'config.change'])[1 + g %% 4],
               'u' || (g / 7), '+37529' || lpad((g %% 50000)::text, 7, '0'),
               (ARRAY['success', 'success', 'success', 'error', 'skipped'])[1 + g %% 5],
               g %% 900, jsonb_build_object('n', g)
        FROM generate_series(1, %(n)s) AS g
    """, {"n": ROWS, "busy": BUSY, "rare": RARE})
    sql(db_url, "ANALYZE integration_logs")


def _timed(client: Any, headers: dict[str, str], ent: str, **params: Any) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    resp = client.get(f"/ms-admin/journal/{ent}.json", query_string=params, headers=headers)
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json(), elapsed


@pytest.mark.slow
def test_a_page_is_an_index_scan_and_fast_at_a_million_rows(client, admin_headers, db_url):
    _fill(db_url)
    conn = psycopg2.connect(db_url)
    try:
        middle = sql(db_url, "SELECT id FROM integration_logs WHERE enterprise_number = %s "
                             "ORDER BY id LIMIT 1 OFFSET 100000", (BUSY,))[0][0]
        cases: list[tuple[str, dict[str, Any]]] = [
            (BUSY, {}),
            (BUSY, {"before_id": middle}),
            (BUSY, {"phone": "+375290012345"}),
            (BUSY, {"status": "error", "limit": 500}),
            (BUSY, {"event_type": "config.change"}),
            (BUSY, {"event_type": "moysklad.*"}),
            (BUSY, {"call_id": "u1000"}),
            (BUSY, {"since": "2000-01-01T00:00:00+00:00", "until": _iso_ago(db_url, 3 * 24 * 3600)}),
            (RARE, {}),
            (RARE, {"status": "error"}),
        ]
        for ent, params in cases:
            data, elapsed = _timed(client, admin_headers, ent, **params)
            assert elapsed < FAST_S, (ent, params, elapsed)
            assert all(a["id"] > b["id"] for a, b in zip(data["items"], data["items"][1:]))
            plan = explain(conn, _query(ent, params))
            assert "Seq Scan" not in plan, (params, plan)
            assert "Index" in plan
        busy_page, _ = _timed(client, admin_headers, BUSY)
        assert len(busy_page["items"]) == 50 and busy_page["next_before_id"]
        rare_page, _ = _timed(client, admin_headers, RARE)
        assert len(rare_page["items"]) == 5 and rare_page["next_before_id"] is None
    finally:
        conn.close()


def _iso_ago(db_url: str, seconds: int) -> str:
    return sql(db_url, "SELECT (now() - make_interval(secs => %s))::text", (seconds,))[0][0].replace(" ", "T")


def _query(ent: str, params: dict[str, Any]) -> JournalQuery:
    import datetime as dt

    event_type = params.get("event_type")
    prefix = event_type.rstrip("*") if event_type and event_type.endswith("*") else None
    return JournalQuery(
        ent, phones=[params["phone"]] if "phone" in params else (), call_ids=[params["call_id"]] if "call_id" in params
        else (), event_type=None if prefix else event_type, event_prefix=prefix, status=params.get("status"),
        since=dt.datetime.fromisoformat(params["since"]) if "since" in params else None,
        until=dt.datetime.fromisoformat(params["until"]) if "until" in params else None,
        before_id=params.get("before_id"), limit=params.get("limit", 50))
