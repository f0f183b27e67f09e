"""MoySklad requests per call by kind, against the minimum the Phone API allows, and the resulting
ceiling of calls per minute per MoySklad account.

Each kind runs on its own tenant (its own MoySklad account), so every JSON API request in the emulator's
log can be attributed to its kind by account; Phone API requests carry the call's ``externalId``. Every
caller is a different number, so each call pays its own client lookup (a repeat caller within the
lookup TTL costs no JSON API request at all).

The Phone API minimum per kind, with cards ``during`` the call (the default):
* incoming answered by one of a ring group of 3: ``POST /call`` carrying the three SHOWs; one ``PUT``
  carrying STARTTIME to the answerer and HIDE to the other two; one ``PUT`` carrying HIDE_ALL with the
  end fields = **3**;
* missed: the create with the SHOWs, one ``PUT`` with HIDE_ALL and the end fields = **2**;
* outgoing (no card for outgoing calls by default): one ``POST /call`` with everything at hangup = **1**.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from typing import Any

from bench.context import Bench
from bench.load import run_open_loop
from bench.measure import by_call
from bench.report import Figure, judged
from bench.traffic import CallBuilder, timeline

KINDS: dict[str, tuple[str, bool, int, int]] = {
    # kind -> (builder kind, known caller?, Phone API minimum, JSON API minimum)
    "incoming answered (group of 3)": ("in_answered", True, 3, 1),
    "missed": ("missed", True, 2, 1),
    "outgoing": ("outgoing", True, 1, 1),
    "incoming answered, new client": ("in_answered", False, 3, 3),
}
TENANTS_NEEDED = len(KINDS)


def ceiling_per_minute(phone_per_call: float, json_per_call: float, settings: dict[str, Any]) -> int:
    """Calls per minute one account sustains under both limits, as the client budgets them."""
    phone_per_min = settings["phone_capacity"] * 60.0 / settings["phone_window"]
    json_per_min = settings["json_capacity"] / settings["json_weight"] * 60.0 / settings["json_window"]
    limits = [phone_per_min / phone_per_call if phone_per_call else float("inf"),
              json_per_min / json_per_call if json_per_call else float("inf")]
    return int(min(limits))


def client_limits() -> dict[str, Any]:
    from bench.context import emulator_knobs
    from ms_plugin.moysklad.settings import MsClientSettings

    s = MsClientSettings()
    return {"phone_capacity": s.phone_capacity, "phone_window": s.phone_rate_window,
            "json_capacity": s.json_capacity, "json_window": s.json_window,
            "json_weight": emulator_knobs()["json_weight_basic"]}


def run(bench: Bench) -> list[Figure]:
    calls_per_kind = 30 if bench.opts.full else 10
    tenants = bench.tenants_for(len(KINDS))
    rng = random.Random(f"{bench.opts.seed}:requests-per-call")
    builder = CallBuilder(rng, bench.wall0)
    calls, kind_of_account = [], {}
    for k, (label, (build_kind, known, _, _)) in enumerate(KINDS.items()):
        tenant = tenants[k]
        kind_of_account[tenant.account] = label
        numbers = tenant.known if known else tenant.unknown
        for i in range(calls_per_kind):
            uid = f"{1_750_000_000 + k * 1000 + i}.{rng.randrange(10, 99)}"
            calls.append((label, builder.build(build_kind, tenant, uid, numbers[i % len(numbers)], i * 1.0)))
    label_of_call = {c.uid: label for label, c in calls}
    seq, stats0 = bench.ms_seq(), bench.ms_stats()
    samples = run_open_loop(timeline([c for _, c in calls]), lambda e: e.at, bench.dispatch)
    bad = [s for s in samples if s.status != 202]
    bench.wait_idle(bench.drain_budget(60.0), "requests per call")
    time.sleep(0.5)  # the last answers of MoySklad are logged after our job has finished
    requests = bench.ms_requests(seq)
    stats1 = bench.ms_stats()

    phone = defaultdict(list)
    for uid, reqs in by_call(r for r in requests if r.api == "phone").items():
        if uid in label_of_call:
            phone[label_of_call[uid]].append(len(reqs))
    json_by_kind = Counter(kind_of_account.get(r.account or "", "?") for r in requests if r.api == "json")
    endpoints = Counter(f"{r.api} {r.endpoint}" for r in requests)
    limits = client_limits()
    figures = []
    for label, (_, _, phone_min, json_min) in KINDS.items():
        counts = phone[label]
        per_call = sum(counts) / calls_per_kind
        json_per_call = json_by_kind.get(label, 0) / calls_per_kind
        missing = calls_per_kind - len(counts)
        ceiling = ceiling_per_minute(per_call, json_per_call, limits)
        ok = missing == 0 and per_call <= phone_min + 1
        figures.append(Figure(
            f"requests-per-call:{label}", f"MoySklad requests per call: {label}",
            f"Phone API {per_call:.2f} (min {phone_min}) · JSON API {json_per_call:.2f} (min {json_min}) · "
            f"ceiling {ceiling} calls/min per account",
            f"Phone ≤ min + 1 ({phone_min + 1})", judged(ok),
            {"calls": calls_per_kind, "phone_per_call": round(per_call, 3), "phone_min": phone_min,
             "phone_max_per_call": max(counts) if counts else None, "json_per_call": round(json_per_call, 3),
             "json_min": json_min, "calls_without_requests": missing, "ceiling_calls_per_min": ceiling}))
    rejected = stats1["limits"]["total_429"] - stats0["limits"]["total_429"]
    figures[-1].note = (f"{len(bad)} dispatch errors; {rejected} MoySklad 429s; ceiling = min(Phone "
                        f"{limits['phone_capacity']}/{limits['phone_window']:g}s, JSON {limits['json_capacity']} units/"
                        f"{limits['json_window']:g}s at weight {limits['json_weight']}) ÷ requests per call; "
                        "requests seen: " + ", ".join(f"{k} ×{v}" for k, v in sorted(endpoints.items())))
    return figures
