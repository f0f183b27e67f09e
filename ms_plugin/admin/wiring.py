"""Wires the admin page and its API into the worker: services, the test call's job kind, the routes."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from ms_plugin.admin.config_service import ConfigService
from ms_plugin.admin.employees_service import EmployeesService
from ms_plugin.admin.journal_service import JournalService
from ms_plugin.admin.options import OptionsService
from ms_plugin.admin.probe import ConnectionProbe
from ms_plugin.admin.stats_service import StatsService
from ms_plugin.admin.test_call import HIDE_KIND, TestCalls
from ms_plugin.state import PluginState, plugin_state


@dataclass(frozen=True)
class AdminServices:
    config: ConfigService
    probe: ConnectionProbe
    employees: EmployeesService
    test_calls: TestCalls
    journal: JournalService
    stats: StatsService
    options: OptionsService


def admin_services() -> AdminServices:
    """The admin services of this worker (inside a request)."""
    return plugin_state().extras["admin"]  # type: ignore[no-any-return]


def init(state: PluginState, app: Flask) -> None:
    services = AdminServices(
        config=ConfigService(state), probe=ConnectionProbe(state), employees=EmployeesService(state),
        test_calls=TestCalls(state), journal=JournalService(state), stats=StatsService(state),
        options=OptionsService(state))
    state.extras["admin"] = services
    # A test card that cannot be hidden (MoySklad down) stays until MoySklad's own timeout: a few
    # attempts are enough, and an hour-old hide is pointless.
    state.services.jobs.register(HIDE_KIND, services.test_calls.hide, integration="ms", max_attempts=5,
                                 max_age=3600.0)
    from ms_plugin.admin import pages, views  # noqa: F401  (routes on the ms blueprint)
