"""HTTP transport rules shared by both APIs: gzip, content types, JSON bodies and error responses."""
from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

from flask import Response, request

from .errors import ApiError

JSON_CONTENT_TYPE = "application/json;charset=utf-8"


def accepts_gzip(header: str | None) -> bool:
    """True when `Accept-Encoding` lists gzip (or `*`) with a non-zero q. MoySklad accepts only gzip."""
    for item in (header or "").split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = params.strip()
        if q.lower().startswith("q="):
            try:
                if float(q[2:]) <= 0:
                    continue
            except ValueError:
                continue
        return True
    return False


def accepts_json(header: str | None) -> bool:
    if not header or not header.strip():
        return True
    ranges = {item.split(";")[0].strip().lower() for item in header.split(",")}
    return bool(ranges & {"application/json", "application/*", "*/*"})


def dumps(payload: Any, pretty: bool = False) -> bytes:
    # MoySklad answers raw UTF-8 (Cyrillic is not \u-escaped).
    if pretty:
        return json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8")
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def wants_pretty() -> bool:
    return request.headers.get("Lognex-Pretty-Print-JSON", "").strip().lower() == "true"


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(dumps(payload, wants_pretty()), status=status, content_type=JSON_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def empty_response(status: int) -> Response:
    """E.g. 415 without gzip: MoySklad answers it with an empty body."""
    response = Response(b"", status=status)
    response.headers.pop("Content-Type", None)
    return response


def error_response(error: ApiError, api: str) -> Response:
    return json_response(error.envelope(api), error.status, error.headers)


def compress(response: Response) -> None:
    """gzip a response body in place (the caller checked that the client accepts it)."""
    if response.direct_passthrough or response.headers.get("Content-Encoding"):
        return
    body = response.get_data()
    if not body:
        return
    response.set_data(gzip.compress(body, compresslevel=5))
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"


def raw_body() -> bytes:
    data = request.get_data(cache=True)
    if request.headers.get("Content-Encoding", "").lower() == "gzip" and data:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            raise ApiError(400, 2001) from None
    return data


def read_json(*, allow_array: bool = False) -> Any:
    """The request body as JSON: 2001 when it is not JSON, 2005 for a scalar, 2009 for an array where a
    single entity is expected."""
    data = raw_body()
    if not data.strip():
        raise ApiError(400, 2001)
    try:
        payload = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, 2001) from None
    if isinstance(payload, list):
        if not allow_array:
            raise ApiError(400, 2009)
        return payload
    if not isinstance(payload, dict):
        raise ApiError(400, 2005)
    return payload


LOG_BODY_LIMIT = 65536  # bigger bodies are summarised, so that the bounded log stays small


def for_log(data: bytes) -> Any:
    """A body as the request log keeps it: parsed JSON, text, or a size note when large."""
    if not data:
        return None
    if len(data) > LOG_BODY_LIMIT:
        return f"<{len(data)} bytes>"
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return data.decode("utf-8", "replace")


def body_for_log(max_read: int) -> Any:
    length = request.content_length
    if length is not None and length > max_read:
        return f"<{length} bytes, not read>"  # e.g. refused with 413
    try:
        return for_log(raw_body())
    except ApiError:
        return for_log(request.get_data(cache=True))
