"""Per-tenant clients, built from the tenant's ``ms`` section and cached per (enterprise, config_version).

A tenant may point its clients at its own ``api_url``/``phone_api_url`` only when the host is listed in
``MS_ALLOWED_API_HOSTS``: :func:`validate_api_url` is our SSRF guard (otherwise a tenant admin could make
the server send requests, with credentials, to any internal address).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from host_app.integrations.contract import Database
from ms_plugin.moysklad.limiter import LimitPolicy, Limiter, PgLimiter
from ms_plugin.moysklad.metrics import observe_metrics
from ms_plugin.moysklad.phone_api import PhoneApiClient
from ms_plugin.moysklad.records import Observer
from ms_plugin.moysklad.remap import RemapClient, json_auth
from ms_plugin.moysklad.settings import MsClientSettings
from ms_plugin.moysklad.timeouts import Timeouts
from ms_plugin.moysklad.transport import Transport

log = logging.getLogger(__name__)

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_api_url(url: str, allowed_hosts: Iterable[str]) -> str:
    """Return ``url`` normalised (no trailing slash) or raise ``ValueError`` saying why it is refused.

    Accepted: an ``https`` URL (``http`` only on a loopback host) whose host, port ignored, is one of
    ``allowed_hosts``; no credentials, query or fragment in it.
    """
    allowed = {h.strip().lower().rstrip(".") for h in allowed_hosts if h and h.strip()}
    if not isinstance(url, str) or not url.strip():
        raise ValueError("the API URL is empty")
    url = url.strip()
    if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in url):
        raise ValueError("the API URL contains whitespace, control characters or a backslash")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"the API URL is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise ValueError("the API URL must start with https://")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("the API URL must not contain credentials")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise ValueError("the API URL has no host")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValueError("the API URL must not have a query or fragment")
    if host not in allowed:
        raise ValueError(f"the API host {host!r} is not allowed (MS_ALLOWED_API_HOSTS: "
                         f"{', '.join(sorted(allowed)) or 'none'})")
    if scheme == "http" and not _is_loopback(host):
        raise ValueError("the API URL must use https (plain http only on a loopback address)")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class TenantCredentials:
    """What the clients need from a tenant's ``ms`` section (secrets hidden from ``repr``)."""

    enterprise_number: str
    config_version: int
    integration_code: str | None = field(default=None, repr=False)
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    api_token: str | None = field(default=None, repr=False)
    api_url: str | None = None
    phone_api_url: str | None = None

    @classmethod
    def from_section(cls, enterprise_number: str, config_version: int,
                     section: Mapping[str, Any] | None) -> TenantCredentials:
        s = section or {}

        def text(key: str) -> str | None:
            value = s.get(key)
            return str(value).strip() or None if value is not None else None

        return cls(enterprise_number, config_version, text("integration_code"), text("login"), text("password"),
                   text("api_token"), text("api_url"), text("phone_api_url"))


@dataclass(frozen=True)
class TenantClients:
    phone: PhoneApiClient | None  # None without an integration_code
    remap: RemapClient | None  # None without JSON API credentials (lookups, clients, orders skipped)


class ClientFactory:
    def __init__(self, transport: Transport, limiter: Limiter, observer: Observer | None,
                 settings: MsClientSettings, **client_kw: Any) -> None:
        """``client_kw`` (``sleep``, ``clock``, ``rng``) is passed to every client (tests)."""
        self.transport = transport
        self.limiter = limiter
        self.observer = observer
        self.settings = settings
        self.timeouts = Timeouts.from_settings(settings)
        self.policy = LimitPolicy(settings)
        self._client_kw = client_kw
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int], TenantClients] = {}

    @classmethod
    def from_environ(cls, db: Database, environ: Mapping[str, Any], observer: Observer | None = observe_metrics,
                     **client_kw: Any) -> ClientFactory:
        """The usual wiring in a worker: settings from ``services.environ`` (``marshmallow.ValidationError``
        names bad ``MS_*`` keys), one lazy transport, the PostgreSQL limiter on ``services.db``."""
        settings = MsClientSettings.from_environ(environ)
        return cls(Transport.from_settings(settings), PgLimiter.from_settings(db, settings), observer, settings,
                   **client_kw)

    def base_urls(self, creds: TenantCredentials) -> tuple[str, str]:
        """(JSON API base, Phone API base) of the tenant; raises ``ValueError`` for a refused override."""
        hosts = self.settings.allowed_api_hosts
        api = validate_api_url(creds.api_url, hosts) if creds.api_url else self.settings.api_url
        phone = validate_api_url(creds.phone_api_url, hosts) if creds.phone_api_url else self.settings.phone_api_url
        return api, phone

    def clients(self, creds: TenantCredentials) -> TenantClients:
        """The tenant's clients for this config version (built once, then cached). Raises ``ValueError``
        when the tenant's own ``api_url``/``phone_api_url`` is refused (see :func:`validate_api_url`)."""
        key = (creds.enterprise_number, creds.config_version)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        built = self._build(creds)
        with self._lock:
            for old in [k for k in self._cache if k[0] == creds.enterprise_number and k != key]:
                del self._cache[old]  # an older config version of this tenant
            return self._cache.setdefault(key, built)

    def phone(self, creds: TenantCredentials) -> PhoneApiClient | None:
        return self.clients(creds).phone

    def remap(self, creds: TenantCredentials) -> RemapClient | None:
        return self.clients(creds).remap

    def drop(self, enterprise_number: str) -> None:
        """Forget the tenant's clients (its config changed)."""
        with self._lock:
            for key in [k for k in self._cache if k[0] == enterprise_number]:
                del self._cache[key]

    def build(self, creds: TenantCredentials) -> TenantClients:
        """Fresh clients, not cached (the admin's connection test of unsaved credentials)."""
        return self._build(creds)

    def _build(self, creds: TenantCredentials) -> TenantClients:
        api_url, phone_url = self.base_urls(creds)
        phone = None
        if creds.integration_code:
            phone = PhoneApiClient(self.transport, creds.integration_code, self.limiter, base_url=phone_url,
                                   observer=self.observer, timeouts=self.timeouts, json_base_url=api_url,
                                   policy=self.policy, **self._client_kw)
        auth = json_auth(creds.login, creds.password, creds.api_token)
        remap = None
        if auth is not None:
            remap = RemapClient(self.transport, auth, self.limiter, base_url=api_url, observer=self.observer,
                                timeouts=self.timeouts, policy=self.policy, **self._client_kw)
        return TenantClients(phone, remap)
