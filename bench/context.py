"""One bench run's world: options, a temp dir, the database, the emulator, the service and the tenants."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gevent.pool import Pool

from bench.client import HttpPool
from bench.measure import MsRequest, parse_log
from bench.output import BenchError, progress
from bench.procs import Database, Emulator, Gunicorn, free_port, service_env, start_service
from bench.seed import BenchTenant, plan_tenants, seed_all
from bench.sysinfo import CpuMeter
from bench.traffic import Event

ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
INTERNAL_TOKEN = "bench-internal-token-0123456789abcd"
# Enough history for the largest figure's requests; each entry holds its bodies (a few KB).
REQUEST_LOG_MAX = 60_000
# The jobs that carry a call to MoySklad: its events', and the follow-ups and syncs that write its record.
CALL_JOB_KINDS = ("ms.call_event", "ms.call_followup", "ms.call_sync")


@dataclass(frozen=True)
class Options:
    seed: int
    full: bool
    workers: int
    only: tuple[str, ...]
    latency_ms: float
    enterprises: int
    keep: bool  # keep the temp dir (logs) after the run
    out: Path  # where the JSON goes
    profile: bool = False  # sample the workers' CPU (bench/profiler.py); reports land in the temp dir
    service_env: tuple[tuple[str, str], ...] = ()  # extra settings for the service (experiments)


class Bench:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.tmp = Path(tempfile.mkdtemp(prefix="ms-bench-"))
        self.db: Database | None = None
        self.emulator: Emulator | None = None
        self.service: Gunicorn | None = None
        self.tenants: list[BenchTenant] = []
        self.http: HttpPool | None = None
        self.wall0 = dt.datetime.now(dt.timezone.utc)
        self.results: dict[str, Any] = {}  # what one figure measured for another (the baseline's ratio)
        self.parameters: dict[str, Any] = {}  # figure parameters shown in the table's header
        self.deadline: float | None = None  # monotonic time the running figure should be done by

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, tenants: int) -> None:
        progress(f"temp dir {self.tmp}")
        self.db = Database.create(os.environ.get("TEST_DATABASE_URL"), self.tmp)
        progress(f"database {self.db.name} migrated")
        self.emulator = Emulator.launch(self.tmp, latency_ms=self.opts.latency_ms, knobs=emulator_knobs())
        progress(f"emulator at {self.emulator.url} (latency {self.opts.latency_ms:g} ms)")
        self.service = self.start_service()
        self.http = HttpPool("127.0.0.1", self.service.port)
        progress(f"service at {self.service.url} with {self.opts.workers} gevent workers")
        plans = plan_tenants(self.opts.seed, tenants)
        pool = Pool(10)
        self.tenants = seed_all(plans, self.emulator, self.service.url, ADMIN_TOKEN,
                                lambda fn, items: list(pool.imap_unordered(fn, items)))
        progress(f"{len(self.tenants)} tenants seeded (each its own MoySklad account)")

    def start_service(self, extra: dict[str, str] | None = None) -> Gunicorn:
        assert self.db is not None and self.emulator is not None
        var = self.tmp / f"service-{int(time.time() * 1000)}"
        var.mkdir()
        port = free_port()
        env = service_env(self.db.url, var, port, self.emulator, workers=self.opts.workers,
                          admin_token=ADMIN_TOKEN, internal_token=INTERNAL_TOKEN,
                          extra={**dict(self.opts.service_env), **(extra or {})})
        if not self.opts.profile:
            return start_service(env, var, port, self.opts.workers)
        env["BENCH_PROFILE_DIR"] = str(self.tmp)
        return start_service(env, var, port, self.opts.workers, config=Path(__file__).with_name("gunicorn_profile.py"))

    def stop(self) -> None:
        for name, stop in (("service", self.service and self.service.stop), ("emulator", self.emulator and self.emulator.stop),
                           ("database", self.db and self.db.drop)):
            if stop:
                try:
                    stop()
                except Exception as exc:  # keep tearing down the rest
                    progress(f"stopping the {name} failed: {exc}")
        if self.http is not None:
            self.http.close()
        if self.opts.keep:
            progress(f"logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- talking to the service -----------------------------------------------------------------

    def dispatch(self, event: Event) -> tuple[int, bytes]:
        assert self.http is not None
        return self.http.post_json("/dispatch/call-event", {"token": event.token, "uniqueId": event.unique_id,
                                                            "event_type": event.event_type, "raw": event.raw})

    def jobs_open(self) -> int:
        """Call jobs not finished yet (due, running, or waiting for a retry): the events' own, and the
        follow-ups and syncs that write a call's record after its events were processed."""
        assert self.db is not None
        rows = self.db.sql("SELECT count(*) FROM jobs WHERE kind = ANY(%s) AND state IN ('pending', 'running')",
                           (list(CALL_JOB_KINDS),))
        return int(rows[0][0])

    def wait_idle(self, timeout: float, what: str) -> tuple[float, int]:
        """Wait until every call job is done, at most ``timeout`` seconds.

        Returns (seconds waited, jobs still open). A backlog left behind is reported by the figure,
        not hidden: the next figure then runs with it, and says so.
        """
        started = time.monotonic()
        left = self.jobs_open()
        while left and time.monotonic() - started < timeout:
            time.sleep(0.25)
            left = self.jobs_open()
        if left:
            progress(f"{what}: {left} call jobs still open after {timeout:g}s; cancelling them")
            self.cancel_backlog(what)
        return time.monotonic() - started, left

    def cancel_backlog(self, what: str) -> None:
        """Fail the call jobs still waiting, so that the next figure measures its own traffic and not the
        previous figure's leftovers (running ones finish). The figure that left them reports how many.

        Their calls are closed too: with their hangups cancelled they would look live for hours, and an
        extension "still talking" in one makes its next outgoing call a consultation leg of it."""
        assert self.db is not None
        self.db.sql("UPDATE jobs SET state = 'failed', finished_at = now(), last_error = %s "
                    "WHERE kind = ANY(%s) AND state = 'pending'", (f"cancelled by the bench after {what}",
                                                                   list(CALL_JOB_KINDS)))
        self.db.sql("UPDATE ms_calls SET state = 'finished', finished_at = now() WHERE state = 'open'")

    def drain_budget(self, wanted: float) -> float:
        """How long a figure may wait for the background work: ``wanted``, shortened in the default run
        so that the whole bench keeps its five minutes (``deadline`` is set per figure by __main__)."""
        if self.deadline is None:  # --full: no five-minute budget
            return wanted
        return max(5.0, min(wanted, self.deadline - time.monotonic()))

    def pg_xacts(self) -> int:
        """Transactions PostgreSQL has finished in the bench database (its statistics lag by ~1 s)."""
        assert self.db is not None
        rows = self.db.sql("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                           (self.db.name,))
        return int(rows[0][0])

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        assert self.db is not None
        return self.db.sql(query, params)

    # -- the emulator ---------------------------------------------------------------------------

    def ms_seq(self) -> int:
        assert self.emulator is not None
        return int(self.emulator.control("GET", "/requests", limit=1)["last_seq"])

    def ms_requests(self, since: int, api: str | None = None) -> list[MsRequest]:
        assert self.emulator is not None
        rows = self.emulator.control("GET", "/requests", since=since)["requests"]
        if rows and rows[0]["seq"] > since + 1:  # (unfiltered, so that a gap means lost entries)
            raise BenchError(f"the emulator's request log lost entries {since + 1}..{rows[0]['seq'] - 1}: "
                             f"raise REQUEST_LOG_MAX in bench/context.py")
        return parse_log(r for r in rows if api is None or r["api"] == api)

    def ms_stats(self) -> dict[str, Any]:
        assert self.emulator is not None
        return dict(self.emulator.control("GET", "/stats"))

    def knobs(self, **changes: Any) -> None:
        assert self.emulator is not None
        self.emulator.control("PUT", "/knobs", changes)

    # -- measuring ------------------------------------------------------------------------------

    def cpu_meter(self, service: Gunicorn | None = None) -> CpuMeter:
        """CPU of ``service`` (default: the service under test), its PostgreSQL backends (pooled ones; a
        process that connects per request shows as "other"), the emulator and the bench itself."""
        assert self.service is not None and self.emulator is not None and self.db is not None
        service, emulator, db = service or self.service, self.emulator, self.db

        def pg_backends() -> list[int]:
            try:
                return [int(r[0]) for r in db.sql("SELECT pid FROM pg_stat_activity WHERE datname = %s", (db.name,))]
            except Exception:
                return []

        return CpuMeter({"service": lambda: service.worker_pids(), "postgres": pg_backends,
                         "emulator": lambda: [emulator.proc.pid], "bench": lambda: [os.getpid()]})

    def tenants_for(self, count: int, offset: int = 0) -> Sequence[BenchTenant]:
        if len(self.tenants) < offset + count:
            raise BenchError(f"need {offset + count} tenants, seeded {len(self.tenants)}")
        return self.tenants[offset:offset + count]


def emulator_knobs() -> dict[str, Any]:
    """Knobs for the bench: a long request log with bodies (card analysis) and MoySklad's JSON API weight
    of *today* (the product follows the same published schedule)."""
    from ms_plugin.moysklad.settings import scheduled_json_weight

    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=3))).date()
    weight = scheduled_json_weight(today)
    return {"request_log_max": REQUEST_LOG_MAX, "log_bodies": True, "json_weight_basic": weight,
            "json_weight_token": weight}

