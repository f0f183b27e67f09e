"""Smart Redirect through the host (``POST /api/callevent/getcustomerdata``) with ms as the primary."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.factories import sql
from tests.ms.lookup.conftest import Tenant, make_tenant, wait_for

TRUNK = "0001363"


def smart_tenant(db_url: str, emulator: Any, app: Any, *, number: str = "100", budget_ms: int = 1500,
                 **kw: Any) -> Tenant:
    tenant = make_tenant(db_url, emulator, app, number=number, **kw)
    smart = {"primary": "ms", "mode": "routing+name", "budget_ms": budget_ms, "name_parts": ["customer"],
             "dialplan_template": "mngr{extension}_{trunk}_1",
             "lines": {TRUNK: {"name": "Линия 1", "shop": "Магазин", "enabled": True}}}
    sql(db_url, "UPDATE enterprises SET integrations_config = integrations_config || jsonb_build_object("
                "'smart', %s::jsonb) WHERE number = %s", (json.dumps(smart), number))
    return tenant


def ask(client: Any, tenant: Tenant, phone: str, *, load_dialplan: str = "true") -> Any:
    return client.post("/api/callevent/getcustomerdata", headers={"Token": tenant.token},
                       json={"UniqueId": "1700000000.9", "Phone": phone, "TrunkId": TRUNK,
                             "LoadDialPlan": load_dialplan})


def test_a_known_client_gets_its_name_and_its_managers_dialplan(db_url: str, emulator: Any, app: Any,
                                                                client: Any) -> None:
    tenant = smart_tenant(db_url, emulator, app)

    reply = ask(client, tenant, "375291112233")

    assert reply.status_code == 200
    assert reply.data.decode() == '{"Name":"ООО «Ромашка»","DialPlan":"mngr151_0001363_1"}'


def test_a_contact_person_is_named_company_and_person(db_url: str, emulator: Any, app: Any, client: Any) -> None:
    tenant = smart_tenant(db_url, emulator, app)

    reply = ask(client, tenant, "80296667788", load_dialplan="false")

    assert reply.get_json() == {"Name": "ЗАО «Вектор» (Пётр Орлов)", "DialPlan": None}


def test_an_unknown_caller_gets_an_empty_answer(db_url: str, emulator: Any, app: Any, client: Any) -> None:
    tenant = smart_tenant(db_url, emulator, app)

    reply = ask(client, tenant, "+375299999999")

    assert reply.data.decode() == '{"Name":"","DialPlan":null}'


def test_the_warm_path_costs_no_moysklad_request(db_url: str, emulator: Any, app: Any, client: Any) -> None:
    tenant = smart_tenant(db_url, emulator, app)
    ask(client, tenant, "375291112233")
    seq = tenant.last_seq()

    started = time.monotonic()
    reply = ask(client, tenant, "+375 29 111-22-33")

    assert reply.get_json() == {"Name": "ООО «Ромашка»", "DialPlan": "mngr151_0001363_1"}
    assert tenant.json_requests(since=seq) == []
    assert time.monotonic() - started < 0.5


def test_a_slow_moysklad_answers_within_the_budget_and_the_next_call_hits_the_cache(
        db_url: str, emulator: Any, app: Any, client: Any) -> None:
    tenant = smart_tenant(db_url, emulator, app, budget_ms=300)
    emulator.state.set_knobs(json_latency_ms=1500)

    started = time.monotonic()
    cold = ask(client, tenant, "375293334455")
    assert time.monotonic() - started < 1.0  # budget 300 ms; one MoySklad answer alone takes 1.5 s
    assert cold.status_code == 200 and cold.get_json()["Name"] == ""

    assert wait_for(lambda: sql(db_url, "SELECT 1 FROM shared_cache WHERE key LIKE 'ms:responsible:%'"), timeout=15)
    assert wait_for(lambda: not sql(db_url, "SELECT 1 FROM leases WHERE key LIKE 'ms:%' AND expires_at > now()"),
                    timeout=15)
    warm = ask(client, tenant, "375293334455")
    assert warm.get_json() == {"Name": "ИП Козлов", "DialPlan": "mngr150_0001363_1"}


def test_another_enterprises_clients_are_never_named(db_url: str, emulator: Any, app: Any, client: Any) -> None:
    smart_tenant(db_url, emulator, app, number="100")
    other = smart_tenant(db_url, emulator, app, number="200", counterparties=[])

    reply = ask(client, other, "375291112233")

    assert reply.data.decode() == '{"Name":"","DialPlan":null}'


def test_the_contract_methods_warm_path_is_two_cheap_queries(db_url: str, emulator: Any, app: Any,
                                                            plugin: Any, monkeypatch: Any) -> None:
    tenant = smart_tenant(db_url, emulator, app)
    lookup = plugin.lookup
    assert lookup.customer_name_for(tenant.number, "+375291112233") == "ООО «Ромашка»"
    assert lookup.responsible_for(tenant.number, "+375291112233").extension == "151"
    db = plugin.services.db
    opened: list[int] = []
    original = db.connection

    def counting() -> Any:
        opened.append(1)
        return original()

    monkeypatch.setattr(db, "connection", counting)
    seq = tenant.last_seq()

    # The cache row, plus the enterprise row when the worker's copy of the tenant is a few seconds old.
    assert lookup.customer_name_for(tenant.number, "+375291112233") == "ООО «Ромашка»"
    first = len(opened)
    assert first <= 2
    assert lookup.responsible_for(tenant.number, "+375291112233").extension == "151"
    assert len(opened) - first <= 2
    assert tenant.json_requests(since=seq) == []
