"""What a fault test checks once the load is sent: MoySklad (the emulator) against what the PBX sent, and
our own tables (``jobs``, ``ms_calls``, ``call_events``).

A call is *complete* in MoySklad when exactly one MoySklad call carries its UniqueId as ``externalId``, it
has ``endTime``, ``duration`` and a ``comment``, and none of its cards is still visible. A *duplicate* is a
second MoySklad call for one UniqueId, or a second client created for one caller number.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.harness import Service
from tests.reliability.emulator import Control
from tests.reliability.load import LoadResult

OPEN_JOB_STATES = ("pending", "running", "waiting")


@dataclass
class Outcome:
    expected: int  # calls that must reach MoySklad
    complete: list[str] = field(default_factory=list)
    incomplete: dict[str, str] = field(default_factory=dict)  # externalId -> what is missing
    missing: list[str] = field(default_factory=list)
    duplicate_calls: int = 0
    duplicate_clients: int = 0
    unexpected: list[str] = field(default_factory=list)  # MoySklad calls for no planned call (a leg, say)

    @property
    def duplicates(self) -> int:
        return self.duplicate_calls + self.duplicate_clients

    @property
    def all_complete(self) -> bool:
        return len(self.complete) == self.expected and not self.unexpected

    def summary(self) -> str:
        return (f"{len(self.complete)}/{self.expected} complete; missing {self.missing[:5]}; incomplete "
                f"{dict(list(self.incomplete.items())[:5])}; duplicate calls {self.duplicate_calls}, clients "
                f"{self.duplicate_clients}; unexpected {self.unexpected[:5]}")


def _missing_parts(call: dict[str, Any]) -> str:
    parts = [name for name in ("endTime", "duration") if call.get(name) is None]
    if not call.get("comment"):
        parts.append("comment")
    if any(card.get("visible") for card in call.get("_cards", [])):
        parts.append("a visible card")
    return ", ".join(parts)


def moysklad_outcome(control: Control, account: str, load: LoadResult) -> Outcome:
    expected = {c.main_uid for c in load.moysklad_calls}
    prefixes = tuple({c.prefix for c in load.calls})
    # Only this load's calls: the account may hold earlier ones (the warm-up call).
    calls = [c for c in control.calls(account) if str(c.get("externalId")).startswith(prefixes)]
    per_uid = Counter(str(c.get("externalId")) for c in calls)
    outcome = Outcome(expected=len(expected))
    outcome.duplicate_calls = sum(n - 1 for n in per_uid.values() if n > 1)
    outcome.unexpected = sorted(uid for uid in per_uid if uid not in expected)
    by_uid = {str(c.get("externalId")): c for c in calls}
    for uid in sorted(expected):
        call = by_uid.get(uid)
        if call is None:
            outcome.missing.append(uid)
            continue
        gaps = _missing_parts(call)
        if gaps:
            outcome.incomplete[uid] = gaps
        else:
            outcome.complete.append(uid)
    numbers = Counter(str(cp.get("phone")) for cp in control.counterparties(account) if cp.get("phone"))
    outcome.duplicate_clients = sum(n - 1 for n in numbers.values() if n > 1)
    return outcome


def job_states(service: Service, enterprise_number: str) -> Counter[str]:
    rows = service.sql("SELECT state, count(*) FROM jobs WHERE enterprise_number = %s GROUP BY state",
                       (enterprise_number,))
    return Counter({state: int(n) for state, n in rows})


def stuck_jobs(service: Service, enterprise_number: str | None = None) -> list[tuple[Any, ...]]:
    """Jobs still marked running although their claim expired more than a reaper round ago."""
    return service.sql(
        "SELECT id, kind, locked_by, locked_until FROM jobs WHERE state = 'running' "
        "AND locked_until < now() - interval '10 seconds' AND (%s::text IS NULL OR enterprise_number = %s)",
        (enterprise_number, enterprise_number))


def finished_at(service: Service, enterprise_number: str, uids: list[str]) -> dict[str, float]:
    rows = service.sql("SELECT unique_id, finished_at FROM ms_calls WHERE enterprise_number = %s "
                       "AND unique_id = ANY(%s) AND finished_at IS NOT NULL", (enterprise_number, uids))
    return {uid: ts.timestamp() for uid, ts in rows if isinstance(ts, dt.datetime)}


def max_delay(service: Service, enterprise_number: str, load: LoadResult, *,
              not_before: float = 0.0) -> tuple[float, int]:
    """(longest delay, calls not finished yet): the time from a call's last acknowledged event (or
    ``not_before``, e.g. the end of an outage) to the moment we recorded it finished in MoySklad; a call
    not finished yet counts with its delay so far."""
    calls = load.moysklad_calls
    done = finished_at(service, enterprise_number, [c.main_uid for c in calls])
    now = time.time()
    delays = [done.get(c.main_uid, now) - max(load.last_ack(c), not_before) for c in calls]
    return round(max(delays, default=0.0), 2), sum(1 for c in calls if c.main_uid not in done)


def unstored_events(service: Service, enterprise_number: str, load: LoadResult) -> list[str]:
    """Acknowledged events that are not in ``call_events`` with a job for the ms plugin."""
    rows = service.sql("SELECT e.unique_id, e.event_type FROM call_events e JOIN jobs j ON j.kind = 'ms.call_event' "
                       "AND (j.payload ->> 'event_id')::bigint = e.id WHERE e.enterprise_number = %s",
                       (enterprise_number,))
    stored = {(uid, event_type) for uid, event_type in rows}
    acked = {(str(e.call.events[e.index]["raw"].get("UniqueId")), e.event_type) for e in load.acked}
    return sorted(f"{uid}/{event_type}" for uid, event_type in acked - stored)


def unprocessed_events(service: Service, enterprise_number: str, load: LoadResult) -> list[str]:
    """Acknowledged events that are not stored, or whose ms job did not end done."""
    acked = {(str(e.call.events[e.index]["raw"].get("UniqueId")), e.event_type) for e in load.acked}
    rows = service.sql(
        "SELECT e.unique_id, e.event_type, coalesce(bool_and(j.state = 'done'), false) FROM call_events e "
        "LEFT JOIN jobs j ON j.kind = 'ms.call_event' AND (j.payload ->> 'event_id')::bigint = e.id "
        "WHERE e.enterprise_number = %s GROUP BY e.id, e.unique_id, e.event_type", (enterprise_number,))
    processed: dict[tuple[str, str], bool] = {}
    for uid, event_type, ok in rows:  # several events of one UniqueId and type (two dials): all must be done
        processed[(uid, event_type)] = processed.get((uid, event_type), True) and bool(ok)
    return sorted(f"{uid}/{event_type}" for uid, event_type in acked if not processed.get((uid, event_type)))
