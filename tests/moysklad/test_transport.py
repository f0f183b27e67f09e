"""The worker's transport: a stateless session, recycled after 100 requests or 25 s."""

from __future__ import annotations

import http.cookiejar

import responses

from ms_plugin.moysklad.transport import DEFAULT_HEADERS, Transport, build_session

from .conftest import FakeClock

URL = "https://api.moysklad.invalid/api/phone/1.0/employee"


class FakeSession:
    def __init__(self) -> None:
        self.closed = False
        self.requests = 0

    def request(self, *args, **kw):
        self.requests += 1
        return "response"

    def close(self) -> None:
        self.closed = True


def test_session_is_stateless_and_never_retries():
    session = build_session(pool_maxsize=7)
    assert session.trust_env is False and session.auth is None
    assert dict(session.headers) == dict(DEFAULT_HEADERS)
    assert session.headers["Accept-Encoding"] == "gzip"
    policy = session.cookies._policy
    assert isinstance(policy, http.cookiejar.DefaultCookiePolicy) and policy.allowed_domains() == ()
    adapter = session.get_adapter("https://api.moysklad.ru/")
    assert adapter.max_retries.total == 0
    assert adapter._pool_block is True and adapter._pool_maxsize == 7 and adapter._pool_connections == 4


@responses.activate
def test_cookies_from_moysklad_are_refused():
    responses.add(responses.GET, URL, json={"employees": []},
                  headers={"Set-Cookie": "sid=abc; Domain=api.moysklad.invalid; Path=/"})
    transport = Transport()
    transport.request("GET", URL, timeout=(1, 1))
    transport.request("GET", URL, timeout=(1, 1))
    assert "Cookie" not in responses.calls[1].request.headers
    assert len(transport._current.session.cookies) == 0


def test_a_fresh_session_after_100_requests():
    sessions: list[FakeSession] = []
    transport = Transport(session_factory=lambda: sessions.append(FakeSession()) or sessions[-1],
                          clock=FakeClock())
    for _ in range(250):
        transport.request("GET", URL, timeout=(1, 1))
    assert [s.requests for s in sessions] == [100, 100, 50]
    assert [s.closed for s in sessions] == [True, True, False]


def test_a_fresh_session_once_the_current_one_is_25_seconds_old():
    clock = FakeClock()
    sessions: list[FakeSession] = []
    transport = Transport(session_factory=lambda: sessions.append(FakeSession()) or sessions[-1], clock=clock)
    transport.request("GET", URL, timeout=(1, 1))
    clock.advance(24.9)
    transport.request("GET", URL, timeout=(1, 1))
    assert len(sessions) == 1
    clock.advance(0.1)  # idle or not, no connection of this session may now be older than 25 s
    transport.request("GET", URL, timeout=(1, 1))
    assert len(sessions) == 2 and sessions[0].closed


def test_a_retired_session_is_closed_only_after_its_in_flight_requests():
    clock = FakeClock()
    sessions: list[FakeSession] = []
    transport = Transport(session_factory=lambda: sessions.append(FakeSession()) or sessions[-1], clock=clock)
    in_flight = transport._checkout()  # a request still running on the first session
    clock.advance(30)
    transport.request("GET", URL, timeout=(1, 1))
    assert len(sessions) == 2 and not sessions[0].closed
    transport._checkin(in_flight)
    assert sessions[0].closed and not sessions[1].closed


def test_a_session_inherited_across_fork_is_abandoned_not_closed(monkeypatch):
    sessions: list[FakeSession] = []
    transport = Transport(session_factory=lambda: sessions.append(FakeSession()) or sessions[-1], clock=FakeClock())
    transport.request("GET", URL, timeout=(1, 1))
    monkeypatch.setattr("ms_plugin.moysklad.transport.os.getpid", lambda: -1)
    transport.request("GET", URL, timeout=(1, 1))
    assert len(sessions) == 2 and not sessions[0].closed  # its sockets belong to the parent too


def test_no_session_before_the_first_request():
    made: list[FakeSession] = []
    Transport(session_factory=lambda: made.append(FakeSession()) or made[-1])
    assert made == []
