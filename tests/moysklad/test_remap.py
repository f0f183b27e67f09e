"""RemapClient against ``responses``: auth headers, query encoding, bodies, syncId retries, parsing."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
import requests
import responses
from responses import matchers

from ms_plugin.moysklad.errors import AuthFailed, FeatureUnavailable, Forbidden, NotFound, Unavailable, ValidationFailed
from ms_plugin.moysklad.remap import BasicAuth, BearerAuth, RemapClient, json_auth

from .conftest import API_TOKEN, JSON_API, LOGIN, PASSWORD, load

CP = "0a1b2c3d-1111-11ef-0a80-000000000101"
SYNC = "6f1f2d3e-9a7b-4c1d-8e2f-0123456789ab"


def err(code: int, text: str = "Ошибка") -> dict:
    return {"errors": [{"error": text, "code": code}]}


def basic() -> str:
    return "Basic " + base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()


@responses.activate
def test_basic_auth_is_sent_per_request_with_gzip_and_no_phone_token(remap):
    responses.add(responses.GET, f"{JSON_API}/context/employee", json=load("employee.json"))
    assert remap.context_employee().uid == "sidorov@mycompany"
    headers = responses.calls[0].request.headers
    assert headers["Authorization"] == basic()
    assert headers["Accept-Encoding"] == "gzip"
    assert "Lognex-Phone-Auth-Token" not in headers


@responses.activate
def test_bearer_token_wins_over_login(remap_bearer):
    responses.add(responses.GET, f"{JSON_API}/context/employee", json=load("employee.json"))
    remap_bearer.context_employee()
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {API_TOKEN}"
    assert isinstance(json_auth(LOGIN, PASSWORD, API_TOKEN), BearerAuth)
    assert isinstance(json_auth(LOGIN, PASSWORD, None), BasicAuth)
    assert json_auth(LOGIN, None, None) is None
    assert PASSWORD not in repr(BasicAuth(LOGIN, PASSWORD)) and API_TOKEN not in repr(BearerAuth(API_TOKEN))


@responses.activate
def test_search_encodes_plus_and_expands_contact_persons(remap):
    responses.add(responses.GET, f"{JSON_API}/entity/counterparty", json=load("counterparty_search.json"))
    found = remap.search_counterparties("+375 29 123")
    assert found[0].contact_persons[0].phone == "+74951234567"
    assert responses.calls[0].request.url == (
        f"{JSON_API}/entity/counterparty?search=%2B375%2029%20123&limit=20&expand=contactpersons,owner")


@responses.activate
def test_search_above_100_drops_expand_which_moysklad_would_ignore(remap):
    responses.add(responses.GET, f"{JSON_API}/entity/counterparty", json={"rows": []})
    assert remap.search_counterparties("9161234567", limit=500) == []
    assert "expand" not in responses.calls[0].request.url


@responses.activate
def test_get_counterparty_not_found(remap):
    responses.add(responses.GET, f"{JSON_API}/entity/counterparty/{CP}", status=404, json=err(1021))
    with pytest.raises(NotFound):
        remap.get_counterparty(CP)
    assert len(responses.calls) == 1


@responses.activate
def test_create_counterparty_carries_sync_id_and_is_retried_after_a_timeout(remap, records):
    body = {"name": "Клиент +79161234567", "phone": "+79161234567", "companyType": "individual"}
    responses.add(responses.POST, f"{JSON_API}/entity/counterparty", body=requests.exceptions.ReadTimeout())
    responses.add(responses.POST, f"{JSON_API}/entity/counterparty", json=load("counterparty.json"),
                  match=[matchers.json_params_matcher({**body, "syncId": SYNC})])
    cp = remap.create_counterparty(body, SYNC)
    assert cp.id == "0a1b2c3d-1111-11ef-0a80-000000000102"
    assert [r.outcome for r in records] == ["timeout", "ok"]


@responses.activate
def test_update_counterparty_puts_only_given_fields(remap):
    body = {"owner": remap.ref("employee", "e-2")}
    responses.add(responses.PUT, f"{JSON_API}/entity/counterparty/{CP}", json=load("counterparty.json"),
                  match=[matchers.json_params_matcher(body)])
    remap.update_counterparty(CP, body)
    assert body["owner"]["meta"]["href"] == f"{JSON_API}/entity/employee/e-2"


@responses.activate
def test_contact_persons_list(remap):
    responses.add(responses.GET, f"{JSON_API}/entity/counterparty/{CP}/contactpersons",
                  json=load("contactpersons.json"))
    people = remap.list_contact_persons(CP)
    assert [(p.name, p.phone) for p in people] == [("Анна Смирнова", "+74951234567"), ("Пётр Без Телефона", None)]


@pytest.mark.parametrize("shape", ["object", "array"])
@responses.activate
def test_note_create_answer_may_be_array_or_object(remap, shape):
    note = load("note_object.json")
    responses.add(responses.POST, f"{JSON_API}/entity/counterparty/{CP}/notes",
                  json=note if shape == "object" else [note],
                  match=[matchers.json_params_matcher({"description": "Входящий звонок"})])
    assert remap.add_counterparty_note(CP, "Входящий звонок").id == "0a1b2c3d-1111-11ef-0a80-000000000401"


@responses.activate
def test_note_is_never_resent_after_a_doubtful_failure(remap):
    responses.add(responses.POST, f"{JSON_API}/entity/counterparty/{CP}/notes", status=502, body="")
    with pytest.raises(Unavailable):
        remap.add_counterparty_note(CP, "x")
    assert len(responses.calls) == 1


@responses.activate
def test_task_post_without_sync_id_is_not_retried_on_timeout(remap):
    responses.add(responses.POST, f"{JSON_API}/entity/task", body=requests.exceptions.ReadTimeout())
    with pytest.raises(Unavailable):
        remap.create_task({"description": "x", "assignee": remap.ref("employee", "e-1")})
    assert len(responses.calls) == 1


@responses.activate
def test_task_without_crm_option_is_feature_unavailable(remap):
    responses.add(responses.POST, f"{JSON_API}/entity/task", status=403,
                  json=err(37000, "Для работы с задачами необходима опция CRM"))
    with pytest.raises(FeatureUnavailable):
        remap.create_task({"description": "x", "assignee": remap.ref("employee", "e-1")})


@responses.activate
def test_create_and_update_task(remap):
    body = {"description": "Перезвонить", "assignee": remap.ref("employee", "e-1"),
            "agent": remap.ref("counterparty", CP), "dueToDate": "2026-10-05 13:00:00"}
    responses.add(responses.POST, f"{JSON_API}/entity/task", json=load("task.json"),
                  match=[matchers.json_params_matcher(body)])
    responses.add(responses.PUT, f"{JSON_API}/entity/task/t-1", json={**load("task.json"), "done": True},
                  match=[matchers.json_params_matcher({"done": True})])
    assert remap.create_task(body).done is False
    assert remap.update_task("t-1", {"done": True}).done is True


@responses.activate
def test_list_tasks_builds_one_filter(remap):
    responses.add(responses.GET, f"{JSON_API}/entity/task", json={"rows": [load("task.json")]})
    tasks = remap.list_tasks(agent_id=CP, assignee_id="e-1", done=False)
    assert len(tasks) == 1
    assert responses.calls[0].request.url == (
        f"{JSON_API}/entity/task?filter=agent={JSON_API}/entity/counterparty/{CP};"
        f"assignee={JSON_API}/entity/employee/e-1;done=false&limit=1000&offset=0")


@responses.activate
def test_employees_and_organizations_are_paged(remap):
    page = {"rows": [{**load("employee.json"), "id": f"e-{i}"} for i in range(1000)]}
    responses.add(responses.GET, f"{JSON_API}/entity/employee", json=page)
    responses.add(responses.GET, f"{JSON_API}/entity/employee", json={"rows": [load("employee.json")]})
    responses.add(responses.GET, f"{JSON_API}/entity/organization", json=load("organizations.json"))
    assert len(remap.list_employees()) == 1001
    assert "offset=1000" in responses.calls[1].request.url
    orgs = remap.list_organizations()
    assert [(o.name, o.archived) for o in orgs] == [("ООО «Ромашка»", False), ("ИП Старое", True)]


@responses.activate
def test_get_employee(remap):
    responses.add(responses.GET, f"{JSON_API}/entity/employee/e-1", json=load("employee.json"))
    assert remap.get_employee("e-1").full_name == "Иван Петрович Сидоров"


@responses.activate
def test_find_sales_channel_matches_exact_name_and_escapes_semicolon(remap):
    responses.add(responses.GET, f"{JSON_API}/entity/saleschannel", json=load("saleschannels.json"))
    channel = remap.find_sales_channel("Телефонный звонок")
    assert channel is not None and channel.id == "0a1b2c3d-1111-11ef-0a80-000000000801"
    assert remap.find_sales_channel("a;b") is None
    assert "filter=name=a%5C;b" in responses.calls[1].request.url


@responses.activate
def test_create_sales_channel_defaults_to_direct_sales(remap):
    responses.add(responses.POST, f"{JSON_API}/entity/saleschannel", json=load("saleschannels.json")["rows"][0],
                  match=[matchers.json_params_matcher({"name": "Телефонный звонок", "type": "DIRECT_SALES"})])
    assert remap.create_sales_channel("Телефонный звонок").type == "DIRECT_SALES"


@responses.activate
def test_order_states_and_orders(remap):
    responses.add(responses.GET, f"{JSON_API}/entity/customerorder/metadata", json=load("customerorder_metadata.json"))
    responses.add(responses.GET, f"{JSON_API}/entity/customerorder", json=load("customerorders.json"))
    assert [s.name for s in remap.customer_order_states()] == ["Новый", "Выполнен"]
    orders = remap.list_customer_orders(CP, limit=5)
    assert orders[0].state_name == "Новый"
    assert responses.calls[1].request.url == (
        f"{JSON_API}/entity/customerorder?filter=agent={JSON_API}/entity/counterparty/{CP}"
        "&order=moment,desc&limit=5&expand=state")


@responses.activate
def test_create_customer_order_with_sync_id_is_retried_on_503(remap):
    body = {"organization": remap.ref("organization", "o-1"), "agent": remap.ref("counterparty", CP)}
    responses.add(responses.POST, f"{JSON_API}/entity/customerorder", status=503, json=err(1074))
    responses.add(responses.POST, f"{JSON_API}/entity/customerorder", json=load("customerorders.json")["rows"][0],
                  match=[matchers.json_params_matcher({**body, "syncId": SYNC})])
    assert remap.create_customer_order(body, SYNC).name == "00042"
    assert len(responses.calls) == 2


@responses.activate
def test_forbidden_is_not_retried(remap):
    responses.add(responses.POST, f"{JSON_API}/entity/customerorder", status=403, json=err(1045))
    with pytest.raises(Forbidden):
        remap.create_customer_order({}, SYNC)
    assert len(responses.calls) == 1


@responses.activate
def test_validation_is_not_retried_even_for_sync_id_creates(remap):
    responses.add(responses.POST, f"{JSON_API}/entity/counterparty", status=412, json=err(3015, "bad email"))
    with pytest.raises(ValidationFailed):
        remap.create_counterparty({"name": "x", "email": "no"}, SYNC)
    assert len(responses.calls) == 1


@pytest.mark.parametrize("password", [PASSWORD, 'p@ss w+rd/%;"\\ü'])
@responses.activate
def test_records_never_hold_the_password_or_basic_blob(transport, limiter, clock, password):
    records: list = []
    client = RemapClient(transport, BasicAuth(LOGIN, password), limiter, base_url=JSON_API,
                         observer=records.append, sleep=clock.sleep, clock=clock)
    responses.add(responses.GET, f"{JSON_API}/entity/counterparty", status=401,
                  json=err(1056, f"Неправильный пароль {password}"))
    responses.add(responses.POST, f"{JSON_API}/entity/counterparty", status=412, json=[{"error": password}])
    with pytest.raises(AuthFailed):
        client.search_counterparties(password)
    with pytest.raises(ValidationFailed):
        client.create_counterparty({"name": password, "description": f"x{password}y"}, SYNC)
    blob = base64.b64encode(f"{LOGIN}:{password}".encode()).decode()
    assert len(records) == 2
    for record in records:
        text = repr(record)
        assert password not in text and blob not in text
        assert quote(password, safe="") not in text
    assert records[0].outcome == "auth_failed" and records[0].api == "json"
    assert records[1].request_body["name"] == "***" and records[1].request_body["description"] == "x***y"
