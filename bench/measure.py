"""Numbers from samples: percentiles, and what the emulator's request log says about each call.

Card latency and hangup→finalised compare the bench's wall clock at the moment it sent an event with
the emulator's wall clock at the moment the matching request *arrived* (its request-log ``time``); both
processes read the same system clock. The emulator's own latency for that last request is therefore not
in the figure: it is MoySklad's processing time, not ours.
"""

from __future__ import annotations

import math
import urllib.parse
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None without samples."""
    if not values:
        return None
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summary(values_ms: Sequence[float]) -> dict[str, Any]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 2)

    return {"n": len(values_ms), "p50_ms": r(percentile(values_ms, 50)), "p99_ms": r(percentile(values_ms, 99)),
            "max_ms": r(max(values_ms) if values_ms else None),
            "mean_ms": r(sum(values_ms) / len(values_ms) if values_ms else None)}


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def p50_p99(s: Mapping[str, Any]) -> str:
    return f"p50 {fmt_ms(s['p50_ms'])} · p99 {fmt_ms(s['p99_ms'])} (n={s['n']})"


# ------------------------------------------------------------------------------ the emulator's log


@dataclass(frozen=True)
class MsRequest:
    time: float  # arrival, epoch seconds
    done: float  # arrival + the emulator's handling (its simulated latency included)
    api: str
    method: str
    endpoint: str
    status: int
    external_id: str | None  # the call it belongs to (Phone API only)
    shows: int  # SHOW card events it carried
    final: bool  # it carried endTime (the call is finalised by it)
    account: str | None


def external_id_of(row: Mapping[str, Any]) -> str | None:
    path = str(row.get("path", ""))
    marker = "/call/extid/"
    if marker in path:
        return urllib.parse.unquote(path.split(marker, 1)[1].split("/", 1)[0])
    body = row.get("body")
    if isinstance(body, Mapping) and row.get("method") == "POST" and path.endswith("/call"):
        value = body.get("externalId")
        return str(value) if value is not None else None
    return None


def parse_log(rows: Iterable[Mapping[str, Any]]) -> list[MsRequest]:
    out = []
    for row in rows:
        body = row.get("body") if isinstance(row.get("body"), Mapping) else {}
        events = body.get("events") if isinstance(body.get("events"), list) else []
        if not events and isinstance(body, Mapping) and body.get("eventType"):
            events = [body]  # POST /call/<id>/event carries one event as its body
        shows = sum(1 for e in events if isinstance(e, Mapping) and e.get("eventType") == "SHOW")
        out.append(MsRequest(float(row["time"]), float(row["time"]) + float(row.get("duration_ms") or 0) / 1000.0,
                             str(row["api"]), str(row["method"]), str(row.get("endpoint")), int(row["status"]),
                             external_id_of(row), shows, "endTime" in body, row.get("account")))
    return out


def by_call(requests: Iterable[MsRequest]) -> dict[str, list[MsRequest]]:
    grouped: dict[str, list[MsRequest]] = defaultdict(list)
    for req in requests:
        if req.external_id is not None:
            grouped[req.external_id].append(req)
    return grouped


def first_accepted(reqs: Iterable[MsRequest], want: str) -> MsRequest | None:
    """The earliest accepted (2xx) request carrying a SHOW (``want="show"``) or the final fields."""
    hits = [r for r in reqs if 200 <= r.status < 300 and (r.shows if want == "show" else r.final)]
    return min(hits, key=lambda r: r.time) if hits else None
