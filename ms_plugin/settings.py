"""The plugin's own process settings (``MS_*``), validated when the plugin starts.

The MoySklad client's settings (timeouts, limits, allowed hosts) live in ``moysklad/settings.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate



@dataclass(frozen=True)
class MsSettings:
    stale_card_minutes: float  # cards of calls with no hangup after this long are hidden
    hot_lookup_ms: int  # how long the first card waits for the client lookup (contract §6: 300 ms)
    pending_grace_s: float  # a live hangup seen without its dial becomes a call after this long
    employee_ttl_s: float  # employees are re-read from MoySklad when older than this
    lookup_ttl_hit_s: float  # a found client is cached this long
    lookup_ttl_miss_s: float  # "no such client" is cached this long
    sweep_interval_s: float  # how often the stale-card sweeper runs
    test_call_hide_s: float  # the admin's test call card hides after this long
    test_call_number: str  # the fixed number of the admin's test calls


class MsSettingsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    MS_STALE_CARD_MINUTES = fields.Float(load_default=30.0, validate=validate.Range(min=0.1, max=24 * 60))
    MS_HOT_LOOKUP_MS = fields.Integer(load_default=300, validate=validate.Range(min=0, max=5000))
    MS_PENDING_GRACE_S = fields.Float(load_default=20.0, validate=validate.Range(min=0, max=3600))
    MS_EMPLOYEE_TTL_S = fields.Float(load_default=600.0, validate=validate.Range(min=0, max=86400))
    MS_LOOKUP_TTL_HIT_S = fields.Float(load_default=300.0, validate=validate.Range(min=0, max=86400))
    MS_LOOKUP_TTL_MISS_S = fields.Float(load_default=60.0, validate=validate.Range(min=0, max=86400))
    MS_SWEEP_INTERVAL_S = fields.Float(load_default=60.0, validate=validate.Range(min=1, max=3600))
    MS_TEST_CALL_HIDE_S = fields.Float(load_default=5.0, validate=validate.Range(min=0, max=300))
    MS_TEST_CALL_NUMBER = fields.String(load_default="+375000000000", validate=validate.Regexp(r"^\+\d{6,15}$"))


def load_ms_settings(environ: Mapping[str, Any]) -> MsSettings:
    try:
        data = MsSettingsSchema().load({k: v for k, v in environ.items() if str(k).startswith("MS_")})
    except ValidationError as err:
        # Like the host's settings: a bad value stops the boot with every problem listed.
        raise RuntimeError(f"invalid MS_* settings: {err.messages_dict}") from None
    return MsSettings(
        stale_card_minutes=data["MS_STALE_CARD_MINUTES"], hot_lookup_ms=data["MS_HOT_LOOKUP_MS"],
        pending_grace_s=data["MS_PENDING_GRACE_S"], employee_ttl_s=data["MS_EMPLOYEE_TTL_S"],
        lookup_ttl_hit_s=data["MS_LOOKUP_TTL_HIT_S"], lookup_ttl_miss_s=data["MS_LOOKUP_TTL_MISS_S"],
        sweep_interval_s=data["MS_SWEEP_INTERVAL_S"], test_call_hide_s=data["MS_TEST_CALL_HIDE_S"],
        test_call_number=data["MS_TEST_CALL_NUMBER"],
    )
