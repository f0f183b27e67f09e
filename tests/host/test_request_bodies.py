"""Request bodies: over 1 MiB is 413 on every route whatever the transfer encoding; a recording link with a
control character is refused before it reaches PostgreSQL.

A chunked body has no Content-Length; werkzeug reads it through a stream that stops quietly at the limit,
so such a body over 1 MiB reached the view cut to its first MiB (400 ``bad_json``, or accepted when that
MiB parsed). ``tests/host/test_real_gunicorn.py`` sends the same bodies to the real server.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from tests.factories import make_enterprise, sql

MIB = 1024 * 1024


def post_chunked(client: Any, path: str, body: bytes) -> Any:
    # What gunicorn hands the app for a chunked request: no CONTENT_LENGTH, the decoded body as
    # wsgi.input, and wsgi.input_terminated set.
    return client.post(path, input_stream=io.BytesIO(body), content_type="application/json",
                       headers={"Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


def event(token: str, **extra: Any) -> dict[str, Any]:
    return {"token": token, "uniqueId": "1.1", "event_type": "dial", "raw": {"UniqueId": "1.1"}, **extra}


def padded(payload: dict[str, Any], total: int) -> bytes:
    data = json.dumps(payload).encode()
    return data + b" " * (total - len(data))


@pytest.fixture
def echo_tenant(db_url: str) -> str:
    make_enterprise(db_url, "0911", token="T0911", integrations_config={"echo": {"enabled": True}})
    return "T0911"


def test_a_chunked_body_over_1_mib_is_413_even_when_its_first_mib_is_valid_json(client, db_url, echo_tenant):
    resp = post_chunked(client, "/dispatch/call-event", padded(event(echo_tenant), MIB + 1))
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "payload_too_large"
    assert sql(db_url, "SELECT count(*) FROM call_events")[0][0] == 0  # it was stored and acknowledged


def test_a_chunked_body_over_1_mib_that_is_not_json_is_413_not_bad_json(client):
    resp = post_chunked(client, "/dispatch/call-event", b"[" + b"1," * MIB + b"1]")
    assert resp.status_code == 413


def test_a_chunked_body_over_1_mib_is_413_on_a_route_that_never_reads_it(client):
    assert post_chunked(client, "/health", b"x" * (2 * MIB)).status_code == 413


def test_a_chunked_body_up_to_1_mib_reaches_the_view_whole(client, db_url, echo_tenant):
    resp = post_chunked(client, "/dispatch/call-event", padded(event(echo_tenant), MIB))
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert sql(db_url, "SELECT count(*) FROM call_events")[0][0] == 1
    resp = post_chunked(client, "/dispatch/call-event", b'{"token": ')
    assert resp.get_json()["error"]["code"] == "bad_json"


def test_a_body_with_content_length_over_1_mib_is_still_413(client):
    assert client.post("/health", data=b"x" * (MIB + 1)).status_code == 413


# --------------------------------------------------------------------------------------- record_url


@pytest.mark.parametrize("url", [
    "http://pbx.example/rec\x01.mp3", "http://pbx.example/rec\x7f.mp3", "http://pbx.example/rec\x00.mp3",
    "http://pbx.example/rec\x1b[0m.mp3", "http://pbx.example/a b.mp3",
])
def test_a_record_url_with_a_control_character_is_refused_and_nothing_is_stored(client, db_url, echo_tenant, url):
    resp = client.post("/dispatch/call-event", json=event(echo_tenant, event_type="hangup", record_url=url))
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert sql(db_url, "SELECT count(*) FROM call_events")[0][0] == 0


def test_a_plain_record_url_is_stored(client, db_url, echo_tenant):
    url = "https://pbx.example/records/2026/1.1.mp3?sig=a%20b"
    resp = client.post("/dispatch/call-event", json=event(echo_tenant, event_type="hangup", record_url=url))
    assert resp.status_code == 202
    assert sql(db_url, "SELECT record_url FROM call_events")[0][0] == url
