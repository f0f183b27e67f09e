"""The responsible-manager chain: owner → latest open order's owner → last talked → first ringing → none,
with ``need_extension`` skipping employees without a PBX extension, the rule journaled, routing cached."""

from __future__ import annotations

import itertools
from typing import Any

from ms_emulator.model import Ref
from tests.factories import sql
from tests.ms.lookup.conftest import Tenant, make_tenant, phone

_moments = itertools.count(1)


def add_order(tenant: Tenant, client: str, owner: str, state: str, *, moment: str | None = None) -> str:
    state_id = next(s["id"] for s in tenant.account["states"] if s["name"] == state)
    order = tenant.emu.state.add_entity(tenant.account["name"], "customerorder", {
        "name": f"{next(_moments):05d}", "agent": Ref("counterparty", tenant.counterparty(client)),
        "owner": Ref("employee", tenant.employee(owner)), "state": Ref("state", state_id),
        "moment": moment or "2026-01-01 10:00:00", "applicable": True})
    return str(order["id"])


def add_answered_call(tenant: Tenant, e164: str, employee: str, unique_id: str, age_minutes: int = 5) -> None:
    sql(tenant.db_url,
        "INSERT INTO ms_calls (enterprise_number, unique_id, kind, direction, phone, answered_employee, state, "
        "created_at) VALUES (%s, %s, 'call', 'in', %s, %s, 'finished', now() - make_interval(mins => %s))",
        (tenant.number, unique_id, e164, tenant.employee(employee), age_minutes))


def responsible(lookup: Any, plugin: Any, tenant: Tenant, caller: str, **kw: Any) -> Any:
    kw.setdefault("need_extension", True)
    return lookup.responsible(plugin.tenants.get(tenant.number), phone(caller), **kw)


def test_the_clients_owner_mapped_to_an_extension_wins(tenant: Tenant, plugin: Any, lookup: Any) -> None:
    add_order(tenant, "ООО «Ромашка»", "Вера", "Новый")

    answer = responsible(lookup, plugin, tenant, "+375291112233")

    assert (answer.employee_id, answer.extension, answer.rule) == (tenant.employee("Борис"), "151", "owner")


def test_an_unmapped_owner_falls_to_the_latest_open_orders_owner(tenant: Tenant, plugin: Any, lookup: Any) -> None:
    add_order(tenant, "Минский клиент", "Анна", "Новый", moment="2026-01-01 10:00:00")
    add_order(tenant, "Минский клиент", "Вера", "Подтвержден", moment="2026-02-01 10:00:00")
    add_order(tenant, "Минский клиент", "Борис", "Доставлен", moment="2026-03-01 10:00:00")  # final
    add_order(tenant, "Минский клиент", "Борис", "Отменен", moment="2026-03-02 10:00:00")  # final

    answer = responsible(lookup, plugin, tenant, "+375172223344")

    assert (answer.employee_id, answer.extension, answer.rule) == (tenant.employee("Вера"), "152", "open_order")


def test_only_final_orders_fall_to_the_last_employee_who_talked(tenant: Tenant, plugin: Any, lookup: Any) -> None:
    add_order(tenant, "Минский клиент", "Вера", "Возврат")
    add_answered_call(tenant, "+375172223344", "Борис", "1700000000.1", age_minutes=60)
    add_answered_call(tenant, "+375172223344", "Анна", "1700000000.2", age_minutes=5)

    answer = responsible(lookup, plugin, tenant, "80172223344")
    excluded = responsible(lookup, plugin, tenant, "80172223344", exclude_call="1700000000.2")

    assert (answer.employee_id, answer.extension, answer.rule) == (tenant.employee("Анна"), "150", "last_talked")
    assert (excluded.employee_id, excluded.rule) == (tenant.employee("Борис"), "last_talked")


def test_an_unknown_number_falls_to_the_first_mapped_ringing_extension(tenant: Tenant, plugin: Any,
                                                                       lookup: Any) -> None:
    answer = responsible(lookup, plugin, tenant, "+375299999999", ringing=["999", "152", "150"])

    assert (answer.employee_id, answer.extension, answer.rule) == (tenant.employee("Вера"), "152", "first_ringing")


def test_nothing_known_is_none(tenant: Tenant, plugin: Any, lookup: Any) -> None:
    answer = responsible(lookup, plugin, tenant, "+375299999999", ringing=["999"])

    assert (answer.employee_id, answer.extension, answer.rule) == (None, None, "none")


