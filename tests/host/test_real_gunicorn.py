"""The host's gunicorn-level behaviour against the real server (``gunicorn -c gunicorn.conf.py``, gevent
workers), started with the e2e harness: a SIGKILLed worker's claims are released at once and its leases
within seconds, and a chunked request body over 1 MiB is answered 413."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from host_app.worker_exit import LEASE_GRACE_SECONDS
from tests.e2e.harness import Service, make_e2e_enterprise, services, wait_until

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


@pytest.fixture
def start_service(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Service]]:
    with services(tmp_path_factory, db_url) as start:
        yield start


def kill_service(service: Service) -> None:
    """Stop at once: a job of the echo plugin in ``hang`` mode would hold a graceful stop for 30 s."""
    if service.proc is not None and service.proc.poll() is None:
        os.killpg(service.proc.pid, signal.SIGKILL)
        service.proc.wait(10)


# ------------------------------------------------------------------------------------- a killed worker


def test_a_sigkilled_workers_job_is_released_at_once_and_its_leases_within_seconds(start_service):
    service = start_service()
    tenant = make_e2e_enterprise(service.database_url, integrations_config={"echo": {"enabled": True, "mode": "hang"}})
    try:
        resp = service.post("/dispatch/call-event", json={
            "token": tenant["token"], "uniqueId": "77.1", "event_type": "dial", "raw": {"UniqueId": "77.1"}})
        assert resp.status_code == 202, resp.text

        def holder() -> str | None:
            rows = service.sql("SELECT locked_by FROM jobs WHERE enterprise_number = %s AND state = 'running'",
                               (tenant["number"],))
            return rows[0][0] if rows else None

        worker = wait_until(holder, 10, message="the echo job never started")
        host, pid = worker.rsplit(":", 1)
        assert int(pid) in service.worker_pids()
        # A lease the dying worker holds, like the call lease the ms plugin takes for a call.
        service.sql("INSERT INTO leases (key, holder, expires_at) VALUES ('echo:call:77.1', %s, "
                    "now() + interval '5 minutes')", (f"{worker}:feedbeef0000",))

        service.kill_worker(int(pid))
        killed_at = time.monotonic()

        wait_until(lambda: holder() != worker, 5, message=lambda: f"job still claimed by {worker}")
        assert time.monotonic() - killed_at < 5  # not the claim's 30 s
        [(left,)] = service.sql("SELECT extract(epoch FROM expires_at - now()) FROM leases "
                                "WHERE key = 'echo:call:77.1'")
        assert left <= LEASE_GRACE_SECONDS  # not 5 minutes
        # Another worker runs it again (the dead run counted an attempt).
        wait_until(lambda: service.sql("SELECT attempts FROM jobs WHERE enterprise_number = %s",
                                       (tenant["number"],))[0][0] == 2, 5)
        assert "1 running jobs handed back, 1 leases end within" in service.log_text()
    finally:
        kill_service(service)


# ------------------------------------------------------------------------------------ chunked bodies


def post_chunked(service: Service, path: str, body: bytes, chunk: int = 64 * 1024) -> tuple[int, dict[str, Any]]:
    """POST ``body`` with ``Transfer-Encoding: chunked`` over a raw socket; returns (status, JSON body)."""
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=10)

    def send() -> None:
        try:
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode())
            for start in range(0, len(body), chunk):
                part = body[start:start + chunk]
                sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered 413 and closed before the whole body was sent

    sender = threading.Thread(target=send)
    sender.start()
    received = b""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            received += data
    except OSError:
        pass
    finally:
        sender.join(10)
        sock.close()
    head, _, payload = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        payload = _dechunk(payload)
    return status, json.loads(payload or b"{}")


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return out


def padded_event(total: int) -> bytes:
    """A dispatch body of exactly ``total`` bytes whose JSON is valid (an unknown token: 404)."""
    event = json.dumps({"token": "no-such-token", "uniqueId": "1.1", "event_type": "dial", "raw": {}}).encode()
    return event + b" " * (total - len(event))


def test_a_chunked_body_over_1_mib_is_refused_with_413_by_the_real_server(start_service):
    service = start_service(WEB_CONCURRENCY="1")

    status, body = post_chunked(service, "/dispatch/call-event", padded_event(MIB + 1))
    assert (status, body["error"]["code"]) == (413, "payload_too_large")  # it was 404: cut to its first MiB
    status, body = post_chunked(service, "/dispatch/call-event", b"[" + b"1," * MIB + b"1]")
    assert (status, body["error"]["code"]) == (413, "payload_too_large")  # it was 400 bad_json
    status, body = post_chunked(service, "/health", b"x" * (2 * MIB))  # a route that never reads it
    assert status == 413

    status, body = post_chunked(service, "/dispatch/call-event", padded_event(MIB))  # exactly the limit
    assert (status, body["error"]["code"]) == (404, "not_found")  # read whole and parsed
    status, body = post_chunked(service, "/dispatch/call-event", b'{"token": 1')
    assert (status, body["error"]["code"]) == (400, "bad_json")
    assert service.get("/health").status_code == 200
