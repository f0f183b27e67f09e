"""A duplicate PBX event makes no new job, unless it brings the recording link the first copy lacked.

The relay replays a hangup (``origin=download``) once the recording exists: the same event identity, now
with ``record_url``. The link must be stored and the plugins must see the event again (processing is
idempotent); any other duplicate is acknowledged and dropped.
"""

from __future__ import annotations

from typing import Any

from tests.factories import make_enterprise, sql

RAW = {"UniqueId": "1700000100.5", "CallType": 0, "Phone": "+375291234567", "CallStatus": "2"}
LINK = "https://pbx.example/records/1700000100.5.mp3"


def hangup(client: Any, **extra: Any) -> dict[str, Any]:
    resp = client.post("/dispatch/call-event", json={
        "token": "T0712", "uniqueId": RAW["UniqueId"], "event_type": "hangup", "raw": RAW, **extra})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    body: dict[str, Any] = resp.get_json()
    return body


def jobs(db_url: str) -> int:
    return int(sql(db_url, "SELECT count(*) FROM jobs WHERE kind = 'echo.call_event'")[0][0])


def test_a_duplicate_that_brings_a_recording_link_stores_it_and_reaches_the_plugins_again(
        client, db_url, echo_plugin, run_jobs):
    make_enterprise(db_url, "0712", token="T0712", integrations_config={"echo": {"enabled": True}})

    assert hangup(client) == {"accepted": True, "duplicate": False}
    assert hangup(client, origin="download") == {"accepted": True, "duplicate": True}
    assert jobs(db_url) == 1  # a plain duplicate makes no job
    run_jobs()
    assert [e.record_url for e in echo_plugin.received] == [None]

    assert hangup(client, origin="download", record_url=LINK) == {"accepted": True, "duplicate": True}
    assert sql(db_url, "SELECT count(*), min(record_url) FROM call_events") == [(1, LINK)]
    assert jobs(db_url) == 2
    run_jobs()
    assert [e.record_url for e in echo_plugin.received] == [None, LINK]

    # The link is known now: the same replay again, or one with another link, changes nothing.
    assert hangup(client, origin="download", record_url=LINK)["duplicate"] is True
    assert hangup(client, record_url=LINK + "?again")["duplicate"] is True
    assert jobs(db_url) == 2
    assert sql(db_url, "SELECT record_url FROM call_events") == [(LINK,)]
