"""Seeded PBX traffic: realistic event sequences per call, laid out on an open-loop timeline.

The sequences have the shapes of the recordings in ``/work/shared/pbx-events`` (``2-1`` incoming
answered by one of the group 150/151/152, ``2-2`` missed, ``1-1`` outgoing) and of the blind transfer
of ``vochi-upstream.md`` §3.6: the same keys, the extension channel's own bridge under its own UniqueId,
the trunk channel's bridge naming the answerer in ``ConnectedLineNum``, hangups with the PBX's wall-clock
times. Call lengths are compressed (seconds, not minutes): what the service does per event does not depend
on how long a conversation lasts, and the bench must fit in five minutes.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bench.seed import GROUP, TRUNK, BenchTenant

MINSK = ZoneInfo("Europe/Minsk")
# Kind -> share of calls. Transfers are answered incoming calls with two more legs.
MIX: dict[str, float] = {"in_answered": 0.50, "missed": 0.20, "outgoing": 0.25, "transfer": 0.05}
RING_S = (0.5, 2.0)
TALK_S = (1.0, 4.0)
KNOWN_SHARE = 0.8  # callers that are counterparties already; the rest are new numbers


@dataclass(frozen=True)
class Event:
    at: float  # seconds after the schedule starts
    token: str
    unique_id: str  # the envelope's uniqueId: the channel's own UniqueId
    event_type: str
    raw: dict[str, Any]
    call: str  # the call's UniqueId, which is MoySklad's externalId
    kind: str


@dataclass
class Call:
    uid: str
    kind: str
    tenant: BenchTenant
    phone: str
    start: float
    events: list[Event] = field(default_factory=list)


class CallBuilder:
    """Builds one call's events; ``wall0`` anchors the PBX wall-clock strings of the hangups."""

    def __init__(self, rng: random.Random, wall0: dt.datetime) -> None:
        self.rng = rng
        self.wall0 = wall0

    def _clock(self, at: float) -> str:
        return (self.wall0 + dt.timedelta(seconds=at)).astimezone(MINSK).strftime("%Y-%m-%d %H:%M:%S")

    def build(self, kind: str, tenant: BenchTenant, uid: str, phone: str, t0: float) -> Call:
        call = Call(uid, kind, tenant, phone, t0)
        ring = self.rng.uniform(*RING_S)
        talk = self.rng.uniform(*TALK_S)
        answerer = self.rng.choice(GROUP)
        leg = f"{uid}1"
        add = lambda at, uniq, etype, raw: call.events.append(  # noqa: E731
            Event(round(at, 4), tenant.token, uniq, etype, {"Token": tenant.token, **raw}, uid, kind))
        if kind == "outgoing":
            ext = answerer
            add(t0, uid, "dial", {"Phone": phone, "ExtTrunk": "", "ExtPhone": "", "Extensions": [ext],
                                  "UniqueId": uid, "Trunk": TRUNK, "CallType": 1})
            bridge_id = f"b-{uid}"
            add(t0 + ring, leg, "bridge", {"CallerIDNum": phone, "Channel": f"SIP/{TRUNK}-00000001",
                                           "CallerIDName": "", "BridgeUniqueid": bridge_id, "UniqueId": leg,
                                           "Exten": "", "ConnectedLineNum": ext, "ConnectedLineName": ext})
            add(t0 + ring + 0.01, uid, "bridge", {"CallerIDNum": ext, "Channel": f"SIP/{ext}-00000000",
                                                  "CallerIDName": ext, "BridgeUniqueid": bridge_id, "UniqueId": uid,
                                                  "Exten": phone, "ConnectedLineNum": "<unknown>",
                                                  "ConnectedLineName": "<unknown>"})
            add(t0 + ring + talk, uid, "hangup", self._hangup(uid, phone, 1, "2", [ext], t0, ring + talk))
            return call
        add(t0, uid, "start", {"UniqueId": uid, "CallType": 0, "Phone": phone, "Trunk": TRUNK})
        add(t0 + 0.02, uid, "dial", {"CallType": 0, "ExtPhone": phone, "UniqueId": uid, "ExtTrunk": "",
                                     "Extensions": list(GROUP), "Phone": phone, "Trunk": TRUNK})
        if kind == "missed":
            add(t0 + ring, uid, "hangup", self._hangup(uid, phone, 0, "0", [""], t0, ring))
            return call
        bridge_id = f"b-{uid}"
        add(t0 + ring, leg, "bridge", {"Channel": f"SIP/{answerer}-0000001e", "ConnectedLineNum": phone,
                                       "ConnectedLineName": f"-{phone}", "UniqueId": leg, "CallerIDName": "",
                                       "CallerIDNum": answerer, "Exten": "", "BridgeUniqueid": bridge_id})
        add(t0 + ring + 0.01, uid, "bridge", {"Channel": f"SIP/{TRUNK}-0000001c", "ConnectedLineNum": answerer,
                                              "ConnectedLineName": answerer, "UniqueId": uid,
                                              "CallerIDName": f"-{phone}", "CallerIDNum": phone, "Exten": "",
                                              "BridgeUniqueid": bridge_id})
        if kind == "transfer":
            # Blind transfer to another group member who does not answer: the consultation leg ends
            # under its own UniqueId (CallType 2), then the call itself (CallType 2, status 0).
            target = next(e for e in GROUP if e != answerer)
            consult = f"{uid}2"
            end = t0 + ring + talk
            add(end - 0.2, consult, "hangup", {**self._hangup(consult, phone, 2, "0", [target], t0, ring + talk),
                                               "StartTime": "", "Trunk": ""})
            add(end, uid, "hangup", self._hangup(uid, phone, 2, "0", [target], t0, ring + talk))
            return call
        add(t0 + ring + talk, uid, "hangup", self._hangup(uid, phone, 0, "2", [answerer], t0, ring + talk))
        return call

    def _hangup(self, uid: str, phone: str, call_type: int, status: str, exts: list[str], t0: float,
                length: float) -> dict[str, Any]:
        return {"CallType": call_type, "EndTime": self._clock(t0 + length), "CallStatus": status,
                "StartTime": self._clock(t0), "UniqueId": uid, "DateReceived": self._clock(t0),
                "Extensions": exts, "Phone": phone, "Trunk": TRUNK}


