"""``host_app.background.run_with_budget``: what Smart Redirect's time budget rests on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from host_app.background import run_with_budget



def test_run_with_budget_returns_what_finished_and_leaves_the_rest_running():
    done = threading.Event()

    def slow() -> str:
        time.sleep(0.3)
        done.set()
        return "late"

    def boom() -> str:
        raise RuntimeError("lookup failed")

    started = time.monotonic()
    outcome = run_with_budget({"fast": lambda: "ok", "slow": slow, "boom": boom}, 0.1)
    assert time.monotonic() - started < 0.25
    assert outcome.results == {"fast": "ok"} and outcome.failed == {"boom"} and outcome.timed_out == {"slow"}
    assert done.wait(2.0) and "slow" not in outcome.results  # finished later, outside the answer
    assert run_with_budget({}, 0.1).results == {}


def test_run_with_budget_uses_greenlets_under_gevent():
    code = textwrap.dedent("""
        from gevent import monkey; monkey.patch_all()
        import time, gevent
        from host_app.background import run_with_budget
        kinds = []
        def fast():
            kinds.append(type(gevent.getcurrent()).__name__)
            return "ok"
        def slow():
            gevent.sleep(1.0)
            return "late"
        started = time.monotonic()
        out = run_with_budget({"fast": fast, "slow": slow}, 0.1)
        took = time.monotonic() - started
        assert out.results == {"fast": "ok"} and out.timed_out == {"slow"}, out
        assert took < 0.3 and kinds == ["Greenlet"], (took, kinds)
        print("ok")
    """)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
