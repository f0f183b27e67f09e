"""Who may call what.

* Admin routes: ``Authorization: Bearer <HOST_ADMIN_TOKEN>`` (global admin), ``Bearer <enterprise admin
  token>`` (one enterprise), or the browser session set by ``POST /login``. A state-changing request made
  with the session cookie must carry the CSRF token (``X-CSRF-Token`` or a ``csrf_token`` form field);
  Bearer requests are exempt (a browser never adds that header on its own).
* Internal routes: the socket peer is loopback, or ``X-Internal-Token`` matches ``HOST_INTERNAL_TOKEN``.
  ``X-Forwarded-For`` never grants anything; a loopback peer that carries proxy headers is a request
  relayed by a reverse proxy from outside, so it is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import quote

from flask import g, request, session

from host_app.db import DbPool
from host_app.integrations.contract import ApiError, Principal
from host_app.settings import HostSettings, is_loopback_host

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PROXY_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Forwarded-Host")
SESSION_HOURS = 12


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mint_token() -> str:
    return "ent_" + secrets.token_urlsafe(32)


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class HostAuth:
    """The contract's ``Auth`` service, backed by the host settings and ``admin_tokens``."""

    def __init__(self, settings: HostSettings, db: DbPool) -> None:
        self._settings = settings
        self._db = db

    # -- principals --------------------------------------------------------------------------------

    def current_principal(self) -> Principal | None:
        if "principal" in g:
            return g.principal  # type: ignore[no-any-return]
        principal = self._from_bearer() or self._from_session()
        g.principal = principal
        return principal

    def _from_bearer(self) -> Principal | None:
        header = request.headers.get("Authorization", "")
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        token = token.strip()
        if hmac.compare_digest(token.encode(), self._settings.admin_token.encode()):
            return Principal("global", None, "bearer")
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE admin_tokens SET last_used_at = now() WHERE token_hash = %s "
                "RETURNING enterprise_number", (hash_token(token),))
            row = cur.fetchone()
        if row is None:
            g.bad_credentials = True
            return None
        return Principal("enterprise", row[0], "bearer")

    def _from_session(self) -> Principal | None:
        data = session.get("auth")
        if not isinstance(data, dict):
            return None
        issued = data.get("iat", 0)
        if dt.datetime.now(dt.timezone.utc).timestamp() - float(issued) > SESSION_HOURS * 3600:
            return None
        if data.get("kind") == "global":
            return Principal("global", None, "session")
        if data.get("kind") == "enterprise" and data.get("ent"):
            # A revoked token ends the sessions opened with it.
            with self._db.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT 1 FROM admin_tokens WHERE id = %s AND enterprise_number = %s",
                            (data.get("tid"), data["ent"]))
                if cur.fetchone() is None:
                    return None
            return Principal("enterprise", str(data["ent"]), "session")
        return None

    def principal_for_token(self, token: str) -> tuple[Principal, int | None] | None:
        """Used by ``POST /login``: which principal (and admin token id) a typed token opens."""
        if hmac.compare_digest(token.encode(), self._settings.admin_token.encode()):
            return Principal("global", None, "session"), None
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("UPDATE admin_tokens SET last_used_at = now() WHERE token_hash = %s "
                        "RETURNING id, enterprise_number", (hash_token(token),))
            row = cur.fetchone()
        if row is None:
            return None
        return Principal("enterprise", row[1], "session"), int(row[0])

    # -- checks ------------------------------------------------------------------------------------

    def require_admin(self, enterprise_number: str | None = None) -> Principal:
        principal = self.current_principal()
        if principal is None:
            raise Unauthorized("admin credentials are required (Authorization: Bearer … or a login session)")
        if principal.via == "session" and request.method not in SAFE_METHODS:
            self.check_csrf()
        if enterprise_number is not None and not principal.can_access(enterprise_number):
            raise Forbidden("this credential does not open this enterprise")
        return principal

    def require_global_admin(self) -> Principal:
        principal = self.require_admin()
        if principal.kind != "global":
            raise Forbidden("only the global admin may do this")
        return principal

    def check_csrf(self) -> None:
        expected = session.get("csrf")
        sent = request.headers.get("X-CSRF-Token") or (
            request.form.get("csrf_token") if request.mimetype in (
                "application/x-www-form-urlencoded", "multipart/form-data") else None)
        if not expected or not sent or not hmac.compare_digest(str(sent), str(expected)):
            raise ApiError("missing or wrong CSRF token", code="csrf_failed", status=403)

    def require_internal(self) -> None:
        token = request.headers.get("X-Internal-Token")
        configured = self._settings.internal_token
        if token and configured and hmac.compare_digest(token.encode(), configured.encode()):
            return
        if self.peer_is_loopback():
            return
        raise Forbidden("internal route: loopback callers or X-Internal-Token only")

    @staticmethod
    def peer_is_loopback() -> bool:
        peer = request.environ.get("REMOTE_ADDR") or ""
        if not is_loopback_host(peer) or peer == "":
            return False
        return not any(request.headers.get(h) for h in _PROXY_HEADERS)

    # -- browser session ---------------------------------------------------------------------------

    def csrf_token(self) -> str:
        token = session.get("csrf")
        if not token:
            token = secrets.token_urlsafe(24)
            session["csrf"] = token
        return str(token)

    def start_session(self, principal: Principal, token_id: int | None) -> None:
        session.clear()
        session.permanent = True
        session["auth"] = {"kind": principal.kind, "ent": principal.enterprise_number, "tid": token_id,
                           "iat": dt.datetime.now(dt.timezone.utc).timestamp()}
        session["csrf"] = secrets.token_urlsafe(24)

    def end_session(self) -> None:
        session.clear()

    def login_url(self, next_path: str) -> str:
        return "/login?next=" + quote(next_path, safe="/")

    # -- throttling --------------------------------------------------------------------------------

    def login_allowed(self, client: str, max_failures: int = 10, window_minutes: int = 15) -> bool:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT coalesce(sum(failures), 0) FROM login_attempts WHERE client = %s "
                        "AND window_start > now() - make_interval(mins => %s)", (client, window_minutes))
            failures = int(cur.fetchone()[0])
        return failures < max_failures

    def record_login_failure(self, client: str) -> None:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO login_attempts (client, window_start, failures) "
                "VALUES (%s, date_trunc('minute', now()), 1) "
                "ON CONFLICT (client, window_start) DO UPDATE SET failures = login_attempts.failures + 1",
                (client,))
            cur.execute("DELETE FROM login_attempts WHERE window_start < now() - interval '1 day'")


def client_address() -> str:
    return str(request.environ.get("REMOTE_ADDR") or "unknown")


def is_html_request() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.method in SAFE_METHODS


def safe_next(value: Any) -> str:
    """Only a same-origin path: ``/x``, never ``//evil`` or ``http://…`` (open redirect)."""
    text = str(value or "")
    if not text.startswith("/") or text.startswith("//") or "\\" in text or "\n" in text or "\r" in text:
        return "/ms/"
    return text
