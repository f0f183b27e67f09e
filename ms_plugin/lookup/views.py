"""Internal lookup routes (loopback or ``X-Internal-Token``) and the seed's POST twins.

``GET /internal/ms/customer-by-phone`` and ``POST /ms/customer-by-phone`` answer the same body, as do
``GET /internal/ms/responsible-extension`` and ``POST /ms/responsible-extension``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, request

from host_app.integrations.contract import ApiError, read_json_object
from ms_plugin.lookup.matching import display_name
from ms_plugin.lookup.schemas import load_phone_query
from ms_plugin.lookup.service import REQUEST_BUDGET_S, ClientLookup
from ms_plugin.moysklad.models import ContactPerson, Counterparty
from ms_plugin.state import PluginState, plugin_state
from ms_plugin.tenant import Tenant
from ms_plugin.views import bp

_NOT_FOUND: dict[str, Any] = {"found": False, "customer": None, "display_name": None}


def _context(data: Mapping[str, Any]) -> tuple[PluginState, ClientLookup, Tenant, str]:
    state = plugin_state()
    state.services.auth.require_internal()
    ent, phone = load_phone_query(data)
    lookup: ClientLookup | None = state.lookup
    if lookup is None:
        raise ApiError("the lookup service is not initialised", code="unavailable", status=503)
    tenant = state.tenants.get(ent)
    if tenant is None:
        raise ApiError(f"enterprise {ent} not found", code="not_found", status=404)
    if not tenant.config.enabled or not tenant.enterprise.active:
        raise ApiError(f"the MoySklad integration is disabled for enterprise {ent}", code="integration_disabled",
                       status=409)
    return state, lookup, tenant, phone


def _query_args() -> dict[str, Any]:
    return request.args.to_dict()


def _body() -> dict[str, Any]:
    # Internal callers check the auth first: a stranger's malformed body still gets its 403.
    plugin_state().services.auth.require_internal()
    return read_json_object()


# -------------------------------------------------------------------------------- customer by phone


def _manager(state: PluginState, tenant: Tenant, cp: Counterparty) -> dict[str, Any] | None:
    if not cp.owner_id:
        return None
    name = cp.owner_name
    if name is None:
        employee = state.directory.get(tenant, names=True).by_id.get(cp.owner_id)
        name = employee.display_name if employee is not None else None
    return {"id": cp.owner_id, "name": name}


def _person(person: ContactPerson | None) -> dict[str, Any] | None:
    if person is None:
        return None
    return {"id": person.id, "name": person.name, "phone": person.phone, "email": person.email}


def _customer(state: PluginState, tenant: Tenant, cp: Counterparty, contact: ContactPerson | None) -> dict[str, Any]:
    return {"id": cp.id, "name": cp.name, "phone": cp.phone, "email": cp.email, "tags": list(cp.tags),
            "manager": _manager(state, tenant, cp), "archived": cp.archived, "contact": _person(contact)}


def customer_by_phone(data: Mapping[str, Any]) -> dict[str, Any]:
    state, lookup, tenant, raw = _context(data)
    phone = lookup.phone_of(tenant, raw)
    if phone is None:
        return {**_NOT_FOUND, "reason": "not_a_phone_number"}
    result = lookup.find(tenant, phone, budget=REQUEST_BUDGET_S)
    if result.status == "unavailable":
        raise ApiError("MoySklad did not answer the client search", code="moysklad_unavailable", status=503,
                       details={"error": result.error})
    if result.status == "skipped":
        return {**_NOT_FOUND, "reason": result.error}
    if result.status == "ambiguous":
        return {**_NOT_FOUND, "ambiguous": True,
                "candidates": [_customer(state, tenant, c, None) for c in result.candidates]}
    if not result.found or result.counterparty is None:
        return dict(_NOT_FOUND)
    return {"found": True, "customer": _customer(state, tenant, result.counterparty, result.contact),
            "display_name": display_name(result.counterparty, result.contact)}


@bp.get("/internal/ms/customer-by-phone")
def internal_customer_by_phone() -> Response:
    return jsonify(customer_by_phone(_query_args()))


@bp.post("/ms/customer-by-phone")
def seed_customer_by_phone() -> Response:
    return jsonify(customer_by_phone(_body()))


# ----------------------------------------------------------------------------- responsible extension


def responsible_extension(data: Mapping[str, Any]) -> dict[str, Any]:
    _state, lookup, tenant, raw = _context(data)
    phone = lookup.phone_of(tenant, raw)
    if phone is None:
        return {"extension": None, "manager_id": None, "rule": "none"}
    answer = lookup.chain.routing(tenant, phone, budget=REQUEST_BUDGET_S)
    if answer is None:  # still computing: the next request gets it from the cache
        return {"extension": None, "manager_id": None, "rule": "timeout"}
    return {"extension": answer.extension, "manager_id": answer.employee_id, "rule": answer.rule}


@bp.get("/internal/ms/responsible-extension")
def internal_responsible_extension() -> Response:
    return jsonify(responsible_extension(_query_args()))


@bp.post("/ms/responsible-extension")
def seed_responsible_extension() -> Response:
    return jsonify(responsible_extension(_body()))
