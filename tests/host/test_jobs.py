"""The durable job queue and its runner, against a real PostgreSQL.

Each test builds its own ``JobQueue`` with test-only job kinds (``t.*``), so the handlers of the loaded
plugins never run here. "Now" is PostgreSQL's clock: delays are checked as ``run_at - now()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from host_app.background import BoundedSpawner
from host_app.config_store import ConfigStore
from host_app.db import DbPool
from host_app.events import EventStore
from host_app.integrations.contract import Job, PermanentJobError, RetryLater, WaitForConfig
from host_app.jobs import JobQueue, JobRunner
from tests.factories import make_enterprise, sql


@pytest.fixture
def db(db_url: str) -> Iterator[DbPool]:
    pool = DbPool(db_url, size=6, timeout=5.0)
    yield pool
    pool.close()


class Behaviour:
    """A test handler whose next outcome the test decides: ``behaviour.do = lambda job: ...``."""

    def __init__(self) -> None:
        self.do: Callable[[Job], None] = lambda job: None
        self.seen: list[Job] = []

    def __call__(self, job: Job) -> None:
        self.seen.append(job)
        self.do(job)


@pytest.fixture
def behaviour() -> Behaviour:
    return Behaviour()


def make_queue(db: DbPool, behaviour: Behaviour, *, tenant_parallel: int = 4, max_attempts: int = 3,
               max_age: float = 3600.0, integrations: tuple[str, ...] = ("t",)) -> JobQueue:
    queue = JobQueue(db, tenant_parallel=tenant_parallel)
    for code in integrations:
        queue.register(f"{code}.work", behaviour, integration=code, max_attempts=max_attempts,
                       max_age=max_age)
    return queue


def runner_named(queue: JobQueue, worker: str, spawner: BoundedSpawner | None = None) -> JobRunner:
    runner = JobRunner(queue, spawner, poll_interval=0.05)
    runner.worker = worker  # two runners in one test process must look like two processes
    return runner


def job(db_url: str, job_id: int) -> dict[str, Any]:
    rows = sql(db_url, "SELECT state, attempts, last_error, locked_by, "
                       "extract(epoch FROM run_at - now())::float AS due_in FROM jobs WHERE id = %s", (job_id,))
    state, attempts, last_error, locked_by, due_in = rows[0]
    return {"state": state, "attempts": attempts, "last_error": last_error, "locked_by": locked_by,
            "due_in": due_in}


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# ------------------------------------------------------------------------------------------ fairness


def test_a_flood_from_one_tenant_does_not_keep_another_tenants_job_from_the_first_batch(db, db_url, behaviour):
    queue = make_queue(db, behaviour)
    sql(db_url, "INSERT INTO jobs (integration, kind, enterprise_number, payload, run_at) "
                "SELECT 't', 't.work', 'A', '{}'::jsonb, now() - interval '1 minute' "
                "FROM generate_series(1, 500)")
    b_job = queue.enqueue("t.work", {}, enterprise_number="B")  # the newest job of all

    claimed = queue.claim(8, "worker-1")

    tenants = [row["enterprise_number"] for row in claimed]
    assert b_job in [row["id"] for row in claimed]
    assert tenants.count("A") <= queue.tenant_parallel


def test_claims_take_turns_across_tenants_before_any_tenant_gets_a_second_job(db, behaviour):
    queue = make_queue(db, behaviour)
    for ent in ("A", "A", "A", "B", "B", "C"):
        queue.enqueue("t.work", {}, enterprise_number=ent)

    claimed = queue.claim(3, "worker-1")

    assert sorted(row["enterprise_number"] for row in claimed) == ["A", "B", "C"]


# ------------------------------------------------------------------------------------ key exclusion


def test_jobs_with_the_same_key_are_claimed_one_at_a_time(db, behaviour):
    queue = make_queue(db, behaviour)
    first, second = (queue.enqueue("t.work", {"n": n}, enterprise_number="A", key="call-1") for n in (1, 2))
    other = queue.enqueue("t.work", {}, enterprise_number="A", key="call-2")

    batch = [row["id"] for row in queue.claim(10, "worker-1")]
    assert sorted(batch) == sorted([first, other])
    assert queue.claim(10, "worker-2") == []  # call-1 is running: its second job waits

    queue.finish(first, "worker-1")
    assert [row["id"] for row in queue.claim(10, "worker-2")] == [second]


def claim_all_at_once(queues: list[JobQueue], ids_per_claimer: list[list[int] | None]) -> None:
    """Start one claim per queue at the same instant (threads behind a barrier), like several workers
    whose wake paths (``ids``) or poll loops (``None``) fire together."""
    barrier = threading.Barrier(len(queues))
    errors: list[BaseException] = []

    def claim(queue: JobQueue, worker: str, ids: list[int] | None) -> None:
        try:
            barrier.wait()
            queue.claim(20, worker, ids=ids)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(q, f"w{i}", ids))
               for i, (q, ids) in enumerate(zip(queues, ids_per_claimer))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


@pytest.fixture
def four_workers(db_url: str, behaviour: Behaviour) -> Iterator[Callable[..., list[JobQueue]]]:
    pools: list[DbPool] = []

    def make(**kwargs: Any) -> list[JobQueue]:
        pools.extend(DbPool(db_url, size=2, timeout=5.0) for _ in range(4))
        return [make_queue(pool, behaviour, **kwargs) for pool in pools]

    yield make
    for pool in pools:
        pool.close()


def test_concurrent_claimers_never_run_two_jobs_of_one_key_at_once(db_url, four_workers):
    # Two events of one call stored by two workers at once: each worker's wake path claims its own
    # job by id, while the poll loops look at everything.
    queues = four_workers(tenant_parallel=50)
    for round_no in range(10):
        per_key = [[queues[0].enqueue("t.work", {}, enterprise_number=f"E{key % 2}", key=f"r{round_no}-k{key}")
                    for _ in range(2)] for key in range(5)]
        claim_all_at_once(queues, [[ids[0] for ids in per_key], [ids[1] for ids in per_key], None, None])
        doubled = sql(db_url, "SELECT key, count(*) FROM jobs WHERE state = 'running' "
                              "GROUP BY key HAVING count(*) > 1")
        assert doubled == [], f"round {round_no}: keys running twice: {doubled}"
        sql(db_url, "UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL "
                    "WHERE state IN ('running', 'pending')")


# --------------------------------------------------------------------------------- per-tenant cap


def test_one_tenant_runs_at_most_tenant_parallel_jobs_of_an_integration_at_once(db, behaviour):
    queue = make_queue(db, behaviour, tenant_parallel=2)
    ids = [queue.enqueue("t.work", {}, enterprise_number="A") for _ in range(5)]
    b_id = queue.enqueue("t.work", {}, enterprise_number="B")

    first = [row["id"] for row in queue.claim(10, "worker-1")]
    assert sorted(first) == sorted(ids[:2] + [b_id])
    assert queue.claim(10, "worker-2") == []  # A is at its cap, across workers

    queue.finish(ids[0], "worker-1")
    assert [row["id"] for row in queue.claim(10, "worker-2")] == [ids[2]]


def test_the_cap_of_one_integration_does_not_hold_back_another_integration_of_the_tenant(db, behaviour):
    queue = make_queue(db, behaviour, tenant_parallel=1, integrations=("slow", "fast"))
    slow = queue.enqueue("slow.work", {}, enterprise_number="A")
    queue.enqueue("slow.work", {}, enterprise_number="A")
    fast = queue.enqueue("fast.work", {}, enterprise_number="A")

    assert sorted(row["id"] for row in queue.claim(10, "worker-1")) == sorted([slow, fast])


def test_concurrent_claimers_keep_the_tenant_cap(db_url, four_workers):
    queues = four_workers(tenant_parallel=3)
    ids = [queues[0].enqueue("t.work", {}, enterprise_number="A") for _ in range(40)]

    claim_all_at_once(queues, [ids[0:10], ids[10:20], None, None])

    assert sql(db_url, "SELECT count(*) FROM jobs WHERE state = 'running'")[0][0] == 3


# ------------------------------------------------------------------------------------------ outcomes


def test_retry_later_reschedules_without_using_an_attempt(db, db_url, behaviour):
    queue = make_queue(db, behaviour)
    runner = runner_named(queue, "worker-1")
    job_id = queue.enqueue("t.work", {}, enterprise_number="A")

    def busy(job: Job) -> None:
        raise RetryLater(30, "lease busy")
    behaviour.do = busy

    assert runner.drain() == 1
    row = job(db_url, job_id)
    assert row["state"] == "pending"
    assert row["attempts"] == 0
    assert row["last_error"] == "lease busy"
    assert 25 < row["due_in"] <= 30
    assert runner.drain() == 0  # not due yet


def test_retry_later_counting_the_attempt_fails_the_job_at_max_attempts(db, db_url, behaviour):
    queue = make_queue(db, behaviour, max_attempts=2)
    runner = runner_named(queue, "worker-1")
    job_id = queue.enqueue("t.work", {}, enterprise_number="A")

    def rate_limited(job: Job) -> None:
        raise RetryLater(60, "429", count_attempt=True)
    behaviour.do = rate_limited

    runner.drain()
    assert job(db_url, job_id)["state"] == "pending"
    assert job(db_url, job_id)["attempts"] == 1
    queue.make_due()
    runner.drain()
    row = job(db_url, job_id)
    assert row["state"] == "failed"
    assert "gave up after 2 attempts" in row["last_error"]


def test_retry_later_past_max_age_fails_the_job(db, db_url, behaviour):
    queue = make_queue(db, behaviour, max_age=60)
    runner = runner_named(queue, "worker-1")
    job_id = queue.enqueue("t.work", {}, enterprise_number="A")
    sql(db_url, "UPDATE jobs SET created_at = now() - interval '2 minutes' WHERE id = %s", (job_id,))

    def still_busy(job: Job) -> None:
        raise RetryLater(1, "still busy")
    behaviour.do = still_busy

    runner.drain()

    row = job(db_url, job_id)
    assert row["state"] == "failed"
    assert "max age" in row["last_error"]


def test_wait_for_config_parks_the_job_until_that_integrations_config_changes(db, db_url, behaviour):
    make_enterprise(db_url, "700", integrations_config={"t": {"enabled": True}})
    make_enterprise(db_url, "701")
    queue = make_queue(db, behaviour)
    runner = runner_named(queue, "worker-1")
    config = ConfigStore(db)
    job_id = queue.enqueue("t.work", {}, enterprise_number="700")

    def needs_credentials(job: Job) -> None:
        raise WaitForConfig("credentials_invalid")
    behaviour.do = needs_credentials

    runner.drain()
    row = job(db_url, job_id)
    assert (row["state"], row["attempts"], row["last_error"]) == ("waiting", 0, "credentials_invalid")
    assert queue.counts("t", "700")["waiting"] == 1

    config.merge_section("700", "other", {"x": 1})  # another integration's section
    config.merge_section("701", "t", {"x": 1})  # another enterprise
    assert runner.drain(include_delayed=True) == 0
    assert job(db_url, job_id)["state"] == "waiting"

    behaviour.do = lambda job: None
    config.merge_section("700", "t", {"login": "fixed"})
    assert job(db_url, job_id)["state"] == "pending"
    assert runner.drain() == 1
    assert job(db_url, job_id)["state"] == "done"


def test_a_permanent_error_fails_the_job_at_once(db, db_url, behaviour):
    queue = make_queue(db, behaviour, max_attempts=5)
    runner = runner_named(queue, "worker-1")
    job_id = queue.enqueue("t.work", {}, enterprise_number="A")

    def refused(job: Job) -> None:
        raise PermanentJobError("MoySklad refused the data")
    behaviour.do = refused

    runner.drain(include_delayed=True)

    row = job(db_url, job_id)
    assert (row["state"], row["attempts"]) == ("failed", 1)
    assert row["last_error"] == "permanent: MoySklad refused the data"
    assert queue.counts("t")["failed"] == 1


def test_ordinary_exceptions_are_retried_with_backoff_until_max_attempts(db, db_url, behaviour):
    queue = make_queue(db, behaviour, max_attempts=3)
    runner = runner_named(queue, "worker-1")
    job_id = queue.enqueue("t.work", {}, enterprise_number="A")

    def boom(job: Job) -> None:
        raise RuntimeError(f"boom {job.attempts}")
    behaviour.do = boom

    runner.drain()
    first = job(db_url, job_id)
    assert (first["state"], first["attempts"], first["last_error"]) == ("pending", 1, "RuntimeError: boom 1")
    assert 1.0 < first["due_in"] <= 2.5  # 2 s ± 20 %
    assert runner.drain() == 0  # backing off

    queue.make_due()
    runner.drain()
    second = job(db_url, job_id)
    assert (second["state"], second["attempts"]) == ("pending", 2)
    assert 2.5 < second["due_in"] <= 5.0  # 4 s ± 20 %

    queue.make_due()
    runner.drain()
    last = job(db_url, job_id)
    assert (last["state"], last["attempts"], last["last_error"]) == ("failed", 3, "RuntimeError: boom 3")
    assert [j.attempts for j in behaviour.seen] == [1, 2, 3]


# ------------------------------------------------------------------------------------- crash safety


def test_a_job_of_a_crashed_worker_is_finished_by_another_worker(db, db_url, behaviour):
    queue = make_queue(db, behaviour)
    runner_a = runner_named(queue, "host-a:111")
    runner_b = runner_named(queue, "host-b:222")
    job_id = queue.enqueue("t.work", {"step": 1}, enterprise_number="A", key="call-9")

    claimed = queue.claim(1, runner_a.worker, lease_seconds=60)  # A takes it, then "dies"
    assert [row["id"] for row in claimed] == [job_id]
    assert runner_b.drain() == 0  # the lease holds: B must not take it
    assert queue.reap_stale() == 0

    sql(db_url, "UPDATE jobs SET locked_until = now() - interval '1 second' WHERE id = %s", (job_id,))
    assert queue.reap_stale() == 1
    assert runner_b.drain() == 1

    row = job(db_url, job_id)
    assert row["state"] == "done"
    assert behaviour.seen[-1].attempts == 2  # the crashed run counts
    queue.fail(job_id, runner_a.worker, "late result of the dead worker")
    assert job(db_url, job_id)["state"] == "done"  # no longer A's to finish


def test_a_job_that_keeps_killing_its_worker_is_failed_once_its_attempts_are_spent(db, db_url, behaviour):
    queue = make_queue(db, behaviour, max_attempts=2)
    job_id = queue.enqueue("t.work", {}, enterprise_number="A")
    for n in range(2):
        assert queue.claim(1, f"dead-{n}", lease_seconds=60)
        sql(db_url, "UPDATE jobs SET locked_until = now() - interval '1 second' WHERE id = %s", (job_id,))
        queue.reap_stale()

    row = job(db_url, job_id)
    assert row["state"] == "failed"
    assert "expired claim" in row["last_error"]
    assert queue.claim(1, "worker-x") == []


# ------------------------------------------------------------------------------------ run_soon/wake


def test_storing_an_event_asks_the_runner_to_start_its_jobs_now(db, db_url, behaviour):
    make_enterprise(db_url, "702")
    queue = make_queue(db, behaviour)
    woken: list[list[int]] = []
    queue.set_waker(woken.append)
    events = EventStore(db, queue, lambda ent: ("t",))

    result = events.submit("702", "1700000000.1", "dial", {"UniqueId": "1700000000.1"})

    job_ids = [r[0] for r in sql(db_url, "SELECT id FROM jobs WHERE kind = 't.call_event'")]
    assert result.accepted and not result.duplicate
    assert woken == [job_ids]


def test_a_woken_job_runs_at_once_in_the_background_without_polling(db, db_url, behaviour):
    queue = make_queue(db, behaviour)
    runner = runner_named(queue, "worker-1", BoundedSpawner(4))
    queue.set_waker(runner.wake)  # what runner.start() does, without the poll loop
    ran = threading.Event()
    behaviour.do = lambda job: ran.set()
    job_id = queue.enqueue("t.work", {}, enterprise_number="A")

    queue.run_soon([job_id])

    assert ran.wait(5)
    assert wait_for(lambda: job(db_url, job_id)["state"] == "done")


def test_waking_a_full_runner_does_not_block_the_caller(db, db_url, behaviour):
    queue = make_queue(db, behaviour, tenant_parallel=10)
    spawner = BoundedSpawner(2)
    runner = runner_named(queue, "worker-1", spawner)
    queue.set_waker(runner.wake)
    release = threading.Event()
    behaviour.do = lambda job: release.wait(10)
    try:
        busy = [queue.enqueue("t.work", {}, enterprise_number="A") for _ in range(2)]
        queue.run_soon(busy)
        assert wait_for(lambda: spawner.free_count() == 0)
        late = queue.enqueue("t.work", {}, enterprise_number="A")

        started = time.monotonic()
        queue.run_soon([late])  # the request that stored it must answer now; the poller runs it later
        assert time.monotonic() - started < 0.5
        assert job(db_url, late)["state"] == "pending"
    finally:
        release.set()
    assert wait_for(lambda: all(job(db_url, i)["state"] == "done" for i in busy))


def test_the_poll_loop_runs_jobs_stored_elsewhere(db, db_url, behaviour):
    queue = make_queue(db, behaviour)
    runner = runner_named(queue, "worker-1", BoundedSpawner(6))
    job_id = queue.enqueue("t.work", {}, enterprise_number="A")  # nobody woke a runner for it
    runner.start()
    try:
        assert wait_for(lambda: job(db_url, job_id)["state"] == "done")
    finally:
        runner.stop(timeout=2)
