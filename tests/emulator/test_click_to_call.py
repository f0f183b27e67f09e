"""Click-to-call: the signed request MoySklad sends to the provider, in every signature variant."""
from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from ms_emulator import EmulatorState, sign

from .helpers import Api

KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@pytest.mark.parametrize(("variant", "expected"), [
    ("upper_key_first", md5(KEY + "201" + "+79161234567" + "ivanov@shop").upper()),
    ("lower_key_first", md5(KEY + "201" + "+79161234567" + "ivanov@shop")),
    ("key_last", md5("201" + "+79161234567" + "ivanov@shop" + KEY).upper()),
    ("alphabetical", md5(KEY + "+79161234567" + "201" + "ivanov@shop").upper()),
    ("raw_body", md5(KEY + '{"srcNumber":"201","destNumber":"+79161234567","uid":"ivanov@shop"}').upper()),
])
def test_signature_variants(variant: str, expected: str) -> None:
    assert sign(KEY, "201", "+79161234567", "ivanov@shop", variant) == expected


def test_default_variant_is_upper_key_first() -> None:
    assert sign(KEY, "1", "2", "3") == sign(KEY, "1", "2", "3", "upper_key_first")


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError):
        sign(KEY, "1", "2", "3", "sha1")


@pytest.fixture()
def provider() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    @Request.application
    def app(request: Request) -> Response:
        received.append({"path": request.path, "headers": dict(request.headers), "body": request.get_data()})
        return Response('{"status":"ok"}', content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/ms/webhook/2f6c1a9e", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_click_to_call_posts_a_signed_json_request(state: EmulatorState, account: dict[str, Any],
                                                   provider: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = provider
    result = state.click_to_call(url, "150", "+375291112233", "admin@acme", "acme")
    assert result["status"] == 200 and result["json"] == {"status": "ok"}
    request = received[0]
    assert request["path"] == "/ms/webhook/2f6c1a9e"
    assert json.loads(request["body"]) == {"srcNumber": "150", "destNumber": "+375291112233", "uid": "admin@acme"}
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Lognex-Content-Md5"] == sign(account["phone_key"], "150", "+375291112233", "admin@acme")


def test_click_to_call_raw_body_signature_covers_the_exact_bytes(state: EmulatorState, account: dict[str, Any],
                                                                 provider: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = provider
    state.click_to_call(url, "150", "+375291112233", "admin@acme", "acme", variant="raw_body")
    body = received[0]["body"]
    expected = hashlib.md5(account["phone_key"].encode() + body).hexdigest().upper()
    assert received[0]["headers"]["Lognex-Content-Md5"] == expected


def test_click_to_call_can_send_a_form_body(state: EmulatorState, account: dict[str, Any],
                                            provider: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = provider
    state.click_to_call(url, "150", "+375291112233", "admin@acme", "acme", body_format="form")
    assert received[0]["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert received[0]["body"] == b"srcNumber=150&destNumber=%2B375291112233&uid=admin%40acme"


def test_click_to_call_through_the_control_api(control: Api, account: dict[str, Any],
                                               provider: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = provider
    response = control.post("/click-to-call", json={"url": url, "srcNumber": "151", "destNumber": "+79161234567",
                                                    "uid": "petrova@acme", "account": "acme", "variant": "key_last"})
    assert response.status_code == 200
    assert response.json()["status"] == 200 and response.json()["body"] == '{"status":"ok"}'
    assert received[0]["headers"]["Lognex-Content-Md5"] == sign(account["phone_key"], "151", "+79161234567",
                                                                 "petrova@acme", "key_last")
    assert len(control.get("/click-to-call").json()["clicks"]) == 1


@pytest.mark.parametrize("url", ["http://example.com/hook", "http://10.0.0.1/hook", "ftp://127.0.0.1/x"])
def test_click_to_call_refuses_non_local_urls(control: Api, state: EmulatorState, account: dict[str, Any],
                                              url: str) -> None:
    with pytest.raises(ValueError):
        state.click_to_call(url, "150", "+1", "admin@acme", "acme")
    response = control.post("/click-to-call", json={"url": url, "srcNumber": "150", "destNumber": "+1",
                                                    "uid": "admin@acme", "account": "acme"})
    assert response.status_code == 400


def test_click_to_call_reports_an_unreachable_provider(state: EmulatorState, account: dict[str, Any]) -> None:
    result = state.click_to_call("http://127.0.0.1:9/none", "150", "+1", "admin@acme", "acme", timeout=2)
    assert result["status"] is None and result["error"]
