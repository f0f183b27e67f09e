"""Every route answers errors as ``{"error": {"code", "message", "details"}}`` with a real status.

The route list is read from the app's ``url_map`` (host and plugins alike), so a route added later is
checked without touching this file. Requests here never carry admin credentials and never pass
validation, so no route does real work (nothing leaves 127.0.0.1).

Exemptions the contract makes for HTML pages: ``/login`` (the browser's form) answers its own errors
(401 wrong token, 429 throttled) as the HTML page, and an admin page (``GET /ms/``, ``/ms-admin/``...)
sends a visitor without credentials to ``/login?next=<page>`` (302) instead of a 401.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Rule

from tests.conftest import INTERNAL_TOKEN

MAX_BODY = 1024 * 1024
FOREIGN = {"REMOTE_ADDR": "203.0.113.9"}
LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
JSON = {"Accept": "application/json"}

INTERNAL_PREFIXES = ("/dispatch/", "/internal/", "/customer-name/", "/responsible-extension/")
INTERNAL_EXACT = ("/ms/notify-incoming", "/ms/log-call", "/ms/customer-by-phone", "/ms/responsible-extension")
ADMIN_PREFIXES = ("/api/enterprises/", "/ms-admin/")
ADMIN_EXACT = ("/ms/",)
HTML_FORMS = ("/login",)


def is_internal(path: str) -> bool:
    return path.startswith(INTERNAL_PREFIXES) or path in INTERNAL_EXACT


def is_admin(path: str) -> bool:
    return path.startswith(ADMIN_PREFIXES) or path in ADMIN_EXACT or path.rstrip("/") == "/ms-admin"


def concrete(rule: Rule) -> str:
    """The rule's path with every variable filled in (numbers where a converter wants them)."""

    def fill(match: re.Match[str]) -> str:
        converter = match.group(1) or "default"
        return {"int": "1", "float": "1.0", "uuid": "00000000-0000-4000-8000-000000000000",
                "path": "nothing-here.css"}.get(converter, "0367")

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>", fill, rule.rule)


def routes(app: Any) -> Iterator[tuple[str, str, Rule]]:
    """``(path, method, rule)`` for every method every rule serves (HEAD/OPTIONS left out)."""
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield concrete(rule), method, rule


def error_problems(resp: Any) -> list[str]:
    """Why ``resp`` is not a proper JSON error (empty when it is)."""
    problems = []
    text = resp.get_data(as_text=True)
    if "Traceback" in text or "<html" in text.lower() or "<!doctype" in text.lower():
        problems.append("HTML or a stack trace in the body")
    body = resp.get_json(silent=True)
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return [*problems, f"not the JSON error shape: {text[:200]!r}"]
    err = body["error"]
    if set(err) != {"code", "message", "details"}:
        problems.append(f"error keys {sorted(err)}")
    if not (isinstance(err.get("code"), str) and re.fullmatch(r"[a-z][a-z0-9_]*", err["code"])):
        problems.append(f"code {err.get('code')!r}")
    if not isinstance(err.get("message"), str) or not err["message"]:
        problems.append("empty message")
    if not isinstance(err.get("details"), dict):
        problems.append("details is not an object")
    return problems


def check(failures: list[str], label: str, resp: Any, status: int | tuple[int, ...], code: str | None = None) -> None:
    wanted = status if isinstance(status, tuple) else (status,)
    if resp.status_code not in wanted:
        failures.append(f"{label}: {resp.status_code} instead of {wanted}: {resp.get_data(as_text=True)[:200]!r}")
        return
    failures.extend(f"{label}: {p}" for p in error_problems(resp))
    got = (resp.get_json(silent=True) or {}).get("error", {}).get("code")
    if code is not None and got != code:
        failures.append(f"{label}: code {got!r} instead of {code!r}")


def test_the_app_has_the_routes_this_sweep_is_about(app):
    paths = {rule.rule for rule in app.url_map.iter_rules()}
    assert {"/health", "/metrics", "/dispatch/call-event"} <= paths


def test_an_unknown_path_is_a_json_404(client):
    failures: list[str] = []
    for method in METHODS:
        check(failures, f"{method} /no/such/path", client.open("/no/such/path", method=method, headers=JSON), 404,
              "not_found")
    assert not failures, "\n".join(failures)


