"""Runs jobs from the table in this worker: a poll loop, an immediate path, a heartbeat and a reaper.

The immediate path (``wake``) lets the worker that stored a PBX event start its jobs at once, so a card
reaches MoySklad in tens of milliseconds instead of after the next poll. The poll loop picks up
everything else (retries, jobs stored by other workers, jobs of a crashed worker).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from host_app import metrics
from host_app.background import BoundedSpawner, Loop
from host_app.integrations.contract import ApiError, PermanentJobError, RetryLater, WaitForConfig
from host_app.jobs.queue import JobQueue, backoff, row_to_job
from host_app.leases import worker_id

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0
HEARTBEAT_SECONDS = 30.0


class JobRunner:
    def __init__(self, queue: JobQueue, spawner: BoundedSpawner | None = None, *,
                 poll_interval: float = 0.5, reserve: int = 2) -> None:
        self.queue = queue
        self.spawner = spawner
        self.poll_interval = poll_interval
        self.reserve = reserve  # slots kept free for the immediate path
        self.worker = worker_id()
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self._loops: list[Loop] = []
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.queue.set_waker(self.wake)
        self._loops = [
            Loop("jobs-poll", self.poll_once, self.poll_interval),
            Loop("jobs-heartbeat", self._heartbeat, HEARTBEAT_SECONDS),
            Loop("jobs-reaper", self.queue.reap_stale, 5.0),
        ]
        for loop in self._loops:
            loop.start()

    def stop(self, timeout: float = 25.0) -> None:
        """Stop claiming; give running jobs ``timeout`` seconds (their claims expire otherwise)."""
        self._stopping = True
        for loop in self._loops:
            loop.stop()
        if self.spawner is not None:
            self.spawner.join(timeout)

    # -- claiming ----------------------------------------------------------------------------------

    def _free(self) -> int:
        return self.spawner.free_count() if self.spawner is not None else 1

    def poll_once(self) -> int:
        if self._stopping:
            return 0
        free = self._free() - self.reserve
        if free <= 0:
            return 0
        try:
            rows = self.queue.claim(free, self.worker, lease_seconds=LEASE_SECONDS)
        except ApiError as exc:  # PostgreSQL down: try again next tick
            log.debug("job poll skipped: %s", exc.message)
            return 0
        for row in rows:
            self._launch(row)
        return len(rows)

    def wake(self, job_ids: Sequence[int]) -> None:
        # Called on the request that stored the jobs: it must never wait for a free slot (when every
        # slot is busy the poll loop picks the jobs up later).
        if self._stopping or self.spawner is None or not job_ids:
            return
        self.spawner.try_spawn(self._claim_and_run, list(job_ids))

    def _claim_and_run(self, job_ids: list[int]) -> None:
        rows = self.queue.claim(len(job_ids), self.worker, ids=job_ids, lease_seconds=LEASE_SECONDS)
        # One claim for the event's jobs, then each job in its own greenlet: one plugin's slow job
        # must never delay another plugin's. Without a free slot a job runs here, after the first.
        later = [row for row in rows[1:] if self.spawner is None or not self.spawner.try_spawn(self.execute, row)]
        for row in [*rows[:1], *later]:
            self.execute(row)

    def _launch(self, row: Mapping[str, Any]) -> None:
        if self.spawner is None:
            self.execute(row)
        else:
            self.spawner.spawn(self.execute, row)

    def _heartbeat(self) -> None:
        with self._lock:
            ids = list(self._running)
        self.queue.heartbeat(ids, self.worker, LEASE_SECONDS)

    # -- running -----------------------------------------------------------------------------------

    def execute(self, row: Mapping[str, Any]) -> str:
        """Run one claimed job and record its outcome; returns the outcome."""
        spec = self.queue.handlers.get(row["kind"])
        job = row_to_job(row)
        if spec is None:  # claimed kinds are always registered in this process
            self.queue.fail(job.id, self.worker, f"no handler for {job.kind}")
            return "failed"
        with self._lock:
            self._running.add(job.id)
        started = time.perf_counter()
        outcome = "done"
        try:
            spec.handler(job)
            self.queue.finish(job.id, self.worker)
        except RetryLater as exc:
            outcome = self._retry_later(row, exc)
        except WaitForConfig as exc:
            outcome = "waiting"
            self.queue.park(job.id, self.worker, str(exc) or "waiting for a config change")
        except PermanentJobError as exc:
            outcome = "failed"
            self.queue.fail(job.id, self.worker, f"permanent: {exc}")
        except Exception as exc:  # one job's failure never touches another
            outcome = self._failed_attempt(row, exc)
        finally:
            with self._lock:
                self._running.discard(job.id)
            metrics.JOB_SECONDS.labels(job.integration, job.kind).observe(time.perf_counter() - started)
            metrics.JOBS_FINISHED.labels(job.integration, job.kind, outcome).inc()
        return outcome

    def _retry_later(self, row: Mapping[str, Any], exc: RetryLater) -> str:
        if self.queue.age_expired(row):
            self.queue.fail(row["id"], self.worker, f"gave up after max age: {exc.reason or exc}")
            return "failed"
        if exc.count_attempt and row["attempts"] >= row["max_attempts"]:
            self.queue.fail(row["id"], self.worker, f"gave up after {row['attempts']} attempts: {exc}")
            return "failed"
        self.queue.retry(row["id"], self.worker, exc.delay, str(exc), count_attempt=exc.count_attempt)
        return "deferred"

    def _failed_attempt(self, row: Mapping[str, Any], exc: Exception) -> str:
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ApiError) and exc.status == 503:
            log.info("job %s hit an unavailable database: %s", row["id"], exc.message)
        else:
            log.warning("job %s (%s) failed: %s", row["id"], row["kind"], error, exc_info=exc)
        try:
            if row["attempts"] >= row["max_attempts"] or self.queue.age_expired(row):
                self.queue.fail(row["id"], self.worker, error)
                return "failed"
            self.queue.retry(row["id"], self.worker, backoff(row["attempts"]), error, count_attempt=True)
        except ApiError:
            # Cannot even record the outcome: the claim expires and the reaper re-drives the job.
            pass
        return "retry"

    # -- tests and tools ---------------------------------------------------------------------------

    def drain(self, *, max_jobs: int = 10_000, include_delayed: bool = False) -> int:
        """Run every due job inline until none is left (tests, ``python -m host_app run-jobs``)."""
        done = 0
        if include_delayed:  # once: a job that re-schedules itself (a periodic sweeper) must not loop
            self.queue.make_due()
        while done < max_jobs:
            rows = self.queue.claim(50, self.worker, lease_seconds=LEASE_SECONDS)
            if not rows:
                break
            for row in rows:
                self.execute(row)
                done += 1
        return done
