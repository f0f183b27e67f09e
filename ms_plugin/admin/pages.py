"""The admin's HTML pages: ``/ms/`` (choose the enterprise), ``/ms-admin/`` (settings), ``/ms-admin/journal``.

Server-rendered Jinja with autoescape: enterprise names, employee names and anything an admin typed
are hostile input. The pages' scripts are static files (no inline script or event handler), and the
Content-Security-Policy allows nothing else, so even a mistake in escaping could not run a script.
Without a session (or Bearer) the pages redirect to the host's login page and come back after it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, redirect, render_template, request

from host_app.integrations.contract import Principal
from ms_plugin.admin import labels, pages_repo
from ms_plugin.admin.wiring import admin_services
from ms_plugin.state import plugin_state
from ms_plugin.views import bp

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def _html(template: str, status: int = 200, **context: Any) -> Response:
    resp = Response(render_template(template, **context), status=status, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _login_redirect() -> Response:
    path = request.full_path.rstrip("?") if request.query_string else request.path
    return redirect(plugin_state().services.auth.login_url(path), code=302)


def _common(principal: Principal) -> dict[str, Any]:
    auth = plugin_state().services.auth
    return {"principal": principal, "csrf_token": auth.csrf_token() if principal.via == "session" else ""}


def _error_page(status: int, title: str, message: str, principal: Principal | None) -> Response:
    context = _common(principal) if principal else {"principal": None, "csrf_token": ""}
    return _html("ms/error.html", status, title=title, message=message, **context)


def _page_for(ent: str | None) -> tuple[Principal | None, Response | None]:
    """The principal allowed to see ``ent``'s page, or the response to send instead."""
    auth = plugin_state().services.auth
    principal = auth.current_principal()
    if principal is None:
        return None, _login_redirect()
    if not ent:
        if principal.kind == "enterprise" and principal.enterprise_number:
            return None, redirect(request.path + "?enterprise_number=" + quote(principal.enterprise_number), 302)
        return None, redirect("/ms/", 302)
    if not principal.can_access(ent):
        return None, _error_page(403, "Нет доступа", "Этот вход открывает только своё предприятие.", principal)
    if plugin_state().services.enterprises.get(ent) is None:
        return None, _error_page(404, "Предприятие не найдено", f"Предприятия {ent} нет.", principal)
    return principal, None


@bp.get("/ms/")
def choose_enterprise() -> Response:
    principal = plugin_state().services.auth.current_principal()
    if principal is None:
        return _login_redirect()
    if principal.kind == "enterprise" and principal.enterprise_number:
        return redirect("/ms-admin/?enterprise_number=" + quote(principal.enterprise_number), 302)
    query = (request.args.get("q") or "").strip()[:64] or None
    with plugin_state().services.db.connection() as conn:
        enterprises = pages_repo.list_enterprises(conn, query)
    return _html("ms/choose.html", enterprises=enterprises, query=query or "",
                 limited=len(enterprises) >= pages_repo.MAX_LISTED, **_common(principal))


@bp.get("/ms-admin/")
def admin_page() -> Response:
    ent = (request.args.get("enterprise_number") or "").strip()
    principal, early = _page_for(ent)
    if early is not None or principal is None:
        return early  # type: ignore[return-value]
    enterprise = plugin_state().services.enterprises.get(ent)
    config = admin_services().config.get(ent, principal)
    return _html("ms/admin.html", enterprise=enterprise, config=config, labels=labels,
                 state_label=labels.STATES.get(config["status"]["state"], config["status"]["state"]),
                 **_common(principal))


@bp.get("/ms-admin/journal")
def journal_page() -> Response:
    ent = (request.args.get("enterprise_number") or "").strip()
    principal, early = _page_for(ent)
    if early is not None or principal is None:
        return early  # type: ignore[return-value]
    enterprise = plugin_state().services.enterprises.get(ent)
    filters = {k: (request.args.get(k) or "")[:128] for k in ("phone", "call_id", "event_type", "status",
                                                              "since", "until")}
    return _html("ms/journal.html", enterprise=enterprise, filters=filters, **_common(principal))
