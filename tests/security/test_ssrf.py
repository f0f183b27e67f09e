"""SSRF and other user-supplied URLs and numbers.

* A tenant's ``api_url``/``phone_api_url`` may only name a host of ``MS_ALLOWED_API_HOSTS`` (https, plain
  http on loopback only): anything else is refused at save (422), and a bad URL stored behind the API's
  back is never requested either.
* URLs in events (``record_url``) are http(s), single-line and bounded; the PBX control URL too.
* Click-to-call dials only a validated number, as digits.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg2.extras import Json

from tests.factories import make_enterprise, sql
from tests.fakes.ami_server import FakeAmiServer
from tests.security.conftest import ENT, GLOBAL, Tenants

# With the production allow-list (api.moysklad.ru only) every one of these must be refused.
HOSTILE_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/api/remap/1.2",
    "https://[::ffff:169.254.169.254]/api/remap/1.2",
    "https://2852039166/api/remap/1.2",  # 169.254.169.254 as one decimal number
    "https://10.0.0.5/api/remap/1.2",
    "https://0x7f.0.0.1/api/remap/1.2",
    "http://localhost:6379/",
    "http://127.0.0.1:5432/",
    "http://api.moysklad.ru/api/remap/1.2",  # plain http to a public host
    "https://api.moysklad.ru.evil.invalid/api/remap/1.2",
    "https://api.moysklad.ru@evil.invalid/api/remap/1.2",
    "https://user:pw@api.moysklad.ru/api/remap/1.2",
    "https://evil.invalid#@api.moysklad.ru/",
    "https://evil.invalid\\@api.moysklad.ru/",
    "https://evil.invalid?@api.moysklad.ru/",
    "https://api.moysklad.ru%2eevil.invalid/",
    "https://\u0430pi.moysklad.ru/api/remap/1.2",  # a Cyrillic "а"
    "https://xn--pi-7kc.moysklad.ru/api/remap/1.2",  # the same in punycode
    "https://api.moysklad.ru\u3002evil.invalid/",  # an ideographic full stop
    "https://api.moysklad.ru/api/remap/1.2?redirect=https://evil.invalid",
    "https://api.moysklad.ru/\r\nHost: evil.invalid",
    "ftp://api.moysklad.ru/api",
    "file:///etc/passwd",
    "gopher://127.0.0.1:25/_HELO",
    "//api.moysklad.ru/api/remap/1.2",
    "api.moysklad.ru/api/remap/1.2",
]
ALLOWED_URLS = ["https://api.moysklad.ru/api/remap/1.2", "https://API.MoySklad.ru./api/phone/1.0",
                "https://api.moysklad.ru:8443/api/remap/1.2"]


@pytest.fixture
def app_overrides(emu: Any) -> dict[str, Any]:
    # The production allow-list; the emulator is reached through MS_API_URL (the operator's setting).
    return {"HOST_INTEGRATIONS": "ms_plugin:plugin", "MS_API_URL": emu.json_api_url,
            "MS_PHONE_API_URL": emu.phone_api_url, "MS_ALLOWED_API_HOSTS": "api.moysklad.ru",
            "MS_CONNECT_TIMEOUT": "1", "MS_BACKOFF_BASE": "0.01", "MS_BACKOFF_MAX": "0.05"}


@pytest.mark.parametrize("key", ["api_url", "phone_api_url"])
@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_tenant_cannot_point_moysklad_at_another_host(client, tenants, key, url):
    resp = client.put(f"/ms-admin/config/{ENT}", json={key: url}, headers=GLOBAL)
    assert resp.status_code == 422, resp.get_json()
    assert key in resp.get_json()["error"]["details"]
    stored = sql(tenants_db(client), "SELECT integrations_config -> 'ms' ->> %s FROM enterprises WHERE number = %s",
                 (key, ENT))
    assert stored == [(None,)]


@pytest.mark.parametrize("url", ALLOWED_URLS)
def test_moysklad_own_host_is_accepted(client, tenants, url):
    assert client.put(f"/ms-admin/config/{ENT}", json={"api_url": url}, headers=GLOBAL).status_code == 200


def test_the_connection_test_takes_no_url_from_its_body(client, tenants):
    resp = client.post(f"/ms-admin/test/{ENT}", json={"api_url": "http://169.254.169.254/"}, headers=GLOBAL)
    assert resp.status_code == 422


def tenants_db(client: Any) -> str:
    return str(client.application.extensions["host_app"].settings.database_url)


# -- a bad URL stored behind the API's back is never requested --------------------------------------------


class Canary:
    """A TCP listener that counts the connections it gets (nothing should ever connect)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    listener = Canary()
    yield listener
    listener.close()


