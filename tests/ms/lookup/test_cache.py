"""The shared cache: hits cost no MoySklad request, misses live shorter, a config change invalidates,
a burst makes one request, and a slow MoySklad never makes ``find`` overrun its budget."""

from __future__ import annotations

import threading
import time
from typing import Any

from ms_plugin.lookup.model import LookupResult
from ms_plugin.phones import search_forms
from tests.factories import sql
from tests.ms.lookup.conftest import phone, wait_for


def _ttls(db_url: str) -> dict[str, float]:
    rows = sql(db_url, "SELECT key, extract(epoch FROM expires_at - now()) FROM shared_cache "
                       "WHERE key LIKE 'ms:lookup:%'")
    return {key: float(ttl) for key, ttl in rows}


def _leases_gone(db_url: str) -> bool:
    return not sql(db_url, "SELECT key FROM leases WHERE key LIKE 'ms:lookup:%' AND expires_at > now()")


def test_a_cache_hit_makes_no_moysklad_request(tenant: Any, plugin: Any, lookup: Any) -> None:
    t = plugin.tenants.get(tenant.number)
    first = lookup.find(t, phone("+375291112233"))
    seq = tenant.last_seq()

    again = lookup.find(t, phone("80291112233"))

    assert again.from_cache and again.status == "found"
    assert again.counterparty.id == first.counterparty.id
    assert again.counterparty.owner_name == "Борис"
    assert tenant.json_requests(since=seq) == []


def test_misses_are_cached_shorter_than_hits(tenant: Any, plugin: Any, lookup: Any, db_url: str) -> None:
    t = plugin.tenants.get(tenant.number)
    lookup.find(t, phone("+375291112233"))
    lookup.find(t, phone("+375299999999"))

    ttls = _ttls(db_url)

    hit = ttls[f"ms:lookup:{t.number}:{t.version}:+375291112233"]
    miss = ttls[f"ms:lookup:{t.number}:{t.version}:+375299999999"]
    assert 290 < hit <= 300  # MS_LOOKUP_TTL_HIT_S
    assert 50 < miss <= 60  # MS_LOOKUP_TTL_MISS_S
    seq = tenant.last_seq()
    assert lookup.find(t, phone("+375299999999")).from_cache
    assert tenant.json_requests(since=seq) == []


def test_a_config_change_invalidates_through_the_version_in_the_key(tenant: Any, plugin: Any, lookup: Any) -> None:
    t = plugin.tenants.get(tenant.number)
    lookup.find(t, phone("+375293334455"))
    assert lookup.find(t, phone("+375293334455")).from_cache
    plugin.services.config.merge_section(tenant.number, "ms", {"notifications": {"notify_outgoing": True}})
    seq = tenant.last_seq()

    changed = plugin.tenants.get(tenant.number)
    result = lookup.find(changed, phone("+375293334455"))

    assert changed.version > t.version
    assert result.status == "found" and not result.from_cache
    assert len(tenant.searches(since=seq)) == 1


def test_remember_and_invalidate(tenant: Any, plugin: Any, lookup: Any) -> None:
    t = plugin.tenants.get(tenant.number)
    number = phone("+375299999999")
    assert lookup.find(t, number).status == "not_found"
    created = t.json_api.create_counterparty({"name": "Новый клиент", "phone": number.e164}, "0b7c5e4e-7a55-4d0e-9b0a-1f2e3d4c5b6a")
    seq = tenant.last_seq()

    lookup.remember(t, number, created)
    remembered = lookup.find(t, number)
    assert remembered.from_cache and remembered.counterparty.id == created.id
    assert tenant.json_requests(since=seq) == []

    lookup.invalidate(t.number, number)
    fresh = lookup.find(t, number)
    assert not fresh.from_cache and fresh.counterparty.id == created.id


def test_a_burst_of_lookups_for_one_number_makes_one_search(tenant: Any, plugin: Any, lookup: Any,
                                                            db_url: str) -> None:
    tenant.emu.state.set_knobs(json_latency_ms=300)
    t = plugin.tenants.get(tenant.number)
    number = phone("+375293334455")
    results: list[LookupResult] = []
    start = threading.Barrier(20)

    def one() -> None:
        start.wait()
        results.append(lookup.find(t, number))

    threads = [threading.Thread(target=one) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(results) == 20
    assert {r.status for r in results} == {"found"}
    assert len(tenant.searches()) == 1
    assert sum(1 for r in results if not r.from_cache) == 1


def test_a_burst_for_an_unknown_number_makes_one_round_of_searches(tenant: Any, plugin: Any, lookup: Any) -> None:
    tenant.emu.state.set_knobs(json_latency_ms=100)
    t = plugin.tenants.get(tenant.number)
    number = phone("+375299999999")
    results: list[LookupResult] = []

    threads = [threading.Thread(target=lambda: results.append(lookup.find(t, number))) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert {r.status for r in results} == {"not_found"}
    assert len(tenant.searches()) == len(search_forms(number))


def test_a_slow_moysklad_never_makes_find_overrun_its_budget_and_warms_the_cache(
        tenant: Any, plugin: Any, lookup: Any, db_url: str) -> None:
    tenant.emu.state.set_knobs(json_latency_ms=1500)
    t = plugin.tenants.get(tenant.number)
    number = phone("+375293334455")

    started = time.monotonic()
    late = lookup.find(t, number, budget=0.3)
    elapsed = time.monotonic() - started

    assert late.status == "unavailable" and "timeout" in (late.error or "")
    assert elapsed < 0.8  # one MoySklad answer alone takes 1.5 s
    key = f"ms:lookup:{t.number}:{t.version}:{number.e164}"
    assert wait_for(lambda: key in _ttls(db_url), timeout=10)
    assert wait_for(lambda: _leases_gone(db_url), timeout=10)

    started = time.monotonic()
    warm = lookup.find(t, number, budget=0.3)
    assert time.monotonic() - started < 0.3
    assert warm.status == "found" and warm.from_cache
    assert len(tenant.searches()) == 1


def test_a_follower_answers_within_its_budget_while_another_worker_searches(
        tenant: Any, plugin: Any, lookup: Any, db_url: str) -> None:
    t = plugin.tenants.get(tenant.number)
    number = phone("+375291112233")
    held = plugin.services.leases.acquire(f"ms:lookup:{t.number}:{number.e164}", 30)  # "another worker"
    try:
        started = time.monotonic()
        result = lookup.find(t, number, budget=0.25)
        assert time.monotonic() - started < 0.6
        assert result.status == "unavailable"
        assert tenant.searches() == []
    finally:
        held.release()
    assert lookup.find(t, number, budget=2.0).status == "found"
