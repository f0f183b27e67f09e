"""``python -m bench [--full] [--seed N] [--only FIGURE ...] [--workers 2]`` (``./ms.sh bench``).

Starts the real service (gunicorn, gevent workers, PostgreSQL from ``TEST_DATABASE_URL``) and the
MoySklad emulator, drives them with seeded call traffic, prints one table and writes it as JSON under
``var/bench/``. gevent patches the standard library here, first, and only in this entry point: the bench
needs thousands of concurrent sockets for open-loop load, and nothing it imports may see the unpatched
socket module.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.context import Bench, Options  # noqa: E402
from bench.output import BenchError, elapsed, emit, progress  # noqa: E402
from bench.report import Figure, document, render, write_json  # noqa: E402
from bench.sysinfo import machine  # noqa: E402

# Figure id -> (module, tenants it needs, seconds it may take in the default run). Run in this order: the
# quiet measurements first, the baseline right after the dispatch figure it mirrors, the figures that
# leave a backlog last. A figure gets its seconds plus whatever the earlier ones left unused; waits for
# background work are cut to fit (five-minute budget).
FIGURES: dict[str, tuple[str, int, float]] = {
    "requests-per-call": ("bench.fig_requests", 4, 20),
    "lookups": ("bench.fig_lookups", 10, 25),
    "dispatch": ("bench.fig_dispatch", 50, 32),
    "baseline": ("bench.fig_baseline", 50, 35),
    "cards": ("bench.fig_cards", 50, 55),
    "backlog": ("bench.fig_backlog", 25, 75),
    "sustained": ("bench.fig_sustained", 50, 35),
    "memory": ("bench.fig_memory", 1, 1),
}
BUDGET_S = 285.0  # the default run's wall time, teardown excluded (the issue: under five minutes)
REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="run the long figures in real time (5-minute outage...)")
    parser.add_argument("--seed", type=int, default=1, help="seed of all traffic and data (default 1)")
    parser.add_argument("--only", action="append", choices=sorted(FIGURES), default=None,
                        help="run only this figure (repeatable); memory is always reported")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn gevent workers (default 2)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="emulated MoySklad latency (default 50)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with every log")
    parser.add_argument("--service-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra setting for the service, e.g. HOST_DB_POOL_SIZE=20 (shown in the table)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the workers' CPU and pool waits (reports in the kept temp dir)")
    parser.add_argument("--out", default=str(REPO / "var" / "bench"), help="where the JSON goes")
    args = parser.parse_args(argv)
    only = tuple(args.only or FIGURES)
    if "memory" not in only:
        only += ("memory",)
    enterprises = max(FIGURES[name][1] for name in only)
    opts = Options(seed=args.seed, full=args.full, workers=args.workers, only=only, latency_ms=args.latency_ms,
                   enterprises=enterprises, keep=args.keep or args.profile, out=Path(args.out),
                   profile=args.profile, service_env=tuple(_pair(kv) for kv in args.service_env))
    return opts


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"--service-env wants KEY=VALUE, got {text!r}")
    return key, value


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    bench = Bench(opts)
    figures: list[Figure] = []
    complete = True
    try:
        bench.start(opts.enterprises)
        todo = [name for name in FIGURES if name in opts.only]
        for i, name in enumerate(todo):
            if not opts.full:  # what is left of the budget, minus what the remaining figures need
                rest = sum(FIGURES[later][2] for later in todo[i + 1:])
                bench.deadline = time.monotonic() + max(FIGURES[name][2], BUDGET_S - elapsed() - rest)
            progress(f"figure {name} …")
            module = importlib.import_module(FIGURES[name][0])
            try:
                figures.extend(module.run(bench))
            except BenchError:
                raise
            except Exception as exc:  # one figure's bug must not hide the others' numbers
                complete = False
                progress(f"figure {name} failed:\n{traceback.format_exc()}")
                figures.append(Figure(name, name, f"failed: {type(exc).__name__}: {exc}", status="error"))
    except BenchError as exc:
        progress(f"FAILED: {exc}")
        complete = False
        figures.append(Figure("bench", "bench", f"stopped: {str(exc).splitlines()[0]}", status="error"))
    finally:
        bench.stop()
    params = {"seed": opts.seed, "full": opts.full, "workers": opts.workers, "emulator_latency_ms": opts.latency_ms,
              "enterprises": opts.enterprises, **dict(opts.service_env), **bench.parameters}
    doc = document(started, elapsed(), machine(), params, figures, complete)
    path = write_json(doc, opts.out)
    emit(render(doc))
    progress(f"JSON written to {path}")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
