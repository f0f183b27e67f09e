"""Process settings: read from the environment, validated at boot, frozen.

Every error is listed at once and the process refuses to start (``SettingsError``): a host that boots with
a typo in ``DATABASE_URL`` or ``HOST_INTEGRATIONS`` would silently lose calls.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate, validates, validates_schema

DEFAULT_BIND = "127.0.0.1:8023"


class SettingsError(RuntimeError):
    """Bad process settings; the message lists every problem."""

    def __init__(self, errors: Mapping[str, Any]) -> None:
        self.errors = dict(errors)
        lines = [f"  {key}: {'; '.join(_flatten(msg))}" for key, msg in sorted(self.errors.items())]
        super().__init__("invalid settings, the host will not start:\n" + "\n".join(lines))


def _flatten(msg: Any) -> list[str]:
    if isinstance(msg, str):
        return [msg]
    if isinstance(msg, Mapping):
        return [f"{k}: {m}" for k, v in msg.items() for m in _flatten(v)]
    return [m for item in msg for m in _flatten(item)]


def is_loopback_host(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HostSettings:
    database_url: str
    bind: str
    admin_token: str
    secret_key: str
    internal_token: str | None
    integrations: tuple[str, ...]
    journal_retention_days: int
    public_base_url: str
    var_dir: Path
    db_pool_size: int
    db_pool_reserved: int  # connections background work never takes (kept for requests)
    db_pool_timeout: float
    db_connect_timeout: int
    job_pool_size: int
    job_poll_interval: float
    job_tenant_parallel: int
    background: bool  # start the job runner, sweepers and the config listener in this process
    auto_migrate: bool
    lookup_budget_ms: int
    testing: bool

    @property
    def public_is_https(self) -> bool:
        return self.public_base_url.startswith("https://")


class _CsvField(fields.Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[str, ...]:
        if isinstance(value, (list, tuple)):
            items = [str(v).strip() for v in value]
        elif isinstance(value, str):
            items = [v.strip() for v in value.split(",")]
        else:
            raise ValidationError("must be a comma-separated string")
        return tuple(v for v in items if v)


class HostSettingsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    DATABASE_URL = fields.String(required=True, validate=validate.Regexp(
        r"^postgres(ql)?://", error="must be a postgresql:// URL"))
    HOST_BIND = fields.String(load_default=DEFAULT_BIND, validate=validate.Regexp(
        r"^[^\s:]+:\d{1,5}$", error="must be host:port"))
    HOST_ADMIN_TOKEN = fields.String(load_default=None, allow_none=True,
                                     validate=validate.Length(min=16, error="at least 16 characters"))
    HOST_SECRET_KEY = fields.String(load_default=None, allow_none=True,
                                    validate=validate.Length(min=16, error="at least 16 characters"))
    HOST_INTERNAL_TOKEN = fields.String(load_default=None, allow_none=True,
                                        validate=validate.Length(min=16, error="at least 16 characters"))
    HOST_INTEGRATIONS = _CsvField(load_default=("ms_plugin:plugin",))
    HOST_JOURNAL_RETENTION_DAYS = fields.Integer(load_default=90, validate=validate.Range(min=1, max=3650))
    PUBLIC_BASE_URL = fields.String(load_default=None, allow_none=True)
    HOST_VAR_DIR = fields.String(load_default="var")
    HOST_DB_POOL_SIZE = fields.Integer(load_default=10, validate=validate.Range(min=1, max=200))
    # Unset: 3, but never more than half the pool (a pool of 4 keeps 2 for requests, 2 for jobs).
    HOST_DB_POOL_RESERVED = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0))
    HOST_DB_POOL_TIMEOUT = fields.Float(load_default=5.0, validate=validate.Range(min=0.01, max=120))
    HOST_DB_CONNECT_TIMEOUT = fields.Integer(load_default=3, validate=validate.Range(min=1, max=60))
    HOST_JOB_POOL_SIZE = fields.Integer(load_default=32, validate=validate.Range(min=1, max=1000))
    HOST_JOB_POLL_INTERVAL = fields.Float(load_default=0.5, validate=validate.Range(min=0.01, max=60))
    HOST_JOB_TENANT_PARALLEL = fields.Integer(load_default=4, validate=validate.Range(min=1, max=100))
    HOST_BACKGROUND = fields.Boolean(load_default=True)
    HOST_AUTO_MIGRATE = fields.Boolean(load_default=True)
    HOST_LOOKUP_BUDGET_MS = fields.Integer(load_default=1500, validate=validate.Range(min=50, max=10000))
    TESTING = fields.Boolean(load_default=False)

    # Field validators and a schema check that runs even when fields failed, so that one boot lists
    # every problem (marshmallow skips schema validators after field errors unless told otherwise).
    @validates("HOST_INTEGRATIONS")
    def _check_integrations(self, value: tuple[str, ...], **_: Any) -> None:
        bad = [spec for spec in value if not all(spec.partition(":")[::2])]
        if bad:
            raise ValidationError(f"not module:attr: {', '.join(repr(b) for b in bad)}")

    @validates("PUBLIC_BASE_URL")
    def _check_public_url(self, value: str | None, **_: Any) -> None:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValidationError("must be an http(s) URL")

    @validates_schema(skip_on_field_errors=False)
    def _check_pool_reserve(self, data: dict[str, Any], **_: Any) -> None:
        size, reserved = data.get("HOST_DB_POOL_SIZE"), data.get("HOST_DB_POOL_RESERVED")
        if isinstance(size, int) and isinstance(reserved, int) and reserved >= size:
            raise ValidationError(
                f"must be fewer than HOST_DB_POOL_SIZE ({size}): background jobs need a connection too",
                "HOST_DB_POOL_RESERVED")

    @validates_schema(skip_on_field_errors=False)
    def _check_internal_token(self, data: dict[str, Any], **_: Any) -> None:
        url = data.get("PUBLIC_BASE_URL")
        host = urlsplit(url).hostname if url else None
        if host and not is_loopback_host(host) and not data.get("HOST_INTERNAL_TOKEN"):
            raise ValidationError(
                "HOST_INTERNAL_TOKEN is required when PUBLIC_BASE_URL is not a loopback address",
                "HOST_INTERNAL_TOKEN")

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return data


def default_pool_reserve(size: int) -> int:
    return min(3, size // 2)


def _read_or_create_secret(path: Path, nbytes: int = 32) -> str:
    """Read ``path``, creating it once (exclusive create, mode 0600) when missing.

    ``ms.sh start`` creates these files before gunicorn starts; this is the same logic for tests and for
    deployments that run gunicorn directly. O_EXCL makes two workers racing here agree on one value.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
        if value:
            return value
        raise SettingsError({str(path): "exists but is empty; delete it to mint a new value"}) from None
    value = secrets.token_urlsafe(nbytes)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def load_settings(environ: Mapping[str, Any] | None = None) -> HostSettings:
    env = dict(os.environ if environ is None else environ)
    try:
        data = HostSettingsSchema().load(env)
    except ValidationError as err:
        raise SettingsError(err.messages_dict) from None
    var_dir = Path(data["HOST_VAR_DIR"]).resolve()
    admin_token = data["HOST_ADMIN_TOKEN"] or _read_or_create_secret(var_dir / "admin-token")
    secret_key = data["HOST_SECRET_KEY"] or _read_or_create_secret(var_dir / "secret-key")
    bind = data["HOST_BIND"]
    public = (data["PUBLIC_BASE_URL"] or f"http://{bind}").rstrip("/")
    return HostSettings(
        database_url=data["DATABASE_URL"],
        bind=bind,
        admin_token=admin_token,
        secret_key=secret_key,
        internal_token=data["HOST_INTERNAL_TOKEN"],
        integrations=tuple(data["HOST_INTEGRATIONS"]),
        journal_retention_days=data["HOST_JOURNAL_RETENTION_DAYS"],
        public_base_url=public,
        var_dir=var_dir,
        db_pool_size=data["HOST_DB_POOL_SIZE"],
        db_pool_reserved=default_pool_reserve(data["HOST_DB_POOL_SIZE"])
        if data["HOST_DB_POOL_RESERVED"] is None else data["HOST_DB_POOL_RESERVED"],
        db_pool_timeout=data["HOST_DB_POOL_TIMEOUT"],
        db_connect_timeout=data["HOST_DB_CONNECT_TIMEOUT"],
        job_pool_size=data["HOST_JOB_POOL_SIZE"],
        job_poll_interval=data["HOST_JOB_POLL_INTERVAL"],
        job_tenant_parallel=data["HOST_JOB_TENANT_PARALLEL"],
        background=data["HOST_BACKGROUND"],
        auto_migrate=data["HOST_AUTO_MIGRATE"],
        lookup_budget_ms=data["HOST_LOOKUP_BUDGET_MS"],
        testing=data["TESTING"],
    )
