"""A lean HTTP/1.1 keep-alive client for load: prebuilt request bytes over pooled sockets.

Why not ``requests``: on two cores the load generator shares the CPU with the service it measures, and
``requests`` spends ~0.5 ms of CPU per call, which at 1,000 events/s would take half a core away from
the server and inflate its latency. This client spends a few tens of microseconds: one ``sendall`` and a
read of the status line, the headers and ``Content-Length`` bytes. Under the bench's gevent patching
every socket operation is cooperative, so thousands of requests can be in flight.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping
from typing import Any


class HttpError(RuntimeError):
    pass


class HttpPool:
    # gunicorn closes a keep-alive connection after 5 s idle (``keepalive``); reusing one older than this
    # would race that close, so it is dropped instead.
    MAX_IDLE_S = 4.0

    def __init__(self, host: str, port: int, *, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._idle: list[tuple[socket.socket, float]] = []

    def _pooled(self) -> socket.socket | None:
        while self._idle:
            sock, since = self._idle.pop()
            if time.monotonic() - since < self.MAX_IDLE_S:
                return sock
            sock.close()
        return None

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}")
        if body is not None:
            head.append(f"Content-Length: {len(body)}")
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b"")
        # A pooled connection the server closed while idle (gunicorn's keepalive) fails before any byte
        # of an answer (EOF or a reset): that attempt is repeated once on a fresh connection, as HTTP
        # clients do; a failure on a fresh connection, or after part of an answer, is an error.
        for attempt in (1, 2):
            sock = self._pooled() if attempt == 1 else None
            fresh = sock is None
            try:
                sock = sock or self._connect()
            except OSError as exc:
                raise HttpError(f"{method} {path}: {exc}") from exc
            try:
                sock.sendall(payload)
                status, data, keep = _read_response(sock)
            except (_Stale, ConnectionResetError, BrokenPipeError) as exc:
                sock.close()
                if fresh or attempt == 2:
                    raise HttpError(f"{method} {path}: connection closed without an answer ({exc!r})") from None
                continue
            except OSError as exc:
                sock.close()
                raise HttpError(f"{method} {path}: {exc}") from exc
            if keep:
                self._idle.append((sock, time.monotonic()))
            else:
                sock.close()
            return status, data
        raise AssertionError("unreachable")

    def post_json(self, path: str, obj: Any, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        return self.request("POST", path, json.dumps(obj, separators=(",", ":")).encode(),
                            {"Content-Type": "application/json", **dict(headers or {})})

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        return self.request("GET", path, None, headers)

    def close(self) -> None:
        while self._idle:
            self._idle.pop()[0].close()


class _Stale(Exception):
    pass


def _read_response(sock: socket.socket) -> tuple[int, bytes, bool]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            if not buf:
                raise _Stale() from None
            raise
        if not chunk:
            if not buf:
                raise _Stale()
            raise OSError("connection closed inside the headers")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, keep, chunked = 0, True, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            keep = False
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        return status, _read_chunked(sock, rest), keep
    while len(rest) < length:
        chunk = sock.recv(max(65536, length - len(rest)))
        if not chunk:
            raise OSError("connection closed inside the body")
        rest += chunk
    return status, rest[:length], keep


def _read_chunked(sock: socket.socket, buf: bytes) -> bytes:
    out = b""
    while True:
        while b"\r\n" not in buf:
            buf += _recv(sock)
        size_line, _, buf = buf.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(buf) < size + 2:
            buf += _recv(sock)
        if size == 0:
            return out
        out += buf[:size]
        buf = buf[size + 2:]


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise OSError("connection closed inside a chunked body")
    return chunk
