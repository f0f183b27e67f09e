"""A job held back by its key starts as soon as the key is free, not at the next poll.

Jobs of one key (one call) never run at once, so a ``dial`` stored 20 ms after its call's ``start`` cannot
be claimed by its own wake-up while the ``start`` runs; the runner that finishes a job claims the next
due job of that key itself (``claim(keys=...)``), which cut the card latency at low load from about
430 ms (a poll interval) to about 60 ms.
"""

from __future__ import annotations

from host_app.integrations.contract import Job, RetryLater
from tests.factories import sql
from tests.host.jobs.support import make_queue, runner_named


def test_claiming_by_key_takes_only_due_jobs_of_those_keys_and_one_per_key(db, db_url, behaviour):
    queue = make_queue(db, behaviour)
    first = queue.enqueue("t.work", {"n": 1}, enterprise_number="A", key="call-1")
    queue.enqueue("t.work", {"n": 2}, enterprise_number="A", key="call-1")
    queue.enqueue("t.work", {}, enterprise_number="A", key="call-2")
    queue.enqueue("t.work", {}, enterprise_number="A")  # no key
    later = queue.enqueue("t.work", {}, enterprise_number="B", key="call-3", delay=60)

    assert [r["id"] for r in queue.claim(10, "w1", keys=["call-1"])] == [first]
    assert queue.claim(10, "w1", keys=["call-1"]) == []  # its key is running now
    assert queue.claim(10, "w1", keys=["call-3"]) == []  # not due
    assert queue.claim(10, "w1", keys=["no-such-key"]) == []
    states = dict(sql(db_url, "SELECT key, count(*) FILTER (WHERE state = 'running') FROM jobs "
                              "WHERE key IS NOT NULL GROUP BY key"))
    assert states == {"call-1": 1, "call-2": 0, "call-3": 0}
    assert sql(db_url, "SELECT state FROM jobs WHERE id = %s", (later,)) == [("pending",)]


def test_the_next_job_of_a_key_runs_right_after_the_previous_one_without_a_poll(db, db_url, behaviour):
    queue = make_queue(db, behaviour)
    runner = runner_named(queue, "worker-1")
    start = queue.enqueue("t.work", {"event": "start"}, enterprise_number="A", key="call-1")
    [row] = queue.claim(1, runner.worker)
    assert row["id"] == start
    # Stored while the start runs: its own wake-up finds the key busy.
    dial = queue.enqueue("t.work", {"event": "dial"}, enterprise_number="A", key="call-1")
    assert queue.claim(10, "w2", ids=[dial]) == []
    other = queue.enqueue("t.work", {"event": "other call"}, enterprise_number="A", key="call-2")

    assert runner.execute(row) == "done"

    assert [j.payload["event"] for j in behaviour.seen] == ["start", "dial"]  # the other call waits its turn
    assert dict(sql(db_url, "SELECT id, state FROM jobs")) == {start: "done", dial: "done", other: "pending"}


def test_a_deferred_job_does_not_hand_its_key_to_the_next_job(db, db_url, behaviour):
    # The retry must keep its place: the poll loop decides when it runs, and the next one waits for it.
    queue = make_queue(db, behaviour)
    runner = runner_named(queue, "worker-1")
    first = queue.enqueue("t.work", {"n": 1}, enterprise_number="A", key="call-1")
    [row] = queue.claim(1, runner.worker)
    second = queue.enqueue("t.work", {"n": 2}, enterprise_number="A", key="call-1")

    def busy(job: Job) -> None:
        raise RetryLater(0, "lease busy")
    behaviour.do = busy

    assert runner.execute(row) == "deferred"
    assert [j.id for j in behaviour.seen] == [first]
    assert dict(sql(db_url, "SELECT id, state FROM jobs")) == {first: "pending", second: "pending"}
