"""Who may call what: every route of the url_map against every kind of caller (contract §4).

The classification is the explicit table in ``routes.py``; a route without a row fails the first test.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.security.conftest import GLOBAL, INTERNAL, OUTSIDER, bearer, call
from tests.security.routes import ROUTES, by_kind

ADMIN_API = by_kind("admin", "global")
STATE_CHANGING = [r for r in by_kind("admin", "global") if r.method != "GET"]
IDS = {"ids": lambda r: r.id}


def _routes_of(app: Any) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_route_has_a_row(app):
    table = {(r.method, r.rule) for r in ROUTES}
    assert len(table) == len(ROUTES), "a route has two rows"
    missing = _routes_of(app) - table
    assert not missing, f"routes with no row in tests/security/routes.py (who may call them?): {sorted(missing)}"
    assert not table - _routes_of(app), f"rows for routes that no longer exist: {sorted(table - _routes_of(app))}"


def _error_code(resp: Any) -> str:
    body = resp.get_json(silent=True) or {}
    return str((body.get("error") or {}).get("code"))


# -- admin and global-admin JSON routes -------------------------------------------------------------------


@pytest.mark.parametrize("route", ADMIN_API, **IDS)
def test_admin_routes_refuse_a_caller_without_credentials(client, tenants, route):
    resp = call(client, route, tenants)
    assert (resp.status_code, _error_code(resp)) == (401, "unauthorized")


WRONG_AUTHORIZATION = [f"Bearer {t}" for t in ("ent_not-a-real-token", ADMIN_TOKEN + "x", ADMIN_TOKEN[:-1], "")] + [
    "Basic YWRtaW46YWRtaW4=", ADMIN_TOKEN, f"Token {ADMIN_TOKEN}"]


@pytest.mark.parametrize("route", ADMIN_API, **IDS)
def test_admin_routes_refuse_a_wrong_token(client, tenants, route):
    for value in WRONG_AUTHORIZATION:
        resp = call(client, route, tenants, headers={"Authorization": value})
        assert (resp.status_code, _error_code(resp)) == (401, "unauthorized"), value


@pytest.mark.parametrize("route", ADMIN_API, **IDS)
def test_admin_routes_refuse_another_enterprises_admin(client, tenants, route):
    resp = call(client, route, tenants, headers=bearer(tenants.other_token))
    assert (resp.status_code, _error_code(resp)) == (403, "forbidden")


@pytest.mark.parametrize("route", ADMIN_API, **IDS)
def test_an_enterprise_admin_opens_its_own_routes_and_no_global_one(client, tenants, route):
    resp = call(client, route, tenants, headers=bearer(tenants.own_token))
    if route.kind == "global":
        assert (resp.status_code, _error_code(resp)) == (403, "forbidden")
    else:
        assert resp.status_code not in (401, 403), resp.get_json()


@pytest.mark.parametrize("route", ADMIN_API, **IDS)
def test_the_global_admin_opens_every_admin_route(client, tenants, route):
    assert call(client, route, tenants, headers=GLOBAL).status_code not in (401, 403)


# -- HTML pages ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", by_kind("page"), **IDS)
def test_pages_send_strangers_to_the_login_page_and_back(client, tenants, route):
    for headers in ({}, bearer("ent_wrong")):
        resp = call(client, route, tenants, headers={"Accept": "text/html", **headers})
        assert resp.status_code == 302
        location = urlsplit(resp.headers["Location"])
        assert location.path == "/login" and not location.netloc
        assert parse_qs(location.query)["next"] == [tenants.path(route)]


@pytest.mark.parametrize("route", [r for r in by_kind("page") if "{ent}" in r.path], **IDS)
def test_pages_refuse_another_enterprises_admin(client, tenants, route):
    resp = call(client, route, tenants, headers=bearer(tenants.other_token))
    assert resp.status_code == 403
    assert "text/html" in resp.headers["Content-Type"]


# -- internal routes ---------------------------------------------------------------------------------------

INTERNAL_ROUTES = by_kind("internal")
REFUSED_CALLERS = {
    "outsider": (OUTSIDER, {}),
    "outsider claiming loopback": (OUTSIDER, {"X-Forwarded-For": "127.0.0.1", "X-Real-Ip": "127.0.0.1"}),
    "loopback relaying an outsider": ("127.0.0.1", {"X-Forwarded-For": OUTSIDER}),
    "loopback behind a Forwarded proxy": ("127.0.0.1", {"Forwarded": f"for={OUTSIDER}"}),
    "outsider with a wrong internal token": (OUTSIDER, {"X-Internal-Token": "not-the-internal-token-0123"}),
    "outsider with the global admin token": (OUTSIDER, GLOBAL),
}
ADMITTED_CALLERS = {
    "loopback": ("127.0.0.1", {}),
    "loopback IPv6": ("::1", {}),
    "outsider with the internal token": (OUTSIDER, INTERNAL),
}


@pytest.mark.parametrize("route", INTERNAL_ROUTES, **IDS)
def test_internal_routes_refuse_callers_that_are_not_local(client, tenants, route):
    for caller, (peer, headers) in REFUSED_CALLERS.items():
        resp = call(client, route, tenants, peer=peer, headers=headers)
        assert (resp.status_code, _error_code(resp)) == (403, "forbidden"), caller


@pytest.mark.parametrize("route", INTERNAL_ROUTES, **IDS)
def test_internal_routes_admit_loopback_and_the_internal_token(client, tenants, route):
    for caller, (peer, headers) in ADMITTED_CALLERS.items():
        assert call(client, route, tenants, peer=peer, headers=headers).status_code != 403, caller


# -- webhook, PBX token, public ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["2f6c1a9e-7b55-4e0b-9d0f-3c2b1a0e9f11", "100", "../100", "%00"])
def test_the_webhook_answers_404_to_an_unknown_key(client, tenants, key):
    route = by_kind("webhook")[0]
    resp = call(client, route, tenants, path=f"/ms/webhook/{key}", headers=GLOBAL)
    assert (resp.status_code, _error_code(resp)) == (404, "not_found")


@pytest.mark.parametrize("token", [None, "", "tok-200x", "tok-100 OR 1=1"])
def test_getcustomerdata_answers_404_without_the_enterprise_token(client, tenants, token):
    route = by_kind("pbx_token")[0]
    headers = {} if token is None else {"Token": token}
    resp = call(client, route, tenants, headers={**headers, **GLOBAL})
    assert (resp.status_code, _error_code(resp)) == (404, "not_found")
    assert call(client, route, tenants, headers={"Token": "tok-100"}).status_code == 200


@pytest.mark.parametrize("route", by_kind("public"), **IDS)
def test_public_routes_need_no_credentials(client, tenants, route):
    assert call(client, route, tenants, peer=OUTSIDER).status_code == 200


@pytest.mark.parametrize("path", ["/static/../auth.py", "/ms/static/../../plugin.py", "/static/%2e%2e/auth.py"])
def test_static_files_never_leave_their_folder(client, path):
    assert client.get(path).status_code == 404


# -- login, sessions, CSRF ---------------------------------------------------------------------------------


def _login(client: Any, token: str = ADMIN_TOKEN) -> str:
    resp = client.post("/login", data={"token": token, "next": "/ms/"})
    assert resp.status_code == 303, resp.status_code
    with client.session_transaction() as session:
        return str(session["csrf"])


def test_a_wrong_login_token_is_401_and_the_session_cookie_is_strict(client, tenants):
    assert client.post("/login", data={"token": "wrong-token"}).status_code == 401
    resp = client.post("/login", data={"token": ADMIN_TOKEN, "next": "//evil.invalid/x"})
    assert resp.headers["Location"] == "/ms/"  # never an open redirect
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("route", STATE_CHANGING + by_kind("logout"), **IDS)
def test_a_change_made_with_the_session_needs_the_csrf_token(client, tenants, route):
    token = _login(client)
    for headers in ({}, {"X-CSRF-Token": "wrong-csrf-token"}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": token[:-1]}):
        resp = call(client, route, tenants, headers=headers)
        assert (resp.status_code, _error_code(resp)) == (403, "csrf_failed"), headers


@pytest.mark.parametrize("route", STATE_CHANGING, **IDS)
def test_a_change_made_with_the_session_and_its_csrf_token_goes_through(client, tenants, route):
    token = _login(client)
    assert call(client, route, tenants, headers={"X-CSRF-Token": token}).status_code not in (401, 403)


def test_a_cross_site_form_post_cannot_use_the_session(client, tenants):
    _login(client)
    resp = client.post(f"/api/enterprises/{tenants.names['ent']}/admin-tokens",
                       data={"label": "from evil.invalid", "csrf_token": "guessed"})
    assert (resp.status_code, _error_code(resp)) == (403, "csrf_failed")


def test_the_csrf_token_is_on_the_page_and_nowhere_else(client, tenants):
    token = _login(client)
    page = client.get(f"/ms-admin/?enterprise_number={tenants.names['ent']}").get_data(as_text=True)
    assert re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1) == token  # type: ignore[union-attr]
    assert token not in client.get(f"/ms-admin/config/{tenants.names['ent']}").get_data(as_text=True)


def test_an_enterprise_session_opens_only_its_own_enterprise(client, tenants):
    _login(client, tenants.own_token)
    assert client.get(f"/ms-admin/config/{tenants.names['ent']}").status_code == 200
    assert client.get("/ms-admin/config/200").status_code == 403
    assert client.get("/api/enterprises/100/admin-tokens").status_code == 403
