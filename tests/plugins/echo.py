"""A second, tiny plugin: proves the host loads and dispatches to any plugin, not just ``ms``.

Its section ``integrations_config.echo`` = ``{"enabled": true, "mode": "ok"|"raise"|"hang", "name": …}``.
It records what it received (in memory of the test process) and answers lookups from its section.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from flask import Blueprint, Flask, jsonify

from host_app.integrations.contract import CallEvent, HostServices, Responsible


class EchoIntegration:
    code: ClassVar[str] = "echo"
    url_prefixes: ClassVar[tuple[str, ...]] = ("/echo/",)
    can_lookup: ClassVar[bool] = True

    def __init__(self) -> None:
        self.services: HostServices | None = None
        self.received: list[CallEvent] = []
        self.release = threading.Event()

    def migrations_dir(self) -> Path | None:
        return None

    def init_app(self, app: Flask, services: HostServices) -> None:
        self.services = services
        bp = Blueprint("echo", __name__)

        @bp.get("/echo/ping")
        def ping() -> Any:
            return jsonify({"pong": True})

        app.register_blueprint(bp)

    def is_active(self, section: Mapping[str, Any] | None) -> bool:
        return bool(section and section.get("enabled") is True)

    def _section(self, ent: str) -> Mapping[str, Any]:
        assert self.services is not None
        return self.services.config.get_section(ent, self.code) or {}

    def handle_call_event(self, event: CallEvent) -> None:
        mode = self._section(event.enterprise_number).get("mode", "ok")
        if mode == "raise":
            raise RuntimeError("echo plugin told to fail")
        if mode == "hang":
            self.release.wait(timeout=30)
        self.received.append(event)

    def customer_name(self, enterprise_number: str, phone: str) -> str | None:
        section = self._section(enterprise_number)
        if section.get("mode") == "hang":
            time.sleep(float(section.get("delay", 5)))
        return section.get("name")

    def responsible_extension(self, enterprise_number: str, phone: str) -> Responsible | None:
        ext = self._section(enterprise_number).get("extension")
        return Responsible(ext, None, "echo") if ext else None

    def health(self) -> Mapping[str, Any]:
        return {"received": len(self.received)}


plugin = EchoIntegration()
