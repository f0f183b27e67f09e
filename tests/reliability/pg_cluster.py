"""A throwaway PostgreSQL cluster of one test, driven through ``scripts/pg.sh`` (as ``ms.sh`` does).

Only this cluster is ever stopped: never the shared development server nor the suite's
``TEST_DATABASE_URL`` server. As root, ``pg.sh`` runs the server as the ``postgres`` OS user, so the
cluster lives in a directory of its own under /tmp (which that user can reach), not under pytest's
private tmp_path.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.e2e.harness import REPO, free_port

FAST = "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"


class PgCluster:
    def __init__(self) -> None:
        self.parent = Path(tempfile.mkdtemp(prefix="ms-rel-pg."))
        self.port = free_port()

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, function: str) -> None:
        script = f'. "{REPO}/scripts/pg.sh" && PG_EXTRA_OPTS="{FAST}" {function} "$1" "$2"'
        done = subprocess.run(["bash", "-c", script, "pg.sh", str(self.parent), str(self.port)],
                              capture_output=True, text=True, timeout=90)
        if done.returncode != 0:
            raise RuntimeError(f"{function} failed ({done.returncode}): {done.stderr[-2000:]}")

    def start(self) -> None:
        self._pg("pg_start")

    def stop(self) -> None:
        self._pg("pg_stop")

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.parent, ignore_errors=True)
