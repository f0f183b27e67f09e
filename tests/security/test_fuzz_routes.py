"""Every route, fuzzed (hypothesis): malformed JSON, wrong types, huge and deeply nested bodies, invalid
UTF-8, SQL and shell metacharacters in bodies, paths, queries and headers.

Requests carry credentials that open the route (the global admin, a loopback peer, the enterprise's
PBX token, its webhook path), so that the bodies reach the code behind the auth check. Whatever comes
in: never a 5xx, never a stack trace, every 4xx of the JSON API is ``{"error": {code, message,
details}}``, and the service is still healthy afterwards. Raw bytes that werkzeug's test client cannot
send (invalid UTF-8 on the wire, CR/LF in headers) go to a real gunicorn in ``test_fuzz_raw.py``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import GLOBAL, Tenants
from tests.security.routes import ROUTES, Route

EXAMPLES = 25
MiB = 1024 * 1024
HOSTILE = ("'; DROP TABLE enterprises; --", "1 OR 1=1", "$(touch /tmp/pwned)", "`id`", "; rm -rf / #",
           "|| reboot", "%00", "\u0000", "\x00nul", "../../etc/passwd", "<script>alert(1)</script>", "{{7*7}}",
           "${jndi:ldap://x.invalid/a}", "\r\nSet-Cookie: x=1", "\u202e\u2066", "😀" * 50, "\ud800",
           "Robert'); DELETE FROM jobs; --", "' || pg_sleep(10) --", "NaN", "-1", "1e309", "0x41")
# Keys the routes read, so that generated objects hit real fields with wrong values.
KEYS = ("token", "uniqueId", "event_type", "raw", "origin", "record_url", "enterprise_number", "phone",
        "extensions", "unique_id", "direction", "extension", "start_time", "end_time", "status", "mapping",
        "replace", "call_id", "label", "name", "secret", "active", "timezone", "default_region", "pbx", "primary",
        "mode", "lines", "enabled", "integration_code", "login", "password", "api_token", "api_url",
        "phone_api_url", "notifications", "employee_mapping", "click_to_call", "srcNumber", "destNumber", "uid",
        "UniqueId", "Phone", "TrunkId", "LoadDialPlan", "CallType", "Extensions", "Trunk", "csrf_token", "next")
SPECIAL_BODIES: tuple[bytes, ...] = (
    b"", b"null", b"[]", b"123", b'"text"', b"{", b'{"a": }', b"{'single': 'quotes'}", b"NaN", b"\xef\xbb\xbf{}",
    b"\xff\xfe\xfd", b'{"token": "\xc3\x28"}', b'{"raw": {"Phone": "\xed\xa0\x80"}}',  # invalid UTF-8 inside JSON
    b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000,  # nesting depth 10 000
    b'{"raw": ' + b"[" * 900 + b"]" * 900 + b"}",  # deep, yet within the JSON parser's limit
    b'{"x": "' + b"a" * MiB + b'"}',  # over 1 MiB: 413
    b'{"raw": {"Phone": "' + b"9" * (MiB - 64) + b'"}, "uniqueId": "1.1"}',  # just under 1 MiB
    b'{"a": "\\u0000", "raw": {"Phone": "\\u0000"}, "phone": "\\u0000", "name": "\\u0000"}',
    b'{"token": "tok-100", "uniqueId": "9.2", "event_type": "dial", "raw": {"Phone": 1e400, "CallType": -1e999}}',
    b'{"token": "tok-100", "uniqueId": "9.3", "event_type": "hangup", "raw": {"Phone": "\\ud800\\udfff\\ud800"}}',
)
CONTENT_TYPES = ("application/json", "application/json; charset=latin-1", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "application/ld+json",
                 "")
EXTRA_HEADERS = ("X-CSRF-Token", "Token", "Lognex-Content-MD5", "X-Internal-Token", "Accept", "Cookie",
                 "X-Forwarded-For", "Accept-Language", "If-None-Match", "Range")

texts = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=60))
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.sampled_from(KEYS), texts), inner,
                                                                         max_size=4)),
    max_leaves=12)


# Bodies that get far into each route (an event that is stored, a config that is saved...): the fuzzer
# changes their fields, so that a hostile value meets the code behind the schema, not only the schema.
RAW = {"UniqueId": "9.1", "CallType": 0, "Phone": "375291234567", "Trunk": "0001363", "Extensions": ["150"]}
DEEP: dict[str, dict[str, Any]] = {
    "POST /dispatch/call-event": {"token": "tok-100", "uniqueId": "9.1", "event_type": "dial", "raw": RAW},
    "POST /internal/ms/call-event": {"enterprise_number": "100", "uniqueId": "9.1", "event_type": "dial", "raw": RAW},
    "POST /internal/ms/notify-incoming": {"enterprise_number": "100", "phone": "375291234567", "extensions": ["150"]},
    "POST /internal/ms/log-call": {"enterprise_number": "100", "phone": "375291234567", "direction": "in",
                                   "start_time": "2026-01-01T10:00:00+03:00", "end_time": "2026-01-01T10:01:00+03:00",
                                   "status": "answered", "extension": "150", "record_url": "https://r.invalid/1.mp3"},
    "PUT /ms-admin/config/<ent>": {"login": "admin@sec", "default_region": "BY",
                                   "incoming_call_actions": {"order_status": "Новый", "create_order": "always"},
                                   "employee_mapping": {"150": "11111111-1111-4111-8111-111111111111"}},
    "PUT /api/enterprises/<number>": {"name": "Renamed", "timezone": "Europe/Minsk", "secret": "s",
                                      "pbx": {"kind": "http", "url": "http://127.0.0.1:9/x", "client_id": "c"}},
    "PUT /api/enterprises/<number>/smart": {"mode": "routing+name", "lines": {"0001363": {"name": "L", "enabled": True}},
                                            "extension_ids": {"150": "u1"}},
}
DEEP["POST /ms/notify-incoming"] = DEEP["POST /internal/ms/notify-incoming"]
DEEP["POST /ms/log-call"] = DEEP["POST /internal/ms/log-call"]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))] or [path]
    return [path]


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    return [_replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


def _mutated(route: Route, tenants: Tenants) -> st.SearchStrategy[bytes]:
    """The route's own far-reaching body with one field (at any depth) given a wrong type or a hostile value,
    or with fields added."""
    sample = DEEP.get(route.id) or tenants.body(route)
    if not isinstance(sample, dict):
        sample = {}
    one_leaf = st.tuples(st.sampled_from(_leaves(sample)), json_values).map(lambda pv: _replaced(sample, *pv))
    added = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=3).map(lambda c: {**sample, **c})
    return st.one_of(one_leaf, added).map(_dumps)


def bodies(route: Route, tenants: Tenants) -> st.SearchStrategy[bytes]:
    return st.one_of(
        _mutated(route, tenants),
        st.sampled_from(SPECIAL_BODIES),
        json_values.map(_dumps),
        st.binary(max_size=200),
    )


def _fuzzed_path(route: Route, tenants: Tenants, value: str | None) -> str:
    """The sample path, or with its enterprise (or key, or phone) replaced by ``value``."""
    path = tenants.path(route)
    if value is None:
        return path
    quoted = quote(value.encode("utf-8", "surrogatepass"), safe="")
    for sample in (tenants.names["webhook"], tenants.names["phone"], f"/{tenants.names['ent']}"):
        if sample in path:
            return path.replace(sample, ("/" + quoted) if sample.startswith("/") else quoted, 1)
    return path


def _credentials(route: Route) -> dict[str, str]:
    if route.kind == "pbx_token":
        return {"Token": "tok-100"}
    return dict(GLOBAL)


def _query(values: dict[str, str]) -> str:
    return "&".join(f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in values.items())


def check_answer(route: Route, resp: Any) -> None:
    text = resp.get_data(as_text=True)
    assert resp.status_code < 500, f"{route.id} -> {resp.status_code}: {text[:300]}"
    assert "Traceback" not in text and 'File "/' not in text, f"{route.id} leaks a stack trace"
    json_route = route.kind not in ("page", "public", "login", "logout")
    if 400 <= resp.status_code < 500 and (json_route or resp.mimetype == "application/json"):
        assert resp.mimetype == "application/json", f"{route.id} -> {resp.status_code} as {resp.mimetype}"
        error = resp.get_json()["error"]
        assert set(error) == {"code", "message", "details"}, error
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.id)
def test_no_input_makes_a_route_fail_or_leak(client, tenants, route):
    @FUZZ
    @given(data=st.data())
    def one(data: st.DataObject) -> None:
        path_value = data.draw(st.one_of(st.none(), texts), label="path value")
        path = _fuzzed_path(route, tenants, path_value)
        query = data.draw(st.dictionaries(st.sampled_from(KEYS + ("limit", "before_id", "since", "window", "q")),
                                          texts, max_size=3), label="query")
        if query:
            path += ("&" if "?" in path else "?") + _query(query)
        headers = {**_credentials(route),
                   **data.draw(st.dictionaries(st.sampled_from(EXTRA_HEADERS), header_values, max_size=3),
                               label="headers")}
        content_type = data.draw(st.sampled_from(CONTENT_TYPES), label="content type")
        if content_type:
            headers["Content-Type"] = content_type
        body = data.draw(bodies(route, tenants), label="body") if route.method != "GET" else b""
        resp = client.open(path, method=route.method, data=body, headers=headers,
                           environ_base={"REMOTE_ADDR": "127.0.0.1"})
        check_answer(route, resp)

    one()
    assert client.get("/health").status_code == 200


# Every field of every route's far-reaching body, in turn, gets each of these: what PostgreSQL cannot
# store (NUL, a lone surrogate, a number out of range), the wrong JSON type, a huge or deep value.
# Systematic where the fuzzer above samples: a class of bad value that breaks one field is found for sure.
OUT_OF_RANGE = "__1e400__"
KILLERS: tuple[Any, ...] = ("\u0000", "a\ud800b", OUT_OF_RANGE, None, True, -1, 1.5, [], {}, ["x"] * 3,
                            "9" * 5000, [[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]], "'; DROP TABLE jobs; --")


def _killer_bodies(route: Route, tenants: Tenants) -> list[bytes]:
    sample = DEEP.get(route.id) or tenants.body(route)
    if not isinstance(sample, dict) or not sample:
        return []
    out = []
    for path in _leaves(sample):
        for value in KILLERS:
            text = _dumps(_replaced(sample, path, value))
            out.append(text.replace(f'"{OUT_OF_RANGE}"'.encode(), b"1e400"))
    return out


@pytest.mark.parametrize("route", [r for r in ROUTES if r.method != "GET"], ids=lambda r: r.id)
def test_every_field_refuses_unstorable_or_mistyped_values_cleanly(client, tenants, route):
    for body in _killer_bodies(route, tenants):
        resp = client.open(tenants.path(route), method=route.method, data=body,
                           headers={**_credentials(route), "Content-Type": "application/json"},
                           environ_base={"REMOTE_ADDR": "127.0.0.1"})
        check_answer(route, resp)
