"""The webhook finds its tenant through the expression index on ``integrations_config->'ms'->>'webhook_uuid'``,
never by scanning (the replaced service ran a LIKE over the JSON text)."""

from __future__ import annotations

from typing import Any

import psycopg2

from ms_plugin.click_to_call import repo
from tests.factories import make_enterprise
from tests.ms.click_to_call.helpers import UUID, ms_section


def test_lookup_query_uses_the_expression_index(db_url: str) -> None:
    for index in range(50):
        make_enterprise(db_url, f"1{index:03d}", integrations_config={"ms": {**ms_section(),
                                                                              "webhook_uuid": f"uuid-{index}"}})
    make_enterprise(db_url, "0367", integrations_config={"ms": ms_section()})
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute("ANALYZE enterprises")
            cur.execute("SET enable_seqscan = off")
            cur.execute("EXPLAIN SELECT number FROM enterprises "
                        "WHERE (integrations_config -> 'ms' ->> 'webhook_uuid') = ANY(%s) LIMIT 2", ([UUID],))
            plan = "\n".join(row[0] for row in cur.fetchall())
            cur.execute("RESET enable_seqscan")
        assert "enterprises_ms_webhook_uuid_idx" in plan
        assert repo.enterprises_by_webhook(conn, UUID) == ["0367"]
        assert repo.enterprises_by_webhook(conn, UUID.upper()) == ["0367"]
        assert repo.enterprises_by_webhook(conn, "uuid-%") == []
    finally:
        conn.close()


def test_section_without_a_uuid_is_not_found(db_url: str) -> None:
    make_enterprise(db_url, "0367", integrations_config={"ms": {"enabled": True}})
    make_enterprise(db_url, "0368", integrations_config={})
    conn: Any = psycopg2.connect(db_url)
    try:
        assert repo.enterprises_by_webhook(conn, "") == []
        assert repo.enterprises_by_webhook(conn, "null") == []
    finally:
        conn.close()
