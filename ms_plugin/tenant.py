"""One enterprise as the plugin sees it: its config, its MoySklad clients, its marks.

Built per ``(enterprise, config_version)`` and cached per worker; a config change (any worker, through
the host's NOTIFY) drops the entry. Credentials marked invalid stay marked until the config changes:
the tenant's call jobs then wait (``WaitForConfig``) instead of hammering MoySklad with a bad key, which
is what gets an account's API access switched off.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from host_app.integrations.contract import Enterprise, HostServices, JournalEntry, WaitForConfig
from ms_plugin.config.schema import TenantConfig, read_config

log = logging.getLogger(__name__)

CODE = "ms"


@dataclass(frozen=True)
class Tenant:
    enterprise: Enterprise
    config: TenantConfig
    phone: Any  # PhoneApiClient | None (None without integration_code)
    remap: Any  # RemapClient | None (None without JSON API credentials)
    json_invalid: bool = False  # the JSON API refused these credentials (401): lookups etc. skipped

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
    def json_api(self) -> Any:
        """The JSON API client when it may be used (configured and not refused)."""
        return None if self.json_invalid else self.remap


ClientBuilder = Callable[[Enterprise, TenantConfig], tuple[Any, Any]]


class Tenants:
    def __init__(self, services: HostServices, build_clients: ClientBuilder) -> None:
        self._services = services
        self._build_clients = build_clients
        self._cache: dict[str, Tenant] = {}
        self._lock = threading.Lock()

    def get(self, enterprise_number: str) -> Tenant | None:
        enterprise = self._services.enterprises.get(enterprise_number)
        if enterprise is None:
            return None
        with self._lock:
            cached = self._cache.get(enterprise_number)
        if cached is not None and cached.version == enterprise.config_version:
            return cached
        section = self._services.config.get_section(enterprise_number, CODE)
        config = read_config(section)
        phone, remap = self._build_clients(enterprise, config)
        state = self._marks(enterprise_number)
        json_invalid = bool(state and state.get("json_invalid_version") == enterprise.config_version)
        tenant = Tenant(enterprise, config, phone, remap, json_invalid)
        with self._lock:
            self._cache[enterprise_number] = tenant
        return tenant

    def invalidate(self, enterprise_number: str) -> None:
        with self._lock:
            if enterprise_number == "*":
                self._cache.clear()
            else:
                self._cache.pop(enterprise_number, None)

    # -- marks ---------------------------------------------------------------------------------------

    def _marks(self, ent: str) -> dict[str, Any] | None:
        with self._services.db.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT state, marked_config_version, last_error, since, json_invalid_version "
                        "FROM ms_tenant_state WHERE enterprise_number = %s", (ent,))
            row = cur.fetchone()
        if row is None:
            return None
        return {"state": row[0], "marked_version": row[1], "last_error": row[2], "since": row[3],
                "json_invalid_version": row[4]}

    def status(self, ent: str) -> dict[str, Any] | None:
        return self._marks(ent)

    def ensure_usable(self, tenant: Tenant) -> None:
        """Raise ``WaitForConfig`` while the Phone API key is marked invalid for this config version."""
        marks = self._marks(tenant.number)
        if marks and marks["state"] == "credentials_invalid" and marks["marked_version"] == tenant.version:
            raise WaitForConfig("MoySklad refused the Phone API key; waiting for the admin to change it")

    def mark_credentials_invalid(self, tenant: Tenant, error: str) -> None:
        with self._services.db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO ms_tenant_state (enterprise_number, state, since, last_error, marked_config_version) "
                "VALUES (%s, 'credentials_invalid', now(), %s, %s) ON CONFLICT (enterprise_number) DO UPDATE "
                "SET state = 'credentials_invalid', since = now(), last_error = EXCLUDED.last_error, "
                "marked_config_version = EXCLUDED.marked_config_version", (tenant.number, error[:500], tenant.version))
        self._services.journal.write(JournalEntry(tenant.number, CODE, "tenant.credentials_invalid", "error",
                                                  error=error[:500]))
        self.invalidate(tenant.number)

    def mark_json_invalid(self, tenant: Tenant, error: str) -> None:
        with self._services.db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO ms_tenant_state (enterprise_number, last_error, json_invalid_version) "
                "VALUES (%s, %s, %s) ON CONFLICT (enterprise_number) DO UPDATE "
                "SET last_error = EXCLUDED.last_error, json_invalid_version = EXCLUDED.json_invalid_version",
                (tenant.number, error[:500], tenant.version))
        self._services.journal.write(JournalEntry(tenant.number, CODE, "tenant.json_api_refused", "error",
                                                  error=error[:500]))
        self.invalidate(tenant.number)

    def clear_marks(self, ent: str) -> None:
        with self._services.db.connection() as conn, conn.cursor() as cur:
            cur.execute("UPDATE ms_tenant_state SET state = 'ok', since = now(), last_error = NULL, "
                        "marked_config_version = NULL, json_invalid_version = NULL "
                        "WHERE enterprise_number = %s", (ent,))
