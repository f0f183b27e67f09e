"""The bench harness end to end, small: ``python -m bench --only requests-per-call``.

It starts what ``./ms.sh bench`` starts (a database on the test PostgreSQL, the emulator, gunicorn with
gevent workers), seeds tenants through the admin API, drives calls and reads the emulator's request
log; so a broken launcher, seed, traffic generator or report shows up here in about half a minute
instead of in a five-minute bench run. The figures' values are not asserted: they are measurements.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]


def test_the_bench_runs_one_figure_end_to_end_and_writes_its_json(pg_admin_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "TEST_DATABASE_URL": pg_admin_url}
    done = subprocess.run([sys.executable, "-m", "bench", "--only", "requests-per-call", "--out", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240)

    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr[-4000:]}"
    doc = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert doc["schema"] == "ms-bench/1" and doc["complete"] is True
    assert doc["machine"]["cores"] >= 1 and doc["parameters"]["seed"] == 1
    figures = {f["id"]: f for f in doc["figures"]}
    answered = figures["requests-per-call:incoming answered (group of 3)"]
    assert answered["status"] in ("pass", "miss")
    assert answered["data"]["calls_without_requests"] == 0  # every call reached the emulator
    assert answered["data"]["phone_per_call"] >= 1
    assert figures["memory"]["data"]["peak_rss_mb"], "no worker's VmHWM was read"
    # The table on stdout, the progress on stderr.
    assert "MoySklad requests per call" in done.stdout and "targets met" in done.stdout
    assert "bench [" not in done.stdout


def test_the_bench_fails_loudly_without_a_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    done = subprocess.run([sys.executable, "-m", "bench", "--only", "requests-per-call", "--out", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode != 0
    assert "TEST_DATABASE_URL is not set" in done.stderr + done.stdout
