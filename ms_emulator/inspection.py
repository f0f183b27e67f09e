"""Control and inspection API under `/_emulator/` (JSON, no auth): the HTTP face of EmulatorState for
tests, benchmarks and the demo. It bypasses the MoySklad pipeline (no limits, no gzip rule, not logged)."""
from __future__ import annotations

import json
from functools import wraps
from typing import Any, Callable

from flask import Blueprint, Response, request

from .pipeline import current_state
from .transport import json_response

bp = Blueprint("ms_emulator_control", __name__, url_prefix="/_emulator")


def _body() -> dict[str, Any]:
    data = request.get_data(cache=True)
    if not data.strip():
        return {}
    try:
        body = json.loads(data)
    except ValueError:
        raise ValueError("body is not JSON") from None
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def control(view: Callable[..., Any]) -> Callable[..., Response]:
    """JSON in, JSON out; ValueError -> 400, KeyError -> 404."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            result = view(*args, **kwargs)
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        except KeyError as exc:
            return json_response({"error": str(exc.args[0]) if exc.args else "not found"}, 404)
        if isinstance(result, Response):
            return result
        return json_response(result)
    return wrapper


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None


@bp.post("/reset")
@control
def reset() -> dict[str, Any]:
    body = _body()
    current_state().reset(keep_accounts=bool(body.get("keep_accounts")), keep_knobs=bool(body.get("keep_knobs")))
    return {"ok": True}


@bp.post("/accounts")
@control
def create_account() -> Response:
    return json_response(current_state().create_account(_body()), 201)


@bp.get("/accounts")
@control
def list_accounts() -> dict[str, Any]:
    state = current_state()
    with state.lock:
        return {"accounts": [state.account_info(a.id) for a in state.accounts.values()]}


@bp.get("/accounts/<ref>")
@control
def get_account(ref: str) -> dict[str, Any]:
    return current_state().account_info(ref)


@bp.route("/accounts/<ref>", methods=["PUT", "PATCH"])
@control
def set_flags(ref: str) -> dict[str, Any]:
    return current_state().set_account_flags(ref, **_body())


@bp.post("/accounts/<ref>/employees")
@control
def add_employee(ref: str) -> Response:
    return json_response(current_state().add_employee(ref, **_body()), 201)


@bp.get("/requests")
@control
def requests_log() -> dict[str, Any]:
    state = current_state()
    rows = state.requests(api=request.args.get("api") or None, path=request.args.get("path") or None,
                          since=_int_arg("since"), method=request.args.get("method") or None,
                          status=_int_arg("status"), account=request.args.get("account") or None,
                          since_time=float(request.args["since_time"]) if request.args.get("since_time") else None,
                          limit=_int_arg("limit"))
    return {"requests": rows, "last_seq": state.log.seq}


@bp.get("/calls")
@control
def calls() -> dict[str, Any]:
    return {"calls": current_state().calls(request.args.get("account") or None)}


@bp.get("/cards")
@control
def cards() -> dict[str, Any]:
    return current_state().cards(request.args.get("account") or None)


@bp.get("/entities/<kind>")
@control
def entities(kind: str) -> dict[str, Any]:
    return {"rows": current_state().entities(kind, request.args.get("account") or None)}


@bp.post("/entities/<kind>")
@control
def add_entity(kind: str) -> Response:
    account = request.args.get("account")
    if not account:
        raise ValueError("?account= is required")
    body = _body()
    parent = body.pop("parent_id", None)
    return json_response(current_state().add_entity(account, kind, body, parent_id=parent), 201)


@bp.get("/knobs")
@control
def get_knobs() -> dict[str, Any]:
    return current_state().knobs.as_dict()


@bp.route("/knobs", methods=["PUT", "PATCH"])
@control
def put_knobs() -> dict[str, Any]:
    return current_state().set_knobs(_body())


@bp.get("/stats")
@control
def stats() -> dict[str, Any]:
    return current_state().stats()


@bp.post("/stats/reset")
@control
def reset_stats() -> dict[str, Any]:
    current_state().reset_stats()
    return {"ok": True}


@bp.get("/faults")
@control
def faults() -> dict[str, Any]:
    return current_state().faults_snapshot()


@bp.delete("/faults")
@control
def clear_faults() -> dict[str, Any]:
    current_state().clear_faults()
    return {"ok": True}


@bp.post("/faults/outage")
@control
def set_outage() -> dict[str, Any]:
    body = _body()
    seconds = float(body["seconds"]) if body.get("seconds") is not None else None
    if body.get("api") not in (None, "phone", "json"):
        raise ValueError("api must be 'phone', 'json' or null")
    current_state().set_outage(seconds, body.get("api"), int(body.get("status", 503)), int(body.get("code", 1074)))
    return current_state().faults_snapshot()


@bp.delete("/faults/outage")
@control
def clear_outage() -> dict[str, Any]:
    current_state().clear_outage()
    return current_state().faults_snapshot()


@bp.post("/faults/inject")
@control
def inject() -> Response:
    body = _body()
    path = body.pop("path", None)
    if not path:
        raise ValueError("path is required (a glob such as /api/phone/1.0/call*)")
    allowed = {"method", "api", "count", "status", "body", "code", "headers", "drop", "delay_ms"}
    unknown = set(body) - allowed
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    return json_response(current_state().inject(path, **body), 201)


@bp.post("/click-to-call")
@control
def click_to_call() -> dict[str, Any]:
    body = _body()
    missing = [k for k in ("url", "srcNumber", "destNumber", "uid", "account") if body.get(k) in (None, "")]
    if missing:
        raise ValueError(f"missing fields: {', '.join(missing)}")
    return current_state().click_to_call(
        body["url"], str(body["srcNumber"]), str(body["destNumber"]), str(body["uid"]), str(body["account"]),
        variant=body.get("variant", "upper_key_first"), body_format=body.get("body_format", "json"),
        timeout=float(body.get("timeout", 10.0)))


@bp.get("/click-to-call")
@control
def click_log() -> dict[str, Any]:
    state = current_state()
    with state.lock:
        return {"clicks": list(state.click_log)}
