"""EmulatorState: every account, the knobs, limits, faults and the request log behind one lock.

Handlers mutate state only while holding `state.lock`; latency is slept outside it. The Python methods
here are the same operations the `/_emulator/` control API offers over HTTP.
"""
from __future__ import annotations

import random
import threading
from typing import Any

from .accounts import account_info, add_counterparty, add_employee, build_account
from .entities import IdFactory, create_entity
from .faults import Faults
from .json_api.render import render_entity
from .knobs import Knobs
from .limits import Limiter
from .model import Account, Ref, User
from .phone.cards import cards_snapshot
from .phone.render import render_call_for_inspection
from .requestlog import RequestLog
from .signing import click_to_call as _click_to_call

ENTITY_KINDS = ("counterparty", "contactperson", "note", "employee", "organization", "saleschannel", "state",
                "customerorder", "task")
KIND_ALIASES = {"counterparties": "counterparty", "contactpersons": "contactperson", "notes": "note",
                "employees": "employee", "organizations": "organization", "saleschannels": "saleschannel",
                "states": "state", "customerorders": "customerorder", "orders": "customerorder", "tasks": "task"}


class EmulatorState:
    def __init__(self, knobs: Knobs | dict[str, Any] | None = None, seed: str | int | None = None) -> None:
        self.lock = threading.RLock()
        self.ids = IdFactory(seed)
        self.jitter_rng = random.Random()
        self.knobs = knobs if isinstance(knobs, Knobs) else Knobs()
        if isinstance(knobs, dict):
            self.knobs.update(knobs)
        self.limiter = Limiter()
        self.faults = Faults()
        self.log = RequestLog(self.knobs.request_log_max)
        self.accounts: dict[str, Account] = {}
        self.click_log: list[dict[str, Any]] = []

    # ---- lifecycle -------------------------------------------------------------------------------
    def reset(self, *, keep_accounts: bool = False, keep_knobs: bool = False) -> None:
        """Forget everything (or only the traffic: log, stats, faults)."""
        with self.lock:
            if not keep_accounts:
                self.accounts = {}
            if not keep_knobs:
                self.knobs = Knobs()
            self.limiter.reset()
            self.faults.reset()
            self.log = RequestLog(self.knobs.request_log_max)
            self.click_log = []

    def reset_stats(self) -> None:
        with self.lock:
            self.limiter.reset()
            self.log.clear()

    # ---- accounts --------------------------------------------------------------------------------
    def create_account(self, spec: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        spec = {**(spec or {}), **kwargs}
        with self.lock:
            key = spec.get("phone_key")
            if key and self.account_by_phone_key(str(key)) is not None:
                raise ValueError("phone_key is already used by another account")
            account = build_account(self.ids, spec, {a.name for a in self.accounts.values()})
            self.accounts[account.id] = account
            return account_info(account)

    def account(self, ref: str) -> Account:
        """An account by id or name (KeyError when unknown)."""
        with self.lock:
            if ref in self.accounts:
                return self.accounts[ref]
            for account in self.accounts.values():
                if account.name == ref:
                    return account
        raise KeyError(f"unknown account {ref!r}")

    def account_info(self, ref: str) -> dict[str, Any]:
        with self.lock:
            return account_info(self.account(ref))

    def account_by_phone_key(self, key: str) -> Account | None:
        for account in self.accounts.values():
            if account.phone_key == key:
                return account
        return None

    def set_account_flags(self, ref: str, **flags: Any) -> dict[str, Any]:
        """telephony_enabled / crm_option / blocked / phone_key."""
        with self.lock:
            account = self.account(ref)
            for name, value in flags.items():
                if name in ("telephony_enabled", "crm_option", "blocked"):
                    setattr(account, name, bool(value))
                elif name == "phone_key":
                    account.phone_key = str(value) if value else self.ids.hex40()
                else:
                    raise ValueError(f"unknown account flag {name!r}")
            return {**account.flags(), "phone_key": account.phone_key}

    def find_user(self, login: str) -> tuple[Account, User] | None:
        _, _, account_name = login.partition("@")
        for account in self.accounts.values():
            if account.name == account_name and login in account.users:
                return account, account.users[login]
        return None

    def user_by_token(self, token: str) -> tuple[Account, User] | None:
        for account in self.accounts.values():
            for user in account.users.values():
                if token in user.tokens:
                    return account, user
        return None

    def mint_token(self, account: Account, user: User) -> str:
        """Issuing a new token revokes every token the user obtained earlier (JSON API docs)."""
        with self.lock:
            token = self.ids.hex40()
            user.tokens = [token]
            return token

    def add_employee(self, account: str, **spec: Any) -> dict[str, Any]:
        with self.lock:
            acc = self.account(account)
            employee = add_employee(self.ids, acc, spec, len(acc.store("employee")))
            return render_entity(acc, employee) | {"extension": employee.fields.get("_extension")}

    def set_employee_extension(self, account: str, employee_id: str, extension: str | None) -> None:
        with self.lock:
            employee = self.account(account).get("employee", employee_id)
            if employee is None:
                raise KeyError(f"unknown employee {employee_id!r}")
            employee.fields["_extension"] = extension or None

    def add_counterparty(self, account: str, **spec: Any) -> dict[str, Any]:
        with self.lock:
            acc = self.account(account)
            return render_entity(acc, add_counterparty(self.ids, acc, spec))

    def add_entity(self, account: str, kind: str, fields: dict[str, Any],
                   parent_id: str | None = None) -> dict[str, Any]:
        """Store an entity as given (no validation): for seeding odd data, e.g. a phone in any format.
        Counterparties and employees take the account-spec form (owner by extension, login, ...)."""
        kind = KIND_ALIASES.get(kind, kind)
        if kind == "counterparty":
            return self.add_counterparty(account, **fields)
        if kind == "employee":
            return self.add_employee(account, **fields)
        if kind not in ENTITY_KINDS:
            raise ValueError(f"unknown entity kind {kind!r}")
        with self.lock:
            acc = self.account(account)
            fields = dict(fields)
            if kind in ("contactperson", "note"):
                if not parent_id or acc.get("counterparty", parent_id) is None:
                    raise ValueError(f"a {kind} needs the parent_id of an existing counterparty")
                fields["agent"] = Ref("counterparty", parent_id)
            return render_entity(acc, create_entity(self.ids, acc, kind, fields, parent_id=parent_id))

    # ---- inspection ------------------------------------------------------------------------------
    def _accounts(self, account: str | None) -> list[Account]:
        return [self.account(account)] if account else list(self.accounts.values())

    def calls(self, account: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [render_call_for_inspection(acc, call)
                    for acc in self._accounts(account) for call in acc.calls.values()]

    def call(self, account: str, call_id: str) -> dict[str, Any]:
        with self.lock:
            acc = self.account(account)
            return render_call_for_inspection(acc, acc.calls[call_id])

    def cards(self, account: str | None = None) -> dict[str, Any]:
        with self.lock:
            return cards_snapshot(self._accounts(account))

    def entities(self, kind: str, account: str | None = None) -> list[dict[str, Any]]:
        kind = KIND_ALIASES.get(kind, kind)
        if kind not in ENTITY_KINDS:
            raise ValueError(f"unknown entity kind {kind!r}; known: {', '.join(ENTITY_KINDS)}")
        with self.lock:
            rows = []
            for acc in self._accounts(account):
                for entity in acc.store(kind).values():
                    row = render_entity(acc, entity)
                    if kind == "employee":
                        row["extension"] = entity.fields.get("_extension")
                    rows.append({**row, "_account": acc.name})
            return rows

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """Request log rows; filters: api, path (glob or prefix), since (seq), since_time, method, status,
        account, limit."""
        with self.lock:
            return [dict(row) for row in self.log.query(**filters)]

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": self.log.snapshot(), "limits": self.limiter.snapshot()}

    def max_in_window(self, api: str, principal: str) -> int:
        """Most requests the principal (Phone API: account name; JSON API: login) sent in any window."""
        with self.lock:
            stats = self.limiter.observed.get((api, principal))
            return stats.max_in_window if stats else 0

    def max_in_flight(self, api: str, principal: str) -> int:
        with self.lock:
            stats = self.limiter.observed.get((api, principal))
            return stats.max_in_flight if stats else 0

    # ---- knobs and faults ------------------------------------------------------------------------
    def set_knobs(self, changes: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        with self.lock:
            self.knobs.update({**(changes or {}), **kwargs})
            self.log.resize(self.knobs.request_log_max)
            return self.knobs.as_dict()

    def set_outage(self, seconds: float | None = None, api: str | None = None, status: int = 503,
                   code: int = 1074) -> None:
        with self.lock:
            self.faults.set_outage(seconds, api, status, code)

    def clear_outage(self) -> None:
        with self.lock:
            self.faults.clear_outage()

    def inject(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """Answer the next `count` requests matching method+path (glob) with status/body/headers, or
        drop the connection ("before" or "after" processing), or delay them."""
        with self.lock:
            return self.faults.inject(path, **kwargs).as_dict()

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.reset()

    def faults_snapshot(self) -> dict[str, Any]:
        with self.lock:
            return self.faults.snapshot()

    # ---- click-to-call ---------------------------------------------------------------------------
    def click_to_call(self, url: str, src_number: str, dest_number: str, uid: str, account: str,
                      variant: str = "upper_key_first", body_format: str = "json",
                      timeout: float = 10.0) -> dict[str, Any]:
        with self.lock:
            key = self.account(account).phone_key
        result = _click_to_call(url, key, src_number, dest_number, uid, variant, body_format, timeout)
        with self.lock:
            self.click_log.append(result)
        return result
