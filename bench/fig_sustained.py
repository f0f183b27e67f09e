"""Highest sustained events/s with the acknowledgement's p99 under 50 ms.

One open-loop ramp of complete, realistic calls: the call arrival rate steps up every ``STEP_S``
seconds and each step's window is judged on its own (the p99 of the events due inside it, and the event
rate actually measured there, which includes the later events of calls begun in the previous step).
The ramp stops after the first step whose p99 is far past the limit (``ABORT_P99_MS``): burying the
service deeper proves nothing and its backlog would only slow the bench. Runs last among the load
figures; the background work it leaves is reported, not waited for.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import gevent

from bench.context import Bench
from bench.load import Sample, run_open_loop
from bench.measure import fmt_ms, summary
from bench.report import Figure, judged
from bench.sysinfo import cpu_text
from bench.traffic import Event, mean_events_per_call, schedule, timeline

STEPS = (50, 100, 200, 300, 400, 600, 800, 1000, 1200, 1500)  # nominal events/s
STEP_S = 3.0
GRACE_S = 1.0  # answers of a step's last events may take this long before the step is judged
LIMIT_P99_MS = 50.0
TARGET_EVENTS_PER_S = 1000.0
ABORT_P99_MS = 500.0


def run(bench: Bench) -> list[Figure]:
    step_s = STEP_S * (3 if bench.opts.full else 1)
    per_call = mean_events_per_call(bench.opts.seed)
    calls = schedule(bench.opts.seed, "sustained", bench.tenants, [(step_s, r / per_call) for r in STEPS],
                     wall0=bench.wall0, uid_base=1_765_000_000)
    events = timeline(calls)
    per_step: dict[int, list[Sample[Event]]] = {i: [] for i in range(len(STEPS))}
    rows: list[dict[str, Any]] = []
    aborted = False
    t0 = time.monotonic()

    def judge() -> None:
        nonlocal aborted
        for i in range(len(STEPS)):
            while time.monotonic() - t0 < (i + 1) * step_s + GRACE_S:
                gevent.sleep(0.1)
            window = [x for x in per_step[i] if x.item.at >= i * step_s + 0.5]  # the step change settles
            s = summary([x.latency_ms for x in window])
            errors = sum(1 for x in per_step[i] if x.status != 202)
            statuses = Counter(str(x.status or "no answer") for x in per_step[i] if x.status != 202)
            ok = s["p99_ms"] is not None and s["p99_ms"] < LIMIT_P99_MS and errors == 0
            rows.append({"nominal_per_s": STEPS[i], "measured_per_s": round(len(window) / (step_s - 0.5), 1),
                         **s, "errors": errors, "error_statuses": dict(statuses), "ok": ok})
            if (s["p99_ms"] or 0) > ABORT_P99_MS or errors > max(1, len(per_step[i]) // 100):
                aborted = True
                return

    def record(sample: Sample[Event]) -> None:
        per_step[min(len(STEPS) - 1, int(sample.item.at // step_s))].append(sample)

    meter = bench.cpu_meter().start()
    judge_task = gevent.spawn(judge)
    run_open_loop(events, lambda e: e.at, bench.dispatch, on_sample=record, stop=lambda: aborted)
    judge_task.join()
    cpu = meter.stop()
    drained, left = bench.wait_idle(bench.drain_budget(5.0), "sustained figure")
    passing = [r["measured_per_s"] for r in rows if r["ok"]]
    best = max(passing) if passing else None
    steps_text = ", ".join(f"{r['measured_per_s']:.0f}/s→{fmt_ms(r['p99_ms'])}"
                           + (f" ({r['errors']} errors)" if r["errors"] else "") for r in rows)
    value = (f"{best:.0f} events/s" if best else f"below {STEPS[0]} events/s") + f" · p99 per step: {steps_text}"
    return [Figure("sustained", f"Highest sustained events/s (ack p99 < {LIMIT_P99_MS:.0f} ms)", value,
                   f"≥ {TARGET_EVENTS_PER_S:.0f} events/s", judged(best is not None and best >= TARGET_EVENTS_PER_S),
                   {"best_events_per_s": best, "steps": rows, "step_s": step_s, "aborted": aborted, "cpu": cpu,
                    "jobs_left_after": left},
                   note=f"{cpu_text(cpu)}; {'stopped after the first step past ' + str(ABORT_P99_MS) + ' ms; ' if aborted else ''}"
                        f"{left} call jobs still open {drained:.0f} s after the ramp" + (" (cancelled)" if left else ""))]
