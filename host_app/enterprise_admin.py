"""The service behind ``/api/enterprises/...``: enterprises, their primary integration and Smart section.

Each change is one short transaction that also writes a ``config.change`` journal row (field names only,
never values of secrets) and queues ``NOTIFY host_config``; after the commit this worker drops its own
caches at once (``notify_local``) and the LISTEN loop does the same in every other worker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import psycopg2.errors
from marshmallow import ValidationError

from host_app import enterprises as ent_sql
from host_app.config_store import ALL_CODES, apply_patch, enterprise_changed
from host_app.integrations.contract import ApiError, JournalEntry, Principal
from host_app.pbx.schema import PbxConfigSchema
from host_app.schemas import MASK, normalise_section, section_patch
from host_app.state import HostState

PBX_SECRETS = ("secret", "client_id")  # client_id is the enterprise's secret for the HTTP control service
EDITABLE = ("name", "token", "secret", "active", "timezone", "default_region", "pbx")


def not_found(number: str) -> ApiError:
    return ApiError(f"enterprise {number} not found", code="not_found", status=404)


def mask_pbx(pbx: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not pbx:
        return None
    out = dict(pbx)
    for key in PBX_SECRETS:
        if key in out:
            out[f"has_{key}"] = bool(out[key])
            out[key] = MASK if out[key] else None
    return out


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else None


def config_change(number: str, who: Principal, target: str, action: str, changed: list[str]) -> JournalEntry:
    # Field names only: the journal must never hold a secret, and values are in the row anyway.
    return JournalEntry(number, "host", "config.change", "success",
                        request={"target": target, "action": action, "fields": sorted(changed),
                                 "by": who.kind, "via": who.via})


class EnterpriseAdmin:
    def __init__(self, state: HostState) -> None:
        self._state = state
        self._db = state.services.db
        self._config: Any = state.services.config  # the concrete ConfigStore (notify_local)
        self._journal = state.services.journal

    # -- enterprises -------------------------------------------------------------------------------

    def present(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The GET body: secrets masked, ``integrations_config`` reduced to codes."""
        config = row.get("integrations_config") or {}
        activity = self._state.integrations.compute(row)
        return {
            "number": row["number"], "name": row["name"], "token": row["token"],
            "secret": MASK if row.get("secret") else None, "has_secret": bool(row.get("secret")),
            "active": row["active"], "timezone": row["timezone"], "default_region": row["default_region"],
            "pbx": mask_pbx(row.get("pbx")),
            "integrations": {"configured": sorted(k for k in config if k != "smart"),
                             "active": list(activity.codes), "primary": activity.primary},
            "config_version": row["config_version"],
            "created_at": _iso(row.get("created_at")), "updated_at": _iso(row.get("updated_at")),
        }

    def get(self, number: str) -> dict[str, Any]:
        with self._db.connection() as conn:
            row = ent_sql.get_row(conn, number)
        if row is None:
            raise not_found(number)
        return self.present(row)

    def put(self, number: str, data: Mapping[str, Any], who: Principal) -> tuple[dict[str, Any], bool]:
        """Create (``True``) or partially update (``False``) the enterprise; returns the GET body."""
        with self._db.connection() as conn:
            row = ent_sql.get_row(conn, number, for_update=True)
            fields = _resolve(data, row)
            if "token" in fields and ent_sql.token_owner(conn, fields["token"]) not in (None, number):
                raise ApiError("this token belongs to another enterprise", code="conflict", status=409,
                               details={"token": ["Already used by another enterprise."]})
            if row is None:
                missing = {k: ["Missing data for required field."] for k in ("name", "token") if k not in fields}
                if missing:
                    raise ValidationError(missing)
                changed = sorted(fields)
            else:
                changed = sorted(k for k in fields if fields[k] != row.get(k))
            try:
                if row is None:
                    ent_sql.insert(conn, number, fields)
                elif changed:
                    ent_sql.update(conn, number, {k: fields[k] for k in changed})
            except psycopg2.errors.UniqueViolation:  # a concurrent PUT won the race for number or token
                raise ApiError("the enterprise or its token was saved concurrently; send again",
                               code="conflict", status=409) from None
            if changed:
                enterprise_changed(conn, number)
                self._journal.write(config_change(number, who, "enterprise",
                                                  "create" if row is None else "update", changed), conn=conn)
            new = ent_sql.get_row(conn, number)
        if changed:
            self._config.notify_local(number, ALL_CODES)
        assert new is not None
        return self.present(new), row is None

    def delete(self, number: str, who: Principal) -> None:
        with self._db.connection() as conn:
            # Plugin rows go by ON DELETE CASCADE; the journal and jobs by ent_sql.delete.
            if not ent_sql.delete(conn, number):
                raise not_found(number)
            enterprise_changed(conn, number)
            # Written after the delete on purpose: the audit row of the deletion itself stays.
            self._journal.write(config_change(number, who, "enterprise", "delete", []), conn=conn)
        self._config.notify_local(number, ALL_CODES)

    # -- Smart section and primary -----------------------------------------------------------------

    def check_primary(self, code: str | None) -> None:
        plugin = self._state.registry.get(code) if code else None
        if code is not None and (plugin is None or not getattr(plugin, "can_lookup", False)):
            lookups = [p.code for p in self._state.registry if getattr(p, "can_lookup", False)]
            raise ValidationError({"primary": [f"Not a loaded integration that answers lookups; "
                                               f"one of {', '.join(lookups) or 'none'} or null."]})

    def get_smart(self, number: str) -> dict[str, Any]:
        with self._db.connection() as conn:
            return normalise_section(_smart_raw(conn, number))

    def set_primary(self, number: str, primary: str | None, who: Principal) -> dict[str, Any]:
        self.check_primary(primary)
        self._save_smart(number, {"primary": primary}, who, target="primary")
        activity = self._state.integrations.by_number(number)
        return {"primary": primary, "effective_primary": activity.primary if activity else None}

    def put_smart(self, number: str, loaded: Mapping[str, Any], who: Principal) -> dict[str, Any]:
        if loaded.get("primary") is not None:
            self.check_primary(loaded["primary"])
        return self._save_smart(number, loaded, who, target="smart")

    def _save_smart(self, number: str, loaded: Mapping[str, Any], who: Principal, target: str) -> dict[str, Any]:
        patch, remove, replace = section_patch(loaded)
        with self._db.connection() as conn:
            before = _smart_raw(conn, number, for_update=True)
            after = apply_patch(before, patch, remove, replace)
            if after == before:
                return normalise_section(before)
            # Through merge_section, as every section write: atomic, version bump, NOTIFY.
            after = self._config.merge_section(number, "smart", patch, remove=remove, replace=replace, conn=conn)
            old, new = normalise_section(before), normalise_section(after)
            changed = [k for k in new if new[k] != old[k]] or sorted(loaded)
            self._journal.write(config_change(number, who, target, "update", changed), conn=conn)
        self._config.notify_local(number, "smart")
        return normalise_section(after)


