"""The synchronous baseline: the replaced service's way of working, for the bench's ratio.

What the replaced service did (``vochi-upstream.md`` §2.3-2.4), in its designed form: on each event it
reads the tenant's config from PostgreSQL in a fresh connection, does the MoySklad requests *inside the
request* with a new HTTP client each time, and answers only when MoySklad has answered:

* incoming ``dial``: search the caller (``search=+E164``), create the client when unknown, ``POST /call``,
  then one ``POST .../event`` per SHOW to each mapped ringing extension;
* ``bridge`` of the call: STARTTIME to the answerer, HIDE to the others (the original never sent these:
  included so that the baseline does the same work as the service, not less);
* ``hangup``: HIDE_ALL and a ``PUT`` with the end fields (outgoing calls: one ``POST /call`` with all);
* then a journal row, and the answer.

Run by gunicorn with the service's worker class and count:
``gunicorn -k gevent -w 2 bench.baseline:app`` with ``DATABASE_URL``, ``MS_API_URL``, ``MS_PHONE_API_URL``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import psycopg2
import requests
from psycogreen.gevent import patch_psycopg

patch_psycopg()  # gunicorn's gevent worker patched sockets; psycopg2 needs its own wait callback

DATABASE_URL = os.environ.get("DATABASE_URL", "")
PHONE = os.environ.get("MS_PHONE_API_URL", "").rstrip("/")
JSON_API = os.environ.get("MS_API_URL", "").rstrip("/")
HEADERS = {"Accept-Encoding": "gzip", "Content-Type": "application/json"}
_INCOMING: set[str] = set()


def mapped_all(cfg: dict[str, Any]) -> list[str]:
    return sorted(cfg.get("employee_mapping") or {})


def _config(token: str) -> tuple[str, dict[str, Any]] | None:
    conn = psycopg2.connect(DATABASE_URL)  # a fresh connection per event, as the original did
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT number, integrations_config -> 'ms' FROM enterprises WHERE token = %s", (token,))
            row = cur.fetchone()
            return (row[0], row[1] or {}) if row else None
    finally:
        conn.close()


def _journal(number: str, event: dict[str, Any], status: str) -> None:
    conn = psycopg2.connect(DATABASE_URL)
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO integration_logs (enterprise_number, integration_type, event_type, call_unique_id, "
                        "status) VALUES (%s, 'baseline', %s, %s, %s)",
                        (number, event.get("event_type"), event.get("uniqueId"), status))
        conn.commit()
    finally:
        conn.close()


def _phone(method: str, path: str, cfg: dict[str, Any], body: Any) -> Any:
    with requests.Session() as http:  # a new client per request, no connection reuse
        http.trust_env = False
        resp = http.request(method, PHONE + path, json=body, timeout=30,
                            headers={**HEADERS, "Lognex-Phone-Auth-Token": cfg.get("integration_code") or ""})
    return resp.json() if resp.content else None


def _json(method: str, path: str, cfg: dict[str, Any], body: Any = None, params: Any = None) -> Any:
    with requests.Session() as http:
        http.trust_env = False
        resp = http.request(method, JSON_API + path, json=body, params=params, timeout=30, headers=HEADERS,
                            auth=(cfg.get("login") or "", cfg.get("password") or ""))
    return resp.json() if resp.content else None


def _employee(cfg: dict[str, Any], ext: str) -> dict[str, Any]:
    emp = (cfg.get("employee_mapping") or {}).get(ext)
    meta = {"href": f"{JSON_API}/entity/employee/{emp}", "type": "employee", "mediaType": "application/json"}
    return {"extension": ext, **({"employee": meta} if emp else {})}


def _card(cfg: dict[str, Any], uid: str, event_type: str, ext: str | None, seq: int) -> None:
    body: dict[str, Any] = {"eventType": event_type, "sequence": seq}
    if ext is not None:
        body.update(_employee(cfg, ext))
    _phone("POST", f"/call/extid/{uid}/event", cfg, body)


def handle(event: dict[str, Any], cfg: dict[str, Any]) -> None:
    raw, kind, uid = event.get("raw") or {}, event.get("event_type"), str(event.get("uniqueId"))
    phone = "+" + str(raw.get("Phone", "")).lstrip("+")
    mapped = [e for e in raw.get("Extensions") or [] if e in (cfg.get("employee_mapping") or {})]
    incoming = str(raw.get("CallType")) == "0"
    if kind == "dial" and incoming:
        found = _json("GET", "/entity/counterparty", cfg, params={"search": phone, "limit": 10}) or {}
        if not found.get("rows"):
            _json("POST", "/entity/counterparty", cfg, {"name": phone, "phone": phone})
        _phone("POST", "/call", cfg, {"externalId": uid, "number": phone, "isIncoming": True,
                                      "startTime": raw.get("StartTime") or _now_msk()})
        for i, ext in enumerate(mapped, 1):
            _card(cfg, uid, "SHOW", ext, i)
        _INCOMING.add(uid)
    elif kind == "bridge" and uid in _INCOMING:
        # The trunk channel's bridge names the answerer; like the original, which calls are live is kept
        # in this worker's memory (a bridge that lands on the other worker is not seen as an answer).
        answerer = str(raw.get("ConnectedLineNum", ""))
        if answerer.isdigit() and len(answerer) <= 5:
            _card(cfg, uid, "STARTTIME", answerer, 10)
            for j, ext in enumerate(e for e in mapped_all(cfg) if e != answerer):
                _card(cfg, uid, "HIDE", ext, 11 + j)
    elif kind == "hangup" and str(raw.get("CallType")) in ("0", "1"):
        final = {"endTime": _now_msk(), "comment": f"status {raw.get('CallStatus')}"}
        if str(raw.get("CallType")) == "1":
            _phone("POST", "/call", cfg, {"externalId": uid, "number": phone, "isIncoming": False,
                                          "startTime": _now_msk(), **final})
        else:
            _card(cfg, uid, "HIDE_ALL", None, 20)
            _phone("PUT", f"/call/extid/{uid}", cfg, final)
            _INCOMING.discard(uid)


def _now_msk() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone(dt.timedelta(hours=3))).strftime("%Y-%m-%d %H:%M:%S")


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/health":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status":"ok"}']
    if path != "/dispatch/call-event" or environ.get("REQUEST_METHOD") != "POST":
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"error":"not found"}']
    length = int(environ.get("CONTENT_LENGTH") or 0)
    event = json.loads(environ["wsgi.input"].read(length) or b"{}")
    found = _config(str(event.get("token", "")))
    if found is None:
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"error":"unknown token"}']
    number, cfg = found
    status = "success"
    try:
        handle(event, cfg)
    except (requests.RequestException, ValueError) as exc:  # the original answered 500 on any error
        status = f"error: {exc}"[:200]
    _journal(number, event, status)
    start_response("202 Accepted", [("Content-Type", "application/json")])
    return [b'{"accepted":true}']
