"""parse_error: each MoySklad envelope (and non-envelope) becomes its typed error."""

from __future__ import annotations

import json

import pytest
import requests

from ms_plugin.moysklad.errors import (
    AuthFailed,
    FeatureUnavailable,
    Forbidden,
    MalformedResponse,
    MoySkladError,
    NotFound,
    RateLimited,
    Unavailable,
    ValidationFailed,
    parse_error,
    retry_after_seconds,
)


def response(status: int, body: object = None, headers: dict[str, str] | None = None, raw: bytes | None = None):
    resp = requests.Response()
    resp.status_code = status
    resp._content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    resp.headers.update(headers or {})
    resp.encoding = "utf-8"
    return resp


def envelope(code: int | None, text: str = "Ошибка", parameter: str | None = None) -> dict:
    item: dict = {"error": text, "moreInfo": "https://dev.moysklad.ru/doc/api/remap/1.2/#error"}
    if code is not None:
        item["code"] = code
    if parameter:
        item["parameter"] = parameter
    return {"errors": [item]}


@pytest.mark.parametrize(("status", "code", "cls", "permanent"), [
    (401, 1056, AuthFailed, True),
    (403, 1016, Forbidden, True),
    (403, 1061, Forbidden, True),
    (403, 37000, FeatureUnavailable, True),
    (403, 1043, FeatureUnavailable, True),
    (403, 47000, FeatureUnavailable, True),
    (403, 55008, FeatureUnavailable, True),
    (401, 55008, FeatureUnavailable, True),
    (404, 1021, NotFound, True),
    (412, 3000, ValidationFailed, True),
    (412, 3005, ValidationFailed, True),
    (400, 2001, ValidationFailed, True),
    (413, 1044, ValidationFailed, True),
    (412, 3006, ValidationFailed, True),
    (500, 1999, Unavailable, False),
    (503, 1074, Unavailable, False),
    (503, 1095, Unavailable, False),
    (502, None, Unavailable, False),
    (405, 1039, MoySkladError, True),
])
def test_envelope_maps_to_typed_error(status, code, cls, permanent):
    err = parse_error(response(status, envelope(code, "Текст ошибки", "externalId")))
    assert type(err) is cls
    assert err.status == status
    assert err.permanent is permanent
    assert err.codes == ((code,) if code is not None else ())
    assert err.message == "Текст ошибки"
    assert err.parameter == "externalId"


def test_429_reads_x_lognex_retry_after_in_milliseconds():
    err = parse_error(response(429, envelope(1049), {"X-Lognex-Retry-After": "1800", "Retry-After": "9"}))
    assert isinstance(err, RateLimited)
    assert err.retry_after == pytest.approx(1.8)
    assert err.codes == (1049,) and not err.permanent


def test_429_falls_back_to_retry_after_in_seconds():
    err = parse_error(response(429, envelope(1073), {"Retry-After": "3"}))
    assert isinstance(err, RateLimited) and err.retry_after == 3.0


def test_429_with_1095_and_no_header_waits_a_minute():
    err = parse_error(response(429, envelope(1095)))
    assert isinstance(err, RateLimited) and err.retry_after == 60.0


def test_bare_array_of_errors_is_understood():
    err = parse_error(response(412, [{"error": "a", "code": 3000}, {"error": "b", "code": 3005}]))
    assert isinstance(err, ValidationFailed)
    assert err.codes == (3000, 3005) and err.message == "a; b"


def test_empty_415_is_a_retryable_unavailable():
    err = parse_error(response(415))
    assert isinstance(err, Unavailable) and not err.permanent
    assert "empty body" in err.message


def test_non_json_body_keeps_a_snippet():
    err = parse_error(response(502, raw=b"<html><body>Bad   Gateway</body></html>"))
    assert isinstance(err, Unavailable)
    assert "Bad Gateway" in err.message


def test_unparseable_retry_headers_are_ignored():
    assert retry_after_seconds({"X-Lognex-Retry-After": "soon"}) is None
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}) is None
    assert retry_after_seconds({}) is None


def test_malformed_response_is_retryable_later():
    assert MalformedResponse("x").permanent is False