def _smart_raw(conn: Any, number: str, *, for_update: bool = False) -> dict[str, Any]:
    with conn.cursor() as cur:
        cur.execute("SELECT integrations_config -> 'smart' FROM enterprises WHERE number = %s"
                    + (" FOR UPDATE" if for_update else ""), (number,))
        row = cur.fetchone()
    if row is None:
        raise not_found(number)
    return dict(row[0]) if isinstance(row[0], dict) else {}


def _resolve(data: Mapping[str, Any], row: Mapping[str, Any] | None) -> dict[str, Any]:
    """Loaded PUT fields as column values: secret keep-markers applied, ``pbx`` validated."""
    fields = {k: v for k, v in data.items() if k in EDITABLE}
    if fields.get("secret") in ("", MASK):
        del fields["secret"]  # "" and the mask keep the stored secret; null clears it
    if "pbx" in fields:
        fields["pbx"] = _resolve_pbx(fields["pbx"], (row or {}).get("pbx"))
    return fields


def _resolve_pbx(given: Mapping[str, Any] | None, stored: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if given is None:
        return None
    body = {k: v for k, v in given.items() if k not in {f"has_{s}" for s in PBX_SECRETS}}
    kept = stored if stored and stored.get("kind") == body.get("kind") else {}
    for key in PBX_SECRETS:
        # Left out, blank, or the mask of the GET body sent back: keep the stored secret of that kind.
        if body.get(key) in (None, "", MASK):
            body.pop(key, None)
            if kept.get(key):
                body[key] = kept[key]
    try:
        return PbxConfigSchema().load(body)  # type: ignore[no-any-return]
    except ValidationError as err:
        raise ValidationError({"pbx": err.messages}) from None
