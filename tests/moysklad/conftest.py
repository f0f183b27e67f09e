"""Fixtures of the MoySklad client tests: a fake clock, an in-memory limiter, recorded observers,
clients wired to ``responses``, and a real PostgreSQL pool for the limiter tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ms_plugin.moysklad.errors import LimiterBusy
from ms_plugin.moysklad.limiter import LimitSpec, Slot
from ms_plugin.moysklad.phone_api import PhoneApiClient
from ms_plugin.moysklad.records import RequestRecord
from ms_plugin.moysklad.remap import BasicAuth, BearerAuth, RemapClient
from ms_plugin.moysklad.timeouts import Budget, Timeouts
from ms_plugin.moysklad.transport import Transport

FIXTURES = Path(__file__).with_name("fixtures")
PHONE = "https://api.moysklad.invalid/api/phone/1.0"
JSON_API = "https://api.moysklad.invalid/api/remap/1.2"
TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
LOGIN = "admin@shop-example"
PASSWORD = "s3cret-Pa55word!"
API_TOKEN = "3f2a9c0d5e7b41a8c6d2e9f0b1a4c7d8e2f5a6b9"

FAST = Timeouts(hot=Budget(3.05, 5.0, 2, 10.0, 1.0, 0.2, 1.0),
                background=Budget(3.05, 30.0, 4, 120.0, 15.0, 0.5, 8.0))


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class FakeClock:
    """Time that only moves when someone sleeps (or the test says so)."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class MemoryLimiter:
    """The limiter protocol in memory: cooldowns honoured through the fake clock, calls recorded."""

    clock: FakeClock
    acquired: list[LimitSpec] = field(default_factory=list)
    released: list[tuple[Slot, str]] = field(default_factory=list)
    cooldowns: list[tuple[str, float]] = field(default_factory=list)
    cooldown_until: dict[str, float] = field(default_factory=dict)
    busy: LimiterBusy | None = None
    _next: int = 0

    def acquire(self, spec: LimitSpec, *, max_wait: float, ttl: float) -> Slot:
        if self.busy is not None:
            raise self.busy
        wait = self.cooldown_until.get(spec.key, 0.0) - self.clock()
        if wait > 0:
            if wait > max_wait:
                raise LimiterBusy(wait, "cooldown", spec.key)
            self.clock.sleep(wait)
        self.acquired.append(spec)
        self._next += 1
        return Slot(spec.key, self._next, None, False)

    def release(self, slot: Slot, result: str) -> None:
        self.released.append((slot, result))

    def cooldown(self, key: str, seconds: float) -> float:
        self.cooldowns.append((key, seconds))
        self.cooldown_until[key] = max(self.cooldown_until.get(key, 0.0), self.clock() + seconds)
        return self.cooldown_until[key]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> MemoryLimiter:
    return MemoryLimiter(clock)


@pytest.fixture
def records() -> list[RequestRecord]:
    return []


@pytest.fixture
def transport() -> Iterator[Transport]:
    t = Transport(pool_maxsize=4)
    yield t
    t.close()


def _kw(clock: FakeClock) -> dict[str, Any]:
    return {"sleep": clock.sleep, "clock": clock, "rng": lambda: 0.5}


@pytest.fixture
def phone(transport: Transport, limiter: MemoryLimiter, records: list[RequestRecord],
          clock: FakeClock) -> PhoneApiClient:
    return PhoneApiClient(transport, TOKEN, limiter, base_url=PHONE, observer=records.append, timeouts=FAST,
                          json_base_url=JSON_API, **_kw(clock))


@pytest.fixture
def remap(transport: Transport, limiter: MemoryLimiter, records: list[RequestRecord],
          clock: FakeClock) -> RemapClient:
    return RemapClient(transport, BasicAuth(LOGIN, PASSWORD), limiter, base_url=JSON_API,
                       observer=records.append, timeouts=FAST, **_kw(clock))


@pytest.fixture
def remap_bearer(transport: Transport, limiter: MemoryLimiter, records: list[RequestRecord],
                 clock: FakeClock) -> RemapClient:
    return RemapClient(transport, BearerAuth(API_TOKEN), limiter, base_url=JSON_API,
                       observer=records.append, timeouts=FAST, **_kw(clock))


@pytest.fixture
def pg(db_url: str) -> Iterator[Any]:
    """A pool on the migrated per-session test database (tables truncated after the test)."""
    from host_app.db import DbPool

    pool = DbPool(db_url, size=6, timeout=10)
    yield pool
    pool.close()
