"""``GET·PUT·DELETE /ms-admin/config/<ent>``: defaults, masking, merge semantics, validation, webhook."""

from __future__ import annotations

import json
import threading
from typing import Any

from ms_plugin.tenant import json_credential, phone_credential
from tests.factories import sql
from tests.ms.admin.helpers import ENT, PASSWORD, configure, employee_id, section

API_TOKEN = "tok-" + "f" * 36


def _get(client: Any, headers: dict[str, str], ent: str = ENT) -> dict[str, Any]:
    resp = client.get(f"/ms-admin/config/{ent}", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_get_applies_defaults_and_reports_disabled_status(client, admin_headers, ent):
    body = _get(client, admin_headers)
    assert body["enabled"] is False
    assert body["notifications"] == {"call_notify_mode": "during", "notify_incoming": True, "notify_outgoing": False}
    assert body["incoming_call_actions"]["order_status"] == "Новый"
    assert body["click_to_call"] == {"signature_mode": "log", "dial_format": "digits", "max_per_minute": 20}
    assert body["employee_mapping"] == {}
    assert body["has_integration_code"] is False and body["integration_code"] is None
    assert body["status"] == {"state": "disabled", "since": None, "last_error": None, "jobs_pending": 0,
                              "jobs_failed": 0}


def test_webhook_url_is_minted_once_and_stays_the_same(client, admin_headers, ent, db_url):
    first = _get(client, admin_headers)["webhook_url"]
    assert first.startswith("http://") and "/ms/webhook/" in first
    assert all(_get(client, admin_headers)["webhook_url"] == first for _ in range(3))
    configure_body = {"notifications": {"notify_outgoing": True}}
    assert client.put(f"/ms-admin/config/{ENT}", json=configure_body, headers=admin_headers).get_json()[
        "webhook_url"] == first
    assert section(db_url)["webhook_uuid"] == first.rsplit("/", 1)[1]


def test_concurrent_first_gets_mint_one_webhook(client, app, admin_headers, ent):
    urls: list[str] = []
    barrier = threading.Barrier(4)

    def read() -> None:
        with app.test_client() as own:
            barrier.wait(timeout=5)
            urls.append(own.get(f"/ms-admin/config/{ENT}", headers=admin_headers).get_json()["webhook_url"])

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(urls) == 4 and len(set(urls)) == 1


def test_rotate_webhook_changes_the_url_once(client, admin_headers, ent):
    before = _get(client, admin_headers)["webhook_url"]
    rotated = client.post(f"/ms-admin/config/{ENT}/rotate-webhook", headers=admin_headers)
    assert rotated.status_code == 200
    after = rotated.get_json()["webhook_url"]
    assert after != before
    assert _get(client, admin_headers)["webhook_url"] == after


def test_old_webhook_stops_working_after_rotation(client, admin_headers, ent, account):
    configure(client, admin_headers, account)
    old = _get(client, admin_headers)["webhook_url"]
    path = "/ms/webhook/" + old.rsplit("/", 1)[1]
    click = {"srcNumber": "150", "destNumber": "+375291234567", "uid": "admin@acme"}
    before = client.post(path, json=click)
    client.post(f"/ms-admin/config/{ENT}/rotate-webhook", headers=admin_headers)
    after = client.post(path, json=click)
    assert before.status_code != 404  # known webhook: answered by the click-to-call route (409: no pbx)
    assert after.status_code == 404


def test_secrets_never_come_back_only_their_presence(client, admin_headers, ent, account):
    body = configure(client, admin_headers, account, api_token=API_TOKEN)
    assert body["integration_code"] is None and body["has_integration_code"] is True
    assert body["password"] is None and body["has_password"] is True
    assert body["api_token"] is None and body["has_api_token"] is True
    assert body["login"] == "admin@acme"
    for text in (json.dumps(body), client.get(f"/ms-admin/config/{ENT}", headers=admin_headers).get_data(True)):
        assert account["phone_key"] not in text and PASSWORD not in text and API_TOKEN not in text


def test_config_changes_are_journaled_without_secret_values(client, admin_headers, ent, account, db_url):
    configure(client, admin_headers, account, api_token=API_TOKEN)
    rows = sql(db_url, "SELECT request_data::text FROM integration_logs WHERE event_type = 'config.change' "
                       "AND enterprise_number = %s", (ENT,))
    fields = json.loads([r[0] for r in rows if '"update"' in r[0]][0])["fields"]
    assert {"integration_code", "password", "api_token", "login", "enabled"} <= set(fields)
    for (text,) in sql(db_url, "SELECT coalesce(request_data::text, '') || coalesce(response_data::text, '') "
                               "|| coalesce(error_message, '') FROM integration_logs"):
        assert account["phone_key"] not in text and PASSWORD not in text and API_TOKEN not in text


def test_put_merges_and_omitted_keys_keep_their_values(client, admin_headers, ent, account, db_url):
    configure(client, admin_headers, account, notifications={"notify_outgoing": True})
    resp = client.put(f"/ms-admin/config/{ENT}", json={"notifications": {"call_notify_mode": "after"}},
                      headers=admin_headers)
    body = resp.get_json()
    assert body["notifications"] == {"call_notify_mode": "after", "notify_incoming": True, "notify_outgoing": True}
    assert body["has_integration_code"] and body["has_password"] and body["enabled"] is True


def test_empty_secret_keeps_and_null_clears(client, admin_headers, ent, account, db_url):
    configure(client, admin_headers, account)
    kept = client.put(f"/ms-admin/config/{ENT}", json={"integration_code": "", "password": ""},
                      headers=admin_headers).get_json()
    assert kept["has_integration_code"] and kept["has_password"]
    cleared = client.put(f"/ms-admin/config/{ENT}", json={"password": None}, headers=admin_headers).get_json()
    assert cleared["has_password"] is False and "password" not in section(db_url)
    assert cleared["status"]["state"] == "degraded"


def test_null_resets_a_setting_to_its_default(client, admin_headers, ent, account, db_url):
    configure(client, admin_headers, account, click_to_call={"max_per_minute": 5, "dial_format": "e164"},
              default_region="RU")
    body = client.put(f"/ms-admin/config/{ENT}", json={"click_to_call": {"max_per_minute": None},
                                                       "default_region": None}, headers=admin_headers).get_json()
    assert body["click_to_call"] == {"signature_mode": "log", "dial_format": "e164", "max_per_minute": 20}
    assert body["default_region"] is None and "default_region" not in section(db_url)


def test_get_put_round_trip_changes_nothing(client, admin_headers, ent, account, db_url):
    configure(client, admin_headers, account, employee_mapping={"201": employee_id(account, "150")})
    before = section(db_url)
    body = _get(client, admin_headers)
    again = client.put(f"/ms-admin/config/{ENT}", json=body, headers=admin_headers)
    assert again.status_code == 200, again.get_json()
    assert section(db_url) == before
    assert again.get_json()["has_integration_code"] and again.get_json()["has_password"]


def test_employee_mapping_is_replaced_whole_when_given(client, admin_headers, ent, account):
    a, b = employee_id(account, "150"), employee_id(account, "151")
    configure(client, admin_headers, account, employee_mapping={"201": a, "202": b})
    body = client.put(f"/ms-admin/config/{ENT}", json={"employee_mapping": {"203": a}},
                      headers=admin_headers).get_json()
    assert body["employee_mapping"] == {"203": a}


def test_legacy_mapping_objects_are_read(client, admin_headers, db_url, account):
    from tests.factories import make_enterprise

    emp = employee_id(account, "150")
    make_enterprise(db_url, ENT, integrations_config={"ms": {"webhook_uuid": "legacy-uuid", "employee_mapping": {
        "150": {"employee_id": emp, "name": "Иванов", "email": "x@y"}}}})
    body = _get(client, admin_headers)
    assert body["employee_mapping"] == {"150": emp}
    assert body["webhook_url"].endswith("/ms/webhook/legacy-uuid")


def test_validation_errors_name_the_fields(client, admin_headers, ent):
    resp = client.put(f"/ms-admin/config/{ENT}", json={
        "integration_code": "short", "login": "no-at-sign", "notifications": {"call_notify_mode": "loud"},
        "missed_call_actions": {"task_due_minutes": "sixty"}, "bogus": 1, "click_to_call": {"nope": True}},
        headers=admin_headers)
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "validation_error"
    details = error["details"]
    assert {"bogus", "missed_call_actions", "click_to_call"} <= set(details)
    assert details["click_to_call"] == {"nope": ["Неизвестное поле."]}
    fixed = client.put(f"/ms-admin/config/{ENT}", json={"integration_code": "short", "login": "no-at-sign",
                                                        "notifications": {"call_notify_mode": "loud"}},
                       headers=admin_headers).get_json()["error"]["details"]
    assert set(fixed) == {"integration_code", "login", "notifications"}
    assert "call_notify_mode" in fixed["notifications"]


def test_booleans_must_be_json_booleans(client, admin_headers, ent):
    resp = client.put(f"/ms-admin/config/{ENT}", json={"notifications": {"notify_incoming": "yes"}},
                      headers=admin_headers)
    assert resp.status_code == 422
    assert "notify_incoming" in resp.get_json()["error"]["details"]["notifications"]


def test_enabling_requires_an_integration_code(client, admin_headers, ent):
    resp = client.put(f"/ms-admin/config/{ENT}", json={"enabled": True}, headers=admin_headers)
    assert resp.status_code == 422
    assert set(resp.get_json()["error"]["details"]) >= {"integration_code", "enabled"}


def test_clearing_the_key_of_an_enabled_tenant_is_refused(client, admin_headers, ent, account):
    configure(client, admin_headers, account)
    resp = client.put(f"/ms-admin/config/{ENT}", json={"integration_code": None}, headers=admin_headers)
    assert resp.status_code == 422 and "integration_code" in resp.get_json()["error"]["details"]


def test_tenant_api_urls_are_limited_to_allowed_hosts(client, admin_headers, ent, emu):
    bad = client.put(f"/ms-admin/config/{ENT}", json={"api_url": "http://169.254.169.254/latest",
                                                      "phone_api_url": "https://evil.example.invalid/api"},
                     headers=admin_headers)
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]) == {"api_url", "phone_api_url"}
    good = client.put(f"/ms-admin/config/{ENT}", json={"api_url": emu.json_api_url + "/"}, headers=admin_headers)
    assert good.status_code == 200 and good.get_json()["api_url"] == emu.json_api_url


