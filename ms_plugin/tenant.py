"""One enterprise as the plugin sees it: its config, its MoySklad clients, what MoySklad refused.

Built per ``(enterprise, config_version)`` and kept per worker for a few seconds (every call event needs
it; a config change, from any worker, drops it at once through the host's NOTIFY). A credential MoySklad
refused (401) stays refused until *that credential* changes: the tenant's call jobs then wait
(``WaitForConfig``) instead of hammering MoySklad with a bad key, which is what gets an account's API
access switched off. Marks are keyed by a hash of the credential, not by the config version, so an
unrelated save (the webhook URL minted on the first visit of the admin page) does not lift them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from host_app.integrations.contract import Enterprise, HostServices, JournalEntry, WaitForConfig
from ms_plugin.config.schema import TenantConfig, read_config

log = logging.getLogger(__name__)

CODE = "ms"
LOCAL_TTL = 5.0  # seconds a worker reuses its tenant (marks set by another worker show up within it)


def credential_hash(*parts: str | None) -> str:
    return hashlib.sha256("\x00".join(p or "" for p in parts).encode("utf-8")).hexdigest()[:24]


def phone_credential(config: TenantConfig) -> str:
    return credential_hash(config.integration_code)


def json_credential(config: TenantConfig) -> str:
    return credential_hash(config.api_token, config.login, config.password)


@dataclass(frozen=True)
class Refusals:
    phone: bool  # the Phone API key in the config is the one MoySklad refused
    json: bool  # the JSON API credentials in the config are the ones MoySklad refused
    since: Any = None
    last_error: str | None = None


def refusals(marks: Mapping[str, Any] | None, config: TenantConfig) -> Refusals:
    marks = marks or {}
    phone = bool(marks.get("marked_credential")) and marks.get("marked_credential") == phone_credential(config)
    json = bool(marks.get("json_invalid_credential")) and marks.get("json_invalid_credential") == json_credential(config)
    return Refusals(phone, json, marks.get("since"), marks.get("last_error"))


@dataclass(frozen=True)
class Tenant:
    enterprise: Enterprise
    config: TenantConfig
    phone: Any  # PhoneApiClient | None (None without integration_code)
    remap: Any  # RemapClient | None (None without JSON API credentials)
    refused: Refusals = Refusals(False, False)

    @property
    def number(self) -> str:
        return self.enterprise.number

    @property
    def region(self) -> str:
        return self.config.region(self.enterprise.default_region)

    @property
    def version(self) -> int:
        return self.enterprise.config_version

    @property
    def json_invalid(self) -> bool:
        return self.refused.json

    @property
    def json_api(self) -> Any:
        """The JSON API client when it may be used (configured and not refused)."""
        return None if self.refused.json else self.remap


ClientBuilder = Callable[[Enterprise, TenantConfig], tuple[Any, Any]]


class Tenants:
    def __init__(self, services: HostServices, build_clients: ClientBuilder) -> None:
        self._services = services
        self._build_clients = build_clients
        self._cache: dict[str, tuple[float, Tenant]] = {}
        self._lock = threading.Lock()

    def get(self, enterprise_number: str) -> Tenant | None:
        with self._lock:
            cached = self._cache.get(enterprise_number)
        if cached is not None and time.monotonic() - cached[0] < LOCAL_TTL:
            return cached[1]
        enterprise = self._services.enterprises.get(enterprise_number)
        if enterprise is None:
            return None
        if cached is not None and cached[1].version == enterprise.config_version:
            config, phone, remap = cached[1].config, cached[1].phone, cached[1].remap
        else:
            config = read_config(self._services.config.get_section(enterprise_number, CODE))
            phone, remap = self._build_clients(enterprise, config)
        tenant = Tenant(enterprise, config, phone, remap, refusals(self.marks(enterprise_number), config))
        with self._lock:
            self._cache[enterprise_number] = (time.monotonic(), tenant)
        return tenant

    def invalidate(self, enterprise_number: str) -> None:
        with self._lock:
            if enterprise_number == "*":
                self._cache.clear()
            else:
                self._cache.pop(enterprise_number, None)

    # -- marks ---------------------------------------------------------------------------------------

    def marks(self, ent: str) -> dict[str, Any] | None:
        with self._services.db.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT state, since, last_error, marked_credential, json_invalid_credential "
                        "FROM ms_tenant_state WHERE enterprise_number = %s", (ent,))
            row = cur.fetchone()
        if row is None:
            return None
        return {"state": row[0], "since": row[1], "last_error": row[2], "marked_credential": row[3],
                "json_invalid_credential": row[4]}

    def refusals_for(self, ent: str, config: TenantConfig) -> Refusals:
        return refusals(self.marks(ent), config)

    def ensure_usable(self, tenant: Tenant) -> None:
        """Raise ``WaitForConfig`` while MoySklad refuses the Phone API key in the config."""
        if tenant.refused.phone:
            raise WaitForConfig("MoySklad refused the Phone API key; waiting for the admin to change it")

    def mark_credentials_invalid(self, tenant: Tenant, error: str) -> None:
        with self._services.db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO ms_tenant_state (enterprise_number, state, since, last_error, marked_credential) "
                "VALUES (%s, 'credentials_invalid', now(), %s, %s) ON CONFLICT (enterprise_number) DO UPDATE "
                "SET state = 'credentials_invalid', since = now(), last_error = EXCLUDED.last_error, "
                "marked_credential = EXCLUDED.marked_credential",
                (tenant.number, error[:500], phone_credential(tenant.config)))
        self._services.journal.write(JournalEntry(tenant.number, CODE, "tenant.credentials_invalid", "error",
                                                  error=error[:500]))
        self.invalidate(tenant.number)

    def mark_json_invalid(self, tenant: Tenant, error: str) -> None:
        with self._services.db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO ms_tenant_state (enterprise_number, last_error, json_invalid_credential) "
                "VALUES (%s, %s, %s) ON CONFLICT (enterprise_number) DO UPDATE "
                "SET last_error = EXCLUDED.last_error, json_invalid_credential = EXCLUDED.json_invalid_credential",
                (tenant.number, error[:500], json_credential(tenant.config)))
        self._services.journal.write(JournalEntry(tenant.number, CODE, "tenant.json_api_refused", "error",
                                                  error=error[:500]))
        self.invalidate(tenant.number)

    def clear_marks(self, ent: str) -> None:
        with self._services.db.connection() as conn, conn.cursor() as cur:
            cur.execute("UPDATE ms_tenant_state SET state = 'ok', since = now(), last_error = NULL, "
                        "marked_credential = NULL, json_invalid_credential = NULL WHERE enterprise_number = %s",
                        (ent,))
        self.invalidate(ent)
