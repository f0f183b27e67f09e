"""``match_originate``: the call flow's question "is this CallType 1 dial the conversation a MoySklad
user clicked for?" Once per originate, same extension, same number in any format, within 60 s."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest

from ms_plugin.click_to_call import repo
from ms_plugin.click_to_call.originates import comparable_digits, match_originate
from tests.factories import make_enterprise, sql
from tests.ms.click_to_call.helpers import DIGITS, ENT, IVANOV, PHONE, age_originates, originate_rows


@pytest.fixture
def conn(db_url: str) -> Iterator[Any]:
    make_enterprise(db_url, ENT)
    connection = psycopg2.connect(db_url)
    yield connection
    connection.rollback()
    connection.close()


def add_originate(conn: Any, extension: str = "151", digits: str = DIGITS, status: str = "pending",
                  error_code: str | None = None) -> int:
    originate_id = repo.insert_originate(conn, ENT, extension=extension, employee_id=IVANOV, dest_digits=digits,
                                         dest_e164="+" + digits, dial_number=digits, signature="upper_key_first")
    if status != "pending":
        repo.finish_originate(conn, ENT, originate_id, status, error_code=error_code)
    conn.commit()
    return originate_id


@pytest.mark.parametrize("phone", [DIGITS, PHONE, "80291234567", "8 (029) 123-45-67", "291234567",
                                   "+375 29 123-45-67", 375291234567, "00375291234567"])
def test_dial_in_any_format_of_the_number_matches(conn: Any, db_url: str, phone: Any) -> None:
    add_originate(conn)
    assert match_originate(conn, ENT, "151", phone) is True
    conn.commit()
    assert originate_rows(db_url)[0]["status"] == "matched"


def test_marks_one_originate_once(conn: Any, db_url: str) -> None:
    add_originate(conn)
    assert match_originate(conn, ENT, "151", "80291234567", unique_id="1700000000.1") is True
    assert match_originate(conn, ENT, "151", "80291234567", unique_id="1700000000.9") is False
    assert match_originate(conn, ENT, "151", "80291234567") is False
    conn.commit()
    [row] = originate_rows(db_url)
    assert (row["status"], row["matched_unique_id"]) == ("matched", "1700000000.1")


def test_the_same_dial_asked_again_gets_the_same_answer(conn: Any) -> None:
    add_originate(conn)
    assert match_originate(conn, ENT, "151", DIGITS, unique_id="1700000000.1") is True
    conn.commit()
    assert match_originate(conn, ENT, "151", DIGITS, unique_id="1700000000.1") is True  # a re-run of its job


def test_two_clicks_are_matched_oldest_first(conn: Any, db_url: str) -> None:
    first, second = add_originate(conn), add_originate(conn)
    assert match_originate(conn, ENT, "151", DIGITS, unique_id="a") is True
    assert match_originate(conn, ENT, "151", DIGITS, unique_id="b") is True
    conn.commit()
    assert {r["id"]: r["matched_unique_id"] for r in originate_rows(db_url)} == {first: "a", second: "b"}


@pytest.mark.parametrize(("extension", "phone"), [
    ("152", DIGITS),             # another extension dialled that number
    ("151", "375297654321"),     # the clicker dialled someone else
    ("151", "+79161234567"),
    ("151", "151"),              # an extension is never a match
    ("151", ""),
    ("151", None),
    ("151", "anonymous"),
    ("15a", DIGITS),
    ("151\r\n", DIGITS),
])
def test_other_extension_or_number_does_not_match(conn: Any, db_url: str, extension: str, phone: Any) -> None:
    add_originate(conn)
    assert match_originate(conn, ENT, extension, phone) is False
    conn.commit()
    assert originate_rows(db_url)[0]["status"] == "pending"


def test_not_after_sixty_seconds(conn: Any, db_url: str) -> None:
    add_originate(conn)
    age_originates(db_url, 61)
    assert match_originate(conn, ENT, "151", DIGITS) is False
    age_originates(db_url, -2)  # 59 s old
    assert match_originate(conn, ENT, "151", DIGITS) is True


def test_window_is_measured_from_the_dial_when_given(conn: Any, db_url: str) -> None:
    add_originate(conn)
    age_originates(db_url, 300)  # the dial's job runs late (a backlog); the dial itself was in time
    created = sql(db_url, "SELECT created_at FROM ms_originates")[0][0]
    assert match_originate(conn, ENT, "151", DIGITS, at=created + dt.timedelta(seconds=90)) is False
    assert match_originate(conn, ENT, "151", DIGITS, at=created + dt.timedelta(seconds=20)) is True


def test_a_dial_before_the_click_does_not_match(conn: Any, db_url: str) -> None:
    add_originate(conn)
    created = sql(db_url, "SELECT created_at FROM ms_originates")[0][0]
    assert match_originate(conn, ENT, "151", DIGITS, at=created - dt.timedelta(seconds=30)) is False


@pytest.mark.parametrize(("status", "error_code", "matches"), [
    ("dialled", None, True),
    ("failed", "timeout", True),           # we stopped waiting; the PBX may well have placed it
    ("failed", "unreachable", False),      # it never reached the PBX: a manual dial, not our click
    ("failed", "originate_failed", False),
])
def test_which_outcomes_can_be_matched(conn: Any, status: str, error_code: str | None, matches: bool) -> None:
    add_originate(conn, status=status, error_code=error_code)
    assert match_originate(conn, ENT, "151", DIGITS) is matches


def test_rollback_of_the_callers_transaction_undoes_the_match(conn: Any, db_url: str) -> None:
    add_originate(conn)
    assert match_originate(conn, ENT, "151", DIGITS) is True
    conn.rollback()
    assert originate_rows(db_url)[0]["status"] == "pending"
    assert match_originate(conn, ENT, "151", DIGITS) is True


def test_tenants_are_isolated(conn: Any, db_url: str) -> None:
    make_enterprise(db_url, "0368")
    add_originate(conn)
    assert match_originate(conn, "0368", "151", DIGITS) is False


def test_two_racing_dials_match_once(conn: Any, db_url: str) -> None:
    add_originate(conn)
    assert match_originate(conn, ENT, "151", DIGITS, unique_id="a") is True  # not committed yet
    results: list[bool] = []

    def other_dial() -> None:
        own = psycopg2.connect(db_url)
        try:
            results.append(match_originate(own, ENT, "151", DIGITS, unique_id="b"))
            own.commit()
        finally:
            own.close()

    thread = threading.Thread(target=other_dial)
    thread.start()
    thread.join(0.3)
    assert thread.is_alive()  # it waits for the first transaction instead of skipping the row
    conn.commit()
    thread.join(5)
    assert results == [False]
    assert originate_rows(db_url)[0]["matched_unique_id"] == "a"


@pytest.mark.parametrize(("raw", "digits"), [
    ("+375 29 123-45-67", "291234567"), ("80291234567", "291234567"), ("1234567", "1234567"),
    ("12345", None), ("", None), (None, None), (True, None), ("9" * 65, None),
])
def test_comparable_digits(raw: Any, digits: str | None) -> None:
    assert comparable_digits(raw) == digits


def test_click_through_the_webhook_is_matched(make_tenant: Any, post_click: Any, run_jobs: Any, app: Any,
                                              db_url: str) -> None:
    make_tenant()
    post_click()
    run_jobs()
    with app.extensions["ms_plugin"].state.services.db.connection() as connection:
        assert match_originate(connection, ENT, "151", "80291234567", unique_id="1700000000.5") is True
    assert originate_rows(db_url)[0]["status"] == "matched"
