"""The admin page in a real browser (Debian's chromium through playwright) against the real service
(gunicorn with gevent workers, through the e2e harness) and the MoySklad emulator on 127.0.0.1.

Screenshots for a human look go to /tmp (not committed): ms-admin-page.png, ms-admin-phone.png,
ms-admin-phone-employees.png, ms-admin-journal.png.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ms_emulator import EmulatorServer, EmulatorState
from tests.factories import make_enterprise
from tests.ms.admin.helpers import ACCOUNT_SPEC, ENT, HOSTILE_NAME, PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path("/tmp")


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorState()) as emu:
        yield emu


@pytest.fixture
def account(emulator: EmulatorServer) -> dict[str, Any]:
    return emulator.state.create_account(ACCOUNT_SPEC)


@pytest.fixture
def service(db_url: str, tmp_path: Path, emulator: EmulatorServer) -> Iterator[Any]:
    from tests.e2e.harness import Service, free_port, service_environ

    make_enterprise(db_url, ENT, name=HOSTILE_NAME)
    port = free_port()
    env = service_environ(db_url, tmp_path / "service", port, {
        "MS_API_URL": emulator.json_api_url, "MS_PHONE_API_URL": emulator.phone_api_url,
        "WEB_CONCURRENCY": "1", "HOST_DB_POOL_SIZE": "8", "MS_TEST_CALL_HIDE_S": "5"})
    svc = Service(env, tmp_path / "service", port)
    try:
        yield svc.start()
    finally:
        svc.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (./ms.sh test installs it)")
    with playwright.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS, locale="ru-RU",
            viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()


def _employee(account: dict[str, Any], extension: str) -> str:
    return next(str(e["id"]) for e in account["employees"] if e["extension"] == extension)


def test_an_admin_configures_moysklad_in_the_browser(service, browser, account, emulator):
    from playwright.sync_api import expect

    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    # Console errors (a CSP violation would be one); failed loads are checked by URL below instead.
    page.on("console", lambda msg: problems.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    failed: list[str] = []
    page.on("response", lambda resp: failed.append(f"{resp.status} {resp.request.method} {resp.url}")
            if resp.status >= 400 else None)
    page.on("dialog", lambda dialog: dialog.accept())
    page_url = f"{service.url}/ms-admin/?enterprise_number={ENT}"

    # Log in through the host's form and come back to the page.
    page.goto(page_url)
    assert "/login" in page.url
    page.fill("#token", service.admin_token)
    page.click("form.login button[type=submit]")
    page.wait_for_url(page_url)

    # The hostile enterprise name is text, and nothing of it ran.
    expect(page.locator("#ent-name")).to_have_text(HOSTILE_NAME)
    assert page.title().startswith(HOSTILE_NAME)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("main img").count() == 0
    webhook = page.locator("#webhook-url").input_value()
    assert "/ms/webhook/" in webhook

    # A bad key: the error shows next to its field.
    page.fill("#f-integration_code", "not-a-key")
    page.check("input[name=enabled]")
    page.click("#btn-save")
    error = page.locator('[data-error-for="integration_code"]')
    expect(error).to_be_visible()
    assert error.text_content()
    expect(page.locator("#save-state")).to_contain_text("Не сохранено")

    # The right credentials: saved, shown only as "задан", never echoed into the inputs.
    page.fill("#f-integration_code", account["phone_key"])
    page.fill("#f-login", "admin@acme")
    page.fill("#f-password", PASSWORD)
    page.click("#btn-save")
    expect(page.locator("#save-state")).to_have_text("Сохранено.")
    expect(page.locator('[data-secret-state="integration_code"]')).to_have_text("задан")
    expect(page.locator('[data-secret-state="password"]')).to_have_text("задан")
    assert page.locator("#f-integration_code").input_value() == ""
    expect(error).to_be_hidden()
    assert page.locator("#webhook-url").input_value() == webhook  # stable across saves

    # The connection test in plain words.
    page.click("#btn-test")
    expect(page.locator("#test-result .test-line.ok")).to_have_count(2)

    # Employees from MoySklad; the hostile employee name is text too.
    page.click("#btn-refresh-emp")
    rows = page.locator("#emp-table tbody tr")
    expect(rows).to_have_count(5)
    expect(page.locator("#emp-table").get_by_text(HOSTILE_NAME, exact=True)).to_be_visible()
    assert page.evaluate("typeof window.__xss") == "undefined"

    # Map PBX extension 251 to Petrova.
    petrova, ivanov = _employee(account, "151"), _employee(account, "150")
    page.fill(f'tr[data-employee="{petrova}"] input', "251")
    page.click("#btn-save-map")
    expect(page.locator("#map-state")).to_have_text("Сопоставление сохранено.")
    config = service.http.get(f"{service.url}/ms-admin/config/{ENT}", headers=service.admin_headers()).json()
    assert config["employee_mapping"] == {"251": petrova}

    # A test call: the emulator shows Ivanov's card, then the background job hides it.
    page.click(f'tr[data-employee="{ivanov}"] button[data-test-ext]')
    expect(page.locator(f'tr[data-employee="{ivanov}"] .test-state')).to_contain_text("Карточка показана")
    assert emulator.state.cards("acme")["visible"].get(ivanov)
    _wait(lambda: not emulator.state.cards("acme")["visible"].get(ivanov), 20, "the test card to hide")

    expect(page.locator("#figures dd").first).to_be_visible()
    assert page.locator("#chart svg").count() == 1
    page.screenshot(path=str(SHOTS / "ms-admin-page.png"), full_page=True)

    # The same page on a phone.
    phone = browser.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(page_url)
    expect(phone.locator("#emp-table tbody tr")).to_have_count(5)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways on a phone ({width}px)"
    phone.screenshot(path=str(SHOTS / "ms-admin-phone.png"))
    phone.locator("#h-emp").scroll_into_view_if_needed()
    phone.screenshot(path=str(SHOTS / "ms-admin-phone-employees.png"))
    phone.close()

    # The journal: the test call is there, a row opens to its request.
    page.click("a[href^='/ms-admin/journal']")
    page.wait_for_url("**/ms-admin/journal?**")
    expect(page.locator(".ent-name")).to_have_text(HOSTILE_NAME)
    expect(page.locator("#journal li").first).to_be_visible()
    page.fill("#j-type", "admin.test_call")
    page.click("#filters button[type=submit]")
    entries = page.locator("#journal li")
    expect(entries).to_have_count(1)
    entries.first.locator("summary").click()
    expect(entries.first.locator("pre").first).to_contain_text('"extension": "150"')
    expect(entries.first.locator("button[data-resend]")).to_have_count(0)  # a test call is no PBX call

    # "Отправить снова" for a call the PBX reported.
    service.sql("INSERT INTO ms_calls (enterprise_number, unique_id, kind) VALUES (%s, 'browser.1', 'call')", (ENT,))
    service.sql("INSERT INTO integration_logs (enterprise_number, integration_type, event_type, status, "
                "call_unique_id, phone) VALUES (%s, 'ms', 'call.processed', 'error', 'browser.1', '+375291234567')",
                (ENT,))
    page.fill("#j-type", "")
    page.fill("#j-phone", "8 029 123-45-67")
    page.click("#filters button[type=submit]")
    expect(entries).to_have_count(1)
    entries.first.locator("summary").click()
    entries.first.locator("button[data-resend]").click()
    expect(entries.first.locator(".resend-state")).to_contain_text("Поставлено в очередь")
    page.screenshot(path=str(SHOTS / "ms-admin-journal.png"), full_page=True)

    assert page.evaluate("typeof window.__xss") == "undefined"
    assert not problems, problems
    unexpected = [f for f in failed if "/favicon.ico" not in f and not f.startswith(f"422 PUT {service.url}/ms-admin/config/")]
    assert not unexpected, unexpected  # only the deliberately bad save failed