def test_a_stored_url_outside_the_allow_list_is_never_requested(client, run_jobs, tenants, canary, db_url):
    # "localhost" is not on the allow-list even though it is this machine: the canary must stay alone.
    bad = {"api_url": f"http://localhost:{canary.port}/api/remap/1.2",
           "phone_api_url": f"http://localhost:{canary.port}/api/phone/1.0"}
    sql(db_url, "UPDATE enterprises SET integrations_config = jsonb_set(integrations_config, '{ms}', "
                "(integrations_config -> 'ms') || %s), config_version = config_version + 1 WHERE number = %s",
        (Json(bad), ENT))

    for event_type in ("start", "dial", "hangup"):
        raw = {"UniqueId": "5.1", "CallType": 0, "Phone": "375291234567", "Trunk": "0001363", "Extensions": ["150"],
               "CallStatus": "0", "StartTime": "2026-01-01 10:00:00", "EndTime": "2026-01-01 10:00:30"}
        body = {"token": f"tok-{ENT}", "uniqueId": "5.1", "event_type": event_type, "raw": raw}
        assert client.post("/dispatch/call-event", json=body).status_code == 202
    run_jobs(include_delayed=True)
    client.post(f"/ms-admin/test/{ENT}", json={}, headers=GLOBAL)
    client.get(f"/ms-admin/employees/{ENT}", headers=GLOBAL)
    client.get(f"/internal/ms/customer-by-phone?enterprise_number={ENT}&phone=375291234567")
    client.post("/api/callevent/getcustomerdata", json={"UniqueId": "5.2", "Phone": "375291234567"},
                headers={"Token": f"tok-{ENT}"})

    assert canary.connections == 0


# -- URLs in events and in the PBX setting ------------------------------------------------------------------

BAD_RECORD_URLS = ["javascript:alert(1)", "file:///var/spool/asterisk/monitor/1.wav", "ftp://pbx.invalid/1.wav",
                   "data:text/html,<script>alert(1)</script>", "https://pbx.invalid/" + "a" * 2100,
                   "https://pbx.invalid/a b.mp3", "https://pbx.invalid/a\tb.mp3", "https://pbx.invalid/1.mp3\r\nX: y",
                   "//pbx.invalid/1.mp3", "HTTPS:", "https://", 42, ["https://pbx.invalid/1.mp3"]]


@pytest.mark.parametrize("url", BAD_RECORD_URLS, ids=[str(u)[:30] for u in BAD_RECORD_URLS])
def test_a_recording_url_must_be_a_bounded_http_url(client, tenants, url):
    event = {"uniqueId": "6.1", "event_type": "hangup", "raw": {"UniqueId": "6.1"}, "record_url": url}
    assert client.post("/dispatch/call-event", json={"token": f"tok-{ENT}", **event}).status_code == 422
    assert client.post("/internal/ms/call-event", json={"enterprise_number": ENT, **event}).status_code == 422
    log_call = {"enterprise_number": ENT, "phone": "375291234567", "direction": "in", "status": "answered",
                "start_time": "2026-01-01T10:00:00+03:00", "end_time": "2026-01-01T10:01:00+03:00", "record_url": url}
    assert client.post("/internal/ms/log-call", json=log_call).status_code == 422


