"""``POST /api/callevent/getcustomerdata``: the dialplan's exact bytes, the budget, isolation, journal."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.conftest import ADMIN_TOKEN
from tests.factories import make_enterprise, sql
from tests.plugins.echo import EchoIntegration

LINES = {"0001363": {"name": "Главная", "shop": "Цветы", "enabled": True}}
ROUTED = {"mode": "routing+name", "lines": LINES}


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"HOST_INTEGRATIONS": "tests.plugins.echo:plugin"}


def enterprise(db_url: str, number: str = "100", *, echo: dict[str, Any] | None = None,
               smart: dict[str, Any] | None = None, **kwargs: Any) -> None:
    config: dict[str, Any] = {}
    if echo is not None:
        config["echo"] = {"enabled": True, **echo}
    if smart is not None:
        config["smart"] = smart
    make_enterprise(db_url, number, token=f"T{number}", integrations_config=config, **kwargs)


def ask(client: Any, token: str = "T100", *, phone: str = "+375291234567", trunk: str = "0001363",
        load: Any = "true") -> Any:
    resp = client.post("/api/callevent/getcustomerdata", headers={"Token": token},
                       json={"UniqueId": "1700000000.1", "Phone": phone, "TrunkId": trunk, "LoadDialPlan": load})
    resp.close()  # as the WSGI server does once the reply is sent: the journal row is written then
    return resp


def reply(name: str, dialplan: str | None) -> bytes:
    tail = "null" if dialplan is None else f'"{dialplan}"'
    return ('{"Name":"' + name + '","DialPlan":' + tail + "}").encode("utf-8")


@pytest.fixture
def calls(echo_plugin: Any, monkeypatch: Any) -> list[tuple[str, str, str]]:
    """Every lookup the echo plugin is asked, as (kind, enterprise, phone)."""
    seen: list[tuple[str, str, str]] = []

    def customer_name(ent: str, phone: str) -> Any:
        seen.append(("name", ent, phone))
        return EchoIntegration.customer_name(echo_plugin, ent, phone)

    def responsible_extension(ent: str, phone: str) -> Any:
        seen.append(("responsible", ent, phone))
        return EchoIntegration.responsible_extension(echo_plugin, ent, phone)

    monkeypatch.setattr(echo_plugin, "customer_name", customer_name)
    monkeypatch.setattr(echo_plugin, "responsible_extension", responsible_extension)
    return seen


# ------------------------------------------------------------------------------------ exact bytes


def test_routed_reply_is_compact_json_name_first_in_raw_utf8(client, db_url, calls):
    enterprise(db_url, echo={"name": "Иван Петров", "extension": "151"}, smart=ROUTED)
    resp = ask(client, phone="80291234567")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert resp.data == reply("Главная | Цветы | Иван Петров", "mngr151_0001363_1")
    assert sorted(calls) == [("name", "100", "+375291234567"), ("responsible", "100", "+375291234567")]


@pytest.mark.parametrize("smart, load, trunk", [
    ({"mode": "name-only", "lines": LINES}, "true", "0001363"),
    (ROUTED, "false", "0001363"),
    (ROUTED, True, "0009999"),  # a trunk without a line: no routing (and no line name)
    ({"lines": {"0001363": {**LINES["0001363"], "enabled": False}}}, "true", "0001363"),
])
def test_dialplan_is_null_unless_routing_is_on_for_the_line_and_asked(client, db_url, calls, smart, load, trunk):
    enterprise(db_url, echo={"name": "Иван", "extension": "151"}, smart=smart)
    expected_name = "Главная | Цветы | Иван" if trunk == "0001363" else "Иван"
    assert ask(client, load=load, trunk=trunk).data == reply(expected_name, None)
    assert all(kind == "name" for kind, _e, _p in calls)  # the manager is not even looked up


def test_dialplan_is_null_when_no_responsible_extension_is_found(client, db_url):
    enterprise(db_url, echo={"name": "Иван"}, smart=ROUTED)
    assert ask(client).data == reply("Главная | Цветы | Иван", None)


def test_name_loses_quotes_backslashes_and_control_characters(client, db_url):
    name = 'ООО "Ромашка" \\ Tab\tNew\nLine\x07\u202e'
    enterprise(db_url, echo={"name": name}, smart={"name_parts": ["customer"]})
    assert ask(client).data == reply("ООО Ромашка Tab New Line", None)


@pytest.mark.parametrize("line_name, customer, expected", [
    ("Главная линия", "Индивидуальный предприниматель Иванов Иван", "Главная линия | Индивидуальный предприни"),
    ("Л" * 38, "Иван", "Л" * 38),  # the cut would end on " |": the dangling separator goes
])
def test_name_is_cut_to_40_characters(client, db_url, line_name, customer, expected):
    enterprise(db_url, echo={"name": customer},
               smart={"name_parts": ["line", "customer"], "lines": {"0001363": {"name": line_name}}})
    body = ask(client).data
    assert body == reply(expected, None) and len(expected) <= 40


def test_unknown_name_is_an_empty_string_under_30_bytes(client, db_url):
    enterprise(db_url, smart=ROUTED)  # no integration at all: only line and shop are known
    assert ask(client).data == reply("Главная | Цветы", None)
    assert ask(client, trunk="other").data == b'{"Name":"","DialPlan":null}'
    assert len(b'{"Name":"","DialPlan":null}') < 30  # what the dialplan treats as "no answer"


def test_name_parts_follow_the_configured_order(client, db_url):
    enterprise(db_url, echo={"name": "Иван"}, smart={"name_parts": ["customer", "shop"], "lines": LINES})
    assert ask(client).data == reply("Иван | Цветы", None)


def test_upstream_section_is_read_as_it_was_stored(client, db_url):
    upstream = {"mode": "routing+name", "primary": "echo", "lines": {
        "gsm:0001363": {"enabled": True, "do_routing": True, "algorithm": "ms", "send_line_name": False,
                        "send_shop_name": False, "send_customer_name": True, "customer_name_order": 1},
        "gsm:0002": {"enabled": True, "do_routing": False, "send_customer_name": True}}}
    enterprise(db_url, echo={"name": "Пётр", "extension": "152"}, smart=upstream)
    assert ask(client).data == reply("Пётр", "mngr152_0001363_1")
    assert ask(client, trunk="0002").data == reply("Пётр", None)


def test_template_can_use_the_user_id_of_the_extension(client, db_url):
    smart = {**ROUTED, "name_parts": [], "dialplan_template": "mngr{user_id}_{trunk}_1",
             "extension_ids": {"151": "42"}}
    enterprise(db_url, echo={"extension": "151"}, smart=smart)
    assert ask(client).data == reply("", "mngr42_0001363_1")
    sql(db_url, "UPDATE enterprises SET integrations_config = jsonb_set(integrations_config, "
                "'{echo,extension}', '\"153\"')")
    assert ask(client).data == reply("", None)  # no id for 153: never a guessed context


def test_an_extension_that_would_break_the_context_name_is_not_routed(client, db_url):
    enterprise(db_url, echo={"extension": '151","x'}, smart={**ROUTED, "name_parts": []})
    assert ask(client).data == reply("", None)


# ------------------------------------------------------------------------- tokens and modes


def test_unknown_or_missing_token_is_a_404_json_error(client, db_url):
    enterprise(db_url)
    resp = ask(client, "nope")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    assert client.post("/api/callevent/getcustomerdata", json={}).status_code == 404


def test_a_known_token_always_gets_200_even_for_a_malformed_body(client, db_url):
    enterprise(db_url, echo={"name": "Иван"}, smart=ROUTED)
    for data in ("{", "[1,2]", '{"Phone": {"x": 1}, "TrunkId": null}', ""):
        resp = client.post("/api/callevent/getcustomerdata", headers={"Token": "T100"}, data=data,
                           content_type="application/json")
        assert resp.status_code == 200 and resp.data == b'{"Name":"","DialPlan":null}'


def test_mode_off_answers_empty_without_asking_the_plugin(client, db_url, calls):
    enterprise(db_url, echo={"name": "Иван", "extension": "151"}, smart={**ROUTED, "mode": "off"})
    assert ask(client).data == b'{"Name":"","DialPlan":null}'
    assert calls == []


def test_an_inactive_enterprise_answers_empty(client, db_url, calls):
    enterprise(db_url, echo={"name": "Иван", "extension": "151"}, smart=ROUTED, active=False)
    assert ask(client).data == b'{"Name":"","DialPlan":null}'
    assert calls == []


def test_a_hidden_number_is_never_looked_up(client, db_url, calls):
    enterprise(db_url, echo={"name": "Иван", "extension": "151"}, smart=ROUTED)
    for hidden in ("", "anonymous", "<unknown>"):
        assert ask(client, phone=hidden).data == reply("Главная | Цветы", None)
    assert calls == []


def test_each_tenant_gets_only_its_own_config_and_names(client, db_url):
    enterprise(db_url, "100", echo={"name": "Клиент А", "extension": "151"}, smart=ROUTED)
    enterprise(db_url, "200", echo={"name": "Клиент Б"},
               smart={"lines": {"0002": {"name": "Линия Б", "enabled": True}}})
    assert ask(client, "T100").data == reply("Главная | Цветы | Клиент А", "mngr151_0001363_1")
    assert ask(client, "T200").data == reply("Клиент Б", None)  # 100's line means nothing to 200
    assert ask(client, "T200", trunk="0002").data == reply("Линия Б | Клиент Б", None)


def test_a_new_primary_is_used_by_the_very_next_call(client, db_url):
    enterprise(db_url, echo={"name": "Иван"}, smart={"primary": "ms", "name_parts": ["customer"]})
    assert ask(client).data == b'{"Name":"","DialPlan":null}'  # "ms" is not loaded: no primary
    resp = client.put("/api/enterprises/100/primary", json={"primary": "echo"},
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert resp.status_code == 200
    assert ask(client).data == reply("Иван", None)


# ----------------------------------------------------------------------------------- the budget


def test_a_slow_primary_never_delays_the_reply_past_the_budget(client, db_url, calls, echo_plugin, monkeypatch):
    finished = threading.Event()

    def slow_name(ent: str, phone: str) -> Any:
        value = EchoIntegration.customer_name(echo_plugin, ent, phone)  # "hang": sleeps `delay` seconds
        finished.set()
        return value

    monkeypatch.setattr(echo_plugin, "customer_name", slow_name)
    enterprise(db_url, echo={"name": "Иван", "extension": "151", "mode": "hang", "delay": 1.0},
               smart={**ROUTED, "budget_ms": 300})
    before = REGISTRY.get_sample_value("host_lookup_seconds_count",
                                       {"route": "getcustomerdata", "outcome": "timeout"}) or 0
    started = time.monotonic()
    resp = ask(client)
    elapsed = time.monotonic() - started
    assert elapsed < 0.3 + 0.2, elapsed
    # The responsible manager arrived in time, the customer's name did not.
    assert resp.data == reply("Главная | Цветы", "mngr151_0001363_1")
    decision = sql(db_url, "SELECT response_data->'decision' FROM integration_logs "
                           "WHERE event_type = 'getcustomerdata'")[0][0]
    assert decision["timed_out"] == ["customer"] and decision["budget_ms"] == 300
    assert REGISTRY.get_sample_value("host_lookup_seconds_count",
                                     {"route": "getcustomerdata", "outcome": "timeout"}) == before + 1
    assert not finished.is_set()
    assert finished.wait(3.0)  # the late lookup ran on in the background (the plugin's cache warms up)


@pytest.mark.parametrize("app_overrides", [{"HOST_INTEGRATIONS": "tests.plugins.echo:plugin",
                                            "HOST_LOOKUP_BUDGET_MS": "200"}])
def test_the_host_budget_applies_when_the_section_sets_none(client, db_url):
    enterprise(db_url, echo={"name": "Иван", "mode": "hang", "delay": 1.0}, smart={"name_parts": ["customer"]})
    started = time.monotonic()
    assert ask(client).data == b'{"Name":"","DialPlan":null}'
    assert time.monotonic() - started < 0.2 + 0.2


def test_name_and_manager_are_looked_up_concurrently(client, db_url, echo_plugin, monkeypatch):
    def slowly(method: Any) -> Any:
        def run(ent: str, phone: str) -> Any:
            time.sleep(0.5)
            return method(echo_plugin, ent, phone)
        return run

    monkeypatch.setattr(echo_plugin, "customer_name", slowly(EchoIntegration.customer_name))
    monkeypatch.setattr(echo_plugin, "responsible_extension", slowly(EchoIntegration.responsible_extension))
    enterprise(db_url, echo={"name": "Иван", "extension": "151"}, smart={**ROUTED, "budget_ms": 2000})
    started = time.monotonic()
    assert ask(client).data == reply("Главная | Цветы | Иван", "mngr151_0001363_1")
    assert time.monotonic() - started < 0.9  # one after the other would take 1.0 s


def test_each_call_journals_its_decision(client, db_url):
    enterprise(db_url, echo={"name": "Иван", "extension": "151"}, smart=ROUTED)
    ask(client, phone="80291234567")
    rows = sql(db_url, "SELECT integration_type, status, call_unique_id, phone, request_data, response_data, "
                       "duration_ms FROM integration_logs WHERE event_type = 'getcustomerdata'")
    assert len(rows) == 1
    kind, status, unique_id, phone, request, response, duration = rows[0]
    assert (kind, status, unique_id, phone) == ("smart", "success", "1700000000.1", "+375291234567")
    assert request == {"Phone": "80291234567", "TrunkId": "0001363", "LoadDialPlan": True}
    assert response["Name"] == "Главная | Цветы | Иван" and response["DialPlan"] == "mngr151_0001363_1"
    decision = response["decision"]
    assert decision["parts"] == ["line", "shop", "customer"]
    assert (decision["extension"], decision["rule"], decision["timed_out"]) == ("151", "echo", [])
    assert set(decision["timings_ms"]) == {"customer", "responsible", "total"} and duration is not None
