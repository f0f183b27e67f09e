"""What the plugin holds in one worker (``app.extensions["ms_plugin"].state``).

Views reach it through ``plugin_state()``; background greenlets get it passed explicitly (they have no
app context).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from host_app.integrations.contract import HostServices
from ms_plugin.employees import Directory
from ms_plugin.settings import MsSettings
from ms_plugin.tenant import Tenants


@dataclass
class PluginState:
    services: HostServices
    settings: MsSettings
    client_settings: Any  # ms_plugin.moysklad.settings.MsClientSettings
    tenants: Tenants
    directory: Directory
    clients: Any = None  # ms_plugin.moysklad.factory.ClientFactory
    lookup: Any = None  # ms_plugin.lookup.service.ClientLookup
    flow: Any = None  # ms_plugin.calls.flow.CallFlow
    extras: dict[str, Any] = field(default_factory=dict)


def plugin_state() -> PluginState:
    return current_app.extensions["ms_plugin"].state  # type: ignore[no-any-return]
