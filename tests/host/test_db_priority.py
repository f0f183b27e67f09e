"""Requests come first in the database pool: background work never takes the reserved connections.

Under load, up to 32 job greenlets per worker shared the 10 pooled connections with the PBX's 202
acknowledgement, which then waited seconds for one. Background work (jobs, what ``BoundedSpawner`` runs,
housekeeping) now holds at most ``size - HOST_DB_POOL_RESERVED`` connections.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from host_app.background import BoundedSpawner, run_with_budget
from host_app.db import DbPool, PoolTimeout, background_work, in_background
from host_app.settings import SettingsError, load_settings
from tests.conftest import app_config
from tests.factories import make_enterprise, sql
from tests.host.jobs.support import Behaviour, make_queue, runner_named, wait_for


@contextlib.contextmanager
def background_holders(pool: DbPool, attempts: int, expected: int) -> Iterator[None]:
    """``attempts`` threads of background work, each trying to hold a pooled connection until the block
    ends; the block starts once ``expected`` of them hold one (the others wait for a slot)."""
    held = threading.Semaphore(0)
    done = threading.Event()

    def hold() -> None:
        with contextlib.suppress(PoolTimeout), background_work(), pool.connection():
            held.release()
            done.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for _ in range(expected):
        assert held.acquire(timeout=5)
    time.sleep(0.1)  # the others are now waiting for a slot (or, without a reserve, hold one too)
    try:
        yield
    finally:
        done.set()
        for thread in threads:
            thread.join(10)


def test_with_every_background_slot_taken_a_request_still_gets_a_connection_at_once(db_url):
    pool = DbPool(db_url, size=4, reserved=2, timeout=2.0)
    try:
        with background_holders(pool, attempts=4, expected=2):
            started = time.monotonic()
            with pool.connection() as first, pool.connection() as second:  # both reserved connections
                for conn in (first, second):
                    with conn.cursor() as cur:
                        cur.execute("SELECT 1")
            assert time.monotonic() - started < 0.5
    finally:
        pool.close()


def test_background_work_waits_for_its_own_slots_and_never_takes_the_reserved_ones(db_url):
    pool = DbPool(db_url, size=4, reserved=2, timeout=0.3)
    try:
        with background_holders(pool, attempts=2, expected=2):
            started = time.monotonic()
            with pytest.raises(PoolTimeout), background_work(), pool.connection():
                pass
            assert time.monotonic() - started >= 0.25
            with pool.connection():  # a request still gets one
                pass
        with background_work(), pool.connection():  # and background work again once a slot is free
            pass
    finally:
        pool.close()


def test_background_work_holding_its_last_slot_may_take_a_second_connection(db_url):
    # A job that writes a journal row while it holds a connection: it must not wait on itself.
    pool = DbPool(db_url, size=2, reserved=1, timeout=0.5)
    try:
        with background_work(), pool.connection() as outer, pool.connection() as inner:
            assert outer is not inner
    finally:
        pool.close()


def test_the_reserve_must_leave_background_work_a_connection():
    with pytest.raises(ValueError):
        DbPool("postgresql://unused", size=3, reserved=3)


def test_host_db_pool_reserved_defaults_to_three_and_is_checked_against_the_pool_size(db_url, tmp_path):
    def settings(**env: Any) -> Any:
        return load_settings(app_config(db_url, str(tmp_path), **env))

    assert settings(HOST_DB_POOL_SIZE=10).db_pool_reserved == 3
    assert settings(HOST_DB_POOL_SIZE=4).db_pool_reserved == 2  # never more than half a small pool
    assert settings(HOST_DB_POOL_SIZE=1).db_pool_reserved == 0
    assert settings(HOST_DB_POOL_SIZE=10, HOST_DB_POOL_RESERVED=5).db_pool_reserved == 5
    with pytest.raises(SettingsError) as err:
        settings(HOST_DB_POOL_SIZE=4, HOST_DB_POOL_RESERVED=4)
    assert "HOST_DB_POOL_RESERVED" in err.value.errors


# ----------------------------------------------------------------------------- who counts as background


def test_jobs_run_as_background_work_and_their_budgeted_tasks_inherit_it(db, behaviour):
    queue = make_queue(db, behaviour)
    runner = runner_named(queue, "worker-1")
    seen: dict[str, bool] = {}

    def handler(job: Any) -> None:
        seen["job"] = in_background()
        seen["task"] = run_with_budget({"task": in_background}, 2.0).results["task"]
    behaviour.do = handler
    queue.enqueue("t.work", {}, enterprise_number="A")

    assert runner.drain() == 1
    assert seen == {"job": True, "task": True}
    assert not in_background()  # the caller's own mark is untouched


def test_a_requests_budgeted_tasks_keep_request_priority():
    outcome = run_with_budget({"lookup": in_background}, 2.0)
    assert outcome.results == {"lookup": False}


def test_what_the_bounded_spawner_runs_is_background_work():
    seen: list[bool] = []
    spawner = BoundedSpawner(2)
    spawner.spawn(lambda: seen.append(in_background()))
    assert wait_for(lambda: seen == [True])
    assert spawner.try_spawn(lambda: seen.append(in_background()))
    assert wait_for(lambda: seen == [True, True])


# ----------------------------------------------------------------------------------- the dispatch route


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"HOST_DB_POOL_SIZE": 4, "HOST_DB_POOL_RESERVED": 2, "HOST_DB_POOL_TIMEOUT": 2}


def test_the_dispatch_acknowledgement_does_not_wait_for_background_jobs_holding_connections(client, host, db_url):
    make_enterprise(db_url, "0811", token="T0811", integrations_config={"echo": {"enabled": True}})
    with background_holders(host.services.db, attempts=4, expected=2):
        started = time.monotonic()
        resp = client.post("/dispatch/call-event", json={
            "token": "T0811", "uniqueId": "1.1", "event_type": "dial", "raw": {"UniqueId": "1.1"}})
        assert resp.status_code == 202, resp.get_data(as_text=True)
        assert time.monotonic() - started < 1.0
    assert sql(db_url, "SELECT count(*) FROM call_events")[0][0] == 1


@pytest.fixture
def db(db_url: str) -> Iterator[DbPool]:
    pool = DbPool(db_url, size=4, reserved=1, timeout=5.0)
    yield pool
    pool.close()


@pytest.fixture
def behaviour() -> Behaviour:
    return Behaviour()
