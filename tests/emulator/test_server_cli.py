"""EmulatorServer (threaded, in-process) and the gevent CLI `python -m ms_emulator`."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.procs import terminate
from ms_emulator import EmulatorServer, EmulatorState
from ms_emulator.accounts import DEMO_SPEC

from .helpers import basic, parallel

ROOT = Path(__file__).resolve().parents[2]


def test_server_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError):
        EmulatorServer(host="0.0.0.0")


def test_server_context_manager_serves_and_stops() -> None:
    with EmulatorServer() as emu, requests.Session() as http:
        http.trust_env = False
        assert http.get(f"{emu.control_url}/stats", timeout=5).status_code == 200
        url = emu.url
    with pytest.raises(requests.ConnectionError), requests.Session() as http:
        http.trust_env = False
        http.get(f"{url}/_emulator/stats", timeout=2)


def test_cli_refuses_non_loopback_hosts() -> None:
    result = subprocess.run([sys.executable, "-m", "ms_emulator", "--host", "0.0.0.0"], cwd=ROOT,
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and "127.0.0.1" in result.stderr


@pytest.fixture(scope="module")
def cli() -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, "-m", "ms_emulator", "--port", "0", "--seed", "demo",
                             "--latency-ms", "5"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "no output"
        yield json.loads(line)
    finally:
        terminate(proc)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture()
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


def test_cli_prints_urls_and_the_demo_account_first(cli: dict[str, Any]) -> None:
    assert cli["url"].startswith("http://127.0.0.1:")
    demo = cli["accounts"][0]
    assert demo["name"] == "demo"
    assert sorted(e["extension"] for e in demo["employees"]) == ["150", "151", "152"]
    assert demo["organizations"] and demo["sales_channels"] and demo["states"]
    assert len(demo["counterparties"]) >= 2


def test_demo_seed_is_deterministic(cli: dict[str, Any]) -> None:
    again = EmulatorState(seed="demo").create_account(DEMO_SPEC)
    assert again["phone_key"] == cli["accounts"][0]["phone_key"]


def test_cli_serves_both_apis(cli: dict[str, Any], http: requests.Session) -> None:
    demo = cli["accounts"][0]
    phone = http.get(f"{cli['phone_api_url']}/employee", headers={"Lognex-Phone-Auth-Token": demo["phone_key"]},
                     timeout=5)
    assert phone.status_code == 200 and phone.headers["Content-Encoding"] == "gzip"
    assert len(phone.json()["employees"]) == 3
    user = demo["users"][0]
    rows = http.get(f"{cli['json_api_url']}/entity/counterparty", params={"search": "Ромашка"}, timeout=5,
                    headers={"Authorization": basic(user["login"], user["password"])}).json()["rows"]
    assert rows and rows[0]["contactpersons"]["meta"]["size"] == 1


def test_cli_sustains_many_concurrent_requests(cli: dict[str, Any], http: requests.Session) -> None:
    http.put(f"{cli['control_url']}/knobs", json={"phone_limits_enabled": False, "phone_latency_ms": 200}, timeout=5)
    try:
        key = cli["accounts"][0]["phone_key"]
        started = time.monotonic()
        responses = parallel(100, lambda s: s.get(f"{cli['phone_api_url']}/employee", timeout=10,
                                                  headers={"Lognex-Phone-Auth-Token": key}))
        elapsed = time.monotonic() - started
    finally:
        http.put(f"{cli['control_url']}/knobs", json={"phone_limits_enabled": True, "phone_latency_ms": 5}, timeout=5)
    assert all(r.status_code == 200 for r in responses)
    assert elapsed < 3.0  # 100 x 200 ms served concurrently, not one after another
    stats = http.get(f"{cli['control_url']}/stats", timeout=5).json()
    assert stats["limits"]["principals"]["phone"]["demo"]["max_in_flight"] > 5


def test_cli_drops_connections_on_request(cli: dict[str, Any], http: requests.Session) -> None:
    http.post(f"{cli['control_url']}/faults/inject", json={"path": "/employee", "api": "phone", "drop": "before"},
              timeout=5)
    key = cli["accounts"][0]["phone_key"]
    with pytest.raises(requests.ConnectionError), requests.Session() as fresh:
        fresh.trust_env = False
        fresh.get(f"{cli['phone_api_url']}/employee", headers={"Lognex-Phone-Auth-Token": key}, timeout=5)
    assert http.get(f"{cli['phone_api_url']}/employee", headers={"Lognex-Phone-Auth-Token": key},
                    timeout=5).status_code == 200
