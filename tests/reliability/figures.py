"""The figures of the reliability suite: one row per fault in ``var/reliability/results.json``.

Each fault test records what it sent and what it found; ``report.py`` turns the file into the README's
"Reliability" table. A row is replaced when its fault runs again, so the file always holds the latest run
of every fault (concurrent pytest sessions are serialised with a file lock).
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypedDict

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(os.environ.get("MS_RELIABILITY_RESULTS", REPO / "var" / "reliability" / "results.json"))


class Figure(TypedDict):
    fault: str
    load: str
    checked: str
    events_sent: int
    events_in_moysklad: int  # MoySklad calls complete (the calls the sent events make)
    calls_expected: int  # calls the sent events should make in MoySklad
    duplicates: int
    max_delay_s: float
    unfinished: int  # calls not finished when the test stopped waiting (max_delay_s is then a lower bound)
    result: str  # "pass" | "fail"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read(path: Path = RESULTS) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {"machine": {}, "rows": []}
    return data if isinstance(data, dict) and isinstance(data.get("rows"), list) else {"machine": {}, "rows": []}


def record(figure: Figure, path: Path = RESULTS) -> None:
    with _locked(path):
        data = read(path)
        rows = [r for r in data["rows"] if r.get("fault") != figure["fault"]]
        rows.append({**figure, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        data = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "system": f"{platform.system()} {platform.release()}"}, "rows": rows}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
