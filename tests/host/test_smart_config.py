"""``GET·PUT /api/enterprises/<n>/smart``: the Smart Redirect section, validated and normalised (contract §8)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import make_enterprise, sql


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"HOST_INTEGRATIONS": "tests.plugins.echo:plugin"}


def test_get_smart_of_a_fresh_enterprise_shows_the_defaults(client, admin_headers, db_url):
    make_enterprise(db_url, "100", token="T100")
    assert client.get("/api/enterprises/100/smart", headers=admin_headers).get_json() == {
        "primary": None, "mode": "routing+name", "budget_ms": None, "name_parts": ["line", "shop", "customer"],
        "dialplan_template": "mngr{extension}_{trunk}_1", "extension_ids": {}, "lines": {}}


def test_put_smart_saves_our_form_and_null_resets_a_key(client, admin_headers, db_url):
    make_enterprise(db_url, "100", token="T100")
    body = {"mode": "name-only", "budget_ms": 800, "name_parts": ["customer", "line"],
            "dialplan_template": "ctx{user_id}-{trunk}", "extension_ids": {"151": 42},
            "lines": {"0001363": {"name": "Главная", "shop": "Магазин", "enabled": True}}}
    resp = client.put("/api/enterprises/100/smart", json=body, headers=admin_headers)
    assert resp.status_code == 200
    saved = resp.get_json()
    assert saved["extension_ids"] == {"151": "42"} and saved["budget_ms"] == 800
    assert saved["lines"] == {"0001363": {"name": "Главная", "shop": "Магазин", "enabled": True}}
    resp = client.put("/api/enterprises/100/smart", json={"budget_ms": None, "lines": {}}, headers=admin_headers)
    assert resp.get_json()["budget_ms"] is None and resp.get_json()["lines"] == {}
    assert resp.get_json()["mode"] == "name-only"  # keys left out keep their value


def test_put_smart_reads_the_upstream_form_and_stores_ours(client, admin_headers, db_url):
    make_enterprise(db_url, "100", token="T100")
    upstream = {"mode": "routing+name", "lines": {
        "gsm:0001363": {"enabled": True, "do_routing": True, "algorithm": "ms", "send_line_name": True,
                        "send_shop_name": False, "send_customer_name": True,
                        "line_name_order": 2, "shop_name_order": 3, "customer_name_order": 1},
        "sip:trunk-a": {"enabled": True, "do_routing": False, "send_customer_name": True}}}
    resp = client.put("/api/enterprises/100/smart", json=upstream, headers=admin_headers)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["lines"] == {
        "0001363": {"name": None, "shop": None, "enabled": True, "name_parts": ["customer", "line"]},
        "trunk-a": {"name": None, "shop": None, "enabled": False, "name_parts": ["customer"]}}
    stored = sql(db_url, "SELECT integrations_config->'smart'->'lines' FROM enterprises")[0][0]
    assert set(stored) == {"0001363", "trunk-a"}


def test_get_smart_normalises_an_upstream_section_stored_as_it_was(client, admin_headers, db_url):
    make_enterprise(db_url, "100", token="T100", integrations_config={"smart": {
        "mode": "routing+name", "primary": "ms",
        "lines": {"gsm:7": {"enabled": True, "do_routing": True, "send_customer_name": True,
                            "send_line_name": True, "line_name_order": 1, "customer_name_order": 2}}}})
    body = client.get("/api/enterprises/100/smart", headers=admin_headers).get_json()
    assert body["primary"] == "ms"
    assert body["lines"] == {"7": {"name": None, "shop": None, "enabled": True, "name_parts": ["line", "customer"]}}


@pytest.mark.parametrize("body, field", [
    ({"mode": "fast"}, "mode"),
    ({"budget_ms": 10}, "budget_ms"),
    ({"budget_ms": "1500"}, "budget_ms"),
    ({"name_parts": ["line", "line"]}, "name_parts"),
    ({"name_parts": ["phone"]}, "name_parts"),
    ({"dialplan_template": "mngr{extension!r}"}, "dialplan_template"),
    ({"dialplan_template": "mngr{extension:>5}"}, "dialplan_template"),
    ({"dialplan_template": "mngr{0}"}, "dialplan_template"),
    ({"dialplan_template": "mngr{extension.__class__}"}, "dialplan_template"),
    ({"dialplan_template": "mngr {extension}"}, "dialplan_template"),
    ({"dialplan_template": "mngr{trunk}"}, "dialplan_template"),
    ({"dialplan_template": "mngr{extension"}, "dialplan_template"),
    ({"extension_ids": {"151": "a b"}}, "extension_ids"),
    ({"lines": {"bad key!": {"enabled": True}}}, "lines"),
    ({"lines": {"1": {"enabled": "yes"}}}, "lines"),
    ({"lines": {"1": {"colour": "red"}}}, "lines"),
    ({"lines": {"gsm:1": {"enabled": True}, "1": {"enabled": True}}}, "lines"),
    ({"primary": "nope"}, "primary"),
    ({"unknown": 1}, "unknown"),
])
def test_put_smart_refuses_invalid_sections_with_422(client, admin_headers, db_url, body, field):
    make_enterprise(db_url, "100", token="T100")
    resp = client.put("/api/enterprises/100/smart", json=body, headers=admin_headers)
    assert resp.status_code == 422, resp.get_json()
    assert field in resp.get_json()["error"]["details"]


def test_smart_of_an_unknown_enterprise_is_404(client, admin_headers):
    assert client.get("/api/enterprises/404/smart", headers=admin_headers).status_code == 404
    assert client.put("/api/enterprises/404/smart", json={}, headers=admin_headers).status_code == 404
    assert client.put("/api/enterprises/404/primary", json={"primary": None},
                      headers=admin_headers).status_code == 404
