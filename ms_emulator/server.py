"""Serving the emulator from a background thread (tests, in-process benchmarks)."""
from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_emulator
from .state import EmulatorState

log = logging.getLogger(__name__)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


class _QuietHandler(WSGIRequestHandler):
    """werkzeug logs every request at INFO on stderr; the emulator has its own request log."""

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        log.debug("%s %s", self.address_string(), message % args)


class EmulatorServer:
    """`with EmulatorServer() as emu: requests.post(emu.phone_api_url + "/call", ...)`.

    Binds 127.0.0.1 only (port 0 picks a free port) and serves with werkzeug's threaded server.
    """

    def __init__(self, state: EmulatorState | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError("the emulator binds 127.0.0.1 only")
        self.state = state if state is not None else EmulatorState()
        self.app = create_emulator(self.state)
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator server is not running")
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def phone_api_url(self) -> str:
        return f"{self.url}/api/phone/1.0"

    @property
    def json_api_url(self) -> str:
        return f"{self.url}/api/remap/1.2"

    @property
    def control_url(self) -> str:
        return f"{self.url}/_emulator"

    def start(self) -> EmulatorServer:
        if self._server is not None:
            return self
        self._server = make_server("127.0.0.1", self._port, self.app, threaded=True,
                                   request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"ms-emulator:{self.port}", daemon=True)
        self._thread.start()
        log.info("MoySklad emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
