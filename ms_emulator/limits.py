"""Rate and concurrency limits, enforced exactly and observed.

Phone API: <=100 requests in any sliding 5 s window per key, <=5 in flight per key, <=100 in flight per IP.
JSON API: a bucket of 45 units per sliding 3 s per user (a request weighs 4 with login/password or a user
token from Dec 2026), <=5 in flight per user and <=20 per account.

Enforcement counts only admitted requests (a refused request takes no slot). Observation counts every
request that carried valid credentials, refused or not: `max_in_window` is what the *client* sent, so a
test can prove that a client never exceeded a limit. All methods are called under EmulatorState.lock.
"""
from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

Scope = tuple[str, str]  # ("phone_key" | "phone_ip" | "json_user" | "json_account", id)


class SlidingWindow:
    """(time, weight) events inside a sliding window; an event at t is inside (now - window, now]."""

    def __init__(self) -> None:
        self.events: deque[tuple[float, int]] = deque()
        self.total = 0

    def prune(self, now: float, window: float) -> None:
        edge = now - window
        while self.events and self.events[0][0] <= edge:
            self.total -= self.events.popleft()[1]

    def add(self, now: float, weight: int) -> None:
        self.events.append((now, weight))
        self.total += weight

    def wait_until_fits(self, now: float, window: float, weight: int, capacity: int) -> float:
        """Seconds until `weight` more units fit under `capacity` (0 when they fit now)."""
        excess = self.total + weight - capacity
        if excess <= 0:
            return 0.0
        freed = 0
        for t, w in self.events:
            freed += w
            if freed >= excess:
                return max(0.0, t + window - now)
        return window


@dataclass
class PrincipalStats:
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    max_in_window: int = 0
    max_units_in_window: int = 0
    rejected: Counter[int] = field(default_factory=Counter)
    window: SlidingWindow = field(default_factory=SlidingWindow)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "max_in_window": self.max_in_window,
            "max_units_in_window": self.max_units_in_window,
            "rejected": {str(code): n for code, n in sorted(self.rejected.items())},
        }


@dataclass
class Admission:
    allowed: bool
    code: int | None
    headers: dict[str, str]
    held: list[Scope]


class Limiter:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.accepted: dict[tuple[str, str], SlidingWindow] = {}
        self.enforced_in_flight: Counter[Scope] = Counter()
        self.observed: dict[tuple[str, str], PrincipalStats] = {}
        self.scope_in_flight: Counter[Scope] = Counter()
        self.scope_max_in_flight: Counter[Scope] = Counter()
        self.rejections: Counter[tuple[str, int]] = Counter()

    # ---- observation -------------------------------------------------------------------------
    def observe_start(self, api: str, principal: str, scopes: list[Scope], weight: int, now: float,
                      window: float) -> None:
        stats = self.observed.setdefault((api, principal), PrincipalStats())
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        stats.window.prune(now, window)
        stats.window.add(now, weight)
        stats.max_in_window = max(stats.max_in_window, len(stats.window.events))
        stats.max_units_in_window = max(stats.max_units_in_window, stats.window.total)
        for scope in scopes:
            self.scope_in_flight[scope] += 1
            self.scope_max_in_flight[scope] = max(self.scope_max_in_flight[scope], self.scope_in_flight[scope])

    def observe_end(self, api: str, principal: str, scopes: list[Scope]) -> None:
        stats = self.observed.get((api, principal))
        if stats is not None:
            stats.in_flight = max(0, stats.in_flight - 1)
        for scope in scopes:
            self.scope_in_flight[scope] = max(0, self.scope_in_flight[scope] - 1)

    # ---- enforcement -------------------------------------------------------------------------
    def admit(self, api: str, principal: str, weight: int, capacity: int, window: float,
              parallel: list[tuple[Scope, int]], now: float, enabled: bool) -> Admission:
        bucket = self.accepted.setdefault((api, principal), SlidingWindow())
        bucket.prune(now, window)
        if not enabled:
            return Admission(True, None, {}, [])
        wait = bucket.wait_until_fits(now, window, weight, capacity)
        code: int | None = None
        if wait > 0:
            code = 1049
        elif any(self.enforced_in_flight[scope] >= limit for scope, limit in parallel):
            code = 1073
        if code is not None:
            self.rejections[(api, code)] += 1
            stats = self.observed.get((api, principal))
            if stats is not None:
                stats.rejected[code] += 1
            # Parallel refusals carry no window wait; advise a short pause rather than 0 ms.
            retry_ms = _ms(wait) if code == 1049 else max(_ms(wait), 100)
            headers = self._headers(bucket, capacity, window, weight, now)
            headers["X-Lognex-Retry-After"] = str(retry_ms)
            headers["X-Lognex-Reset"] = str(retry_ms)
            return Admission(False, code, headers, [])
        bucket.add(now, weight)
        held = [scope for scope, _ in parallel]
        for scope in held:
            self.enforced_in_flight[scope] += 1
        return Admission(True, None, self._headers(bucket, capacity, window, weight, now), held)

    def release(self, held: list[Scope]) -> None:
        for scope in held:
            self.enforced_in_flight[scope] = max(0, self.enforced_in_flight[scope] - 1)

    @staticmethod
    def _headers(bucket: SlidingWindow, capacity: int, window: float, weight: int, now: float) -> dict[str, str]:
        """Limit/Remaining are in units (requests for the Phone API, whose weight is 1); times in ms."""
        return {
            "X-RateLimit-Limit": str(capacity),
            "X-RateLimit-Remaining": str(max(0, capacity - bucket.total)),
            "X-Lognex-Retry-TimeInterval": str(int(window * 1000)),
            "X-Lognex-Reset": str(_ms(bucket.wait_until_fits(now, window, weight, capacity))),
        }

    # ---- reporting ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        principals: dict[str, dict[str, Any]] = {}
        for (api, principal), stats in sorted(self.observed.items()):
            principals.setdefault(api, {})[principal] = stats.as_dict()
        scopes: dict[str, dict[str, Any]] = {}
        for (kind, ident), peak in sorted(self.scope_max_in_flight.items()):
            scopes.setdefault(kind, {})[ident] = {
                "in_flight": self.scope_in_flight[(kind, ident)], "max_in_flight": peak}
        rejected: dict[str, dict[str, int]] = {}
        for (api, code), n in sorted(self.rejections.items()):
            rejected.setdefault(api, {})[str(code)] = n
        return {"principals": principals, "scopes": scopes, "rejected_429": rejected,
                "total_429": sum(self.rejections.values())}


def _ms(seconds: float) -> int:
    return int(math.ceil(seconds * 1000)) if seconds > 0 else 0
