"""AmiClient against the fake AMI server, and PbxRouter's config validation and AMI dispatch."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from host_app.integrations.contract import PbxError
from host_app.pbx import PbxConfigSchema, PbxRouter
from host_app.pbx.ami import AmiClient
from host_app.pbx.values import sanitize_caller_name
from tests.fakes.ami_server import FakeAmiServer

PHONE = "+375291234567"


@pytest.fixture
def ami() -> Iterator[FakeAmiServer]:
    with FakeAmiServer(username="ms", secret="s3cret") as server:
        yield server


def client(server: FakeAmiServer, **kwargs: Any) -> AmiClient:
    options: dict[str, Any] = {"connect_timeout_s": 1.0, "io_timeout_s": 1.0, "answer_grace_s": 0.1}
    options.update(kwargs)
    return AmiClient("127.0.0.1", server.port, "ms", options.pop("secret", "s3cret"), **options)


def without_action_id(action: dict[str, str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in action.items() if k != "ActionID"]


def test_originate_happy_path_sends_exact_actions_in_order(ami: FakeAmiServer) -> None:
    attempt = client(ami).originate("151", PHONE, "Иван Петров", context="web-originate",
                                    dial_context="inoffice", timeout_s=5.0)
    actions = ami.actions
    assert [without_action_id(a) for a in actions] == [
        [("Action", "Login"), ("Username", "ms"), ("Secret", "s3cret"), ("Events", "call")],
        [("Action", "DBPut"), ("Family", "extcall"), ("Key", "nextcall_151"), ("Val", PHONE)],
        [("Action", "DBPut"), ("Family", "extcall"), ("Key", "nextname_151"), ("Val", "Иван Петров")],
        [("Action", "Originate"), ("Channel", "Local/151@web-originate"), ("Application", "Dial"),
         ("Data", f"Local/{PHONE}@inoffice"), ("CallerID", f'"Иван Петров" <{PHONE}>'), ("Async", "true"),
         ("Timeout", "4900")],
        [("Action", "Logoff")],
    ]
    ids = [a["ActionID"] for a in actions]
    assert len(set(ids)) == len(ids)
    assert ami.originates()[0]["ActionID"] == attempt  # the fake also sent a foreign failed response
    assert ami.connections == 1


def test_each_originate_uses_a_fresh_connection(ami: FakeAmiServer) -> None:
    ami.noise = False
    amic = client(ami)
    first = amic.originate("151", PHONE, "A", timeout_s=2.0)
    second = amic.originate("152", "80291234567", "B", context="ctx_2", dial_context="out-1", timeout_s=2.0)
    assert first != second
    assert ami.connections == 2
    assert [o["Channel"] for o in ami.originates()] == ["Local/151@web-originate", "Local/152@ctx_2"]
    assert ami.originates()[1]["Data"] == "Local/80291234567@out-1"


def test_originate_failure_event(ami: FakeAmiServer) -> None:
    ami.originate_response, ami.originate_reason = "Failure", "5"
    with pytest.raises(PbxError) as err:
        client(ami).originate("151", PHONE, "Ivan", timeout_s=2.0)
    assert err.value.code == "originate_failed"
    assert "busy" in err.value.message


def test_originate_refused_by_response_error(ami: FakeAmiServer) -> None:
    ami.originate_error = True
    with pytest.raises(PbxError) as err:
        client(ami).originate("151", PHONE, "Ivan", timeout_s=2.0)
    assert err.value.code == "originate_failed"


def test_login_refused(ami: FakeAmiServer) -> None:
    with pytest.raises(PbxError) as err:
        client(ami, secret="wrong").originate("151", PHONE, "Ivan", timeout_s=2.0)
    assert err.value.code == "auth_failed"
    assert [a["Action"] for a in ami.actions] == ["Login"]
    assert "wrong" not in err.value.message


def test_server_unreachable() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: connection refused
    started = time.monotonic()
    with pytest.raises(PbxError) as err:
        AmiClient("127.0.0.1", port, "ms", "s3cret", connect_timeout_s=1.0).originate("151", PHONE, "x", timeout_s=2.0)
    assert err.value.code == "unreachable"
    assert time.monotonic() - started < 1.0


def test_silent_server_times_out_quickly() -> None:
    with FakeAmiServer(silent=True) as server:
        started = time.monotonic()
        with pytest.raises(PbxError) as err:
            client(server, io_timeout_s=0.3).originate("151", PHONE, "x", timeout_s=5.0)
        elapsed = time.monotonic() - started
    assert err.value.code == "timeout"
    assert 0.25 < elapsed < 1.5


def test_no_originate_response_is_bounded_by_timeout(ami: FakeAmiServer) -> None:
    ami.originate_response = None  # queued, but the extension never answers and no event comes
    started = time.monotonic()
    with pytest.raises(PbxError) as err:
        client(ami).originate("151", PHONE, "x", timeout_s=0.6)
    elapsed = time.monotonic() - started
    assert err.value.code == "timeout"
    assert 0.5 < elapsed < 1.5
    assert len(ami.originates()) == 1


def test_slow_originate_response_within_timeout(ami: FakeAmiServer) -> None:
    ami.event_delay = 0.3
    assert client(ami).originate("151", PHONE, "x", timeout_s=2.0).startswith("ms-")


@pytest.mark.parametrize(("drop_on", "sent"), [("Login", 1), ("DBPut", 2), ("Originate", 4)])
def test_dropped_connection(ami: FakeAmiServer, drop_on: str, sent: int) -> None:
    ami.drop_on = drop_on
    with pytest.raises(PbxError) as err:
        client(ami).originate("151", PHONE, "x", timeout_s=2.0)
    assert err.value.code == "unreachable"
    assert len(ami.actions) == sent


def test_tls_against_a_plain_server_fails_cleanly(ami: FakeAmiServer) -> None:
    with pytest.raises(PbxError) as err:
        client(ami, tls=True).originate("151", PHONE, "x", timeout_s=2.0)
    assert err.value.code in ("unreachable", "timeout")
    assert ami.actions == []


@pytest.mark.parametrize(
    ("extension", "phone", "name", "context"),
    [
        ("151\r\nAction: Command", PHONE, "x", "web-originate"),
        ("151\nAction: Command\nCommand: core stop now", PHONE, "x", "web-originate"),
        ("151", PHONE + "\r\nAction: Command", "x", "web-originate"),
        ("151", "+37529;reboot", "x", "web-originate"),
        ("151", "$(reboot)", "x", "web-originate"),
        ("151", "8029|sh", "x", "web-originate"),
        ("151", "80291234567`id`", "x", "web-originate"),
        ("151", PHONE, "Ivan\r\nAction: Command\r\nCommand: core stop now", "web-originate"),
        ("151", PHONE, "Ivan\nPetrov", "web-originate"),
        ("151", PHONE, "Ivan\x00", "web-originate"),
        ("151", PHONE, "x", "web-originate\r\nAction: Command"),
        ("151", PHONE, "x", "ctx;x"),
        ("1", PHONE, "x", "web-originate"),
        ("1234567", PHONE, "x", "web-originate"),
        ("15a", PHONE, "x", "web-originate"),
        ("151", "12", "x", "web-originate"),
        ("151", PHONE, None, "web-originate"),
        (151, PHONE, "x", "web-originate"),
    ],
)
def test_injection_attempts_are_refused_before_connecting(
    ami: FakeAmiServer, extension: Any, phone: Any, name: Any, context: str
) -> None:
    with pytest.raises(PbxError) as err:
        client(ami).originate(extension, phone, name, context=context, timeout_s=2.0)
    assert err.value.code == "invalid_value"
    time.sleep(0.05)
    assert ami.connections == 0 and ami.frames == []


def test_credentials_with_line_breaks_are_refused() -> None:
    for bad in ({"username": "ms\r\nAction: Command"}, {"secret": "s\n"}, {"host": "127.0.0.1\n"}):
        args = {"host": "127.0.0.1", "username": "ms", "secret": "s", **bad}
        with pytest.raises(PbxError) as err:
            AmiClient(args["host"], 5038, args["username"], args["secret"])
        assert err.value.code == "invalid_value"


def test_caller_name_is_sanitised(ami: FakeAmiServer) -> None:
    raw = 'ООО "Ромашка" \\ <b>\tи\x1b[31m сыновья\u202e\u2028' + "я" * 60
    client(ami).originate("151", PHONE, raw, timeout_s=2.0)
    expected = sanitize_caller_name(raw)
    assert expected.startswith("ООО Ромашка b и[31m сыновья")
    assert len(expected) == 40 and not any(ch in expected for ch in '"\\<>\t\x1b\u202e\u2028')
    assert ami.actions_named("DBPut")[1]["Val"] == expected
    assert ami.originates()[0]["CallerID"] == f'"{expected}" <{PHONE}>'


def test_empty_caller_name_falls_back_to_the_phone(ami: FakeAmiServer) -> None:
    client(ami).originate("151", PHONE, '""  \t', timeout_s=2.0)
    assert ami.actions_named("DBPut")[1]["Val"] == PHONE


# ------------------------------------------------------------------------------------- PbxRouter


def ami_config(server: FakeAmiServer, **extra: Any) -> dict[str, Any]:
    return {"kind": "ami", "host": "127.0.0.1", "port": server.port, "username": "ms", "secret": "s3cret", **extra}


def test_router_dispatches_to_ami_with_config_contexts(ami: FakeAmiServer) -> None:
    configs = {"0367": ami_config(ami, context="click2call", dial_context="trunk_out")}
    router = PbxRouter(configs.get, timeout_s=2.0, io_timeout_s=1.0)
    attempt = router.originate("0367", "151", PHONE, "Ivan")
    originate = ami.originates()[0]
    assert originate["ActionID"] == attempt
    assert originate["Channel"] == "Local/151@click2call"
    assert originate["Data"] == f"Local/{PHONE}@trunk_out"


def test_router_uses_default_contexts(ami: FakeAmiServer) -> None:
    PbxRouter({"1": ami_config(ami)}.get, timeout_s=2.0).originate("1", "151", PHONE, "Ivan")
    assert ami.originates()[0]["Channel"] == "Local/151@web-originate"
    assert ami.originates()[0]["Data"] == f"Local/{PHONE}@inoffice"


def test_router_maps_ami_errors(ami: FakeAmiServer) -> None:
    router = PbxRouter({"1": ami_config(ami, secret="nope")}.get, timeout_s=2.0)
    with pytest.raises(PbxError) as err:
        router.originate("1", "151", PHONE, "Ivan")
    assert err.value.code == "auth_failed"


@pytest.mark.parametrize("stored", [None, {}, "ami", ["kind", "ami"]])
def test_router_not_configured(stored: Any) -> None:
    with pytest.raises(PbxError) as err:
        PbxRouter(lambda number: stored).originate("0367", "151", PHONE, "Ivan")
    assert err.value.code == "not_configured"


@pytest.mark.parametrize(
    ("config", "bad_field"),
    [
        ({"kind": "sip", "host": "h"}, "kind"),
        ({"host": "h"}, "kind"),
        ({"kind": "ami", "host": "h", "port": 70000, "username": "u", "secret": "TOPSECRET"}, "port"),
        ({"kind": "ami", "host": "h", "port": 0, "username": "u", "secret": "TOPSECRET"}, "port"),
        ({"kind": "ami", "host": "h", "port": True, "username": "u", "secret": "TOPSECRET"}, "port"),
        ({"kind": "ami", "host": "h", "port": "5038", "username": "u", "secret": "TOPSECRET"}, "port"),
        ({"kind": "ami", "host": "h", "port": 5038, "username": "u"}, "secret"),
        ({"kind": "ami", "port": 5038, "username": "u", "secret": "TOPSECRET"}, "host"),
        ({"kind": "ami", "host": "h x", "port": 5038, "username": "u", "secret": "TOPSECRET"}, "host"),
        ({"kind": "ami", "host": "h", "port": 5038, "username": "u", "secret": "TOPSECRET", "context": "a;b"}, "context"),
        ({"kind": "ami", "host": "h", "port": 5038, "username": "u", "secret": "TOPSECRET",
          "dial_context": "x" * 41}, "dial_context"),
        ({"kind": "ami", "host": "h", "port": 5038, "username": "u\r\nAction: Command", "secret": "TOPSECRET"},
         "username"),
        ({"kind": "ami", "host": "h", "port": 5038, "username": "u", "secret": "TOPSECRET", "url": "http://x"},
         "url"),
        ({"kind": "ami", "host": "h", "port": 5038, "username": "u", "secret": "TOPSECRET", "extra": 1}, "extra"),
        ({"kind": "http", "client_id": "TOPSECRET"}, "url"),
        ({"kind": "http", "url": "http://127.0.0.1:8018/api/makecallexternal"}, "client_id"),
        ({"kind": "http", "url": "ftp://127.0.0.1/x", "client_id": "TOPSECRET"}, "url"),
        ({"kind": "http", "url": "http://user:pw@127.0.0.1/x", "client_id": "TOPSECRET"}, "url"),
        ({"kind": "http", "url": "/api/makecallexternal", "client_id": "TOPSECRET"}, "url"),
        ({"kind": "http", "url": "http://h/x", "client_id": "TOPSECRET", "host": "h"}, "host"),
    ],
)
def test_router_refuses_invalid_config(config: dict[str, Any], bad_field: str) -> None:
    with pytest.raises(PbxError) as err:
        PbxRouter({"1": config}.get).originate("1", "151", PHONE, "Ivan")
    assert err.value.code == "not_configured"
    assert bad_field in err.value.message
    assert "TOPSECRET" not in err.value.message


def test_schema_defaults_and_secret_not_dumped() -> None:
    schema = PbxConfigSchema()
    loaded = schema.load({"kind": "ami", "host": "pbx.example.invalid", "port": 5038, "username": "ms",
                          "secret": "TOPSECRET"})
    assert loaded == {"kind": "ami", "host": "pbx.example.invalid", "port": 5038, "username": "ms",
                      "secret": "TOPSECRET", "tls": False, "context": "web-originate", "dial_context": "inoffice"}
    assert "secret" not in schema.dump(loaded)
    http = schema.load({"kind": "http", "url": "https://127.0.0.1:8018/api/makecallexternal", "client_id": "c"})
    assert http == {"kind": "http", "url": "https://127.0.0.1:8018/api/makecallexternal", "client_id": "c"}
    assert schema.dump(http) == {"kind": "http", "url": "https://127.0.0.1:8018/api/makecallexternal"}
