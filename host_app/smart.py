"""Smart Redirect: ``POST /api/callevent/getcustomerdata`` (contract §8).

The PBX dialplan parses the reply by character position: it drops the first 9 characters
(``{"Name":"``), cuts at ``","DialPlan":`` and treats replies under 30 characters as no answer. So the
reply is compact JSON with ``Name`` first and ``DialPlan`` second, ``Name`` never contains ``"`` or
``\\`` (no escapes for the dialplan to trip over) and ``DialPlan`` is a plain context name or ``null``.

Latency is bounded by ``budget_ms``: the name and the responsible-manager lookups run concurrently, the
reply carries what arrived in time, and late lookups finish in the background so that the plugin's cache
answers the next call of the same number.
"""

from __future__ import annotations

import json
import logging
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from host_app.background import run_with_budget
from host_app.integrations.cache import Activity
from host_app.integrations.contract import ApiError, JournalEntry, Responsible
from host_app.lookups import normalise_phone, observe
from host_app.schemas.smart import CONTEXT_RE, normalise_section
from host_app.state import HostState

log = logging.getLogger(__name__)

MAX_NAME = 40
SEPARATOR = " | "
# Cc: control characters; Cf: invisible format characters (bidi overrides could disguise a caller-ID);
# Zl/Zp: line/paragraph separators. The dialplan and the handset display need none of them.
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


@dataclass(frozen=True)
class CustomerDataQuery:
    unique_id: str | None
    phone: str
    trunk: str
    load_dialplan: bool


def parse_query(body: Any) -> CustomerDataQuery:
    """Lenient: a known token always gets a 200, so a malformed body is an empty query, not a 4xx."""
    data: Mapping[str, Any] = body if isinstance(body, Mapping) else {}

    def text(key: str) -> str:
        value = data.get(key)
        return str(value).strip()[:128] if isinstance(value, (str, int)) and not isinstance(value, bool) else ""

    load = data.get("LoadDialPlan")
    return CustomerDataQuery(unique_id=text("UniqueId") or None, phone=text("Phone"), trunk=text("TrunkId"),
                             load_dialplan=load is True or (isinstance(load, str) and load.strip().lower() == "true"))


def clean(text: str) -> str:
    # Whitespace controls (tab, newline) separate words: they become spaces before controls are dropped.
    spaced = "".join(" " if ch.isspace() else ch for ch in text)
    kept = "".join(ch for ch in spaced if ch not in '"\\' and unicodedata.category(ch) not in _DROP_CATEGORIES)
    return " ".join(kept.split())


def build_name(parts: list[str]) -> str:
    name = SEPARATOR.join(p for p in (clean(x) for x in parts) if p)
    if len(name) > MAX_NAME:
        name = name[:MAX_NAME].rstrip(" |")  # never end on a dangling separator
    return name


def render_reply(name: str, dialplan: str | None) -> bytes:
    # Key order, separators and ensure_ascii are the wire format (see the module docstring).
    return json.dumps({"Name": name, "DialPlan": dialplan}, ensure_ascii=False, separators=(",", ":")).encode()


def render_dialplan(template: str, extension: str, trunk: str, user_id: str | None) -> tuple[str | None, str]:
    """``(context, reason)``; the context is ``None`` when it cannot be a safe dialplan target."""
    if "{user_id}" in template and user_id is None:
        return None, "no user_id for the extension"
    context = template.format(extension=extension, trunk=trunk, user_id=user_id or "")
    if not CONTEXT_RE.match(context):
        return None, "not a valid context name"
    return context, "routed"


