"""The ``ms`` integration object the host loads (``ms_plugin:plugin``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from flask import Flask

from host_app.integrations.contract import CallEvent, HostServices, Responsible

log = logging.getLogger(__name__)


class MoySkladIntegration:
    code: ClassVar[str] = "ms"
    url_prefixes: ClassVar[tuple[str, ...]] = ("/ms/", "/ms-admin/", "/internal/ms/")
    can_lookup: ClassVar[bool] = True

    def __init__(self) -> None:
        self.services: HostServices | None = None

    def migrations_dir(self) -> Path | None:
        return Path(__file__).with_name("migrations")

    def init_app(self, app: Flask, services: HostServices) -> None:
        from ms_plugin.views import bp

        self.services = services
        app.extensions["ms_plugin"] = self
        app.register_blueprint(bp)

    def is_active(self, section: Mapping[str, Any] | None) -> bool:
        return bool(section and section.get("enabled") is True)

    def handle_call_event(self, event: CallEvent) -> None:
        log.debug("ms: event %s %s %s", event.enterprise_number, event.unique_id, event.event_type)

    def customer_name(self, enterprise_number: str, phone: str) -> str | None:
        return None

    def responsible_extension(self, enterprise_number: str, phone: str) -> Responsible | None:
        return None

    def health(self) -> Mapping[str, Any]:
        return {}
