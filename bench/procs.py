"""Real processes for the bench: a throwaway database, the MoySklad emulator, gunicorn.

Nothing here depends on pytest or on gevent: a failure raises :class:`BenchError` with the log tail, so
the e2e harness can use the same launchers and turn the error into ``pytest.fail``. Everything listens
on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg2

from bench.output import BenchError

REPO = Path(__file__).resolve().parents[1]
# Inherited variables that would change what a child does; the bench decides them itself.
_SCRUBBED_PREFIXES = ("HOST_", "MS_", "DATABASE_URL", "PUBLIC_BASE_URL", "PROMETHEUS_", "GUNICORN_",
                      "WEB_CONCURRENCY", "TEST_DATABASE_URL")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrubbed_environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update({"PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def terminate(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after 10 s: a server that ignores the first still goes."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def children(pid: int) -> list[int]:
    """Live child processes of ``pid``, read from /proc (zombies left out)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # "pid (comm) state ppid ...": comm may hold spaces
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return sorted(found)


def proc_status_kb(pid: int, field: str) -> int | None:
    """A ``kB`` field of /proc/<pid>/status (``VmHWM`` is the peak resident set since the process began)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def http_json(method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None,
              timeout: float = 15.0) -> tuple[int, Any]:
    """A small JSON request for control and admin calls (never proxied); returns (status, parsed body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **dict(headers or {})})
    try:
        with _NO_PROXY.open(req, timeout=timeout) as resp:
            raw, status = resp.read(), resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    except OSError as exc:
        raise BenchError(f"{method} {url}: {exc}") from exc
    try:
        return status, (json.loads(raw) if raw else None)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ------------------------------------------------------------------------------------------- database


class Database:
    """A fresh database on the server of ``TEST_DATABASE_URL``, migrated by ``python -m host_app migrate``."""

    def __init__(self, admin_url: str, name: str) -> None:
        self.admin_url = admin_url
        self.name = name
        self.url = admin_url.rpartition("/")[0] + f"/{name}"

    @classmethod
    def create(cls, admin_url: str | None, var_dir: Path) -> Database:
        if not admin_url:
            raise BenchError("TEST_DATABASE_URL is not set: run ./ms.sh bench (it starts a throwaway PostgreSQL)")
        db = cls(admin_url, f"bench_{os.getpid()}_{uuid.uuid4().hex[:6]}")
        try:
            db._admin(f'CREATE DATABASE "{db.name}"')
        except psycopg2.Error as exc:
            raise BenchError(f"cannot create the bench database on {admin_url}: {exc}") from exc
        log = var_dir / "migrate.log"
        env = scrubbed_environ(DATABASE_URL=db.url, HOST_VAR_DIR=str(var_dir),
                               HOST_ADMIN_TOKEN="bench-migrate-token-0123456789", HOST_SECRET_KEY="x" * 32)
        with open(log, "wb") as out:
            rc = subprocess.call([sys.executable, "-m", "host_app", "migrate"], cwd=REPO, env=env,
                                 stdout=out, stderr=subprocess.STDOUT)
        if rc != 0:
            db.drop()
            raise BenchError(f"migrations failed (exit {rc}):\n{tail(log)}")
        return db

    def _admin(self, statement: str, params: Any = None) -> None:
        conn = psycopg2.connect(self.admin_url)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement, params)
        finally:
            conn.close()

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        conn = psycopg2.connect(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                rows = cur.fetchall() if cur.description else []
            conn.commit()
            return rows
        finally:
            conn.close()

    def drop(self) -> None:
        try:
            self._admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (self.name,))
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}"')
        except psycopg2.Error:
            pass  # best effort: the throwaway server of ./ms.sh bench goes away anyway


# ------------------------------------------------------------------------------------------- emulator


