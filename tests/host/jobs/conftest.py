"""Fixtures of the durable job queue tests: a pool, a scripted handler, four "workers"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from host_app.db import DbPool
from host_app.jobs import JobQueue
from tests.host.jobs.support import Behaviour, make_queue


@pytest.fixture
def db(db_url: str) -> Iterator[DbPool]:
    pool = DbPool(db_url, size=6, timeout=5.0)
    yield pool
    pool.close()


@pytest.fixture
def behaviour() -> Behaviour:
    return Behaviour()


@pytest.fixture
def four_workers(db_url: str, behaviour: Behaviour) -> Iterator[Callable[..., list[JobQueue]]]:
    pools: list[DbPool] = []

    def make(**kwargs: Any) -> list[JobQueue]:
        pools.extend(DbPool(db_url, size=2, timeout=5.0) for _ in range(4))
        return [make_queue(pool, behaviour, **kwargs) for pool in pools]

    yield make
    for pool in pools:
        pool.close()
