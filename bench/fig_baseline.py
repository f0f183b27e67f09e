"""The same traffic against the synchronous baseline (``bench/baseline.py``), as a ratio.

Same schedule as the dispatch figure (same seed: the same calls, tenants, numbers and timing; only the
UniqueIds differ so that MoySklad sees new calls), same worker class and count, same emulator and
accounts. The ratio is baseline ÷ service for the acknowledgement's p50 and p99.
"""

from __future__ import annotations

import sys

from bench import fig_dispatch
from bench.client import HttpPool
from bench.context import Bench
from bench.measure import fmt_ms, p50_p99
from bench.procs import Gunicorn, free_port, scrubbed_environ
from bench.report import Figure
from bench.sysinfo import cpu_text
from bench.traffic import Event


TIMEOUT_S = 10.0  # the bench gives up on an answer after this long (as a PBX relay would)


def start_baseline(bench: Bench) -> Gunicorn:
    assert bench.db is not None and bench.emulator is not None
    port = free_port()
    log = bench.tmp / "baseline.log"
    argv = [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", str(bench.opts.workers),
            "--worker-connections", "200", "-b", f"127.0.0.1:{port}", "--access-logfile", str(bench.tmp / "baseline-access.log"),
            "bench.baseline:app"]
    env = scrubbed_environ(DATABASE_URL=bench.db.url, MS_API_URL=bench.emulator.json_api_url,
                           MS_PHONE_API_URL=bench.emulator.phone_api_url)
    return Gunicorn("the baseline", argv, env, port, log, bench.opts.workers).start()


def run(bench: Bench) -> list[Figure]:
    ours = bench.results.get("dispatch")
    if ours is None:  # --only baseline: measure the service first, the ratio needs both
        ours = fig_dispatch.measure(bench, bench.dispatch, name="service", uid_base=1_761_000_000)
        bench.wait_idle(bench.drain_budget(fig_dispatch.DRAIN_S), "baseline figure (service part)")
    baseline = start_baseline(bench)
    pool = HttpPool("127.0.0.1", baseline.port, timeout=TIMEOUT_S)

    def send(event: Event) -> tuple[int, bytes]:
        return pool.post_json("/dispatch/call-event", {"token": event.token, "uniqueId": event.unique_id,
                                                       "event_type": event.event_type, "raw": event.raw})

    stats0 = bench.ms_stats()
    try:
        theirs = fig_dispatch.measure(bench, send, name="baseline", uid_base=1_762_000_000, server=baseline)
    finally:
        pool.close()
        baseline.stop()
    stats1 = bench.ms_stats()
    rejected = stats1["limits"]["total_429"] - stats0["limits"]["total_429"]
    s_ours, s_theirs = ours["summary"], theirs["summary"]

    def ratio(key: str) -> float | None:
        a, b = s_theirs.get(key), s_ours.get(key)
        return round(a / b, 1) if a is not None and b else None

    r50, r99 = ratio("p50_ms"), ratio("p99_ms")
    return [Figure(
        "baseline", "Synchronous baseline, same traffic (ack)",
        f"baseline {p50_p99(s_theirs)}; service p50 {fmt_ms(s_ours['p50_ms'])} · p99 {fmt_ms(s_ours['p99_ms'])}; "
        f"ratio ×{r50} (p50) · ×{r99} (p99)",
        "ratio shown, not claimed", "info",
        {"baseline": theirs, "service": {k: ours[k] for k in ("summary", "measured_events_per_s", "errors")},
         "ratio_p50": r50, "ratio_p99": r99, "baseline_429": rejected},
        note=f"baseline: {theirs['errors']} errors, {rejected} MoySklad 429s (it has no rate limiter), "
             f"{theirs['measured_events_per_s']:.0f} ev/s measured; {cpu_text(theirs['cpu'])}" +
             (f"; {theirs['errors']} requests hit the bench's {TIMEOUT_S:.0f} s timeout, so its percentiles and "
              "the ratios are lower bounds" if theirs["errors"] else ""))]
