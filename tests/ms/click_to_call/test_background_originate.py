"""The background originate: outcomes on the row and in the journal, bounded and never twice.

An unreachable PBX ends in a journaled failure within moments (retried only while nothing was sent); a
PBX that dropped us after the Originate, a re-run after a crash and a stale click are never dialled again.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from host_app.integrations.contract import PbxError
from ms_plugin.click_to_call import repo
from ms_plugin.click_to_call.job import nothing_was_sent
from tests.factories import sql
from tests.fakes.ami_server import FakeAmiServer
from tests.ms.click_to_call.helpers import ENT, age_originates, jobs, journal, originate_rows


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: connection refused
    return port


def run_with_retries(run_jobs: Any, rounds: int = 5) -> None:
    """Run the jobs, pulling each retry's delay forward (drain does that once per call)."""
    for _ in range(rounds):
        run_jobs(include_delayed=True)


def test_unreachable_pbx_ends_failed_and_journaled_quickly(make_tenant: Any, post_click: Any, run_jobs: Any,
                                                          db_url: str) -> None:
    make_tenant(pbx={"kind": "ami", "host": "127.0.0.1", "port": closed_port(), "username": "ms",
                     "secret": "s3cret"})
    assert post_click().status_code == 200
    started = time.monotonic()
    run_with_retries(run_jobs)
    assert time.monotonic() - started < 3.0
    [row] = originate_rows(db_url)
    assert (row["status"], row["error_code"], row["attempts"]) == ("failed", "unreachable", 3)
    [(kind, state, error)] = jobs(db_url)
    assert state == "failed" and "unreachable" in (error or "")
    [entry] = journal(db_url, "click_to_call.originate")
    assert entry["status"] == "error" and entry["error"].startswith("unreachable:")
    assert entry["response"] == {"code": "unreachable", "attempts": 3}


def test_unreachable_then_back_rings_once(make_tenant: Any, post_click: Any, run_jobs: Any, db_url: str,
                                          ami: FakeAmiServer) -> None:
    make_tenant(pbx={"kind": "ami", "host": "127.0.0.1", "port": closed_port(), "username": "ms",
                     "secret": "s3cret"})
    post_click()
    assert run_jobs() == 1  # first attempt: refused, retried later
    assert originate_rows(db_url)[0]["status"] == "pending"
    sql(db_url, "UPDATE enterprises SET pbx = jsonb_set(pbx, '{port}', %s::jsonb)", (str(ami.port),))
    run_with_retries(run_jobs)
    assert len(ami.originates()) == 1
    assert originate_rows(db_url)[0]["status"] == "dialled"


