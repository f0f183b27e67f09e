"""Backlog drain: MoySklad is down (both APIs answer 503) while calls go on at 100 calls/minute; then it
comes back. Measured: the time from its return until every call of the outage is finalised in MoySklad,
and the 429s MoySklad answered meanwhile (the target is none).

``--full`` runs the real five-minute outage; the default run compresses it to ``OUTAGE_S`` at the same
call rate, and the table says so. The calls go to ``TENANTS`` enterprises (so each account carries
100/TENANTS calls per minute).
"""

from __future__ import annotations

import time
from collections import Counter

from bench.context import Bench
from bench.load import run_open_loop
from bench.measure import by_call, first_accepted
from bench.report import Figure, judged
from bench.traffic import RING_S, TALK_S, schedule, timeline

CALLS_PER_MIN = 100.0
TENANTS = 5
OUTAGE_S = 20.0
CATCH_UP_WAIT_S = 60.0  # default run; --full waits up to 2x the outage
FULL_OUTAGE_S = 300.0


def run(bench: Bench) -> list[Figure]:
    assert bench.emulator is not None
    outage = FULL_OUTAGE_S if bench.opts.full else OUTAGE_S
    tenants = bench.tenants_for(TENANTS, offset=20 if len(bench.tenants) >= 20 + TENANTS else 0)
    last_start = outage - RING_S[1] - TALK_S[1]  # every call of the outage also ends inside it
    calls = schedule(bench.opts.seed, "backlog", tenants, [(last_start, CALLS_PER_MIN / 60.0)], wall0=bench.wall0,
                     uid_base=1_764_000_000)
    bench.parameters["outage_s"] = f"{outage:.0f}" + ("" if bench.opts.full else " (compressed from 300)")
    stats0, seq = bench.ms_stats(), bench.ms_seq()
    bench.emulator.control("POST", "/faults/outage", {"seconds": None})
    started = time.monotonic()
    try:
        samples = run_open_loop(timeline(calls), lambda e: e.at, bench.dispatch)
        time.sleep(max(0.0, outage - (time.monotonic() - started)))
    finally:
        bench.emulator.control("DELETE", "/faults/outage")
    back = time.time()
    wanted = {c.uid for c in calls}
    deadline = time.monotonic() + bench.drain_budget(max(120.0, 2 * outage) if bench.opts.full else CATCH_UP_WAIT_S)
    finals: dict[str, float] = {}
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        before = len(finals)
        for uid, reqs in by_call(bench.ms_requests(seq, api="phone")).items():
            final = first_accepted(reqs, "final")
            if uid in wanted and final is not None:
                finals[uid] = final.time
        if len(finals) == len(wanted):
            break
        if len(finals) > before or bench.jobs_open():
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 5.0:
            break  # nothing left to do and nothing new for 5 s: the rest will never come
        time.sleep(1.0)
    stats1 = bench.ms_stats()
    rejected = stats1["limits"]["total_429"] - stats0["limits"]["total_429"]
    done = len(finals) == len(wanted)
    catch_up = (max(finals.values()) - back) if finals else None
    errors = sum(1 for s in samples if s.status != 202)
    statuses = Counter(str(s.status or "no answer") for s in samples if s.status != 202)
    waited = time.time() - back
    lost = len(wanted) - len(finals)
    idle = not bench.jobs_open()
    if catch_up is not None and (done or idle):
        value = f"caught up {catch_up:.1f} s after MoySklad returned" + (
            f" · {lost} calls never reached MoySklad" if lost else "")
    else:
        value = f"NOT caught up {waited:.0f} s after MoySklad returned: {len(finals)}/{len(wanted)} calls finalised"
    return [Figure(
        "backlog", f"Backlog drain after a {outage:.0f} s outage",
        f"{value} · {len(calls)} calls at {CALLS_PER_MIN:.0f}/min · {rejected} MoySklad 429s",
        "all calls caught up, 0 × 429", judged(done and rejected == 0),
        {"outage_s": outage, "compressed": not bench.opts.full, "calls": len(calls), "finalised": len(finals),
         "catch_up_s": None if catch_up is None else round(catch_up, 1), "ms_429": rejected,
         "dispatch_errors": errors, "tenants": TENANTS,
         "not_finalised": sorted(f"{c.uid} ({c.kind})" for c in calls if c.uid not in finals)[:10]},
        note=(f"outage compressed from 300 s to {outage:.0f} s at the same call rate (--full runs it in real "
              "time); " if not bench.opts.full else "") +
             f"{errors} dispatch errors during the outage {dict(statuses) or ''}; {TENANTS} accounts" +
             (f"; never finalised: {_listed(sorted(f'{c.uid} ({c.kind})' for c in calls if c.uid not in finals))}"
              f" — {_what_service_knows(bench, sorted(wanted - set(finals))[:2])}"
              if len(finals) < len(wanted) else ""))]


def _what_service_knows(bench: Bench, uids: list[str]) -> str:
    """How the service classified these calls and which of their jobs did not finish (for the note)."""
    assert bench.db is not None
    rows = bench.db.sql("SELECT unique_id, kind, state, facts->>'hung_up', done->>'created', "
                        "done->>'followup_after_hangup' FROM ms_calls WHERE unique_id = ANY(%s)", (uids,))
    jobs = bench.db.sql("SELECT kind, state, left(coalesce(last_error, ''), 120) FROM jobs WHERE "
                        "payload->>'unique_id' = ANY(%s) AND state <> 'done'", (uids,))
    return f"ms_calls {rows}; unfinished jobs {jobs}"


def _listed(items: list[str], shown: int = 5) -> str:
    return ", ".join(items[:shown]) + (f" … ({len(items)} in all)" if len(items) > shown else "")
