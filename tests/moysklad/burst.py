"""A "worker process" for the burst test: its own DbPool, PgLimiter, Transport and client, several
threads sending Phone API requests. Importable by ``multiprocessing`` (spawn) children."""

from __future__ import annotations

import threading
from typing import Any


def run_worker(db_url: str, phone_url: str, token: str, worker: int, threads: int, per_thread: int,
               environ: dict[str, str]) -> dict[str, Any]:
    from host_app.db import DbPool
    from ms_plugin.moysklad.limiter import LimitPolicy, PgLimiter
    from ms_plugin.moysklad.phone_api import PhoneApiClient
    from ms_plugin.moysklad.settings import MsClientSettings
    from ms_plugin.moysklad.timeouts import Timeouts
    from ms_plugin.moysklad.transport import Transport

    settings = MsClientSettings.from_environ(environ)
    pool = DbPool(db_url, size=threads + 1, timeout=30, application_name=f"burst-{worker}")
    limiter = PgLimiter.from_settings(pool, settings)
    transport = Transport.from_settings(settings)
    client = PhoneApiClient(transport, token, limiter, base_url=phone_url, timeouts=Timeouts.from_settings(settings),
                            policy=LimitPolicy(settings))
    ok, failures = 0, []
    lock = threading.Lock()

    def run(thread: int) -> None:
        nonlocal ok
        for i in range(per_thread):
            try:
                if i % 2:
                    client.list_employees()
                else:
                    client.create_call({"externalId": f"burst-{worker}-{thread}-{i}", "number": "+375291234567",
                                        "isIncoming": True, "startTime": "2026-11-29 12:00:00"})
                with lock:
                    ok += 1
            except Exception as exc:  # reported to the test
                with lock:
                    failures.append(repr(exc))

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    transport.close()
    pool.close()
    return {"ok": ok, "failures": failures[:5], "failed": len(failures)}


GEVENT_MAIN = (
    "from gevent import monkey; monkey.patch_all()\n"  # first, as gunicorn's gevent worker does
    "import json, sys\n"
    "from tests.moysklad.burst import run_worker\n"
    "print(json.dumps(run_worker(*json.loads(sys.argv[1]))))\n"
)
"""``python -c GEVENT_MAIN '<json args>'``: the same worker with greenlets (``threading`` is patched)."""
