"""Typed MoySklad failures, built from the error envelope of a response (or from a transport failure).

Both APIs answer errors as ``{"errors": [{"error", "code", "parameter", "moreInfo"}]}``; batch calls may
answer a bare array of such objects, a 415 (no gzip) has an empty body, and a proxy in front of MoySklad
may answer HTML. ``parse_error`` copes with all of these and picks the class from the *codes* first
(they are specific: 55008 comes with 403 or 401, 1095 with 503 or 429) and from the HTTP status second.

``permanent`` tells a background job whether retrying later can help; ``retry_after`` (seconds) is set
when MoySklad (or our limiter) said how long to wait.
"""

from __future__ import annotations

import json
import random
from typing import Any

# Codes grouped by what the caller should do (moysklad-json-api.md §4, moysklad-phone-api.md §5.3).
RATE_CODES = frozenset({1049, 1073})  # requests per time unit / parallel requests exceeded
AUTH_CODES = frozenset({1056})  # authentication error
FORBIDDEN_CODES = frozenset({1016, 1017, 1018, 1045, 1061, 1075, 1085, 30004, 37001, 37003, 55005, 55006})
FEATURE_CODES = frozenset({37000, 1043, 1070, 47000, 55008})  # no CRM option / tariff / no telephony solution
NOT_FOUND_CODES = frozenset({1021})
UNAVAILABLE_CODES = frozenset({1074, 1095})  # maintenance / load shedding ("retry in about a minute")
VALIDATION_CODES = frozenset({2001, 2005, 2009, 2010, 2011, 2013, 2017, 2027, 3000, 3005, 3006, 3007, 3015,
                              3040, 1034, 1035, 1052, 1060, 11001, 11002})

_MAX_MESSAGE = 500


class MoySkladError(Exception):
    """A failed MoySklad request. ``outcome`` is the RequestRecord outcome it corresponds to."""

    outcome: str = "client_error"
    default_permanent: bool = True
    # Whether MoySklad may have received the request: False only for failures before anything was sent
    # (refused connection, DNS, connect timeout, TLS handshake), which even a create may repeat.
    sent: bool = True

    def __init__(
        self,
        message: str,
        status: int | None = None,
        codes: tuple[int, ...] = (),
        permanent: bool | None = None,
        retry_after: float | None = None,
        *,
        parameter: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.codes = tuple(codes)
        self.permanent = self.default_permanent if permanent is None else permanent
        self.retry_after = retry_after
        self.parameter = parameter

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status!r}, codes={self.codes!r}, "
                f"message={self.message!r}, retry_after={self.retry_after!r})")


class RateLimited(MoySkladError):
    """429 (codes 1049/1073): the credential is paused for ``retry_after`` seconds."""

    outcome = "rate_limited"
    default_permanent = False


class AuthFailed(MoySkladError):
    """401 / 1056: wrong, revoked or blocked credentials. Retrying cannot help until the config changes."""

    outcome = "auth_failed"


class Forbidden(MoySkladError):
    """403: authenticated, but the user may not do this (1016-1018, 1045, 1061 no API access, ...)."""


class FeatureUnavailable(MoySkladError):
    """The account lacks a feature: 37000 (no CRM option: tasks), 1043/1070/47000 (tariff), 55008 (no
    telephony solution installed). Callers fall back (a note instead of a task) or report it."""


class NotFound(MoySkladError):
    """404 / 1021: no such object (a call's externalId, a counterparty id)."""


class ValidationFailed(MoySkladError):
    """400/412/413/422 and the validation codes (3000 required, 3005 enum, 3006 unique, 2001 not JSON...)."""


class Unavailable(MoySkladError):
    """5xx, 1074/1095, 415, connection errors and timeouts: retryable later."""

    outcome = "server_error"
    default_permanent = False


class MalformedResponse(MoySkladError):
    """A 2xx whose body is not the JSON we need (a proxy page, a truncated body)."""

    outcome = "malformed"
    default_permanent = False


class LimiterBusy(MoySkladError):
    """Our own limiter would make the caller wait longer than allowed (window full, cooldown after a
    429, open circuit). Nothing was sent; a background job should defer by ``retry_after``."""

    outcome = "rate_limited"
    default_permanent = False

    def __init__(self, retry_after: float, reason: str = "busy", key: str | None = None) -> None:
        super().__init__(f"MoySklad limiter busy ({reason}); retry in {retry_after:.2f}s",
                         retry_after=max(0.0, retry_after))
        self.reason = reason
        self.key = key


# ----------------------------------------------------------------------------------------- parsing