class SmartRedirect:
    def __init__(self, state: HostState) -> None:
        self._state = state
        self._cache = state.integrations
        self._journal = state.services.journal

    def customer_data(self, token: str | None, query: CustomerDataQuery,
                      after_reply: Callable[[Callable[[], None]], None] | None = None) -> bytes:
        """The reply's bytes. ``after_reply(fn)`` runs ``fn`` once the reply is sent (the journal row is
        not worth a millisecond of the dialplan's wait); without it the row is written at once."""
        started = time.monotonic()
        activity = self._cache.by_token(token) if token else None
        if activity is None:
            raise ApiError("no enterprise has this token", code="not_found", status=404)
        decision: dict[str, Any] = {"primary": activity.primary}
        name, dialplan, status = "", None, "skipped"
        try:
            name, dialplan, status = self._decide(activity, query, started, decision)
        except ApiError as exc:  # the database went away mid-call: still a well-formed empty answer
            decision["error"] = exc.code
            status = "error"
        body = render_reply(name, dialplan)
        total = time.monotonic() - started
        decision["timings_ms"] = {**decision.get("timings_ms", {}), "total": round(total * 1000)}
        outcome = "timeout" if decision.get("timed_out") else decision.get("outcome", status)
        observe("getcustomerdata", started, outcome)
        entry = JournalEntry(
            activity.number, "smart", "getcustomerdata", status, call_unique_id=query.unique_id,
            phone=decision.get("phone") or query.phone or None,
            request={"Phone": query.phone, "TrunkId": query.trunk, "LoadDialPlan": query.load_dialplan},
            response={"Name": name, "DialPlan": dialplan, "decision": decision},
            duration_ms=round(total * 1000))
        (after_reply or (lambda fn: fn()))(lambda: self._journal.write(entry))
        return body

    def _decide(self, activity: Activity, query: CustomerDataQuery, started: float,
                decision: dict[str, Any]) -> tuple[str, str | None, str]:
        if not activity.active:
            decision["outcome"] = "inactive"
            return "", None, "skipped"
        section, region = normalise_section(activity.smart), activity.region
        decision["mode"] = section["mode"]
        if section["mode"] == "off":
            decision["outcome"] = "off"
            return "", None, "skipped"
        phone = normalise_phone(query.phone, region)
        decision["phone"] = phone
        line: Mapping[str, Any] = section["lines"].get(query.trunk) or {}
        parts: list[str] = line.get("name_parts", section["name_parts"])
        can_lookup = phone is not None and activity.primary is not None
        routing = (section["mode"] == "routing+name" and line.get("enabled") is True and query.load_dialplan)
        tasks: dict[str, Callable[[], Any]] = {}
        if can_lookup and "customer" in parts:
            tasks["customer"] = self._task("customer", activity.number, phone)
        if can_lookup and routing:
            tasks["responsible"] = self._task("responsible", activity.number, phone)
        budget = (section["budget_ms"] or self._state.settings.lookup_budget_ms) / 1000.0
        # Leave room for building the reply and the journal insert inside the budget.
        reserve = min(0.05, budget * 0.1)
        outcome = run_with_budget(tasks, budget - reserve - (time.monotonic() - started))
        decision.update(budget_ms=round(budget * 1000), timed_out=sorted(outcome.timed_out),
                        failed=sorted(outcome.failed),
                        timings_ms={k: round(v * 1000) for k, v in outcome.seconds.items()})

        values = {"line": line.get("name") or "", "shop": line.get("shop") or "",
                  "customer": outcome.results.get("customer") or ""}
        decision["parts"] = [p for p in parts if clean(str(values[p]))]
        name = build_name([str(values[p]) for p in parts])

        dialplan = None
        if not routing:
            decision["dialplan"] = "routing off for this call"
        else:
            dialplan = self._dialplan(section, query.trunk, outcome.results.get("responsible"), decision)
        return name, dialplan, "success"

    def _dialplan(self, section: Mapping[str, Any], trunk: str, found: Responsible | None,
                  decision: dict[str, Any]) -> str | None:
        if not isinstance(found, Responsible) or not found.extension:
            decision["dialplan"] = "no responsible extension"
            return None
        extension = str(found.extension)
        decision.update(extension=extension, manager_id=found.manager_id, rule=found.rule)
        context, reason = render_dialplan(section["dialplan_template"], extension, trunk,
                                          section["extension_ids"].get(extension))
        decision["dialplan"] = reason
        return context

    def _task(self, kind: str, number: str, phone: str | None) -> Callable[[], Any]:
        cache = self._cache

        def run() -> Any:
            # Timed here, not by the caller: a lookup that finishes after the reply still shows in
            # the metrics (cold vs warm latency).
            started = time.monotonic()
            if kind == "customer":
                value: Any = cache.customer_name(number, str(phone))
                observe("smart:customer-name", started, "found" if value else "none")
            else:
                value = cache.responsible_extension(number, str(phone))
                observe("smart:responsible-extension", started, "found" if value else "none")
            return value

        return run
