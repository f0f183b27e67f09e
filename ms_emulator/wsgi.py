"""WSGI-level fault: dropping the client connection without an answer.

Flask cannot close a socket, so the request pipeline only marks the request (environ flag) and this
middleware shuts the socket down and raises EPIPE, which both the werkzeug and the gevent server treat
as "the client went away" and therefore send nothing.
"""
from __future__ import annotations

import errno
import logging
import socket
from typing import Any, Callable, Iterable

from .pipeline import DROP_FLAG

log = logging.getLogger(__name__)
SOCKET_KEYS = ("werkzeug.socket", "ms_emulator.socket")  # the latter is set by our gevent handler

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class DropConnectionMiddleware:
    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        captured: list[tuple[Any, ...]] = []

        def deferred_start(*args: Any) -> Callable[[bytes], None]:
            captured.append(args)
            return lambda data: None  # Flask never uses the legacy write() callable

        result = self.app(environ, deferred_start)
        if environ.get(DROP_FLAG):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            sock = next((environ[k] for k in SOCKET_KEYS if environ.get(k) is not None), None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    log.debug("socket already closed while dropping a connection")
            raise BrokenPipeError(errno.EPIPE, "connection dropped by an injected emulator fault")
        for args in captured:
            start_response(*args)
        return result
