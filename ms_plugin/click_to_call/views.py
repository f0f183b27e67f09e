"""``POST /ms/webhook/<key>``: MoySklad's click-to-call request. Thin: find the tenant (404), read the
body (415/400/413), hand it to the service, answer with JSON. The service decides everything else."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from host_app.integrations.contract import ApiError, read_json_object
from ms_plugin.click_to_call.service import ClickToCallService
from ms_plugin.click_to_call.signature import HEADER
from ms_plugin.state import plugin_state
from ms_plugin.tenant import Tenant
from ms_plugin.views import bp


def _service() -> ClickToCallService:
    return plugin_state().extras["click_to_call"]  # type: ignore[no-any-return]


def _read_body(service: ClickToCallService, tenant: Tenant) -> tuple[bytes, dict[str, Any]]:
    """The raw bytes (read and cached before the form parser runs: the ``raw_body`` signature variant
    covers the body exactly as sent) and the parsed JSON or form fields."""
    try:
        raw_body = request.get_data(cache=True)
        return raw_body, read_json_object(allow_form=True)
    except ApiError as exc:  # 415 / 400 bad_json / 422 not an object: the admin sees why in the journal
        service.refused(tenant, exc.status, exc.message)
        raise
    except RequestEntityTooLarge:  # a chunked body (the host refuses a declared length before any view)
        service.refused(tenant, 413, "the request body is larger than 1 MiB")
        raise


@bp.post("/ms/webhook/<key>")
def click_to_call_webhook(key: str) -> ResponseReturnValue:
    service = _service()
    tenant = service.tenant_for(key)  # 404 first: the table's rows apply top to bottom
    raw_body, payload = _read_body(service, tenant)
    result = service.click(tenant, payload, raw_body=raw_body, signature=request.headers.get(HEADER))
    return jsonify({"status": result.status}), 200
