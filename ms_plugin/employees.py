"""The tenant's employees and the PBX extension ↔ employee mapping.

Names and logins come from the JSON API, MoySklad extensions from the Phone API (``GET /employee``,
spelled ``extention``). Both are cached in ``ms_employees`` (every worker sees one copy) and refreshed
when older than the TTL or on the admin's request.

The effective mapping is the admin's explicit ``employee_mapping`` plus, for employees it does not name,
"MoySklad extension = PBX extension" (what the replaced service assumed for everyone), so a tenant that
configured extensions in MoySklad works before anyone edits the mapping.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from psycopg2.extras import RealDictCursor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmployeeInfo:
    employee_id: str
    name: str | None = None
    full_name: str | None = None
    uid: str | None = None
    email: str | None = None
    ms_extension: str | None = None
    archived: bool = False

    @property
    def display_name(self) -> str:
        return self.full_name or self.name or self.uid or self.employee_id


@dataclass(frozen=True)
class EmployeeSet:
    by_id: Mapping[str, EmployeeInfo]
    refreshed_at: dt.datetime | None  # both sources (names and extensions) last read
    extensions_at: dt.datetime | None = None  # the Phone API's extensions last read

    def age(self, *, names: bool) -> float | None:
        stamp = self.refreshed_at if names else max(
            (t for t in (self.refreshed_at, self.extensions_at) if t is not None), default=None)
        return None if stamp is None else (dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()

    def ms_extensions(self) -> dict[str, str]:
        return {e.employee_id: e.ms_extension for e in self.by_id.values() if e.ms_extension}

    def by_uid(self, uid: str) -> EmployeeInfo | None:
        wanted = uid.strip().lower()
        return next((e for e in self.by_id.values() if e.uid and e.uid.lower() == wanted), None)

    def by_ms_extension(self, ext: str) -> EmployeeInfo | None:
        return next((e for e in self.by_id.values() if e.ms_extension == ext and not e.archived), None)

    def effective_mapping(self, explicit: Mapping[str, str]) -> dict[str, str]:
        mapping = dict(explicit)
        named = set(explicit.values())
        for emp in self.by_id.values():
            ext = emp.ms_extension
            if ext and not emp.archived and emp.employee_id not in named and ext not in mapping:
                mapping[ext] = emp.employee_id
        return mapping


def load(conn: Any, ent: str) -> EmployeeSet:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute("SELECT * FROM ms_employees WHERE enterprise_number = %s", (ent,))
        rows = cur.fetchall()
        cur.execute("SELECT employees_refreshed_at, extensions_refreshed_at FROM ms_tenant_state "
                    "WHERE enterprise_number = %s", (ent,))
        state = cur.fetchone()
    by_id = {r["employee_id"]: EmployeeInfo(r["employee_id"], r["name"], r["full_name"], r["uid"], r["email"],
                                            r["ms_extension"], r["archived"]) for r in rows}
    return EmployeeSet(by_id, state["employees_refreshed_at"] if state else None,
                       state["extensions_refreshed_at"] if state else None)


def store(conn: Any, ent: str, employees: Iterable[EmployeeInfo], *, complete: bool = True,
          extensions: bool = True) -> None:
    """Replace the tenant's cached employees with a fresh list. ``complete``: both sources answered (the
    copy counts as fresh for the TTL); ``extensions``: at least the Phone API answered."""
    items = list(employees)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM ms_employees WHERE enterprise_number = %s", (ent,))
        for e in items:
            cur.execute(
                "INSERT INTO ms_employees (enterprise_number, employee_id, name, full_name, uid, email, "
                "ms_extension, archived) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (ent, e.employee_id, e.name, e.full_name, e.uid, e.email, e.ms_extension, e.archived))
        if complete or extensions:
            cur.execute(
                "INSERT INTO ms_tenant_state (enterprise_number, employees_refreshed_at, extensions_refreshed_at) "
                "VALUES (%s, CASE WHEN %s THEN now() END, CASE WHEN %s THEN now() END) "
                "ON CONFLICT (enterprise_number) DO UPDATE SET "
                "employees_refreshed_at = coalesce(EXCLUDED.employees_refreshed_at, "
                "ms_tenant_state.employees_refreshed_at), "
                "extensions_refreshed_at = coalesce(EXCLUDED.extensions_refreshed_at, "
                "ms_tenant_state.extensions_refreshed_at)", (ent, complete, extensions))


def merge_sources(phone_list: Iterable[tuple[str, str | None]] | None,
                  json_list: Iterable[Mapping[str, Any]] | None) -> list[EmployeeInfo]:
    """Join the Phone API's (employee id, extension) pairs with the JSON API's employee records."""
    exts = {emp_id: ext for emp_id, ext in (phone_list or [])}
    out: dict[str, EmployeeInfo] = {}
    for item in json_list or []:
        emp_id = str(item["id"])
        out[emp_id] = EmployeeInfo(emp_id, item.get("name"), item.get("full_name"), item.get("uid"),
                                   item.get("email"), exts.get(emp_id), bool(item.get("archived")))
    for emp_id, ext in exts.items():
        if emp_id not in out:  # known to the Phone API only (no JSON API credentials)
            out[emp_id] = EmployeeInfo(emp_id, ms_extension=ext)
    return list(out.values())


class Directory:
    """Employees per tenant, from the cache table, refreshed from MoySklad when older than ``ttl``."""

    RETRY_AFTER_FAILURE = 30.0
    LOCAL_TTL = 30.0  # a worker reuses its copy this long (every call event needs the mapping)

    def __init__(self, services: Any, ttl: float = 600.0) -> None:
        self._services = services
        self._ttl = ttl
        self._failed_at: dict[str, float] = {}  # per worker: do not hammer a MoySklad that is down
        self._local: dict[str, tuple[int, float, EmployeeSet]] = {}

    def get(self, tenant: Any, *, refresh: bool = False, names: bool = False) -> EmployeeSet:
        """The tenant's employees. The call flow needs only who has which extension (``names=False``):
        a stale copy is then refreshed from the Phone API alone, so a slow JSON API never holds a card
        back; names and logins (``names=True``: the admin page, click-to-call by login) read both."""
        local = self._local.get(tenant.number)
        if (not refresh and not names and local is not None and local[0] == tenant.version
                and time.monotonic() - local[1] < self.LOCAL_TTL):
            return local[2]
        found = self._get(tenant, refresh=refresh, names=names)
        self._local[tenant.number] = (tenant.version, time.monotonic(), found)
        return found

    def forget(self, enterprise_number: str) -> None:
        if enterprise_number == "*":
            self._local.clear()
        else:
            self._local.pop(enterprise_number, None)

    def _get(self, tenant: Any, *, refresh: bool, names: bool) -> EmployeeSet:
        with self._services.db.connection() as conn:
            current = load(conn, tenant.number)
        age = current.age(names=names)
        if not refresh and age is not None and age < self._ttl:
            return current
        if tenant.phone is None and tenant.json_api is None:
            return current
        failed = self._failed_at.get(tenant.number)
        if not refresh and failed is not None and time.monotonic() - failed < self.RETRY_AFTER_FAILURE:
            return current
        lease = self._services.leases.acquire(f"ms:employees:{tenant.number}", 30)
        if lease is None:  # another worker is refreshing right now: the current copy will do
            return current
        try:
            return self.refresh(tenant, names=names or refresh)
        except Exception as exc:  # MoySklad down: keep working with what we have
            self._failed_at[tenant.number] = time.monotonic()
            log.warning("employee refresh for %s failed: %s", tenant.number, exc)
            if refresh:
                raise
            return current
        finally:
            lease.release()

    def refresh(self, tenant: Any, *, names: bool = True) -> EmployeeSet:
        """Read the sources; one that fails (or is not asked) keeps what it knew before."""
        phone_list = json_list = None
        failed: list[Exception] = []
        if tenant.phone is not None:
            try:
                phone_list = [(e.employee_id, e.extension) for e in tenant.phone.list_employees()]
            except Exception as exc:  # the Phone API answering is what matters most: keep the other
                failed.append(exc)
        if tenant.json_api is not None and (names or tenant.phone is None):
            try:
                json_list = [{"id": e.id, "name": e.name, "full_name": e.full_name, "uid": e.uid,
                              "email": e.email, "archived": e.archived} for e in tenant.json_api.list_employees()]
            except Exception as exc:
                failed.append(exc)
        if phone_list is None and json_list is None:
            if failed:
                raise failed[0]
            with self._services.db.connection() as conn:
                return load(conn, tenant.number)
        merged = merge_sources(phone_list, json_list)
        if phone_list is None or json_list is None:
            # One source missing: keep what the other source knew before instead of forgetting it.
            with self._services.db.connection() as conn:
                before = load(conn, tenant.number)
            merged = _keep_known(merged, before, keep_names=json_list is None, keep_exts=phone_list is None)
        if failed:
            self._failed_at[tenant.number] = time.monotonic()
        complete = not failed and (json_list is not None or tenant.json_api is None) and (
            phone_list is not None or tenant.phone is None)
        with self._services.db.connection() as conn:
            store(conn, tenant.number, merged, complete=complete, extensions=phone_list is not None)
            return load(conn, tenant.number)


def _keep_known(fresh: list[EmployeeInfo], before: EmployeeSet, *, keep_names: bool,
                keep_exts: bool) -> list[EmployeeInfo]:
    out: dict[str, EmployeeInfo] = {e.employee_id: e for e in fresh}
    for emp_id, old in before.by_id.items():
        cur = out.get(emp_id)
        if cur is None:
            out[emp_id] = old
            continue
        out[emp_id] = EmployeeInfo(
            emp_id,
            cur.name or (old.name if keep_names else None),
            cur.full_name or (old.full_name if keep_names else None),
            cur.uid or (old.uid if keep_names else None),
            cur.email or (old.email if keep_names else None),
            cur.ms_extension or (old.ms_extension if keep_exts else None),
            cur.archived,
        )
    return list(out.values())
