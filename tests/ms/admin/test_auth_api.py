"""Auth and tenant isolation on every admin route; CSRF on changes made with the browser session."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ms.admin.helpers import ENT, OTHER_ENT, enterprise_token

API_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/ms-admin/config/{ent}", None),
    ("PUT", "/ms-admin/config/{ent}", {"notifications": {"notify_outgoing": True}}),
    ("DELETE", "/ms-admin/config/{ent}", None),
    ("POST", "/ms-admin/config/{ent}/rotate-webhook", None),
    ("POST", "/ms-admin/test/{ent}", {}),
    ("GET", "/ms-admin/employees/{ent}", None),
    ("PUT", "/ms-admin/employees/{ent}/mapping", {"mapping": {}}),
    ("POST", "/ms-admin/test-call/{ent}", {"extension": "150"}),
    ("GET", "/ms-admin/options/{ent}", None),
    ("GET", "/ms-admin/journal/{ent}.json", None),
    ("POST", "/ms-admin/journal/{ent}/resend", {"call_id": "x.1"}),
    ("GET", "/ms-admin/stats/{ent}", None),
]
PAGES = ["/ms-admin/?enterprise_number={ent}", "/ms-admin/journal?enterprise_number={ent}"]
ROUTE_IDS = [f"{m} {p}" for m, p, _ in API_ROUTES]


def _call(client: Any, method: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    kwargs: dict[str, Any] = {"headers": headers or {}}
    if body is not None:
        kwargs["json"] = body
    return client.open(path.format(ent=ENT), method=method, **kwargs)


def _login(client: Any, token: str) -> str:
    """Log in through the host's form; returns the CSRF token of the session (from the page's meta)."""
    resp = client.post("/login", data={"token": token, "next": f"/ms-admin/?enterprise_number={ENT}"})
    assert resp.status_code == 303, resp.status_code
    page = client.get(f"/ms-admin/?enterprise_number={ENT}")
    assert page.status_code == 200
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.get_data(as_text=True))
    assert match
    return match.group(1)


@pytest.mark.parametrize(("method", "path", "body"), API_ROUTES, ids=ROUTE_IDS)
def test_no_credentials_is_401(client, ent, method, path, body):
    resp = _call(client, method, path, body)
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "path", "body"), API_ROUTES, ids=ROUTE_IDS)
def test_a_wrong_token_is_401(client, ent, method, path, body):
    assert _call(client, method, path, body, {"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), API_ROUTES, ids=ROUTE_IDS)
def test_another_enterprises_admin_is_403(client, ent, other_headers, method, path, body):
    resp = _call(client, method, path, body, other_headers)
    assert resp.status_code == 403
    assert resp.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path", "body"), API_ROUTES, ids=ROUTE_IDS)
def test_the_enterprises_own_admin_gets_through(client, ent, ent_headers, method, path, body):
    assert _call(client, method, path, body, ent_headers).status_code not in (401, 403)


@pytest.mark.parametrize("page", PAGES + ["/ms/"])
def test_pages_without_a_session_redirect_to_login(client, ent, page):
    path = page.format(ent=ENT)
    resp = client.get(path)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("/login?next=")
    from urllib.parse import parse_qs, urlsplit

    assert parse_qs(urlsplit(location).query)["next"] == [path]


@pytest.mark.parametrize("page", PAGES)
def test_pages_of_another_enterprise_are_403(client, ent, other_headers, page):
    resp = client.get(page.format(ent=ENT), headers=other_headers)
    assert resp.status_code == 403
    assert "Нет доступа" in resp.get_data(as_text=True)


def test_an_enterprise_admin_is_sent_to_their_own_page(client, db_url, ent):
    token = enterprise_token(db_url, OTHER_ENT)
    resp = client.get("/ms/", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/ms-admin/?enterprise_number={OTHER_ENT}"


def test_session_changes_need_the_csrf_token(client, db_url, ent):
    csrf = _login(client, enterprise_token(db_url, ENT))
    body = {"notifications": {"notify_outgoing": True}}
    assert client.get(f"/ms-admin/config/{ENT}").status_code == 200  # reads need no token
    refused = client.put(f"/ms-admin/config/{ENT}", json=body)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "csrf_failed"
    wrong = client.put(f"/ms-admin/config/{ENT}", json=body, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    ok = client.put(f"/ms-admin/config/{ENT}", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.get_json()["notifications"]["notify_outgoing"] is True


@pytest.mark.parametrize(("method", "path", "body"), [r for r in API_ROUTES if r[0] != "GET"],
                         ids=[i for i, r in zip(ROUTE_IDS, API_ROUTES) if r[0] != "GET"])
def test_every_session_change_without_csrf_is_refused(client, db_url, ent, method, path, body):
    _login(client, enterprise_token(db_url, ENT))
    resp = _call(client, method, path, body)
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "csrf_failed"


def test_a_session_of_one_enterprise_cannot_open_another(client, db_url, ent):
    csrf = _login(client, enterprise_token(db_url, ENT))
    assert client.get(f"/ms-admin/config/{OTHER_ENT}").status_code == 403
    assert client.put(f"/ms-admin/config/{OTHER_ENT}", json={}, headers={"X-CSRF-Token": csrf}).status_code == 403
    assert client.get(f"/ms-admin/?enterprise_number={OTHER_ENT}").status_code == 403
