"""No secret ever leaves where it is kept: representative flows run with distinctive test secrets, then every
response, every table but the one that holds the secrets, the captured logs (DEBUG) and, for a real gunicorn
run, the service's log file are searched for them.

Secrets: the Phone API key, the JSON API password and token, the global and enterprise admin tokens, the
PBX AMI secret and HTTP clientId, the enterprise secret, the internal token, the session signing key, and
credentials typed into the connection test without being saved.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ms_emulator import EmulatorServer
from ms_emulator.signing import sign
from tests.e2e.harness import Emulator, Service, free_port, launch_emulator, service_environ, wait_until
from tests.fakes.ami_server import FakeAmiServer
from tests.ms.calls.pbx import recorded
from tests.reliability.databases import create_database, drop_database
from tests.reliability.emulator import EMPLOYEES

ADMIN = "adm-CANARY-a1b2c3d4e5f6g7h8"
INTERNAL = "int-CANARY-q9w8e7r6t5y4u3i2"
SECRET_KEY = "sk-CANARY-z1x2c3v4b5n6m7l8"
PHONE_KEY = "c0ffee" + "1234567890abcdef" * 2 + "00"
PASSWORD = "pw-CANARY-Kx7Qz9"
API_TOKEN = "feedface" + "0123456789abcdef" * 2
AMI_SECRET = "ami-CANARY-s3cr3t"
CLIENT_ID = "cid-CANARY-77ab"
ENTERPRISE_SECRET = "ent-secret-CANARY"
UNSAVED_PASSWORD = "pw-CANARY-unsaved"
CANARIES = (ADMIN, INTERNAL, SECRET_KEY, PHONE_KEY, PASSWORD, API_TOKEN, AMI_SECRET, CLIENT_ID, ENTERPRISE_SECRET,
            UNSAVED_PASSWORD)
# Where secrets are kept (masked on every way out); every other table is searched.
KEEPERS = ("enterprises", "admin_tokens", "schema_migrations")


def leaks(text: str, secrets: tuple[str, ...]) -> list[str]:
    return [s for s in secrets if s in text or s.lower() in text.lower()]


def database_text(db_url: str) -> dict[str, str]:
    """Every row of every table (but the keepers) as JSON text, per table."""
    import psycopg2

    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = [r[0] for r in cur.fetchall() if r[0] not in KEEPERS]
            out = {}
            for table in tables:
                cur.execute(f'SELECT coalesce(string_agg(row_to_json(t)::text, E\'\\n\'), \'\') FROM "{table}" t')
                out[table] = str(cur.fetchone()[0])
            return out
    finally:
        conn.close()


class Recorder:
    """Keeps the text (status, headers, body) of every response the flows got."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def keep(self, label: str, status: int, headers: Any, body: str) -> None:
        self.texts.append((label, f"{status}\n{headers}\n{body}"))

    def leaks(self, secrets: tuple[str, ...], *, allowed: dict[str, str] | None = None) -> list[str]:
        found = []
        for label, text in self.texts:
            for secret in leaks(text, secrets):
                if (allowed or {}).get(secret) != label:
                    found.append(f"{label}: {secret}")
        return found


# ------------------------------------------------------------------------------------------- in-process


@pytest.fixture
def app_overrides(emu: EmulatorServer) -> dict[str, Any]:
    return {"HOST_INTEGRATIONS": "ms_plugin:plugin", "HOST_ADMIN_TOKEN": ADMIN, "HOST_INTERNAL_TOKEN": INTERNAL,
            "HOST_SECRET_KEY": SECRET_KEY, "MS_API_URL": emu.json_api_url, "MS_PHONE_API_URL": emu.phone_api_url,
            "MS_ALLOWED_API_HOSTS": "127.0.0.1", "MS_BACKOFF_BASE": "0.01", "MS_BACKOFF_MAX": "0.05",
            "MS_HOT_READ_TIMEOUT": "2", "MS_CONNECT_TIMEOUT": "1"}


@pytest.fixture
def ami() -> Iterator[FakeAmiServer]:
    with FakeAmiServer(username="ms", secret=AMI_SECRET) as server:
        yield server