class Emulator:
    """``python -m ms_emulator`` on a free port; the first stdout line (JSON) gives its URLs."""

    def __init__(self, proc: subprocess.Popen[bytes], info: dict[str, Any], log_path: Path) -> None:
        self.proc = proc
        self.info = info
        self.url: str = info["url"]
        self.phone_api_url: str = info["phone_api_url"]
        self.json_api_url: str = info["json_api_url"]
        self.control_url: str = info["control_url"]
        self.log_path = log_path

    @classmethod
    def launch(cls, log_dir: Path, *, latency_ms: float, knobs: Mapping[str, Any] | None = None,
               timeout: float = 30.0) -> Emulator:
        if not (REPO / "ms_emulator" / "__main__.py").is_file():
            raise BenchError("the MoySklad emulator (ms_emulator/__main__.py) is missing")
        args = [sys.executable, "-m", "ms_emulator", "--host", "127.0.0.1", "--port", "0",
                "--latency-ms", str(latency_ms)]
        if knobs:
            args += ["--knobs", json.dumps(dict(knobs))]
        log_path = log_dir / "emulator.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(args, cwd=REPO, env=scrubbed_environ(), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else b""
        # Nothing else is printed on stdout; closing our end keeps no pipe around to fill up.
        proc.stdout.close()
        try:
            info = json.loads(line)
        except ValueError:
            proc.kill()
            proc.wait(timeout=5)
            raise BenchError(f"the emulator did not print its JSON line (got {line[:200]!r}); "
                             f"log:\n{tail(log_path)}") from None
        return cls(proc, info, log_path)

    def control(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        qs = "&".join(f"{k}={v}" for k, v in query.items() if v is not None)
        status, data = http_json(method, f"{self.control_url}{path}{'?' + qs if qs else ''}", body, timeout=60)
        if status >= 400:
            raise BenchError(f"emulator {method} {path} answered {status}: {data}")
        return data

    def stop(self) -> None:
        terminate(self.proc)


# -------------------------------------------------------------------------------------------- gunicorn


class Gunicorn:
    """A gunicorn master (gevent workers) started with ``argv``; healthy once ``GET /health`` is 200."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log_path: Path,
                 workers: int) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Gunicorn:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=REPO, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode} before /health answered; "
                                 f"log tail:\n{tail(self.log_path)}")
            try:
                status, body = http_json("GET", self.url + "/health", timeout=2)
                if status == 200 and len(self.worker_pids()) == self.workers:
                    return self
                last = f"{status} {str(body)[:200]}"
            except BenchError as exc:
                last = str(exc)
            time.sleep(0.2)
        self.stop()
        raise BenchError(f"{self.name} did not become healthy in {timeout:g}s (last: {last}); "
                         f"log tail:\n{tail(self.log_path)}")

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid) if self.proc is not None and self.proc.poll() is None else []

    def peak_rss_mb(self) -> list[float]:
        """``VmHWM`` of every worker (MB): the peak resident set each reached since it started."""
        values = [proc_status_kb(pid, "VmHWM") for pid in self.worker_pids()]
        return [round(v / 1024, 1) for v in values if v is not None]

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # graceful; jobs still running after ``timeout`` are killed
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # our own process group: master and its workers
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


def service_env(database_url: str, var_dir: Path, port: int, emulator: Emulator, *, workers: int,
                admin_token: str, internal_token: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The product as ``./ms.sh start`` runs it, pointed at the emulator, with its defaults otherwise."""
    env = scrubbed_environ(
        DATABASE_URL=database_url, HOST_BIND=f"127.0.0.1:{port}", HOST_VAR_DIR=str(var_dir),
        HOST_ADMIN_TOKEN=admin_token, HOST_INTERNAL_TOKEN=internal_token, HOST_SECRET_KEY=uuid.uuid4().hex * 2,
        HOST_INTEGRATIONS="ms_plugin:plugin", WEB_CONCURRENCY=str(workers), HOST_AUTO_MIGRATE="false",
        PROMETHEUS_MULTIPROC_DIR=str(var_dir / "metrics"), HOST_ACCESS_LOG=str(var_dir / "access.log"),
        MS_API_URL=emulator.json_api_url, MS_PHONE_API_URL=emulator.phone_api_url,
        MS_ALLOWED_API_HOSTS="127.0.0.1")
    env.update(extra or {})
    return env


def start_service(env: dict[str, str], var_dir: Path, port: int, workers: int, *,
                  config: Path = REPO / "gunicorn.conf.py") -> Gunicorn:
    argv = [sys.executable, "-m", "gunicorn", "-c", str(config)]
    return Gunicorn("the service", argv, env, port, var_dir / "service.log", workers).start()
