"""Helpers of the job queue tests (fixtures are in conftest.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


from host_app.background import BoundedSpawner
from host_app.db import DbPool
from host_app.integrations.contract import Job
from host_app.jobs import JobQueue, JobRunner
from tests.factories import sql


class Behaviour:
    """A test handler whose next outcome the test decides: ``behaviour.do = lambda job: ...``."""

    def __init__(self) -> None:
        self.do: Callable[[Job], None] = lambda job: None
        self.seen: list[Job] = []

    def __call__(self, job: Job) -> None:
        self.seen.append(job)
        self.do(job)



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
