"""Peak RSS per worker: ``VmHWM`` of every gunicorn worker (the master's children), read last, so it is
the peak over every figure this run drove through the service."""

from __future__ import annotations

from bench.context import Bench
from bench.report import Figure, judged

TARGET_MB = 150.0


def run(bench: Bench) -> list[Figure]:
    assert bench.service is not None
    peaks = bench.service.peak_rss_mb()
    worst = max(peaks) if peaks else None
    figures_seen = [name for name in bench.opts.only if name != "memory"]
    return [Figure("memory", "Peak RSS per worker (VmHWM)",
                   " · ".join(f"{p:.0f} MB" for p in peaks) + f" (after: {', '.join(figures_seen) or 'start'})",
                   f"< {TARGET_MB:.0f} MB", judged(worst is not None and worst < TARGET_MB),
                   {"peak_rss_mb": peaks, "max_mb": worst, "after_figures": figures_seen})]
