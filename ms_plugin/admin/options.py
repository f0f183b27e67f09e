"""``GET /ms-admin/options/<ent>``: what the account offers for the settings form (order states, sales
channels, organizations), from the JSON API, cached briefly in the shared cache (every worker sees it).

The key carries the config version, so new credentials never show the old account's lists.
"""

from __future__ import annotations

import logging
from typing import Any

from host_app.integrations.contract import ApiError
from ms_plugin.admin.probe import describe_error
from ms_plugin.moysklad.context import bind_request_context
from ms_plugin.state import PluginState

log = logging.getLogger(__name__)

TTL_S = 60.0


class OptionsService:
    def __init__(self, state: PluginState) -> None:
        self.state = state
        self.services = state.services

    def options(self, ent: str, *, refresh: bool = False) -> dict[str, Any]:
        tenant = self.state.tenants.get(ent)
        if tenant is None:
            raise ApiError(f"enterprise {ent} not found", code="not_found", status=404)
        key = f"ms:admin:options:{ent}:{tenant.version}"
        if not refresh:
            cached = self.services.cache.get(key)
            if isinstance(cached, dict):
                return cached
        remap = tenant.json_api
        if remap is None:
            return {"order_states": [], "sales_channels": [], "organizations": [], "json_api_ok": False,
                    "error": "Логин и пароль (или токен) основного API не заданы: списки недоступны."}
        try:
            with bind_request_context(ent):
                states = remap.customer_order_states()
                channels = remap.list_sales_channels()
                orgs = remap.list_organizations()
        except Exception as exc:  # shown to the admin in words; the form still works with typed values
            log.info("options for %s failed: %r", ent, exc)
            return {"order_states": [], "sales_channels": [], "organizations": [], "json_api_ok": False,
                    "error": describe_error(exc, "json")["message"]}
        body = {
            "order_states": [{"id": s.id, "name": s.name, "state_type": s.state_type} for s in states],
            "sales_channels": [{"id": c.id, "name": c.name, "type": c.type} for c in channels if not c.archived],
            "organizations": [{"id": o.id, "name": o.name} for o in orgs if not o.archived],
            "json_api_ok": True,
            "error": None,
        }
        self.services.cache.set(key, body, TTL_S)
        return body
