"""Runs jobs from the table in this worker: a poll loop, an immediate path, a heartbeat and a reaper.

The immediate path (``wake``) lets the worker that stored a PBX event start its jobs at once, so a card
reaches MoySklad in tens of milliseconds instead of after the next poll. The poll loop picks up
everything else (retries, jobs stored by other workers, jobs of a crashed worker).

Jobs run as background work for the database pool (``host_app.db.background_work``): they never take the
connections kept for requests. The heartbeat, the reaper and the orphan hand-back do not: they are one
short statement each, and a heartbeat starved by the very jobs it keeps alive would let their claims
expire and the jobs run twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from host_app import metrics
from host_app.background import BoundedSpawner, Loop, run_inline
from host_app.db import DbUnavailable, background_work
from host_app.integrations.contract import ApiError, PermanentJobError, RetryLater, WaitForConfig
from host_app.jobs.queue import CLAIM_SECONDS, HEARTBEAT_SECONDS, JobQueue, backoff, row_to_job
from host_app.leases import worker_id

log = logging.getLogger(__name__)

LEASE_SECONDS = CLAIM_SECONDS  # how long a claim lasts unless the heartbeat renews it
ORPHAN_CHECK_SECONDS = 1.0  # how soon after PostgreSQL is back unrecorded jobs are handed back

Record = Callable[[], None]


class JobRunner:
    def __init__(self, queue: JobQueue, spawner: BoundedSpawner | None = None, *,
                 poll_interval: float = 0.5, reserve: int = 2) -> None:
        self.queue = queue
        self.spawner = spawner
        self.poll_interval = poll_interval
        self.reserve = reserve  # slots kept free for the immediate path
        self.worker = worker_id()
        # Claimed by this worker and not yet recorded: the heartbeat renews their claims. From the claim
        # on, not from the start of the run: a job claimed with others on the immediate path may wait
        # for the first one to finish.
        self._running: set[int] = set()
        # Run, but the outcome could not be recorded (PostgreSQL was down): still ``running`` under our
        # name until ``_hand_back_orphans`` gets through.
        self._orphans: set[int] = set()
        self._lock = threading.Lock()
        self._loops: list[Loop] = []
        self._heartbeat_loop: Loop | None = None
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.queue.set_waker(self.wake)
        self._heartbeat_loop = Loop("jobs-heartbeat", self._heartbeat, HEARTBEAT_SECONDS)
        self._loops = [
            Loop("jobs-poll", self.poll_once, self.poll_interval),
            Loop("jobs-reaper", self.queue.reap_stale, 5.0),
            Loop("jobs-orphans", self._hand_back_orphans, ORPHAN_CHECK_SECONDS),
        ]
        for loop in [self._heartbeat_loop, *self._loops]:
            loop.start()

    def stop(self, timeout: float = 25.0) -> None:
        """Stop claiming; give running jobs ``timeout`` seconds, their claims renewed meanwhile (what is
        still running then is handed back by gunicorn's master when this worker has exited)."""
        self._stopping = True
        for loop in self._loops:
            loop.stop()
        if self.spawner is not None:
            self.spawner.join(timeout)
        if self._heartbeat_loop is not None:
            self._heartbeat_loop.stop()
        self._hand_back_orphans()

    # -- claiming ----------------------------------------------------------------------------------

    def _free(self) -> int:
        return self.spawner.free_count() if self.spawner is not None else 1

    def _claim(self, limit: int, **kwargs: Any) -> list[dict[str, Any]]:
        with background_work():
            rows = self.queue.claim(limit, self.worker, lease_seconds=LEASE_SECONDS, **kwargs)
        with self._lock:
            self._running.update(row["id"] for row in rows)
        return rows

    def poll_once(self) -> int:
        if self._stopping:
            return 0
        free = self._free() - self.reserve
        if free <= 0:
            return 0
        try:
            rows = self._claim(free)
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
        rows = self._claim(len(job_ids), ids=job_ids)
        # One claim for the event's jobs, then each job in its own greenlet: one plugin's slow job
        # must never delay another plugin's. Without a free slot a job runs here, after the first.
        later = [row for row in rows[1:] if self.spawner is None or not self.spawner.try_spawn(self.execute, row)]
        for row in [*rows[:1], *later]:
            run_inline(self.execute, row)  # logs an unexpected error: it must not strand the others' claims

    def _launch(self, row: Mapping[str, Any]) -> None:
        if self.spawner is None:
            self.execute(row)
        else:
            self.spawner.spawn(self.execute, row)

    def _heartbeat(self) -> None:
        with self._lock:
            ids = list(self._running)
        self.queue.heartbeat(ids, self.worker, LEASE_SECONDS)

    def _hand_back_orphans(self) -> int:
        """Re-queue the jobs whose outcome could not be recorded, as soon as PostgreSQL answers again
        (instead of leaving them ``running`` until their claims expire, holding their tenant's slots)."""
        with self._lock:
            ids = list(self._orphans)
        if not ids:
            return 0
        try:
            handed = self.queue.hand_back(ids, self.worker)
        except ApiError as exc:  # still down: next time
            log.debug("handing back %d unrecorded jobs failed: %s", len(ids), exc.message)
            return 0
        with self._lock:
            self._orphans.difference_update(ids)
        log.info("handed back %d of %d jobs whose outcome could not be recorded", handed, len(ids))
        return handed

    # -- running -----------------------------------------------------------------------------------

    def execute(self, row: Mapping[str, Any]) -> str:
        """Run one claimed job, then the jobs that waited for its key (see ``_next_of_key``)."""
        with background_work():
            outcome = self._execute_one(row)
            key = row.get("key")
            while key and outcome in ("done", "failed") and not self._stopping:
                following = self._next_of_key(key)
                if following is None:
                    break
                outcome = self._execute_one(following)
            return outcome

    def _next_of_key(self, key: str) -> Mapping[str, Any] | None:
        """The next due job of ``key``, claimed now that the key is free.

        Jobs of one key never run at once, so an event that arrives while its call's previous event is
        being processed (a dial 20 ms after its start) cannot be claimed by its own wake-up; without this
        it would wait for the next poll (``HOST_JOB_POLL_INTERVAL``, 0.5 s), and its call card with it.
        Not after a job was deferred: its retry must not be overtaken here (the poll loop decides).
        """
        try:
            rows = self._claim(1, keys=[key])
        except ApiError as exc:  # PostgreSQL down: the poll loop picks it up later
            log.debug("claiming the next job of %s failed: %s", key, exc.message)
            return None
        return rows[0] if rows else None

    def _execute_one(self, row: Mapping[str, Any]) -> str:
        """Run one claimed job and record its outcome; returns the outcome."""
        job_id = row["id"]
        started = time.perf_counter()
        outcome = "failed"
        try:
            outcome, record = self._run_handler(row)
            self._record(job_id, record)
        finally:
            with self._lock:
                self._running.discard(job_id)
            metrics.JOB_SECONDS.labels(row["integration"], row["kind"]).observe(time.perf_counter() - started)
            metrics.JOBS_FINISHED.labels(row["integration"], row["kind"], outcome).inc()
        return outcome

    def _run_handler(self, row: Mapping[str, Any]) -> tuple[str, Record]:
        """Run the job's handler; returns the outcome and how to record it."""
        spec = self.queue.handlers.get(row["kind"])
        job = row_to_job(row)
        if spec is None:  # claimed kinds are always registered in this process
            return "failed", lambda: self.queue.fail(job.id, self.worker, f"no handler for {job.kind}")
        try:
            spec.handler(job)
        except RetryLater as exc:
            return self._retry_later(row, exc)
        except WaitForConfig as exc:
            reason = str(exc) or "waiting for a config change"
            return "waiting", lambda: self.queue.park(job.id, self.worker, reason)
        except PermanentJobError as exc:
            error = f"permanent: {exc}"  # ``exc`` is unbound once the except block is left
            return "failed", lambda: self.queue.fail(job.id, self.worker, error)
        except Exception as exc:  # one job's failure never touches another
            return self._failed_attempt(row, exc)
        return "done", lambda: self.queue.finish(job.id, self.worker)

    def _record(self, job_id: int, record: Record) -> None:
        try:
            record()
        except DbUnavailable as exc:
            # PostgreSQL is down right now. Left alone, the job would stay ``running`` until its claim
            # expires; it is handed back as soon as the database answers again.
            log.info("job %s: outcome not recorded (%s); handed back once the database answers", job_id,
                     exc.message)
            with self._lock:
                self._orphans.add(job_id)

    def _retry_later(self, row: Mapping[str, Any], exc: RetryLater) -> tuple[str, Record]:
        job_id = row["id"]
        if self.queue.age_expired(row):
            return "failed", lambda: self.queue.fail(job_id, self.worker, f"gave up after max age: {exc.reason or exc}")
        if exc.count_attempt and row["attempts"] >= row["max_attempts"]:
            return "failed", lambda: self.queue.fail(job_id, self.worker,
                                                     f"gave up after {row['attempts']} attempts: {exc}")
        return "deferred", lambda: self.queue.retry(job_id, self.worker, exc.delay, str(exc),
                                                    count_attempt=exc.count_attempt)

    def _failed_attempt(self, row: Mapping[str, Any], exc: Exception) -> tuple[str, Record]:
        job_id = row["id"]
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ApiError) and exc.status == 503:
            log.info("job %s hit an unavailable database: %s", job_id, exc.message)
        else:
            log.warning("job %s (%s) failed: %s", job_id, row["kind"], error, exc_info=exc)
        if row["attempts"] >= row["max_attempts"] or self.queue.age_expired(row):
            return "failed", lambda: self.queue.fail(job_id, self.worker, error)
        delay = backoff(row["attempts"])
        return "retry", lambda: self.queue.retry(job_id, self.worker, delay, error, count_attempt=True)

    # -- tests and tools ---------------------------------------------------------------------------

    def drain(self, *, max_jobs: int = 10_000, include_delayed: bool = False) -> int:
        """Run every due job inline until none is left (tests, ``python -m host_app run-jobs``)."""
        done = 0
        if include_delayed:  # once: a job that re-schedules itself (a periodic sweeper) must not loop
            self.queue.make_due()
        while done < max_jobs:
            rows = self._claim(50)
            if not rows:
                break
            for row in rows:
                self.execute(row)
                done += 1
        return done
