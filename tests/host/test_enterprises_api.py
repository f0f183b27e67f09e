"""``/api/enterprises/...``: create/update/delete, masking, primary, Smart section, admin tokens, auth."""

from __future__ import annotations

import json
import select
from typing import Any

import psycopg2
import pytest

from tests.factories import make_enterprise, sql

AMI = {"kind": "ami", "host": "127.0.0.1", "port": 5038, "username": "crm", "secret": "ami-pass-123"}


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # The host must work with any plugin; the tiny echo plugin keeps these tests independent of ms_plugin.
    return {"HOST_INTEGRATIONS": "tests.plugins.echo:plugin"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def mint(client: Any, admin_headers: dict[str, str], number: str) -> dict[str, Any]:
    resp = client.post(f"/api/enterprises/{number}/admin-tokens", json={"label": "desk"}, headers=admin_headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()  # type: ignore[no-any-return]


def journal(db_url: str, number: str) -> list[dict[str, Any]]:
    rows = sql(db_url, "SELECT request_data FROM integration_logs WHERE enterprise_number = %s "
                       "AND integration_type = 'host' AND event_type = 'config.change' ORDER BY id", (number,))
    return [r[0] for r in rows]


# ------------------------------------------------------------------------------ create / update / get


def test_put_creates_an_enterprise_with_201_and_masks_its_secrets(client, admin_headers, db_url):
    body = {"name": "ООО Ромашка", "token": "T100", "secret": "ent-secret-1", "timezone": "Europe/Moscow",
            "default_region": "ru", "pbx": AMI}
    resp = client.put("/api/enterprises/100", json=body, headers=admin_headers)
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert created["name"] == "ООО Ромашка" and created["token"] == "T100"
    assert (created["secret"], created["has_secret"]) == ("***", True)
    assert created["default_region"] == "RU" and created["timezone"] == "Europe/Moscow"
    assert created["pbx"]["secret"] == "***" and created["pbx"]["has_secret"] is True
    assert created["pbx"]["context"] == "web-originate"  # PbxConfigSchema's defaults
    got = client.get("/api/enterprises/100", headers=admin_headers).get_json()
    assert got == created
    assert "ent-secret-1" not in json.dumps(got) and "ami-pass-123" not in json.dumps(got)
    stored = sql(db_url, "SELECT secret, pbx->>'secret' FROM enterprises WHERE number = '100'")[0]
    assert stored == ("ent-secret-1", "ami-pass-123")


def test_put_updates_only_the_fields_sent_with_200(client, admin_headers, db_url):
    make_enterprise(db_url, "100", token="T100", name="Old", secret="keep-me", pbx=AMI)
    resp = client.put("/api/enterprises/100", json={"name": "New", "active": False}, headers=admin_headers)
    assert resp.status_code == 200
    body = resp.get_json()
    assert (body["name"], body["active"], body["token"], body["has_secret"]) == ("New", False, "T100", True)
    assert sql(db_url, "SELECT secret, pbx->>'secret' FROM enterprises")[0] == ("keep-me", "ami-pass-123")


def test_the_masked_get_body_sent_back_keeps_secrets_and_null_clears_them(client, admin_headers, db_url):
    client.put("/api/enterprises/100", json={"name": "A", "token": "T100", "secret": "keep-me", "pbx": AMI},
               headers=admin_headers)
    got = client.get("/api/enterprises/100", headers=admin_headers).get_json()
    round_trip = {k: got[k] for k in ("name", "token", "secret", "active", "timezone", "default_region", "pbx")}
    assert client.put("/api/enterprises/100", json=round_trip, headers=admin_headers).status_code == 200
    assert sql(db_url, "SELECT secret, pbx->>'secret' FROM enterprises")[0] == ("keep-me", "ami-pass-123")
    assert len(journal(db_url, "100")) == 1  # only the create: nothing changed, nothing journaled

    resp = client.put("/api/enterprises/100", json={"secret": None, "pbx": None}, headers=admin_headers)
    assert resp.get_json()["secret"] is None and resp.get_json()["pbx"] is None
    assert sql(db_url, "SELECT secret, pbx FROM enterprises")[0] == (None, None)


def test_changing_pbx_kind_needs_the_new_kinds_secret(client, admin_headers, db_url):
    make_enterprise(db_url, "100", token="T100", pbx=AMI)
    resp = client.put("/api/enterprises/100", json={"pbx": {"kind": "http", "url": "http://127.0.0.1:8018/x"}},
                      headers=admin_headers)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"] == {"pbx": {"client_id": ["Missing data for required field."]}}


def test_create_without_name_and_token_is_422_with_field_errors(client, admin_headers):
    resp = client.put("/api/enterprises/100", json={"active": True}, headers=admin_headers)
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["details"]) == {"name", "token"}


@pytest.mark.parametrize("path, body, field", [
    ("/api/enterprises/bad%20number", {"name": "A", "token": "T1"}, "number"),
    ("/api/enterprises/" + "9" * 33, {"name": "A", "token": "T1"}, "number"),
    ("/api/enterprises/100", {"name": "A", "token": "T1", "timezone": "Mars/Olympus"}, "timezone"),
    ("/api/enterprises/100", {"name": "A", "token": "T1", "timezone": "../../etc/passwd"}, "timezone"),
    ("/api/enterprises/100", {"name": "A", "token": "T1", "default_region": "XX"}, "default_region"),
    ("/api/enterprises/100", {"name": "A", "token": "T1", "active": "yes"}, "active"),
    ("/api/enterprises/100", {"name": "", "token": "T1"}, "name"),
    ("/api/enterprises/100", {"name": "A\nB", "token": "T1"}, "name"),
    ("/api/enterprises/100", {"name": "A", "token": "has space"}, "token"),
    ("/api/enterprises/100", {"name": "A", "token": "T1", "pbx": {"kind": "sip"}}, "pbx"),
    ("/api/enterprises/100", {"name": "A", "token": "T1", "pbx": {**AMI, "host": "bad host\r\n"}}, "pbx"),
    ("/api/enterprises/100", {"name": "A", "token": "T1", "pbx": "ami"}, "pbx"),
    ("/api/enterprises/100", {"name": "A", "token": "T1", "integrations_config": {}}, "integrations_config"),
])
def test_put_refuses_invalid_fields_with_422(client, admin_headers, path, body, field):
    resp = client.put(path, json=body, headers=admin_headers)
    assert resp.status_code == 422, resp.get_json()
    assert field in resp.get_json()["error"]["details"]


def test_malformed_json_is_400_bad_json(client, admin_headers):
    resp = client.put("/api/enterprises/100", data="{", content_type="application/json", headers=admin_headers)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "bad_json"


def test_a_token_of_another_enterprise_is_409_conflict(client, admin_headers, db_url):
    make_enterprise(db_url, "100", token="T100")
    make_enterprise(db_url, "200", token="T200")
    for number in ("200", "300"):  # update and create
        resp = client.put(f"/api/enterprises/{number}", json={"name": "X", "token": "T100"}, headers=admin_headers)
        assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "conflict"
    assert client.put("/api/enterprises/100", json={"token": "T100"}, headers=admin_headers).status_code == 200


def test_get_shows_integration_codes_but_never_their_config(client, admin_headers, db_url):
    config = {"echo": {"enabled": True, "name": "x"},
              "ms": {"enabled": True, "integration_code": "ms-code-secret", "password": "ms-pass-secret"},
              "smart": {"mode": "name-only"}}
    make_enterprise(db_url, "100", token="T100", integrations_config=config)
    body = client.get("/api/enterprises/100", headers=admin_headers).get_json()
    assert body["integrations"] == {"configured": ["echo", "ms"], "active": ["echo"], "primary": "echo"}
    assert "secret" not in json.dumps(body["integrations"]) and "integrations_config" not in body


def test_get_of_an_unknown_enterprise_is_404(client, admin_headers):
    resp = client.get("/api/enterprises/404", headers=admin_headers)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"


def test_delete_removes_the_enterprise_its_tokens_and_its_journal(client, admin_headers, db_url):
    make_enterprise(db_url, "100", token="T100")
    make_enterprise(db_url, "200", token="T200")
    mint(client, admin_headers, "100")
    sql(db_url, "INSERT INTO integration_logs (enterprise_number, integration_type, event_type, phone, status) "
                "VALUES ('100', 'smart', 'getcustomerdata', '+375291234567', 'success'), "
                "('200', 'smart', 'getcustomerdata', '+375291111111', 'success')")
    resp = client.delete("/api/enterprises/100", headers=admin_headers)
    assert resp.status_code == 204 and resp.data == b""
    assert client.get("/api/enterprises/100", headers=admin_headers).status_code == 404
    assert sql(db_url, "SELECT count(*) FROM admin_tokens")[0][0] == 0
    # Only the audit row of the deletion is left for 100; the other tenant keeps its journal.
    rows = sql(db_url, "SELECT enterprise_number, event_type, phone FROM integration_logs ORDER BY id")
    assert rows == [("200", "getcustomerdata", "+375291111111"), ("100", "config.change", None)]
    assert client.delete("/api/enterprises/100", headers=admin_headers).status_code == 404


def test_every_change_is_journaled_by_field_name_without_secret_values(client, admin_headers, db_url):
    client.put("/api/enterprises/100", json={"name": "A", "token": "T100", "secret": "s3cr3t-value", "pbx": AMI},
               headers=admin_headers)
    client.put("/api/enterprises/100", json={"secret": "n3w-s3cr3t", "timezone": "Europe/Minsk"},
               headers=admin_headers)
    client.put("/api/enterprises/100/smart", json={"mode": "name-only"}, headers=admin_headers)
    client.put("/api/enterprises/100/primary", json={"primary": "echo"}, headers=admin_headers)
    rows = journal(db_url, "100")
    assert [(r["target"], r["action"], r["fields"]) for r in rows] == [
        ("enterprise", "create", ["name", "pbx", "secret", "token"]),
        ("enterprise", "update", ["secret"]),  # the timezone was already Europe/Minsk
        ("smart", "update", ["mode"]),
        ("primary", "update", ["primary"]),
    ]
    assert all(r["by"] == "global" and r["via"] == "bearer" for r in rows)
    dump = json.dumps(sql(db_url, "SELECT row_to_json(l) FROM integration_logs l"))
    assert "s3cr3t" not in dump and "ami-pass-123" not in dump


# ------------------------------------------------------------------------- caches of every worker


def test_deactivating_an_enterprise_stops_dispatch_at_once(client, admin_headers, db_url, host):
    make_enterprise(db_url, "100", token="T100", integrations_config={"echo": {"enabled": True}})
    event = {"token": "T100", "uniqueId": "1.1", "event_type": "dial", "raw": {"UniqueId": "1.1"}}
    assert client.post("/dispatch/call-event", json=event).get_json()["accepted"] is True  # cache warm
    client.put("/api/enterprises/100", json={"active": False}, headers=admin_headers)
    second = {**event, "raw": {"UniqueId": "1.1", "n": 2}}
    assert client.post("/dispatch/call-event", json=second).get_json() == {"accepted": False, "duplicate": False}
    client.put("/api/enterprises/100", json={"active": True}, headers=admin_headers)
    assert client.post("/dispatch/call-event", json=second).get_json()["accepted"] is True


def test_a_new_token_replaces_the_old_one_in_the_cache_at_once(client, admin_headers, db_url):
    make_enterprise(db_url, "100", token="T100", integrations_config={"echo": {"enabled": True}})
    event = {"token": "T100", "uniqueId": "1.1", "event_type": "dial", "raw": {}}
    assert client.post("/dispatch/call-event", json=event).status_code == 202
    client.put("/api/enterprises/100", json={"token": "T100-new"}, headers=admin_headers)
    assert client.post("/dispatch/call-event", json=event).status_code == 404
    assert client.post("/dispatch/call-event", json={**event, "token": "T100-new"}).status_code == 202


def test_put_primary_drops_the_cached_primary_at_once(client, admin_headers, db_url, host):
    # "ms" is not loaded here, so the stored choice answers nothing until the admin picks echo.
    make_enterprise(db_url, "100", token="T100",
                    integrations_config={"echo": {"enabled": True}, "smart": {"primary": "ms"}})
    assert host.integrations.by_number("100").primary is None
    resp = client.put("/api/enterprises/100/primary", json={"primary": "echo"}, headers=admin_headers)
    assert resp.get_json() == {"primary": "echo", "effective_primary": "echo"}
    assert host.integrations.by_number("100").primary == "echo"
    resp = client.put("/api/enterprises/100/primary", json={"primary": None}, headers=admin_headers)
    assert resp.get_json() == {"primary": None, "effective_primary": "echo"}  # the only active one
    assert sql(db_url, "SELECT integrations_config->'smart' FROM enterprises")[0][0] == {}


@pytest.mark.parametrize("body", [{"primary": "ms"}, {"primary": "smart"}, {"primary": ""}, {}, {"primary": 5}])
def test_put_primary_accepts_only_a_loaded_lookup_integration(client, admin_headers, db_url, body):
    make_enterprise(db_url, "100", token="T100")
    resp = client.put("/api/enterprises/100/primary", json=body, headers=admin_headers)
    assert resp.status_code == 422 and "primary" in resp.get_json()["error"]["details"]


def test_changes_notify_every_worker_with_the_enterprise_and_code(client, admin_headers, db_url):
    make_enterprise(db_url, "100", token="T100")
    listener = psycopg2.connect(db_url)
    listener.autocommit = True
    try:
        with listener.cursor() as cur:
            cur.execute("LISTEN host_config")
        client.put("/api/enterprises/100", json={"name": "Renamed"}, headers=admin_headers)
        client.put("/api/enterprises/100/smart", json={"mode": "off"}, headers=admin_headers)
        client.delete("/api/enterprises/100", headers=admin_headers)
        payloads: list[str] = []
        while len(payloads) < 3 and select.select([listener], [], [], 2.0)[0]:
            listener.poll()
            payloads += [n.payload for n in listener.notifies]
            listener.notifies.clear()
    finally:
        listener.close()
    assert payloads == ["100\t*", "100\tsmart", "100\t*"]
