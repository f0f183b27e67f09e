"""Card latency (the dial sent → the SHOW received by MoySklad) and hangup → call finalised in MoySklad,
at 100 calls per minute per enterprise across 50 enterprises.

A card's moment is the arrival (request-log time) of the first accepted request carrying a SHOW for
the call: the ``POST /call`` that creates it with its cards, or a later ``PUT``. A call is finalised by
the first accepted request carrying ``endTime``. Calls starting in the first ``SETTLE_S`` seconds are
not measured (the load is still ramping up). A call with no card or no finalisation by the end of the
drain counts as missing and is reported.

Before the target load, the same traffic runs at 5 calls per minute per enterprise: the path's own
latency when the service keeps up, which tells a slow path from a saturated machine.
"""

from __future__ import annotations

from typing import Any

from bench.context import Bench
from bench.load import run_open_loop
from bench.measure import by_call, first_accepted, fmt_ms, p50_p99, summary
from bench.report import Figure, judged
from bench.sysinfo import cpu_text
from bench.traffic import Call, schedule, timeline

CALLS_PER_MIN_PER_ENTERPRISE = 100.0
LIGHT_CALLS_PER_MIN_PER_ENTERPRISE = 5.0
ENTERPRISES = 50
TARGET_CARD_P99_MS = 150.0
SETTLE_S = 4.0  # calls starting earlier meet a service that is not yet at the full rate
INCOMING = ("in_answered", "missed", "transfer")


def measure(bench: Bench, per_min: float, seconds: float, name: str, uid_base: int, drain: float) -> dict[str, Any]:
    tenants = bench.tenants_for(ENTERPRISES)
    rate = per_min * ENTERPRISES / 60.0
    calls = schedule(bench.opts.seed, name, tenants, [(seconds, rate)], wall0=bench.wall0, uid_base=uid_base)
    seq = bench.ms_seq()
    meter = bench.cpu_meter().start()
    samples = run_open_loop(timeline(calls), lambda e: e.at, bench.dispatch)
    drained, left = bench.wait_idle(bench.drain_budget(drain), f"cards figure ({name})")
    cpu = meter.stop()
    sent = {(s.item.call, s.item.unique_id, s.item.event_type): s.sent_wall for s in samples}
    requests = by_call(bench.ms_requests(seq, api="phone"))
    card_ms, final_ms, missing_card, missing_final, measured = _latencies(calls, requests, sent)
    # Split by caller: a new number makes the call create a client, which shows in the card's latency.
    known = [c for c in calls if c.phone in c.tenant.known]
    new = [c for c in calls if c.phone not in c.tenant.known]
    return {"cards": summary(card_ms), "finals": summary(final_ms), "missing_card": missing_card,
            "cards_known_caller": summary(_latencies(known, requests, sent)[0]),
            "cards_new_caller": summary(_latencies(new, requests, sent)[0]),
            "missing_final": missing_final, "calls": len(calls), "measured_calls": measured,
            "calls_per_s": round(rate, 2), "seconds": seconds, "drain_s": round(drained, 1), "jobs_left": left,
            "dispatch_errors": sum(1 for s in samples if s.status != 202), "cpu": cpu}


def _latencies(calls: list[Call], requests: dict[str, Any], sent: dict[tuple[str, str, str], float]
               ) -> tuple[list[float], list[float], int, int, int]:
    card_ms: list[float] = []
    final_ms: list[float] = []
    missing_card = missing_final = measured = 0
    for call in calls:
        if call.start < SETTLE_S:
            continue
        measured += 1
        reqs = requests.get(call.uid, [])
        if call.kind in INCOMING:
            show, dial = first_accepted(reqs, "show"), sent.get((call.uid, call.uid, "dial"))
            if show is None or dial is None:
                missing_card += 1
            else:
                card_ms.append((show.time - dial) * 1000.0)
        final, hangup = first_accepted(reqs, "final"), sent.get((call.uid, call.uid, "hangup"))
        if final is None or hangup is None:
            missing_final += 1
        else:
            final_ms.append((final.time - hangup) * 1000.0)
    return card_ms, final_ms, missing_card, missing_final, measured


def run(bench: Bench) -> list[Figure]:
    full = bench.opts.full
    light = measure(bench, LIGHT_CALLS_PER_MIN_PER_ENTERPRISE, 30.0 if full else 10.0, "cards-light",
                    1_763_500_000, 10.0)
    r = measure(bench, CALLS_PER_MIN_PER_ENTERPRISE, 120.0 if full else 20.0, "cards", 1_763_000_000,
                300.0 if full else 30.0)
    bench.parameters["cards_calls_per_min"] = f"{CALLS_PER_MIN_PER_ENTERPRISE:.0f}x{ENTERPRISES}"
    cards, finals = r["cards"], r["finals"]
    backlog = (f"drained {r['drain_s']:.0f} s after the last event" if not r["jobs_left"]
               else f"{r['jobs_left']} jobs still open {r['drain_s']:.0f} s after the last event (cancelled)")
    card_ok = cards["p99_ms"] is not None and cards["p99_ms"] < TARGET_CARD_P99_MS and r["missing_card"] == 0
    return [
        Figure("card-latency", "Card latency (dial → SHOW at MoySklad)",
               f"{p50_p99(cards)} · {r['missing_card']} incoming calls without a card",
               f"p99 < {TARGET_CARD_P99_MS:.0f} ms at {CALLS_PER_MIN_PER_ENTERPRISE:.0f} calls/min × {ENTERPRISES}",
               judged(card_ok), {**cards, "missing": r["missing_card"], **_common(r)},
               note=f"{r['calls']} calls in {r['seconds']:.0f} s ({r['calls_per_s']:.0f} calls/s), "
                    f"{r['dispatch_errors']} dispatch errors, {backlog}; {cpu_text(r['cpu'])}"),
        Figure("hangup-finalised", "Hangup → call finalised at MoySklad",
               f"{p50_p99(finals)} · {r['missing_final']} calls not finalised" +
               (f" · max {fmt_ms(finals['max_ms'])}" if finals["max_ms"] is not None else ""),
               "", "info", {**finals, "missing": r["missing_final"], **_common(r)}),
        Figure("cards-light", f"Same, at {LIGHT_CALLS_PER_MIN_PER_ENTERPRISE:.0f} calls/min × {ENTERPRISES} "
                              "(the service keeps up)",
               f"card {p50_p99(light['cards'])}; finalised {p50_p99(light['finals'])}",
               "", "info", {"cards": light["cards"], "finals": light["finals"], **_common(light),
                            "cards_known_caller": light["cards_known_caller"],
                            "cards_new_caller": light["cards_new_caller"],
                            "missing_card": light["missing_card"], "missing_final": light["missing_final"]},
               note=f"{light['calls']} calls at {light['calls_per_s']:.1f} calls/s; card for a known caller "
                    f"{p50_p99(light['cards_known_caller'])}, for a new number {p50_p99(light['cards_new_caller'])}; "
                    f"{cpu_text(light['cpu'])}"),
    ]


def _common(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in ("calls", "measured_calls", "calls_per_s", "seconds", "drain_s", "jobs_left",
                              "dispatch_errors", "cpu")}
