"""The real service: gunicorn with two gevent workers, over HTTP, with its background runners."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import REPO, Service, free_port, make_e2e_enterprise, wait_until

pytestmark = pytest.mark.e2e


def dispatch(service: Service, token: str, unique_id: str, *, session: requests.Session | None = None,
             event_type: str = "dial") -> requests.Response:
    http = session or service.http
    return http.post(service.url + "/dispatch/call-event", timeout=10, json={
        "token": token, "uniqueId": unique_id, "event_type": event_type,
        "raw": {"UniqueId": unique_id, "CallType": 0, "Phone": "+375291234567", "Trunk": "0001363"}})


def job_states(service: Service, enterprise_number: str) -> list[str]:
    return [r[0] for r in service.sql("SELECT state FROM jobs WHERE enterprise_number = %s ORDER BY id",
                                      (enterprise_number,))]


def echo_tenant(service: Service) -> dict[str, str]:
    return make_e2e_enterprise(service.database_url, integrations_config={"echo": {"enabled": True}})


def dispatch_total(service: Service) -> float:
    resp = service.get("/metrics")
    assert resp.status_code == 200
    total = 0.0
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            if sample.name == "host_dispatch_events_total":
                total += sample.value
    return total


def test_health_answers_over_http(service):
    resp = service.get("/health")
    assert resp.status_code == 200
    body = resp.json()
    assert (body["status"], body["db"]) == ("ok", "ok")
    assert {"ms", "echo"} <= set(body["integrations"])
    assert all(entry["loaded"] is True for entry in body["integrations"].values())
    assert "pid=<" in service.log_text()  # the harness's access log format is in effect


def test_a_dispatched_event_is_processed_by_the_workers_background_runner(service):
    tenant = echo_tenant(service)

    resp = dispatch(service, tenant["token"], f"{uuid.uuid4().hex[:8]}.1")

    assert resp.status_code == 202
    assert resp.json() == {"accepted": True, "duplicate": False}
    wait_until(lambda: job_states(service, tenant["number"]) == ["done"], 10,
               message=lambda: f"jobs: {job_states(service, tenant['number'])}\n{service.log_tail()}")


def test_metrics_count_every_event_whichever_worker_answered(service):
    tenant = echo_tenant(service)
    before = dispatch_total(service)
    log_mark = len(service.log_text())
    sent = 0

    def send(count: int) -> None:
        errors: list[Any] = []

        def one(n: int) -> None:
            with requests.Session() as http:  # a new connection per event: the kernel picks the worker
                http.trust_env = False
                resp = dispatch(service, tenant["token"], f"m-{uuid.uuid4().hex[:10]}", session=http)
                if resp.status_code != 202:
                    errors.append(resp.text)

        threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []

    for _round in range(8):
        send(25)
        sent += 25
        if len(set(service.access_pids("/dispatch/call-event", since=log_mark))) >= 2:
            break
    answered_by = set(service.access_pids("/dispatch/call-event", since=log_mark))
    assert answered_by == set(service.worker_pids()), "both workers should have answered some events"

    for _scrape in range(6):  # each scrape lands on either worker; every one must see the whole total
        assert dispatch_total(service) - before == sent
    scrapers = set(service.access_pids("/metrics", since=log_mark))
    assert scrapers, "the access log shows no /metrics request"


def test_a_killed_worker_is_replaced_and_the_service_stays_healthy(start_service):
    service = start_service()
    tenant = echo_tenant(service)
    before = service.worker_pids()

    killed = service.kill_worker()

    after = service.worker_pids()
    assert killed in before and killed not in after and len(after) == 2
    for _ in range(10):
        assert service.get("/health").status_code == 200
    assert dispatch(service, tenant["token"], "after-kill.1").status_code == 202
    wait_until(lambda: job_states(service, tenant["number"]) == ["done"], 10,
               message=lambda: f"jobs: {job_states(service, tenant['number'])}")


@pytest.mark.slow
def test_a_graceful_restart_replaces_every_worker_and_keeps_the_queue(start_service):
    service = start_service()
    tenant = echo_tenant(service)
    old = set(service.worker_pids())

    service.restart()

    assert not old & set(service.worker_pids())
    assert dispatch(service, tenant["token"], "after-restart.1").status_code == 202
    wait_until(lambda: job_states(service, tenant["number"]) == ["done"], 10)

    master = service.master_pid
    service.restart(graceful=False)  # stop, then start on the same port

    assert service.master_pid != master
    assert dispatch(service, tenant["token"], "after-restart.2").status_code == 202
    wait_until(lambda: job_states(service, tenant["number"]) == ["done", "done"], 10)
    assert "Traceback" not in service.log_text()


def test_ms_sh_status_exit_codes_follow_the_service(service, tmp_path):
    # A copy of ms.sh whose var/ is a temp dir: the developer's own ./ms.sh state is never touched.
    root = tmp_path / "ms"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "ms.sh", root / "ms.sh")
    shutil.copy2(REPO / "scripts" / "pg.sh", root / "scripts" / "pg.sh")
    (root / ".venv").symlink_to(Path(sys.prefix))  # the venv running these tests
    (root / "var").mkdir()
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}

    def status(bind: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(root / "ms.sh"), "status"], cwd=root, capture_output=True, text=True,
                              timeout=30, env={**base_env, "HOST_BIND": bind})

    down = status(f"127.0.0.1:{service.port}")
    assert (down.returncode, down.stdout.strip()) == (3, "not running")

    (root / "var" / "gunicorn.pid").write_text(str(service.master_pid))
    up = status(f"127.0.0.1:{service.port}")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "healthy" in up.stdout

    unhealthy = status(f"127.0.0.1:{free_port()}")
    assert unhealthy.returncode == 1
    assert "NOT healthy" in unhealthy.stdout


@pytest.mark.slow
def test_the_emulator_fixture_serves_its_seeded_account_and_the_service_boots_against_it(ms_emulator, start_service):
    assert ms_emulator.url.startswith("http://127.0.0.1:")
    assert ms_emulator.demo is not None and ms_emulator.demo["employees"]
    with requests.Session() as http:
        http.trust_env = False
        assert http.get(ms_emulator.control_url + "/stats", timeout=5).status_code == 200
    service = start_service(WEB_CONCURRENCY="1", **ms_emulator.service_env())
    assert service.env["MS_PHONE_API_URL"] == ms_emulator.phone_api_url
    assert service.get("/health").status_code == 200


def test_a_service_that_cannot_boot_fails_fast_with_its_log_tail(start_service):
    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception) as failure:
        start_service(HOST_INTEGRATIONS="no_such_plugin_module:plugin")
    assert time.monotonic() - started < 20
    assert "no_such_plugin_module" in str(failure.value)  # the log tail names the cause
