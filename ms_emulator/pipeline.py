"""What happens around every Phone/JSON API request, in MoySklad's order:

transport (415 without gzip, 413 over the size cap) -> identify -> outage (503/1074) -> auth (401/403)
-> limits (429/1049, 429/1073) -> latency (slept outside the lock) -> injected fault -> the handler ->
rate headers, gzip, request log. The control API (`/_emulator/`) bypasses all of it.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from .auth import Identity, identify_json, identify_phone
from .errors import ApiError, error_envelope
from .faults import DEFAULT_CODES, latency_seconds
from .model import Account, User
from .requestlog import selected_headers
from .transport import (accepts_gzip, accepts_json, body_for_log, compress, dumps, empty_response, error_response, for_log,
                        json_response)

if TYPE_CHECKING:
    from .faults import Injection
    from .state import EmulatorState

log = logging.getLogger(__name__)
PREFIXES = (("/api/phone/1.0", "phone"), ("/api/remap/1.2", "json"), ("/_emulator", "control"))
DROP_FLAG = "ms_emulator.drop"


@dataclass
class RequestContext:
    api: str
    started: float
    wall: float
    identity: Identity = field(default_factory=Identity)
    observed: bool = False
    held: list[tuple[str, str]] = field(default_factory=list)
    rate_headers: dict[str, str] = field(default_factory=dict)
    dropped: str | None = None
    injected: int | None = None
    logged: bool = False


def api_of(path: str) -> str:
    for prefix, api in PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return api
    return "other"


def current_state() -> EmulatorState:
    return current_app.extensions["ms_emulator"]


def current_ctx() -> RequestContext:
    return g.ms_ctx


def current_account() -> Account:
    account = g.ms_ctx.identity.account
    assert account is not None  # the pipeline refused unauthenticated requests
    return account


def current_user() -> User:
    user = g.ms_ctx.identity.user
    assert user is not None
    return user


def _before() -> Response | None:
    api = api_of(request.path)
    if api in ("control", "other"):
        return None
    state = current_state()
    knobs = state.knobs
    ctx = g.ms_ctx = RequestContext(api=api, started=time.perf_counter(), wall=time.time())
    if (api == "json" or knobs.phone_require_gzip) and not accepts_gzip(request.headers.get("Accept-Encoding")):
        return empty_response(415)  # MoySklad answers 415 with an empty body without gzip
    if knobs.strict_accept and not accepts_json(request.headers.get("Accept")):
        raise ApiError(406, 1062)
    limit = knobs.phone_max_body_bytes if api == "phone" else knobs.json_max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, 1044, limit=limit // (1024 * 1024))
    remote = request.remote_addr or "?"
    injection: Injection | None = None
    with state.lock:
        ident = identify_phone(state, request.headers, remote) if api == "phone" else identify_json(
            state, request.headers)
        ctx.identity = ident
        now = time.monotonic()
        window = (knobs.phone_rate_window_ms if api == "phone" else knobs.json_window_ms) / 1000.0
        if ident.principal:
            state.limiter.observe_start(api, ident.principal, ident.scopes, ident.weight, now, window)
            ctx.observed = True
        outage = state.faults.active_outage(api)
        if outage is not None:
            raise ApiError(outage.status, outage.code)
        if ident.error is not None:
            raise ident.error
        _admit(state, ctx, now, window)
        delay = latency_seconds(api, knobs, state.jitter_rng)
        injection = state.faults.take(api, request.method, request.path)
    if injection is not None:
        delay += injection.delay_ms / 1000.0
    if delay > 0:
        time.sleep(delay)  # outside the lock: a slow request must not stall the others
    return _injected(ctx, injection) if injection is not None else None


def _admit(state: EmulatorState, ctx: RequestContext, now: float, window: float) -> None:
    """Phone: 100 per 5 s per key, 5 in flight per key, 100 per IP. JSON: 45 units per 3 s per user,
    5 in flight per user, 20 per account. Raises 429 (1049 rate, 1073 parallel)."""
    knobs, ident = state.knobs, ctx.identity
    assert ident.principal is not None
    if ctx.api == "phone":
        capacity, enabled = knobs.phone_rate_limit, knobs.phone_limits_enabled
        limits = (knobs.phone_parallel_per_key, knobs.phone_parallel_per_ip)
    else:
        capacity, enabled = knobs.json_bucket_units, knobs.json_limits_enabled
        limits = (knobs.json_parallel_per_user, knobs.json_parallel_per_account)
    parallel = list(zip(ident.scopes, limits))
    admission = state.limiter.admit(ctx.api, ident.principal, ident.weight, capacity, window, parallel, now, enabled)
    ctx.rate_headers = admission.headers
    if not admission.allowed:
        raise ApiError(429, admission.code or 1049, headers=admission.headers)
    ctx.held = admission.held


def _injected(ctx: RequestContext, injection: Injection) -> Response | None:
    ctx.injected = injection.id
    if injection.drop == "before":
        ctx.dropped = "before"
        request.environ[DROP_FLAG] = True
        return empty_response(200)
    if injection.drop == "after":
        ctx.dropped = "after"
        request.environ[DROP_FLAG] = True
    if injection.status is None:
        return None  # a pure delay (or drop-after): the handler runs
    body = injection.body
    if body is None and injection.status >= 400:
        code = injection.code or DEFAULT_CODES.get(injection.status, 1999)
        body = error_envelope(code, f"Ошибка {injection.status} (внедрена эмулятором)", ctx.api)
    if isinstance(body, str):
        response = Response(body.encode("utf-8"), status=injection.status,
                            content_type="application/json;charset=utf-8")
    elif body is None:
        response = empty_response(injection.status)
    else:
        response = Response(dumps(body), status=injection.status, content_type="application/json;charset=utf-8")
    for name, value in injection.headers.items():
        response.headers[name] = str(value)
    return response


def _after(response: Response) -> Response:
    ctx: RequestContext | None = g.get("ms_ctx")
    if ctx is None:
        return response
    state = current_state()
    knobs = state.knobs
    if ctx.rate_headers and (knobs.rate_headers_on_success or response.status_code == 429):
        for name, value in ctx.rate_headers.items():
            response.headers.setdefault(name, value)
    entry = _log_entry(ctx, response, knobs.log_bodies) if not ctx.logged else None
    if knobs.gzip_responses and accepts_gzip(request.headers.get("Accept-Encoding")):
        compress(response)
    if entry is not None:
        with state.lock:
            state.log.add(entry)
        ctx.logged = True
    return response


def _log_entry(ctx: RequestContext, response: Response | None, bodies: bool) -> dict[str, Any]:
    rule = request.url_rule.rule if request.url_rule is not None else None
    prefix = next((p for p, a in PREFIXES if a == ctx.api), "")
    endpoint = f"{request.method} {rule[len(prefix):] if rule else 'UNMATCHED'}"
    account = ctx.identity.account
    status = response.status_code if response is not None else 500
    entry: dict[str, Any] = {
        "time": ctx.wall, "api": ctx.api, "method": request.method, "path": request.path,
        "query": request.query_string.decode("latin-1"), "endpoint": endpoint,
        "headers": selected_headers(request.headers), "status": status,
        "duration_ms": round((time.perf_counter() - ctx.started) * 1000, 3),
        "account": account.name if account else None, "account_id": account.id if account else None,
        "principal": ctx.identity.principal, "remote_addr": request.remote_addr,
        "injected": ctx.injected, "dropped": ctx.dropped,
    }
    if bodies:
        state = current_state()
        cap = state.knobs.phone_max_body_bytes if ctx.api == "phone" else state.knobs.json_max_body_bytes
        entry["body"] = body_for_log(cap)
        entry["response"] = for_log(response.get_data()) if response is not None and not response.direct_passthrough \
            else None
    return entry


def _teardown(exc: BaseException | None) -> None:
    ctx: RequestContext | None = g.get("ms_ctx")
    if ctx is None:
        return
    state = current_state()
    entry = _log_entry(ctx, None, False) if not ctx.logged else None
    with state.lock:
        state.limiter.release(ctx.held)
        ctx.held = []
        if ctx.observed and ctx.identity.principal:
            state.limiter.observe_end(ctx.api, ctx.identity.principal, ctx.identity.scopes)
            ctx.observed = False
        if entry is not None:
            state.log.add(entry)
            ctx.logged = True


def _handle_api_error(error: ApiError) -> Response:
    api = api_of(request.path)
    if api == "control":
        return json_response({"error": error.message}, error.status)
    return error_response(error, "phone" if api == "phone" else "json")


def _handle_http(error: HTTPException) -> Response:
    api = api_of(request.path)
    if api == "control":
        return json_response({"error": error.description}, error.code or 500)
    if isinstance(error, NotFound):
        return _handle_api_error(ApiError(404, 1002, path=request.path))
    if isinstance(error, MethodNotAllowed):
        return _handle_api_error(ApiError(405, 1039, method=request.method))
    return _handle_api_error(ApiError(error.code or 500, 1999, error.description))


def _handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _handle_http(error)
    log.exception("emulator bug while handling %s %s", request.method, request.path)
    return _handle_api_error(ApiError(500, 1999))


def install(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)
    app.teardown_request(_teardown)
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)
