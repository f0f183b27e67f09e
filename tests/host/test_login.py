"""``/login`` and ``/logout``: the admin browser session, its throttling, redirects and CSRF."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, app_config
from tests.factories import make_enterprise


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"HOST_INTEGRATIONS": "tests.plugins.echo:plugin"}


def login(client: Any, token: str = ADMIN_TOKEN, next_path: str = "/ms/", **kwargs: Any) -> Any:
    return client.post("/login", data={"token": token, "next": next_path}, **kwargs)


def session_csrf(client: Any) -> str:
    with client.session_transaction() as sess:
        return str(sess["csrf"])


def test_login_page_is_a_russian_form_with_the_next_path(client):
    resp = client.get("/login?next=/ms-admin/%3Fenterprise_number%3D100")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "Вход для администратора" in page and 'name="token"' in page and 'type="password"' in page
    assert 'name="next" value="/ms-admin/?enterprise_number=100"' in page
    assert 'name="viewport"' in page  # readable on a phone
    # No CDN or other origin: every link and script is a same-origin path.
    assert all(url.startswith("/") and not url.startswith("//")
               for url in re.findall(r'(?:href|src|action)="([^"]*)"', page))
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert client.get("/static/host.css").status_code == 200


def test_login_page_escapes_what_it_echoes(client):
    page = client.get('/login?next=/x"><script>alert(1)</script>').get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&#34;&gt;&lt;script&gt;" in page


@pytest.mark.parametrize("evil", ["//evil.invalid", "http://evil.invalid", "https://evil.invalid/ms/",
                                  "/\\evil.invalid", "javascript:alert(1)", "", "ms/"])
def test_login_never_redirects_off_site(client, evil):
    resp = login(client, next_path=evil)
    assert resp.status_code == 303
    assert resp.headers["Location"] == "/ms/"
    assert 'value="/ms/"' in client.get("/login?next=" + evil).get_data(as_text=True)


def test_global_admin_login_starts_a_session_and_redirects_with_303(client, db_url):
    make_enterprise(db_url, "100", token="T100")
    resp = login(client, next_path="/ms-admin/?enterprise_number=100")
    assert resp.status_code == 303 and resp.headers["Location"] == "/ms-admin/?enterprise_number=100"
    cookie = resp.headers["Set-Cookie"]
    assert "ms_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # PUBLIC_BASE_URL is http here
    assert client.get("/api/enterprises/100").status_code == 200
    page = client.get("/login").get_data(as_text=True)
    assert "глобальный администратор" in page and 'name="csrf-token"' in page


def test_enterprise_token_login_opens_only_its_enterprise(client, db_url):
    make_enterprise(db_url, "100", token="T100")
    make_enterprise(db_url, "200", token="T200")
    minted = client.post("/api/enterprises/100/admin-tokens", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert login(client, minted.get_json()["token"]).status_code == 303
    assert client.get("/api/enterprises/100").status_code == 200
    assert client.get("/api/enterprises/200").status_code == 403
    assert client.get("/api/enterprises/100/admin-tokens").status_code == 403


def test_a_wrong_token_is_401_with_the_page_and_a_russian_error(client):
    resp = login(client, "not-the-token")
    assert resp.status_code == 401 and resp.mimetype == "text/html"
    assert "Неверный токен" in resp.get_data(as_text=True)
    assert "ms_session=" not in resp.headers.get("Set-Cookie", "")
    assert client.get("/api/enterprises/100").status_code == 401


def test_login_is_throttled_per_client_address(client):
    attacker = {"REMOTE_ADDR": "127.0.0.7"}
    for _ in range(10):
        assert login(client, "guess", environ_base=attacker).status_code == 401
    blocked = login(client, environ_base=attacker)  # even the right token
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "Слишком много" in blocked.get_data(as_text=True)
    assert login(client, environ_base={"REMOTE_ADDR": "127.0.0.8"}).status_code == 303


def test_session_cookie_is_secure_when_the_public_url_is_https(db_url, tmp_path):
    from host_app import create_app
    from host_app.state import host_state

    app = create_app(app_config(db_url, str(tmp_path / "var"), PUBLIC_BASE_URL="https://pbx.example.invalid",
                                HOST_INTEGRATIONS="tests.plugins.echo:plugin"))
    try:
        assert "Secure" in login(app.test_client()).headers["Set-Cookie"]
    finally:
        host_state(app).services.db.close()  # type: ignore[attr-defined]


def test_logout_needs_the_csrf_token(client):
    login(client)
    resp = client.post("/logout")
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "csrf_failed"
    assert client.get("/api/enterprises/404").status_code == 404  # still logged in
    resp = client.post("/logout", data={"csrf_token": session_csrf(client)})
    assert resp.status_code == 303 and resp.headers["Location"] == "/login"
    assert client.get("/api/enterprises/404").status_code == 401


def test_logout_accepts_the_csrf_header_and_is_harmless_without_a_session(client):
    assert client.post("/logout").status_code == 303
    login(client)
    assert client.post("/logout", headers={"X-CSRF-Token": session_csrf(client)}).status_code == 303
    assert client.get("/api/enterprises/404").status_code == 401


def test_session_made_changes_need_the_csrf_token(client, db_url):
    make_enterprise(db_url, "100", token="T100")
    login(client)
    resp = client.put("/api/enterprises/100/smart", json={"mode": "off"})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "csrf_failed"
    resp = client.put("/api/enterprises/100/smart", json={"mode": "off"}, headers={"X-CSRF-Token": "forged"})
    assert resp.status_code == 403
    resp = client.put("/api/enterprises/100/smart", json={"mode": "off"},
                      headers={"X-CSRF-Token": session_csrf(client)})
    assert resp.status_code == 200 and resp.get_json()["mode"] == "off"
    # An HTML form posts the token as a field.
    resp = client.post("/api/enterprises/100/admin-tokens", data={"label": "x", "csrf_token": session_csrf(client)})
    assert resp.status_code == 201 and resp.get_json()["label"] == "x"
    assert client.delete("/api/enterprises/100").status_code == 403
    assert client.get("/api/enterprises/100").status_code == 200  # reads need no CSRF token
