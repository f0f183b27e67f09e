"""``GET /ms-admin/employees/<ent>`` and ``PUT .../mapping``: the table, warnings, mapping edits."""

from __future__ import annotations

from typing import Any

from tests.ms.admin.helpers import ENT, HOSTILE_NAME, configure, employee_id, section

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _list(client: Any, headers: dict[str, str], refresh: bool = False) -> dict[str, Any]:
    resp = client.get(f"/ms-admin/employees/{ENT}" + ("?refresh=1" if refresh else ""), headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _map(client: Any, headers: dict[str, str], mapping: Any, replace: bool | None = None) -> Any:
    body: dict[str, Any] = {"mapping": mapping}
    if replace is not None:
        body["replace"] = replace
    return client.put(f"/ms-admin/employees/{ENT}/mapping", json=body, headers=headers)


def _row(data: dict[str, Any], emp_id: str) -> dict[str, Any]:
    return next(r for r in data["employees"] if r["id"] == emp_id)


def test_lists_the_accounts_employees_with_their_extensions(client, admin_headers, ent, account):
    configure(client, admin_headers, account)
    data = _list(client, admin_headers, refresh=True)
    assert data["phone_api_ok"] and data["json_api_ok"]
    ivanov = _row(data, employee_id(account, "150"))
    assert ivanov["ms_extension"] == "150" and ivanov["pbx_extensions"] == ["150"]
    assert ivanov["uid"] == "admin@acme" and ivanov["warnings"] == []
    assert set(ivanov) >= {"id", "name", "uid", "ms_extension", "pbx_extensions", "warnings"}
    hostile = _row(data, employee_id(account, "152"))
    assert hostile["name"] == HOSTILE_NAME  # JSON carries the text as it is; the page shows it as text


def test_an_employee_without_any_extension_is_warned_about(client, admin_headers, ent, account):
    configure(client, admin_headers, account)
    data = _list(client, admin_headers, refresh=True)
    row = next(r for r in data["employees"] if r["name"] and "Добавочного" in r["name"])
    assert [w["code"] for w in row["warnings"]] == ["no_extension"]


def test_collisions_between_pbx_and_moysklad_extensions_are_warned_about(client, admin_headers, ent, account):
    configure(client, admin_headers, account)
    _list(client, admin_headers, refresh=True)
    ivanov, petrova = employee_id(account, "150"), employee_id(account, "151")
    data = _map(client, admin_headers, {"151": ivanov}).get_json()  # PBX 151 -> Ivanov, but 151 is Petrova's
    assert "pbx_extension_collision" in [w["code"] for w in _row(data, ivanov)["warnings"]]
    assert "ms_extension_collision" in [w["code"] for w in _row(data, petrova)["warnings"]]


def test_mapping_edit_merges(client, admin_headers, ent, account, db_url):
    configure(client, admin_headers, account)
    a, b = employee_id(account, "150"), employee_id(account, "151")
    assert _map(client, admin_headers, {"201": a}).status_code == 200
    resp = _map(client, admin_headers, {"202": b})
    assert resp.status_code == 200
    assert section(db_url)["employee_mapping"] == {"201": a, "202": b}
    assert resp.get_json()["employee_mapping"] == {"201": a, "202": b}
    assert "201" in _row(resp.get_json(), a)["pbx_extensions"]


def test_null_removes_one_entry(client, admin_headers, ent, account, db_url):
    configure(client, admin_headers, account)
    a, b = employee_id(account, "150"), employee_id(account, "151")
    _map(client, admin_headers, {"201": a, "202": b})
    assert _map(client, admin_headers, {"201": None}).status_code == 200
    assert section(db_url)["employee_mapping"] == {"202": b}


def test_an_empty_edit_never_wipes_the_mapping(client, admin_headers, ent, account, db_url):
    configure(client, admin_headers, account)
    a = employee_id(account, "150")
    _map(client, admin_headers, {"201": a})
    version = section(db_url)
    assert _map(client, admin_headers, {}).status_code == 200
    assert section(db_url) == version


def test_replace_replaces_the_whole_mapping(client, admin_headers, ent, account, db_url):
    configure(client, admin_headers, account)
    a, b = employee_id(account, "150"), employee_id(account, "151")
    _map(client, admin_headers, {"201": a, "202": b})
    assert _map(client, admin_headers, {"203": b}, replace=True).status_code == 200
    assert section(db_url)["employee_mapping"] == {"203": b}


def test_unknown_employee_is_422(client, admin_headers, ent, account, db_url):
    configure(client, admin_headers, account)
    resp = _map(client, admin_headers, {"201": UNKNOWN})
    assert resp.status_code == 422
    assert set(resp.get_json()["error"]["details"]["mapping"]) == {"201"}
    assert "employee_mapping" not in section(db_url) or section(db_url)["employee_mapping"] == {}


def test_a_new_employee_is_found_by_refreshing(client, admin_headers, ent, account, emu):
    configure(client, admin_headers, account)
    _list(client, admin_headers, refresh=True)
    new = emu.state.add_employee("acme", firstName="Новый", lastName="Сотрудник", extension="160")
    assert _map(client, admin_headers, {"260": new["id"]}).status_code == 200


def test_bad_extensions_and_ids_are_422(client, admin_headers, ent, account):
    configure(client, admin_headers, account)
    a = employee_id(account, "150")
    for mapping in ({"1": a}, {"1234567": a}, {"15a": a}, {"201": "not-a-uuid"}, ["201"]):
        resp = _map(client, admin_headers, mapping)
        assert resp.status_code == 422, mapping
    assert _map(client, admin_headers, {"201": a}, replace="yes").status_code == 422
    assert client.put(f"/ms-admin/employees/{ENT}/mapping", json={"replace": True},
                      headers=admin_headers).status_code == 422


def test_mapping_edits_are_journaled(client, admin_headers, ent, account, db_url):
    from tests.factories import sql

    configure(client, admin_headers, account)
    _map(client, admin_headers, {"201": employee_id(account, "150")})
    rows = sql(db_url, "SELECT request_data FROM integration_logs WHERE event_type = 'config.change' "
                       "AND request_data->>'action' = 'mapping'")
    assert rows and rows[-1][0]["fields"] == ["employee_mapping.201"]


def test_moysklad_down_still_shows_the_cached_table(client, admin_headers, ent, account, emu):
    configure(client, admin_headers, account)
    _list(client, admin_headers, refresh=True)
    emu.state.set_outage(30)
    try:
        data = _list(client, admin_headers, refresh=True)
    finally:
        emu.state.clear_outage()
    assert data["error"] and not data["phone_api_ok"]
    assert _row(data, employee_id(account, "150"))["ms_extension"] == "150"


def test_without_credentials_the_table_is_empty_and_says_so(client, admin_headers, ent):
    data = _list(client, admin_headers, refresh=True)
    assert data["employees"] == [] and data["phone_api_ok"] is False and data["json_api_ok"] is False