def test_silent_unreachable_http_service_is_bounded(make_tenant: Any, post_click: Any, run_jobs: Any,
                                                    db_url: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api/makecallexternal"
    make_tenant(pbx={"kind": "http", "url": url, "client_id": "c"})
    post_click()
    started = time.monotonic()
    run_with_retries(run_jobs)
    assert time.monotonic() - started < 3.0
    row = originate_rows(db_url)[0]
    assert (row["status"], row["error_code"]) == ("failed", "unreachable")


def test_silent_pbx_times_out_instead_of_hanging(make_tenant: Any, post_click: Any, run_jobs: Any,
                                                 db_url: str) -> None:
    with FakeAmiServer(silent=True) as silent:  # accepts the connection, never says a word
        make_tenant(pbx={"kind": "ami", "host": "127.0.0.1", "port": silent.port, "username": "ms",
                         "secret": "s3cret"})
        post_click()
        started = time.monotonic()
        run_with_retries(run_jobs)
        elapsed = time.monotonic() - started
    assert elapsed < 8.0  # the host adapter's I/O timeout (5 s), once: a timeout is never retried
    row = originate_rows(db_url)[0]
    assert (row["status"], row["error_code"], row["attempts"]) == ("failed", "timeout", 1)
    assert jobs(db_url)[0][1] == "failed"
    assert journal(db_url, "click_to_call.originate")[0]["error"].startswith("timeout:")


def test_connection_dropped_after_the_originate_is_not_retried(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, db_url: str) -> None:
    make_tenant()
    ami.drop_on = "Originate"  # it may have been placed: trying again could ring twice
    post_click()
    run_with_retries(run_jobs)
    assert len(ami.originates()) == 1
    row = originate_rows(db_url)[0]
    assert (row["status"], row["error_code"], row["attempts"]) == ("failed", "unreachable", 1)


def test_busy_extension_is_a_failed_originate_but_a_finished_job(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, db_url: str) -> None:
    make_tenant()
    ami.originate_response, ami.originate_reason = "Failure", "5"
    post_click()
    run_with_retries(run_jobs)
    assert len(ami.originates()) == 1
    row = originate_rows(db_url)[0]
    assert (row["status"], row["error_code"]) == ("failed", "originate_failed")
    assert jobs(db_url)[0][1] == "done"
    assert "busy" in journal(db_url, "click_to_call.originate")[0]["error"]


def test_refused_ami_login_fails_the_job(make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer,
                                         db_url: str) -> None:
    make_tenant(pbx={"kind": "ami", "host": "127.0.0.1", "port": ami.port, "username": "ms", "secret": "wrong"})
    post_click()
    run_with_retries(run_jobs)
    assert ami.originates() == []
    assert originate_rows(db_url)[0]["error_code"] == "auth_failed"
    assert jobs(db_url)[0][1] == "failed"
    assert "wrong" not in str(journal(db_url, "click_to_call.originate"))


def test_rerun_after_a_crash_mid_originate_does_not_ring_again(
        make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer, db_url: str) -> None:
    make_tenant()
    post_click()
    sql(db_url, "UPDATE ms_originates SET sent_at = now(), attempts = 1")  # a worker died after sending
    run_jobs()
    assert ami.connections == 0
    row = originate_rows(db_url)[0]
    assert (row["status"], row["error_code"]) == ("failed", "interrupted")
    assert journal(db_url, "click_to_call.originate")[0]["status"] == "error"


def test_stale_click_is_not_dialled(make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer,
                                    db_url: str) -> None:
    make_tenant()
    post_click()
    age_originates(db_url, 50)  # a backlog: the user gave up long ago
    run_jobs()
    assert ami.connections == 0
    assert originate_rows(db_url)[0]["error_code"] == "expired"


def test_job_run_twice_rings_once(make_tenant: Any, post_click: Any, run_jobs: Any, ami: FakeAmiServer,
                                  db_url: str) -> None:
    make_tenant()
    post_click()
    run_jobs()
    sql(db_url, "UPDATE jobs SET state = 'pending', run_at = now()")  # e.g. re-driven by the reaper
    run_jobs()
    assert len(ami.originates()) == 1
    assert originate_rows(db_url)[0]["status"] == "dialled"


def test_outcome_never_overwrites_a_match(make_tenant: Any, post_click: Any, app: Any, db_url: str) -> None:
    make_tenant()
    post_click()
    originate_id = originate_rows(db_url)[0]["id"]
    services = app.extensions["ms_plugin"].state.services
    with services.db.connection() as conn:
        repo.finish_originate(conn, ENT, originate_id, "matched")  # the call flow saw the dial first
        assert repo.finish_originate(conn, ENT, originate_id, "dialled", attempt_id="ms-1") == "matched"
        assert repo.finish_originate(conn, ENT, originate_id, "failed", error_code="timeout") == "matched"


@pytest.mark.parametrize(("error", "retry"), [
    (PbxError("unreachable", "cannot connect to the PBX (ConnectionRefusedError)"), True),
    (PbxError("unreachable", "the PBX control service did not accept the connection in time"), True),
    (PbxError("unreachable", "connection to the PBX lost (ConnectionResetError)"), False),
    (PbxError("unreachable", "the PBX closed the connection"), False),
    (PbxError("unreachable", "cannot reach the PBX control service (ConnectionError)"), False),
    (PbxError("timeout", "no OriginateResponse from the PBX for extension 151"), False),
    (PbxError("originate_failed", "extension 151: busy (reason 5)"), False),
])
def test_only_a_failed_connect_is_known_to_have_sent_nothing(error: PbxError, retry: bool) -> None:
    assert nothing_was_sent(error) is retry
