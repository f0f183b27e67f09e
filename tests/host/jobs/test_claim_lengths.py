"""How long a claim lasts: 30 s, renewed by the heartbeat every 10 s, so the jobs of a machine that vanished
are re-driven within about 30 s (a worker gunicorn saw die gives its jobs back at once, see
``tests/host/test_worker_exit.py``); a kind's own ``lease_seconds`` is honoured."""

from __future__ import annotations

from typing import Any

import pytest

from host_app.integrations.contract import Job
from host_app.jobs.queue import CLAIM_SECONDS, HEARTBEAT_SECONDS, JobQueue
from tests.factories import sql
from tests.host.jobs.support import make_queue, runner_named


def claim_left(db_url: str, job_id: int) -> float:
    return float(sql(db_url, "SELECT extract(epoch FROM locked_until - now()) FROM jobs WHERE id = %s",
                     (job_id,))[0][0])


def test_a_claim_lasts_30_seconds_and_the_heartbeat_renews_it_three_times_within(db, db_url, behaviour):
    assert (CLAIM_SECONDS, HEARTBEAT_SECONDS) == (30.0, 10.0)
    queue = make_queue(db, behaviour)
    runner = runner_named(queue, "worker-1")
    job_id = queue.enqueue("t.work", {}, enterprise_number="A")
    left: dict[str, float] = {}

    def handler(job: Job) -> None:
        left["claimed"] = claim_left(db_url, job.id)
        sql(db_url, "UPDATE jobs SET locked_until = now() + interval '5 seconds' WHERE id = %s", (job.id,))
        runner._heartbeat()  # noqa: SLF001 - what the heartbeat loop runs every HEARTBEAT_SECONDS
        left["renewed"] = claim_left(db_url, job.id)
    behaviour.do = handler

    assert runner.drain() == 1
    assert 25 < left["claimed"] <= 30
    assert 25 < left["renewed"] <= 30
    assert sql(db_url, "SELECT state FROM jobs WHERE id = %s", (job_id,)) == [("done",)]


def test_a_kinds_own_lease_seconds_is_used_when_claiming_and_renewing(db, db_url, behaviour):
    queue = JobQueue(db)
    queue.register("t.work", behaviour, integration="t")
    queue.register("t.slow", behaviour, integration="t", lease_seconds=90.0)
    runner = runner_named(queue, "worker-1")
    usual = queue.enqueue("t.work", {}, enterprise_number="A")
    slow = queue.enqueue("t.slow", {}, enterprise_number="B")

    rows = runner._claim(2)  # noqa: SLF001 - the runner's claim path
    assert sorted(r["id"] for r in rows) == sorted([usual, slow])
    assert 85 < claim_left(db_url, slow) <= 90
    assert 25 < claim_left(db_url, usual) <= 30
    sql(db_url, "UPDATE jobs SET locked_until = now() + interval '1 second'")
    runner._heartbeat()  # noqa: SLF001
    assert 85 < claim_left(db_url, slow) <= 90
    assert 25 < claim_left(db_url, usual) <= 30


def test_a_lease_shorter_than_two_heartbeats_is_refused(db, behaviour):
    queue = JobQueue(db)
    with pytest.raises(ValueError, match="lease_seconds"):
        queue.register("t.work", behaviour, integration="t", lease_seconds=15.0)


def test_a_job_claimed_with_another_keeps_its_claim_while_it_waits_for_the_first(db, db_url, behaviour):
    # The immediate path claims an event's jobs at once; without a free slot the second one runs after
    # the first, in the same greenlet. Its claim must not run out meanwhile (another worker would run
    # it too).
    queue = make_queue(db, behaviour, integrations=("t", "u"))
    runner = runner_named(queue, "worker-1")  # no spawner: the second job waits for the first
    first = queue.enqueue("t.work", {}, enterprise_number="A")
    second = queue.enqueue("u.work", {}, enterprise_number="A")
    left: dict[int, Any] = {}

    def handler(job: Job) -> None:
        if job.id == first:
            sql(db_url, "UPDATE jobs SET locked_until = now() + interval '1 second' WHERE id = %s", (second,))
            runner._heartbeat()  # noqa: SLF001 - the heartbeat fires while the first job runs
            left[second] = claim_left(db_url, second)
    behaviour.do = handler

    runner._claim_and_run([first, second])  # noqa: SLF001 - the wake path

    assert 25 < left[second] <= 30
    assert [j.id for j in behaviour.seen] == [first, second]
    assert not runner._running  # noqa: SLF001 - nothing left to renew
