"""Originate calls through the Asterisk Manager Interface (plain TCP, optionally TLS).

Plain ``socket``/``ssl``: under gunicorn's gevent worker they are monkey-patched and cooperative, so no
gevent import is needed, and the same code runs in threads in tests.

One fresh connection per originate (login, two DBPut, Originate, wait for its OriginateResponse, Logoff).
Clicks are rare (a few per minute per enterprise), a login costs a round trip, and a long-lived connection
would need a reader greenlet draining the PBX's call events, keep-alives, reconnects and a lock shared by
greenlets; a broken connection then only ever breaks the one originate that was using it.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
import uuid
from collections.abc import Sequence

from host_app.integrations.contract import PbxError
from host_app.pbx.values import (
    check_context,
    check_extension,
    check_field,
    check_phone,
    sanitize_caller_name,
)

_MAX_FRAME = 1 << 20  # one AMI message is a few hundred bytes; 1 MiB without a blank line is not AMI
# OriginateResponse "Reason": the AST_CONTROL_* code of how the first leg ended.
_REASONS = {"0": "failed", "1": "hung up", "3": "no answer", "4": "answered", "5": "busy", "8": "congestion"}

Headers = Sequence[tuple[str, str]]


def frame(headers: Headers) -> bytes:
    """Encode one action; every value is checked (CR/LF/NUL refused) before anything is sent."""
    lines = [f"{check_field(key, key)}: {check_field(key, value)}\r\n" for key, value in headers]
    return ("".join(lines) + "\r\n").encode("utf-8")


class _Connection:
    """An AMI session over one socket: reads CRLF lines and blank-line framed messages by deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def send(self, data: bytes, deadline: float) -> None:
        self._sock.settimeout(_remaining(deadline))
        try:
            self._sock.sendall(data)
        except TimeoutError:
            raise PbxError("timeout", "the PBX did not accept our data in time") from None
        except OSError as exc:
            raise PbxError("unreachable", f"connection to the PBX lost ({type(exc).__name__})") from None

    def _read_until(self, separator: bytes, deadline: float) -> bytes:
        while True:
            index = self._buffer.find(separator)
            if index >= 0:
                chunk, self._buffer = self._buffer[:index], self._buffer[index + len(separator):]
                return chunk
            if len(self._buffer) > _MAX_FRAME:
                raise PbxError("unreachable", "the PBX sent an oversized AMI message")
            self._sock.settimeout(_remaining(deadline))
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                raise PbxError("timeout", "the PBX did not answer in time") from None
            except OSError as exc:
                raise PbxError("unreachable", f"connection to the PBX lost ({type(exc).__name__})") from None
            if not data:
                raise PbxError("unreachable", "the PBX closed the connection")
            self._buffer += data

    def read_line(self, deadline: float) -> str:
        return self._read_until(b"\r\n", deadline).decode("utf-8", "replace")

    def read_message(self, deadline: float) -> dict[str, str]:
        """One response or event; header names lower-cased (the first of repeated headers wins)."""
        message: dict[str, str] = {}
        for line in self._read_until(b"\r\n\r\n", deadline).decode("utf-8", "replace").split("\r\n"):
            key, sep, value = line.partition(":")
            if sep:
                message.setdefault(key.strip().lower(), value.strip())
        return message


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise PbxError("timeout", "the PBX did not answer in time")
    return left