def retry_after_seconds(headers: Any) -> float | None:
    """``X-Lognex-Retry-After`` is in **milliseconds**; the standard ``Retry-After`` in seconds."""
    raw = headers.get("X-Lognex-Retry-After") if headers is not None else None
    if raw not in (None, ""):
        try:
            return max(0.0, float(raw) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("Retry-After") if headers is not None else None
    if raw not in (None, ""):
        try:
            return max(0.0, float(raw))
        except ValueError:  # an HTTP date: MoySklad does not send one; ignore rather than guess
            return None
    return None


def error_items(body: Any) -> list[dict[str, Any]]:
    """The error objects of an envelope, a bare array, or a single error object."""
    if isinstance(body, dict):
        items = body.get("errors")
        if isinstance(items, list):
            return [i for i in items if isinstance(i, dict)]
        if "error" in body or "code" in body:
            return [body]
        return []
    if isinstance(body, list):
        out: list[dict[str, Any]] = []
        for item in body:  # a batch answer: each element may itself be an envelope
            out.extend(error_items(item) if isinstance(item, dict) and "errors" in item
                       else ([item] if isinstance(item, dict) else []))
        return out
    return []


def _codes(items: list[dict[str, Any]]) -> tuple[int, ...]:
    codes: list[int] = []
    for item in items:
        try:
            code = int(item["code"])
        except (KeyError, TypeError, ValueError):
            continue
        if code not in codes:
            codes.append(code)
    return tuple(codes)


def _message(items: list[dict[str, Any]], status: int | None, text: str) -> str:
    parts = [str(i.get("error") or i.get("error_message") or "").strip() for i in items]
    message = "; ".join(p for p in parts if p)
    if not message:
        snippet = " ".join(text.split())[:120]
        message = f"HTTP {status}" + (f": {snippet}" if snippet else " (empty body)")
    return message[:_MAX_MESSAGE]


def parse_error(response: Any) -> MoySkladError:
    """Map a non-2xx ``requests.Response`` to its typed error (never raises)."""
    status = int(getattr(response, "status_code", 0) or 0) or None
    try:
        text = response.text or ""
    except Exception:  # a broken gzip stream, say
        text = ""
    try:
        body: Any = json.loads(text) if text.strip() else None
    except ValueError:
        body = None
    items = error_items(body)
    codes = _codes(items)
    message = _message(items, status, text if body is None else "")
    parameter = next((str(i["parameter"]) for i in items if i.get("parameter")), None)
    retry_after = retry_after_seconds(getattr(response, "headers", None))
    return classify(status, codes, message, retry_after, parameter=parameter)


def classify(status: int | None, codes: tuple[int, ...], message: str, retry_after: float | None = None,
             *, parameter: str | None = None) -> MoySkladError:
    code_set = set(codes)

    def make(cls: type[MoySkladError], **kw: Any) -> MoySkladError:
        return cls(message, status, codes, retry_after=kw.pop("retry_after", retry_after),
                   parameter=parameter, **kw)

    if status == 429 or code_set & RATE_CODES:
        # 1095 may come as 429 too: "retry in about a minute" when no header says otherwise.
        default = 60.0 if 1095 in code_set else 1.0
        return make(RateLimited, retry_after=retry_after if retry_after is not None else default)
    if code_set & FEATURE_CODES:
        return make(FeatureUnavailable)
    if status == 401 or code_set & AUTH_CODES:
        return make(AuthFailed)
    if code_set & UNAVAILABLE_CODES or (status is not None and status >= 500):
        return make(Unavailable)
    if status == 415:
        # Without gzip MoySklad answers 415 with an empty body; we always send gzip, so a 415 comes from
        # something in between (or a transient MoySklad fault): retryable, never our permanent failure.
        return make(Unavailable)
    if status == 403 or code_set & FORBIDDEN_CODES:
        return make(Forbidden)
    if status == 404 or code_set & NOT_FOUND_CODES:
        return make(NotFound)
    if status in (400, 409, 412, 413, 414, 422) or code_set & VALIDATION_CODES:
        return make(ValidationFailed)
    return make(MoySkladError)


def outage_retry_delay(exc: MoySkladError) -> float:
    """When a job that met ``exc`` (an outage, a limit, a bad answer) runs again: when MoySklad said (a
    429's pause, the circuit breaker's next probe), else in 5-15 s, spread so that a backlog of calls
    does not come back all at once."""
    if exc.retry_after:
        return max(0.2, float(exc.retry_after))
    return random.uniform(5.0, 15.0)
