"""Each worker LISTENs on ``host_config`` so a config change made by any worker (or machine) drops the
caches everywhere at once. A dedicated connection, outside the pool; reconnects with backoff."""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable

import psycopg2

from host_app.config_store import NOTIFY_CHANNEL
from host_app.db import connect_direct, gevent_active

log = logging.getLogger(__name__)


class ConfigListener:
    def __init__(self, dsn: str, on_change: Callable[[str, str], None],
                 on_reconnect: Callable[[], None]) -> None:
        self._dsn = dsn
        self._on_change = on_change
        self._on_reconnect = on_reconnect
        self._stop = threading.Event()

    def start(self) -> None:
        if gevent_active():
            import gevent

            gevent.spawn(self._run)
        else:
            threading.Thread(target=self._run, name="config-listener", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                self._listen()
                delay = 1.0
            except (psycopg2.Error, OSError) as exc:
                log.info("config listener disconnected (%s); retrying in %.0fs", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)

    def _listen(self) -> None:
        conn = connect_direct(self._dsn)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"LISTEN {NOTIFY_CHANNEL}")
            # Anything may have changed while we were not listening.
            self._on_reconnect()
            while not self._stop.is_set():
                if gevent_active():
                    from gevent import select as gselect

                    ready = gselect.select([conn], [], [], 5.0)[0]
                else:
                    ready = select.select([conn], [], [], 5.0)[0]
                if not ready:
                    with conn.cursor() as cur:  # keepalive: notices a dead server within seconds
                        cur.execute("SELECT 1")
                    continue
                conn.poll()
                while conn.notifies:
                    note = conn.notifies.pop(0)
                    ent, _tab, code = note.payload.partition("\t")
                    self._on_change(ent, code)
        finally:
            conn.close()
