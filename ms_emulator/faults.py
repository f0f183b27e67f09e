"""Fault injection: outages, one-shot injected responses, dropped connections and latency.

All methods run under EmulatorState.lock, except that the caller sleeps the latency *outside* it.
"""
from __future__ import annotations

import fnmatch
import random
import time
from dataclasses import dataclass, field
from typing import Any

from .knobs import Knobs

API_PREFIX = {"phone": "/api/phone/1.0", "json": "/api/remap/1.2"}
# The error code MoySklad would put in the envelope for a given injected status.
DEFAULT_CODES = {429: 1049, 500: 1999, 502: 1999, 503: 1074, 504: 1999}
DROP_MODES = (None, "before", "after")


@dataclass
class Injection:
    id: int
    path: str
    method: str | None = None
    api: str | None = None
    remaining: int = 1
    status: int | None = None
    body: Any = None  # dict/list -> JSON, str -> sent verbatim (e.g. malformed JSON), None -> envelope
    code: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: str | None = None  # "before": no processing, no answer; "after": processed, answer lost
    delay_ms: float = 0.0
    hits: int = 0

    def matches(self, api: str, method: str, path: str) -> bool:
        if self.api and self.api != api:
            return False
        if self.method and self.method.upper() not in ("*", method.upper()):
            return False
        # A full path ("/api/phone/1.0/call*") or a glob starting with "*" matches the whole path; any
        # other pattern ("/call", "/entity/task*") matches the path below the API's prefix.
        if self.path.startswith(("/api/", "*")):
            return fnmatch.fnmatchcase(path, self.path)
        return fnmatch.fnmatchcase(path[len(API_PREFIX[api]):], self.path)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "path": self.path, "method": self.method, "api": self.api,
            "remaining": self.remaining, "status": self.status, "body": self.body, "code": self.code,
            "headers": self.headers, "drop": self.drop, "delay_ms": self.delay_ms, "hits": self.hits,
        }


@dataclass
class Outage:
    api: str | None
    until: float | None  # time.monotonic() deadline; None = until cleared
    status: int = 503
    code: int = 1074


class Faults:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.outage: Outage | None = None
        self.injections: list[Injection] = []
        self._next_id = 1

    # ---- outage --------------------------------------------------------------------------------
    def set_outage(self, seconds: float | None = None, api: str | None = None, status: int = 503,
                   code: int = 1074) -> None:
        until = time.monotonic() + seconds if seconds is not None else None
        self.outage = Outage(api=api, until=until, status=status, code=code)

    def clear_outage(self) -> None:
        self.outage = None

    def active_outage(self, api: str) -> Outage | None:
        outage = self.outage
        if outage is None:
            return None
        if outage.until is not None and time.monotonic() >= outage.until:
            self.outage = None
            return None
        return outage if outage.api in (None, api) else None

    # ---- injected responses ----------------------------------------------------------------------
    def inject(self, path: str, *, method: str | None = None, api: str | None = None, count: int = 1,
               status: int | None = None, body: Any = None, code: int | None = None,
               headers: dict[str, str] | None = None, drop: str | None = None,
               delay_ms: float = 0.0) -> Injection:
        if drop not in DROP_MODES:
            raise ValueError("drop must be null, 'before' or 'after'")
        if api is not None and api not in API_PREFIX:
            raise ValueError("api must be 'phone' or 'json'")
        if status is None and drop is None and not delay_ms:
            raise ValueError("an injection needs a status, a drop mode or a delay")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be an integer >= 1")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599):
            raise ValueError("status must be an HTTP status code")
        if isinstance(delay_ms, bool) or not isinstance(delay_ms, (int, float)) or delay_ms < 0:
            raise ValueError("delay_ms must be a non-negative number")
        if not isinstance(headers or {}, dict):
            raise ValueError("headers must be an object")
        injection = Injection(id=self._next_id, path=path, method=method, api=api, remaining=count,
                              status=status, body=body, code=code, headers=dict(headers or {}),
                              drop=drop, delay_ms=delay_ms)
        self._next_id += 1
        self.injections.append(injection)
        return injection

    def take(self, api: str, method: str, path: str) -> Injection | None:
        """The first matching injection, consumed by one (injections fire in the order they were set)."""
        for injection in self.injections:
            if injection.remaining > 0 and injection.matches(api, method, path):
                injection.remaining -= 1
                injection.hits += 1
                if injection.remaining == 0:
                    self.injections.remove(injection)
                return injection
        return None

    def clear_injections(self) -> None:
        self.injections = []

    def snapshot(self) -> dict[str, Any]:
        outage = None
        if self.outage is not None:
            left = None if self.outage.until is None else max(0.0, self.outage.until - time.monotonic())
            outage = {"api": self.outage.api, "seconds_left": left, "status": self.outage.status,
                      "code": self.outage.code}
        return {"outage": outage, "injections": [i.as_dict() for i in self.injections]}


def latency_seconds(api: str, knobs: Knobs, rng: random.Random) -> float:
    """Configured delay for one request: fixed + uniform jitter + slow mode."""
    if api == "phone":
        base, jitter = knobs.phone_latency_ms, knobs.phone_jitter_ms
    else:
        base, jitter = knobs.json_latency_ms, knobs.json_jitter_ms
    total = base + (rng.uniform(0, jitter) if jitter else 0.0) + knobs.slow_mode_ms
    return total / 1000.0
