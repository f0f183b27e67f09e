"""The end-to-end harness's building blocks: ``Service`` (a real gunicorn of this repository),
``Emulator`` (a real ``python -m ms_emulator``) and helpers. The fixtures that use them live in
``tests/e2e/conftest.py``, whose docstring is the user's guide; import helpers from here::

    from tests.e2e.harness import Service, make_e2e_enterprise, wait_until
"""

from __future__ import annotations

import itertools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.procs import children, terminate
from tests.factories import make_enterprise, sql

REPO = Path(__file__).resolve().parents[2]
E2E_INTEGRATIONS = "ms_plugin:plugin,tests.plugins.echo:plugin"
ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef"
INTERNAL_TOKEN = "e2e-internal-token-0123456789abcd"
# Outbound MoySklad calls go to a closed local port unless a test points them at an emulator.
NOWHERE = "http://127.0.0.1:9"
# Inherited variables that would change what the service does; the harness decides them itself.
_SCRUBBED_PREFIXES = ("HOST_", "MS_", "DATABASE_URL", "PUBLIC_BASE_URL", "PROMETHEUS_", "GUNICORN_",
                      "WEB_CONCURRENCY", "TEST_DATABASE_URL")
_ACCESS_LOG_FORMAT = '%(h)s pid=%(p)s "%(r)s" %(s)s %(b)s %(M)sms'
_numbers = itertools.count(1)


# ------------------------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
               message: str | Callable[[], str] = "condition not met") -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); fail with ``message`` after
    ``timeout`` seconds. Exceptions raised by the predicate count as "not yet"."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_error = exc
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            pytest.fail(f"after {timeout:g}s: {text}" + (f" (last error: {last_error!r})" if last_error else ""))
        time.sleep(interval)


def make_e2e_enterprise(database_url: str, *, integrations_config: Mapping[str, Any] | None = None,
                        **kwargs: Any) -> dict[str, str]:
    """An enterprise with a number and token no other e2e test uses: ``{"number", "token"}``."""
    number = f"9{os.getpid() % 1000:03d}{next(_numbers):04d}"
    return make_enterprise(database_url, number, token=f"e2e-{uuid.uuid4().hex[:12]}",
                           integrations_config=dict(integrations_config or {}), **kwargs)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - exists, not ours
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _scrubbed_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}


# ------------------------------------------------------------------------------------------- service


