#!/usr/bin/env python3
"""Check every pinned dependency (setup.cfg, the one place pins live) against PyPI.

    .venv/bin/python scripts/check_deps.py [path/to/setup.cfg]

For each pin it asks PyPI's JSON API (``https://pypi.org/pypi/<name>/json``) for the latest release and the
``vulnerabilities`` PyPI lists for that release. The list is about the latest release only (the
per-version endpoint is not used), so it applies to a pin only when the pin *is* the latest release; an
older pin is reported "not latest, check the advisory" and fails the check. Exit status: 0 when every pin
is the latest release with no known vulnerability, 1 otherwise, 2 when PyPI could not be asked.

Not part of the test suite (CI machines may not reach PyPI); ``tests/security/test_check_deps.py`` checks
the parsing and the verdicts offline.
"""

from __future__ import annotations

import configparser
import json
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*(?P<version>[^\s;#]+)\s*(;.*)?$")
PYPI = "https://pypi.org/pypi/{name}/json"


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    group: str  # "install" or the extra's name


@dataclass(frozen=True)
class Verdict:
    pin: Pin
    latest: str | None
    vulnerabilities: tuple[str, ...]  # ids (with aliases) PyPI lists for the latest release
    ok: bool
    text: str


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lines(value: str) -> Iterable[str]:
    for line in value.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            yield line


def parse_pins(path: Path) -> list[Pin]:
    """Every requirement of ``install_requires`` and ``extras_require``; a line that is not an exact
    ``name==version`` pin raises ValueError (an unpinned dependency is itself a finding)."""
    config = configparser.ConfigParser()
    config.read(path, encoding="utf-8")
    groups: list[tuple[str, str]] = [("install", config.get("options", "install_requires", fallback=""))]
    if config.has_section("options.extras_require"):
        groups += list(config.items("options.extras_require"))
    pins = []
    for group, value in groups:
        for line in _lines(value):
            match = PIN.match(line)
            if match is None:
                raise ValueError(f"{path}: {line!r} ({group}) is not pinned with ==")
            pins.append(Pin(match["name"], match["version"], group))
    return pins


def fetch(name: str, timeout: float = 20.0) -> dict[str, Any]:
    request = urllib.request.Request(PYPI.format(name=name), headers={"Accept": "application/json",
                                                                       "User-Agent": "ms-telephony check_deps"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - a fixed https URL
        data: dict[str, Any] = json.load(resp)
    return data


def _vulnerability_ids(data: dict[str, Any]) -> tuple[str, ...]:
    ids = []
    for vuln in data.get("vulnerabilities") or []:
        aliases = [a for a in vuln.get("aliases") or [] if a != vuln.get("id")]
        ids.append(str(vuln.get("id")) + (f" ({', '.join(aliases)})" if aliases else ""))
    return tuple(ids)


def judge(pin: Pin, data: dict[str, Any]) -> Verdict:
    latest = str((data.get("info") or {}).get("version") or "") or None
    vulns = _vulnerability_ids(data)
    if latest is None:
        return Verdict(pin, None, (), False, "PyPI names no latest release")
    if pin.version != latest:
        known = pin.version in (data.get("releases") or {pin.version: None})
        what = "not latest" if known else "not a PyPI release"
        return Verdict(pin, latest, vulns, False, f"{what} (latest {latest}), check the advisory")
    if vulns:
        return Verdict(pin, latest, vulns, False, f"latest, {len(vulns)} known vulnerabilities: {'; '.join(vulns)}")
    return Verdict(pin, latest, (), True, "latest, no known vulnerabilities")


def check(pins: list[Pin], get: Callable[[str], dict[str, Any]] = fetch) -> list[Verdict]:
    return [judge(pin, get(pin.name)) for pin in pins]


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else ROOT / "setup.cfg"
    try:
        pins = parse_pins(path)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        verdicts = check(pins)
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        print(f"cannot ask PyPI: {exc}", file=sys.stderr)
        return 2
    width = max(len(f"{v.pin.name}=={v.pin.version}") for v in verdicts)
    for v in verdicts:
        mark = "ok  " if v.ok else "FAIL"
        print(f"{mark} {v.pin.name + '==' + v.pin.version:<{width}}  [{v.pin.group}]  {v.text}")
    failed = [v for v in verdicts if not v.ok]
    print(f"\n{len(verdicts)} pins from {path}: {len(verdicts) - len(failed)} ok, {len(failed)} to look at")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
