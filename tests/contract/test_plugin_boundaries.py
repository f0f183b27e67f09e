"""The host <-> plugin boundary: ``ms_plugin`` reaches the host only through the contract module."""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from host_app.integrations.contract import HostServices, Integration
from host_app.integrations.registry import load
from tests.conftest import INTEGRATIONS

REPO = Path(__file__).resolve().parents[2]
ALLOWED = "host_app.integrations.contract"


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])


def imported_modules(source: str, package: str) -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every import anywhere in ``source`` (module level, functions, classes,
    ``if TYPE_CHECKING``), plus ``importlib.import_module("...")``/``__import__("...")`` with a literal.
    ``package`` resolves relative imports."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            yield node.lineno, base
            for alias in node.names:  # "from host_app import db" imports host_app.db
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def forbidden_host_imports(source: str, package: str) -> list[tuple[int, str]]:
    """Imports of ``host_app`` other than the contract module."""
    return [(line, module) for line, module in imported_modules(source, package)
            if (module == "host_app" or module.startswith("host_app."))
            and not (module == ALLOWED or module.startswith(ALLOWED + "."))]


def plugin_files() -> list[Path]:
    return sorted(p for p in (REPO / "ms_plugin").rglob("*.py") if "__pycache__" not in p.parts)


def test_ms_plugin_imports_from_host_app_only_the_contract_module():
    files = plugin_files()
    assert files, "ms_plugin has no Python files"
    violations = [f"{path.relative_to(REPO)}:{line}: {module}"
                  for path in files
                  for line, module in forbidden_host_imports(path.read_text(encoding="utf-8"), package_of(path))]
    assert violations == [], "ms_plugin may import only host_app.integrations.contract:\n" + "\n".join(violations)


@pytest.mark.parametrize("source, expected", [
    ("import host_app.db", ["host_app.db"]),
    ("from host_app import db", ["host_app", "host_app.db"]),
    ("from host_app.jobs.queue import JobQueue", ["host_app.jobs.queue", "host_app.jobs.queue.JobQueue"]),
    ("def f():\n    from host_app.state import host_state\n", ["host_app.state", "host_app.state.host_state"]),
    ("class C:\n    def m(self):\n        import host_app.auth as a\n", ["host_app.auth"]),
    ("if TYPE_CHECKING:\n    import host_app.db\n", ["host_app.db"]),
    ("import importlib\nimportlib.import_module('host_app.settings')\n", ["host_app.settings"]),
    ("__import__('host_app.state')", ["host_app.state"]),
    ("import host_app", ["host_app"]),
    ("from host_app.integrations.contract import ApiError", []),
    ("from host_app.integrations import contract", ["host_app.integrations"]),
    ("from .views import bp\nfrom ..plugin import x", []),
])
def test_the_import_walker_catches_every_form_of_host_import(source, expected):
    found = sorted({module for _line, module in forbidden_host_imports(source, "ms_plugin.calls")})
    assert found == sorted(expected)


@pytest.fixture(scope="module")
def loaded_plugins() -> list[Any]:
    return list(load(INTEGRATIONS.split(",")))


def test_every_loaded_plugin_satisfies_the_integration_protocol(loaded_plugins):
    assert [p.code for p in loaded_plugins] == ["ms", "echo"]
    for plugin in loaded_plugins:
        assert isinstance(plugin, Integration), plugin
        assert isinstance(plugin.code, str) and plugin.code.isidentifier()
        assert plugin.url_prefixes and all(p.startswith("/") for p in plugin.url_prefixes)
        assert isinstance(plugin.can_lookup, bool)
        directory = plugin.migrations_dir()
        assert directory is None or Path(directory).is_dir()
        for name in ("init_app", "is_active", "handle_call_event", "customer_name", "responsible_extension",
                     "health"):
            assert callable(getattr(plugin, name)), f"{plugin.code}.{name}"


def test_every_plugin_is_inactive_without_its_section(loaded_plugins):
    for plugin in loaded_plugins:
        assert plugin.is_active(None) is False
        assert plugin.is_active({}) is False


def test_ms_plugin_keeps_its_tables_prefixed(loaded_plugins):
    ms = next(p for p in loaded_plugins if p.code == "ms")
    for sql_file in sorted(Path(ms.migrations_dir()).glob("*.sql")):
        tree = sql_file.read_text(encoding="utf-8")
        for name in _created_tables(tree):
            assert name.startswith("ms_"), f"{sql_file.name} creates {name!r} without the ms_ prefix"


def _created_tables(sql_text: str) -> list[str]:
    return re.findall(r"(?i)\bcreate\s+(?:unlogged\s+)?table\s+(?:if\s+not\s+exists\s+)?\"?([a-z_][a-z0-9_]*)", sql_text)


def test_the_contract_module_does_not_import_the_rest_of_the_host():
    contract = REPO / "host_app" / "integrations" / "contract.py"
    others = [m for _l, m in imported_modules(contract.read_text(encoding="utf-8"), "host_app.integrations")
              if m.startswith("host_app")]
    assert others == [], "the contract must stay importable on its own: " + ", ".join(others)
    module = importlib.import_module(ALLOWED)
    assert hasattr(module, "HostServices") and HostServices.__module__ == ALLOWED
