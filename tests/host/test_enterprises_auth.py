"""Who may call ``/api/enterprises/...`` (contract §4), and the enterprise admin tokens themselves."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.factories import make_enterprise, sql

# (method, path, body, scope): "own" routes are open to the enterprise's own admin token too.
ROUTES = [
    ("GET", "/api/enterprises/{n}", None, "own"),
    ("PUT", "/api/enterprises/{n}", {"name": "Renamed"}, "global"),
    ("DELETE", "/api/enterprises/{n}", None, "global"),
    ("PUT", "/api/enterprises/{n}/primary", {"primary": "echo"}, "own"),
    ("GET", "/api/enterprises/{n}/smart", None, "own"),
    ("PUT", "/api/enterprises/{n}/smart", {"mode": "name-only"}, "own"),
    ("POST", "/api/enterprises/{n}/admin-tokens", {"label": "x"}, "global"),
    ("GET", "/api/enterprises/{n}/admin-tokens", None, "global"),
    ("DELETE", "/api/enterprises/{n}/admin-tokens/{tid}", None, "global"),
]
CALLERS = ("none", "wrong", "other_enterprise", "own_enterprise", "global")


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"HOST_INTEGRATIONS": "tests.plugins.echo:plugin"}


def mint(client: Any, number: str, label: str = "desk") -> dict[str, Any]:
    resp = client.post(f"/api/enterprises/{number}/admin-tokens", json={"label": label},
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()  # type: ignore[no-any-return]


@pytest.fixture
def tenants(client: Any, db_url: str) -> dict[str, Any]:
    make_enterprise(db_url, "100", token="T100")
    make_enterprise(db_url, "200", token="T200")
    return {"own": mint(client, "100")["token"], "other": mint(client, "200")["token"],
            "victim": mint(client, "100", "to revoke")["id"]}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("method, path, body, scope", ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_admin_routes_follow_the_auth_matrix(client, tenants, method, path, body, scope, caller):
    headers = {
        "none": {},
        "wrong": {"Authorization": "Bearer ent_not-a-real-token-at-all"},
        "other_enterprise": {"Authorization": f"Bearer {tenants['other']}"},
        "own_enterprise": {"Authorization": f"Bearer {tenants['own']}"},
        "global": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
    }[caller]
    url = path.format(n="100", tid=tenants["victim"])
    resp = client.open(url, method=method, json=body, headers=headers)
    allowed = caller == "global" or (caller == "own_enterprise" and scope == "own")
    if caller in ("none", "wrong"):
        assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    elif not allowed:
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"
    else:
        assert resp.status_code in (200, 201, 204), resp.get_json()


def test_minted_token_is_shown_once_and_stored_only_as_sha256(client, db_url):
    make_enterprise(db_url, "100", token="T100")
    minted = mint(client, "100", "бухгалтерия")
    assert set(minted) == {"id", "token", "label", "created_at"} and minted["token"].startswith("ent_")
    stored = sql(db_url, "SELECT token_hash, label FROM admin_tokens")
    assert stored == [(hashlib.sha256(minted["token"].encode()).hexdigest(), "бухгалтерия")]
    listed = client.get("/api/enterprises/100/admin-tokens",
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).get_json()
    assert listed == {"tokens": [{"id": minted["id"], "label": "бухгалтерия", "created_at": minted["created_at"],
                                  "last_used_at": None}]}


def test_listing_shows_when_a_token_was_last_used(client, db_url):
    make_enterprise(db_url, "100", token="T100")
    minted = mint(client, "100")
    assert client.get("/api/enterprises/100", headers={"Authorization": f"Bearer {minted['token']}"}).status_code == 200
    listed = client.get("/api/enterprises/100/admin-tokens", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert listed.get_json()["tokens"][0]["last_used_at"] is not None


def test_a_revoked_token_ends_bearer_access_and_its_sessions(client, db_url, app):
    make_enterprise(db_url, "100", token="T100")
    minted = mint(client, "100")
    browser = app.test_client()
    assert browser.post("/login", data={"token": minted["token"], "next": "/x"}).status_code == 303
    assert browser.get("/api/enterprises/100/smart").status_code == 200
    resp = client.delete(f"/api/enterprises/100/admin-tokens/{minted['id']}",
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert resp.status_code == 204
    assert client.get("/api/enterprises/100", headers={"Authorization": f"Bearer {minted['token']}"}).status_code == 401
    assert browser.get("/api/enterprises/100/smart").status_code == 401
    rows = sql(db_url, "SELECT request_data->>'target', request_data->>'action' FROM integration_logs "
                       "WHERE event_type = 'config.change' ORDER BY id")
    assert rows == [(f"admin_token:{minted['id']}", "create"), (f"admin_token:{minted['id']}", "delete")]


def test_tokens_of_unknown_enterprises_or_ids_are_404(client, db_url):
    make_enterprise(db_url, "100", token="T100")
    make_enterprise(db_url, "200", token="T200")
    other = mint(client, "200")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert client.post("/api/enterprises/404/admin-tokens", headers=admin).status_code == 404
    assert client.get("/api/enterprises/404/admin-tokens", headers=admin).status_code == 404
    # Another enterprise's token id is not found under this one, and stays valid.
    assert client.delete(f"/api/enterprises/100/admin-tokens/{other['id']}", headers=admin).status_code == 404
    assert client.get("/api/enterprises/200", headers={"Authorization": f"Bearer {other['token']}"}).status_code == 200


def test_minting_needs_no_body_and_refuses_unknown_fields(client, db_url):
    make_enterprise(db_url, "100", token="T100")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    resp = client.post("/api/enterprises/100/admin-tokens", headers=admin)
    assert resp.status_code == 201 and resp.get_json()["label"] is None
    resp = client.post("/api/enterprises/100/admin-tokens", json={"scope": "all"}, headers=admin)
    assert resp.status_code == 422 and "scope" in resp.get_json()["error"]["details"]


def test_an_enterprise_admin_edits_its_own_smart_section_but_not_its_row(client, db_url):
    make_enterprise(db_url, "100", token="T100", integrations_config={"echo": {"enabled": True}})
    own = {"Authorization": f"Bearer {mint(client, '100')['token']}"}
    assert client.put("/api/enterprises/100/smart", json={"mode": "off"}, headers=own).get_json()["mode"] == "off"
    assert client.put("/api/enterprises/100/primary", json={"primary": "echo"}, headers=own).status_code == 200
    assert client.put("/api/enterprises/100", json={"active": False}, headers=own).status_code == 403
    body = client.get("/api/enterprises/100", headers=own).get_json()
    assert body["active"] is True and body["integrations"]["primary"] == "echo"
    rows = sql(db_url, "SELECT request_data->>'by' FROM integration_logs WHERE event_type = 'config.change' "
                       "AND request_data->>'target' IN ('smart', 'primary')")
    assert rows == [("enterprise",), ("enterprise",)]
