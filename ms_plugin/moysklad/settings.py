"""Process settings (``MS_*`` environment keys) of the MoySklad clients, validated with marshmallow.

The host passes ``services.environ``; unknown keys (other ``MS_*`` settings of the plugin, ``PATH``...)
are ignored and an empty value means "use the default". Every key, its default and why:

==================================  =========================================  =======================================
key                                 default                                    meaning
==================================  =========================================  =======================================
MS_API_URL                          https://api.moysklad.ru/api/remap/1.2      JSON API base
MS_PHONE_API_URL                    https://api.moysklad.ru/api/phone/1.0      Phone API base
MS_ALLOWED_API_HOSTS                api.moysklad.ru                            hosts a tenant's own api_url may use
MS_HTTP_POOL_SIZE                   20                                         connections kept per worker session
MS_HTTP_MAX_REQUESTS                100                                        requests per session before a fresh one
MS_HTTP_MAX_AGE                     25                                         seconds before a fresh session
MS_CONNECT_TIMEOUT                  3.05                                       TCP/TLS connect timeout (s)
MS_HOT_READ_TIMEOUT                 5                                          read timeout of card events (s)
MS_HOT_MAX_ATTEMPTS                 2                                          card events: one quick retry at most
MS_HOT_BUDGET                       10                                         total seconds of a hot call
MS_HOT_MAX_WAIT                     1                                          max limiter wait of a hot call (s)
MS_BACKGROUND_READ_TIMEOUT          30                                         read timeout of everything else (s)
MS_BACKGROUND_MAX_ATTEMPTS          5                                          attempts of a background call
MS_BACKGROUND_BUDGET                120                                        total seconds of a background call
MS_BACKGROUND_MAX_WAIT              15                                         max limiter wait; then LimiterBusy
MS_BACKOFF_BASE                     0.5                                        first backoff (s), doubles, full jitter
MS_BACKOFF_MAX                      8                                          backoff cap (s)
MS_PHONE_RATE                       100                                        Phone API requests per window per key
MS_PHONE_RATE_WINDOW                5                                          its window (s)
MS_PHONE_RATE_MARGIN                0.05                                       fraction of MS_PHONE_RATE kept unused
MS_PHONE_PARALLEL                   5                                          Phone API in flight per key
MS_PHONE_DEPLOYMENT_PARALLEL        80                                         Phone API in flight per deployment
MS_JSON_UNITS                       45                                         JSON API units per window per user
MS_JSON_WINDOW                      3                                          its window (s)
MS_JSON_RATE_MARGIN                 0                                          fraction of MS_JSON_UNITS kept unused
MS_JSON_WEIGHT                      (MoySklad's schedule by date)              units one user request costs
MS_JSON_PARALLEL                    5                                          JSON API in flight per user
MS_CIRCUIT_THRESHOLD                5                                          consecutive outages opening the circuit
MS_CIRCUIT_BASE                     2                                          first open interval (s), doubles
MS_CIRCUIT_MAX                      60                                         longest open interval (s)
MS_LIMITER_POLL                     0.05                                       re-check interval while slots are full
MS_SLOT_TTL_MARGIN                  5                                          in-flight lease = timeouts + this (s)
==================================  =========================================  =======================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema

DEFAULT_API_URL = "https://api.moysklad.ru/api/remap/1.2"
DEFAULT_PHONE_API_URL = "https://api.moysklad.ru/api/phone/1.0"

# MoySklad's weighting of user-credential (login/password or user token) JSON API requests.
JSON_WEIGHT_SCHEDULE: tuple[tuple[dt.date, int], ...] = (
    (dt.date(2026, 12, 1), 4),
    (dt.date(2026, 9, 1), 3),
    (dt.date(2026, 5, 12), 2),
)
_MSK = ZoneInfo("Europe/Moscow")


def scheduled_json_weight(today: dt.date) -> int:
    """The weight MoySklad charges a user credential on ``today`` (a Moscow date)."""
    for since, weight in JSON_WEIGHT_SCHEDULE:
        if today >= since:
            return weight
    return 1


@dataclass(frozen=True)
class MsClientSettings:
    api_url: str = DEFAULT_API_URL
    phone_api_url: str = DEFAULT_PHONE_API_URL
    allowed_api_hosts: tuple[str, ...] = ("api.moysklad.ru",)
    http_pool_size: int = 20
    http_max_requests: int = 100
    http_max_age: float = 25.0
    connect_timeout: float = 3.05
    hot_read_timeout: float = 5.0
    hot_max_attempts: int = 2
    hot_budget: float = 10.0
    hot_max_wait: float = 1.0
    background_read_timeout: float = 30.0
    background_max_attempts: int = 5
    background_budget: float = 120.0
    background_max_wait: float = 15.0
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    phone_rate: int = 100
    phone_rate_window: float = 5.0
    phone_rate_margin: float = 0.05
    phone_parallel: int = 5
    phone_deployment_parallel: int = 80
    json_units: int = 45
    json_window: float = 3.0
    json_rate_margin: float = 0.0
    json_weight: int | None = None
    json_parallel: int = 5
    circuit_threshold: int = 5
    circuit_base: float = 2.0
    circuit_max: float = 60.0
    limiter_poll: float = 0.05
    slot_ttl_margin: float = 5.0

    @property
    def phone_capacity(self) -> int:
        """Requests per window we allow ourselves: MS_PHONE_RATE minus the safety margin (>= 1)."""
        return max(1, int(self.phone_rate * (1.0 - self.phone_rate_margin)))

    @property
    def json_capacity(self) -> int:
        return max(1, int(self.json_units * (1.0 - self.json_rate_margin)))

    def json_weight_on(self, when: float) -> int:
        """The weight of one user-credential JSON request at epoch ``when`` (the setting wins)."""
        if self.json_weight is not None:
            return self.json_weight
        return scheduled_json_weight(dt.datetime.fromtimestamp(when, _MSK).date())

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any]) -> MsClientSettings:
        """Load and validate; raises ``marshmallow.ValidationError`` naming the bad ``MS_*`` keys."""
        result: MsClientSettings = MsClientSettingsSchema().load(dict(environ))
        return result


def _f(key: str, default: float, *, lo: float = 0.0, hi: float | None = None, strict_lo: bool = False) -> Any:
    return fields.Float(data_key=key, load_default=default,
                        validate=validate.Range(min=lo, max=hi, min_inclusive=not strict_lo))


def _i(key: str, default: int, *, lo: int = 1, hi: int | None = None) -> Any:
    return fields.Integer(data_key=key, load_default=default, validate=validate.Range(min=lo, max=hi))


class MsClientSettingsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    api_url = fields.String(data_key="MS_API_URL", load_default=DEFAULT_API_URL)
    phone_api_url = fields.String(data_key="MS_PHONE_API_URL", load_default=DEFAULT_PHONE_API_URL)
    allowed_api_hosts = fields.String(data_key="MS_ALLOWED_API_HOSTS", load_default="api.moysklad.ru")
    http_pool_size = _i("MS_HTTP_POOL_SIZE", 20, hi=1000)
    http_max_requests = _i("MS_HTTP_MAX_REQUESTS", 100, hi=10_000)
    http_max_age = _f("MS_HTTP_MAX_AGE", 25.0, lo=0.0, strict_lo=True, hi=3600.0)
    connect_timeout = _f("MS_CONNECT_TIMEOUT", 3.05, strict_lo=True, hi=120.0)
    hot_read_timeout = _f("MS_HOT_READ_TIMEOUT", 5.0, strict_lo=True, hi=300.0)
    hot_max_attempts = _i("MS_HOT_MAX_ATTEMPTS", 2, hi=10)
    hot_budget = _f("MS_HOT_BUDGET", 10.0, strict_lo=True, hi=600.0)
    hot_max_wait = _f("MS_HOT_MAX_WAIT", 1.0, hi=600.0)
    background_read_timeout = _f("MS_BACKGROUND_READ_TIMEOUT", 30.0, strict_lo=True, hi=600.0)
    background_max_attempts = _i("MS_BACKGROUND_MAX_ATTEMPTS", 5, hi=20)
    background_budget = _f("MS_BACKGROUND_BUDGET", 120.0, strict_lo=True, hi=3600.0)
    background_max_wait = _f("MS_BACKGROUND_MAX_WAIT", 15.0, hi=3600.0)
    backoff_base = _f("MS_BACKOFF_BASE", 0.5, hi=60.0)
    backoff_max = _f("MS_BACKOFF_MAX", 8.0, hi=600.0)
    phone_rate = _i("MS_PHONE_RATE", 100, hi=100_000)
    phone_rate_window = _f("MS_PHONE_RATE_WINDOW", 5.0, strict_lo=True, hi=3600.0)
    phone_rate_margin = _f("MS_PHONE_RATE_MARGIN", 0.05, hi=0.9)
    phone_parallel = _i("MS_PHONE_PARALLEL", 5, hi=1000)
    phone_deployment_parallel = _i("MS_PHONE_DEPLOYMENT_PARALLEL", 80, hi=10_000)
    json_units = _i("MS_JSON_UNITS", 45, hi=100_000)
    json_window = _f("MS_JSON_WINDOW", 3.0, strict_lo=True, hi=3600.0)
    json_rate_margin = _f("MS_JSON_RATE_MARGIN", 0.0, hi=0.9)
    json_weight = fields.Integer(data_key="MS_JSON_WEIGHT", load_default=None, allow_none=True,
                                 validate=validate.Range(min=1, max=100))
    json_parallel = _i("MS_JSON_PARALLEL", 5, hi=1000)
    circuit_threshold = _i("MS_CIRCUIT_THRESHOLD", 5, hi=1000)
    circuit_base = _f("MS_CIRCUIT_BASE", 2.0, strict_lo=True, hi=3600.0)
    circuit_max = _f("MS_CIRCUIT_MAX", 60.0, strict_lo=True, hi=86_400.0)
    limiter_poll = _f("MS_LIMITER_POLL", 0.05, strict_lo=True, hi=10.0)
    slot_ttl_margin = _f("MS_SLOT_TTL_MARGIN", 5.0, hi=600.0)

    @pre_load
    def _drop_empty(self, data: Any, **_: Any) -> Any:
        # An exported-but-empty variable means "default", as in the host's own settings.
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items()
                    if isinstance(k, str) and k.startswith("MS_") and not (isinstance(v, str) and not v.strip())}
        return data

    @validates_schema
    def _check(self, data: Mapping[str, Any], **_: Any) -> None:
        for key, field in (("api_url", "MS_API_URL"), ("phone_api_url", "MS_PHONE_API_URL")):
            value = str(data.get(key, ""))
            if not value.startswith(("https://", "http://")):
                raise ValidationError("must be an http(s) URL", field)
        if not _hosts(str(data.get("allowed_api_hosts", ""))):
            raise ValidationError("must name at least one host", "MS_ALLOWED_API_HOSTS")
        if data.get("backoff_max", 8.0) < data.get("backoff_base", 0.5):
            raise ValidationError("must be >= MS_BACKOFF_BASE", "MS_BACKOFF_MAX")
        if data.get("circuit_max", 60.0) < data.get("circuit_base", 2.0):
            raise ValidationError("must be >= MS_CIRCUIT_BASE", "MS_CIRCUIT_MAX")
        weight = data.get("json_weight")
        if weight is not None and weight > data.get("json_units", 45):
            raise ValidationError("must not exceed MS_JSON_UNITS", "MS_JSON_WEIGHT")

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> MsClientSettings:
        data["api_url"] = data["api_url"].rstrip("/")
        data["phone_api_url"] = data["phone_api_url"].rstrip("/")
        data["allowed_api_hosts"] = _hosts(data["allowed_api_hosts"])
        return MsClientSettings(**data)


def _hosts(raw: str) -> tuple[str, ...]:
    return tuple(h.strip().lower().rstrip(".") for h in raw.split(",") if h.strip())