@pytest.mark.parametrize("url", ["https://pbx.invalid/a\x01b.mp3", "https://pbx.invalid/a\x7fb.mp3"])
def test_a_recording_url_with_control_characters_is_refused(client, tenants, url):
    event = {"token": f"tok-{ENT}", "uniqueId": "6.3", "event_type": "hangup", "raw": {"UniqueId": "6.3"},
             "record_url": url}
    assert client.post("/dispatch/call-event", json=event).status_code == 422


def test_a_good_recording_url_is_accepted(client, tenants):
    event = {"token": f"tok-{ENT}", "uniqueId": "6.2", "event_type": "hangup", "raw": {"UniqueId": "6.2"},
             "record_url": "https://pbx.invalid/monitor/2026/01/01/6.2.mp3"}
    assert client.post("/dispatch/call-event", json=event).status_code == 202


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:alert(1)", "http://user:pw@pbx.invalid/x",
                                 "ftp://pbx.invalid/x", "http://pbx.invalid/x#frag", "http://pbx.invalid/a b",
                                 "http://pbx.invalid/x\r\nHost: evil.invalid", "http:///no-host"])
def test_the_pbx_control_url_is_validated(client, tenants, url):
    resp = client.put(f"/api/enterprises/{ENT}", json={"pbx": {"kind": "http", "url": url, "client_id": "c1"}},
                      headers=GLOBAL)
    assert resp.status_code == 422, resp.get_json()


# -- click-to-call never dials what it did not validate ------------------------------------------------------

BAD_DESTINATIONS = ["375291234567;reboot", "375291234567\r\nAction: Command", "$(reboot)", "*#06#", "12",
                    "+375 29 123-45-67 ext 5", "375291234567&151", "3752912345678901234567890", "0", "+", "٣٧٥٢٩١٢٣٤٥٦٧"]


@pytest.fixture
def click_tenant(db_url: str, tenants: Tenants) -> Iterator[FakeAmiServer]:
    from tests.ms.click_to_call.helpers import EMPLOYEES as CTC_EMPLOYEES
    from tests.ms.click_to_call.helpers import MAPPING, UUID, seed_employees

    with FakeAmiServer(username="ms", secret="s3cret") as ami:
        section = {"enabled": True, "integration_code": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c", "webhook_uuid": UUID,
                   "employee_mapping": dict(MAPPING), "click_to_call": {"signature_mode": "off"}}
        make_enterprise(db_url, "0367", token="tok-0367", integrations_config={"ms": section},
                        pbx={"kind": "ami", "host": "127.0.0.1", "port": ami.port, "username": "ms",
                             "secret": "s3cret"})
        seed_employees(db_url, "0367")
        assert CTC_EMPLOYEES
        yield ami


@pytest.mark.parametrize("dest", BAD_DESTINATIONS)
def test_click_to_call_refuses_a_number_it_cannot_dial_safely(client, run_jobs, click_tenant, dest):
    from tests.ms.click_to_call.helpers import UUID

    resp = client.post(f"/ms/webhook/{UUID}", json={"srcNumber": "151", "destNumber": dest, "uid": "ivanov@acme"})
    run_jobs()
    assert resp.status_code == 422, resp.get_json()
    assert click_tenant.originates() == []


def test_click_to_call_dials_digits_only(client, run_jobs, click_tenant):
    from tests.ms.click_to_call.helpers import UUID

    resp = client.post(f"/ms/webhook/{UUID}",
                       json={"srcNumber": "151", "destNumber": "+375 (29) 123-45-67", "uid": "ivanov@acme"})
    assert resp.status_code == 200, resp.get_json()
    run_jobs()
    click_tenant.wait_for_actions(3, timeout=5)
    puts = [a for a in click_tenant.actions if a.get("Action") in ("DBPut", "Originate")]
    assert puts and all("\r" not in v and "\n" not in v for a in puts for v in a.values())
    originate = click_tenant.originates()[0]
    assert originate["Channel"] == "Local/151@web-originate"
    assert originate["Data"] == "Local/375291234567@inoffice"  # the number as digits, nothing else
    nextcall = [a["Val"] for a in puts if a.get("Key") == "nextcall_151"]
    assert nextcall == ["375291234567"]
