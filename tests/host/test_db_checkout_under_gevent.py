"""A pool checkout never yields to other greenlets under gevent, and still drops dead connections.

gevent's patched ``select(..., 0)`` calls ``gevent.sleep(0)``: with it, every checkout (about 19 per PBX
event) queued behind every runnable greenlet of the worker. Each case runs in a fresh interpreter,
monkey-patched like a gunicorn gevent worker (the test process itself is not patched).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

_SCRIPT = r"""
from gevent import monkey
monkey.patch_all()

import json, sys, time
import gevent, psycopg2
from host_app.db import DbPool, _alive

url = sys.argv[1]
out = {}

conn = psycopg2.connect(url)
others_ran = []
gevent.spawn(others_ran.append, "alive")
out["alive"] = _alive(conn)
out["yielded_in_alive"] = bool(others_ran)

pool = DbPool(url, size=2, timeout=2)
with pool.connection():  # creates the pool (connecting yields, as it should)
    pass
others_ran.clear()
gevent.spawn(others_ran.append, "checkout")
with pool.connection():
    out["yielded_in_checkout"] = bool(others_ran)

with pool.connection() as c, c.cursor() as cur:
    cur.execute("SELECT pg_backend_pid()")
    pids = {cur.fetchone()[0]}
killer = psycopg2.connect(url)
killer.autocommit = True
with killer.cursor() as cur:
    cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),))
    cur.execute("SELECT pg_terminate_backend(%s)", (conn.get_backend_pid(),))
time.sleep(0.1)
out["dead_detected"] = not _alive(conn)
with pool.connection() as c, c.cursor() as cur:
    cur.execute("SELECT pg_backend_pid()")
    out["fresh_backend"] = cur.fetchone()[0] not in pids
pool.close()
print(json.dumps(out))
"""


def run_patched(db_url: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, db_url], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_a_checkout_under_gevent_never_yields_and_still_drops_a_dead_connection(db_url):
    result = run_patched(db_url)
    assert result["alive"] is True
    assert result["yielded_in_alive"] is False
    assert result["yielded_in_checkout"] is False
    assert result["dead_detected"] is True
    assert result["fresh_backend"] is True
