"""MoySklad integration for the integrations host. The host loads ``ms_plugin:plugin``."""

from __future__ import annotations

from ms_plugin.plugin import MoySkladIntegration

plugin = MoySkladIntegration()

__all__ = ["plugin", "MoySkladIntegration"]
