"""``run_bounded`` under gevent (what gunicorn workers run) and with threads (tests, scripts)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from ms_plugin.lookup.bounded import run_bounded

_GEVENT_SCRIPT = """
from gevent import monkey
monkey.patch_all()
import time
from ms_plugin.lookup.bounded import run_bounded
done = []
def slow():
    time.sleep(0.4)
    done.append(1)
    return 42
started = time.monotonic()
assert run_bounded(slow, 0.1) == (False, None)
assert time.monotonic() - started < 0.3
assert run_bounded(lambda: 7, 1.0) == (True, 7)
time.sleep(0.5)
assert done == [1], "the late work must finish in the background"
print("ok")
"""


def test_a_slow_function_is_abandoned_at_the_deadline_and_finishes_in_the_background() -> None:
    done: list[int] = []

    def slow() -> int:
        time.sleep(0.4)
        done.append(1)
        return 42

    started = time.monotonic()
    assert run_bounded(slow, 0.1) == (False, None)
    assert time.monotonic() - started < 0.3
    assert run_bounded(lambda: 7, 1.0) == (True, 7)
    deadline = time.monotonic() + 2
    while not done and time.monotonic() < deadline:
        time.sleep(0.02)
    assert done == [1]


def test_a_failing_function_is_reported_as_not_finished() -> None:
    def boom() -> int:
        raise RuntimeError("boom")

    assert run_bounded(boom, 1.0) == (False, None)


def test_under_gevent_the_work_is_a_greenlet() -> None:
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", _GEVENT_SCRIPT], cwd=root, capture_output=True, text=True,
                         timeout=60)

    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
