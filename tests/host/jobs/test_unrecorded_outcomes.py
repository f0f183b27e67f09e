"""PostgreSQL goes away at the moment a job finishes, or a lease is released: given back once it answers.

Before, ``finish``/``retry``/``fail``/``park`` raised, and the job stayed ``running`` until its claim
expired (minutes), holding one of its tenant's running slots; a lease whose release failed blocked its
call until its TTL (5 minutes for the ms plugin's call lease).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from host_app.db import DbPool, DbUnavailable
from host_app.integrations.contract import Job, PermanentJobError, RetryLater, WaitForConfig
from host_app.leases import Leases
from tests.factories import sql
from tests.host.jobs.support import job, make_queue, runner_named


class SwitchablePool:
    """A ``DbPool`` that can be told PostgreSQL is down (every checkout raises ``DbUnavailable``)."""

    def __init__(self, pool: DbPool) -> None:
        self._pool = pool
        self.down = False

    @contextmanager
    def connection(self) -> Iterator[Any]:
        if self.down:
            raise DbUnavailable("PostgreSQL is unreachable: connection refused")
        with self._pool.connection() as conn:
            yield conn


def _raise(exc: Exception) -> Any:
    def handler(job: Job) -> None:
        raise exc
    return handler


@pytest.mark.parametrize("outcome", [
    lambda job: None,
    _raise(RetryLater(30, "busy")),
    _raise(WaitForConfig("credentials rejected")),
    _raise(PermanentJobError("no such event")),
    _raise(RuntimeError("boom")),
], ids=["done", "retry_later", "wait_for_config", "permanent", "failed_attempt"])
def test_a_job_whose_outcome_cannot_be_recorded_is_handed_back_once_postgresql_answers(db, db_url, behaviour,
                                                                                     outcome):
    pool = SwitchablePool(db)
    queue = make_queue(pool, behaviour)  # type: ignore[arg-type]
    runner = runner_named(queue, "worker-1")
    job_id = queue.enqueue("t.work", {}, enterprise_number="A")

    def run_then_lose_the_database(job: Job) -> None:
        pool.down = True
        outcome(job)
    behaviour.do = run_then_lose_the_database
    [row] = queue.claim(1, runner.worker)
    runner.execute(row)  # must not raise

    assert job(db_url, job_id)["state"] == "running"  # nothing could be written
    assert runner._hand_back_orphans() == 0  # noqa: SLF001 - still down: kept for later
    pool.down = False
    assert runner._hand_back_orphans() == 1  # noqa: SLF001 - the heartbeat loop's call

    back = job(db_url, job_id)
    assert (back["state"], back["locked_by"]) == ("pending", None)
    assert back["due_in"] <= 0
    assert "outcome could not be recorded" in back["last_error"]
    behaviour.do = lambda job: None
    assert runner.drain() == 1  # run again (handlers are idempotent) and recorded this time
    assert job(db_url, job_id)["state"] == "done"
    assert runner._hand_back_orphans() == 0  # noqa: SLF001


def test_an_unrecorded_job_that_another_worker_took_over_is_left_to_it(db, db_url, behaviour):
    pool = SwitchablePool(db)
    queue = make_queue(pool, behaviour)  # type: ignore[arg-type]
    runner = runner_named(queue, "worker-1")
    job_id = queue.enqueue("t.work", {}, enterprise_number="A")
    behaviour.do = lambda job: setattr(pool, "down", True)
    runner.execute(queue.claim(1, runner.worker)[0])
    pool.down = False
    # Meanwhile its claim expired and the reaper gave it to another worker, which is running it.
    sql(db_url, "UPDATE jobs SET locked_by = 'worker-2' WHERE id = %s", (job_id,))

    assert runner._hand_back_orphans() == 0  # noqa: SLF001
    assert job(db_url, job_id)["locked_by"] == "worker-2"


# ------------------------------------------------------------------------------------------- leases


def test_a_lease_whose_release_failed_is_released_once_postgresql_answers(db, db_url):
    pool = SwitchablePool(db)
    leases = Leases(pool)  # type: ignore[arg-type]
    lease = leases.acquire("ms:call:A:1.1", ttl=300)
    assert lease is not None

    pool.down = True
    lease.release()  # must not raise
    assert leases.retry_releases() == 0  # still down
    assert sql(db_url, "SELECT count(*) FROM leases")[0][0] == 1
    pool.down = False
    assert leases.retry_releases() == 1
    assert sql(db_url, "SELECT count(*) FROM leases")[0][0] == 0
    assert leases.acquire("ms:call:A:1.1", ttl=300) is not None  # the call can go on at once


def test_a_failed_release_is_forgotten_once_the_lease_expired_by_itself(db, db_url):
    pool = SwitchablePool(db)
    leases = Leases(pool)  # type: ignore[arg-type]
    lease = leases.acquire("ms:client:A:+375291234567", ttl=0.01)
    assert lease is not None
    pool.down = True
    lease.release()
    pool.down = False
    time.sleep(0.05)
    sql(db_url, "UPDATE leases SET holder = 'someone-else'")  # taken over after it expired

    assert leases.retry_releases() == 0
    assert sql(db_url, "SELECT holder FROM leases") == [("someone-else",)]


@pytest.mark.parametrize("give_back", ["hand_back", "reap_stale", "worker_died"])
def test_a_job_given_back_while_its_duplicate_waits_is_superseded_and_the_rest_still_go_back(db, db_url, behaviour,
                                                                                             give_back):
    queue = make_queue(db, behaviour)
    running = queue.enqueue("t.work", {}, enterprise_number="A", key="call-1", dedupe=True)
    other = queue.enqueue("t.work", {}, enterprise_number="A", key="call-2", dedupe=True)
    assert sorted(r["id"] for r in queue.claim(10, "w:1")) == sorted([running, other])
    # Enqueued while the first one ran (a follow-up asked for again): the one pending duplicate allowed.
    waiting = queue.enqueue("t.work", {}, enterprise_number="A", key="call-1", dedupe=True)
    assert waiting is not None

    if give_back == "hand_back":
        assert queue.hand_back([running, other], "w:1") == 2
    elif give_back == "reap_stale":
        sql(db_url, "UPDATE jobs SET locked_until = now() - interval '1 second' WHERE state = 'running'")
        assert queue.reap_stale() == 2
    else:
        from host_app.worker_exit import release_dead_worker

        assert release_dead_worker(db_url, "w:1")[0] == 2

    assert job(db_url, running)["state"] == "done"  # the waiting duplicate does its work
    assert "superseded" in job(db_url, running)["last_error"]
    assert job(db_url, other)["state"] == "pending" and job(db_url, waiting)["state"] == "pending"
