"""Loading plugins from ``HOST_INTEGRATIONS``: fail fast at boot; the loaded ones get their dispatches."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from host_app import create_app
from host_app.integrations.registry import IntegrationLoadError, load
from tests.conftest import app_config
from tests.factories import make_enterprise, sql

DEAD_DB = "postgresql://postgres@127.0.0.1:1/never_connected"  # the loader fails before any connection

PLUGIN_TEMPLATE = '''
from pathlib import Path
from typing import Any, ClassVar


class Plugin:
    code: ClassVar[str] = {code!r}
    url_prefixes: ClassVar[tuple[str, ...]] = {prefixes!r}
    can_lookup: ClassVar[bool] = False

    def migrations_dir(self) -> Path | None:
        return None

    def init_app(self, app: Any, services: Any) -> None:
        pass

    def is_active(self, section: Any) -> bool:
        return False

    def handle_call_event(self, event: Any) -> None:
        pass

    def customer_name(self, enterprise_number: str, phone: str) -> None:
        return None

    def responsible_extension(self, enterprise_number: str, phone: str) -> None:
        return None

    def health(self) -> dict[str, Any]:
        return {{}}


plugin = Plugin()
'''


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """Write a throwaway plugin module importable as ``<name>``; returns ``"<name>:plugin"``."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names: list[str] = []

    def make(name: str, code: str = "other", prefixes: tuple[str, ...] = ("/other/",), source: str | None = None) -> str:
        text = source if source is not None else PLUGIN_TEMPLATE.format(code=code, prefixes=prefixes)
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
        names.append(name)
        return f"{name}:plugin"

    yield make
    for name in names:
        sys.modules.pop(name, None)


def boot(tmp_path: Path, integrations: str) -> Any:
    return create_app(app_config(DEAD_DB, str(tmp_path / "var"), HOST_INTEGRATIONS=integrations))


def test_a_plugin_module_that_fails_to_import_stops_the_boot(tmp_path, plugin_module):
    spec = plugin_module("broken_plugin_mod", source="import no_such_dependency_xyz\n")
    with pytest.raises(IntegrationLoadError, match="cannot import integration 'broken_plugin_mod:plugin'.*no_such_dependency_xyz"):
        boot(tmp_path, f"tests.plugins.echo:plugin,{spec}")


def test_a_plugin_module_that_raises_while_importing_stops_the_boot(tmp_path, plugin_module):
    spec = plugin_module("raising_plugin_mod", source="raise RuntimeError('bad import-time code')\n")
    with pytest.raises(IntegrationLoadError, match="RuntimeError: bad import-time code"):
        boot(tmp_path, spec)


def test_a_missing_module_stops_the_boot(tmp_path):
    with pytest.raises(IntegrationLoadError, match="no_such_plugin_package"):
        boot(tmp_path, "no_such_plugin_package:plugin")


def test_a_missing_attribute_stops_the_boot(tmp_path):
    with pytest.raises(IntegrationLoadError, match="has no attribute 'nope'"):
        boot(tmp_path, "tests.plugins.echo:nope")


def test_an_object_that_is_not_an_integration_stops_the_boot(tmp_path, plugin_module):
    spec = plugin_module("not_a_plugin_mod", source="plugin = object()\n")
    with pytest.raises(IntegrationLoadError, match="does not satisfy the Integration contract"):
        boot(tmp_path, spec)


def test_two_plugins_with_one_code_stop_the_boot(tmp_path, plugin_module):
    twin = plugin_module("echo_twin_mod", code="echo", prefixes=("/echo-twin/",))
    with pytest.raises(IntegrationLoadError, match="two integrations use the code 'echo'"):
        boot(tmp_path, f"tests.plugins.echo:plugin,{twin}")


def test_the_same_plugin_listed_twice_stops_the_boot(tmp_path):
    with pytest.raises(IntegrationLoadError, match="code 'echo'"):
        boot(tmp_path, "tests.plugins.echo:plugin,tests.plugins.echo:plugin")


