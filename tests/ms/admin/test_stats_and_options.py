"""``GET /ms-admin/stats/<ent>`` (from PostgreSQL) and ``GET /ms-admin/options/<ent>`` (from the account)."""

from __future__ import annotations

import json
from typing import Any

from tests.factories import sql
from tests.ms.admin.helpers import ENT, OTHER_ENT, configure


def _call(db_url: str, uid: str, *, ent: str = ENT, ago_min: float = 1, shown: list[str] | None = None,
          answered: bool = True, order: bool = False, created_client: bool = False, direction: str = "in") -> None:
    facts = {"answered": answered, "call_status": "2" if answered else "0"}
    done = {"shown": shown or [], "order_id": "o-" + uid if order else None, "counterparty_created": created_client}
    sql(db_url, "INSERT INTO ms_calls (enterprise_number, unique_id, kind, direction, state, facts, done, created_at) "
                "VALUES (%s, %s, 'call', %s, 'finished', %s, %s, now() - make_interval(mins => %s))",
        (ent, uid, direction, json.dumps(facts), json.dumps(done), ago_min))


def _request(db_url: str, duration: int, status: str = "success", *, ent: str = ENT, ago_min: float = 1,
             event_type: str = "moysklad.phone") -> None:
    sql(db_url, "INSERT INTO integration_logs (enterprise_number, integration_type, event_type, status, duration_ms, "
                "created_at) VALUES (%s, 'ms', %s, %s, %s, now() - make_interval(mins => %s))",
        (ent, event_type, status, duration, ago_min))


def _stats(client: Any, headers: dict[str, str], window: str = "1h") -> dict[str, Any]:
    resp = client.get(f"/ms-admin/stats/{ENT}", query_string={"window": window}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_stats_count_calls_cards_orders_tasks_and_latency(client, admin_headers, ent, db_url):
    _call(db_url, "a", shown=["150", "151"], order=True, created_client=True)
    _call(db_url, "b", shown=["150"], answered=False)
    _call(db_url, "c", direction="out")
    _call(db_url, "old", ago_min=120, shown=["150"], order=True)  # outside the hour
    _call(db_url, "theirs", ent=OTHER_ENT, shown=["150"])
    sql(db_url, "INSERT INTO ms_tasks (enterprise_number, task_id, phone, call_unique_id) VALUES (%s, 't1', '+1', 'b')",
        (ENT,))
    for ms in range(10, 110, 10):
        _request(db_url, ms)
    _request(db_url, 1000, "error", event_type="moysklad.json")
    _request(db_url, 5, ent=OTHER_ENT)
    sql(db_url, "INSERT INTO integration_logs (enterprise_number, integration_type, event_type, status) "
                "VALUES (%s, 'ms', 'moysklad.deferred', 'error')", (ENT,))  # not a request: no duration
    s = _stats(client, admin_headers)
    assert s["calls_processed"] == 3
    assert s["calls"] == {"incoming": 2, "outgoing": 1, "answered": 2, "missed": 1}
    assert s["cards_shown"] == 3 and s["orders_created"] == 1 and s["clients_created"] == 1
    assert s["tasks_created"] == 1
    assert s["moysklad"]["requests"] == 11 and s["moysklad"]["errors"] == 1
    assert s["moysklad"]["success_rate"] == round(10 / 11, 4)
    assert s["moysklad"]["latency_ms"]["p50"] == 60
    assert 100 < s["moysklad"]["latency_ms"]["p95"] <= 1000
    assert len(s["series"]) == 12 and s["bucket_s"] == 300
    assert sum(p["calls"] for p in s["series"]) == 3 and sum(p["requests"] for p in s["series"]) == 11


def test_the_day_window_has_hourly_buckets(client, admin_headers, ent, db_url):
    _call(db_url, "old", ago_min=120)
    s = _stats(client, admin_headers, "24h")
    assert len(s["series"]) == 24 and s["bucket_s"] == 3600 and s["calls_processed"] == 1


def test_empty_stats_have_no_rate(client, admin_headers, ent):
    s = _stats(client, admin_headers)
    assert s["calls_processed"] == 0 and s["moysklad"]["success_rate"] is None
    assert s["moysklad"]["latency_ms"] == {"p50": None, "p95": None}


def test_unknown_windows_are_422(client, admin_headers, ent):
    assert client.get(f"/ms-admin/stats/{ENT}?window=7d", headers=admin_headers).status_code == 422


def test_options_list_what_the_account_has_and_are_cached(client, admin_headers, ent, account, emu):
    configure(client, admin_headers, account)
    resp = client.get(f"/ms-admin/options/{ENT}", headers=admin_headers)
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["json_api_ok"] is True and data["error"] is None
    assert "Новый" in [s["name"] for s in data["order_states"]]
    assert {c["name"] for c in data["sales_channels"]} == {"Телефонный звонок", "Сайт"}
    assert [o["name"] for o in data["organizations"]] == ["ООО «Акме»"]
    seen = len(emu.state.requests(path="/api/remap/1.2/entity/saleschannel"))
    client.get(f"/ms-admin/options/{ENT}", headers=admin_headers)
    assert len(emu.state.requests(path="/api/remap/1.2/entity/saleschannel")) == seen
    client.get(f"/ms-admin/options/{ENT}?refresh=1", headers=admin_headers)
    assert len(emu.state.requests(path="/api/remap/1.2/entity/saleschannel")) == seen + 1


def test_options_without_json_credentials_say_why(client, admin_headers, ent, account):
    client.put(f"/ms-admin/config/{ENT}", json={"integration_code": account["phone_key"]}, headers=admin_headers)
    data = client.get(f"/ms-admin/options/{ENT}", headers=admin_headers).get_json()
    assert data["json_api_ok"] is False and data["error"] and data["order_states"] == []
