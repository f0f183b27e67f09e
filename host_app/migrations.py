"""Plain-SQL migrations, per owner (``host`` and each plugin code), applied in file-name order.

Each file runs in its own transaction and is recorded in ``schema_migrations(owner, version)``. A
session-level advisory lock serialises concurrent runners (several gunicorn workers booting at once,
or ``ms.sh start`` racing a worker), so every file is applied exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from host_app.db import connect_direct

log = logging.getLogger(__name__)

HOST_MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x4D5354454C  # "MSTEL": one well-known advisory lock for every migration runner


@dataclass(frozen=True)
class MigrationSet:
    owner: str
    directory: Path

    def files(self) -> list[Path]:
        return sorted(p for p in self.directory.glob("*.sql") if p.is_file())


_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    owner text NOT NULL,
    version text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, version)
)
"""


def apply_migrations(dsn: str, sets: Sequence[MigrationSet]) -> list[str]:
    """Apply every pending file; returns ``owner/version`` of what was applied now."""
    applied: list[str] = []
    conn = connect_direct(dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.autocommit = False
            with conn.cursor() as cur:
                cur.execute(_BOOTSTRAP)
            conn.commit()
            for mset in sets:
                applied.extend(_apply_set(conn, mset))
        finally:
            conn.rollback()
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    finally:
        conn.close()
    return applied


def _apply_set(conn: object, mset: MigrationSet) -> Iterable[str]:
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("SELECT version FROM schema_migrations WHERE owner = %s", (mset.owner,))
        done = {row[0] for row in cur.fetchall()}
    for path in mset.files():
        version = path.stem
        if version in done:
            continue
        sql = path.read_text(encoding="utf-8")
        with conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(sql)
            cur.execute("INSERT INTO schema_migrations (owner, version) VALUES (%s, %s)",
                        (mset.owner, version))
        conn.commit()  # type: ignore[attr-defined]
        log.info("applied migration %s/%s", mset.owner, version)
        yield f"{mset.owner}/{version}"


def migration_sets_for(plugins: Iterable[object]) -> list[MigrationSet]:
    """The host's migrations first, then each plugin's (in load order)."""
    sets = [MigrationSet("host", HOST_MIGRATIONS)]
    for plugin in plugins:
        directory = plugin.migrations_dir()  # type: ignore[attr-defined]
        if directory is not None:
            sets.append(MigrationSet(plugin.code, Path(directory)))  # type: ignore[attr-defined]
    return sets