def test_webhook_fields_and_read_only_keys_are_ignored(client, admin_headers, ent, db_url):
    url = _get(client, admin_headers)["webhook_url"]
    resp = client.put(f"/ms-admin/config/{ENT}", json={"webhook_uuid": "mine", "webhook_url": "http://x",
                                                       "status": {"state": "ok"}, "has_password": True},
                      headers=admin_headers)
    assert resp.status_code == 200 and resp.get_json()["webhook_url"] == url


def test_bad_bodies_get_the_contract_errors(client, admin_headers, ent):
    assert client.put(f"/ms-admin/config/{ENT}", data="{nope", content_type="application/json",
                      headers=admin_headers).status_code == 400
    assert client.put(f"/ms-admin/config/{ENT}", json=[1], headers=admin_headers).status_code == 422
    assert client.put(f"/ms-admin/config/{ENT}", data="a=1", headers=admin_headers).status_code == 415
    assert client.put(f"/ms-admin/config/{ENT}", json={"x": "y" * (1024 * 1024)},
                      headers=admin_headers).status_code == 413
    assert client.patch(f"/ms-admin/config/{ENT}", json={}, headers=admin_headers).status_code == 405


def test_unknown_enterprise_is_404_for_the_global_admin(client, admin_headers, ent):
    assert client.get("/ms-admin/config/4040", headers=admin_headers).status_code == 404
    assert client.put("/ms-admin/config/4040", json={}, headers=admin_headers).status_code == 404