def test_routing_skips_an_employee_without_an_extension_tasks_do_not(tenant: Tenant, plugin: Any,
                                                                     lookup: Any) -> None:
    # ЗАО «Вектор» belongs to Глеб, who has no extension; his open order is the next rule.
    add_order(tenant, "ЗАО «Вектор»", "Глеб без добавочного", "Новый")
    add_answered_call(tenant, "+74953312233", "Вера", "1700000000.3")

    routing = responsible(lookup, plugin, tenant, "+74953312233", need_extension=True)
    task = responsible(lookup, plugin, tenant, "+74953312233", need_extension=False)

    assert (routing.employee_id, routing.extension, routing.rule) == (tenant.employee("Вера"), "152", "last_talked")
    assert (task.employee_id, task.extension, task.rule) == (tenant.employee("Глеб без добавочного"), None,
                                                             "open_order")


def test_the_admins_explicit_mapping_counts(tenant: Tenant, plugin: Any, lookup: Any) -> None:
    plugin.services.config.merge_section(tenant.number, "ms", {"employee_mapping": {
        "160": tenant.employee("Глеб без добавочного")}}, replace=[["employee_mapping"]])

    answer = responsible(lookup, plugin, tenant, "+74953312233")

    assert (answer.employee_id, answer.extension, answer.rule) == (tenant.employee("Глеб без добавочного"), "160",
                                                                   "owner")


def test_an_ambiguous_number_uses_an_owner_all_candidates_share(db_url: str, emulator: Any, app: Any, plugin: Any,
                                                                lookup: Any) -> None:
    tenant = make_tenant(db_url, emulator, app, counterparties=[
        {"name": "Дубль 1", "phone": "+375291234567", "owner": "151"},
        {"name": "Дубль 2", "phone": "80291234567", "owner": "151"},
        {"name": "Другой", "phone": "+375297654321", "owner": "151"},
        {"name": "Другой 2", "phone": "+375297654321", "owner": "152"},
    ])

    shared = responsible(lookup, plugin, tenant, "+375291234567")
    split = responsible(lookup, plugin, tenant, "+375297654321", ringing=["150"])

    assert (shared.extension, shared.rule) == ("151", "owner")
    assert (split.extension, split.rule) == ("150", "first_ringing")


def test_the_rule_that_fired_is_journaled(tenant: Tenant, plugin: Any, lookup: Any, db_url: str) -> None:
    responsible(lookup, plugin, tenant, "+375291112233")

    rows = sql(db_url, "SELECT status, phone, response_data FROM integration_logs "
                       "WHERE event_type = 'lookup.responsible'")
    assert len(rows) == 1
    status, e164, response = rows[0]
    assert (status, e164, response["rule"], response["extension"]) == ("success", "+375291112233", "owner", "151")


def test_the_routing_answer_is_cached_so_the_warm_path_costs_no_request(tenant: Tenant, plugin: Any,
                                                                        lookup: Any) -> None:
    add_order(tenant, "Минский клиент", "Вера", "Новый")
    first = lookup.responsible_for(tenant.number, "+375172223344")
    seq = tenant.last_seq()

    again = lookup.responsible_for(tenant.number, "+375172223344")

    assert (first.extension, first.manager_id, first.rule) == ("152", tenant.employee("Вера"), "open_order")
    assert again == first
    assert tenant.json_requests(since=seq) == []


def test_an_owner_change_invalidates_the_routing_answer(tenant: Tenant, plugin: Any, lookup: Any) -> None:
    t = plugin.tenants.get(tenant.number)
    number = phone("+375291112233")
    assert lookup.responsible_for(tenant.number, number.e164).extension == "151"
    t.json_api.update_counterparty(tenant.counterparty("ООО «Ромашка»"),
                                   {"owner": t.json_api.ref("employee", tenant.employee("Анна"))})

    lookup.invalidate(tenant.number, number)

    assert lookup.responsible_for(tenant.number, number.e164).extension == "150"


def test_moysklad_down_still_answers_from_our_own_calls_but_does_not_cache(tenant: Tenant, plugin: Any,
                                                                           lookup: Any, db_url: str) -> None:
    add_answered_call(tenant, "+375291112233", "Анна", "1700000000.4")
    plugin.directory.get(plugin.tenants.get(tenant.number))  # employees known from before the outage
    tenant.emu.state.set_outage(None, "json")

    answer = lookup.responsible_for(tenant.number, "+375291112233")

    assert (answer.extension, answer.rule) == ("150", "last_talked")
    assert sql(db_url, "SELECT count(*) FROM shared_cache WHERE key LIKE 'ms:responsible:%'") == [(0,)]
    tenant.emu.state.clear_outage()
    assert lookup.responsible_for(tenant.number, "+375291112233").rule == "owner"
