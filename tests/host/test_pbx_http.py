"""HttpPbxClient (the existing PBX control service) with ``responses``, and PbxRouter's HTTP dispatch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from host_app.integrations.contract import PbxError
from host_app.pbx import PbxRouter
from host_app.pbx.http import HttpPbxClient

URL = "http://127.0.0.1:8018/api/makecallexternal"
PHONE = "+375291234567"


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_originate_sends_encoded_params(mocked: responses.RequestsMock) -> None:
    mocked.get(URL, status=200, json={"success": True}, match=[
        matchers.query_param_matcher({"code": "151", "phone": PHONE, "clientId": "c&d=1"})])
    attempt = HttpPbxClient(URL, "c&d=1").originate("151", PHONE)
    assert attempt.startswith("http-")
    sent = mocked.calls[0].request
    assert "phone=%2B375291234567" in sent.url  # "+" encoded, not turned into a space
    assert "clientId=c%26d%3D1" in sent.url
    assert sent.req_kwargs["timeout"] == (3.05, 10.0)


def test_existing_query_string_is_kept(mocked: responses.RequestsMock) -> None:
    mocked.get(URL, status=204)
    HttpPbxClient(URL + "?v=2", "cid").originate("151", "80291234567")
    query = parse_qs(urlsplit(mocked.calls[0].request.url).query)
    assert query == {"v": ["2"], "code": ["151"], "phone": ["80291234567"], "clientId": ["cid"]}


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "auth_failed"), (403, "auth_failed"), (404, "originate_failed"), (500, "originate_failed"),
     (502, "originate_failed"), (302, "originate_failed")],
)
def test_http_error_statuses(mocked: responses.RequestsMock, status: int, code: str) -> None:
    mocked.get(URL, status=status, headers={"Location": "http://elsewhere.invalid/"} if status == 302 else {})
    with pytest.raises(PbxError) as err:
        HttpPbxClient(URL, "TOPSECRET").originate("151", PHONE)
    assert err.value.code == code
    assert str(status) in err.value.message
    assert "TOPSECRET" not in err.value.message
    assert len(mocked.calls) == 1  # the redirect was not followed


@pytest.mark.parametrize(
    ("exc", "code"),
    [(requests.ConnectionError("refused"), "unreachable"), (requests.ConnectTimeout("slow"), "unreachable"),
     (requests.ReadTimeout("slow"), "timeout"), (requests.exceptions.ChunkedEncodingError("x"), "unreachable")],
)
def test_transport_errors(mocked: responses.RequestsMock, exc: Exception, code: str) -> None:
    mocked.get(URL, body=exc)
    with pytest.raises(PbxError) as err:
        HttpPbxClient(URL, "TOPSECRET").originate("151", PHONE)
    assert err.value.code == code
    assert "TOPSECRET" not in err.value.message


def test_unreachable_host_name() -> None:
    client = HttpPbxClient("http://pbx-control.invalid/api/makecallexternal", "cid", timeout=(0.5, 0.5))
    with pytest.raises(PbxError) as err:
        client.originate("151", PHONE)
    assert err.value.code == "unreachable"


@pytest.mark.parametrize(
    ("extension", "phone"),
    [("151&phone=1", PHONE), ("151\r\nX: y", PHONE), ("151", "+375;reboot"), ("151", "$(id)"),
     ("151", PHONE + "\n"), ("1", PHONE)],
)
def test_bad_values_are_refused_before_sending(mocked: responses.RequestsMock, extension: str, phone: str) -> None:
    with pytest.raises(PbxError) as err:
        HttpPbxClient(URL, "cid").originate(extension, phone)
    assert err.value.code == "invalid_value"
    assert len(mocked.calls) == 0


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "javascript:alert(1)", "127.0.0.1:8018/x",
            "http://u:p@127.0.0.1/x", "http:///x", "http://127.0.0.1/x#frag", "http://127.0.0.1/ x"],
)
def test_only_http_urls(url: str) -> None:
    with pytest.raises(PbxError) as err:
        HttpPbxClient(url, "cid")
    assert err.value.code == "not_configured"


def test_client_id_with_line_break_is_refused() -> None:
    with pytest.raises(PbxError) as err:
        HttpPbxClient(URL, "cid\r\n")
    assert err.value.code == "invalid_value"


def test_router_dispatches_to_http(mocked: responses.RequestsMock) -> None:
    mocked.get(URL, status=200, match=[
        matchers.query_param_matcher({"code": "152", "phone": "80291234567", "clientId": "ent-secret"})])
    configs: dict[str, Any] = {"0367": {"kind": "http", "url": URL, "client_id": "ent-secret"}}
    with requests.Session() as session:
        attempt = PbxRouter(configs.get, http_session=session).originate("0367", "152", "80291234567", "Ivan")
    assert attempt.startswith("http-")
    assert len(mocked.calls) == 1


def test_router_http_failure_is_a_pbx_error(mocked: responses.RequestsMock) -> None:
    mocked.get(URL, status=503)
    router = PbxRouter({"1": {"kind": "http", "url": URL, "client_id": "c"}}.get, http_timeout=(0.5, 1.0))
    with pytest.raises(PbxError) as err:
        router.originate("1", "151", PHONE, "Ivan")
    assert err.value.code == "originate_failed"
    assert mocked.calls[0].request.req_kwargs["timeout"] == (0.5, 1.0)
