"""One table for people, one JSON document for comparing runs (``var/bench/<UTC>.json`` and ``latest.json``).

JSON schema ``ms-bench/1``::

    {"schema": "ms-bench/1", "started_at": ISO-8601 UTC, "runtime_s": float, "complete": bool,
     "machine": {"cpu_model", "cores", "ram_mb", "kernel", "python"},
     "parameters": {"seed", "full", "workers", "emulator_latency_ms", "enterprises", ...},
     "figures": [{"id", "title", "value", "target", "status": "pass"|"miss"|"info"|"error",
                  "data": {...numbers...}, "note"}]}

``data`` holds every measured number of the figure (milliseconds as ``*_ms``, rates as ``*_per_s`` …);
``value`` is the same thing as the table shows it.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = "ms-bench/1"
MARK = {"pass": "PASS", "miss": "MISS", "info": "—", "error": "ERROR"}


@dataclass
class Figure:
    id: str
    title: str
    value: str
    target: str = ""
    status: str = "info"  # pass | miss | info | error
    data: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def judged(ok: bool | None) -> str:
    return "info" if ok is None else ("pass" if ok else "miss")


def document(started: dt.datetime, runtime_s: float, machine: Mapping[str, Any], parameters: Mapping[str, Any],
             figures: Sequence[Figure], complete: bool) -> dict[str, Any]:
    return {"schema": SCHEMA, "started_at": started.isoformat(timespec="seconds"), "runtime_s": round(runtime_s, 1),
            "complete": complete, "machine": dict(machine), "parameters": dict(parameters),
            "figures": [asdict(f) for f in figures]}


def write_json(doc: Mapping[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.fromisoformat(str(doc["started_at"])).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{stamp}.json"
    text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
    (directory / "latest.json").write_text(text, encoding="utf-8")
    return path


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width) or [""]


def render(doc: Mapping[str, Any]) -> str:
    m, p = doc["machine"], doc["parameters"]
    lines = [f"ms bench  ·  {doc['started_at']}  ·  {doc['runtime_s']:.0f} s"
             + ("" if doc.get("complete", True) else "  ·  INCOMPLETE"),
             f"machine    {m['cpu_model']} · {m['cores']} cores · {m['ram_mb']} MB RAM · Linux {m['kernel']} · "
             f"Python {m['python']}",
             "parameters " + " · ".join(f"{k}={v}" for k, v in p.items()), ""]
    w_title, w_value, w_target = 34, 52, 22
    header = f"{'figure':<{w_title}} {'measured':<{w_value}} {'target':<{w_target}} result"
    lines += [header, "-" * len(header)]
    for f in doc["figures"]:
        titles, values, targets = _wrap(f["title"], w_title), _wrap(f["value"], w_value), _wrap(f["target"], w_target)
        for i in range(max(len(titles), len(values), len(targets))):
            cells = [(titles[i] if i < len(titles) else ""), (values[i] if i < len(values) else ""),
                     (targets[i] if i < len(targets) else "")]
            mark = MARK.get(f["status"], f["status"]) if i == 0 else ""
            lines.append(f"{cells[0]:<{w_title}} {cells[1]:<{w_value}} {cells[2]:<{w_target}} {mark}")
        if f.get("note"):
            for part in _wrap(f["note"], w_title + w_value + w_target - 4):
                lines.append(f"    {part}")
    passed = sum(1 for f in doc["figures"] if f["status"] == "pass")
    judged_n = sum(1 for f in doc["figures"] if f["status"] in ("pass", "miss", "error"))
    lines += ["", f"targets met: {passed}/{judged_n}"]
    return "\n".join(lines)
