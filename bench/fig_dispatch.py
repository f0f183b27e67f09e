"""Dispatch acknowledgement at 200 events/s: ``POST /dispatch/call-event`` → 202, p50 and p99.

Realistic calls spread over all tenants, open loop. The first ``SETTLE_S`` seconds are not measured:
calls only start at t=0, so the event rate ramps up until the first calls hang up; after that it is
steady at the nominal rate. Every event also starts its MoySklad work in the same workers, so the
acknowledgement is measured *with* the background processing competing for the CPU, as in production.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.context import Bench
from bench.load import Sample, run_open_loop
from bench.measure import p50_p99, summary
from bench.procs import Gunicorn
from bench.report import Figure, judged
from bench.sysinfo import cpu_text
from bench.traffic import Event, mean_events_per_call, schedule, timeline

RATE = 200.0
TARGET_P99_MS = 15.0
SETTLE_S = 4.0  # about one mean call length: by then hangups of the first calls keep pace with new calls
DRAIN_S = 10.0  # how long the background work may take to finish before the next figure starts


def measure(bench: Bench, send: Callable[[Event], tuple[int, bytes]], *, name: str, uid_base: int,
            rate: float = RATE, server: Gunicorn | None = None) -> dict[str, Any]:
    """Drive ``rate`` events/s at ``send`` for the measured window; returns numbers (no judgement)."""
    seconds = 60.0 if bench.opts.full else 15.0  # measured window
    calls_per_s = rate / mean_events_per_call(bench.opts.seed)
    calls = schedule(bench.opts.seed, "dispatch", bench.tenants, [(seconds + SETTLE_S, calls_per_s)],
                     wall0=bench.wall0, uid_base=uid_base)
    events = timeline(calls)
    meter = bench.cpu_meter(server).start()
    xacts = bench.pg_xacts()
    samples = run_open_loop(events, lambda e: e.at, send)
    cpu = meter.stop()
    xacts = bench.pg_xacts() - xacts
    window: list[Sample[Event]] = [s for s in samples if SETTLE_S <= s.item.at < SETTLE_S + seconds]
    lat = [s.latency_ms for s in window]
    errors = sum(1 for s in samples if s.status != 202)
    statuses = Counter(str(s.status or "no answer") for s in samples if s.status != 202)
    return {"name": name, "summary": summary(lat), "events": len(samples), "calls": len(calls),
            "measured_events_per_s": round(len(window) / seconds, 1), "window_s": seconds, "errors": errors,
            "lag_p99_ms": summary([s.lag_ms for s in window])["p99_ms"], "cpu": cpu,
            "pg_xacts_per_event": round(xacts / max(1, len(samples)), 1), "error_statuses": dict(statuses)}


def run(bench: Bench) -> list[Figure]:
    result = measure(bench, bench.dispatch, name="service", uid_base=1_761_000_000)
    drained, left = bench.wait_idle(bench.drain_budget(DRAIN_S), "dispatch figure")
    bench.results["dispatch"] = result
    s = result["summary"]
    ok = s["p99_ms"] is not None and s["p99_ms"] < TARGET_P99_MS and result["errors"] == 0
    backlog = (f"finished {drained:.1f} s after the last event" if not left
               else f"still {left} jobs open {drained:.0f} s after the last event")
    return [Figure(
        "dispatch", f"Dispatch ack at {RATE:.0f} events/s",
        f"{p50_p99(s)} · {result['measured_events_per_s']:.0f} ev/s measured · {result['errors']} errors",
        f"p99 < {TARGET_P99_MS:.0f} ms", judged(ok),
        {**result, "drain_s": round(drained, 1), "jobs_left": left},
        note=f"{cpu_text(result['cpu'])}; {result['pg_xacts_per_event']} PostgreSQL transactions per event "
             f"(its acknowledgement and MoySklad work; autocommit statements count one each); bench send lag "
             f"p99 {result['lag_p99_ms']} ms; errors by status {result['error_statuses'] or '{}'}; "
             f"MoySklad work for these {result['calls']} calls {backlog}" + (", the rest cancelled" if left else ""))]
