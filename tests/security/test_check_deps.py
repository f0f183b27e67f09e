"""``scripts/check_deps.py`` offline: it reads every pin from setup.cfg (the one place), the pins are what the
environment runs, nothing the product pulls in is left unpinned, and its verdicts follow PyPI's answer."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def check_deps() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_deps", ROOT / "scripts" / "check_deps.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_deps"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_every_requirement_in_setup_cfg_is_an_exact_pin(check_deps):
    pins = check_deps.parse_pins(ROOT / "setup.cfg")
    names = [check_deps.normalise(p.name) for p in pins]
    assert len(names) == len(set(names)), "a dependency is pinned twice"
    assert {"flask", "gunicorn", "gevent", "psycopg2-binary", "requests", "hypothesis"} <= set(names)
    assert {p.group for p in pins} == {"install", "test"}


def test_the_environment_runs_exactly_the_pinned_versions(check_deps):
    for pin in check_deps.parse_pins(ROOT / "setup.cfg"):
        assert importlib.metadata.version(pin.name) == pin.version, pin


def test_nothing_the_product_installs_is_left_unpinned(check_deps):
    pins = check_deps.parse_pins(ROOT / "setup.cfg")
    pinned = {check_deps.normalise(p.name) for p in pins}
    env = default_environment()
    unpinned = set()
    for pin in pins:
        for text in importlib.metadata.requires(pin.name) or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
                continue  # an optional extra or another platform's dependency
            if check_deps.normalise(req.name) not in pinned:
                unpinned.add(f"{req.name} (needed by {pin.name})")
    assert not unpinned, f"installed but not pinned in setup.cfg: {sorted(unpinned)}"


def test_an_unpinned_line_is_refused(check_deps, tmp_path):
    cfg = tmp_path / "setup.cfg"
    cfg.write_text("[options]\ninstall_requires =\n    flask==3.1.3\n    requests>=2\n")
    with pytest.raises(ValueError, match="requests>=2"):
        check_deps.parse_pins(cfg)


def _pypi(latest: str, vulns: list[dict[str, Any]] | None = None, releases: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"info": {"version": latest}, "vulnerabilities": vulns or [],
            "releases": {v: [] for v in (*releases, latest)}}


def test_verdicts_follow_pypi(check_deps):
    pin = check_deps.Pin("flask", "3.1.3", "install")
    ok = check_deps.judge(pin, _pypi("3.1.3"))
    assert ok.ok and ok.text == "latest, no known vulnerabilities"

    vulnerable = check_deps.judge(pin, _pypi("3.1.3", [{"id": "PYSEC-2099-1", "aliases": ["CVE-2099-1"]}]))
    assert not vulnerable.ok and "PYSEC-2099-1 (CVE-2099-1)" in vulnerable.text

    older = check_deps.judge(pin, _pypi("3.2.0", releases=("3.1.3",)))
    assert not older.ok and older.text == "not latest (latest 3.2.0), check the advisory"

    unknown = check_deps.judge(pin, _pypi("3.2.0"))
    assert not unknown.ok and unknown.text.startswith("not a PyPI release")


def test_the_check_fails_when_any_pin_fails(check_deps):
    pins = [check_deps.Pin("a", "1", "install"), check_deps.Pin("b", "1", "install")]
    answers = {"a": _pypi("1"), "b": _pypi("2", releases=("1",))}
    verdicts = check_deps.check(pins, get=answers.__getitem__)
    assert [v.ok for v in verdicts] == [True, False]
