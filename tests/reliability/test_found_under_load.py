"""Call-flow gaps the reliability load found, each reduced to a few events in-process (the app with its
background jobs run by the test, MoySklad's emulator on 127.0.0.1).

* an internal call whose bridge arrives before its hangup became a MoySklad call once the grace period for
  lost dials ran out;
* an outgoing call from an extension that a live incoming call is ringing was taken for a leg of that
  call; a follow-me leg whose job ran before its call's became a call of its own;
* opening the admin page lifted the mark of a refused key.
"""

from __future__ import annotations

from typing import Any

import pytest

from ms_emulator import EmulatorServer
from tests.factories import make_enterprise
from tests.ms.calls import sequences
from tests.ms.calls.pbx import recorded
from tests.reliability.emulator import EMPLOYEES, JSON_PASSWORD

ENT = "310"


@pytest.fixture
def emu(emulator_server: EmulatorServer) -> EmulatorServer:
    # The session's in-process emulator (tests/conftest.py), not this folder's emulator process.
    emulator_server.state.reset()
    return emulator_server


@pytest.fixture
def app_overrides(emu: EmulatorServer) -> dict[str, Any]:
    return {"MS_ALLOWED_API_HOSTS": "127.0.0.1", "MS_API_URL": emu.json_api_url,
            "MS_PHONE_API_URL": emu.phone_api_url, "MS_BACKOFF_BASE": "0.01", "MS_BACKOFF_MAX": "0.05"}


@pytest.fixture
def account(db_url: str, emu: EmulatorServer) -> dict[str, Any]:
    info = emu.state.create_account({"name": "found", "employees": EMPLOYEES})
    make_enterprise(db_url, ENT, token="tok-found",
                    integrations_config={"ms": {"enabled": True, "integration_code": info["phone_key"]}})
    return info


def send(client: Any, events: list[dict[str, Any]]) -> None:
    """Store events as the PBX relay would (nothing runs until the test runs the jobs)."""
    for item in events:
        body = {"token": "tok-found", "uniqueId": str(item["raw"].get("UniqueId", "")),
                "event_type": item["event_type"], "raw": item["raw"]}
        assert client.post("/dispatch/call-event", json=body).status_code == 202


def external_ids(emu: EmulatorServer) -> list[str]:
    return sorted(str(c["externalId"]) for c in emu.state.calls("found"))


def test_an_internal_call_whose_bridge_comes_first_never_reaches_moysklad(client, run_jobs, account, emu):
    send(client, recorded("3-1"))  # bridge, bridge, hangup CallType 2 (no start/dial)
    run_jobs()
    run_jobs(include_delayed=True)  # the grace period for a lost dial is over

    assert external_ids(emu) == []


def test_an_outgoing_call_from_an_extension_that_a_group_call_rings_reaches_moysklad(client, run_jobs, account, emu):
    incoming = recorded("2-2")  # rings 150/151/152, nobody answers yet
    send(client, incoming[:2])
    run_jobs()
    send(client, recorded("1-1"))  # meanwhile 151 calls a client
    run_jobs()

    assert "1758200248.0" in external_ids(emu)


def test_a_follow_me_leg_processed_before_its_call_is_not_a_call_of_its_own(client, run_jobs, host, account, emu):
    events = sequences.follow_me()
    send(client, events[:3])  # start, dial (group 150/151), the leg's dial to a mobile: all stored
    leg_jobs = [job_id for job_id, uid in _pending(host) if uid == "1757850010.2"]
    assert len(leg_jobs) == 1
    # The leg's job runs first, as a free worker may take it while another runs the call's start.
    claimed = host.runner.queue.claim(1, host.runner.worker, ids=leg_jobs)
    host.runner.execute(claimed[0])
    run_jobs()
    send(client, events[3:])
    run_jobs()

    assert external_ids(emu) == ["1757850000.1"]


def _pending(host: Any) -> list[tuple[int, str]]:
    with host.services.db.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT j.id, e.unique_id FROM jobs j JOIN call_events e "
                    "ON e.id = (j.payload ->> 'event_id')::bigint WHERE j.state = 'pending' ORDER BY j.id")
        return [(int(r[0]), str(r[1])) for r in cur.fetchall()]


def test_opening_the_admin_page_keeps_a_refused_key_marked(client, run_jobs, db_url, emu, admin_headers):
    emu.state.create_account({"name": "found", "employees": EMPLOYEES})
    make_enterprise(db_url, ENT, token="tok-found",
                    integrations_config={"ms": {"enabled": True, "integration_code": "0" * 39 + "1",
                                                "login": "admin@found", "password": JSON_PASSWORD}})
    send(client, recorded("2-2", token="tok-found"))
    run_jobs()
    refused_before = len([r for r in emu.state.requests(api="phone") if r["status"] == 401])

    status = client.get(f"/ms-admin/config/{ENT}", headers=admin_headers).get_json()["status"]
    run_jobs()

    assert refused_before >= 1
    assert status["state"] == "credentials_invalid"
    assert len([r for r in emu.state.requests(api="phone") if r["status"] == 401]) == refused_before
