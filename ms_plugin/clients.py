"""The worker's MoySklad clients: one transport, one PostgreSQL limiter, per-tenant clients, and the
observer that journals and counts every HTTP attempt (secrets are already removed by the clients)."""

from __future__ import annotations

import logging
from typing import Any

from marshmallow import ValidationError

from host_app.integrations.contract import Enterprise, HostServices, JournalEntry
from ms_plugin.config.schema import TenantConfig
from ms_plugin.moysklad.factory import ClientFactory, TenantCredentials
from ms_plugin.moysklad.limiter import PgLimiter
from ms_plugin.moysklad.metrics import observe_metrics
from ms_plugin.moysklad.records import RequestRecord
from ms_plugin.moysklad.settings import MsClientSettings
from ms_plugin.moysklad.transport import Transport

log = logging.getLogger(__name__)


def journal_observer(services: HostServices) -> Any:
    def observe(record: RequestRecord) -> None:
        observe_metrics(record)
        status = "success" if record.outcome == "ok" else "error"
        services.journal.write(JournalEntry(
            enterprise_number=record.enterprise_number, integration_type="ms",
            event_type=f"moysklad.{record.api}", status=status, call_unique_id=record.call_unique_id,
            phone=record.phone,
            request={"method": record.method, "path": record.path, "endpoint": record.endpoint,
                     "attempt": record.attempt, "body": record.request_body},
            response={"status": record.status, "outcome": record.outcome, "codes": list(record.error_codes),
                      "body": record.response_body, "retry_after": record.retry_after},
            error=record.error, duration_ms=record.duration_ms))

    return observe


class PluginClients:
    """What the rest of the plugin uses: clients per tenant (cached per config version)."""

    def __init__(self, factory: ClientFactory) -> None:
        self.factory = factory

    @staticmethod
    def credentials(enterprise: Enterprise, config: TenantConfig) -> TenantCredentials:
        return TenantCredentials(enterprise.number, enterprise.config_version, config.integration_code,
                                 config.login, config.password, config.api_token, config.api_url,
                                 config.phone_api_url)

    def for_tenant(self, enterprise: Enterprise, config: TenantConfig) -> tuple[Any, Any]:
        try:
            clients = self.factory.clients(self.credentials(enterprise, config))
        except ValueError as exc:  # a stored api_url the allow-list refuses (SSRF guard)
            log.warning("tenant %s: MoySklad URL refused: %s", enterprise.number, exc)
            return None, None
        return clients.phone, clients.remap

    def json_base_url(self, config: TenantConfig) -> str:
        return self.factory.settings.api_url if not config.api_url else self._safe(config.api_url)

    def _safe(self, url: str) -> str:
        from ms_plugin.moysklad.factory import validate_api_url

        try:
            return validate_api_url(url, self.factory.settings.allowed_api_hosts)
        except ValueError:
            return self.factory.settings.api_url

    def drop(self, enterprise_number: str) -> None:
        self.factory.drop(enterprise_number)

    @property
    def settings(self) -> MsClientSettings:
        return self.factory.settings


def build_clients(services: HostServices) -> tuple[PluginClients, MsClientSettings]:
    try:
        settings = MsClientSettings.from_environ(services.environ)
    except ValidationError as err:
        raise RuntimeError(f"invalid MS_* settings: {err.messages}") from None
    transport = Transport.from_settings(settings)
    limiter = PgLimiter.from_settings(services.db, settings)
    factory = ClientFactory(transport, limiter, journal_observer(services), settings)
    return PluginClients(factory), settings
