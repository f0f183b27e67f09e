"""A sampling profiler for a gevent worker, with no dependency (py-spy is not installed).

A native OS thread (not a greenlet: gevent has patched ``threading``) wakes every ``interval`` seconds
and reads the main thread's current frame with ``sys._current_frames()``: whatever greenlet runs at that
moment, or the hub waiting in its loop (idle). Each sample is weighted by the time since the previous
one: the sampler needs the GIL, so it gets fewer chances while the worker runs Python than while it
waits in the loop, and unweighted counts would make a busy worker look idle. Shares are of *busy* time
(idle samples left out): ``self`` (the innermost function) and ``total`` (anywhere on the stack).
The worker's switch interval is cut to 0.1 ms: the sampler can only read a frame once the main thread
drops the GIL, and with the default 5 ms it would land on the next system call (select, send) instead of
the code that was really running. Every ``wait_every`` samples it also walks every greenlet and counts
those parked inside ``DbPool.connection`` waiting for a free connection, with the stack that led there.
And it counts every SQL statement and pool checkout by the function of ours that issued it, so the
report says how many statements one event costs and who sends them.

Enabled by ``bench/gunicorn_profile.py`` (``python -m bench --profile``); the report is written when the
worker exits, to ``$BENCH_PROFILE_DIR/profile-<pid>.txt``.
"""

from __future__ import annotations

import gc
import os
import sys
from collections import Counter
from types import FrameType
from typing import Any

_state: dict[str, Any] = {}


def _where(frame: FrameType) -> str:
    code = frame.f_code
    path = code.co_filename
    for marker in ("/site-packages/", "/work/main/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{code.co_name}"


def _stack(frame: FrameType | None, limit: int = 60) -> list[str]:
    out = []
    while frame is not None and len(out) < limit:
        out.append(_where(frame))
        frame = frame.f_back
    return out


_IDLE = ("gevent/hub.py:run",)


def _is_pool_wait(stack: list[str]) -> bool:
    return any(s.endswith("host_app/db.py:connection") for s in stack[:8])


def _sample_waits(waits: Counter[str]) -> None:
    import greenlet

    for obj in gc.get_objects():
        if isinstance(obj, greenlet.greenlet) and obj.gr_frame is not None:
            stack = _stack(obj.gr_frame)
            if _is_pool_wait(stack):
                ours = [s for s in stack if "ms_plugin/" in s or "host_app/" in s][:6]
                waits[" < ".join(ours)] += 1


def _ours(frame: FrameType | None) -> str:
    """The innermost function of this repository on the stack (not the db/cursor plumbing)."""
    while frame is not None:
        where = _where(frame)
        if ("ms_plugin/" in where or "host_app/" in where) and "host_app/db.py" not in where:
            return where
        frame = frame.f_back
    return "?"


def _count_sql(statements: Counter[str], checkouts: Counter[str]) -> None:
    import psycopg2.extensions
    import psycopg2.extras

    from host_app import db

    def verb(query: Any) -> str:
        text = " ".join(str(query if isinstance(query, str) else query.decode("utf-8", "replace")).split())
        return text[:48]

    class Counting(psycopg2.extensions.cursor):  # type: ignore[misc]
        def execute(self, query: Any, vars: Any = None) -> Any:  # noqa: A002 - psycopg2's name
            statements[f"{_ours(sys._getframe(1))}  {verb(query)}"] += 1
            return super().execute(query, vars)

    real_dict_execute = psycopg2.extras.RealDictCursor.execute

    def counted(self: Any, query: Any, vars: Any = None) -> Any:  # noqa: A002
        statements[f"{_ours(sys._getframe(1))}  {verb(query)}"] += 1
        return real_dict_execute(self, query, vars)

    psycopg2.extras.RealDictCursor.execute = counted
    checkout = db.DbPool._checkout

    def counted_checkout(self: Any, pool: Any) -> Any:
        checkouts[_ours(sys._getframe(1))] += 1
        conn = checkout(self, pool)
        conn.cursor_factory = Counting
        return conn

    db.DbPool._checkout = counted_checkout


def start(out_dir: str, interval: float = 0.002, wait_every: int = 50) -> None:
    from gevent import monkey

    sys.setswitchinterval(0.0001)

    start_thread = monkey.get_original("_thread", "start_new_thread")
    sleep = monkey.get_original("time", "sleep")
    clock = monkey.get_original("time", "perf_counter")
    main_id = monkey.get_original("_thread", "get_ident")()
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    waits: Counter[str] = Counter()
    statements: Counter[str] = Counter()
    checkouts: Counter[str] = Counter()
    _count_sql(statements, checkouts)
    _state.update(out_dir=out_dir, self=self_counts, total=total_counts, waits=waits, samples=0, running=True,
                  busy=0.0, idle=0.0, wait_walks=0, statements=statements, checkouts=checkouts)

    def loop() -> None:
        n = 0
        last = clock()
        while _state["running"]:
            sleep(interval)
            frame = sys._current_frames().get(main_id)
            now = clock()
            weight, last = now - last, now
            if frame is None:
                continue
            stack = _stack(frame)
            n += 1
            _state["samples"] = n
            if stack[0] in _IDLE:
                _state["idle"] += weight
            else:
                _state["busy"] += weight
                self_counts[stack[0]] += weight
                for name in set(stack):
                    total_counts[name] += weight
            if n % wait_every == 0:
                _state["wait_walks"] += 1
                try:
                    _sample_waits(waits)
                except Exception:  # the heap changed under us: skip this walk
                    pass

    start_thread(loop, ())


def stop() -> None:
    if not _state.get("running"):
        return
    _state["running"] = False
    busy, idle = _state["busy"], _state["idle"]
    lines = [f"pid {os.getpid()}: {_state['samples']} samples; busy {busy:.1f} s, idle {idle:.1f} s "
             f"({100.0 * busy / max(1e-9, busy + idle):.0f}% busy)"]
    for title, counts in (("self", _state["self"]), ("total", _state["total"])):
        lines.append(f"\n== {title} (share of busy time) ==")
        for name, weight in counts.most_common(45):
            lines.append(f"{100.0 * weight / max(1e-9, busy):6.2f}%  {name}")
    for title, counts in (("SQL statements by caller", _state["statements"]),
                          ("pool checkouts by caller", _state["checkouts"])):
        lines.append(f"\n== {title} (total {sum(counts.values())}) ==")
        for name, n in counts.most_common(40):
            lines.append(f"{n:8d}  {name}")
    walks = max(1, _state["wait_walks"])
    lines.append("\n== greenlets waiting for a pool connection (average number, by where they asked) ==")
    for name, n in _state["waits"].most_common(20):
        lines.append(f"{n / walks:7.2f}  {name}")
    path = os.path.join(_state["out_dir"], f"profile-{os.getpid()}.txt")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
