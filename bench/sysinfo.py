"""The machine from /proc (no psutil): CPU model, cores, RAM, and who used the CPU during a figure.

The CPU split matters on a two-core box: the service, PostgreSQL, the emulator and the load generator
all share the same cores, so "the p99 went up" has to come with "and the machine was 97 % busy, 40 % of
it in PostgreSQL" before anyone can say what bounds it.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_mb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_mb = int(line.split()[1]) // 1024
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_model": model, "cores": cores, "ram_mb": ram_mb, "kernel": platform.release(),
            "python": platform.python_version()}


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)  # idle + iowait
    total = sum(parts[:8])  # guest time is already inside user
    return total - idle, total


def process_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@dataclass
class CpuMeter:
    """Start it, run the figure, ``stop()``: CPU per component as % of one core, and machine busy %."""

    components: Mapping[str, Callable[[], list[int]]]
    _start: dict[str, dict[int, int]] = field(default_factory=dict)
    _machine: tuple[int, int] = (0, 0)
    _t0: float = 0.0

    def start(self) -> CpuMeter:
        self._start = {name: {p: process_ticks(p) for p in pids()} for name, pids in self.components.items()}
        self._machine = _machine_ticks()
        self._t0 = time.monotonic()
        return self

    def stop(self) -> dict[str, Any]:
        seconds = max(1e-6, time.monotonic() - self._t0)
        out: dict[str, Any] = {}
        for name, pids in self.components.items():
            before = self._start.get(name, {})
            # A process that ended since the start reads 0 ticks: clamp it instead of subtracting.
            used = sum(max(0, process_ticks(p) - before.get(p, 0)) for p in set(pids()) | set(before))
            out[f"{name}_pct_of_core"] = round(100.0 * used / _TICK / seconds, 1)
        busy0, total0 = self._machine
        busy1, total1 = _machine_ticks()
        out["machine_busy_pct"] = round(100.0 * (busy1 - busy0) / max(1, total1 - total0), 1)
        out["seconds"] = round(seconds, 1)
        return out


def cpu_text(cpu: Mapping[str, Any]) -> str:
    """``CPU 94% busy: service 82%, postgres 78%, … other processes 12% (of one core)``."""
    ours = {k.removesuffix("_pct_of_core"): v for k, v in cpu.items() if k.endswith("_pct_of_core")}
    cores = os.cpu_count() or 1
    # Whatever the machine did beyond our processes: other people's jobs on a shared box, the kernel.
    other = max(0.0, cpu.get("machine_busy_pct", 0) * cores - sum(ours.values()))
    parts = [f"{name} {value:.0f}%" for name, value in ours.items()] + [f"other processes {other:.0f}%"]
    return f"CPU {cpu.get('machine_busy_pct', 0):.0f}% busy: " + ", ".join(parts) + " (of one core)"