class Service:
    """A running ``gunicorn -c gunicorn.conf.py`` of this repository (see the module docstring)."""

    def __init__(self, env: dict[str, str], var_dir: Path, port: int) -> None:
        self.env = env
        self.var_dir = var_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.database_url = env["DATABASE_URL"]
        self.admin_token = env["HOST_ADMIN_TOKEN"]
        self.internal_token = env["HOST_INTERNAL_TOKEN"]
        self.workers = int(env.get("WEB_CONCURRENCY", "2"))
        self.log_path = var_dir / "service.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = requests.Session()
        self.http.trust_env = False  # never a proxy: everything stays on 127.0.0.1
        # One connection per request: requests spread over the workers as the kernel hands them out,
        # and no idle keep-alive connection makes a graceful stop or reload wait ``keepalive`` seconds.
        self.http.headers["Connection"] = "close"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> Service:
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.var_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"==== harness: starting gunicorn on {self.url} ====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py")],
                cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.wait_healthy(timeout)
        wait_until(lambda: len(self.worker_pids()) == self.workers, 15,
                   message=lambda: f"{self.workers} workers expected, found {self.worker_pids()}\n{self.log_tail()}")
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.proc.returncode} before /health answered 200; "
                            f"log tail:\n{self.log_tail()}")
            try:
                resp = self.http.get(self.url + "/health", timeout=2)
                if resp.status_code == 200:
                    return
                last = f"{resp.status_code} {resp.text[:300]}"
            except requests.RequestException as exc:
                last = repr(exc)
            time.sleep(0.1)
        pytest.fail(f"/health did not answer 200 within {timeout:g}s (last: {last}); log tail:\n{self.log_tail()}")

    def _drop_idle_connections(self) -> None:
        # A gevent worker finishing gracefully waits for open keep-alive connections (up to
        # ``keepalive`` seconds); a test's own session may hold some.
        self.http.close()

    def stop(self, timeout: float = 20.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        self._drop_idle_connections()
        proc.send_signal(signal.SIGTERM)  # graceful: workers finish their requests and background jobs
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the whole group: master and workers
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)

    def restart(self, graceful: bool = True, timeout: float = 30.0) -> None:
        """``graceful``: SIGHUP, gunicorn's reload (new workers start, old ones finish gracefully).
        Otherwise stop the service and start it again with the same port and environment."""
        if not graceful:
            self.stop()
            self.start(timeout)
            return
        old = set(self.worker_pids())
        self._drop_idle_connections()
        os.kill(self.master_pid, signal.SIGHUP)
        wait_until(lambda: not old & set(self.worker_pids()) and len(self.worker_pids()) == self.workers,
                   timeout, message=lambda: f"old workers {sorted(old)} still running: {self.worker_pids()}\n"
                                            f"{self.log_tail()}")
        self.wait_healthy(timeout)

    def kill_worker(self, pid: int | None = None, timeout: float = 30.0) -> int:
        """SIGKILL one worker (the first by default), wait for its replacement; returns the killed pid."""
        workers = self.worker_pids()
        assert workers, "no worker to kill"
        victim = pid if pid is not None else workers[0]
        assert victim in workers, f"{victim} is not a worker of {self.master_pid}: {workers}"
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in self.worker_pids() and len(self.worker_pids()) == self.workers,
                   timeout, message=lambda: f"worker {victim} not replaced: {self.worker_pids()}\n{self.log_tail()}")
        self.wait_healthy(timeout)
        return victim

    # -- processes -------------------------------------------------------------------------------

    @property
    def master_pid(self) -> int:
        assert self.proc is not None and self.proc.poll() is None, "the service is not running"
        return self.proc.pid

    def worker_pids(self) -> list[int]:
        """Live workers of the master (``[]`` when the service is not running)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return [pid for pid in children(self.proc.pid) if _alive(pid)]

    # -- logs ------------------------------------------------------------------------------------

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def access_pids(self, path: str, since: int = 0) -> list[int]:
        """Pids of the workers that answered requests for ``path`` (from the access log), reading the
        log from character offset ``since`` (e.g. ``len(service.log_text())`` taken earlier)."""
        pids = []
        for line in self.log_text()[since:].splitlines():
            if f" {path} " in line and " pid=<" in line:
                pids.append(int(line.split(" pid=<", 1)[1].split(">", 1)[0]))
        return pids

    # -- HTTP and SQL ----------------------------------------------------------------------------

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.http.get(self.url + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.http.post(self.url + path, **kwargs)

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        return sql(self.database_url, query, params)


@contextmanager
def services(tmp_path_factory: pytest.TempPathFactory, database_url: str,
             prefix: str = "service") -> Iterator[Callable[..., Service]]:
    """``start(database_url=None, **env) -> Service`` (on ``database_url`` unless told otherwise), each
    in a var dir of its own on a free port; every service started is stopped when the block ends."""
    started: list[Service] = []

    def start(database_url: str | None = None, **extra_env: Any) -> Service:
        var_dir = tmp_path_factory.mktemp(prefix)
        port = free_port()
        svc = Service(service_environ(database_url or default_url, var_dir, port, extra_env), var_dir, port)
        started.append(svc)
        return svc.start()

    default_url = database_url
    try:
        yield start
    finally:
        for svc in started:
            svc.stop()


def service_environ(database_url: str, var_dir: Path, port: int, extra: Mapping[str, str]) -> dict[str, str]:
    env = _scrubbed_environ()
    env.update({
        "DATABASE_URL": database_url,
        "HOST_BIND": f"127.0.0.1:{port}",
        "HOST_VAR_DIR": str(var_dir),
        "HOST_ADMIN_TOKEN": ADMIN_TOKEN,
        "HOST_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "HOST_INTEGRATIONS": E2E_INTEGRATIONS,
        "PYTHONPATH": str(REPO),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(var_dir / "metrics"),
        "HOST_DB_POOL_SIZE": "4",  # a good neighbour on the shared test PostgreSQL
        "HOST_JOB_POLL_INTERVAL": "0.2",
        "HOST_LOG_LEVEL": "info",
        "MS_API_URL": f"{NOWHERE}/api/remap/1.2",
        "MS_PHONE_API_URL": f"{NOWHERE}/api/phone/1.0",
        "GUNICORN_CMD_ARGS": f"--access-logformat='{_ACCESS_LOG_FORMAT}'",
        "PYTHONUNBUFFERED": "1",
    })
    env.update({k: str(v) for k, v in extra.items()})
    return env


# ------------------------------------------------------------------------------------------ emulator


class Emulator:
    """A running ``python -m ms_emulator`` (see the module docstring)."""

    def __init__(self, proc: subprocess.Popen[str], info: dict[str, Any], log_path: Path,
                 drainer: threading.Thread) -> None:
        self.proc = proc
        self._drainer = drainer
        self.info = info
        self.url: str = info["url"]
        self.phone_api_url: str = info["phone_api_url"]
        self.json_api_url: str = info["json_api_url"]
        self.control_url: str = info["control_url"]
        self.accounts: list[dict[str, Any]] = info.get("accounts") or []
        self.log_path = log_path

    @property
    def demo(self) -> dict[str, Any] | None:
        return next((a for a in self.accounts if a.get("name") == "demo"), None)

    def service_env(self) -> dict[str, str]:
        """Extra environment for ``start_service`` so that the ms plugin talks to this emulator."""
        return {"MS_API_URL": self.json_api_url, "MS_PHONE_API_URL": self.phone_api_url,
                "MS_ALLOWED_API_HOSTS": "api.moysklad.ru,127.0.0.1"}

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        terminate(self.proc)
        self._drainer.join(timeout=5)  # it ends at EOF; closing the pipe under it would raise there
        if self.proc.stdout is not None and not self._drainer.is_alive():
            self.proc.stdout.close()


def _emulator_available() -> bool:
    return (REPO / "ms_emulator" / "__main__.py").is_file()


def launch_emulator(log_dir: Path, *, latency_ms: float = 0, seed: str | None = "demo",
                    knobs: Mapping[str, Any] | None = None, timeout: float = 30.0) -> Emulator:
    if not _emulator_available():
        pytest.skip("the ms_emulator package has no command line yet (python -m ms_emulator)")
    args = [sys.executable, "-m", "ms_emulator", "--host", "127.0.0.1", "--port", "0",
            "--latency-ms", str(latency_ms)]
    if seed:
        args += ["--seed", seed]
    if knobs:
        args += ["--knobs", json.dumps(dict(knobs))]
    log_path = log_dir / f"emulator-{uuid.uuid4().hex[:6]}.log"
    log = open(log_path, "w")  # noqa: SIM115 - owned by the child; closed below
    env = {**_scrubbed_environ(), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=log, text=True, start_new_session=True)
    log.close()
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        proc.wait(timeout=5)
        pytest.fail(f"the emulator printed nothing within {timeout:g}s (exit {proc.returncode}); "
                    f"log:\n{log_path.read_text(errors='replace')[-3000:]}")
    try:
        info = json.loads(line)
    except ValueError:
        proc.kill()
        pytest.fail(f"the emulator's first line is not JSON: {line!r}")

    def drain() -> None:  # nothing more is expected on stdout; keep the pipe from filling up anyway
        assert proc.stdout is not None
        with open(log_path, "a") as out:
            for rest in proc.stdout:
                out.write(rest)

    drainer = threading.Thread(target=drain, name="emulator-stdout", daemon=True)
    drainer.start()
    return Emulator(proc, info, log_path, drainer)
