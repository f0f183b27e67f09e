"""The request loop shared by both clients: limiter slot -> one HTTP attempt -> record -> retry or raise.

Retries happen here, each attempt under the limiter (no hidden transport retries):

* 429: the key's cooldown is set first (every worker pauses), then the next ``acquire`` waits it out;
  when the advertised wait is longer than the call may wait, :class:`RateLimited` is raised instead;
* 500, 502, 503, 504, timeouts and dropped connections: only for idempotent requests (GET, PUT, a create
  carrying ``syncId``, a card event) -- or through a request's ``recover`` hook (``POST /call`` probes
  ``PUT /call/extid/<id>`` before creating again);
* a connection that failed before anything was sent (refused, DNS, connect timeout): always;
* any other 4xx: never (MoySklad's advice; it also bans clients repeating failing requests).

Attempts are bounded by a count and a total time budget, with exponential backoff and jitter.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from ms_plugin.moysklad.context import current_context
from ms_plugin.moysklad.errors import (
    MalformedResponse,
    MoySkladError,
    RateLimited,
    Unavailable,
    classify,
    parse_error,
)
from ms_plugin.moysklad.limiter import LimitSpec, Limiter, Result
from ms_plugin.moysklad.records import Observer, RequestRecord, body_for_record, mask_text, notify, secret_forms
from ms_plugin.moysklad.refs import encode_query
from ms_plugin.moysklad.timeouts import Budget, BudgetName, Timeouts
from ms_plugin.moysklad.transport import Transport

log = logging.getLogger(__name__)

_RETRY_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class Request:
    method: str
    endpoint: str  # template for metrics: "/call/extid/{id}"
    path: str  # rendered, ids percent-encoded
    query: Mapping[str, str] | None = None
    body: Any = None
    idempotent: bool = False
    expect_json: bool = True  # False: 204 (or any 2xx body) is fine
    budget: BudgetName = "background"
    # Called after a maybe-processed failure of a non-idempotent request: returns the answer when the
    # request turns out to have succeeded, None when it is safe to send it again.
    recover: Callable[[float], Answer | None] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    data: Any


class BaseClient:
    api: str = "json"

    def __init__(self, transport: Transport, limiter: Limiter, *, base_url: str, observer: Observer | None,
                 timeouts: Timeouts | None, spec: Callable[[], LimitSpec], sleep: Callable[[float], None],
                 clock: Callable[[], float], rng: Callable[[], float]) -> None:
        self.transport = transport
        self.limiter = limiter
        self.base_url = base_url.rstrip("/")
        self.observer = observer
        self.timeouts = timeouts or Timeouts()
        self._spec = spec
        self._sleep = sleep
        self._clock = clock
        self._rng = rng

    # subclasses: the credential header and the strings no record may contain
    def _auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _secrets(self) -> tuple[str, ...]:
        raise NotImplementedError

    # -- the loop -------------------------------------------------------------------------------

    def _call(self, req: Request, *, deadline: float | None = None) -> Answer:
        budget = self.timeouts.get(req.budget)
        own_deadline = self._clock() + budget.total
        deadline = own_deadline if deadline is None else min(deadline, own_deadline)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(req, attempt, budget, deadline)
            except MoySkladError as exc:
                remaining = deadline - self._clock()
                if isinstance(exc, RateLimited):
                    wait = exc.retry_after or 0.0
                    if attempt >= budget.max_attempts or wait > min(remaining, budget.max_wait):
                        raise
                    continue  # the next acquire waits out the key's cooldown
                if not self._retryable(req, exc):
                    raise
                if req.recover is not None and exc.sent and remaining > 0:
                    # Even after the last attempt: the request may have succeeded, say so if it did.
                    answer = req.recover(deadline)
                    if answer is not None:
                        return answer
                if attempt >= budget.max_attempts:
                    raise
                cap = min(budget.backoff_max, budget.backoff_base * (2 ** (attempt - 1)))
                delay = cap / 2 + self._rng() * cap / 2
                if delay >= deadline - self._clock():
                    raise
                log.info("MoySklad %s %s failed (%s); retry %d in %.2fs", req.method, req.endpoint,
                         exc.outcome, attempt + 1, delay)
                self._sleep(delay)

    @staticmethod
    def _retryable(req: Request, exc: MoySkladError) -> bool:
        if not isinstance(exc, Unavailable):
            return False
        if exc.status is not None and exc.status not in _RETRY_STATUSES:
            return False  # 415 and friends: a retry would get the same answer
        if not exc.sent:
            return True  # nothing reached MoySklad: safe even for a create
        return req.idempotent or req.recover is not None

    def _attempt(self, req: Request, attempt: int, budget: Budget, deadline: float) -> Answer:
        spec = self._spec()
        remaining = max(0.0, deadline - self._clock())
        slot = self.limiter.acquire(spec, max_wait=min(budget.max_wait, remaining),
                                    ttl=budget.connect + budget.read + self.timeouts.slot_ttl_margin)
        url = self.base_url + req.path + (f"?{encode_query(req.query)}" if req.query else "")
        headers = self._auth_headers()
        data = None
        if req.body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(req.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        started_wall, t0 = time.time(), self._clock()
        resp: requests.Response | None = None
        error: MoySkladError | None = None
        outcome = "ok"
        result: Result = "ok"
        answer: Answer | None = None
        try:
            resp = self.transport.request(req.method, url, headers=headers, data=data,
                                          timeout=(budget.connect, budget.read))
        except requests.RequestException as exc:
            error, outcome = _transport_error(exc)
            result = "failure" if isinstance(error, Unavailable) else "neutral"
        finally:
            duration_ms = int(max(0.0, self._clock() - t0) * 1000)
            if resp is None:
                self.limiter.release(slot, result)
        if resp is not None:
            status = resp.status_code
            if 200 <= status < 300:
                try:
                    answer = Answer(status, _json_body(resp, req.expect_json))
                except MalformedResponse as exc:
                    error, outcome, result = exc, "malformed", "neutral"
            else:
                error = parse_error(resp)
                outcome = _status_outcome(status)
                result = "neutral" if status == 429 else (
                    "failure" if isinstance(error, Unavailable) and status >= 500 else "ok")
            if isinstance(error, RateLimited):
                # Pause this credential for every worker *before* our slot frees up for anyone.
                self.limiter.cooldown(spec.key, error.retry_after or 1.0)
            self.limiter.release(slot, result)
        self._record(req, attempt, resp, outcome, duration_ms, error, started_wall)
        if error is not None:
            # Its message quotes MoySklad's answer, which may echo our credentials back: masked like the
            # record, since callers journal and log str(error).
            error.message = mask_text(error.message, secret_forms(self._secrets()))
            error.args = (error.message,)
            raise error
        assert answer is not None
        return answer

    def _record(self, req: Request, attempt: int, resp: requests.Response | None, outcome: str,
                duration_ms: int, error: MoySkladError | None, started: float) -> None:
        if self.observer is None:
            return
        secrets = secret_forms(self._secrets())
        ctx = current_context()
        path = req.path + (f"?{encode_query(req.query)}" if req.query else "")
        response_body: Any = None
        if resp is not None:
            try:
                response_body = resp.json() if resp.content else None
            except ValueError:
                response_body = resp.text
            except Exception:
                response_body = None
        notify(self.observer, RequestRecord(
            api=self.api, method=req.method, endpoint=req.endpoint, path=mask_text(path, secrets),
            status=resp.status_code if resp is not None else None, outcome=outcome, duration_ms=duration_ms,
            attempt=attempt, error_codes=error.codes if error else (),
            request_body=body_for_record(req.body, secrets), response_body=body_for_record(response_body, secrets),
            error=mask_text(error.message, secrets) if error else None,
            retry_after=error.retry_after if error else None, enterprise_number=ctx.enterprise_number,
            call_unique_id=ctx.call_unique_id, phone=ctx.phone, started_at=started, extra=dict(req.extra)))


def _json_body(resp: requests.Response, expect_json: bool) -> Any:
    content = resp.content  # read eagerly by the transport (no streaming)
    if not content.strip():
        if expect_json:
            raise MalformedResponse(f"HTTP {resp.status_code} with an empty body", resp.status_code)
        return None
    try:
        return json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        if not expect_json:
            return None
        raise MalformedResponse(f"HTTP {resp.status_code} with a body that is not JSON", resp.status_code) from exc


def _status_outcome(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status == 401:
        return "auth_failed"
    return "server_error" if status >= 500 else "client_error"


def _transport_error(exc: requests.RequestException) -> tuple[MoySkladError, str]:
    """Map a requests exception; ``sent`` says whether MoySklad may have received the request."""
    name = type(exc).__name__
    if isinstance(exc, requests.ConnectTimeout):
        err: MoySkladError = Unavailable(f"connect timeout ({name})")
        err.sent, outcome = False, "timeout"
    elif isinstance(exc, requests.ReadTimeout):
        err = Unavailable(f"read timeout ({name})")
        err.sent, outcome = True, "timeout"
    elif isinstance(exc, requests.exceptions.ContentDecodingError):
        err = MalformedResponse(f"undecodable answer ({name})")
        err.sent, outcome = True, "malformed"
    elif isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        before_send = isinstance(exc, requests.exceptions.SSLError) or isinstance(reason, NewConnectionError)
        err = Unavailable(f"connection failed ({name}{': refused or unresolved' if before_send else ''})")
        err.sent, outcome = not before_send, "connection_error"
    else:  # InvalidURL, TooManyRedirects...: our bug or config, not MoySklad's state
        err = classify(None, (), f"request failed ({name})")  # permanent
        err.sent, outcome = False, "connection_error"
    return err, outcome


def default_rng() -> float:
    return random.random()
