"""Lookups: customer name, responsible extension and ``getcustomerdata``, cold and warm.

Per phase: 1,000 lookups of 50 numbers (5 known clients of each of 10 tenants) at 200 requests/s, open
loop. The 50 cold ones go first (each number once, after the lookup caches were emptied); the 950 warm
ones start when the cold ones have answered, so a warm lookup is a cache hit and never waits for a cold
one in flight. The last phase repeats ``getcustomerdata`` with MoySklad at 100 ms (the Smart Redirect
issue) and counts the MoySklad requests: at most one per number per cache TTL is the target.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from bench.context import Bench
from bench.load import run_open_loop
from bench.measure import p50_p99, summary
from bench.report import Figure, judged
from bench.seed import TRUNK, BenchTenant

RATE = 200.0
NUMBERS_PER_TENANT = 5
TENANTS = 10
WARM_TARGET_MS = 10.0
BUDGET_MS = 1500.0  # HOST_LOOKUP_BUDGET_MS, getcustomerdata's default budget
Probe = tuple[BenchTenant, str]


def _requester(bench: Bench, route: str) -> Callable[[Probe], tuple[int, bytes]]:
    assert bench.http is not None
    http = bench.http

    def send(probe: Probe) -> tuple[int, bytes]:
        tenant, phone = probe
        if route == "name":
            return http.get(f"/customer-name/{tenant.number}/{phone}")
        if route == "responsible":
            return http.get(f"/responsible-extension/{tenant.number}/{phone}")
        return http.post_json("/api/callevent/getcustomerdata",
                              {"UniqueId": f"gcd-{phone}", "Phone": phone, "TrunkId": TRUNK, "LoadDialPlan": "true"},
                              {"Token": tenant.token})

    return send


def _answered(route: str, body: bytes) -> bool:
    """Whether the reply carries what a known client should give (a name, an extension)."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return False
    if route == "name":
        return bool(data.get("name"))
    if route == "responsible":
        return bool(data.get("extension"))
    return "Клиент" in str(data.get("Name")) and bool(data.get("DialPlan"))


def phase(bench: Bench, route: str, probes: list[Probe], rng: random.Random) -> dict[str, Any]:
    bench.sql("DELETE FROM shared_cache WHERE key LIKE 'ms:lookup:%%' OR key LIKE 'ms:responsible:%%'")
    send = _requester(bench, route)
    seq = bench.ms_seq()
    cold_order = rng.sample(probes, len(probes))
    warm_order = [rng.choice(probes) for _ in range(1000 - len(probes))]
    cold = run_open_loop(list(range(len(cold_order))), lambda i: i / RATE, lambda i: send(cold_order[i]))
    warm = run_open_loop(list(range(len(warm_order))), lambda i: i / RATE, lambda i: send(warm_order[i]))
    requests = bench.ms_requests(seq)
    everything = [s.body for s in cold] + [s.body for s in warm]
    return {"route": route, "cold": summary([s.latency_ms for s in cold]), "warm": summary([s.latency_ms for s in warm]),
            "errors": sum(1 for s in [*cold, *warm] if s.status != 200),
            "error_samples": sorted({f"{s.status} {s.body[:120]!r}" for s in [*cold, *warm] if s.status != 200})[:3],
            "answered": sum(1 for body in everything if _answered(route, body)), "lookups": len(everything),
            "ms_requests": len(requests), "ms_requests_per_number": round(len(requests) / len(probes), 2)}


def run(bench: Bench) -> list[Figure]:
    tenants = bench.tenants_for(TENANTS, offset=TENANTS if len(bench.tenants) >= 2 * TENANTS else 0)
    probes = [(t, n) for t in tenants for n in t.known[-NUMBERS_PER_TENANT:]]
    rng = random.Random(f"{bench.opts.seed}:lookups")
    figures = []
    titles = {"name": "Lookup: customer name", "responsible": "Lookup: responsible extension",
              "getcustomerdata": "Lookup: getcustomerdata"}
    for route in ("name", "responsible", "getcustomerdata"):
        figures.append(_figure(f"lookup:{route}", titles[route], phase(bench, route, probes, rng), bench))
    bench.knobs(phone_latency_ms=100.0, json_latency_ms=100.0)
    try:
        slow = phase(bench, "getcustomerdata", probes, rng)
    finally:
        bench.knobs(phone_latency_ms=bench.opts.latency_ms, json_latency_ms=bench.opts.latency_ms)
    fig = _figure("lookup:getcustomerdata@100ms", "getcustomerdata, MoySklad at 100 ms", slow, bench)
    per_number_ok = slow["ms_requests_per_number"] <= 1.0
    fig.value += f" · {slow['ms_requests']} MoySklad requests for 1,000 lookups of 50 numbers"
    fig.target += " · ≤ 1 MoySklad request per number per TTL"
    fig.status = judged(fig.status == "pass" and per_number_ok)
    figures.append(fig)
    return figures


def _figure(fid: str, title: str, r: dict[str, Any], bench: Bench) -> Figure:
    cold, warm = r["cold"], r["warm"]
    ok = (warm["p99_ms"] is not None and warm["p99_ms"] < WARM_TARGET_MS and cold["p99_ms"] is not None
          and cold["p99_ms"] < BUDGET_MS and r["errors"] == 0)
    return Figure(fid, title, f"cold {p50_p99(cold)}; warm {p50_p99(warm)}",
                  f"warm p99 < {WARM_TARGET_MS:.0f} ms at {RATE:.0f}/s; cold p99 < {BUDGET_MS:.0f} ms", judged(ok), r,
                  note=f"{r['answered']}/{r['lookups']} answers carried the client's data; {r['errors']} errors; "
                       f"{r['ms_requests']} MoySklad requests ({r['ms_requests_per_number']} per number)")
