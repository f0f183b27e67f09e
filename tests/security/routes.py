"""Every route of the app, classified by who may call it: the table the auth matrix and the fuzzer read.

A new route without a row here fails ``test_every_route_has_a_row`` (``test_auth_matrix.py``): deciding
who may call a route is part of adding it.

Kinds:

* ``public``: no credentials (health, metrics, the login form, static files);
* ``login``: the login form post (no credentials; a wrong token is 401), ``logout`` (needs CSRF);
* ``admin``: an enterprise's own admin token or session, or the global admin (JSON API);
* ``global``: the global admin only (JSON API);
* ``page``: admin HTML pages (no credentials: 302 to /login);
* ``internal``: a loopback peer or ``X-Internal-Token``;
* ``webhook``: MoySklad's click-to-call, authenticated by an unguessable path (and a signature);
* ``pbx_token``: the PBX dialplan, authenticated by the enterprise's ``Token`` header.

Paths use ``{ent}`` (the enterprise under test), ``{tid}`` (one of its admin token ids), ``{webhook}``
(its webhook uuid), ``{phone}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Route:
    method: str
    rule: str  # as in app.url_map
    kind: str
    path: str
    body: Any = None  # a JSON body that gets past the auth check (it need not be valid otherwise)

    @property
    def id(self) -> str:
        return f"{self.method} {self.rule}"


PHONE = "375291234567"
ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", "public", "/health"),
    Route("GET", "/metrics", "public", "/metrics"),
    Route("GET", "/login", "public", "/login"),
    Route("GET", "/static/<path:filename>", "public", "/static/host.css"),
    Route("GET", "/ms/static/<path:filename>", "public", "/ms/static/ms/admin.css"),
    Route("POST", "/login", "login", "/login"),
    Route("POST", "/logout", "logout", "/logout"),
    # the host's admin API
    Route("GET", "/api/enterprises/<number>", "admin", "/api/enterprises/{ent}"),
    Route("PUT", "/api/enterprises/<number>", "global", "/api/enterprises/{ent}", {"name": "Renamed"}),
    Route("DELETE", "/api/enterprises/<number>", "global", "/api/enterprises/{ent}"),
    Route("PUT", "/api/enterprises/<number>/primary", "admin", "/api/enterprises/{ent}/primary", {"primary": "ms"}),
    Route("GET", "/api/enterprises/<number>/smart", "admin", "/api/enterprises/{ent}/smart"),
    Route("PUT", "/api/enterprises/<number>/smart", "admin", "/api/enterprises/{ent}/smart", {"mode": "off"}),
    Route("POST", "/api/enterprises/<number>/admin-tokens", "global", "/api/enterprises/{ent}/admin-tokens",
          {"label": "x"}),
    Route("GET", "/api/enterprises/<number>/admin-tokens", "global", "/api/enterprises/{ent}/admin-tokens"),
    Route("DELETE", "/api/enterprises/<number>/admin-tokens/<int:token_id>", "global",
          "/api/enterprises/{ent}/admin-tokens/{tid}"),
    # the ms plugin's admin API and pages
    Route("GET", "/ms-admin/config/<ent>", "admin", "/ms-admin/config/{ent}"),
    Route("PUT", "/ms-admin/config/<ent>", "admin", "/ms-admin/config/{ent}", {"notifications": {}}),
    Route("DELETE", "/ms-admin/config/<ent>", "admin", "/ms-admin/config/{ent}"),
    Route("POST", "/ms-admin/config/<ent>/rotate-webhook", "admin", "/ms-admin/config/{ent}/rotate-webhook"),
    Route("POST", "/ms-admin/test/<ent>", "admin", "/ms-admin/test/{ent}", {}),
    Route("GET", "/ms-admin/employees/<ent>", "admin", "/ms-admin/employees/{ent}"),
    Route("PUT", "/ms-admin/employees/<ent>/mapping", "admin", "/ms-admin/employees/{ent}/mapping", {"mapping": {}}),
    Route("POST", "/ms-admin/test-call/<ent>", "admin", "/ms-admin/test-call/{ent}", {"extension": "150"}),
    Route("GET", "/ms-admin/options/<ent>", "admin", "/ms-admin/options/{ent}"),
    Route("GET", "/ms-admin/journal/<ent>.json", "admin", "/ms-admin/journal/{ent}.json"),
    Route("POST", "/ms-admin/journal/<ent>/resend", "admin", "/ms-admin/journal/{ent}/resend", {"call_id": "1.1"}),
    Route("GET", "/ms-admin/stats/<ent>", "admin", "/ms-admin/stats/{ent}"),
    Route("GET", "/ms/", "page", "/ms/"),
    Route("GET", "/ms-admin/", "page", "/ms-admin/?enterprise_number={ent}"),
    Route("GET", "/ms-admin/journal", "page", "/ms-admin/journal?enterprise_number={ent}"),
    # internal: the PBX relay, Smart Redirect, other services on the host
    Route("POST", "/dispatch/call-event", "internal", "/dispatch/call-event",
          {"token": "tok-{ent}", "uniqueId": "1.1", "event_type": "other", "raw": {}}),
    Route("GET", "/customer-name/<ent>/<phone>", "internal", "/customer-name/{ent}/{phone}"),
    Route("GET", "/responsible-extension/<ent>/<phone>", "internal", "/responsible-extension/{ent}/{phone}"),
    Route("POST", "/internal/ms/call-event", "internal", "/internal/ms/call-event",
          {"enterprise_number": "{ent}", "uniqueId": "1.1", "event_type": "other", "raw": {}}),
    Route("POST", "/internal/ms/notify-incoming", "internal", "/internal/ms/notify-incoming", {}),
    Route("POST", "/internal/ms/log-call", "internal", "/internal/ms/log-call", {}),
    Route("GET", "/internal/ms/customer-by-phone", "internal",
          "/internal/ms/customer-by-phone?enterprise_number={ent}&phone={phone}"),
    Route("GET", "/internal/ms/responsible-extension", "internal",
          "/internal/ms/responsible-extension?enterprise_number={ent}&phone={phone}"),
    Route("POST", "/ms/notify-incoming", "internal", "/ms/notify-incoming", {}),
    Route("POST", "/ms/log-call", "internal", "/ms/log-call", {}),
    Route("POST", "/ms/customer-by-phone", "internal", "/ms/customer-by-phone",
          {"enterprise_number": "{ent}", "phone": PHONE}),
    Route("POST", "/ms/responsible-extension", "internal", "/ms/responsible-extension",
          {"enterprise_number": "{ent}", "phone": PHONE}),
    # outside callers with their own credentials
    Route("POST", "/ms/webhook/<key>", "webhook", "/ms/webhook/{webhook}",
          {"srcNumber": "150", "destNumber": PHONE, "uid": "admin@x"}),
    Route("POST", "/api/callevent/getcustomerdata", "pbx_token", "/api/callevent/getcustomerdata",
          {"UniqueId": "1.1", "Phone": PHONE, "TrunkId": "0001363", "LoadDialPlan": "false"}),
)


def by_kind(*kinds: str) -> list[Route]:
    return [r for r in ROUTES if r.kind in kinds]


def fill(value: Any, **names: str) -> Any:
    """``value`` (a path or a JSON body) with its ``{name}`` placeholders replaced."""
    if isinstance(value, str):
        for name, text in names.items():
            value = value.replace("{" + name + "}", text)
        return value
    if isinstance(value, dict):
        return {k: fill(v, **names) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, **names) for v in value]
    return value