@pytest.mark.parametrize("prefixes", [("/echo/",), ("/echo/admin/",), ("/echo",), ("/ms/",), ("/internal/ms/x/",)])
def test_a_url_prefix_colliding_with_another_plugin_stops_the_boot(tmp_path, plugin_module, prefixes):
    spec = plugin_module("colliding_mod", code="other", prefixes=prefixes)
    with pytest.raises(IntegrationLoadError, match="collides with"):
        boot(tmp_path, f"ms_plugin:plugin,tests.plugins.echo:plugin,{spec}")


@pytest.mark.parametrize("prefix", ["/api/", "/api/other/", "/dispatch/other/", "/health", "/login"])
def test_a_url_prefix_owned_by_the_host_stops_the_boot(tmp_path, plugin_module, prefix):
    spec = plugin_module("host_colliding_mod", code="other", prefixes=(prefix,))
    with pytest.raises(IntegrationLoadError, match="collides with the host"):
        boot(tmp_path, spec)


def test_a_prefix_that_only_shares_leading_characters_is_no_collision(tmp_path, plugin_module):
    spec = plugin_module("neighbour_mod", code="echoes", prefixes=("/echoes/",))
    registry = load(["tests.plugins.echo:plugin", spec])
    assert registry.codes() == ["echo", "echoes"]


def test_plugins_load_in_the_configured_order(tmp_path):
    app = boot(tmp_path, "tests.plugins.echo:plugin,ms_plugin:plugin")
    from host_app.state import host_state

    assert host_state(app).registry.codes() == ["echo", "ms"]
    assert "/echo/ping" in {rule.rule for rule in app.url_map.iter_rules()}


# ------------------------------------------------------------------------------ dispatch and cache


def test_the_echo_plugin_receives_dispatches_only_while_its_section_enables_it(client, db_url, host, run_jobs,
                                                                               echo_plugin):
    make_enterprise(db_url, "300", token="T300", integrations_config={"echo": {"enabled": False}})
    event = {"token": "T300", "event_type": "dial", "raw": {"CallType": 0}}

    assert client.post("/dispatch/call-event", json={**event, "uniqueId": "5.1"}).status_code == 202
    assert host.integrations.active_codes("300") == ()  # cached now
    assert sql(db_url, "SELECT count(*) FROM jobs")[0][0] == 0

    host.services.config.merge_section("300", "echo", {"enabled": True})  # drops the cached entry

    assert host.integrations.active_codes("300") == ("echo",)
    assert client.post("/dispatch/call-event", json={**event, "uniqueId": "5.2"}).status_code == 202
    run_jobs()
    assert [e.unique_id for e in echo_plugin.received] == ["5.2"]

    host.services.config.merge_section("300", "echo", {"enabled": False})
    assert host.integrations.active_codes("300") == ()
    host.services.config.delete_section("300", "echo")
    assert host.integrations.by_number("300").codes == ()


def test_the_activity_cache_is_dropped_per_enterprise_only(client, db_url, host):
    make_enterprise(db_url, "301", token="T301", integrations_config={"echo": {"enabled": True}})
    make_enterprise(db_url, "302", token="T302", integrations_config={"echo": {"enabled": True}})
    first_301 = host.integrations.by_number("301")
    first_302 = host.integrations.by_number("302")

    host.services.config.merge_section("301", "echo", {"mode": "ok"})

    assert host.integrations.by_number("301") is not first_301
    assert host.integrations.by_number("302") is first_302
    assert host.integrations.by_token("T301").codes == ("echo",)


def test_the_primary_is_the_only_active_lookup_plugin_unless_chosen(db_url, host):
    make_enterprise(db_url, "303", integrations_config={"echo": {"enabled": True}})
    assert host.integrations.by_number("303").primary == "echo"

    host.services.config.merge_section("303", "smart", {"primary": "ms"})  # chosen, but not active
    assert host.integrations.by_number("303").primary is None
