"""Client lookup by phone number, the handset display name and the responsible manager.

``ClientLookup`` (``state.lookup``) is the one entry point: the call flow, Smart Redirect (through the
plugin's contract methods) and the internal routes all go through it, so they share one cache and one
rule chain.
"""

from __future__ import annotations

from ms_plugin.lookup.model import LookupResult, ResponsibleAnswer

__all__ = ["LookupResult", "ResponsibleAnswer"]
