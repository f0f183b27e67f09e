"""End to end over real HTTP: the MoySklad emulator's ``/_emulator/click-to-call`` hook signs and POSTs
the request to our app served on 127.0.0.1, in each signature variant and body format."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from ms_emulator import EmulatorServer, EmulatorState
from ms_emulator.signing import VARIANTS
from tests.fakes.ami_server import FakeAmiServer
from tests.ms.click_to_call.helpers import DIGITS, KEY, PHONE, UUID, journal


@pytest.fixture
def live_url(app: Any, plugin_state: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorState()) as emu:
        emu.state.create_account({"name": "acme", "phone_key": KEY})
        emu.state.create_account({"name": "other", "phone_key": "b" * 40})
        yield emu


def fire(emulator: EmulatorServer, url: str, **extra: Any) -> dict[str, Any]:
    body = {"url": url, "srcNumber": "151", "destNumber": PHONE, "uid": "ivanov@acme", "account": "acme", **extra}
    with requests.Session() as session:
        session.trust_env = False
        response = session.post(f"{emulator.control_url}/click-to-call", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("body_format", ["json", "form"])
def test_emulator_click_rings_the_extension(make_tenant: Any, live_url: str, emulator: EmulatorServer,
                                            run_jobs: Any, ami: FakeAmiServer, db_url: str, variant: str,
                                            body_format: str) -> None:
    make_tenant(signature_mode="enforce")
    result = fire(emulator, f"{live_url}/ms/webhook/{UUID}", variant=variant, body_format=body_format)
    assert result["status"] == 200 and result["json"] == {"status": "ok"}
    assert result["elapsed_ms"] < 2000  # answered before any originate
    run_jobs()
    [originate] = ami.originates()
    assert originate["Channel"] == "Local/151@web-originate"
    assert originate["Data"] == f"Local/{DIGITS}@inoffice"
    assert journal(db_url, "click_to_call.signature")[0]["response"]["variant"] == variant


def test_emulator_click_signed_with_another_accounts_key_is_refused(
        make_tenant: Any, live_url: str, emulator: EmulatorServer, run_jobs: Any, ami: FakeAmiServer) -> None:
    make_tenant(signature_mode="enforce")
    result = fire(emulator, f"{live_url}/ms/webhook/{UUID}", account="other")
    assert result["status"] == 403 and result["json"]["error"]["code"] == "signature_mismatch"
    run_jobs()
    assert ami.connections == 0


def test_emulator_click_at_the_seed_path(make_tenant: Any, live_url: str, emulator: EmulatorServer,
                                         run_jobs: Any, ami: FakeAmiServer) -> None:
    make_tenant("0367", signature_mode="enforce")
    assert fire(emulator, f"{live_url}/ms/webhook/0367")["status"] == 200
    run_jobs()
    assert len(ami.originates()) == 1
