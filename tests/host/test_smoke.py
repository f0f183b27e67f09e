from __future__ import annotations

from tests.factories import make_enterprise, sql


def test_health_reports_db_and_plugins(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["db"] == "ok"
    assert set(body["integrations"]) == {"ms", "echo"}


def test_dispatch_stores_event_and_runs_echo_job(client, db_url, run_jobs, echo_plugin):
    make_enterprise(db_url, "100", token="T100", integrations_config={"echo": {"enabled": True}})
    body = {"token": "T100", "uniqueId": "1.1", "event_type": "dial", "raw": {"UniqueId": "1.1", "CallType": 0}}
    resp = client.post("/dispatch/call-event", json=body)
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json() == {"accepted": True, "duplicate": False}
    again = client.post("/dispatch/call-event", json=body)
    assert again.get_json() == {"accepted": True, "duplicate": True}
    assert sql(db_url, "SELECT count(*) FROM jobs")[0][0] == 1
    assert run_jobs() == 1
    assert [e.unique_id for e in echo_plugin.received] == ["1.1"]