def pick_kind(rng: random.Random, mix: dict[str, float]) -> str:
    x, acc = rng.random(), 0.0
    for kind, share in mix.items():
        acc += share
        if x < acc:
            return kind
    return next(reversed(mix))


def pick_phone(rng: random.Random, tenant: BenchTenant) -> str:
    return rng.choice(tenant.known if rng.random() < KNOWN_SHARE else tenant.unknown)


def schedule(seed: int, name: str, tenants: Sequence[BenchTenant], steps: Sequence[tuple[float, float]], *,
             wall0: dt.datetime, mix: dict[str, float] | None = None, uid_base: int = 1_760_000_000) -> list[Call]:
    """Calls whose arrivals are a Poisson process with piecewise-constant total rate: ``steps`` is
    ``[(seconds, calls per second), ...]``; each call goes to a tenant chosen uniformly.

    The same (seed, name) always gives the same calls, ids and numbers; ``wall0`` only anchors clocks.
    """
    rng = random.Random(f"{seed}:{name}")
    builder = CallBuilder(rng, wall0)
    calls: list[Call] = []
    t, step_start = 0.0, 0.0
    for seconds, rate in steps:
        end = step_start + seconds
        t = max(t, step_start)
        while rate > 0:
            t += rng.expovariate(rate)
            if t >= end:
                break
            tenant = rng.choice(tenants)
            kind = pick_kind(rng, mix or MIX)
            uid = f"{uid_base + len(calls)}.{rng.randrange(10, 99)}"
            calls.append(builder.build(kind, tenant, uid, pick_phone(rng, tenant), t))
        step_start = end
    return calls


def timeline(calls: Sequence[Call]) -> list[Event]:
    return sorted((e for c in calls for e in c.events), key=lambda e: (e.at, e.call))


def mean_events_per_call(seed: int, mix: dict[str, float] | None = None) -> float:
    """How many dispatched events a call of this mix brings on average (to turn events/s into calls/s)."""
    from bench.seed import BenchTenant as T

    dummy = T(0, "0", "t", "a", "k", "l", "p", {}, ("375290000000",), ("375440000000",))
    calls = schedule(seed, "mean", [dummy], [(2000.0, 1.0)], wall0=dt.datetime.now(dt.timezone.utc), mix=mix)
    return sum(len(c.events) for c in calls) / max(1, len(calls))
