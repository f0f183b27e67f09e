"""Wires click-to-call into the plugin: the webhook route (on the ``ms`` blueprint, at import of
``views``), the ``ms.originate`` job kind and the service object views reach through ``state.extras``."""

from __future__ import annotations

from typing import Any

from ms_plugin.click_to_call import job
from ms_plugin.click_to_call.service import ClickToCallService
from ms_plugin.state import PluginState


def init(state: PluginState, app: Any) -> None:
    # Importing the views registers the route on the blueprint once per process; the app registers the
    # blueprint after every feature's init (ms_plugin/plugin.py).
    from ms_plugin.click_to_call import views  # noqa: F401

    state.extras["click_to_call"] = ClickToCallService(state)
    job.register(state)
