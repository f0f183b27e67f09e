"""``enterprises.integrations_config``: per-integration sections, merged atomically.

A save locks the enterprise row for the length of one short transaction (no HTTP inside), merges, bumps
``config_version``, resumes the integration's ``waiting`` jobs and sends ``NOTIFY host_config`` so every
worker drops what it cached for that enterprise. Upstream did read-modify-write of the whole column from
four services and lost updates; this cannot.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from psycopg2.extras import Json

from host_app.db import DbPool
from host_app.integrations.contract import ApiError

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "host_config"


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _get_path(data: Mapping[str, Any], path: Sequence[str]) -> tuple[bool, Any]:
    cur: Any = data
    for part in path:
        if not isinstance(cur, Mapping) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def _set_path(data: dict[str, Any], path: Sequence[str], value: Any) -> None:
    cur = data
    for part in path[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    cur[path[-1]] = copy.deepcopy(value)


def _del_path(data: dict[str, Any], path: Sequence[str]) -> None:
    cur: Any = data
    for part in path[:-1]:
        cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is None:
            return
    if isinstance(cur, dict):
        cur.pop(path[-1], None)


def apply_patch(section: Mapping[str, Any], patch: Mapping[str, Any],
                remove: Sequence[Sequence[str]] = (), replace: Sequence[Sequence[str]] = ()) -> dict[str, Any]:
    merged = deep_merge(section, patch)
    for path in replace:
        found, value = _get_path(patch, path)
        if found:
            _set_path(merged, path, value)
    for path in remove:
        _del_path(merged, path)
    return merged


class ConfigStore:
    def __init__(self, db: DbPool) -> None:
        self._db = db
        self._subscribers: list[Callable[[str, str], None]] = []

    def get_section(self, enterprise_number: str, code: str) -> dict[str, Any] | None:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT integrations_config -> %s FROM enterprises WHERE number = %s",
                        (code, enterprise_number))
            row = cur.fetchone()
        return dict(row[0]) if row and isinstance(row[0], dict) else None

    def merge_section(self, enterprise_number: str, code: str, patch: Mapping[str, Any], *,
                      remove: Sequence[Sequence[str]] = (), replace: Sequence[Sequence[str]] = (),
                      conn: Any = None) -> dict[str, Any]:
        if conn is not None:
            return self._merge(conn, enterprise_number, code, patch, remove, replace)
        with self._db.connection() as own:
            section = self._merge(own, enterprise_number, code, patch, remove, replace)
        self.notify_local(enterprise_number, code)  # the LISTEN loop tells the other workers
        return section

    def _merge(self, conn: Any, ent: str, code: str, patch: Mapping[str, Any],
               remove: Sequence[Sequence[str]], replace: Sequence[Sequence[str]]) -> dict[str, Any]:
        return self._update(conn, ent, code, lambda section: apply_patch(section, patch, remove, replace))

    def update_section(self, enterprise_number: str, code: str,
                       transform: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict[str, Any]:
        """Atomically replace the section with ``transform(current)``; ``None`` means "no change".

        ``transform`` runs while the enterprise row is locked (so two saves never lose each other's
        changes); it may raise (e.g. a validation error) to abort without writing anything.
        """
        with self._db.connection() as conn:
            before_version = self._version(conn, enterprise_number)
            section = self._update(conn, enterprise_number, code, transform)
            changed = self._version(conn, enterprise_number) != before_version
        if changed:
            self.notify_local(enterprise_number, code)
        return section

    @staticmethod
    def _version(conn: Any, ent: str) -> int | None:
        with conn.cursor() as cur:
            cur.execute("SELECT config_version FROM enterprises WHERE number = %s", (ent,))
            row = cur.fetchone()
        return int(row[0]) if row else None

    def _update(self, conn: Any, ent: str, code: str,
                transform: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict[str, Any]:
        with conn.cursor() as cur:
            cur.execute("SELECT integrations_config FROM enterprises WHERE number = %s FOR UPDATE", (ent,))
            row = cur.fetchone()
            if row is None:
                raise ApiError(f"enterprise {ent} not found", code="not_found", status=404)
            config = dict(row[0] or {})
            section = copy.deepcopy(config[code]) if isinstance(config.get(code), dict) else {}
            new_section = transform(copy.deepcopy(section))
            if new_section is None or new_section == section:
                return section
            cur.execute(
                "UPDATE enterprises SET integrations_config = jsonb_set(integrations_config, %s, %s, true), "
                "config_version = config_version + 1, updated_at = now() WHERE number = %s",
                ([code], Json(new_section), ent),
            )
            _after_change(cur, ent, code)
        return new_section

    def delete_section(self, enterprise_number: str, code: str) -> bool:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE enterprises SET integrations_config = integrations_config - %s, "
                "config_version = config_version + 1, updated_at = now() "
                "WHERE number = %s AND integrations_config ? %s",
                (code, enterprise_number, code),
            )
            changed = bool(cur.rowcount)
            if changed:
                _after_change(cur, enterprise_number, code)
        if changed:
            self.notify_local(enterprise_number, code)
        return changed

    # -- change notifications ------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[str, str], None]) -> None:
        self._subscribers.append(callback)

    def notify_local(self, enterprise_number: str, code: str) -> None:
        """Run the subscribers in this worker (called by the LISTEN loop, and after a local save)."""
        for callback in list(self._subscribers):
            try:
                callback(enterprise_number, code)
            except Exception:
                log.exception("config subscriber failed for %s/%s", enterprise_number, code)


ALL_CODES = "*"  # payload code of a change to the enterprise row itself (name, token, active, pbx ...)


def enterprise_changed(conn: Any, enterprise_number: str) -> None:
    """Inside the caller's transaction: announce a change of the enterprise row to every worker.

    ``NOTIFY`` is delivered at commit, so a rolled-back change announces nothing. ``config_version``
    grows too, because plugins key caches by it and the row's timezone or region may have changed. The
    caller runs ``ConfigStore.notify_local(enterprise_number, ALL_CODES)`` after the commit.
    """
    with conn.cursor() as cur:
        cur.execute("UPDATE enterprises SET config_version = config_version + 1 WHERE number = %s",
                    (enterprise_number,))
        cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, f"{enterprise_number}\t{ALL_CODES}"))


def _after_change(cur: Any, ent: str, code: str) -> None:
    # A marked tenant's jobs wait for its config to change: this is that change.
    cur.execute(
        "UPDATE jobs SET state = 'pending', run_at = now(), updated_at = now() "
        "WHERE state = 'waiting' AND enterprise_number = %s AND integration = %s",
        (ent, code),
    )
    cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, f"{ent}\t{code}"))
