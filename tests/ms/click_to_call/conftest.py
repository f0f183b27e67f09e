"""Fixtures of the click-to-call tests: a tenant with employees, a fake AMI server, a signed click."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from ms_emulator.signing import sign
from tests.factories import make_enterprise
from tests.fakes.ami_server import FakeAmiServer
from tests.ms.click_to_call.helpers import ENT, KEY, PHONE, UUID, ami_pbx, ms_section, seed_employees


@pytest.fixture
def ami() -> Iterator[FakeAmiServer]:
    with FakeAmiServer(username="ms", secret="s3cret") as server:
        yield server


@pytest.fixture
def make_tenant(db_url: str, ami: FakeAmiServer) -> Callable[..., str]:
    """``make_tenant(number, pbx=..., section=..., **click_to_call)``: an enterprise with seeded employees."""
    def make(number: str = ENT, *, pbx: dict[str, Any] | None | str = "ami", section: dict[str, Any] | None = None,
             active: bool = True, **click_to_call: Any) -> str:
        config = section if section is not None else ms_section(**click_to_call)
        make_enterprise(db_url, number, integrations_config={"ms": config}, active=active,
                        pbx=ami_pbx(ami) if pbx == "ami" else pbx)  # type: ignore[arg-type]
        seed_employees(db_url, number)
        return number

    return make


@pytest.fixture
def plugin_state(app: Any) -> Any:
    state = app.extensions["ms_plugin"].state
    state.lookup = None  # no client lookup unless a test installs one (it would ask MoySklad)
    return state


@pytest.fixture
def post_click(client: Any, plugin_state: Any) -> Callable[..., Any]:
    """``post_click(src, dest, uid, variant=..., key=..., path=..., form=False, headers=None)``."""
    def post(src: str = "151", dest: str = PHONE, uid: str = "ivanov@acme", *,
             variant: str | None = "upper_key_first",
             key: str = KEY, path: str = UUID, form: bool = False, headers: dict[str, str] | None = None,
             body: Any = None) -> Any:
        fields = {"srcNumber": src, "destNumber": dest, "uid": uid}
        if body is None:
            body = (urlencode(fields) if form else json.dumps(fields, ensure_ascii=False)).encode("utf-8")
        sent = {"Content-Type": "application/x-www-form-urlencoded" if form else "application/json"}
        if variant is not None:
            sent["Lognex-Content-MD5"] = sign(key, src, dest, uid, variant, raw_body=body)
        sent.update(headers or {})
        return client.post(f"/ms/webhook/{path}", data=body, headers=sent)

    return post