def test_a_wrong_method_is_a_json_405_with_an_allow_header(app, client):
    adapter = app.url_map.bind("localhost")
    failures: list[str] = []
    for rule in app.url_map.iter_rules():
        path = concrete(rule)
        for method in METHODS:
            try:
                adapter.match(path, method=method)
                continue  # some rule serves it
            except MethodNotAllowed as exc:
                allowed = set(exc.valid_methods or ())
            except NotFound:
                continue
            resp = client.open(path, method=method, headers=JSON, environ_base=LOOPBACK)
            check(failures, f"{method} {path}", resp, 405, "method_not_allowed")
            header = {m.strip() for m in resp.headers.get("Allow", "").split(",") if m.strip()}
            if not header or not allowed <= header | {"HEAD", "OPTIONS"}:
                failures.append(f"{method} {path}: Allow {resp.headers.get('Allow')!r}, serves {sorted(allowed)}")
    assert not failures, "\n".join(failures)


def test_a_body_over_1_mib_is_a_json_413_on_every_route(app, client):
    failures: list[str] = []
    body = b"x" * (MAX_BODY + 1)
    for path, method, _rule in routes(app):
        resp = client.open(path, method=method, data=body, content_type="application/json",
                           headers=JSON, environ_base=LOOPBACK)
        check(failures, f"{method} {path}", resp, 413, "payload_too_large")
    assert not failures, "\n".join(failures)


def test_a_body_of_exactly_1_mib_is_not_refused_for_its_size(client):
    prefix, suffix = '{"token": "nobody", "uniqueId": "1.1", "event_type": "dial", "raw": {"p": "', '"}}'
    data = prefix + "x" * (MAX_BODY - len(prefix) - len(suffix)) + suffix
    assert len(data) == MAX_BODY
    resp = client.post("/dispatch/call-event", data=data, content_type="application/json")
    assert resp.status_code == 404  # read and parsed: the token is unknown


def test_internal_routes_refuse_a_foreign_peer_with_a_json_403(app, client):
    failures: list[str] = []
    for path, method, _rule in routes(app):
        if not is_internal(path):
            continue
        resp = client.open(path, method=method, json={}, headers=JSON, environ_base=FOREIGN)
        check(failures, f"{method} {path}", resp, 403, "forbidden")
    assert not failures, "\n".join(failures)


def test_internal_routes_refuse_a_loopback_peer_relaying_x_forwarded_for(app, client):
    failures: list[str] = []
    for path, method, _rule in routes(app):
        if is_internal(path):
            resp = client.open(path, method=method, json={}, environ_base=LOOPBACK,
                               headers={**JSON, "X-Forwarded-For": "203.0.113.9"})
            check(failures, f"{method} {path}", resp, 403, "forbidden")
    assert not failures, "\n".join(failures)


def test_the_internal_token_opens_internal_routes_from_anywhere(app, client):
    failures: list[str] = []
    for path, method, _rule in routes(app):
        if not is_internal(path):
            continue
        for extra in ({}, {"X-Forwarded-For": "203.0.113.7"}):
            resp = client.open(path, method=method, json={}, environ_base=FOREIGN,
                               headers={**JSON, "X-Internal-Token": INTERNAL_TOKEN, **extra})
            if resp.status_code in (401, 403):
                failures.append(f"{method} {path} {extra}: {resp.status_code}")
    wrong = client.post("/dispatch/call-event", json={}, environ_base=FOREIGN,
                        headers={"X-Internal-Token": INTERNAL_TOKEN[:-1] + "X"})
    check(failures, "wrong internal token", wrong, 403)
    assert not failures, "\n".join(failures)


def test_admin_routes_without_credentials_are_a_json_401(app, client):
    failures: list[str] = []
    seen = 0
    for path, method, _rule in routes(app):
        if not is_admin(path):
            continue
        seen += 1
        for headers in (JSON, {**JSON, "Authorization": "Bearer not-a-real-token-000000"},
                        {**JSON, "Authorization": "Basic YWRtaW46YWRtaW4="}):
            resp = client.open(path, method=method, json={}, headers=headers)
            label = f"{method} {path} {headers.get('Authorization', 'no credentials')}"
            if method == "GET" and resp.status_code == 302:  # an HTML page: to the login form
                if not resp.headers.get("Location", "").startswith(f"/login?next={path}"):
                    failures.append(f"{label}: 302 to {resp.headers.get('Location')!r}")
                continue
            check(failures, label, resp, 401)
    assert not failures, "\n".join(failures)
    assert seen, "no admin route found: update ADMIN_PREFIXES"


