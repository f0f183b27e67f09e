"""Bytes werkzeug's test client cannot send, sent to a real gunicorn over a raw socket: invalid UTF-8 in
the request line, headers and body, CR/LF smuggled into headers and into values we echo (a redirect's
Location), NUL bytes, oversized lines, chunked bodies over 1 MiB.

Whatever gunicorn or the app answers: no 5xx, no stack trace, our JSON error shape when the app answered,
no injected response header, and both workers still alive and healthy afterwards.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from tests.e2e.harness import ADMIN_TOKEN, Service, free_port, service_environ
from tests.reliability.databases import create_database, drop_database

pytestmark = pytest.mark.e2e

AUTH = f"Authorization: Bearer {ADMIN_TOKEN}\r\n".encode()


def _chunked(size: int) -> bytes:
    chunk = b"a" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(size // len(chunk) + 1))
    return body + b"0\r\n\r\n"


BAD_UTF8_JSON = b'{"token": "\xff\xfe\xc3("}'
# (name, request head without Host/Connection and the blank line, body, the statuses that may answer:
# gunicorn's own 400/414/431 for what is not HTTP, the app's JSON 4xx for the rest, 0 for no answer)
CASES: list[tuple[str, bytes, bytes, set[int]]] = [
    ("invalid UTF-8 in the path", b"GET /ms-admin/config/\xff\xfe\xfd HTTP/1.1\r\n" + AUTH, b"", {400, 404}),
    ("invalid UTF-8 in the query", b"GET /internal/ms/customer-by-phone?enterprise_number=\xff&phone=\xc3\x28 "
                                   b"HTTP/1.1\r\n", b"", {400, 404, 422}),
    ("a NUL byte in the path", b"GET /api/enterprises/1\x002 HTTP/1.1\r\n" + AUTH, b"", {400, 404}),
    ("an escaped NUL in the path", b"DELETE /api/enterprises/1%002 HTTP/1.1\r\n" + AUTH, b"", {404}),
    ("an escaped NUL in the query", b"GET /ms-admin/journal/1.json?phone=%00 HTTP/1.1\r\n" + AUTH, b"", {400}),
    ("invalid UTF-8 in a header", b"GET /api/enterprises/1 HTTP/1.1\r\nAuthorization: Bearer \xff\xfe\x80\r\n", b"",
     {400, 401}),
    ("a bare CR inside a header value", b"GET /health HTTP/1.1\r\nX-Internal-Token: a\rX-Injected: 1\r\n", b"",
     {400}),
    ("an obsolete folded header", b"GET /internal/ms/responsible-extension HTTP/1.1\r\nX-Internal-Token: a\r\n"
                                  b" continued\r\n", b"", {400, 403, 422}),
    ("CR/LF into a redirect's Location", b"GET /ms-admin/?enterprise_number=1%0D%0ASet-Cookie:%20pwned=1 "
                                         b"HTTP/1.1\r\nAccept: text/html\r\n", b"", {302}),
    ("CR/LF into the login's next", b"POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                                    b"Content-Length: 41\r\n", b"token=x&next=/%0d%0aSet-Cookie:%20pwned=1", {401}),
    ("invalid UTF-8 in a JSON body", b"POST /dispatch/call-event HTTP/1.1\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: %d\r\n" % len(BAD_UTF8_JSON), BAD_UTF8_JSON, {400}),
    # werkzeug cuts a chunked body at 1 MiB instead of refusing it: 400 (not JSON any more) where the
    # contract says 413 (see the report); what matters here is that it is never taken.
    ("a chunked body over 1 MiB", b"POST /dispatch/call-event HTTP/1.1\r\nContent-Type: application/json\r\n"
                                  b"Transfer-Encoding: chunked\r\n", _chunked(1024 * 1024 + 1), {400, 413}),
    ("a declared body over 1 MiB", b"PUT /ms-admin/config/1 HTTP/1.1\r\n" + AUTH
     + b"Content-Type: application/json\r\nContent-Length: 2000000\r\n", b"{}", {413}),
    ("a request line of 20 kB", b"GET /health?" + b"a" * 20_000 + b" HTTP/1.1\r\n", b"", {414}),
    ("200 headers", b"GET /health HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)), b"", {431}),
    ("a header of 20 kB", b"GET /health HTTP/1.1\r\nX-Big: " + b"v" * 20_000 + b"\r\n", b"", {431}),
    ("not HTTP at all", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"", {0, 400}),
    ("a smuggling attempt", b"POST /dispatch/call-event HTTP/1.1\r\nContent-Length: 4\r\n"
                            b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n", {400}),
]


@pytest.fixture(scope="module")
def service(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    url = create_database(pg_admin_url, "secraw")
    var_dir, port = tmp_path_factory.mktemp("raw-service"), free_port()
    svc = Service(service_environ(url, var_dir, port, {}), var_dir, port)
    try:
        yield svc.start()
    finally:
        svc.stop()
        drop_database(pg_admin_url, url)


def raw_request(service: Service, head: bytes, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send the bytes as they are (an HTTP head gets Host, Connection: close and the blank line); returns
    (status, headers, body) of the answer, status 0 when there was none."""
    # Every answer comes at once; a connection gunicorn keeps open without answering (not HTTP) ends the
    # read after a short wait.
    with socket.create_connection(("127.0.0.1", service.port), timeout=2) as sock:
        data = head
        if head.startswith((b"GET", b"POST", b"PUT", b"DELETE")):
            data = head + b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n" + body
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may close early (e.g. after refusing a large body): read what it said
        chunks = []
        try:
            while True:
                got = sock.recv(65536)
                if not got:
                    break
                chunks.append(got)
        except (TimeoutError, OSError):
            pass
    answer = b"".join(chunks)
    if not answer.startswith(b"HTTP/"):
        return 0, {}, answer
    head_part, _sep, rest = answer.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _colon, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return int(lines[0].split()[1]), headers, rest


@pytest.mark.parametrize(("name", "head", "body", "expected"), CASES, ids=[c[0] for c in CASES])
def test_raw_bytes_never_break_the_service(service, name, head, body, expected):
    workers = set(service.worker_pids())
    status, headers, answer = raw_request(service, head, body)

    assert status in expected, f"{name}: {status} {answer[:300]!r}"
    assert b"Traceback" not in answer and b'File "/' not in answer
    assert "set-cookie" not in headers or "pwned" not in headers["set-cookie"]
    assert "x-injected" not in headers
    if status >= 400 and headers.get("content-type", "").startswith("application/json"):
        error = json.loads(answer.decode("utf-8"))["error"]
        assert set(error) == {"code", "message", "details"}
    assert service.get("/health").status_code == 200
    assert set(service.worker_pids()) == workers, "a worker died"
