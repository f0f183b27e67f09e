"""The worker's HTTP transport to MoySklad: one stateless ``requests.Session`` at a time, recycled.

Why one session per worker process: every tenant talks to the same host, so per-tenant sessions would
only multiply idle TLS sockets. The real cross-tenant risk of a shared session is *state*, so the session
is stateless: ``trust_env = False`` (no netrc credentials or proxy variables), cookies refused, no
``session.auth`` (each request carries its own credential header), and only three default headers.

Why the adapter has ``max_retries=0``: retries happen in our client loop, *under the limiter* (every
attempt takes a rate-limit slot) and with the knowledge of which requests are idempotent. A hidden
urllib3 retry would bypass both. ``pool_block=True`` makes a burst queue for a connection instead of
opening throwaway ones (MoySklad bans clients that open a connection per request).

Connection recycling. MoySklad advises not to keep a connection idle for more than 30 s and not to send
more than 100 requests over one (beyond that it answers 500s). urllib3 gives no per-connection hooks, so
we bound the *session* instead: a session is retired after ``max_requests`` requests or once it is
``max_age`` (25 s) old, and the next request gets a fresh session. Every pooled connection belongs to
exactly one session, so it carries at most as many requests as its session (<= 100) and can never sit
idle longer than its session has existed (< 25 s, below MoySklad's 30 s, with margin for clock and
network). The retired session is not closed under in-flight requests: it is closed when its last
request returns. A fresh TLS handshake every 25 s per worker is cheap.

The session is created lazily on first use, i.e. after gunicorn forked the worker; a session inherited
across ``fork`` (another pid) is abandoned, never shared between processes.
"""

from __future__ import annotations

import http.cookiejar
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

log = logging.getLogger(__name__)

USER_AGENT = "ms-telephony/1.0 (Asterisk PBX integration; python-requests)"
DEFAULT_HEADERS: Mapping[str, str] = {
    # MoySklad answers 415 with an empty body without gzip; requests decompresses transparently and
    # copes with an uncompressed answer (no Content-Encoding) as well.
    "Accept-Encoding": "gzip",
    "Accept": "application/json;charset=utf-8",
    "User-Agent": USER_AGENT,
}


def build_session(pool_maxsize: int = 20) -> requests.Session:
    """A stateless session: see the module docstring. Never mutate it after this."""
    session = requests.Session()
    session.trust_env = False
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    session.auth = None
    session.headers = CaseInsensitiveDict(dict(DEFAULT_HEADERS))
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, pool_block=True, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@dataclass
class _Generation:
    session: requests.Session
    born: float
    pid: int
    uses: int = 0
    in_flight: int = 0
    retired: bool = False
    number: int = 0
    closed: bool = False


class Transport:
    """``request()`` sends one HTTP request through the current session generation.

    Thread- and greenlet-safe (the lock is only held for bookkeeping, never across I/O).
    """

    def __init__(
        self,
        *,
        pool_maxsize: int = 20,
        max_requests: int = 100,
        max_age: float = 25.0,
        clock: Callable[[], float] = time.monotonic,
        session_factory: Callable[[], requests.Session] | None = None,
    ) -> None:
        self.pool_maxsize = pool_maxsize
        self.max_requests = max_requests
        self.max_age = max_age
        self._clock = clock
        self._factory = session_factory or (lambda: build_session(pool_maxsize))
        self._lock = threading.Lock()
        self._current: _Generation | None = None
        self.generations = 0  # sessions created so far (tests and health)

    @classmethod
    def from_settings(cls, settings: Any) -> Transport:
        return cls(pool_maxsize=settings.http_pool_size, max_requests=settings.http_max_requests,
                   max_age=settings.http_max_age)

    # -- session lifecycle ----------------------------------------------------------------------

    def _checkout(self) -> _Generation:
        with self._lock:
            now = self._clock()
            gen = self._current
            if gen is not None and gen.pid != os.getpid():
                # Inherited across fork: its sockets belong to the parent too. Abandon, never close.
                gen = self._current = None
            if gen is not None and (gen.uses >= self.max_requests or now - gen.born >= self.max_age):
                self._retire(gen)
                gen = None
            if gen is None:
                self.generations += 1
                gen = _Generation(self._factory(), now, os.getpid(), number=self.generations)
                self._current = gen
            gen.uses += 1
            gen.in_flight += 1
            return gen

    def _retire(self, gen: _Generation) -> None:  # under the lock
        gen.retired = True
        if self._current is gen:
            self._current = None
        if gen.in_flight == 0:
            self._close(gen)

    def _checkin(self, gen: _Generation) -> None:
        with self._lock:
            gen.in_flight -= 1
            if gen.retired and gen.in_flight == 0:
                self._close(gen)

    @staticmethod
    def _close(gen: _Generation) -> None:
        if not gen.closed:
            gen.closed = True
            try:
                gen.session.close()
            except Exception:  # pragma: no cover - closing sockets must not fail a request
                log.debug("closing a retired MoySklad session failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._retire(self._current)

    # -- requests -------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        timeout: tuple[float, float],
    ) -> requests.Response:
        """Send one request (no redirects followed, no retries). Raises ``requests`` exceptions.

        Redirects are not followed: requests would forward our custom ``Lognex-Phone-Auth-Token``
        header to whatever host a ``Location`` names (it only strips ``Authorization``).
        """
        gen = self._checkout()
        try:
            return gen.session.request(method, url, headers=dict(headers or {}), data=data, timeout=timeout,
                                       allow_redirects=False)
        finally:
            self._checkin(gen)
