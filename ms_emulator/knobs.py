"""Behaviour switches of the emulator. Every undocumented MoySklad behaviour is a knob (see the reference
notes, tag [EMU]); defaults follow the documentation where it speaks and the brief where it does not."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

MB = 1024 * 1024

CHOICES: dict[str, tuple[str, ...]] = {
    "duplicate_external_id": ("reject", "allow"),
    "counterparty_match": ("exact_digits", "last10", "substring", "none"),
    "phone_search": ("substring", "digits"),
    "subresource_create_shape": ("object", "array"),
}


@dataclass
class Knobs:
    # --- transport ---
    # The Phone doc calls compression mandatory but one real client got through without it: relaxable.
    phone_require_gzip: bool = True
    # Error 1062 says only application/json;charset=utf-8 is accepted, yet clients sending */* or nothing
    # work in practice: off by default, 406/1062 for a non-JSON Accept when on.
    strict_accept: bool = False
    gzip_responses: bool = True
    phone_max_body_bytes: int = 10 * MB
    json_max_body_bytes: int = 20 * MB
    # --- Phone API semantics ---
    duplicate_external_id: str = "reject"
    counterparty_match: str = "exact_digits"
    derive_duration: bool = True
    strict_sequence: bool = False
    sequence_max: int = 2**63 - 1  # a Java long; int32 overflow acceptance is unknown
    # --- JSON API semantics ---
    phone_search: str = "substring"
    subresource_create_shape: str = "object"  # docs example: array; spec and recorded fixtures: object
    reject_unknown_fields: bool = False
    # --- rate limits (enforcement; observation statistics are always kept) ---
    phone_limits_enabled: bool = True
    phone_rate_limit: int = 100
    phone_rate_window_ms: int = 5000
    phone_parallel_per_key: int = 5
    phone_parallel_per_ip: int = 100
    json_limits_enabled: bool = True
    json_bucket_units: int = 45
    json_window_ms: int = 3000
    json_weight_basic: int = 4
    json_weight_token: int = 4
    json_parallel_per_user: int = 5
    json_parallel_per_account: int = 20
    rate_headers_on_success: bool = True
    # --- latency ---
    phone_latency_ms: float = 0.0
    phone_jitter_ms: float = 0.0
    json_latency_ms: float = 0.0
    json_jitter_ms: float = 0.0
    slow_mode_ms: float = 0.0  # added to every API request while > 0
    # --- request log ---
    request_log_max: int = 10000
    log_bodies: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Validate everything first, then apply: a bad knob leaves the others untouched."""
        types = {f.name: f.type for f in fields(self)}
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in types:
                raise ValueError(f"unknown knob {name!r}")
            checked[name] = _coerce(name, types[name], value)
        for name, value in checked.items():
            setattr(self, name, value)


def _coerce(name: str, type_name: Any, value: Any) -> Any:
    type_name = str(type_name)
    if type_name == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"knob {name} must be a boolean")
        return value
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"knob {name} must be a non-negative integer")
        return value
    if type_name == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"knob {name} must be a non-negative number")
        return float(value)
    if not isinstance(value, str) or (name in CHOICES and value not in CHOICES[name]):
        raise ValueError(f"knob {name} must be one of {CHOICES.get(name)}")
    return value
