"""One JSON error shape for every status: ``{"error": {"code", "message", "details"}}``.

App-level handlers, because blueprint handlers never see routing 404/405 and 413 raised while reading the
body. HTML pages (the admin page, the login page) still redirect to ``/login`` on 401; that is decided in
the auth layer, not here.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from host_app.integrations.contract import ApiError

log = logging.getLogger(__name__)

# Werkzeug's names are fine English, but clients match on stable snake_case codes.
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    411: "length_required",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    417: "expectation_failed",
    418: "teapot",
    421: "misdirected_request",
    422: "validation_error",
    423: "locked",
    424: "failed_dependency",
    428: "precondition_required",
    429: "too_many_requests",
    431: "request_header_fields_too_large",
    451: "unavailable_for_legal_reasons",
    500: "internal_error",
    501: "not_implemented",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
    505: "http_version_not_supported",
}


def code_for(status: int) -> str:
    return _CODES.get(status, "error")


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> Response:
    resp = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    resp.status_code = status
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _handle_api_error(err: ApiError) -> Response:
    if err.status >= 500:
        log.warning("%s %s -> %s %s: %s", request.method, request.path, err.status, err.code, err.message)
    return error_response(err.status, err.code, err.message, err.details, err.headers)


def _handle_validation(err: ValidationError) -> Response:
    return error_response(422, "validation_error", "the request is not valid", err.messages)


def _handle_http(err: HTTPException) -> Response:
    status = err.code or 500
    headers: dict[str, str] = {}
    if status == 405 and getattr(err, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(err.valid_methods or []))
    message = err.description or err.name
    if status == 413:
        message = "the request body is larger than 1 MiB"
    elif status == 400 and "JSON" in (err.description or ""):
        return error_response(400, "bad_json", "the body is not valid JSON")
    return error_response(status, code_for(status), message, headers=headers)


def _handle_unexpected(err: Exception) -> Response:
    # Never a stack trace to the client; the log has it.
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "internal error")


def _refuse_large_bodies() -> None:
    # Werkzeug enforces MAX_CONTENT_LENGTH only when a view reads the body; the contract wants 413 for
    # an oversized body on every route, including those that never look at it.
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is None:
        return
    if request.content_length is not None:
        if request.content_length > limit:
            raise RequestEntityTooLarge()
        return
    if request.environ.get("wsgi.input_terminated"):
        _buffer_unsized_body(limit)


def _buffer_unsized_body(limit: int) -> None:
    """A body without Content-Length (chunked): read it here, up to ``limit`` + 1 bytes.

    Werkzeug reads such a body through a ``LimitedStream`` that stops quietly at the limit, so a chunked
    body over 1 MiB reached the view cut to its first MiB (400 ``bad_json``, or accepted when that MiB
    parsed). Reading from the server's own stream is safe only when the server ends it
    (``wsgi.input_terminated``: gunicorn decodes chunked input and sets it); without that flag werkzeug
    sees an empty body. The bytes read are put back as the request's input, so the view reads them as
    usual (``request.get_data``, forms, ``request.stream``).
    """
    stream = request.environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(64 * 1024, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise RequestEntityTooLarge()
    request.environ["wsgi.input"] = io.BytesIO(b"".join(chunks))
    request.__dict__.pop("stream", None)  # a stream werkzeug may have wrapped around the old input


def _refuse_nul_characters() -> None:
    # PostgreSQL cannot hold a NUL character in text: a path or query value carrying one names nothing
    # stored, and would otherwise reach the driver inside a view and come back as a 500.
    if "\x00" in request.path:
        raise ApiError("no such resource", code="not_found", status=404)
    if any("\x00" in key or any("\x00" in value for value in values) for key, values in request.args.lists()):
        raise ApiError("a query parameter contains a NUL character", code="bad_request", status=400)


def init_app(app: Flask) -> None:
    app.before_request(_refuse_large_bodies)
    app.before_request(_refuse_nul_characters)
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(ValidationError, _handle_validation)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)
