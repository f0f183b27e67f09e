"""Everything that talks to MoySklad: transport, limits, clients, typed errors and models.

One seam: the rest of ``ms_plugin`` builds clients through :class:`ClientFactory` and handles the
errors of :mod:`ms_plugin.moysklad.errors`. Nothing here imports ``host_app`` beyond its contract.
"""

from __future__ import annotations

from ms_plugin.moysklad.errors import (
    AuthFailed,
    FeatureUnavailable,
    Forbidden,
    LimiterBusy,
    MalformedResponse,
    MoySkladError,
    NotFound,
    RateLimited,
    Unavailable,
    ValidationFailed,
)

__all__ = [
    "AuthFailed", "FeatureUnavailable", "Forbidden", "LimiterBusy", "MalformedResponse", "MoySkladError",
    "NotFound", "RateLimited", "Unavailable", "ValidationFailed",
]
