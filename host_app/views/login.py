"""``GET·POST /login`` and ``POST /logout``: the browser session of admins (HTML, Russian UI).

Failed logins are counted per client address in PostgreSQL (every worker sees them); past the limit the
form answers 429 even for a right token, so a guessing script learns nothing more.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, redirect, render_template, request

from host_app.auth import HostAuth, client_address, safe_next
from host_app.state import host_state

log = logging.getLogger(__name__)

bp = Blueprint("host_login", __name__)

MAX_FAILURES = 10
WINDOW_MINUTES = 15


def _auth() -> HostAuth:
    return host_state().services.auth  # type: ignore[return-value]


def _page(status: int, *, next_path: str, error: str | None = None) -> Response:
    auth = _auth()
    principal = auth.current_principal() if status == 200 else None
    html = render_template("login.html", next_path=next_path, error=error, principal=principal,
                           csrf_token=auth.csrf_token() if principal and principal.via == "session" else None)
    resp = Response(html, status=status, mimetype="text/html")
    # The page takes a credential: never framed, never cached, no third-party anything.
    resp.headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "same-origin"
    return resp


@bp.get("/login")
def login_form() -> Response:
    return _page(200, next_path=safe_next(request.args.get("next")))


@bp.post("/login")
def login() -> Response:
    auth = _auth()
    client = client_address()
    next_path = safe_next(request.form.get("next"))
    if not auth.login_allowed(client, MAX_FAILURES, WINDOW_MINUTES):
        resp = _page(429, next_path=next_path,
                     error=f"Слишком много неудачных попыток входа. Попробуйте через {WINDOW_MINUTES} минут.")
        resp.headers["Retry-After"] = str(WINDOW_MINUTES * 60)
        return resp
    token = (request.form.get("token") or "").strip()
    found = auth.principal_for_token(token) if token else None
    if found is None:
        auth.record_login_failure(client)
        log.warning("failed admin login from %s", client)
        return _page(401, next_path=next_path, error="Неверный токен. Проверьте его и попробуйте ещё раз.")
    principal, token_id = found
    auth.start_session(principal, token_id)
    log.info("admin login (%s %s) from %s", principal.kind, principal.enterprise_number or "", client)
    return redirect(next_path, code=303)


@bp.post("/logout")
def logout() -> Response:
    auth = _auth()
    if auth.current_principal() is not None:
        auth.check_csrf()  # a cross-site form must not be able to end the session
    auth.end_session()
    return redirect("/login", code=303)
