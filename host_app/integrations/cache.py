"""``integration_cache``: which integrations are active per enterprise, dispatch, lookups via the primary.

Each worker keeps a small map token/enterprise -> (active codes, primary). It is dropped for an
enterprise as soon as any worker changes its config (``NOTIFY host_config`` heard by the LISTEN loop),
and every entry also expires after ``ttl`` seconds, which bounds staleness if a notification is missed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from host_app import enterprises as ent_sql
from host_app.db import DbPool
from host_app.integrations.contract import Integration, Responsible
from host_app.integrations.registry import IntegrationRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Activity:
    number: str
    active: bool  # the enterprise itself
    codes: tuple[str, ...]  # active integrations (empty when the enterprise is inactive)
    primary: str | None
    loaded_at: float
    smart: Mapping[str, Any] | None = None  # the Smart Redirect section as stored (Smart reads it per call)
    region: str = "BY"


class IntegrationCache:
    def __init__(self, db: DbPool, registry: IntegrationRegistry, ttl: float = 30.0) -> None:
        self._db = db
        self._registry = registry
        self._ttl = ttl
        self._by_number: dict[str, Activity] = {}
        self._token_to_number: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- activity ----------------------------------------------------------------------------------

    def compute(self, row: Mapping[str, Any]) -> Activity:
        config = row.get("integrations_config") or {}
        codes: list[str] = []
        if row.get("active"):
            for plugin in self._registry:
                try:
                    if plugin.is_active(config.get(plugin.code)):
                        codes.append(plugin.code)
                except Exception:
                    log.exception("is_active of %s failed for %s", plugin.code, row.get("number"))
        smart = config.get("smart") if isinstance(config.get("smart"), Mapping) else None
        return Activity(row["number"], bool(row.get("active")), tuple(codes),
                        self._primary(config, codes), time.monotonic(), smart, str(row.get("default_region") or "BY"))

    def _primary(self, config: Mapping[str, Any], codes: list[str]) -> str | None:
        smart = config.get("smart") if isinstance(config.get("smart"), Mapping) else {}
        wanted = smart.get("primary") if smart else None
        lookups = [c for c in codes if getattr(self._registry.get(c), "can_lookup", False)]
        if wanted:
            # An explicitly chosen primary answers only while it is active; never a default vendor.
            return wanted if wanted in lookups else None
        return lookups[0] if len(lookups) == 1 else None

    def _fresh(self, act: Activity | None) -> Activity | None:
        if act is not None and time.monotonic() - act.loaded_at < self._ttl:
            return act
        return None

    def by_token(self, token: str, conn: Any = None) -> Activity | None:
        with self._lock:
            number = self._token_to_number.get(token)
            act = self._fresh(self._by_number.get(number)) if number else None
        if act is not None:
            return act
        row = self._load(lambda c: ent_sql.get_row_by_token(c, token), conn)
        if row is None:
            return None
        act = self.compute(row)
        with self._lock:
            self._by_number[act.number] = act
            self._token_to_number[token] = act.number
        return act

    def by_number(self, number: str, conn: Any = None) -> Activity | None:
        with self._lock:
            act = self._fresh(self._by_number.get(number))
        if act is not None:
            return act
        row = self._load(lambda c: ent_sql.get_row(c, number), conn)
        if row is None:
            return None
        act = self.compute(row)
        with self._lock:
            self._by_number[number] = act
            self._token_to_number[row["token"]] = number
        return act

    def _load(self, fn: Any, conn: Any) -> dict[str, Any] | None:
        if conn is not None:
            return fn(conn)  # type: ignore[no-any-return]
        with self._db.connection() as own:
            return fn(own)  # type: ignore[no-any-return]

    def active_codes(self, number: str) -> tuple[str, ...]:
        act = self.by_number(number)
        return act.codes if act else ()

    def invalidate(self, number: str | None = None) -> None:
        with self._lock:
            if number is None:
                self._by_number.clear()
                self._token_to_number.clear()
                return
            self._by_number.pop(number, None)
            for token in [t for t, n in self._token_to_number.items() if n == number]:
                del self._token_to_number[token]

    # -- lookups through the primary ---------------------------------------------------------------

    def primary_plugin(self, number: str) -> Integration | None:
        act = self.by_number(number)
        if act is None or act.primary is None:
            return None
        return self._registry.get(act.primary)

    def customer_name(self, number: str, phone: str) -> str | None:
        plugin = self.primary_plugin(number)
        if plugin is None:
            return None
        try:
            return plugin.customer_name(number, phone)
        except Exception:  # the contract says plugins never raise here; isolate them anyway
            log.exception("customer_name of %s failed", plugin.code)
            return None

    def responsible_extension(self, number: str, phone: str) -> Responsible | None:
        plugin = self.primary_plugin(number)
        if plugin is None:
            return None
        try:
            return plugin.responsible_extension(number, phone)
        except Exception:
            log.exception("responsible_extension of %s failed", plugin.code)
            return None
