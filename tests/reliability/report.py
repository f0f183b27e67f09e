"""Turn ``var/reliability/results.json`` into the README's "Reliability" table (Markdown).

    .venv/bin/python -m tests.reliability.report [results.json]

Rows keep the order of ``ORDER`` (the issue's order of faults); faults not listed follow by name.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.reliability.figures import RESULTS, read

ORDER = ("moysklad_slow", "moysklad_429", "moysklad_5xx", "moysklad_down", "moysklad_malformed",
         "postgres_restart", "worker_sigkill", "graceful_restart", "fairness_broken_key", "fairness_flood")
HEADER = ("Fault", "Load", "What was checked", "Events sent", "Calls complete in MoySklad", "Duplicates",
          "Max delay", "Result")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _row(row: dict[str, Any]) -> list[str]:
    return [
        row.get("fault", "?"), row.get("load", ""), row.get("checked", ""), str(row.get("events_sent", "")),
        f"{row.get('events_in_moysklad', '')}/{row.get('calls_expected', '')}", str(row.get("duplicates", "")),
        ("> " if row.get("unfinished") else "") + f"{float(row.get('max_delay_s', 0.0)):.1f} s",
        row.get("result", ""),
    ]


def render(data: dict[str, Any]) -> str:
    rank = {name: i for i, name in enumerate(ORDER)}
    rows = sorted(data.get("rows", []), key=lambda r: (rank.get(r.get("fault"), len(ORDER)), str(r.get("fault"))))
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_cell(c) for c in _row(row)) + " |" for row in rows]
    machine = data.get("machine") or {}
    if machine:
        lines += ["", f"Measured on {machine.get('cpus', '?')} CPUs, {machine.get('system', '?')}, "
                      f"Python {machine.get('python', '?')}; max delay: from a call's last acknowledged event "
                      "(or the end of the fault, when later) to the call finished in MoySklad; \"> x s\": some call was "
                      "still unfinished when the test stopped waiting."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else RESULTS
    data = read(path)
    if not data["rows"]:
        print(f"no figures in {path}: run ./ms.sh test (or pytest tests/reliability) first", file=sys.stderr)
        return 1
    sys.stdout.write(render(data))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
