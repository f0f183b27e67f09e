"""A fake Asterisk Manager Interface server for tests (TCP on 127.0.0.1, a random port, background threads).

Usage::

    with FakeAmiServer(username="ms", secret="s3cret") as ami:
        AmiClient("127.0.0.1", ami.port, "ms", "s3cret").originate("151", "+375291234567", "Ivan")
        assert ami.originates()[0]["Channel"] == "Local/151@web-originate"

What it does, per connection: sends the banner; answers ``Login`` (``Success`` for the right credentials,
else ``Error`` and closes), ``DBPut`` (``Success``), ``Originate`` (``Success`` "queued", then an
``OriginateResponse`` event with the same ActionID), ``Logoff`` (``Goodbye``, closes), anything else
``Error``. Actions before a successful login get ``Error`` "Permission denied".

API (attributes may be changed while the server runs; each action reads them when it arrives):

* ``host``, ``port``, ``address``; ``close()`` (or use it as a context manager);
* ``actions``: every action received, in order, as a dict of its headers in the order sent (a repeated
  header keeps its last value); ``frames``: the raw bytes of each; ``originates()``, ``logins()``,
  ``actions_named(name)``; ``connections``: how many TCP connections were accepted;
  ``wait_for_actions(n, timeout)`` for code that originates in the background; ``reset()``;
* ``originate_response``: ``"Success"`` (default) or ``"Failure"`` for the OriginateResponse event, or
  ``None``: the Originate is acknowledged but no event ever follows (the callee never answers);
  ``originate_reason``: its ``Reason`` (default "4" on success, "5" busy on failure);
  ``originate_error``: answer the Originate itself with ``Response: Error``;
* ``event_delay``: seconds before the OriginateResponse event;
* ``silent``: accept connections and never send a byte, not even the banner;
* ``drop_on``: an action name (e.g. ``"Originate"``, ``"Login"``): close the connection, unanswered,
  when it arrives;
* ``noise``: also send unrelated events (``FullyBooted``, ``Newchannel`` and a *failed* OriginateResponse
  for another ActionID) so that clients prove they match by ActionID (default on).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

BANNER = b"Asterisk Call Manager/5.0.1\r\n"
_POLL = 0.05  # seconds; threads poll so that close() stops them without relying on fd-close wake-ups


class FakeAmiServer:
    def __init__(
        self,
        username: str = "ms",
        secret: str = "s3cret",
        *,
        originate_response: str | None = "Success",
        originate_reason: str | None = None,
        originate_error: bool = False,
        event_delay: float = 0.0,
        silent: bool = False,
        drop_on: str | None = None,
        noise: bool = True,
    ) -> None:
        self.username, self.secret = username, secret
        self.originate_response = originate_response
        self.originate_reason = originate_reason
        self.originate_error = originate_error
        self.event_delay = event_delay
        self.silent = silent
        self.drop_on = drop_on
        self.noise = noise
        self.connections = 0
        self._actions: list[dict[str, str]] = []
        self._frames: list[bytes] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._clients: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(_POLL)
        self.host, self.port = self._listener.getsockname()
        self._threads = [threading.Thread(target=self._accept_loop, name="fake-ami-accept", daemon=True)]
        self._threads[0].start()

    # ------------------------------------------------------------------------------------ public API

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def actions(self) -> list[dict[str, str]]:
        with self._lock:
            return [dict(action) for action in self._actions]

    @property
    def frames(self) -> list[bytes]:
        with self._lock:
            return list(self._frames)

    def actions_named(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.actions if a.get("Action", "").lower() == name.lower()]

    def originates(self) -> list[dict[str, str]]:
        return self.actions_named("Originate")

    def logins(self) -> list[dict[str, str]]:
        return self.actions_named("Login")

    def wait_for_actions(self, count: int, timeout: float = 5.0) -> list[dict[str, str]]:
        end = time.monotonic() + timeout
        while len(actions := self.actions) < count:
            if time.monotonic() > end:
                raise AssertionError(f"expected {count} AMI actions, got {len(actions)}: {actions}")
            time.sleep(0.01)
        return actions

    def reset(self) -> None:
        with self._lock:
            self._actions.clear()
            self._frames.clear()
            self.connections = 0

    def close(self) -> None:
        self._stopped.set()
        # shutdown() wakes a blocked accept()/recv() at once on Linux; the polling covers the rest.
        with self._lock:
            sockets = [self._listener, *self._clients]
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in list(self._threads):
            thread.join(timeout=2.0)
        for sock in sockets:
            sock.close()

    def __enter__(self) -> FakeAmiServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------------------------- internals

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(_POLL)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle delay between replies
            thread = threading.Thread(target=self._serve, args=(client,), name="fake-ami-conn", daemon=True)
            with self._lock:
                self.connections += 1
                self._clients.append(client)
                self._threads.append(thread)
            thread.start()

    def _recv_frame(self, client: socket.socket, buffer: bytearray) -> bytes | None:
        while b"\r\n\r\n" not in buffer:
            if self._stopped.is_set():
                return None
            try:
                data = client.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return None
            if not data:
                return None
            buffer += data
        index = buffer.index(b"\r\n\r\n")
        raw = bytes(buffer[:index])
        del buffer[: index + 4]
        return raw

    def _serve(self, client: socket.socket) -> None:
        try:
            if self.silent:
                while self._recv_frame(client, bytearray()) is not None:
                    pass
                return
            client.sendall(BANNER)
            buffer = bytearray()
            state = {"authed": False}
            while (raw := self._recv_frame(client, buffer)) is not None:
                action: dict[str, str] = {}
                for line in raw.decode("utf-8", "replace").split("\r\n"):
                    key, _sep, value = line.partition(":")
                    action[key.strip()] = value.strip()
                with self._lock:
                    self._actions.append(action)
                    self._frames.append(raw)
                if self.drop_on and action.get("Action", "").lower() == self.drop_on.lower():
                    return
                if not self._answer(client, action, state):
                    return
        except OSError:
            return
        finally:
            client.close()

    @staticmethod
    def _send(client: socket.socket, *headers: tuple[str, str]) -> None:
        client.sendall(("".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode("utf-8"))

    def _answer(self, client: socket.socket, action: dict[str, str], state: dict[str, bool]) -> bool:
        """Reply to one action; False closes the connection."""
        name = action.get("Action", "").lower()
        aid = ("ActionID", action.get("ActionID", ""))
        if name == "login":
            if action.get("Username") != self.username or action.get("Secret") != self.secret:
                self._send(client, ("Response", "Error"), aid, ("Message", "Authentication failed"))
                return False
            state["authed"] = True
            self._send(client, ("Response", "Success"), aid, ("Message", "Authentication accepted"))
            if self.noise:
                self._send(client, ("Event", "FullyBooted"), ("Privilege", "system,all"), ("Status", "Fully Booted"))
            return True
        if name == "logoff":
            self._send(client, ("Response", "Goodbye"), aid, ("Message", "Thanks for all the fish."))
            return False
        if not state["authed"]:
            self._send(client, ("Response", "Error"), aid, ("Message", "Permission denied"))
            return True
        if name == "dbput":
            self._send(client, ("Response", "Success"), aid, ("Message", "Updated database successfully"))
        elif name == "originate":
            self._originate(client, action, aid)
        else:
            self._send(client, ("Response", "Error"), aid, ("Message", "Invalid/unknown command"))
        return True

    def _originate(self, client: socket.socket, action: dict[str, str], aid: tuple[str, str]) -> None:
        if self.originate_error:
            self._send(client, ("Response", "Error"), aid, ("Message", "Originate failed"))
            return
        self._send(client, ("Response", "Success"), aid, ("Message", "Originate successfully queued"))
        channel = action.get("Channel", "")
        if self.noise:
            self._send(client, ("Event", "Newchannel"), ("Privilege", "call,all"), ("Channel", f"{channel}-0001;1"))
            self._send(client, ("Event", "OriginateResponse"), ("ActionID", "someone-else"),
                       ("Response", "Failure"), ("Reason", "0"))
        response = self.originate_response
        if response is None:
            return
        if self.event_delay:
            time.sleep(self.event_delay)
        reason = self.originate_reason or ("4" if response == "Success" else "5")
        exten, _sep, context = channel.removeprefix("Local/").partition("@")
        self._send(
            client, ("Event", "OriginateResponse"), ("Privilege", "call,all"), aid, ("Response", response),
            ("Channel", channel), ("Context", context), ("Exten", exten), ("Reason", reason),
            ("Uniqueid", f"{time.time():.6f}"), ("CallerIDNum", "<unknown>"), ("CallerIDName", "<unknown>"),
        )
