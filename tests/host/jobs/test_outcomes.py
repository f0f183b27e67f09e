"""Outcomes of a run (retry, park, fail), crash safety and the immediate-run path, against a real PostgreSQL.

Each test builds its own ``JobQueue`` with test-only job kinds (``t.*``), so the handlers of the loaded
plugins never run here. "Now" is PostgreSQL's clock: delays are checked as ``run_at - now()``.
"""
from __future__ import annotations

import threading
import time


from host_app.background import BoundedSpawner
from host_app.config_store import ConfigStore
from host_app.events import EventStore
from host_app.integrations.contract import Job, PermanentJobError, RetryLater, WaitForConfig
from tests.factories import make_enterprise, sql
from tests.host.jobs.support import job, make_queue, runner_named, wait_for


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