def test_secrets_never_leave_their_place_in_process(client, run_jobs, emu, ami, db_url, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # as host_app.logging_setup does in every worker
    account = emu.state.create_account({"name": "leak", "phone_key": PHONE_KEY, "employees": [
        {**EMPLOYEES[0], "password": PASSWORD, "token": API_TOKEN}, *EMPLOYEES[1:]]})
    seen = Recorder()
    admin = {"Authorization": f"Bearer {ADMIN}"}

    def do(label: str, method: str, path: str, **kwargs: Any) -> Any:
        resp = client.open(path, method=method, **kwargs)
        seen.keep(label, resp.status_code, resp.headers, resp.get_data(as_text=True))
        return resp

    webhook = str(uuid.uuid4())
    pbx = {"kind": "ami", "host": "127.0.0.1", "port": ami.port, "username": "ms", "secret": AMI_SECRET}
    assert do("create", "PUT", "/api/enterprises/100", headers=admin, json={
        "name": "Leak test", "token": "tok-100", "secret": ENTERPRISE_SECRET, "pbx": pbx}).status_code == 201
    assert do("create http", "PUT", "/api/enterprises/101", headers=admin, json={
        "name": "Leak http", "token": "tok-101", "pbx": {"kind": "http", "url": "http://127.0.0.1:9/x",
                                                         "client_id": CLIENT_ID}}).status_code == 201
    do("get", "GET", "/api/enterprises/100", headers=admin)
    do("get http", "GET", "/api/enterprises/101", headers=admin)
    minted = do("mint", "POST", "/api/enterprises/100/admin-tokens", headers=admin, json={"label": "desk"}).get_json()
    ent_token = minted["token"]
    ent_admin = {"Authorization": f"Bearer {ent_token}"}
    do("tokens", "GET", "/api/enterprises/100/admin-tokens", headers=admin)

    section = {"enabled": True, "integration_code": PHONE_KEY, "login": "admin@leak", "password": PASSWORD,
               "employee_mapping": {}}
    assert do("config put", "PUT", "/ms-admin/config/100", headers=ent_admin, json=section).status_code == 200
    do("config put 101", "PUT", "/ms-admin/config/101", headers=admin, json={
        "enabled": True, "integration_code": PHONE_KEY, "api_token": API_TOKEN})
    webhook = do("config get", "GET", "/ms-admin/config/100", headers=ent_admin).get_json()["webhook_uuid"]
    do("test saved", "POST", "/ms-admin/test/100", headers=ent_admin, json={})
    do("test token", "POST", "/ms-admin/test/101", headers=admin, json={})
    do("test unsaved", "POST", "/ms-admin/test/100", headers=ent_admin, json={"password": UNSAVED_PASSWORD})
    do("employees", "GET", "/ms-admin/employees/100", headers=ent_admin)

    # MoySklad (or a proxy in front of it) echoes the credentials of a request in its error: neither the
    # journal nor a log line may keep them.
    basic = base64.b64encode(f"admin@leak:{PASSWORD}".encode()).decode()
    emu.state.inject("/api/phone/1.0/call", method="POST", status=400, count=1,
                     body={"errors": [{"error": f"bad key {PHONE_KEY}", "code": 2001}]})
    emu.state.inject("/api/remap/1.2/entity/counterparty*", method="GET", status=400, count=1,
                     body={"errors": [{"error": f"Authorization: Basic {basic} ({PASSWORD})", "code": 2001}]})
    for item in recorded("2-1", token="tok-100") + recorded("2-2", token="tok-100"):
        do("dispatch", "POST", "/dispatch/call-event", headers={"X-Internal-Token": INTERNAL},
           environ_base={"REMOTE_ADDR": "203.0.113.7"},
           json={"token": "tok-100", "uniqueId": item["raw"]["UniqueId"], "event_type": item["event_type"],
                 "raw": item["raw"], "record_url": "https://pbx.invalid/r.mp3" if item["event_type"] == "hangup" else None})
        run_jobs()
    do("wrong internal", "POST", "/dispatch/call-event", headers={"X-Internal-Token": INTERNAL[:-1]},
       environ_base={"REMOTE_ADDR": "203.0.113.7"}, json={})
    do("lookup", "GET", "/internal/ms/customer-by-phone?enterprise_number=100&phone=375290000002")
    do("smart", "POST", "/api/callevent/getcustomerdata", headers={"Token": "tok-100"},
       json={"UniqueId": "1", "Phone": "375290000002", "TrunkId": "0001363", "LoadDialPlan": "true"})
    do("test call", "POST", "/ms-admin/test-call/100", headers=ent_admin, json={"extension": "150"})
    run_jobs(include_delayed=True)

    # Click-to-call: MoySklad's signed request, an originate through AMI with its secret.
    body = b'{"srcNumber": "150", "destNumber": "375290000002", "uid": "anna@leak"}'
    signature = sign(PHONE_KEY, "150", "375290000002", "anna@leak", "upper_key_first", raw_body=body)
    do("click", "POST", f"/ms/webhook/{webhook}", data=body,
       headers={"Content-Type": "application/json", "Lognex-Content-MD5": signature})
    run_jobs()
    ami.wait_for_actions(1, timeout=5)

    do("journal", "GET", "/ms-admin/journal/100.json?limit=500", headers=ent_admin)
    do("stats", "GET", "/ms-admin/stats/100", headers=ent_admin)
    do("login", "POST", "/login", data={"token": ADMIN, "next": "/ms/"})
    do("page", "GET", "/ms-admin/?enterprise_number=100")
    do("journal page", "GET", "/ms-admin/journal?enterprise_number=100")
    do("metrics", "GET", "/metrics")
    do("health", "GET", "/health")
    assert ami.logins(), "the flows never reached the PBX: the AMI secret was not exercised"
    assert account and emu.state.calls("leak"), "the flows never reached MoySklad"

    secrets = (*CANARIES, ent_token)
    assert seen.leaks(secrets, allowed={ent_token: "mint"}) == []
    tables = database_text(db_url)
    assert {table: leaks(text, secrets) for table, text in tables.items() if leaks(text, secrets)} == {}
    assert tables["integration_logs"].count("moysklad.") > 5, "the journal holds no MoySklad request to search"
    logged = caplog.text + "\n".join(str(r.exc_info) + r.getMessage() for r in caplog.records)
    assert leaks(logged, secrets) == []


# ------------------------------------------------------------------------------------------- real gunicorn


@pytest.fixture(scope="module")
def canary_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = launch_emulator(tmp_path_factory.mktemp("leak-emulator"), seed=None)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.mark.e2e
@pytest.mark.slow
def test_secrets_never_reach_the_service_log(pg_admin_url, canary_emulator, tmp_path_factory):
    db_url = create_database(pg_admin_url, "leak")
    var_dir, port = tmp_path_factory.mktemp("leak-service"), free_port()
    env = {**canary_emulator.service_env(), "HOST_ADMIN_TOKEN": ADMIN, "HOST_INTERNAL_TOKEN": INTERNAL,
           "HOST_SECRET_KEY": SECRET_KEY, "HOST_LOG_LEVEL": "debug"}
    service = Service(service_environ(db_url, var_dir, port, env), var_dir, port)
    try:
        service.start()
        _run_real_flows(service, canary_emulator)
        secrets = CANARIES
        assert leaks(service.log_text(), secrets) == []
        tables = database_text(db_url)
        assert {table: leaks(text, secrets) for table, text in tables.items() if leaks(text, secrets)} == {}
    finally:
        service.stop()
        drop_database(pg_admin_url, db_url)


def _run_real_flows(service: Service, emulator: Emulator) -> None:
    http = requests.Session()
    http.trust_env = False
    ctl = emulator.control_url
    http.post(ctl + "/accounts", json={"name": "leak", "phone_key": PHONE_KEY, "employees": [
        {**EMPLOYEES[0], "password": PASSWORD}, *EMPLOYEES[1:]]}, timeout=10).raise_for_status()
    admin = {"Authorization": f"Bearer {ADMIN}"}
    url = service.url
    assert http.put(url + "/api/enterprises/100", headers=admin, timeout=10, json={
        "name": "Leak", "token": "tok-100", "secret": ENTERPRISE_SECRET,
        "pbx": {"kind": "ami", "host": "127.0.0.1", "port": 9, "username": "ms", "secret": AMI_SECRET}}).ok
    assert http.put(url + "/ms-admin/config/100", headers=admin, timeout=10, json={
        "enabled": True, "integration_code": PHONE_KEY, "login": "admin@leak", "password": PASSWORD}).ok
    http.post(url + "/ms-admin/test/100", headers=admin, json={"password": UNSAVED_PASSWORD}, timeout=20)
    http.post(url + "/login", data={"token": ADMIN + "x"}, timeout=10)  # a wrong one is logged as a failure
    for item in recorded("2-1", token="tok-100"):
        http.post(url + "/dispatch/call-event", headers={"X-Internal-Token": INTERNAL}, timeout=10, json={
            "token": "tok-100", "uniqueId": item["raw"]["UniqueId"], "event_type": item["event_type"],
            "raw": item["raw"]})
    wait_until(lambda: http.get(ctl + "/calls", params={"account": "leak"}, timeout=5).json()["calls"], 20,
               message=lambda: service.log_tail())
    http.get(url + "/ms-admin/journal/100.json", headers=admin, timeout=10)
