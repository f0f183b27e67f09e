"""The emulator tests' fixtures live in fixtures.py (so they can also be loaded as a plugin)."""
from __future__ import annotations

from .fixtures import account, control, emu, http, ms, phone, server, state  # noqa: F401
