"""A MoySklad emulator: Phone API 1.0 and the JSON API 1.2 subset a telephony integration uses, with
MoySklad's transport rules, rate limits, fault injection and an inspection API (`/_emulator/`).

Written from the reference documents, not from our client, so that it catches the client's mistakes.

The public names are imported lazily: `python -m ms_emulator` must be able to monkey-patch with gevent
before flask, requests or ssl are imported.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_emulator
    from .knobs import Knobs
    from .server import EmulatorServer
    from .signing import VARIANTS as SIGNATURE_VARIANTS
    from .signing import sign
    from .state import EmulatorState

_EXPORTS = {
    "create_emulator": ("app", "create_emulator"),
    "EmulatorServer": ("server", "EmulatorServer"),
    "EmulatorState": ("state", "EmulatorState"),
    "Knobs": ("knobs", "Knobs"),
    "sign": ("signing", "sign"),
    "SIGNATURE_VARIANTS": ("signing", "VARIANTS"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ms_emulator' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    return getattr(importlib.import_module(f".{module}", __name__), attr)
