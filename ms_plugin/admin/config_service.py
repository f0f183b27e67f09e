"""``GET·PUT·DELETE /ms-admin/config/<ent>`` and ``rotate-webhook``: the tenant's ``ms`` section.

Every write goes through ``services.config.update_section``: the merge and its validation run inside the
transform, under the enterprise's row lock, so they see exactly what will be stored and two admins
saving different fields at once never lose each other's change. The webhook UUID is minted there too,
only when absent, so it is minted once however many first GETs race.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from host_app.integrations.contract import ApiError, JournalEntry, Principal
from ms_plugin.admin import patch
from ms_plugin.admin.status import tenant_status
from ms_plugin.config.schema import read_config
from ms_plugin.tenant import refusals
from ms_plugin.config.schema import SECRET_KEYS
from ms_plugin.moysklad.factory import validate_api_url
from ms_plugin.moysklad.settings import MsClientSettings
from ms_plugin.state import PluginState

log = logging.getLogger(__name__)

CODE = "ms"
_NESTED_OUT = ("notifications", "incoming_call_actions", "outgoing_call_actions", "missed_call_actions")


def allowed_api_hosts(state: PluginState) -> tuple[str, ...]:
    settings = state.client_settings or MsClientSettings.from_environ(state.services.environ)
    return tuple(settings.allowed_api_hosts)


def config_change(ent: str, who: Principal | None, action: str, fields: list[str]) -> JournalEntry:
    # Field names only: a secret's value never reaches the journal.
    return JournalEntry(ent, CODE, "config.change", "success",
                        request={"target": CODE, "action": action, "fields": sorted(fields),
                                 "by": who.kind if who else "system", "via": who.via if who else None})


class ConfigService:
    def __init__(self, state: PluginState) -> None:
        self.state = state
        self.services = state.services

    # -- reading ---------------------------------------------------------------------------------

    def get(self, ent: str, who: Principal | None = None) -> dict[str, Any]:
        return self.present(ent, self.ensure_webhook(ent, who))

    def ensure_webhook(self, ent: str, who: Principal | None = None) -> dict[str, Any]:
        """The stored section, with a webhook UUID minted (once, atomically) when it has none."""
        minted: list[str] = []

        def transform(section: dict[str, Any]) -> dict[str, Any] | None:
            if section.get("webhook_uuid"):
                return None
            minted.append(str(uuid.uuid4()))
            return {**section, "webhook_uuid": minted[0]}

        section = self.services.config.update_section(ent, CODE, transform)
        if minted:
            self.services.journal.write(config_change(ent, who, "mint_webhook", ["webhook_uuid"]))
        return section

    def present(self, ent: str, section: Mapping[str, Any]) -> dict[str, Any]:
        """The GET body: defaults applied, secrets replaced by ``has_*`` flags, webhook URL, status."""
        enterprise = self.services.enterprises.get(ent)
        if enterprise is None:
            raise ApiError(f"enterprise {ent} not found", code="not_found", status=404)
        loaded = patch.tolerant_load(section)
        marks = self.state.tenants.marks(ent)
        jobs = self.services.jobs.counts(CODE, ent)
        webhook_uuid = section.get("webhook_uuid")
        body: dict[str, Any] = {"enabled": loaded["enabled"]}
        for key in ("integration_code", "login", "password", "api_token"):  # the contract's order
            if key in SECRET_KEYS:  # never sent back: only whether it is set
                body.update({key: None, f"has_{key}": bool(loaded.get(key))})
            else:
                body[key] = loaded.get(key)
        body.update({
            "api_url": loaded.get("api_url"),
            "phone_api_url": loaded.get("phone_api_url"),
            "default_region": loaded.get("default_region"),
            **{key: dict(loaded[key]) for key in _NESTED_OUT},
            "organization_id": loaded.get("organization_id"),
            "employee_mapping": dict(loaded.get("employee_mapping") or {}),
            "click_to_call": dict(loaded["click_to_call"]),
            "webhook_uuid": webhook_uuid,
            "webhook_url": self.webhook_url(webhook_uuid),
            "status": tenant_status(loaded, marks, refusals(marks, read_config(section)), jobs),
        })
        return body

    def webhook_url(self, webhook_uuid: str | None) -> str | None:
        if not webhook_uuid:
            return None
        return self.services.public_base_url.rstrip("/") + "/ms/webhook/" + webhook_uuid

    # -- writing ---------------------------------------------------------------------------------

    def put(self, ent: str, body: Mapping[str, Any], who: Principal) -> dict[str, Any]:
        hosts = allowed_api_hosts(self.state)
        seen: dict[str, dict[str, Any]] = {}

        def transform(current: dict[str, Any]) -> dict[str, Any]:
            merged, touched = patch.merge(current, body)
            if not merged.get("webhook_uuid"):
                merged["webhook_uuid"] = str(uuid.uuid4())
            loaded = patch.validate(merged, touched)
            url_errors: dict[str, Any] = {}
            for key in patch.URL_KEYS:
                if key in touched and merged.get(key):
                    try:
                        merged[key] = validate_api_url(merged[key], hosts)
                    except ValueError as exc:
                        url_errors[key] = [f"Этот адрес API не разрешён: {exc}"]
            if url_errors:
                raise patch.PatchError(url_errors)
            if "employee_mapping" in touched:
                merged["employee_mapping"] = dict(loaded["employee_mapping"])
            before, after = patch.tolerant_load(current), patch.tolerant_load(merged)
            if before == after and merged.get("webhook_uuid") == current.get("webhook_uuid"):
                return None  # same effective settings (e.g. a GET body sent back): nothing to write
            seen["before"], seen["after"] = before, after
            return merged

        try:
            section = self.services.config.update_section(ent, CODE, transform)
        except patch.PatchError as err:
            raise ApiError("the settings are not valid", code="validation_error", status=422,
                           details=err.errors) from None
        changed = patch.changed_paths(seen.get("before", {}), seen.get("after", {}))
        if changed:
            self.services.journal.write(config_change(ent, who, "update", changed))
            if any(path.split(".")[0] in patch.CREDENTIAL_KEYS for path in changed):
                # New credentials: the tenant's waiting jobs may try again (the host resumes them).
                self.state.tenants.clear_marks(ent)
        return self.present(ent, section)

    def rotate_webhook(self, ent: str, who: Principal) -> dict[str, Any]:
        section = self.services.config.update_section(
            ent, CODE, lambda current: {**current, "webhook_uuid": str(uuid.uuid4())})
        self.services.journal.write(config_change(ent, who, "rotate_webhook", ["webhook_uuid"]))
        return self.present(ent, section)

    def delete(self, ent: str, who: Principal) -> None:
        if self.services.enterprises.get(ent) is None:
            raise ApiError(f"enterprise {ent} not found", code="not_found", status=404)
        if self.services.config.delete_section(ent, CODE):
            self.services.journal.write(config_change(ent, who, "delete", ["ms"]))
