"""The ``ms`` integration object the host loads (``ms_plugin:plugin``)."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from flask import Flask

from host_app.integrations.contract import CallEvent, Enterprise, HostServices, Responsible
from ms_plugin.config.schema import TenantConfig
from ms_plugin.employees import Directory
from ms_plugin.settings import load_ms_settings
from ms_plugin.state import PluginState
from ms_plugin.tenant import Tenants

log = logging.getLogger(__name__)

# Each feature wires itself (blueprint routes, job kinds, background loops) through ``init(state, app)``.
FEATURES = (
    "ms_plugin.calls.wiring",
    "ms_plugin.lookup.wiring",
    "ms_plugin.admin.wiring",
    "ms_plugin.click_to_call.wiring",
)


class MoySkladIntegration:
    code: ClassVar[str] = "ms"
    url_prefixes: ClassVar[tuple[str, ...]] = ("/ms/", "/ms-admin/", "/internal/ms/")
    can_lookup: ClassVar[bool] = True

    def __init__(self) -> None:
        self.state: PluginState | None = None

    def migrations_dir(self) -> Path | None:
        return Path(__file__).with_name("migrations")

    def init_app(self, app: Flask, services: HostServices) -> None:
        from ms_plugin.views import bp

        settings = load_ms_settings(services.environ)
        state = PluginState(services=services, settings=settings, client_settings=None,
                            tenants=Tenants(services, self._build_clients),
                            directory=Directory(services, settings.employee_ttl_s))
        self._init_clients(state)
        self.state = state
        app.extensions["ms_plugin"] = self
        services.config.subscribe(self._on_config_change)
        for name in FEATURES:
            if importlib.util.find_spec(name) is None:  # a feature still being written
                continue
            importlib.import_module(name).init(state, app)
        app.register_blueprint(bp)

    # -- clients -------------------------------------------------------------------------------------

    def _init_clients(self, state: PluginState) -> None:
        from ms_plugin.clients import build_clients

        state.clients, state.client_settings = build_clients(state.services)

    def _build_clients(self, enterprise: Enterprise, config: TenantConfig) -> tuple[Any, Any]:
        state = self.state
        if state is None or state.clients is None:
            return None, None
        return state.clients.for_tenant(enterprise, config)

    def _on_config_change(self, enterprise_number: str, code: str) -> None:
        if self.state is None or code not in ("ms", "*"):
            return
        self.state.tenants.invalidate(enterprise_number)
        self.state.directory.forget(enterprise_number)
        if self.state.clients is not None:
            self.state.clients.drop(enterprise_number)
        for hook in self.state.extras.get("config_hooks", ()):
            hook(enterprise_number)

    # -- the contract --------------------------------------------------------------------------------

    def is_active(self, section: Mapping[str, Any] | None) -> bool:
        return bool(section and section.get("enabled") is True)

    def handle_call_event(self, event: CallEvent) -> None:
        assert self.state is not None and self.state.flow is not None, "ms_plugin not initialised"
        self.state.flow.handle_event(event)

    def customer_name(self, enterprise_number: str, phone: str) -> str | None:
        if self.state is None or self.state.lookup is None:
            return None
        return self.state.lookup.customer_name_for(enterprise_number, phone)  # type: ignore[no-any-return]

    def responsible_extension(self, enterprise_number: str, phone: str) -> Responsible | None:
        if self.state is None or self.state.lookup is None:
            return None
        return self.state.lookup.responsible_for(enterprise_number, phone)  # type: ignore[no-any-return]

    def health(self) -> Mapping[str, Any]:
        return {"clients": self.state is not None and self.state.clients is not None}
