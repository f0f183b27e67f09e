"""``Lognex-Content-MD5``: every known reading is accepted and journaled by name; ``enforce`` refuses a
mismatch (403), ``log`` dials and journals it, ``off`` does not look."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from ms_emulator.signing import VARIANTS, build_body, sign
from ms_plugin.click_to_call.signature import verify
from tests.fakes.ami_server import FakeAmiServer
from tests.ms.click_to_call.helpers import KEY, PHONE, journal, originate_rows

OTHER_KEY = "a" * 40


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("form", [False, True])
def test_each_emulator_variant_is_accepted_under_enforce_and_journaled(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, db_url: str, variant: str,
        form: bool) -> None:
    make_tenant(signature_mode="enforce")
    response = post_click("151", PHONE, "ivanov@acme", variant=variant, form=form)
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    [entry] = journal(db_url, "click_to_call.signature")
    assert entry["status"] == "success"
    assert entry["response"] == {"ok": True, "variant": variant, "reason": "matched"}
    assert originate_rows(db_url)[0]["signature"] == variant
    run_jobs()
    assert len(ami.originates()) == 1


@pytest.mark.parametrize(("variant", "header"), [
    (None, None),                                       # no header at all
    ("upper_key_first", None),                          # signed with another key (header from OTHER_KEY)
    ("garbage", "not-a-signature"),
    ("garbage", "0" * 32),
])
def test_mismatch_under_enforce_is_403_and_nothing_is_dialled(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, db_url: str, variant: str | None,
        header: str | None) -> None:
    make_tenant(signature_mode="enforce")
    if variant == "garbage":
        response = post_click(variant=None, headers={"Lognex-Content-MD5": header or ""})
    else:
        response = post_click(variant=variant, key=OTHER_KEY if variant else KEY)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "signature_mismatch"
    [entry] = journal(db_url, "click_to_call.signature")
    assert entry["status"] == "error" and entry["response"]["ok"] is False
    run_jobs()
    assert ami.connections == 0 and originate_rows(db_url) == []


def test_signature_of_other_values_is_a_mismatch(make_tenant: Any, client: Any, db_url: str) -> None:
    make_tenant(signature_mode="enforce")
    body = build_body("151", "+375291112233", "ivanov@acme")
    header = sign(KEY, "151", PHONE, "ivanov@acme")  # signs another destNumber than the body's
    response = client.post("/ms/webhook/2f6c1a9e-7b55-4e0b-9d0f-3c2b1a0e9f11", data=body,
                           headers={"Content-Type": "application/json", "Lognex-Content-MD5": header})
    assert response.status_code == 403


def test_log_mode_dials_and_journals_the_mismatch(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, db_url: str) -> None:
    make_tenant(signature_mode="log")
    assert post_click(key=OTHER_KEY).status_code == 200
    [entry] = journal(db_url, "click_to_call.signature")
    assert entry["status"] == "error" and entry["response"] == {"ok": False, "variant": None, "reason": "mismatch"}
    assert "dialled anyway" in entry["error"]
    assert originate_rows(db_url)[0]["signature"] == "mismatch"
    run_jobs()
    assert len(ami.originates()) == 1


def test_log_mode_journals_which_variant_matched(make_tenant: Any, post_click: Any, db_url: str) -> None:
    make_tenant(signature_mode="log")
    assert post_click(variant="key_last").status_code == 200
    assert journal(db_url, "click_to_call.signature")[0]["response"]["variant"] == "key_last"


def test_off_mode_does_not_check(make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer,
                                 db_url: str) -> None:
    make_tenant(signature_mode="off")
    assert post_click(variant=None).status_code == 200
    assert journal(db_url, "click_to_call.signature") == []
    assert originate_rows(db_url)[0]["signature"] == "unchecked"
    run_jobs()
    assert len(ami.originates()) == 1


def test_enforce_without_integration_code_refuses(make_tenant: Any, post_click: Any, db_url: str) -> None:
    from tests.ms.click_to_call.helpers import ms_section

    make_tenant(section={**ms_section(signature_mode="enforce"), "integration_code": None})
    assert post_click().status_code == 403
    assert journal(db_url, "click_to_call.signature")[0]["response"]["reason"] == "no_key"


# -- verify() on its own ---------------------------------------------------------------------------------


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def check(header: str | None, key: str | None = KEY, body: bytes = b"{}") -> Any:
    return verify(key, header, src_number="151", dest_number=PHONE, uid="ivanov@acme", raw_body=body)


@pytest.mark.parametrize(("header", "variant"), [
    (md5(KEY + "151" + PHONE + "ivanov@acme").upper(), "upper_key_first"),
    (md5(KEY + "151" + PHONE + "ivanov@acme"), "lower_key_first"),
    (md5("151" + PHONE + "ivanov@acme" + KEY).upper(), "key_last"),
    (md5("151" + PHONE + "ivanov@acme" + KEY), "key_last_lower"),
    (md5(KEY + PHONE + "151" + "ivanov@acme"), "alphabetical_lower"),
    (md5(KEY + "{}").upper(), "raw_body"),
    ("  " + md5(KEY + "151" + PHONE + "ivanov@acme").upper() + " ", "upper_key_first"),
])
def test_verify_names_the_reading_and_its_case(header: str, variant: str) -> None:
    result = check(header)
    assert (result.ok, result.variant, result.reason) == (True, variant, "matched")


@pytest.mark.parametrize(("header", "key", "reason"), [
    (None, KEY, "missing"),
    ("", KEY, "missing"),
    ("zz" * 16, KEY, "malformed"),
    (md5("x").upper() + "00", KEY, "malformed"),
    (md5(KEY + "151" + PHONE + "ivanov@acme"), None, "no_key"),
    (md5(KEY + "151" + PHONE + "ivanov@acme"), OTHER_KEY, "mismatch"),
    (md5(KEY + "151" + "|" + PHONE + "|" + "ivanov@acme"), KEY, "mismatch"),
])
def test_verify_refuses(header: str | None, key: str | None, reason: str) -> None:
    result = check(header, key)
    assert (result.ok, result.variant, result.reason) == (False, None, reason)