def test_delete_removes_the_section(client, admin_headers, ent, account, db_url):
    configure(client, admin_headers, account)
    assert client.delete(f"/ms-admin/config/{ENT}", headers=admin_headers).status_code == 204
    assert section(db_url) == {}
    assert client.delete(f"/ms-admin/config/{ENT}", headers=admin_headers).status_code == 204


def test_concurrent_saves_of_different_keys_both_survive(app, admin_headers, ent, account, db_url):
    configure(app.test_client(), admin_headers, account)
    for round_no in range(5):
        barrier = threading.Barrier(2)
        results: list[int] = []

        def put(body: dict[str, Any]) -> None:
            with app.test_client() as own:
                barrier.wait(timeout=5)
                results.append(own.put(f"/ms-admin/config/{ENT}", json=body, headers=admin_headers).status_code)

        due = 10 + round_no
        threads = [threading.Thread(target=put, args=({"missed_call_actions": {"task_due_minutes": due}},)),
                   threading.Thread(target=put, args=({"click_to_call": {"max_per_minute": due}},))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert results == [200, 200]
        stored = section(db_url)
        assert stored["missed_call_actions"]["task_due_minutes"] == due
        assert stored["click_to_call"]["max_per_minute"] == due


def stored_config(db_url: str) -> Any:
    from ms_plugin.config.schema import read_config

    return read_config(section(db_url))


def test_new_credentials_clear_the_invalid_mark(client, admin_headers, ent, account, db_url):
    configure(client, admin_headers, account)
    sql(db_url, "INSERT INTO ms_tenant_state (enterprise_number, state, last_error, marked_credential) "
                "VALUES (%s, 'credentials_invalid', 'HTTP 401', %s)", (ENT, phone_credential(stored_config(db_url))))
    assert _get(client, admin_headers)["status"]["state"] == "credentials_invalid"
    body = client.put(f"/ms-admin/config/{ENT}", json={"password": "a-new-password"},
                      headers=admin_headers).get_json()
    assert body["status"]["state"] != "credentials_invalid"
    assert sql(db_url, "SELECT state FROM ms_tenant_state WHERE enterprise_number = %s", (ENT,))[0][0] == "ok"


def test_leftovers_of_the_old_service_do_not_block_a_save(client, admin_headers, db_url, account):
    from tests.factories import make_enterprise

    make_enterprise(db_url, ENT, integrations_config={"ms": {
        "webhook_uuid": "legacy-uuid", "phone_api_url": None, "last_sync": "2024-01-01",
        "notifications": {"call_notify_mode": "during", "notify_incoming": True, "old_flag": 1},
        "incoming_call_actions": {"create_client": True, "create_order": True, "order_source": "Звонок"}}})
    resp = client.put(f"/ms-admin/config/{ENT}", json={"notifications": {"notify_outgoing": True}},
                      headers=admin_headers)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["incoming_call_actions"]["create_order"] == "always"  # the legacy boolean, read
    assert body["notifications"]["notify_outgoing"] is True
    stored = section(db_url)
    assert stored["last_sync"] == "2024-01-01" and "old_flag" not in stored["notifications"]


def test_status_reports_refused_json_credentials_and_jobs(client, admin_headers, ent, account, db_url):
    configure(client, admin_headers, account)
    assert _get(client, admin_headers)["status"]["state"] == "ok"
    sql(db_url, "INSERT INTO ms_tenant_state (enterprise_number, last_error, json_invalid_credential) "
                "VALUES (%s, 'JSON API: HTTP 401', %s)", (ENT, json_credential(stored_config(db_url))))
    sql(db_url, "INSERT INTO jobs (integration, kind, enterprise_number, state) VALUES "
                "('ms', 'ms.call_event', %s, 'failed'), ('ms', 'ms.call_event', %s, 'waiting'), "
                "('ms', 'ms.call_event', %s, 'pending'), ('ms', 'ms.call_event', '0999', 'failed')", (ENT, ENT, ENT))
    status = _get(client, admin_headers)["status"]
    assert status["state"] == "degraded" and status["last_error"] == "JSON API: HTTP 401"
    assert status["jobs_pending"] == 2 and status["jobs_failed"] == 1
