"""Double clicks ring once (10 s per employee and destination); at most ``max_per_minute`` dialled
clicks per enterprise in 60 s, refused clicks not counted, 429 with ``Retry-After`` beyond."""

from __future__ import annotations

import threading
from typing import Any

from ms_emulator.signing import sign
from tests.factories import sql
from tests.fakes.ami_server import FakeAmiServer
from tests.ms.click_to_call.helpers import KEY, PHONE, UUID, age_originates, journal, originate_rows

OTHER = "+375297654321"


def test_duplicate_click_within_ten_seconds_rings_once(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, db_url: str) -> None:
    make_tenant()
    assert post_click().get_json() == {"status": "ok"}
    second = post_click("151", "+375 29 123-45-67", "ivanov@acme")  # the same number, written differently
    assert second.status_code == 200 and second.get_json() == {"status": "duplicate"}
    run_jobs()
    assert len(ami.originates()) == 1
    assert len(originate_rows(db_url)) == 1
    assert [e["status"] for e in journal(db_url, "click_to_call.request")] == ["success", "skipped"]


def test_duplicate_after_the_first_was_dialled_is_still_a_duplicate(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer) -> None:
    make_tenant()
    post_click()
    run_jobs()
    assert post_click().get_json() == {"status": "duplicate"}
    run_jobs()
    assert len(ami.originates()) == 1


def test_same_click_after_ten_seconds_rings_again(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, db_url: str) -> None:
    make_tenant()
    post_click()
    run_jobs()
    age_originates(db_url, 11)
    assert post_click().get_json() == {"status": "ok"}
    run_jobs()
    assert len(ami.originates()) == 2


def test_other_destination_or_other_employee_is_not_a_duplicate(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer) -> None:
    make_tenant()
    assert post_click("151", PHONE, "ivanov@acme").get_json() == {"status": "ok"}
    assert post_click("151", OTHER, "ivanov@acme").get_json() == {"status": "ok"}
    assert post_click("201", PHONE, "petrova@acme").get_json() == {"status": "ok"}
    run_jobs()
    assert sorted(o["Channel"] for o in ami.originates()) == [
        "Local/151@web-originate", "Local/151@web-originate", "Local/152@web-originate"]


def test_a_failed_originate_does_not_block_a_retry_click(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer) -> None:
    make_tenant()
    ami.originate_response = "Failure"  # busy
    post_click()
    run_jobs()
    ami.originate_response = "Success"
    assert post_click().get_json() == {"status": "ok"}
    run_jobs()
    assert len(ami.originates()) == 2


def test_simultaneous_identical_clicks_ring_once(make_tenant: Any, app: Any, plugin_state: Any, run_jobs: Any,
                                                 ami: FakeAmiServer) -> None:
    make_tenant()
    body = '{"srcNumber": "151", "destNumber": "%s", "uid": "ivanov@acme"}' % PHONE
    headers = {"Content-Type": "application/json",
               "Lognex-Content-MD5": sign(KEY, "151", PHONE, "ivanov@acme")}
    barrier = threading.Barrier(4)
    results: list[dict[str, Any]] = []

    def click() -> None:
        client = app.test_client()
        barrier.wait(timeout=5)
        results.append(client.post(f"/ms/webhook/{UUID}", data=body, headers=headers).get_json())

    threads = [threading.Thread(target=click) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(r["status"] for r in results) == ["duplicate", "duplicate", "duplicate", "ok"]
    run_jobs()
    assert len(ami.originates()) == 1


def test_over_max_per_minute_is_429_with_retry_after(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, db_url: str) -> None:
    make_tenant(max_per_minute=2)
    assert post_click("151", PHONE, "ivanov@acme").status_code == 200
    assert post_click("201", PHONE, "petrova@acme").status_code == 200
    refused = post_click("153", PHONE, "")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert 58 <= int(refused.headers["Retry-After"]) <= 60
    run_jobs()
    assert len(ami.originates()) == 2
    assert journal(db_url, "click_to_call.request")[-1]["response"]["status"] == 429


def test_retry_after_counts_down_with_the_oldest_click(make_tenant: Any, post_click: Any, db_url: str) -> None:
    make_tenant(max_per_minute=2)
    post_click("151", PHONE, "ivanov@acme")
    sql(db_url, "UPDATE ms_originates SET created_at = now() - interval '45 seconds'")
    post_click("201", PHONE, "petrova@acme")
    response = post_click("153", PHONE, "")
    assert response.status_code == 429 and 14 <= int(response.headers["Retry-After"]) <= 16
    age_originates(db_url, 16)  # the oldest click has left the window
    assert post_click("153", PHONE, "").status_code == 200


def test_refused_clicks_do_not_count_towards_the_limit(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer) -> None:
    make_tenant(max_per_minute=2)
    for _ in range(3):
        assert post_click("151", "$(reboot)", "ivanov@acme").status_code == 422
        assert post_click(key="b" * 40).status_code == 403
        assert post_click("999", PHONE, "stranger@acme").status_code == 422
    assert post_click("151", PHONE, "ivanov@acme").status_code == 200
    assert post_click("151", PHONE, "ivanov@acme").get_json() == {"status": "duplicate"}  # not counted either
    assert post_click("201", PHONE, "petrova@acme").status_code == 200
    assert post_click("153", PHONE, "").status_code == 429
    run_jobs()
    assert len(ami.originates()) == 2


def test_rate_limit_is_per_enterprise(make_tenant: Any, post_click: Any) -> None:
    from tests.ms.click_to_call.helpers import ms_section

    make_tenant("0367", max_per_minute=1)
    other = "9a8b7c6d-0000-4000-8000-00000000abcd"
    make_tenant("0368", section={**ms_section(max_per_minute=1), "webhook_uuid": other})
    assert post_click().status_code == 200
    assert post_click(path=other).status_code == 200
    assert post_click("201", PHONE, "petrova@acme").status_code == 429


def test_rows_apply_top_to_bottom_duplicate_before_rate_limit_before_no_pbx(
        make_tenant: Any, post_click: Any, db_url: str) -> None:
    make_tenant(max_per_minute=1)
    assert post_click().status_code == 200
    assert post_click().get_json() == {"status": "duplicate"}
    sql(db_url, "UPDATE enterprises SET pbx = NULL")
    assert post_click().get_json() == {"status": "duplicate"}
    assert post_click("201", PHONE, "petrova@acme").status_code == 429
    age_originates(db_url, 61)
    assert post_click("201", PHONE, "petrova@acme").status_code == 409
