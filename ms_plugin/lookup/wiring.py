"""Wires the lookup feature into the plugin: ``state.lookup`` and the lookup routes on blueprint ``ms``."""

from __future__ import annotations

from typing import Any

from ms_plugin.lookup.service import ClientLookup


def init(state: Any, app: Any) -> None:
    # Importing the views registers their routes on ``ms_plugin.views.bp`` (once per process, before
    # the host registers the blueprint on the app).
    from ms_plugin.lookup import views  # noqa: F401

    state.lookup = ClientLookup(state)