class AmiClient:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        tls: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout_s: float = 3.0,
        io_timeout_s: float = 5.0,
        answer_grace_s: float = 2.0,
        events: str = "call",
        logger: logging.Logger | None = None,
    ) -> None:
        self.host = check_field("host", host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise PbxError("invalid_value", "port must be 1-65535")
        self.port = port
        self._username = check_field("username", username)
        self._secret = check_field("secret", secret)
        self._tls = tls
        self._ssl_context = ssl_context
        self._connect_timeout_s = connect_timeout_s
        self._io_timeout_s = io_timeout_s
        self._answer_grace_s = answer_grace_s
        self._events = check_field("events", events)
        self._log = logger or logging.getLogger(__name__)

    def originate(
        self,
        extension: str,
        phone: str,
        caller_name: str,
        context: str = "web-originate",
        dial_context: str = "inoffice",
        timeout_s: float = 30.0,
    ) -> str:
        """Ring ``extension``; once answered, Dial ``phone``. Returns the Originate's ActionID.

        Blocks until the PBX's OriginateResponse, at most ``timeout_s`` in all. The ring time given to
        Asterisk (``Timeout``) is shorter by ``answer_grace_s``, so its "no answer" arrives before we give up.
        """
        if not timeout_s > 0:
            raise PbxError("invalid_value", "timeout_s must be positive")
        ext, number = check_extension(extension), check_phone(phone)
        context, dial_context = check_context("context", context), check_context("dial_context", dial_context)
        check_field("caller_name", caller_name)  # refuse CR/LF/NUL outright; then clean the rest
        name = sanitize_caller_name(caller_name) or number
        ring_ms = int(max(timeout_s - self._answer_grace_s, timeout_s / 2) * 1000)
        action_id = f"ms-{uuid.uuid4().hex}"
        # Every frame is built (and so every value validated) before a socket is opened.
        frames = [
            frame([("Action", "DBPut"), ("ActionID", f"{action_id}-db1"), ("Family", "extcall"),
                   ("Key", f"nextcall_{ext}"), ("Val", number)]),
            frame([("Action", "DBPut"), ("ActionID", f"{action_id}-db2"), ("Family", "extcall"),
                   ("Key", f"nextname_{ext}"), ("Val", name)]),
        ]
        originate = frame([
            ("Action", "Originate"), ("ActionID", action_id), ("Channel", f"Local/{ext}@{context}"),
            ("Application", "Dial"), ("Data", f"Local/{number}@{dial_context}"),
            ("CallerID", f'"{name}" <{number}>'), ("Async", "true"), ("Timeout", str(ring_ms)),
        ])
        deadline = time.monotonic() + timeout_s
        conn = self._connect(deadline)
        try:
            self._login(conn, action_id, deadline)
            for index, data in enumerate(frames, start=1):
                self._request(conn, data, f"{action_id}-db{index}", "DBPut", deadline)
            conn.send(originate, self._step(deadline))
            self._await_originate(conn, action_id, ext, deadline)
            self._logoff(conn, action_id, deadline)
        finally:
            conn.close()
        self._log.info("AMI originate %s: %s -> %s answered", action_id, ext, number)
        return action_id

    # ---------------------------------------------------------------------------------------- steps

    def _step(self, deadline: float) -> float:
        """The deadline of one request/response step: the I/O timeout, within the overall deadline."""
        return min(deadline, time.monotonic() + self._io_timeout_s)

    def _connect(self, deadline: float) -> _Connection:
        timeout = min(self._connect_timeout_s, _remaining(deadline))
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:  # refused, no route, DNS failure, connect timeout: we never reached it
            raise PbxError("unreachable", f"cannot connect to the PBX ({type(exc).__name__})") from None
        # Small request/response frames: without this, Nagle + delayed ACK add ~40 ms per exchange.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls:
            context = self._ssl_context or ssl.create_default_context()
            try:
                sock = context.wrap_socket(sock, server_hostname=self.host)
            except OSError as exc:
                sock.close()
                raise PbxError("unreachable", f"TLS with the PBX failed ({type(exc).__name__})") from None
        conn = _Connection(sock)
        try:
            banner = conn.read_line(self._step(deadline))
        except PbxError:
            conn.close()
            raise
        if "Call Manager" not in banner:
            conn.close()
            raise PbxError("unreachable", "the peer is not an Asterisk Manager Interface")
        return conn

    def _login(self, conn: _Connection, action_id: str, deadline: float) -> None:
        data = frame([("Action", "Login"), ("ActionID", f"{action_id}-login"), ("Username", self._username),
                      ("Secret", self._secret), ("Events", self._events)])
        try:
            self._request(conn, data, f"{action_id}-login", "Login", deadline)
        except PbxError as exc:
            if exc.code == "originate_failed":
                raise PbxError("auth_failed", "the PBX refused the AMI login") from None
            raise

    def _request(self, conn: _Connection, data: bytes, action_id: str, action: str, deadline: float) -> None:
        """Send one action and wait for its ``Response`` (events in between are skipped)."""
        step = self._step(deadline)
        conn.send(data, step)
        while True:
            message = conn.read_message(step)
            if "event" in message or message.get("actionid", action_id) != action_id:
                continue
            if message.get("response", "").lower() == "success":
                return
            raise PbxError("originate_failed", f"{action} refused by the PBX: {message.get('message', '')[:200]}")

    def _await_originate(self, conn: _Connection, action_id: str, ext: str, deadline: float) -> None:
        while True:
            try:
                message = conn.read_message(deadline)
            except PbxError as exc:
                if exc.code == "timeout":
                    raise PbxError("timeout", f"no OriginateResponse from the PBX for extension {ext}") from None
                raise
            if message.get("actionid") != action_id:
                continue
            response = message.get("response", "").lower()
            if message.get("event", "").lower() == "originateresponse":
                if response == "success":
                    return
                reason = message.get("reason", "")
                raise PbxError(
                    "originate_failed",
                    f"extension {ext}: {_REASONS.get(reason, 'failed')} (reason {reason or '?'})",
                )
            if "event" not in message and response not in ("success", ""):
                raise PbxError("originate_failed", f"Originate refused by the PBX: {message.get('message', '')[:200]}")

    def _logoff(self, conn: _Connection, action_id: str, deadline: float) -> None:
        # Best effort: the call is already placed; waiting for "Goodbye" lets the PBX read our Logoff
        # before we close (closing with unread events in our buffer would reset the connection).
        try:
            conn.send(frame([("Action", "Logoff"), ("ActionID", f"{action_id}-logoff")]), self._step(deadline))
            step = min(self._step(deadline), time.monotonic() + 1.0)
            while "event" in (message := conn.read_message(step)) or message.get("actionid") != f"{action_id}-logoff":
                pass
        except PbxError:
            pass