def json_body_routes(app: Any) -> list[tuple[str, str]]:
    """Internal routes that take a JSON body (reachable from loopback without credentials)."""
    return [(path, method) for path, method, _rule in routes(app)
            if is_internal(path) and method in ("POST", "PUT", "PATCH")]


def test_internal_json_routes_answer_415_400_and_422_in_the_error_shape(app, client):
    failures: list[str] = []
    targets = json_body_routes(app)
    assert ("/dispatch/call-event", "POST") in targets
    for path, method in targets:
        label = f"{method} {path}"
        resp = client.open(path, method=method, data="token=x", content_type="text/plain", environ_base=LOOPBACK)
        check(failures, f"{label} text/plain", resp, 415, "unsupported_media_type")
        resp = client.open(path, method=method, data='{"token": ', content_type="application/json",
                           environ_base=LOOPBACK)
        check(failures, f"{label} broken JSON", resp, 400, "bad_json")
        resp = client.open(path, method=method, data=b'{"a": "\xff"}', content_type="application/json",
                           environ_base=LOOPBACK)
        check(failures, f"{label} not UTF-8", resp, 400, "bad_json")
        resp = client.open(path, method=method, json=[1, 2], environ_base=LOOPBACK)
        check(failures, f"{label} JSON array", resp, 422, "validation_error")
        resp = client.open(path, method=method, json={}, environ_base=LOOPBACK)
        check(failures, f"{label} empty object", resp, 422, "validation_error")
        if resp.status_code == 422 and not (resp.get_json() or {}).get("error", {}).get("details"):
            failures.append(f"{label}: 422 without field details")
    assert not failures, "\n".join(failures)


def test_dispatch_schema_errors_name_each_field(client):
    resp = client.post("/dispatch/call-event", json={"token": "", "uniqueId": "1.1", "event_type": "dial",
                                                     "raw": "not an object", "origin": "later"})
    assert resp.status_code == 422
    assert error_problems(resp) == []
    details = resp.get_json()["error"]["details"]
    assert set(details) == {"token", "raw", "origin"}
    assert all(isinstance(v, list) and v for v in details.values())


def test_a_deeply_nested_json_body_is_a_400_not_a_500(client):
    resp = client.post("/dispatch/call-event", data="[" * 100_000 + "]" * 100_000, content_type="application/json")
    assert resp.status_code == 400
    assert error_problems(resp) == []


def test_no_route_answers_abuse_with_a_500_or_a_non_json_error(app, client):
    """Anonymous and malformed requests on every route: whatever the status, errors are proper JSON."""
    failures: list[str] = []
    abuses = [
        {"headers": JSON},
        {"headers": JSON, "environ_base": FOREIGN, "json": {}},
        {"headers": JSON, "environ_base": LOOPBACK, "data": "\x00\xff{", "content_type": "application/json"},
        {"headers": JSON, "environ_base": LOOPBACK, "data": "a=1", "content_type": "text/csv"},
        {"headers": {**JSON, "Authorization": "Bearer x"}, "environ_base": LOOPBACK, "json": {"a": [None] * 3}},
    ]
    for path, method, _rule in routes(app):
        for n, kwargs in enumerate(abuses):
            resp = client.open(path, method=method, **kwargs)
            label = f"{method} {path} abuse#{n}"
            if resp.status_code >= 500:
                failures.append(f"{label}: {resp.status_code} {resp.get_data(as_text=True)[:200]!r}")
            elif resp.status_code >= 400 and not (path in HTML_FORMS and resp.mimetype == "text/html"):
                failures.extend(f"{label}: {p}" for p in error_problems(resp))
    assert not failures, "\n".join(failures)


@pytest.fixture
def app_with_a_crashing_route(app: Any) -> Any:
    def crash() -> Any:
        raise RuntimeError("secret internals /etc/passwd")

    app.add_url_rule("/_probe/crash", "probe_crash", crash)
    return app


def test_an_unexpected_exception_is_a_json_500_without_internals(app_with_a_crashing_route):
    resp = app_with_a_crashing_route.test_client().get("/_probe/crash")
    assert resp.status_code == 500
    assert error_problems(resp) == []
    assert "passwd" not in resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == "internal_error"
